//! What the operator does with mail, for the console (and the tests): send a mail again, send the
//! 注文確認メール of an order registered from the 決済直前ログ by hand (once), queue a test mail, save
//! the settings. Each refusal says why, in Japanese.

use super::settings::{current, is_address, SettingProblem};
use super::MailSettings;
use crate::db::DbError;
use crate::domain::now_millis;
use crate::AppState;

/// Why an operator's mail action was not done.
#[derive(Debug, thiserror::Error)]
pub enum MailActionError {
    /// No such mail or order.
    #[error("not found")]
    NotFound,
    /// Not possible now; why, in Japanese.
    #[error("refused: {0}")]
    Refused(String),
    /// A field is wrong.
    #[error("invalid")]
    Invalid(Vec<SettingProblem>),
    /// Storage failed.
    #[error(transparent)]
    Unavailable(DbError),
}

impl From<DbError> for MailActionError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::NotFound => MailActionError::NotFound,
            other => MailActionError::Unavailable(other),
        }
    }
}

/// Queues a sent or failed mail again, byte for byte as it was rendered.
pub async fn resend(state: &AppState, id: i64) -> Result<(), MailActionError> {
    match state.store.resend_mail(id, now_millis()).await {
        Err(DbError::Conflict(_)) => Err(MailActionError::Refused(
            "このメールは送信待ちです（再送信は送信済みまたは失敗のメールにだけできます）"
                .to_owned(),
        )),
        other => Ok(other?),
    }
}

/// Sends the held 注文確認メール of an order registered from the 決済直前ログ: once. Refused for an
/// order whose mail went by itself, and the second time.
pub async fn send_registered_confirmation(
    state: &AppState,
    order_id: i64,
) -> Result<i64, MailActionError> {
    match state.store.release_held_mail(order_id, now_millis()).await {
        Ok(id) => Ok(id),
        Err(DbError::Conflict(_)) => {
            let filter = super::MailFilter {
                order_id: Some(order_id),
                ..super::MailFilter::default()
            };
            let mails = state.store.mails(&filter, 50).await?;
            let confirmation = mails
                .iter()
                .find(|m| m.kind == super::MailKind::OrderConfirmation);
            Err(MailActionError::Refused(match confirmation {
                Some(mail) if mail.released_at.is_some() => format!(
                    "この注文の注文確認メールは手動で送信済みです（状態: {}）。もう一度送るには送信メールの画面から再送信してください",
                    mail.status.label()
                ),
                Some(_) => "この注文は決済結果通知で登録されたため、注文確認メールは自動で送信されています".to_owned(),
                None => "この注文には送信できる注文確認メールがありません".to_owned(),
            }))
        }
        Err(other) => Err(other.into()),
    }
}

/// Queues a test mail to `to` with the settings in force.
pub async fn send_test(state: &AppState, to: &str) -> Result<i64, MailActionError> {
    let to = to.trim();
    if !is_address(to) {
        return Err(MailActionError::Invalid(vec![SettingProblem {
            key: "test_to",
            message: "送信先メールアドレスを正しく入力してください".to_owned(),
        }]));
    }
    Ok(state.store.queue_test_mail(to, now_millis()).await?)
}

/// Saves the operator's settings; an empty password keeps the one in force (it is never shown).
pub async fn save_settings(
    state: &AppState,
    mut settings: MailSettings,
) -> Result<MailSettings, MailActionError> {
    if settings.smtp.password.is_empty() && !settings.smtp.user.is_empty() {
        settings.smtp.password = current(state).await?.smtp.password;
    }
    let problems = settings.problems();
    if !problems.is_empty() {
        return Err(MailActionError::Invalid(problems));
    }
    let json = serde_json::to_string(&settings).map_err(|e| DbError::Corrupt(e.to_string()))?;
    state.store.save_mail_settings(&json, now_millis()).await?;
    Ok(settings)
}
