//! What the shop sells and the recurring contracts it made: products (list, add, change, delete; their
//! tax class, 販売中/停止 and 継続課金 schedule), and the contracts with the next charge to expect.
//!
//! The handlers only translate: the rules are in `crate::catalogue`, which the operator console calls
//! too.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use shophost_module_api::LocalDate;

use super::limit::Limit;
use crate::catalogue::{self, ProductForm, RecurrenceForm};
use crate::contracts::ContractError;
use crate::domain::Product;
use crate::http::error::JsonBody;
use crate::http::ApiError;
use crate::AppState;

/// Every product, on sale or stopped, with the words the console shows.
pub(super) async fn products(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let products: Vec<Value> = catalogue::products(&state)
        .await?
        .iter()
        .map(product_json)
        .collect();
    Ok(Json(json!({ "products": products })))
}

/// One product by SKU.
pub(super) async fn product(
    State(state): State<AppState>,
    Path(sku): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(product_json(&catalogue::product(&state, &sku).await?)))
}

/// A product as the admin API gives it: the stored fields, the rate and the operator's words.
fn product_json(product: &Product) -> Value {
    let mut value = json!(product);
    value["tax_rate"] = json!(product.tax_class.rate());
    value["tax_class_label"] = json!(product.tax_class.label());
    value["status"] = json!(if product.active {
        "販売中"
    } else {
        "停止"
    });
    value
}

/// Adds a product (`sku`, `name`, `price` 税込, and optionally `description`, `active`, `tax_class`
/// `standard`/`reduced`, `recurrence`). A SKU that exists is refused with 409.
pub(super) async fn add_product(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> Result<Response, ApiError> {
    let product = catalogue::add(&state, &form(&body)).await?;
    Ok((StatusCode::CREATED, Json(product_json(&product))).into_response())
}

/// Changes a product: the fields given replace the current ones (the SKU stays).
pub(super) async fn edit_product(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    Json(body): Json<Map<String, Value>>,
) -> Result<Json<Value>, ApiError> {
    let product = catalogue::edit(&state, &sku, &form(&body)).await?;
    Ok(Json(product_json(&product)))
}

/// Deletes a product; 409 while an order or a checkout attempt names it (stop it instead).
pub(super) async fn delete_product(
    State(state): State<AppState>,
    Path(sku): Path<String>,
) -> Result<StatusCode, ApiError> {
    catalogue::delete(&state, &sku).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A JSON body as the form the console would post: numbers and flags become text, `recurrence` is
/// `null` (one-off) or `{interval_months, charging_day}`; a field left out keeps its value.
fn form(body: &Map<String, Value>) -> ProductForm {
    let text = |name: &str| body.get(name).map(as_text);
    ProductForm {
        sku: text("sku"),
        name: text("name"),
        price: text("price"),
        description: text("description"),
        active: text("active"),
        tax_class: text("tax_class"),
        recurrence: body.get("recurrence").map(recurrence_form),
    }
}

fn recurrence_form(value: &Value) -> Option<RecurrenceForm> {
    match value {
        Value::Null => None,
        other => Some(RecurrenceForm {
            interval_months: other
                .get("interval_months")
                .map(as_text)
                .unwrap_or_default(),
            charging_day: other.get("charging_day").map(as_text).unwrap_or_default(),
        }),
    }
}

fn as_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Makes a product recurring (継続課金: every 1, 6 or 12 months, on day 1–28 or 99 = the order's day),
/// or one-off again with `null`. Orders and contracts already made keep what they were sold with.
pub(super) async fn set_recurrence(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    let product = catalogue::set_recurrence(&state, &sku, recurrence_form(&body)).await?;
    Ok(Json(product_json(&product)))
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
    let contracts: Vec<Value> = contracts
        .iter()
        .map(|contract| {
            let mut value = json!(contract);
            value["next_charge_expected"] =
                json!(crate::contracts::next_charge_expected(contract).map(LocalDate::yyyymmdd));
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
    let stopped = match crate::contracts::stop(&state, id).await {
        Ok(stopped) => stopped,
        Err(ContractError::Db(error)) => return Err(error.into()),
        Err(ContractError::NotFound) => return Err(ApiError::NotFound),
        Err(refused @ ContractError::AlreadyStopped) => {
            return Err(ApiError::Conflict(refused.to_string()))
        }
    };
    Ok(Json(json!({
        "contract": stopped.contract,
        "notice": stopped.notice,
    })))
}
