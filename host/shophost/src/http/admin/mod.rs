//! The JSON admin API (token-protected): module settings, payment methods, orders, the notification
//! journal with replay, notifications refused for their source with a confirmed replay, the
//! 決済エラーログ, the 決済直前ログ with order recovery, PayQuick release, and the mail outbox.
//!
//! Every route needs `Authorization: Bearer <admin token>`. Secret settings are write-only: they are
//! redacted in every response.
//!
//! This file holds the routes and the token check; each resource's handlers live in their own file,
//! so that a change to one resource is read and reviewed alone, and what the lists share, the
//! `?limit=` query, lives in `limit.rs`.

mod attempts;
mod catalogue;
mod journal;
mod limit;
mod mail;
mod members;
mod methods;
mod modules;
mod notices;
mod orders;
mod refused;

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::http::ApiError;
use crate::AppState;

pub use crate::methods::sanitise_explanation;

/// The admin routes (mounted under `/admin/api`).
pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/modules", get(modules::modules))
        .route("/modules/in-use", put(modules::set_in_use))
        .route(
            "/modules/{id}/settings",
            get(modules::settings)
                .put(modules::replace_settings)
                .patch(modules::merge_settings),
        )
        .route(
            "/modules/{id}/settings/revert",
            post(modules::revert_settings),
        )
        .route(
            "/payment-methods",
            get(methods::methods).post(methods::create_method),
        )
        .route(
            "/payment-methods/{id}",
            get(methods::method)
                .put(methods::update_method)
                .delete(methods::delete_method),
        )
        .route("/payment-methods/{id}/move", post(methods::move_method))
        .route("/orders", get(orders::orders))
        .route("/orders/{number}", get(orders::order))
        .route(
            "/orders/{number}/clear-attention",
            post(orders::clear_attention),
        )
        .route("/orders/{number}/status", post(orders::change_status))
        .route("/mail", get(mail::mails))
        .route("/mail/{id}", get(mail::mail))
        .route("/mail/{id}/resend", post(mail::resend))
        .route(
            "/orders/{number}/send-confirmation",
            post(mail::send_confirmation),
        )
        .route("/journal", get(journal::journal))
        .route("/journal/{id}", get(journal::journal_entry))
        .route("/journal/{id}/replay", post(journal::replay))
        .route("/refused", get(refused::refused))
        .route("/refused/{id}/replay", post(refused::replay))
        .route("/notices", get(notices::notices))
        .route(
            "/settlement-errors",
            get(notices::settlement_errors).delete(notices::delete_settlement_errors),
        )
        .route(
            "/settlement-errors/{id}",
            delete(notices::delete_settlement_error),
        )
        .route("/attempts", get(attempts::attempts))
        .route("/attempts/{link_key}", get(attempts::attempt))
        .route("/attempts/{link_key}/recover", post(attempts::recover))
        .route(
            "/members/{id}/cards/{module}",
            delete(members::release_card),
        )
        .route(
            "/products",
            get(catalogue::products).post(catalogue::add_product),
        )
        .route(
            "/products/{sku}",
            get(catalogue::product)
                .put(catalogue::edit_product)
                .delete(catalogue::delete_product),
        )
        .route("/products/{sku}/recurrence", put(catalogue::set_recurrence))
        .route("/contracts", get(catalogue::contracts))
        .route("/contracts/{id}/stop", post(catalogue::stop_contract))
        .route("/jobs/run", post(run_jobs))
        .layer(middleware::from_fn_with_state(state, require_token))
}

/// Whether two tokens are equal, compared as SHA-256 digests: the comparison takes the same time
/// whatever the tokens' lengths and contents, so neither the token nor its length can be learnt from
/// timings.
fn same(a: &[u8], b: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    let (a, b) = (Sha256::digest(a), Sha256::digest(b));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// The credentials of an `Authorization: Bearer …` header (the scheme's case does not matter, as RFC
/// 7235 says).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, credentials) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credentials.trim())
}

pub(crate) async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = state.config.admin_token.as_deref() else {
        return ApiError::AdminDisabled.into_response();
    };
    let given = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
        .unwrap_or("");
    if !same(given.as_bytes(), token.as_bytes()) {
        return ApiError::Unauthorized.into_response();
    }
    next.run(request).await
}

/// Runs the scheduled jobs once, now (要確認 flags, 期限切れ, retention).
async fn run_jobs(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let report = crate::jobs::run_once(&state, crate::domain::now_millis()).await?;
    Ok(Json(
        json!({ "flagged": report.flagged, "expired": report.expired, "purged": report.purged }),
    ))
}

#[cfg(test)]
mod tests {
    use super::{bearer, same};

    #[test]
    fn tokens_compare_whole_and_the_scheme_ignores_case() {
        assert!(same(b"a-long-admin-token", b"a-long-admin-token"));
        assert!(!same(b"a-long-admin-token", b"a-long-admin-tokeN"));
        assert!(!same(b"a-long-admin-token", b"a-long-admin-token-and-more"));
        assert!(!same(b"", b"a-long-admin-token"));
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer abc"), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearerabc"), None);
    }
}
