//! What the operator is told: the dashboard notices (Welcart's admin notices) and the 決済エラーログ.
//! The wording lives in `crate::notices`, shared with the jobs that raise the 要確認 flags.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::http::ApiError;
use crate::AppState;

/// The notices an operator's dashboard shows (Welcart's admin notices): notifications for open
/// checkouts refused for their source, settlement errors in the 決済エラーログ, and checkouts or
/// orders flagged 要確認.
pub(super) async fn notices(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let mut notices = Vec::new();
    let refused = state.store.refused_for_open_attempts().await?;
    if let (true, Some(latest)) = (refused.link_keys > 0, refused.latest) {
        notices.push(json!({
            "kind": "refused_for_source",
            "message": crate::notices::refused_for_open_attempts(refused.link_keys, latest),
            "link": "/admin/api/refused?pending=true",
        }));
    }
    if let Some(latest) = state.store.settlement_errors(1).await?.first() {
        notices.push(json!({
            "kind": "settlement_errors",
            "message": crate::notices::settlement_errors(latest.at),
            "link": "/admin/api/settlement-errors",
        }));
    }
    let counts = state.store.counts().await?;
    if counts.attempts_attention > 0 {
        notices.push(json!({
            "kind": "unconfirmed_returns",
            "message": crate::notices::unconfirmed_returns(&state, counts.attempts_attention),
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

pub(super) async fn settlement_errors(
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    let errors = state.store.settlement_errors(500).await?;
    let notice = (!errors.is_empty()).then(|| crate::notices::settlement_errors(errors[0].at));
    Ok(Json(json!({ "notice": notice, "errors": errors })))
}

pub(super) async fn delete_settlement_error(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if state.store.delete_settlement_error(id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}
