//! The admin API's choice of modules in use, through the router: the confirmation before methods
//! stop, refusals of bad requests, and the module list with a module out of use.

#[macro_use]
mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use serde_json::{json, Value};

async fn admin(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .expect("request");
    let page = send(app, request).await;
    let value = serde_json::from_slice(&page.bytes).unwrap_or(Value::Null);
    (page.status, value)
}

async fn choosing_the_modules_in_use_asks_before_methods_stop(backend: Backend) {
    let (state, _dir) = backend.shop("module-selection").await;
    let app = shophost::http::router(state.clone());

    let (status, _) = admin(
        &app,
        "PUT",
        "/admin/api/modules/in-use",
        Some(json!({"confirm": true})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = admin(
        &app,
        "PUT",
        "/admin/api/modules/in-use",
        Some(json!({"in_use": ["remise", "remise"]})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = admin(
        &app,
        "PUT",
        "/admin/api/modules/in-use",
        Some(json!({"in_use": ["nosuch"]})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // The same order again changes nothing and stops nothing.
    let (status, body) = admin(
        &app,
        "PUT",
        "/admin/api/modules/in-use",
        Some(json!({"in_use": ["remise"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["stopped_methods"], json!([]));

    let (status, body) = admin(
        &app,
        "PUT",
        "/admin/api/modules/in-use",
        Some(json!({"in_use": []})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(!body["methods"].as_array().unwrap().is_empty(), "{body}");
    assert!(body["error"].as_str().unwrap().contains("停止"), "{body}");
    assert_eq!(*state.engine.in_use(), ["remise"]);

    let (status, body) = admin(
        &app,
        "PUT",
        "/admin/api/modules/in-use",
        Some(json!({"in_use": [], "confirm": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(state.engine.in_use().is_empty());
    assert!(state.engine.provided_type_ids().is_empty());
    assert_eq!(
        state.store.module_selection().await.unwrap(),
        Some(Vec::new())
    );

    let (status, body) = admin(&app, "GET", "/admin/api/modules", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["in_use"], json!([]));
    let remise = body["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "remise")
        .unwrap()
        .clone();
    assert_eq!(remise["in_use"], false, "{remise}");
    assert_eq!(remise["origin"], "bundled", "{remise}");
    assert!(remise["position"].is_null(), "{remise}");
    // Nothing was started with it: it does not listen.
    assert!(remise["retired"].is_null(), "{remise}");
    assert_eq!(remise["notification_endpoints"], json!([]), "{remise}");
}

// Each test above runs on SQLite, and on PostgreSQL when SHOPHOST_TEST_PG_URL names a server.
on_both_backends!(choosing_the_modules_in_use_asks_before_methods_stop,);
