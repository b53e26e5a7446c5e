//! Orders: the filtered list, one order with its status history, and the operator's changes to it
//! (要確認 cleared, a status set by hand), on the same `crate::orders` functions as the console.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::limit::Limit;
use crate::db::OrderFilter;
use crate::domain::PaymentStatus;
use crate::http::error::JsonBody;
use crate::http::ApiError;
use crate::AppState;

#[derive(Debug, Deserialize)]
pub(super) struct OrderQuery {
    link_key: Option<String>,
    order_number: Option<String>,
    status: Option<String>,
    member_id: Option<i64>,
    #[serde(default)]
    attention: bool,
}

pub(super) async fn orders(
    State(state): State<AppState>,
    Query(query): Query<OrderQuery>,
    Query(limit): Query<Limit>,
) -> Result<Json<Value>, ApiError> {
    let status = match query.status.as_deref() {
        Some(s) => Some(PaymentStatus::parse(s).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "status `{s}` はありません（unpaid, paid, authorized, captured, cancelled, expired, returned のいずれか）"
            ))
        })?),
        None => None,
    };
    let filter = OrderFilter {
        link_key: query.link_key,
        order_number: query.order_number,
        status,
        member_id: query.member_id,
        attention: query.attention,
    };
    let orders = state.store.orders(&filter, limit.rows()).await?;
    let orders: Vec<Value> = orders.iter().map(order_json).collect();
    Ok(Json(json!({ "orders": orders })))
}

/// An order as the admin API gives it: the stored fields (each line with its recorded `tax_rate`), the
/// status in words, and `totals` with the consumption tax per rate (`rates`: `rate`, `total`, `tax`,
/// `reduced`), as the qualified invoice shows it.
pub(super) fn order_json(order: &crate::domain::Order) -> Value {
    let mut value = json!(order);
    value["payment_status_label"] = json!(order.payment_status.label());
    value["totals"] = json!(order.totals());
    value
}

pub(super) async fn order(
    State(state): State<AppState>,
    Path(number): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let filter = OrderFilter {
        order_number: Some(number),
        ..Default::default()
    };
    let order = state
        .store
        .orders(&filter, 1)
        .await?
        .into_iter()
        .next()
        .ok_or(ApiError::NotFound)?;
    let history = state.store.order_history(order.id).await?;
    let events = state.store.payment_event_count(&order.link_key).await?;
    Ok(Json(
        json!({ "order": order_json(&order), "history": history, "payment_events": events }),
    ))
}

/// Who the history names for a change made through the admin API.
const API_OPERATOR: &str = "管理API";

#[derive(Debug, Deserialize)]
pub(super) struct AttentionBody {
    #[serde(default)]
    note: String,
}

/// `POST /admin/api/orders/{number}/clear-attention` `{"note"}`: clears 要確認, the note in the
/// history (422 without a note, 409 when not flagged).
pub(super) async fn clear_attention(
    State(state): State<AppState>,
    Path(number): Path<String>,
    JsonBody(body): JsonBody<AttentionBody>,
) -> Result<Json<Value>, ApiError> {
    let order = crate::orders::clear_attention(&state, &number, &body.note, API_OPERATOR).await?;
    Ok(Json(json!({ "order": order_json(&order) })))
}

#[derive(Debug, Deserialize)]
pub(super) struct StatusBody {
    #[serde(default)]
    status: String,
    #[serde(default)]
    note: String,
}

/// `POST /admin/api/orders/{number}/status` `{"status", "note"}`: records a status set in the
/// gateway's backyard (`cancelled`, `returned`), never sent to the gateway; 409 for a transition that
/// is not possible.
pub(super) async fn change_status(
    State(state): State<AppState>,
    Path(number): Path<String>,
    JsonBody(body): JsonBody<StatusBody>,
) -> Result<Json<Value>, ApiError> {
    let order =
        crate::orders::change_status(&state, &number, &body.status, &body.note, API_OPERATOR)
            .await?;
    Ok(Json(json!({ "order": order_json(&order) })))
}
