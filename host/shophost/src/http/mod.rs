//! The HTTP layer: the only part of the host that knows axum.
//!
//! Routes: gateway notifications (`/index.php?acting=…`, `/notify/{endpoint}`), browser returns
//! (`/return/{settlement type}/{ok|ng|exit}`), the JSON checkout API (`/api/…`), the token-protected JSON
//! admin API (`/admin/api/…`), the storefront (HTML), `/healthz` and `/metrics`.

pub mod admin;
pub mod api;
pub mod gateway;
pub mod html;
pub mod storefront;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::db::DbError;
use crate::AppState;

/// The one error type of the JSON APIs. 5xx bodies are generic; the detail is logged once here.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is wrong; the message says how.
    #[error("{0}")]
    BadRequest(String),
    /// 401: missing or wrong admin token.
    #[error("missing or wrong admin token")]
    Unauthorized,
    /// 404.
    #[error("not found")]
    NotFound,
    /// 409: refused because of the current state; the message says why and what to do.
    #[error("{0}")]
    Conflict(String),
    /// 422: validation failed; `details` lists each problem.
    #[error("{message}")]
    Invalid {
        /// Summary.
        message: String,
        /// Details as JSON.
        details: serde_json::Value,
    },
    /// 503: the admin API has no token configured.
    #[error("the admin API is disabled: set admin.token in shophost.toml or SHOPHOST_ADMIN_TOKEN")]
    AdminDisabled,
    /// 503: storage failed.
    #[error("the service is temporarily unavailable")]
    Unavailable(String),
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::NotFound => ApiError::NotFound,
            DbError::Conflict("payment_methods_name_key") => {
                ApiError::Conflict("同じ名前の支払方法がすでにあります".to_owned())
            }
            DbError::Conflict("members_email_key") => {
                ApiError::Conflict("このメールアドレスはすでに登録されています".to_owned())
            }
            DbError::Conflict(which) => ApiError::Conflict(which.to_owned()),
            other => ApiError::Unavailable(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::AdminDisabled | ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        let body = match &self {
            ApiError::Unavailable(detail) => {
                tracing::error!(%detail, "request failed");
                json!({ "error": self.to_string() })
            }
            ApiError::Invalid { message, details } => {
                json!({ "error": message, "details": details })
            }
            other => json!({ "error": other.to_string() }),
        };
        (status, Json(body)).into_response()
    }
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(gateway::routes())
        .merge(api::routes())
        .nest("/admin/api", admin::routes(state.clone()))
        .merge(storefront::routes())
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
