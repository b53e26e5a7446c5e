//! Modules and their settings: which modules are registered and in use, each one's notification URLs
//! and what vouches for them, each one's settings schema and values (secrets redacted), and saving
//! new values, which may stop payment methods; and choosing the modules in use and their order, which
//! may stop payment methods too (after a confirmation).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use shophost_module_api::{FieldKind, NotificationEndpoint, NotificationTrust, SettingsValues};

use crate::engine::{SelectionError, SelectionOutcome, UpdateError};
use crate::http::ApiError;
use crate::AppState;

/// Every registered module: origin (`bundled`, or `shared_library` with its path), in use or not and
/// where in the order, settings valid or not, settlement types, notification URLs, and for a module
/// out of use with something open whether it still listens and why (`retired`).
pub(super) async fn modules(State(state): State<AppState>) -> Json<Value> {
    let states = state.engine.states();
    let retired = state.engine.retired();
    let registered: Vec<Value> = state
        .engine
        .overview()
        .into_iter()
        .map(|overview| {
            let endpoints: Vec<Value> = states
                .get(&overview.id)
                .or_else(|| {
                    retired
                        .get(&overview.id)
                        .filter(|r| r.listening())
                        .map(|r| &r.state)
                })
                .map(|s| {
                    s.endpoints
                        .iter()
                        .map(|e| endpoint_json(e, &state.config.public_url))
                        .collect()
                })
                .unwrap_or_default();
            let mut value = json!(overview);
            value["notification_endpoints"] = Value::Array(endpoints);
            value
        })
        .collect();
    Json(json!({
        "modules": registered,
        "in_use": *state.engine.in_use(),
        "listening": state.engine.listening(),
    }))
}

/// `PUT /admin/api/modules/in-use` with `{"in_use": ["remise"], "confirm": false}`: sets the modules in
/// use and their order. 409 naming the methods that would stop (使用 → 停止) unless `confirm` is true;
/// otherwise applies and reports what stopped and which modules out of use still listen.
pub(super) async fn set_in_use(
    State(state): State<AppState>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let in_use: Vec<String> = match body.get("in_use") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str().map(str::to_owned).ok_or_else(|| {
                    ApiError::BadRequest("`in_use` must be a list of module ids".to_owned())
                })
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(ApiError::BadRequest(
                "expected {\"in_use\": [module ids], \"confirm\": bool}".to_owned(),
            ))
        }
    };
    let confirm = body
        .get("confirm")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let outcome = state
        .engine
        .set_in_use(in_use, confirm, &state.config, state.store.as_ref())
        .await;
    match outcome {
        Ok(SelectionOutcome::NeedsConfirmation {
            methods,
            removed,
            message,
        }) => Ok((
            StatusCode::CONFLICT,
            Json(json!({
                "error": message,
                "methods": methods,
                "removed": removed,
                "confirm_with": {"confirm": true},
            })),
        )
            .into_response()),
        Ok(SelectionOutcome::Applied(report)) => Ok(Json(json!(report)).into_response()),
        Err(SelectionError::UnknownModule(id)) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "error": format!("モジュール「{id}」は登録されていません。") })),
        )
            .into_response()),
        Err(SelectionError::Duplicate(id)) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "error": format!("モジュール「{id}」が重複しています。") })),
        )
            .into_response()),
        Err(SelectionError::Db(error)) => Err(ApiError::from(error)),
    }
}

/// A notification endpoint as the module declares it: the URL to register at the gateway, where and
/// under which name, and what vouches for the requests.
fn endpoint_json(endpoint: &NotificationEndpoint, public_url: &str) -> Value {
    let trust = match &endpoint.trust {
        NotificationTrust::Signed => "signed",
        NotificationTrust::SourceAddress(_) => "source_address",
        NotificationTrust::Unverified { .. } => "unverified",
    };
    json!({
        "name": endpoint.name,
        "url": endpoint.url(public_url),
        "setting_name": endpoint.setting_name,
        "registered_at": endpoint.registered_at,
        "trust": trust,
        "trust_detail": endpoint.trust.to_string(),
    })
}

fn schema_json(schema: &shophost_module_api::SettingsSchema) -> Value {
    let fields: Vec<Value> = schema
        .fields
        .iter()
        .map(|f| {
            let (kind, choices) = match &f.kind {
                FieldKind::Text => ("text", None),
                FieldKind::Digits => ("digits", None),
                FieldKind::Choice(options) => (
                    "choice",
                    Some(options.iter().map(|o| json!({"value": o.value, "label": o.label})).collect::<Vec<_>>()),
                ),
                FieldKind::OnOff => ("on_off", None),
                FieldKind::Url => ("url", None),
                FieldKind::Secret => ("secret", None),
            };
            json!({
                "key": f.key, "label": f.label, "kind": kind, "choices": choices, "default": f.default,
                "help": f.help, "required": f.required, "max_chars": f.max_chars, "min": f.min, "max": f.max,
            })
        })
        .collect();
    Value::Array(fields)
}

pub(super) async fn settings(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let states = state.engine.states();
    let current = states.get(&id).ok_or(ApiError::NotFound)?;
    let schema = current.registered.module.settings_schema();
    let errors: Vec<Value> = current
        .errors
        .iter()
        .map(|e| json!({"key": e.key, "message": e.message}))
        .collect();
    Ok(Json(json!({
        "module": id,
        "schema": schema_json(&schema),
        "values": schema.redact(&current.values),
        "valid": current.errors.is_empty(),
        "errors": errors,
        "settlement_types": current.settlement_types.iter().map(|t| &t.id).collect::<Vec<_>>(),
    })))
}

/// Settings as JSON: strings, booleans (on/off) or numbers. Secrets left out or sent as the redaction
/// marker keep their stored value (write-only fields are never echoed back to be re-sent).
fn settings_from_json(
    body: &Value,
    schema: &shophost_module_api::SettingsSchema,
    current: &SettingsValues,
) -> Result<SettingsValues, ApiError> {
    let object = body
        .get("values")
        .unwrap_or(body)
        .as_object()
        .ok_or_else(|| ApiError::BadRequest("expected a JSON object of settings".to_owned()))?;
    let mut values = SettingsValues::new();
    for (key, value) in object {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Bool(b) => if *b { "on" } else { "off" }.to_owned(),
            Value::Number(n) => n.to_string(),
            Value::Null => String::new(),
            Value::Array(items) => items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" "),
            Value::Object(_) => {
                return Err(ApiError::BadRequest(format!(
                    "setting `{key}` must not be an object"
                )))
            }
        };
        values.insert(key.clone(), text);
    }
    for field in &schema.fields {
        if field.kind == FieldKind::Secret {
            let keep = values
                .get(&field.key)
                .is_none_or(|v| v == shophost_module_api::REDACTED);
            if keep {
                match current.get(&field.key) {
                    Some(stored) => values.insert(field.key.clone(), stored.clone()),
                    None => values.remove(&field.key),
                };
            }
        }
    }
    Ok(values)
}

pub(super) async fn update_settings(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let states = state.engine.states();
    let current = states.get(&id).ok_or(ApiError::NotFound)?;
    let values = settings_from_json(
        &body,
        &current.registered.module.settings_schema(),
        &current.values,
    )?;
    let report = state
        .engine
        .update_settings(&id, values, state.store.as_ref())
        .await
        .map_err(|e| match e {
            UpdateError::UnknownModule(_) | UpdateError::NotInUse(_) => ApiError::NotFound,
            UpdateError::Db(db) => ApiError::from(db),
        })?;
    let status = if report.ok {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((status, Json(json!(report))).into_response())
}
