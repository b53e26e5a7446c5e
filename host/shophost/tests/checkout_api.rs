//! The JSON checkout API through the real router: it checks customers with the storefront's one rule,
//! and the payment methods it lists keep their shape.

#[macro_use]
mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::{method_id, product_id, Backend, CUSTOMER};
use shophost::AppState;
use tower::ServiceExt;

/// Sends a JSON request through the router: status and body.
async fn json_request(
    state: &AppState,
    method: &str,
    uri: &str,
    body: Option<serde_json::Value>,
) -> (StatusCode, serde_json::Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
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
    (status, serde_json::from_slice(&bytes).expect("JSON"))
}

async fn the_checkout_api_checks_customers_with_the_storefronts_rules(backend: Backend) {
    let (state, _dir) = backend.shop("api-customer").await;
    let card = method_id(&state, "acting_remise_card").await;
    let mug = product_id(&state, "有田焼 マグカップ").await;
    let body = |customer: serde_json::Value| {
        serde_json::json!({
            "lines": [{"product_id": mug, "quantity": 1}],
            "customer": customer,
            "payment_method_id": card,
        })
    };
    // A name and an e-mail were once enough; now every problem the customer form names is named.
    let (status, answer) = json_request(
        &state,
        "POST",
        "/api/checkout",
        Some(body(serde_json::json!({
            "email": "taro@example.jp", "family_name": "山田", "given_name": "太郎",
            "family_kana": "yamada", "phone": "03",
        }))),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let error = answer["error"].as_str().expect("error");
    for (field, message) in [
        ("postcode", "郵便番号を入力してください"),
        ("address1", "市区町村・番地を入力してください"),
        (
            "family_kana",
            "フリガナ（セイ）はカタカナで入力してください",
        ),
        ("prefecture", "都道府県を選んでください"),
        ("phone", "電話番号は10桁または11桁の数字で入力してください"),
    ] {
        assert!(error.contains(message), "{message} missing from {error}");
        let by_field = answer["fields"][field].as_str().unwrap_or_default();
        assert!(by_field.contains(message), "{field}: {answer}");
    }

    // A customer left out altogether is every field's problem, not a JSON error: an order without an
    // address is refused by the storefront's rules.
    let (status, answer) = json_request(
        &state,
        "POST",
        "/api/checkout",
        Some(body(serde_json::json!({}))),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    for field in [
        "email",
        "family_name",
        "postcode",
        "prefecture",
        "address1",
        "phone",
    ] {
        assert!(answer["fields"][field].is_string(), "{field}: {answer}");
    }
    // A body that is not a checkout at all is answered in JSON, naming what is missing.
    let (status, answer) = json_request(
        &state,
        "POST",
        "/api/checkout",
        Some(serde_json::json!({"lines": []})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("customer"),
        "{answer}"
    );

    // A complete customer, typed with full-width digits, is stored tidied.
    let customer: serde_json::Map<String, serde_json::Value> = CUSTOMER
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::json!(v)))
        .collect();
    let mut customer = serde_json::Value::Object(customer);
    customer["postcode"] = serde_json::json!("１００－０００１");
    let (status, answer) =
        json_request(&state, "POST", "/api/checkout", Some(body(customer))).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let link_key = answer["link_key"].as_str().expect("link key");
    let attempt = state
        .store
        .attempt_by_link_key(link_key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(attempt.snapshot.customer.postcode, "100-0001");
}

async fn the_payment_methods_api_keeps_its_shape(backend: Backend) {
    let (state, _dir) = backend.shop("api-methods").await;
    let (status, answer) = json_request(&state, "GET", "/api/payment-methods", None).await;
    assert_eq!(status, StatusCode::OK);
    let methods = answer["payment_methods"].as_array().expect("methods");
    let card = methods
        .iter()
        .find(|m| m["settlement_type"] == "acting_remise_card")
        .expect("card");
    let mut keys: Vec<&str> = card
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "explanation",
            "id",
            "name",
            "notice",
            "options",
            "recurring",
            "settlement_label",
            "settlement_type"
        ]
    );
    assert_eq!(card["options"][0]["key"], "div");
    assert_eq!(
        card["options"][0]["choices"][0],
        serde_json::json!(["0", "一括払い"])
    );
    assert!(card["notice"].is_null() || card["notice"].is_string());
}

// Each test above runs on SQLite, and on PostgreSQL when SHOPHOST_TEST_PG_URL names a server.
on_both_backends!(
    the_checkout_api_checks_customers_with_the_storefronts_rules,
    the_payment_methods_api_keeps_its_shape,
);
