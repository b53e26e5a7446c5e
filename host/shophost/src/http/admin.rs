//! The JSON admin API (token-protected): module settings, payment methods, orders, the notification
//! journal with replay, the 決済エラーログ, the 決済直前ログ with order recovery, and PayQuick release.
//!
//! Every route needs `Authorization: Bearer <admin token>`. Secret settings are write-only: they are
//! redacted in every response.

use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use shophost_module_api::{FieldKind, LocalDate, SettingsValues};

use crate::db::{DbError, NewPaymentMethod, OrderFilter};
use crate::domain::{
    local_date, now_millis, scheduled_charge, PaymentStatus, ProductRecurrence, ORDER_DAY,
};
use crate::engine::UpdateError;
use crate::http::ApiError;
use crate::AppState;

/// The admin routes (mounted under `/admin/api`).
pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/modules", get(modules))
        .route("/modules/{id}/settings", get(settings).put(update_settings))
        .route("/payment-methods", get(methods).post(create_method))
        .route(
            "/payment-methods/{id}",
            get(method).put(update_method).delete(delete_method),
        )
        .route("/orders", get(orders))
        .route("/orders/{number}", get(order))
        .route("/journal", get(journal))
        .route("/journal/{id}", get(journal_entry))
        .route("/journal/{id}/replay", post(replay))
        .route("/notices", get(notices))
        .route("/settlement-errors", get(settlement_errors))
        .route("/settlement-errors/{id}", delete(delete_settlement_error))
        .route("/attempts", get(attempts))
        .route("/attempts/{link_key}", get(attempt))
        .route("/attempts/{link_key}/recover", post(recover))
        .route("/members/{id}/cards/{module}", delete(release_card))
        .route("/products", get(products).post(add_product))
        .route("/products/{sku}/recurrence", put(set_recurrence))
        .route("/contracts", get(contracts))
        .route("/contracts/{id}/stop", post(stop_contract))
        .route("/jobs/run", post(run_jobs))
        .layer(middleware::from_fn_with_state(state, require_token))
}

/// Constant-time comparison, so the token cannot be guessed byte by byte from timings.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(token) = state.config.admin_token.as_deref() else {
        return ApiError::AdminDisabled.into_response();
    };
    let given = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !same(given.as_bytes(), token.as_bytes()) {
        return ApiError::Unauthorized.into_response();
    }
    next.run(request).await
}

