//! The operator notices that the jobs and the admin API share, each written once: the 要確認 advice
//! for a success return whose notification never came (stored on the attempt by `jobs`, counted on
//! the admin dashboard), the notice that notifications for open checkouts were refused for their
//! source (check `trusted_proxies` and the gateway's addresses), the 決済エラーログ notice, the note on
//! a journal entry whose body retention removed, the notices of a module in use whose settings are
//! invalid and of the payment methods stopped for it, and the reminder that stopping a recurring
//! contract in the shop does not stop it at the gateway. [`current`] gathers what the dashboard shows,
//! for the console and the admin API alike.
//!
//! The host names no gateway here: the advice is built from what each module in use declares about its
//! notification endpoints (its display name, the URL to register, the gateway's name for that setting
//! and where it is registered), so the operator reads the words of their own gateway's console.

use serde::Serialize;
use shophost_module_api::{FieldError, NotificationEndpoint};

use crate::db::DbError;

use crate::engine::{Engine, ModuleState};
use crate::AppState;

/// One notification URL a module in use asks the operator to register at its gateway, as the module
/// declares it: the URL, the gateway's name for that setting and where it is registered.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NotificationUrl {
    /// The module's id.
    pub module_id: String,
    /// The module's display name (the gateway's).
    pub module: String,
    /// The gateway's name for the setting (`結果通知URL`), or `通知URL`.
    pub setting_name: String,
    /// The full URL to register.
    pub url: String,
    /// Where it is registered at the gateway (`管理画面` when the module does not say).
    pub registered_at: String,
}

/// Every notification URL of the modules in use, module by module in the order they declare them.
pub fn notification_urls(engine: &Engine, public_url: &str) -> Vec<NotificationUrl> {
    engine
        .states()
        .values()
        .flat_map(|state| urls_of(state, public_url))
        .collect()
}

