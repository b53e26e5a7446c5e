//! The operator notices that the jobs and the admin API share, each written once: the 要確認 advice
//! for a success return whose notification never came (stored on the attempt by `jobs`, counted on
//! the admin dashboard), the notice that notifications for open checkouts were refused for their
//! source (check `trusted_proxies` and the gateway's addresses), the 決済エラーログ notice, the note on
//! a journal entry whose body retention removed, and the reminder that stopping a recurring contract
//! in the shop does not stop it at the gateway.
//!
//! The 要確認 advice and the contract reminder name Remise (ルミーズ) and its notification endpoints,
//! because Remise is the only bundled gateway and these are the words its operators know. That is
//! gateway knowledge in the host: a later issue will build this text from each module's display name
//! and declared notification endpoints.

/// Where to look and what to check when a notification did not come. A macro, so that the constant
/// below can be built from it at compile time.
macro_rules! check_the_notification_urls {
    () => {
        "ルミーズの加盟店バックヤードで取引を確認し、結果通知URL（/index.php?acting=remise_card）・\
         収納情報通知URL（/index.php?acting=remise_conv）の設定を確認してください"
    };
}

/// The 要確認 note stored on a checkout attempt whose success return came without a notification.
pub const UNCONFIRMED_NOTICE: &str = concat!(
    "決済完了の画面に戻りましたが、決済結果通知が届いていません。",
    check_the_notification_urls!()
);

/// The dashboard notice for `count` checkout attempts flagged 要確認.
pub fn unconfirmed_returns(count: i64) -> String {
    format!(
        "決済完了の画面に戻ったのに結果通知が届いていない注文が{count}件あります。{}。",
        check_the_notification_urls!()
    )
}

/// The dashboard notice for `count` open checkouts whose notifications were refused for their source
/// address (the newest at `latest`): the shop's `trusted_proxies` or the gateway's addresses are
/// probably wrong, and the kept requests can be replayed once they are fixed.
pub fn refused_for_open_attempts(count: i64, latest: i64) -> String {
    format!(
        "送信元アドレスが許可されていないため拒否した決済通知に、未完了の注文{count}件のリンクキーが\
         含まれています（最新: {}）。設定の trusted_proxies（リバースプロキシのアドレス）と、\
         ゲートウェイ（ルミーズ）の通知元アドレスの設定を確認してください。修正後、拒否した通知\
         （/admin/api/refused）を確認のうえ再実行できます。",
        crate::domain::local_datetime(latest)
    )
}

/// The note the journal shows for an entry whose body retention emptied at `at`.
pub fn journal_body_purged(at: i64) -> String {
    format!(
        "本文は保存期間（retention.journal_bodies_days）を過ぎたため削除しました（{}）",
        crate::domain::local_datetime(at)
    )
}

/// The notice that the 決済エラーログ has entries, the latest at `at` (Unix milliseconds).
pub fn settlement_errors(at: i64) -> String {
    format!(
        "決済エラーが発生しました。決済エラーログを確認してください。発生日時: [ {} ]",
        crate::domain::local_datetime(at)
    )
}

/// The answer to an operator who stopped a recurring contract: the gateway keeps charging until it is
/// stopped there too (Remise has no call for it; its backyard does).
pub const CONTRACT_STOPPED: &str = "ショップの継続課金を停止しました。ゲートウェイの管理画面（ルミーズ: 加盟店バックヤード）でも自動継続課金を停止してください。";
