//! The outbox (送信メール) for scripts, as the console shows it: the list by status, one mail with its
//! decoded subject, recipients, message (RFC 5322, as sent) and delivery attempts, a resend, and the
//! registered order's 注文確認メール sent once. The actions are `crate::mail::actions`, which the
//! console calls too.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::limit::Limit;
use crate::http::ApiError;
use crate::mail::actions::{self, MailActionError};
use crate::mail::{MailFilter, MailStatus, OutboxMail};
use crate::AppState;

#[derive(Debug, Deserialize)]
pub(super) struct MailQuery {
    status: Option<String>,
    order_id: Option<i64>,
}

fn mail_json(mail: &OutboxMail) -> Value {
    let mut value = json!(mail);
    value["status_label"] = json!(mail.status.label());
    value["kind_label"] = json!(mail.kind.label());
    value
}

fn action_error(error: MailActionError) -> ApiError {
    match error {
        MailActionError::NotFound => ApiError::NotFound,
        MailActionError::Refused(reason) => ApiError::Conflict(reason),
        MailActionError::Invalid(problems) => ApiError::Invalid {
            message: "入力内容を確認してください".to_owned(),
            fields: problems
                .into_iter()
                .map(|p| (p.key.to_owned(), p.message))
                .collect(),
        },
        MailActionError::Unavailable(db) => ApiError::from(db),
    }
}

/// `GET /admin/api/mail?status=&order_id=&limit=`.
pub(super) async fn mails(
    State(state): State<AppState>,
    Query(query): Query<MailQuery>,
    Query(limit): Query<Limit>,
) -> Result<Json<Value>, ApiError> {
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some(text) => Some(MailStatus::parse(text).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "status は {} のいずれかです",
                MailStatus::ALL.map(MailStatus::as_str).join(", ")
            ))
        })?),
    };
    let filter = MailFilter {
        status,
        order_id: query.order_id,
        before: None,
    };
    let mails = state.store.mails(&filter, limit.rows()).await?;
    Ok(Json(
        json!({ "mails": mails.iter().map(mail_json).collect::<Vec<_>>() }),
    ))
}

/// `GET /admin/api/mail/{id}`: with `message` (as sent, once rendered) and `deliveries`.
pub(super) async fn mail(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let mail = state.store.mail(id).await?.ok_or(ApiError::NotFound)?;
    let deliveries = state.store.mail_deliveries(id).await?;
    let mut value = mail_json(&mail);
    value["message"] = json!(mail
        .message
        .as_deref()
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned()));
    value["deliveries"] = json!(deliveries);
    Ok(Json(value))
}

/// `POST /admin/api/mail/{id}/resend`.
pub(super) async fn resend(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    actions::resend(&state, id).await.map_err(action_error)?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "queued": id }))))
}

/// `POST /admin/api/orders/{number}/send-confirmation`.
pub(super) async fn send_confirmation(
    State(state): State<AppState>,
    Path(number): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let order = crate::orders::order(&state, &number).await?;
    let id = actions::send_registered_confirmation(&state, order.id)
        .await
        .map_err(action_error)?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "queued": id }))))
}