/// One module's notification URLs, in the order it declares them.
fn urls_of(state: &ModuleState, public_url: &str) -> Vec<NotificationUrl> {
    state
        .endpoints
        .iter()
        .map(|endpoint| NotificationUrl {
            module_id: state.registered.id.clone(),
            module: state.registered.display_name.clone(),
            setting_name: endpoint
                .setting_name
                .clone()
                .unwrap_or_else(|| "通知URL".to_owned()),
            url: endpoint.url(public_url),
            registered_at: console(&state.endpoints).to_owned(),
        })
        .collect()
}

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
    let urls = urls_of(state, public_url);
    let first = urls.first()?;
    let settings: Vec<String> = urls
        .iter()
        .map(|url| format!("{}（{}）", url.setting_name, url.url))
        .collect();
    Some(format!(
        "{}の{}で取引を確認し、{}の設定を確認してください",
        first.module,
        first.registered_at,
        settings.join("・")
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
         決済代行会社（ゲートウェイ）の通知元アドレスの設定を確認してください。修正後、管理画面の\
         「拒否した通知」（/admin/refused）で送信元を確認のうえ再実行できます。",
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
    /// `refused_for_source`, `settlement_errors`, `unconfirmed_returns`, `orders_attention`,
    /// `invalid_module_settings` or `methods_stopped`.
    pub kind: &'static str,
    /// The sentence, in Japanese.
    pub message: String,
    /// The admin API's list of what it is about.
    pub link: String,
    /// The console page to act on it, once the console has one.
    pub page: Option<String>,
    /// The notification URLs to check at the gateway (`unconfirmed_returns`), each to copy.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<NotificationUrl>,
}

impl Notice {
    fn new(kind: &'static str, message: String, link: impl Into<String>) -> Notice {
        Notice {
            kind,
            message,
            link: link.into(),
            page: None,
            urls: Vec::new(),
        }
    }

    fn page(self, page: impl Into<String>) -> Notice {
        Notice {
            page: Some(page.into()),
            ..self
        }
    }
}

/// The dashboard notice for a module in use whose settings are invalid: the fields and what is wrong.
pub fn invalid_module_settings(display_name: &str, errors: &[FieldError]) -> String {
    let fields: Vec<String> = errors
        .iter()
        .map(|error| {
            if error.key.is_empty() {
                error.message.clone()
            } else {
                format!("{}: {}", error.key, error.message)
            }
        })
        .collect();
    format!(
        "{display_name}の設定に不備があるため、この決済モジュールの決済を利用できません（{}）。設定を見直してください。",
        fields.join("、")
    )
}

/// The dashboard notice for the payment methods stopped because their module's settings are invalid.
pub fn methods_stopped(display_name: &str, methods: &[String]) -> String {
    format!(
        "{display_name}の設定に不備があるため、支払方法の{}を「停止」しています。設定を完了して、支払方法を「使用」に更新してください。",
        methods.join("、")
    )
}

/// The notices the dashboard (console and admin API alike) shows now: notifications for open
/// checkouts refused for their source, the 決済エラー発生告知 while the 決済エラーログ is not empty,
/// checkouts or orders flagged 要確認 (with the notification URLs to check at the gateway), and the
/// modules in use whose settings are invalid with the payment methods stopped because of them.
pub async fn current(state: &AppState) -> Result<Vec<Notice>, DbError> {
    let mut notices = Vec::new();
    let refused = state.store.refused_for_open_attempts().await?;
    if let (true, Some(latest)) = (refused.link_keys > 0, refused.latest) {
        notices.push(
            Notice::new(
                "refused_for_source",
                refused_for_open_attempts(refused.link_keys, latest),
                "/admin/api/refused?pending=true",
            )
            .page("/admin/refused"),
        );
    }
    if let Some(latest) = state.store.settlement_errors(1).await?.first() {
        notices.push(
            Notice::new(
                "settlement_errors",
                settlement_errors(latest.at),
                "/admin/api/settlement-errors",
            )
            .page("/admin/settlement-errors"),
        );
    }
    let attention = state.store.attention_counts().await?;
    if attention.attempts > 0 {
        notices.push(Notice {
            urls: notification_urls(&state.engine, &state.config.public_url),
            ..Notice::new(
                "unconfirmed_returns",
                unconfirmed_returns(state, attention.attempts),
                "/admin/api/attempts?open_only=true",
            )
            .page("/admin/attempts?attention=true")
        });
    }
    if attention.orders > 0 {
        notices.push(
            Notice::new(
                "orders_attention",
                format!("要確認の注文が{}件あります。", attention.orders),
                "/admin/api/orders?attention=true",
            )
            .page("/admin/orders?attention=true"),
        );
    }
    let failed = state.store.failed_mails().await?;
    if failed.count > 0 {
        notices.push(
            Notice::new(
                "mail_failed",
                format!(
                    "送信できなかったメールが{}件あります。メール設定（SMTPサーバー）を確認し、送信メールの画面から再送信してください。",
                    failed.count
                ),
                "/admin/api/mail?status=failed",
            )
            .page("/admin/mail?status=failed"),
        );
    }
    notices.extend(invalid_modules(state).await?);
    Ok(notices)
}

/// For each module in use whose settings are invalid: its notice, and one for the payment methods of
/// its settlement types that are stopped because it provides none now.
async fn invalid_modules(state: &AppState) -> Result<Vec<Notice>, DbError> {
    let states = state.engine.states();
    let invalid: Vec<_> = states.values().filter(|m| !m.errors.is_empty()).collect();
    if invalid.is_empty() {
        return Ok(Vec::new());
    }
    let provided = state.engine.provided_type_ids();
    let methods = state.store.payment_methods().await?;
    let mut notices = Vec::new();
    for module in invalid {
        let id = &module.registered.id;
        let name = &module.registered.display_name;
        notices.push(
            Notice::new(
                "invalid_module_settings",
                invalid_module_settings(name, &module.errors),
                format!("/admin/api/modules/{id}/settings"),
            )
            .page(format!("/admin/modules/{id}")),
        );
        let stopped: Vec<String> = methods
            .iter()
            .filter(|method| {
                !method.active
                    && !provided.contains(&method.settlement_type)
                    && state
                        .engine
                        .owner_of(&method.settlement_type)
                        .is_some_and(|owner| &owner.registered.id == id)
            })
            .map(|method| method.name.clone())
            .collect();
        if !stopped.is_empty() {
            notices.push(
                Notice::new(
                    "methods_stopped",
                    methods_stopped(name, &stopped),
                    "/admin/api/payment-methods",
                )
                .page("/admin/methods"),
            );
        }
    }
    Ok(notices)
}
