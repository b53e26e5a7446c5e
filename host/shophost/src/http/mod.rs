//! The HTTP layer: the only part of the host that knows axum.
//!
//! Routes: gateway notifications (`/index.php?acting=…`, `/notify/{endpoint}`), browser returns
//! (`/return/{settlement type}/{ok|ng|exit}`), the JSON checkout API (`/api/…`), the token-protected JSON
//! admin API (`/admin/api/…`), the storefront (HTML, from the templates in `host/shophost/templates`),
//! its stylesheet (`/assets/shop.css`), `/healthz` and `/metrics`.

pub mod admin;
pub mod api;
pub mod assets;
pub mod error;
pub mod gateway;
pub mod html;
pub mod storefront;

pub use error::{ApiError, PageError};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::AppState;

/// The whole application.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(gateway::routes())
        .merge(api::routes())
        .nest("/admin/api", admin::routes(state.clone()))
        .merge(storefront::routes())
        .merge(assets::routes())
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            count_responses,
        ))
        .with_state(state)
}

async fn healthz(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
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
            "text/plain; version=0.0.4",
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
