//! The operator notices that the jobs and the admin API share, each written once: the 要確認 advice
//! for a success return whose notification never came (stored on the attempt by `jobs`, counted on
//! the admin dashboard), the notice that notifications for open checkouts were refused for their
//! source (check `trusted_proxies` and the gateway's addresses), the 決済エラーログ notice, the note on
//! a journal entry whose body retention removed, and the reminder that stopping a recurring contract
//! in the shop does not stop it at the gateway.
//!
//! The host names no gateway here: the advice is built from what each module in use declares about its
//! notification endpoints (its display name, the URL to register, the gateway's name for that setting
//! and where it is registered), so the operator reads the words of their own gateway's console.

use serde::Serialize;
use shophost_module_api::NotificationEndpoint;

use crate::db::DbError;

use crate::engine::{Engine, ModuleState};
use crate::AppState;

/// Where to look and what to check when a notification did not come, for every module in use that
/// listens for notifications, one sentence per module (see [`advice_for`]).
pub fn check_the_notification_urls(engine: &Engine, public_url: &str) -> String {
    let advice: Vec<String> = engine
        .states()
        .values()
        .filter_map(|state| advice_for(state, public_url))
        .collect();
    if advice.is_empty() {
        GENERIC_ADVICE.to_owned()
    } else {
        advice.join("。")
    }
}

/// The advice when no module says where to look.
const GENERIC_ADVICE: &str = "ゲートウェイの管理画面で取引と通知URLの設定を確認してください";

/// One module's advice: `<表示名>の<where its endpoints are registered>で取引を確認し、<the gateway's
/// name for the URL>（<the URL to register>）・…の設定を確認してください`; `None` for a module that
/// listens for no notifications.
pub fn advice_for(state: &ModuleState, public_url: &str) -> Option<String> {
    if state.endpoints.is_empty() {
        return None;
    }
    let urls: Vec<String> = state
        .endpoints
        .iter()
        .map(|endpoint| {
            format!(
                "{}（{}）",
                endpoint.setting_name.as_deref().unwrap_or("通知URL"),
                endpoint.url(public_url)
            )
        })
        .collect();
    Some(format!(
        "{}の{}で取引を確認し、{}の設定を確認してください",
        state.registered.display_name,
        console(&state.endpoints),
        urls.join("・")
    ))
}

/// Where a module's endpoints are registered at the gateway, as its endpoints declare it.
fn console(endpoints: &[NotificationEndpoint]) -> &str {
    endpoints
        .iter()
        .find_map(|endpoint| endpoint.registered_at.as_deref())
        .unwrap_or("管理画面")
}

/// The 要確認 note stored on a checkout attempt of `module_id` whose success return came without a
/// notification: the advice of that module alone (the attempt's own gateway, not every one in use).
pub fn unconfirmed_notice(state: &AppState, module_id: &str) -> String {
    let advice = state
        .engine
        .states()
        .get(module_id)
        .and_then(|module| advice_for(module, &state.config.public_url))
        .unwrap_or_else(|| GENERIC_ADVICE.to_owned());
    format!("決済完了の画面に戻りましたが、決済結果通知が届いていません。{advice}")
}

/// The dashboard notice for `count` checkout attempts flagged 要確認.
pub fn unconfirmed_returns(state: &AppState, count: i64) -> String {
    format!(
        "決済完了の画面に戻ったのに結果通知が届いていない注文が{count}件あります。{}。",
        check_the_notification_urls(&state.engine, &state.config.public_url)
    )
}

/// The dashboard notice for `count` open checkouts whose notifications were refused for their source
/// address (the newest at `latest`): the shop's `trusted_proxies` or the gateway's addresses are
/// probably wrong, and the kept requests can be replayed once they are fixed.
pub fn refused_for_open_attempts(count: i64, latest: i64) -> String {
    format!(
        "送信元アドレスが許可されていないため拒否した決済通知に、未完了の注文{count}件のリンクキーが\
         含まれています（最新: {}）。設定の trusted_proxies（リバースプロキシのアドレス）と、\
         決済代行会社（ゲートウェイ）の通知元アドレスの設定を確認してください。修正後、拒否した通知\
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

/// The answer to an operator who stopped a recurring contract of `module_id`: the gateway keeps
/// charging until it is stopped there too, in the console the module's endpoints name.
pub fn contract_stopped(state: &AppState, module_id: &str) -> String {
    let states = state.engine.states();
    let gateway = match states.get(module_id) {
        Some(module) => format!(
            "{}の{}",
            module.registered.display_name,
            console(&module.endpoints)
        ),
        None => match state.engine.registry().get(module_id) {
            Some(module) => format!("{}の管理画面", module.display_name),
            None => "ゲートウェイの管理画面".to_owned(),
        },
    };
    format!("ショップの継続課金を停止しました。{gateway}でも自動継続課金を停止してください。")
}

/// One notice of the dashboard: what kind, the sentence, and where the operator acts on it (the
/// JSON admin API's list, `link`, and the console page, `page`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Notice {
    /// `refused_for_source`, `settlement_errors`, `unconfirmed_returns` or `orders_attention`.
    pub kind: &'static str,
    /// The sentence, in Japanese.
    pub message: String,
    /// The admin API's list of what it is about.
    pub link: &'static str,
    /// The console page to act on it, once the console has one.
    pub page: Option<&'static str>,
}

/// The notices the dashboard (console and admin API alike) shows now: notifications for open
/// checkouts refused for their source, the 決済エラー発生告知 while the 決済エラーログ is not empty,
/// and checkouts or orders flagged 要確認.
pub async fn current(state: &AppState) -> Result<Vec<Notice>, DbError> {
    let mut notices = Vec::new();
    let refused = state.store.refused_for_open_attempts().await?;
    if let (true, Some(latest)) = (refused.link_keys > 0, refused.latest) {
        notices.push(Notice {
            kind: "refused_for_source",
            message: refused_for_open_attempts(refused.link_keys, latest),
            link: "/admin/api/refused?pending=true",
            page: None,
        });
    }
    if let Some(latest) = state.store.settlement_errors(1).await?.first() {
        notices.push(Notice {
            kind: "settlement_errors",
            message: settlement_errors(latest.at),
            link: "/admin/api/settlement-errors",
            page: None,
        });
    }
    let counts = state.store.counts().await?;
    if counts.attempts_attention > 0 {
        notices.push(Notice {
            kind: "unconfirmed_returns",
            message: unconfirmed_returns(state, counts.attempts_attention),
            link: "/admin/api/attempts?open_only=true",
            page: None,
        });
    }
    if counts.orders_attention > 0 {
        notices.push(Notice {
            kind: "orders_attention",
            message: format!("要確認の注文が{}件あります。", counts.orders_attention),
            link: "/admin/api/orders?attention=true",
            page: None,
        });
    }
    Ok(notices)
}
