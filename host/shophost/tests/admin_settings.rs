//! Module settings through the admin API, as a new operator meets them: a whole form that must be
//! whole, a partial update that keeps the rest, a preview that saves nothing and names the methods that
//! would stop, a confirmed return to the config file's settings, secrets that are kept when sent empty
//! and never shown, and the API's shapes (errors with `fields`, times in shop time).

#[macro_use]
mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::{method_id, product_id, Backend, Scratch, ADMIN_TOKEN, CUSTOMER};
use serde_json::{json, Value};
use shophost::AppState;
use shophost_module_api::{
    register_module, Answer, BrowserReturn, FieldError, FormField, InboundRequest, Notification,
    NotificationEndpoint, PaymentStart, PaymentStartError, PaymentStartRequest, RedirectForm,
    Rejection, ReturnKind, SettingField, SettingsSchema, SettingsValues, SettlementKind,
    SettlementType, TypedModule, WireCharset, WireResponse,
};
use tower::ServiceExt;

/// The secret the test module is configured with; it must never appear in an answer.
const FILE_SECRET: &str = "file-secret-9f3a";
const NEW_SECRET: &str = "new-secret-77c1";

/// A gateway with a secret setting (Remise has none), compiled into this test only.
#[derive(Debug, Clone, Copy, Default)]
struct VaultPay;

register_module!(VaultPay);

impl TypedModule for VaultPay {
    const ID: &'static str = "vaultpay";
    const DISPLAY_NAME: &'static str = "ボールトペイ";
    type Config = String;

    fn settings_schema(&self) -> SettingsSchema {
        SettingsSchema::new(vec![
            SettingField::text("shop_id", "ショップID").required(),
            SettingField::secret("api_key", "APIキー").required(),
        ])
    }

    fn validate(&self, values: &SettingsValues) -> Result<String, Vec<FieldError>> {
        let errors = self.settings_schema().check(values);
        if errors.is_empty() {
            Ok(values["shop_id"].clone())
        } else {
            Err(errors)
        }
    }

    fn settlement_types(&self, _config: &String) -> Vec<SettlementType> {
        vec![SettlementType::new(
            "acting_vaultpay_card",
            "カード決済（ボールトペイ）",
            SettlementKind::Immediate,
        )]
    }

    fn notification_endpoints(&self, _config: &String) -> Vec<NotificationEndpoint> {
        Vec::new()
    }

    async fn start_payment(
        &self,
        config: &String,
        request: &PaymentStartRequest,
    ) -> Result<PaymentStart, PaymentStartError> {
        Ok(PaymentStart::Redirect(RedirectForm::post(
            "https://vaultpay.example/pay",
            WireCharset::Utf8,
            vec![
                FormField::new("shop_id", &**config),
                FormField::new("order_id", &*request.link_key),
            ],
        )))
    }

    async fn parse_notification(
        &self,
        _config: &String,
        _endpoint: &str,
        _request: &InboundRequest,
    ) -> Result<Notification, Rejection> {
        Err(Rejection::new("no notifications in this test"))
    }

    async fn parse_return(
        &self,
        _config: &String,
        _settlement_type: &str,
        _kind: ReturnKind,
        _request: &InboundRequest,
    ) -> BrowserReturn {
        BrowserReturn::nothing()
    }

    fn respond(
        &self,
        _endpoint: &str,
        _request: &InboundRequest,
        _answer: &Answer,
    ) -> WireResponse {
        WireResponse::text(200, "text/plain", "OK")
    }
}

/// The demo config with VaultPay in use beside Remise, on the database `db`.
fn config_text(db: &Scratch) -> String {
    let text = shophost::config::DEMO_CONFIG
        .replace("sqlite:shophost-data/shophost.db", db.url())
        .replace("[sandbox]\nenabled = true", "[sandbox]\nenabled = false")
        .replace("demo-admin-token-change-me", ADMIN_TOKEN)
        .replace(
            "in_use = [\"remise\"]",
            "in_use = [\"remise\", \"vaultpay\"]",
        );
    assert!(text.contains("vaultpay"), "the demo config changed shape");
    format!(
        "{text}\n[modules.settings.vaultpay]\nshop_id = \"V001\"\napi_key = \"{FILE_SECRET}\"\n"
    )
}

