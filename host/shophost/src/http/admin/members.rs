//! Members' cards: releasing the PayQuick card a member keeps at a gateway.

use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::http::ApiError;
use crate::AppState;

/// Forgets member `id`'s card at `module`; the member enters a card again at the next payment.
pub(super) async fn release_card(
    State(state): State<AppState>,
    Path((id, module)): Path<(i64, String)>,
) -> Result<StatusCode, ApiError> {
    if crate::members::release_card(&state, id, &module).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}
