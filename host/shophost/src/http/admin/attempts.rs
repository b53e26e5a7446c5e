//! The 決済直前ログ: checkout attempts, one with its journal, and 受注データ再作成 (making the order
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
use crate::db::DbError;
use crate::domain::{Attempt, PaymentStatus};
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
    /// The status the gateway's console shows for the payment: `captured`, `authorized` or `unpaid`.
    status: String,
}

/// 受注データ再作成: the operator found the payment in the gateway's backyard and makes the order.
pub(super) async fn recover(
    State(state): State<AppState>,
    Path(link_key): Path<String>,
    JsonBody(body): JsonBody<RecoverBody>,
) -> Result<Response, ApiError> {
    let status = match body.status.as_str() {
        "captured" => PaymentStatus::Captured,
        "authorized" => PaymentStatus::Authorized,
        "unpaid" => PaymentStatus::Unpaid,
        "paid" => PaymentStatus::Paid,
        other => {
            return Err(ApiError::field(
                "status",
                format!("status `{other}` は captured（売上）・authorized（仮売上）・unpaid（未入金）・paid（入金済み）のいずれかにしてください"),
            ))
        }
    };
    let attempt = state
        .store
        .attempt_by_link_key(&link_key)
        .await?
        .ok_or(ApiError::NotFound)?;
    let label = state
        .engine
        .labels()
        .get(&attempt.settlement_type)
        .cloned()
        .unwrap_or(attempt.settlement_type.clone());
    match state
        .store
        .recover_attempt(
            &link_key,
            status,
            &label,
            "決済直前ログより受注データ再作成（管理者）",
        )
        .await
    {
        Ok(order) => Ok((StatusCode::CREATED, Json(order_json(&order))).into_response()),
        Err(DbError::Conflict(_)) => Err(ApiError::Conflict(
            "このリンクキーの受注はすでに作成されています".to_owned(),
        )),
        Err(other) => Err(other.into()),
    }
}
