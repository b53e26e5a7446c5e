//! The 決済直前ログ: checkout attempts, one with its journal, and 受注データ登録 (making the order
//! of a payment the operator found in the gateway's backyard).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::journal::journal_json;
use super::limit::Limit;
use super::orders::order_json;
use crate::attempt_log::{self, RegisteredAt, Registration};
use crate::domain::Attempt;
use crate::http::error::JsonBody;
use crate::http::ApiError;
use crate::AppState;

#[derive(Debug, Deserialize)]
pub(super) struct AttemptQuery {
    #[serde(default)]
    open_only: bool,
}

pub(super) async fn attempts(
    State(state): State<AppState>,
    Query(query): Query<AttemptQuery>,
    Query(limit): Query<Limit>,
) -> Result<Json<Value>, ApiError> {
    let attempts = state.store.attempts(query.open_only, limit.rows()).await?;
    let attempts: Vec<Value> = attempts.iter().map(attempt_json).collect();
    Ok(Json(json!({ "attempts": attempts })))
}

/// An attempt as the admin API gives it: the stored fields (each line with the `tax_rate` recorded
/// when it was priced) and `totals` with the consumption tax per rate.
fn attempt_json(attempt: &Attempt) -> Value {
    let mut value = json!(attempt);
    value["totals"] = json!(attempt.snapshot.totals());
    value
}

pub(super) async fn attempt(
    State(state): State<AppState>,
    Path(link_key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let attempt = state
        .store
        .attempt_by_link_key(&link_key)
        .await?
        .ok_or(ApiError::NotFound)?;
    let journal = state.store.journal(Some(&link_key), 100).await?;
    Ok(Json(
        json!({ "attempt": attempt_json(&attempt), "journal": journal.iter().map(journal_json).collect::<Vec<_>>() }),
    ))
}

#[derive(Debug, Deserialize)]
pub(super) struct RecoverBody {
    /// The 受注日時: `attempt` (the attempt's registration, the default) or `now`.
    #[serde(default)]
    registered_at: Option<String>,
    /// The gateway's transaction id from its backyard (the 請求番号 its backyard shows), optional.
    #[serde(default)]
    transaction_id: Option<String>,
    /// For a recurring item (継続課金): the gateway's id for the recurring registration, optional
    /// (without it the contract is registered and the order is 要確認).
    #[serde(default)]
    recurring_id: Option<String>,
    /// The status the gateway's backyard shows, when given: it must be the one the module gives
    /// (`captured`, `authorized` or `unpaid`), which is what the order gets.
    #[serde(default)]
    status: Option<String>,
}

/// 受注データ登録: the operator found the payment in the gateway's backyard and makes the order, with
/// the status its module gives it (`attempt_log::register`, as the console does).
pub(super) async fn recover(
    State(state): State<AppState>,
    Path(link_key): Path<String>,
    JsonBody(body): JsonBody<RecoverBody>,
) -> Result<Response, ApiError> {
    let registered_at = match body.registered_at.as_deref() {
        None => RegisteredAt::Attempt,
        Some(text) => RegisteredAt::parse(text).ok_or_else(|| {
            ApiError::field(
                "registered_at",
                format!(
                    "registered_at `{text}` は attempt（登録日）か now（現在の時刻）にしてください"
                ),
            )
        })?,
    };
    let registration = Registration {
        registered_at,
        transaction_id: body.transaction_id.unwrap_or_default(),
        recurring_id: body.recurring_id.unwrap_or_default(),
    };
    if let Some(given) = body.status.as_deref() {
        let (_, status) = attempt_log::check(&state, &link_key, &registration).await?;
        if given != status.as_str() {
            return Err(ApiError::field(
                "status",
                format!(
                    "決済モジュールの設定では、この決済の受注は {}（{}）で登録されます。status を省くか {} にしてください",
                    status.as_str(),
                    status.label(),
                    status.as_str()
                ),
            ));
        }
    }
    let order = attempt_log::register(&state, &link_key, &registration).await?;
    tracing::info!(%link_key, order = %order.order_number, "admin api: order registered from the checkout log");
    Ok((StatusCode::CREATED, Json(order_json(&order))).into_response())
}
