//! Payment methods (支払方法): list, read, create, change and delete, with the rules an operator's
//! method must follow (a provided settlement type to be 使用, no deleting a method orders use).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::db::{DbError, NewPaymentMethod};
use crate::http::error::JsonBody;
use crate::http::ApiError;
use crate::AppState;

pub(super) async fn methods(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let provided = state.engine.provided_type_ids();
    let labels = state.engine.labels();
    let methods: Vec<Value> = state
        .store
        .payment_methods()
        .await?
        .into_iter()
        .map(|m| {
            let available = provided.contains(&m.settlement_type);
            json!({
                "id": m.id, "name": m.name, "explanation": m.explanation, "settlement_type": m.settlement_type,
                "settlement_label": labels.get(&m.settlement_type), "module": m.module,
                "use": if m.active { "使用" } else { "停止" }, "active": m.active, "sort": m.sort,
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
    sort: Option<i64>,
}

fn default_true() -> bool {
    true
}

/// Sanitises an operator's explanation: formatting and images are kept, scripts and handlers are not.
pub fn sanitise_explanation(html: &str) -> String {
    ammonia::Builder::default().clean(html).to_string()
}

pub(super) async fn validate_method(
    state: &AppState,
    body: &MethodBody,
    existing: Option<&crate::domain::PaymentMethod>,
) -> Result<NewPaymentMethod, ApiError> {
    let name = body.name.trim();
    if name.is_empty() {
        return Err(ApiError::field("name", "支払方法名を入力してください"));
    }
    if !body.module.is_empty() {
        return Err(ApiError::field(
            "module",
            "決済モジュールは空白にしてください",
        ));
    }
    let provided = state.engine.provided_type_ids();
    let type_is_provided = provided.contains(&body.settlement_type);
    let keeps_type = existing.is_some_and(|m| m.settlement_type == body.settlement_type);
    if !type_is_provided && !keeps_type {
        return Err(ApiError::field(
            "settlement_type",
            format!(
                "決済種別 `{}` は現在利用できません（利用できる決済種別: {}）",
                body.settlement_type,
                provided.join(", ")
            ),
        ));
    }
    if body.active && !type_is_provided {
        return Err(ApiError::Conflict(format!(
            "決済種別 `{}` が提供されていないため「使用」にできません。クレジット決済設定を確認してください",
            body.settlement_type
        )));
    }
    let sort = match body.sort {
        Some(sort) => sort,
        None => existing.map(|m| m.sort).unwrap_or(
            state
                .store
                .payment_methods()
                .await?
                .iter()
                .map(|m| m.sort + 1)
                .max()
                .unwrap_or(0),
        ),
    };
    Ok(NewPaymentMethod {
        name: name.to_owned(),
        explanation: sanitise_explanation(&body.explanation),
        settlement_type: body.settlement_type.clone(),
        active: body.active,
        sort,
    })
}

pub(super) async fn create_method(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<MethodBody>,
) -> Result<Response, ApiError> {
    let new = validate_method(&state, &body, None).await?;
    let method = state.store.create_payment_method(&new).await?;
    Ok((StatusCode::CREATED, Json(json!(method))).into_response())
}

pub(super) async fn update_method(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<MethodBody>,
) -> Result<Json<Value>, ApiError> {
    let existing = state
        .store
        .payment_method(id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let new = validate_method(&state, &body, Some(&existing)).await?;
    Ok(Json(json!(
        state.store.update_payment_method(id, &new).await?
    )))
}

pub(super) async fn delete_method(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let method = state
        .store
        .payment_method(id)
        .await?
        .ok_or(ApiError::NotFound)?;
    match state.store.delete_payment_method(id).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(DbError::Conflict("orders")) => Err(ApiError::Conflict(format!(
            "支払方法「{}」は受注で使われているため削除できません。削除せずに「停止」にしてください",
            method.name
        ))),
        Err(other) => Err(other.into()),
    }
}
