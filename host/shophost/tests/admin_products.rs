//! 商品 in the admin API, through the real router: list, add (a SKU that exists refused with 409),
//! change, delete (refused with 409 while a checkout attempt or an order names the product), each
//! problem of a form as 422 keyed by its field, and a stopped (停止) product not offered in the
//! storefront. The delete rule reads the lines' JSON with each backend's functions: every test runs on
//! SQLite and on PostgreSQL when `SHOPHOST_TEST_PG_URL` names a server.

#[macro_use]
mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::{
    confirm_order, fill_cart_and_customer, method_id, product_id, send, Backend, Browser,
    ADMIN_TOKEN,
};
use serde_json::{json, Value};
use shophost::domain::PaymentStatus;
use shophost::AppState;

/// One admin API call: status and JSON answer (`null` for an empty body).
async fn admin(state: &AppState, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(format!("/admin/api{path}"))
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"));
    let body = match body {
        Some(json) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(json.to_string())
        }
        None => Body::empty(),
    };
    let page = send(
        &shophost::http::router(state.clone()),
        request.body(body).expect("request"),
    )
    .await;
    let answer = if page.bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&page.bytes).expect("JSON answer")
    };
    (page.status.as_u16(), answer)
}

/// Buys the demo mug through the storefront up to the stored attempt (決済直前ログ); returns its link
/// key.
async fn attempt_for_mug(state: &AppState) -> String {
    let mut browser = Browser::new(state);
    fill_cart_and_customer(&mut browser, state, common::CUSTOMER).await;
    let card = method_id(state, "acting_remise_card").await.to_string();
    let div = format!("opt_{card}_div");
    browser
        .post(
            "/checkout/delivery",
            &[("payment_method", &card), (&div, "1")],
        )
        .await;
    let confirmed = confirm_order(&mut browser).await;
    assert_eq!(confirmed.status, StatusCode::OK);
    let attempts = state.store.attempts(false, 10).await.expect("attempts");
    attempts
        .first()
        .expect("the stored attempt")
        .link_key
        .clone()
}

async fn adding_a_sku_that_exists_is_refused_and_changes_nothing(backend: Backend) {
    let (state, _dir) = backend.shop("products-duplicate").await;
    let (status, answer) = admin(
        &state,
        "POST",
        "/products",
        Some(json!({"sku": "SKU001", "name": "別の商品", "price": 1})),
    )
    .await;
    assert_eq!(status, 409, "{answer}");
    let message = answer["error"].as_str().expect("the reason");
    assert!(
        message.contains("SKU001") && message.contains("すでにあります"),
        "{message}"
    );
    let (status, mug) = admin(&state, "GET", "/products/SKU001", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        (mug["name"].as_str(), mug["price"].as_i64()),
        (Some("有田焼 マグカップ"), Some(3990))
    );
}

