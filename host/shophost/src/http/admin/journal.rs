//! The notification journal: every inbound gateway request as it came, with its verdict and the
//! answer sent, and the operator's replay of an entry through the same path.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::limit::Limit;
use crate::http::ApiError;
use crate::AppState;

#[derive(Debug, Deserialize)]
pub(super) struct JournalQuery {
    link_key: Option<String>,
}

pub(super) fn journal_json(entry: &crate::domain::JournalEntry) -> Value {
    let mut value = json!(entry);
    value["body"] = json!(String::from_utf8_lossy(&entry.body));
    value["body_decoded"] = json!(crate::logs::body_text(entry));
    value["response_body"] = json!(String::from_utf8_lossy(&entry.response_body));
    if let Some(purged_at) = entry.body_purged_at {
        value["body_decoded"] = Value::Null;
        value["body_note"] = json!(crate::notices::journal_body_purged(purged_at));
    }
    value
}

pub(super) async fn journal(
    State(state): State<AppState>,
    Query(query): Query<JournalQuery>,
    Query(limit): Query<Limit>,
) -> Result<Json<Value>, ApiError> {
    let entries = state
        .store
        .journal(query.link_key.as_deref(), limit.rows())
        .await?;
    Ok(Json(
        json!({ "entries": entries.iter().map(journal_json).collect::<Vec<_>>() }),
    ))
}

pub(super) async fn journal_entry(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let entry = state
        .store
        .journal_entry(id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(journal_json(&entry)))
}

pub(super) async fn replay(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    // An entry whose body retention removed would only be refused as malformed.
    let entry = state.store.journal_entry(id).await?;
    if let Some(purged_at) = entry.and_then(|entry| entry.body_purged_at) {
        return Err(ApiError::Conflict(crate::notices::journal_body_purged(
            purged_at,
        )));
    }
    let handled = crate::inbound::replay(&state, id)
        .await
        .map_err(|e| match e {
            crate::inbound::ReplayError::NotFound => ApiError::NotFound,
            crate::inbound::ReplayError::NotANotification => ApiError::BadRequest(e.to_string()),
            crate::inbound::ReplayError::Unavailable(detail) => ApiError::Unavailable(detail),
        })?;
    Ok(Json(json!({
        "verdict": handled.verdict.as_ref().map(|v| v.as_str()),
        "journal_id": handled.journal_id,
        "response_status": handled.response.status,
        "response_body": String::from_utf8_lossy(&handled.response.body),
    })))
}
