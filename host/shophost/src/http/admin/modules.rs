//! Modules and their settings: which modules are registered and in use, each one's notification URLs
//! and what vouches for them, each one's settings schema and values (secrets redacted), and saving
//! new values (the whole form with `PUT`, some keys with `PATCH`, back to the config file with a
//! confirmed `POST …/revert`; each may be previewed with `dry_run`), which may stop payment methods;
//! and choosing the modules in use and their order, which may stop payment methods too (after a
//! confirmation). The rules are the engine's (`engine/settings.rs`, `engine/selection.rs`), which the
//! console calls too.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use shophost_module_api::{FieldKind, NotificationEndpoint, NotificationTrust, SettingsValues};

use crate::domain::iso_datetime;
use crate::engine::{
    differing_keys, whole_form, SelectionError, SelectionOutcome, SettingsChange, SettingsReport,
    UpdateError,
};
use crate::http::error::JsonBody;
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

/// `PUT /admin/api/modules/in-use` with `{"in_use": ["<module id>", …], "confirm": false}`: sets the modules in
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
    let fields: BTreeMap<&str, &str> = current
        .errors
        .iter()
        .map(|e| (e.key.as_str(), e.message.as_str()))
        .collect();
    let stored = state.store.module_settings(&id).await?;
    let file = state
        .config
        .module_settings
        .get(&id)
        .cloned()
        .unwrap_or_default();
    Ok(Json(json!({
        "module": id,
        "schema": schema_json(&schema),
        // Every key, defaults filled in: what a whole-form PUT sends back (secrets as the marker or
        // empty, which keep the stored value).
        "values": schema.redact(&whole_form(&schema, &current.values)),
        "valid": current.errors.is_empty(),
        "errors": errors,
        "fields": fields,
        "settlement_types": current.settlement_types.iter().map(|t| &t.id).collect::<Vec<_>>(),
        "source": stored.as_ref().map(|s| s.source.as_str()),
        "updated_at": stored.as_ref().map(|s| iso_datetime(s.updated_at)),
        "differs_from_file": differing_keys(&schema, &file, &current.values),
    })))
}

/// Settings as JSON: strings, booleans (on/off), numbers or lists of strings. The values are the body
/// itself or its `values` member; `dry_run` beside them (or `?dry_run=true`) asks for a preview.
fn settings_from_json(body: &Value) -> Result<(SettingsValues, bool), ApiError> {
    let object = body.as_object().ok_or_else(|| {
        ApiError::BadRequest("設定は JSON のオブジェクトで送ってください".to_owned())
    })?;
    let dry_run = object
        .get("dry_run")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let (object, wrapped) = match object.get("values") {
        Some(values) => (
            values.as_object().ok_or_else(|| {
                ApiError::BadRequest("values は JSON のオブジェクトで送ってください".to_owned())
            })?,
            true,
        ),
        None => (object, false),
    };
    let mut values = SettingsValues::new();
    let mut wrong = Vec::new();
    for (key, value) in object {
        if !wrapped && key == "dry_run" {
            continue;
        }
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
                wrong.push((
                    key.clone(),
                    "文字列・数値・真偽値・文字列の配列のいずれかで送ってください".to_owned(),
                ));
                continue;
            }
        };
        values.insert(key.clone(), text);
    }
    if !wrong.is_empty() {
        return Err(ApiError::invalid("設定の値の形が違います", wrong));
    }
    Ok((values, dry_run))
}

/// `?dry_run=true`: report what the change would do without saving it.
#[derive(Debug, Default, Deserialize)]
pub(super) struct DryRun {
    #[serde(default)]
    dry_run: bool,
}

fn update_error(error: UpdateError) -> ApiError {
    match error {
        UpdateError::UnknownModule(_) | UpdateError::NotInUse(_) => ApiError::NotFound,
        UpdateError::MissingKeys(keys) => ApiError::invalid(
            format!(
                "設定項目が足りません（{}）。PUT は設定画面の全項目を送ります（秘密の項目は空にすると今の値のままです）。一部だけ変えるには PATCH を使ってください",
                keys.join("、")
            ),
            keys.into_iter()
                .map(|key| (key, "この項目がありません".to_owned())),
        ),
        UpdateError::Db(db) => ApiError::from(db),
    }
}

/// Answers with the report: 200 when the settings are valid, 422 with `error` and `fields` when not
/// (a preview answers with the status the change would get).
fn report_response(report: SettingsReport) -> Response {
    let mut body = json!(report);
    if report.ok {
        return (StatusCode::OK, Json(body)).into_response();
    }
    body["error"] = json!(if report.saved {
        "データに不備があります。設定は保存しましたが、決済種別は提供されません"
    } else {
        "データに不備があります"
    });
    (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
}

async fn apply(
    state: &AppState,
    id: &str,
    change: SettingsChange,
    dry_run: bool,
) -> Result<Response, ApiError> {
    let store = state.store.as_ref();
    let report = if dry_run {
        state.engine.preview_settings(id, &change, store).await
    } else {
        state.engine.change_settings(id, change, store).await
    }
    .map_err(update_error)?;
    Ok(report_response(report))
}

/// `PUT`: the whole form; a body without some of the schema's keys is refused (422, naming them).
pub(super) async fn replace_settings(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<DryRun>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let (values, dry_run) = settings_from_json(&body)?;
    apply(
        &state,
        &id,
        SettingsChange::Replace(values),
        dry_run || query.dry_run,
    )
    .await
}

/// `PATCH`: only the keys sent change.
pub(super) async fn merge_settings(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<DryRun>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let (values, dry_run) = settings_from_json(&body)?;
    apply(
        &state,
        &id,
        SettingsChange::Merge(values),
        dry_run || query.dry_run,
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct RevertBody {
    #[serde(default)]
    confirm: bool,
    #[serde(default)]
    dry_run: bool,
}

/// `POST …/settings/revert` with `{"confirm": true}`: back to the config file's settings, which win
/// again from then on. Without the confirmation nothing changes: 409, with what it would do.
pub(super) async fn revert_settings(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<DryRun>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    // An empty body is no confirmation; anything else must be the JSON object.
    let body: RevertBody = if body.iter().all(u8::is_ascii_whitespace) {
        RevertBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::BadRequest(format!(
                "JSON として読めません（{e}）。例: {{\"confirm\": true}}"
            ))
        })?
    };
    let file = state
        .config
        .module_settings
        .get(&id)
        .cloned()
        .unwrap_or_default();
    let change = SettingsChange::RevertToFile(file);
    if body.dry_run || query.dry_run {
        return apply(&state, &id, change, true).await;
    }
    if !body.confirm {
        let preview = state
            .engine
            .preview_settings(&id, &change, state.store.as_ref())
            .await
            .map_err(update_error)?;
        let body = json!({
            "error": "設定ファイルの設定に戻すには確認が必要です。内容を確かめて {\"confirm\": true} を送ってください",
            "preview": preview,
        });
        return Ok((StatusCode::CONFLICT, Json(body)).into_response());
    }
    apply(&state, &id, change, false).await
}