async fn each_problem_of_a_product_is_reported_by_its_field(backend: Backend) {
    let (state, _dir) = backend.shop("products-invalid").await;
    let (status, answer) = admin(
        &state,
        "POST",
        "/products",
        Some(json!({"sku": "", "name": " ", "price": "abc", "tax_class": "5", "active": "maybe"})),
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    let details = answer["fields"].as_object().expect("problems by field");
    for field in ["sku", "name", "price", "tax_class", "active"] {
        let message = details[field].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{field}: {answer}");
    }
    assert!(details["tax_class"]
        .as_str()
        .unwrap()
        .contains("軽減税率（8%）"));
    // The 継続課金 rules the API enforced before still hold, each under its field.
    let (status, answer) = admin(
        &state,
        "PUT",
        "/products/SKU001",
        Some(json!({"recurrence": {"interval_months": 3, "charging_day": 31}})),
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer["fields"]["interval_months"]
        .as_str()
        .unwrap()
        .contains("課金間隔"));
    assert!(answer["fields"]["charging_day"]
        .as_str()
        .unwrap()
        .contains("課金日"));
    // The SKU names the product; it is not changed.
    let (status, answer) = admin(
        &state,
        "PUT",
        "/products/SKU001",
        Some(json!({"sku": "SKU999"})),
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer["fields"]["sku"].is_string(), "{answer}");
}

async fn a_product_is_added_changed_listed_and_deleted(backend: Backend) {
    let (state, _dir) = backend.shop("products-edit").await;
    let (status, tea) = admin(
        &state,
        "POST",
        "/products",
        Some(json!({"sku": "TEA02", "name": "ほうじ茶 100g", "price": "648", "tax_class": "reduced"})),
    )
    .await;
    assert_eq!(status, 201, "{tea}");
    assert_eq!(tea["tax_class"], "reduced");
    assert_eq!(tea["tax_rate"], 8);
    assert_eq!(tea["status"], "販売中");
    assert_eq!(tea["active"], true);

    // What a change leaves out stays.
    let (status, changed) = admin(
        &state,
        "PUT",
        "/products/TEA02",
        Some(json!({"price": 702, "description": "焙じたての香り", "active": false})),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["price"], 702);
    assert_eq!(changed["description"], "焙じたての香り");
    assert_eq!(changed["name"], "ほうじ茶 100g");
    assert_eq!(changed["tax_rate"], 8);
    assert_eq!(changed["status"], "停止");

    let (status, changed) = admin(
        &state,
        "PUT",
        "/products/TEA02",
        Some(json!({"tax_class": "standard", "active": true, "recurrence": {"interval_months": 6, "charging_day": 99}})),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["tax_rate"], 10);
    assert_eq!(
        changed["recurrence"],
        json!({"interval_months": 6, "charging_day": 99})
    );
    let (status, changed) = admin(
        &state,
        "PUT",
        "/products/TEA02/recurrence",
        Some(Value::Null),
    )
    .await;
    assert_eq!((status, &changed["recurrence"]), (200, &Value::Null));

    // The operator's list has every product, stopped ones too.
    let (_, list) = admin(&state, "GET", "/products", None).await;
    let skus: Vec<&str> = list["products"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["sku"].as_str())
        .collect();
    assert!(
        skus.contains(&"TEA02") && skus.contains(&"SKU001"),
        "{list}"
    );

    let (status, _) = admin(&state, "PUT", "/products/NOSUCH", Some(json!({"price": 1}))).await;
    assert_eq!(status, 404);
    let (status, answer) = admin(&state, "DELETE", "/products/TEA02", None).await;
    assert_eq!(status, 204, "{answer}");
    let (status, _) = admin(&state, "GET", "/products/TEA02", None).await;
    assert_eq!(status, 404);
    let (status, _) = admin(&state, "DELETE", "/products/TEA02", None).await;
    assert_eq!(status, 404);
}

async fn a_product_an_attempt_or_an_order_names_is_not_deleted(backend: Backend) {
    let (state, _dir) = backend.shop("products-delete-used").await;
    let link_key = attempt_for_mug(&state).await;
    let (status, answer) = admin(&state, "DELETE", "/products/SKU001", None).await;
    assert_eq!(status, 409, "{answer}");
    let message = answer["error"].as_str().unwrap();
    assert!(message.contains("削除できません"), "{message}");

    state
        .store
        .recover_attempt(&link_key, PaymentStatus::Captured, "カード", "テスト")
        .await
        .expect("the order");
    let (status, _) = admin(&state, "DELETE", "/products/SKU001", None).await;
    assert_eq!(status, 409);
    let (status, _) = admin(&state, "GET", "/products/SKU001", None).await;
    assert_eq!(status, 200, "still there");
    // Another product, named by nothing, goes.
    let (status, _) = admin(&state, "DELETE", "/products/SKU002", None).await;
    assert_eq!(status, 204);
}

async fn a_stopped_product_is_not_offered_in_the_storefront(backend: Backend) {
    let (state, _dir) = backend.shop("products-stopped").await;
    let tea = product_id(&state, "静岡 深蒸し煎茶 100g").await.to_string();
    let mut browser = Browser::new(&state);
    browser
        .post("/cart/add", &[("product_id", &tea), ("quantity", "1")])
        .await;
    assert!(browser.get("/").await.text().contains("静岡 深蒸し煎茶"));

    let (status, answer) = admin(
        &state,
        "PUT",
        "/products/SKU006",
        Some(json!({"active": "停止"})),
    )
    .await;
    assert_eq!(status, 200, "{answer}");

    let index = browser.get("/").await.text();
    assert!(!index.contains("静岡 深蒸し煎茶"), "{index}");
    assert!(index.contains("有田焼 マグカップ"));
    let cart = browser.get("/cart").await.text();
    assert!(
        !cart.contains("静岡 深蒸し煎茶"),
        "dropped from the cart: {cart}"
    );
    let again = browser
        .post("/cart/add", &[("product_id", &tea), ("quantity", "1")])
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let api = send(
        &browser.app,
        Request::get("/api/products").body(Body::empty()).unwrap(),
    )
    .await
    .text();
    assert!(!api.contains("SKU006"), "{api}");
    assert!(api.contains("SKU001"), "{api}");

    // On sale again, offered again.
    admin(
        &state,
        "PUT",
        "/products/SKU006",
        Some(json!({"active": true})),
    )
    .await;
    assert!(browser.get("/").await.text().contains("静岡 深蒸し煎茶"));
}

// Each test above runs on SQLite, and on PostgreSQL when SHOPHOST_TEST_PG_URL names a server.
on_both_backends!(
    adding_a_sku_that_exists_is_refused_and_changes_nothing,
    each_problem_of_a_product_is_reported_by_its_field,
    a_product_is_added_changed_listed_and_deleted,
    a_product_an_attempt_or_an_order_names_is_not_deleted,
    a_stopped_product_is_not_offered_in_the_storefront,
);
