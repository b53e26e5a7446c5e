//! Payment methods (支払方法): list, read, create, change, move and delete. The rules live in
//! [`crate::methods`], which the console's pages call too.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::domain::MoveDirection;
use crate::http::error::JsonBody;
use crate::http::ApiError;
use crate::methods::MethodInput;
use crate::AppState;

pub(super) async fn methods(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let labels = state.engine.labels();
    let methods: Vec<Value> = state
        .store
        .payment_methods()
        .await?
        .into_iter()
        .map(|m| {
            let available = state.engine.provided(&m.settlement_type).is_some();
            json!({
                "id": m.id, "name": m.name, "explanation": m.explanation, "settlement_type": m.settlement_type,
                "settlement_label": labels.get(&m.settlement_type), "module": m.module,
                "use": if m.active { "使用" } else { "停止" }, "active": m.active, "position": m.position,
                // A method whose settlement type is not provided (module out of use or invalid) is read-only.
                "read_only": !available,
            })
        })
        .collect();
    Ok(Json(json!({ "payment_methods": methods })))
}

pub(super) async fn method(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let method = state
        .store
        .payment_method(id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(json!(method)))
}

#[derive(Debug, Deserialize)]
pub(super) struct MethodBody {
    name: String,
    #[serde(default)]
    explanation: String,
    settlement_type: String,
    #[serde(default)]
    module: String,
    #[serde(default = "default_true")]
    active: bool,
}

fn default_true() -> bool {
    true
}

impl From<MethodBody> for MethodInput {
    fn from(body: MethodBody) -> Self {
        MethodInput {
            name: body.name,
            explanation: body.explanation,
            settlement_type: body.settlement_type,
            module: body.module,
            active: body.active,
        }
    }
}

pub(super) async fn create_method(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<MethodBody>,
) -> Result<Response, ApiError> {
    let method = crate::methods::create(state.store.as_ref(), &state.engine, &body.into()).await?;
    Ok((StatusCode::CREATED, Json(json!(method))).into_response())
}

pub(super) async fn update_method(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<MethodBody>,
) -> Result<Json<Value>, ApiError> {
    let method =
        crate::methods::update(state.store.as_ref(), &state.engine, id, &body.into()).await?;
    Ok(Json(json!(method)))
}

pub(super) async fn delete_method(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    crate::methods::delete(state.store.as_ref(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
pub(super) struct MoveBody {
    direction: MoveDirection,
}

/// Moves a method one place up or down in the operator's order; answers the whole list's order.
pub(super) async fn move_method(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<MoveBody>,
) -> Result<Json<Value>, ApiError> {
    let method = crate::methods::move_method(state.store.as_ref(), id, body.direction).await?;
    let order: Vec<i64> = state
        .store
        .payment_methods()
        .await?
        .iter()
        .map(|m| m.id)
        .collect();
    Ok(Json(json!({ "payment_method": method, "order": order })))
}