async fn modules(State(state): State<AppState>) -> Json<Value> {
    let states = state.engine.states();
    let registered: Vec<Value> = state
        .engine
        .registry()
        .modules()
        .iter()
        .map(|m| {
            let current = states.get(&m.id);
            json!({
                "id": m.id,
                "display_name": m.display_name,
                "origin": m.origin.to_string(),
                "in_use": current.is_some(),
                "settings_valid": current.map(|s| s.errors.is_empty()),
                "settlement_types": current.map(|s| s.settlement_types.iter().map(|t| json!({"id": t.id, "label": t.label})).collect::<Vec<_>>()).unwrap_or_default(),
            })
        })
        .collect();
    Json(json!({ "modules": registered, "in_use": state.engine.in_use() }))
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

async fn settings(
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

async fn update_settings(
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

async fn methods(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
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

async fn method(
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
struct MethodBody {
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

async fn validate_method(
    state: &AppState,
    body: &MethodBody,
    existing: Option<&crate::domain::PaymentMethod>,
) -> Result<NewPaymentMethod, ApiError> {
    let name = body.name.trim();
    if name.is_empty() {
        return Err(ApiError::BadRequest(
            "支払方法名を入力してください".to_owned(),
        ));
    }
    if !body.module.is_empty() {
        return Err(ApiError::BadRequest(
            "決済モジュールは空白にしてください".to_owned(),
        ));
    }
    let provided = state.engine.provided_type_ids();
    let type_is_provided = provided.contains(&body.settlement_type);
    let keeps_type = existing.is_some_and(|m| m.settlement_type == body.settlement_type);
    if !type_is_provided && !keeps_type {
        return Err(ApiError::BadRequest(format!(
            "決済種別 `{}` は現在利用できません（利用できる決済種別: {}）",
            body.settlement_type,
            provided.join(", ")
        )));
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

async fn create_method(
    State(state): State<AppState>,
    Json(body): Json<MethodBody>,
) -> Result<Response, ApiError> {
    let new = validate_method(&state, &body, None).await?;
    let method = state.store.create_payment_method(&new).await?;
    Ok((StatusCode::CREATED, Json(json!(method))).into_response())
}

async fn update_method(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Json(body): Json<MethodBody>,
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

async fn delete_method(
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

#[derive(Debug, Deserialize)]
struct OrderQuery {
    link_key: Option<String>,
    order_number: Option<String>,
    status: Option<String>,
    member_id: Option<i64>,
    #[serde(default)]
    attention: bool,
    limit: Option<i64>,
}

async fn orders(
    State(state): State<AppState>,
    Query(query): Query<OrderQuery>,
) -> Result<Json<Value>, ApiError> {
    let status = match query.status.as_deref() {
        Some(s) => Some(PaymentStatus::parse(s).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "unknown status `{s}` (unpaid, paid, authorized, captured, cancelled, expired)"
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
    let orders = state
        .store
        .orders(&filter, query.limit.unwrap_or(100).clamp(1, 1000))
        .await?;
    let orders: Vec<Value> = orders.iter().map(order_json).collect();
    Ok(Json(json!({ "orders": orders })))
}

fn order_json(order: &crate::domain::Order) -> Value {
    let mut value = json!(order);
    value["payment_status_label"] = json!(order.payment_status.label());
    value
}

async fn order(
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

#[derive(Debug, Deserialize)]
struct JournalQuery {
    link_key: Option<String>,
    limit: Option<i64>,
}

fn journal_json(entry: &crate::domain::JournalEntry) -> Value {
    let mut value = json!(entry);
    value["body"] = json!(String::from_utf8_lossy(&entry.body));
    value["body_decoded"] = json!(crate::inbound::decode_text(
        &entry.body,
        if entry.charset == "Shift_JIS" {
            shophost_module_api::WireCharset::ShiftJis
        } else {
            shophost_module_api::WireCharset::Utf8
        }
    ));
    value["response_body"] = json!(String::from_utf8_lossy(&entry.response_body));
    value
}

async fn journal(
    State(state): State<AppState>,
    Query(query): Query<JournalQuery>,
) -> Result<Json<Value>, ApiError> {
    let entries = state
        .store
        .journal(
            query.link_key.as_deref(),
            query.limit.unwrap_or(100).clamp(1, 1000),
        )
        .await?;
    Ok(Json(
        json!({ "entries": entries.iter().map(journal_json).collect::<Vec<_>>() }),
    ))
}

async fn journal_entry(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let entry = state
        .store
        .journal_entry(id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(journal_json(&entry)))
}

async fn replay(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let handled = crate::inbound::replay(&state, id)
        .await
        .map_err(|e| match e {
            crate::inbound::ReplayError::NotFound => ApiError::NotFound,
            crate::inbound::ReplayError::NotANotification => ApiError::BadRequest(e.to_string()),
            crate::inbound::ReplayError::Unavailable(detail) => ApiError::Unavailable(detail),
        })?;
    Ok(Json(json!({
        "verdict": handled.verdict.as_ref().map(|v| v.as_str()),
        "journal_id": handled.journal_id,
        "response_status": handled.response.status,
        "response_body": String::from_utf8_lossy(&handled.response.body),
    })))
}

/// The notices an operator's dashboard shows (Welcart's admin notices): settlement errors in the
/// 決済エラーログ, and checkouts or orders flagged 要確認.
async fn notices(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let mut notices = Vec::new();
    if let Some(latest) = state.store.settlement_errors(1).await?.first() {
        notices.push(json!({
            "kind": "settlement_errors",
            "message": format!(
                "決済エラーが発生しました。決済エラーログを確認してください。発生日時: [ {} ]",
                crate::domain::local_datetime(latest.at)
            ),
            "link": "/admin/api/settlement-errors",
        }));
    }
    let counts = state.store.counts().await?;
    if counts.attempts_attention > 0 {
        notices.push(json!({
            "kind": "unconfirmed_returns",
            "message": format!(
                "決済完了の画面に戻ったのに結果通知が届いていない注文が{}件あります。ルミーズの加盟店バックヤードで取引を確認し、\
                 結果通知URL（/index.php?acting=remise_card）・収納情報通知URL（/index.php?acting=remise_conv）の設定を確認してください。",
                counts.attempts_attention
            ),
            "link": "/admin/api/attempts?open_only=true",
        }));
    }
    if counts.orders_attention > 0 {
        notices.push(json!({
            "kind": "orders_attention",
            "message": format!("要確認の注文が{}件あります。", counts.orders_attention),
            "link": "/admin/api/orders?attention=true",
        }));
    }
    Ok(Json(json!({ "notices": notices })))
}

async fn settlement_errors(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let errors = state.store.settlement_errors(500).await?;
    let notice = (!errors.is_empty()).then(|| {
        format!(
            "決済エラーが発生しました。決済エラーログを確認してください。発生日時: [ {} ]",
            crate::domain::local_datetime(errors[0].at)
        )
    });
    Ok(Json(json!({ "notice": notice, "errors": errors })))
}

async fn delete_settlement_error(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if state.store.delete_settlement_error(id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

#[derive(Debug, Deserialize)]
struct AttemptQuery {
    #[serde(default)]
    open_only: bool,
    limit: Option<i64>,
}

async fn attempts(
    State(state): State<AppState>,
    Query(query): Query<AttemptQuery>,
) -> Result<Json<Value>, ApiError> {
    let attempts = state
        .store
        .attempts(query.open_only, query.limit.unwrap_or(100).clamp(1, 1000))
        .await?;
    Ok(Json(json!({ "attempts": attempts })))
}

async fn attempt(
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
        json!({ "attempt": attempt, "journal": journal.iter().map(journal_json).collect::<Vec<_>>() }),
    ))
}

#[derive(Debug, Deserialize)]
struct RecoverBody {
    /// The status Remise's backyard shows for the payment: `captured`, `authorized` or `unpaid`.
    status: String,
}

/// 受注データ再作成: the operator found the payment in the gateway's backyard and makes the order.
async fn recover(
    State(state): State<AppState>,
    Path(link_key): Path<String>,
    Json(body): Json<RecoverBody>,
) -> Result<Response, ApiError> {
    let status = match body.status.as_str() {
        "captured" => PaymentStatus::Captured,
        "authorized" => PaymentStatus::Authorized,
        "unpaid" => PaymentStatus::Unpaid,
        "paid" => PaymentStatus::Paid,
        other => {
            return Err(ApiError::BadRequest(format!(
                "status `{other}` must be captured, authorized, unpaid or paid"
            )))
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

async fn release_card(
    State(state): State<AppState>,
    Path((id, module)): Path<(i64, String)>,
) -> Result<StatusCode, ApiError> {
    if state.store.delete_member_card(id, &module).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

async fn products(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "products": state.store.products().await? })))
}

#[derive(Debug, Deserialize)]
struct ProductBody {
    sku: String,
    name: String,
    price: i64,
    #[serde(default)]
    description: String,
}

/// Adds a product (kept as it is when the SKU exists).
async fn add_product(
    State(state): State<AppState>,
    Json(body): Json<ProductBody>,
) -> Result<Response, ApiError> {
    let sku = body.sku.trim();
    let name = body.name.trim();
    if sku.is_empty() || sku.chars().count() > 64 {
        return Err(ApiError::BadRequest(
            "商品コードを64文字以内で入力してください".to_owned(),
        ));
    }
    if name.is_empty() {
        return Err(ApiError::BadRequest("商品名を入力してください".to_owned()));
    }
    if !(0..=99_999_999).contains(&body.price) {
        return Err(ApiError::BadRequest(
            "価格は0円から99,999,999円までです".to_owned(),
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
struct RecurrenceBody {
    interval_months: u32,
    charging_day: u32,
}

/// Makes a product recurring (継続課金: every 1, 6 or 12 months, on day 1–28 or 99 = the order's day),
/// or one-off again with `null`. Orders and contracts already made keep what they were sold with.
async fn set_recurrence(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    Json(body): Json<Option<RecurrenceBody>>,
) -> Result<Json<Value>, ApiError> {
    let recurrence = match body {
        None => None,
        Some(body) => {
            if ![1, 6, 12].contains(&body.interval_months) {
                return Err(ApiError::BadRequest(
                    "課金間隔は1か月・6か月・12か月から選んでください".to_owned(),
                ));
            }
            if !(1..=28).contains(&body.charging_day) && body.charging_day != ORDER_DAY {
                return Err(ApiError::BadRequest(
                    "課金日は1日から28日まで、またはご注文日（99）を指定してください".to_owned(),
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
struct ContractQuery {
    member_id: Option<i64>,
    limit: Option<i64>,
}

/// 継続課金の契約 (recurring contracts), newest first.
async fn contracts(
    State(state): State<AppState>,
    Query(query): Query<ContractQuery>,
) -> Result<Json<Value>, ApiError> {
    let contracts = state
        .store
        .contracts(query.member_id, query.limit.unwrap_or(100).clamp(1, 1000))
        .await?;
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

/// Marks a contract 停止. The gateway keeps charging until it is stopped there too (Remise has no call
/// for it; its backyard does), so the answer says so.
async fn stop_contract(
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
        "notice": "ショップの継続課金を停止しました。ゲートウェイの管理画面（ルミーズ: 加盟店バックヤード）でも自動継続課金を停止してください。",
    })))
}

async fn run_jobs(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let report = crate::jobs::run_once(&state, crate::domain::now_millis()).await?;
    Ok(Json(
        json!({ "flagged": report.flagged, "expired": report.expired }),
    ))
}