/// A shop on the database `db` (started afresh each call, as a restart would).
async fn start(db: &Scratch) -> AppState {
    let registry = shophost::bundled::registry(vec![]).expect("registry");
    let config = shophost::serve::config_from_toml(&config_text(db), &registry).expect("config");
    shophost::serve::build_state(config, registry)
        .await
        .expect("state")
}

/// One admin API request: status and JSON body. Panics if a secret appears in the answer.
async fn admin(
    state: &AppState,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let uri = if uri.starts_with("/api/") {
        uri.to_owned()
    } else {
        format!("/admin/api{uri}")
    };
    let request = Request::builder()
        .method(method)
        .uri(&uri)
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.map(|b| b.to_string()).unwrap_or_default()))
        .expect("request");
    let response = shophost::http::router(state.clone())
        .oneshot(request)
        .await
        .expect("response");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    let text = String::from_utf8(bytes.to_vec()).expect("UTF-8");
    assert!(
        !text.contains(FILE_SECRET) && !text.contains(NEW_SECRET),
        "a secret in the answer to {method} {uri}: {text}"
    );
    let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON from {uri}: {text}"));
    (status, json)
}

async fn settings(state: &AppState, module: &str) -> Value {
    let (status, answer) = admin(state, "GET", &format!("/modules/{module}/settings"), None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

/// Names of the methods in use (使用).
async fn methods_in_use(state: &AppState) -> Vec<String> {
    let mut names: Vec<String> = state
        .store
        .payment_methods()
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.active)
        .map(|m| m.name)
        .collect();
    names.sort();
    names
}

async fn a_whole_form_must_be_whole_and_a_partial_update_keeps_the_rest(backend: Backend) {
    let db = backend.database("settings-whole");
    let state = start(&db).await;
    let before = settings(&state, "remise").await;
    assert_eq!(before["source"], "file");
    let in_use = methods_in_use(&state).await;
    assert_eq!(in_use.len(), 2, "{in_use:?}");

    // What a new operator once sent: refused, naming every missing key, and nothing changed.
    let (status, answer) = admin(
        &state,
        "PUT",
        "/modules/remise/settings",
        Some(json!({"S_PAYDATE": "7"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    for key in [
        "SHOPCO",
        "HOSTID",
        "card_activate",
        "conv_activate",
        "send_url_pc",
    ] {
        assert!(answer["fields"][key].is_string(), "{key}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains(key), "{answer}");
    }
    assert!(answer["fields"].get("S_PAYDATE").is_none(), "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("PATCH"),
        "{answer}"
    );
    assert_eq!(settings(&state, "remise").await, before);
    assert_eq!(methods_in_use(&state).await, in_use);

    // The same with PATCH: only S_PAYDATE changes, the methods keep running.
    let (status, report) = admin(
        &state,
        "PATCH",
        "/modules/remise/settings",
        Some(json!({"S_PAYDATE": "7"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        (report["ok"].clone(), report["saved"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(report["changed_keys"], json!(["S_PAYDATE"]));
    assert_eq!(report["stopped_methods"], json!([]));
    let after = settings(&state, "remise").await;
    assert_eq!(after["source"], "admin");
    assert_eq!(after["values"]["S_PAYDATE"], "7");
    assert_eq!(after["values"]["SHOPCO"], before["values"]["SHOPCO"]);
    assert_eq!(
        after["values"]["send_url_pc_test"],
        before["values"]["send_url_pc_test"]
    );
    assert_eq!(after["differs_from_file"], json!(["S_PAYDATE"]));
    assert_eq!(methods_in_use(&state).await, in_use);

    // The whole form as GET gives it goes back unchanged.
    let (status, report) = admin(
        &state,
        "PUT",
        "/modules/remise/settings",
        Some(json!({"values": after["values"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["changed_keys"], json!([]));

    // After a restart the database's settings still win.
    drop(state);
    let state = start(&db).await;
    assert_eq!(settings(&state, "remise").await["values"]["S_PAYDATE"], "7");
}

async fn a_dry_run_changes_nothing_and_names_the_methods_that_would_stop(backend: Backend) {
    let db = backend.database("settings-dry-run");
    let state = start(&db).await;
    let before = settings(&state, "remise").await;
    let in_use = methods_in_use(&state).await;

    for (method, uri, body) in [
        (
            "PATCH",
            "/modules/remise/settings?dry_run=true",
            json!({"SHOPCO": ""}),
        ),
        (
            "PATCH",
            "/modules/remise/settings",
            json!({"values": {"SHOPCO": ""}, "dry_run": true}),
        ),
        (
            "PATCH",
            "/modules/remise/settings",
            json!({"SHOPCO": "", "dry_run": true}),
        ),
    ] {
        let (status, report) = admin(&state, method, uri, Some(body)).await;
        // The status the change would get: the settings would be wrong.
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{report}");
        assert_eq!(report["saved"], false, "{report}");
        assert_eq!(report["ok"], false, "{report}");
        assert!(report["fields"]["SHOPCO"].is_string(), "{report}");
        let mut stopping: Vec<String> =
            serde_json::from_value(report["stopped_methods"].clone()).unwrap();
        stopping.sort();
        assert_eq!(stopping, in_use, "{report}");
        assert!(
            report["messages"]
                .to_string()
                .contains("保存すると支払方法の"),
            "{report}"
        );
        assert_eq!(settings(&state, "remise").await, before);
        assert_eq!(methods_in_use(&state).await, in_use);
    }

    // Saved for real, the methods stop; a preview of the fix says they may be used again.
    let (status, report) = admin(
        &state,
        "PATCH",
        "/modules/remise/settings",
        Some(json!({"SHOPCO": ""})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{report}");
    assert_eq!(report["saved"], true);
    assert!(methods_in_use(&state).await.is_empty());
    let (status, report) = admin(
        &state,
        "PATCH",
        "/modules/remise/settings?dry_run=true",
        Some(json!({"SHOPCO": "TESTSHOP"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let mut allowed: Vec<String> =
        serde_json::from_value(report["allowed_methods"].clone()).unwrap();
    allowed.sort();
    assert_eq!(allowed, in_use, "{report}");
    assert_eq!(settings(&state, "remise").await["valid"], false);
}

async fn a_return_to_the_file_needs_confirming_and_the_file_wins_again(backend: Backend) {
    let db = backend.database("settings-revert");
    let state = start(&db).await;
    let file_values = settings(&state, "remise").await["values"].clone();
    let (status, _) = admin(
        &state,
        "PATCH",
        "/modules/remise/settings",
        Some(json!({"S_PAYDATE": "7", "SHOPCO": "OTHER"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // Without the confirmation: 409, what it would do, nothing changed.
    for body in [None, Some(json!({})), Some(json!({"confirm": false}))] {
        let (status, answer) = admin(&state, "POST", "/modules/remise/settings/revert", body).await;
        assert_eq!(status, StatusCode::CONFLICT, "{answer}");
        assert!(
            answer["error"].as_str().unwrap().contains("confirm"),
            "{answer}"
        );
        assert_eq!(answer["preview"]["saved"], false, "{answer}");
        assert_eq!(answer["preview"]["source"], "file", "{answer}");
        let mut changed: Vec<String> =
            serde_json::from_value(answer["preview"]["changed_keys"].clone()).unwrap();
        changed.sort();
        assert_eq!(changed, ["SHOPCO", "S_PAYDATE"], "{answer}");
        assert_eq!(settings(&state, "remise").await["source"], "admin");
    }

    let (status, report) = admin(
        &state,
        "POST",
        "/modules/remise/settings/revert",
        Some(json!({"confirm": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        (report["saved"].clone(), report["source"].clone()),
        (json!(true), json!("file"))
    );
    assert_eq!(report["stopped_methods"], json!([]));
    let reverted = settings(&state, "remise").await;
    assert_eq!(reverted["source"], "file");
    assert_eq!(reverted["values"], file_values);
    assert_eq!(reverted["differs_from_file"], json!([]));

    // From then on the file wins at start-up.
    drop(state);
    let state = start(&db).await;
    let restarted = settings(&state, "remise").await;
    assert_eq!(restarted["source"], "file");
    assert_eq!(restarted["values"], file_values);
}

async fn secrets_are_kept_when_sent_empty_and_never_shown(backend: Backend) {
    let db = backend.database("settings-secret");
    let state = start(&db).await;
    let stored = |state: &AppState| state.engine.states()["vaultpay"].values["api_key"].clone();
    let form = settings(&state, "vaultpay").await;
    assert_eq!(form["values"]["api_key"], "********");
    assert_eq!(form["valid"], true, "{form}");

    // The console's whole-form submit: the secret empty, or as GET showed it. Both keep it.
    for api_key in ["", "********"] {
        let (status, report) = admin(
            &state,
            "PUT",
            "/modules/vaultpay/settings",
            Some(json!({"shop_id": "V002", "api_key": api_key})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{report}");
        assert_eq!(stored(&state), FILE_SECRET);
    }
    // Left out of a whole form, it is a missing key like any other.
    let (status, answer) = admin(
        &state,
        "PUT",
        "/modules/vaultpay/settings",
        Some(json!({"shop_id": "V002"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(answer["fields"]["api_key"].is_string(), "{answer}");

    // A new secret is taken, shown only as the marker, and only its name is said to change.
    let (status, report) = admin(
        &state,
        "PATCH",
        "/modules/vaultpay/settings",
        Some(json!({"api_key": NEW_SECRET})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["changed_keys"], json!(["api_key"]));
    assert_eq!(stored(&state), NEW_SECRET);
    let form = settings(&state, "vaultpay").await;
    assert_eq!(form["values"]["api_key"], "********");
    assert_eq!(form["differs_from_file"], json!(["api_key", "shop_id"]));

    // Back to the file: the file's secret again.
    let (status, _) = admin(
        &state,
        "POST",
        "/modules/vaultpay/settings/revert",
        Some(json!({"confirm": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored(&state), FILE_SECRET);
}

async fn validation_errors_name_their_fields_and_times_are_shop_time(backend: Backend) {
    let db = backend.database("settings-shapes");
    let state = start(&db).await;

    let (status, answer) = admin(
        &state,
        "PATCH",
        "/modules/remise/settings?dry_run=true",
        Some(json!({"S_PAYDATE": "99", "HOSTID": "abc"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(answer["error"].is_string(), "{answer}");
    assert!(
        answer["fields"]["S_PAYDATE"]
            .as_str()
            .unwrap()
            .contains("支払期限"),
        "{answer}"
    );
    assert!(answer["fields"]["HOSTID"].is_string(), "{answer}");
    let (status, answer) = admin(
        &state,
        "PATCH",
        "/modules/remise/settings",
        Some(json!({"SHOPCO": {"nested": true}})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(answer["fields"]["SHOPCO"].is_string(), "{answer}");
    let (status, answer) = admin(
        &state,
        "POST",
        "/payment-methods",
        Some(json!({"name": " ", "settlement_type": "acting_remise_card"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(answer["fields"]["name"].is_string(), "{answer}");
    // Other errors are one Japanese sentence.
    let (status, answer) = admin(&state, "GET", "/modules/nosuch/settings", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(answer, json!({"error": "見つかりません"}));

    // Times: the settings' and an attempt's, ISO 8601 with the shop's offset.
    let (status, _) = admin(
        &state,
        "PATCH",
        "/modules/remise/settings",
        Some(json!({"S_PAYDATE": "7"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let updated_at = settings(&state, "remise").await["updated_at"].clone();
    let updated_at = updated_at.as_str().expect("a text time");
    assert!(
        updated_at.ends_with("+09:00") && updated_at.contains('T'),
        "{updated_at}"
    );

    let customer: serde_json::Map<String, Value> = CUSTOMER
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    let card = method_id(&state, "acting_remise_card").await;
    let mug = product_id(&state, "有田焼 マグカップ").await;
    let (status, created) = admin(
        &state,
        "POST",
        "/api/checkout",
        Some(json!({"lines": [{"product_id": mug, "quantity": 1}], "customer": customer, "payment_method_id": card})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, attempts) = admin(&state, "GET", "/attempts", None).await;
    assert_eq!(status, StatusCode::OK);
    let attempt = &attempts["attempts"][0];
    let created_at = attempt["created_at"].as_str().expect("a text time");
    assert!(created_at.ends_with("+09:00"), "{attempt}");
    assert!(attempt["returned_at"].is_null(), "{attempt}");
}

// Each test above runs on SQLite, and on PostgreSQL when SHOPHOST_TEST_PG_URL names a server.
on_both_backends!(
    a_whole_form_must_be_whole_and_a_partial_update_keeps_the_rest,
    a_dry_run_changes_nothing_and_names_the_methods_that_would_stop,
    a_return_to_the_file_needs_confirming_and_the_file_wins_again,
    secrets_are_kept_when_sent_empty_and_never_shown,
    validation_errors_name_their_fields_and_times_are_shop_time,
);
