//! The HTTP layer: the only part of the host that knows axum.
//!
//! Routes: gateway notifications (`/index.php?acting=…`, `/notify/{endpoint}`), browser returns
//! (`/return/{settlement type}/{ok|ng|exit}`), the JSON checkout API (`/api/…`), the token-protected JSON
//! admin API (`/admin/api/…`), the storefront (HTML, from the templates in `host/shophost/templates`),
//! its stylesheet (`/assets/shop.css`), `/healthz` and `/metrics`.

pub mod admin;
pub mod api;
pub mod assets;
pub mod client;
pub mod console;
pub mod cross_origin;
pub mod error;
pub mod forms;
pub mod gateway;
pub mod gateway_limit;
pub mod headers;
pub mod html;
pub mod server;
pub mod storefront;

pub use error::{ApiError, PageError};

use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tower_http::timeout::TimeoutLayer;

use crate::AppState;

/// How long one request may take in all before it is answered 408 (a notification cut short this way
/// is either committed, and its retry is a duplicate, or rolled back, and its retry applies it).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest request bodies per route group. Gateway notifications are capped separately by
/// `server.max_body_bytes`, read without buffering more.
const FORM_BODY_LIMIT: usize = 64 * 1024;
const CHECKOUT_API_BODY_LIMIT: usize = 32 * 1024;
const ADMIN_API_BODY_LIMIT: usize = 256 * 1024;

/// The whole application.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(gateway::routes(state.clone()))
        .merge(api::routes().layer(DefaultBodyLimit::max(CHECKOUT_API_BODY_LIMIT)))
        .nest(
            "/admin/api",
            admin::routes(state.clone()).layer(DefaultBodyLimit::max(ADMIN_API_BODY_LIMIT)),
        )
        // The shop's own forms refuse cross-site posts; gateway routes take them by design.
        .merge(
            storefront::routes()
                .route_layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    cross_origin::protect,
                ))
                .layer(DefaultBodyLimit::max(FORM_BODY_LIMIT)),
        )
        // The operator console: its forms carry a session's CSRF token, and cross-site posts are
        // refused before that.
        .merge(
            console::routes(state.clone())
                .route_layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    cross_origin::protect,
                ))
                .layer(DefaultBodyLimit::max(FORM_BODY_LIMIT)),
        )
        .merge(storefront::gateway_returns())
        .merge(assets::routes())
        .route("/healthz", get(healthz))
        // Counts and flags of the shop's business: the admin token, or `server.metrics_listen`.
        .route(
            "/metrics",
            get(metrics).route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                admin::require_token,
            )),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            count_responses,
        ))
        .layer(axum::middleware::from_fn(headers::secure))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .with_state(state)
}

/// 200 when the database answers and the task that commits notifications runs; 503 otherwise (a
/// SQLite store whose writer has stopped would answer every notification "unavailable").
async fn healthz(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    if !state.store.writer_running() {
        tracing::error!("health check: the writer that commits notifications is not running");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "unavailable",
                "database": state.store.backend(),
                "writer": "stopped",
            })),
        )
            .into_response();
    }
    match state.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({ "status": "ok", "database": state.store.backend() })),
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "health check: database unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "database": state.store.backend() })),
            )
                .into_response()
        }
    }
}

/// `/metrics` alone, without the admin token, for `server.metrics_listen`.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn metrics(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    let counts = match state.store.counts().await {
        Ok(counts) => Some(counts),
        Err(error) => {
            tracing::error!(%error, "metrics: database unavailable");
            None
        }
    };
    let body = state
        .metrics
        .render(counts.as_ref(), state.store.writer_counts());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            crate::metrics::CONTENT_TYPE,
        )],
        body,
    )
        .into_response()
}

/// Counts every response by status for `/metrics`.
async fn count_responses(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    state.metrics.count_http(response.status().as_u16());
    response
}
