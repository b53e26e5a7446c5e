//! What the shop sells and the recurring contracts it made: products, their 継続課金 schedule, and the
//! contracts with the next charge to expect.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use shophost_module_api::LocalDate;

use super::limit::Limit;
use crate::db::DbError;
use crate::domain::{local_date, now_millis, scheduled_charge, ProductRecurrence, ORDER_DAY};
use crate::http::error::JsonBody;
use crate::http::ApiError;
use crate::AppState;

pub(super) async fn products(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "products": state.store.products().await? })))
}

#[derive(Debug, Deserialize)]
pub(super) struct ProductBody {
    sku: String,
    name: String,
    price: i64,
    #[serde(default)]
    description: String,
}

/// Adds a product (kept as it is when the SKU exists).
pub(super) async fn add_product(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ProductBody>,
) -> Result<Response, ApiError> {
    let sku = body.sku.trim();
    let name = body.name.trim();
    if sku.is_empty() || sku.chars().count() > 64 {
        return Err(ApiError::field(
            "sku",
            "商品コードを64文字以内で入力してください",
        ));
    }
    if name.is_empty() {
        return Err(ApiError::field("name", "商品名を入力してください"));
    }
    if !(0..=99_999_999).contains(&body.price) {
        return Err(ApiError::field(
            "price",
            "価格は0円から99,999,999円までです",
        ));
    }
    state
        .store
        .ensure_product(sku, name, body.price, &body.description)
        .await?;
    let product = state
        .store
        .products()
        .await?
        .into_iter()
        .find(|p| p.sku == sku);
    Ok((StatusCode::CREATED, Json(json!(product))).into_response())
}

#[derive(Debug, Deserialize)]
pub(super) struct RecurrenceBody {
    interval_months: u32,
    charging_day: u32,
}

/// Makes a product recurring (継続課金: every 1, 6 or 12 months, on day 1–28 or 99 = the order's day),
/// or one-off again with `null`. Orders and contracts already made keep what they were sold with.
pub(super) async fn set_recurrence(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    JsonBody(body): JsonBody<Option<RecurrenceBody>>,
) -> Result<Json<Value>, ApiError> {
    let recurrence = match body {
        None => None,
        Some(body) => {
            if ![1, 6, 12].contains(&body.interval_months) {
                return Err(ApiError::field(
                    "interval_months",
                    "課金間隔は1か月・6か月・12か月から選んでください",
                ));
            }
            if !(1..=28).contains(&body.charging_day) && body.charging_day != ORDER_DAY {
                return Err(ApiError::field(
                    "charging_day",
                    "課金日は1日から28日まで、またはご注文日（99）を指定してください",
                ));
            }
            Some(ProductRecurrence {
                interval_months: body.interval_months,
                charging_day: body.charging_day,
            })
        }
    };
    state.store.set_product_recurrence(&sku, recurrence).await?;
    let product = state
        .store
        .products()
        .await?
        .into_iter()
        .find(|p| p.sku == sku);
    Ok(Json(json!(product)))
}

#[derive(Debug, Deserialize)]
pub(super) struct ContractQuery {
    member_id: Option<i64>,
}

/// 継続課金の契約 (recurring contracts), newest first.
pub(super) async fn contracts(
    State(state): State<AppState>,
    Query(query): Query<ContractQuery>,
    Query(limit): Query<Limit>,
) -> Result<Json<Value>, ApiError> {
    let contracts = state.store.contracts(query.member_id, limit.rows()).await?;
    // `next_charge` is the first date as registered; the gateway goes on charging every interval by
    // itself, so the next date of that schedule is given beside it for running contracts.
    let today = local_date(now_millis());
    let contracts: Vec<Value> = contracts
        .iter()
        .map(|contract| {
            let mut value = json!(contract);
            value["next_charge_expected"] = json!((contract.status == "continuation")
                .then(|| {
                    scheduled_charge(&contract.next_charge, contract.interval_months, today)
                })
                .flatten()
                .map(LocalDate::yyyymmdd));
            value
        })
        .collect();
    Ok(Json(json!({ "contracts": contracts })))
}

/// Marks a contract 停止. The gateway keeps charging until it is stopped there too (in its console; a
/// module has no call for it), so the answer says so.
pub(super) async fn stop_contract(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let contract = match state.store.stop_contract(id).await {
        Err(DbError::Conflict("contract_stopped")) => {
            return Err(ApiError::Conflict(
                "この継続課金はすでに停止しています".to_owned(),
            ))
        }
        other => other?,
    };
    tracing::info!(
        contract = contract.id,
        order = contract.order_id,
        "recurring contract stopped"
    );
    Ok(Json(json!({
        "contract": contract,
        "notice": crate::notices::contract_stopped(&state, &contract.module_id),
    })))
}
