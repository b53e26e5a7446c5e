//! What the operator is told: the dashboard notices (Welcart's admin notices) and the 決済エラーログ.
//! The wording lives in `crate::notices`, shared with the jobs that raise the 要確認 flags.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::http::ApiError;
use crate::AppState;

/// The notices an operator's dashboard shows (Welcart's admin notices), as the console shows them.
pub(super) async fn notices(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let notices = crate::notices::current(&state).await?;
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

/// `DELETE /settlement-errors`: empties the 決済エラーログ, as the console's 全件削除 does.
pub(super) async fn delete_settlement_errors(
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    let deleted = crate::logs::delete_all_settlement_errors(state.store.as_ref()).await?;
    Ok(Json(json!({ "deleted": deleted })))
}
