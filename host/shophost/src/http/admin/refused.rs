//! Notifications refused for their source address (see `crate::refused`): the list, with where each
//! came from then and what its source is under the current `trusted_proxies`, and the replay an
//! operator confirms once the configuration is fixed.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use shophost_module_api::WireCharset;

use super::limit::Limit;
use crate::domain::RefusedRequest;
use crate::http::ApiError;
use crate::refused::RefusedReplayError;
use crate::AppState;

#[derive(Debug, Deserialize)]
pub(super) struct RefusedQuery {
    /// Only those not replayed yet.
    #[serde(default)]
    pending: bool,
}

/// One refused request as the list shows it: the request, the fields the module would read from it,
/// the source under the current `trusted_proxies` and whether the module allows that source now,
/// and the state of the checkout attempt it names.
async fn refused_json(state: &AppState, refused: &RefusedRequest) -> Value {
    let mut value = json!(refused);
    value["body"] = json!(String::from_utf8_lossy(&refused.body));
    let charset = state
        .engine
        .endpoint(&refused.endpoint)
        .map(|target| target.module.wire_charset())
        .unwrap_or(WireCharset::Utf8);
    if let Some(raw) = crate::refused::raw_of(refused) {
        let decoded = crate::inbound::decode(&raw, charset, &state.config.trusted_proxies);
        value["fields"] = json!(decoded.request.fields);
    }
    if let Some((source, allowed)) = crate::refused::source_now(state, refused) {
        value["source_now"] = json!(source.to_string());
        value["allowed_now"] = json!(allowed);
    }
    let attempt_state = match &refused.link_key {
        Some(link_key) => state
            .store
            .attempt_by_link_key(link_key)
            .await
            .ok()
            .flatten()
            .map(|attempt| attempt.state.as_str()),
        None => None,
    };
    value["attempt_state"] = json!(attempt_state);
    value
}

/// `GET /refused?pending=true&limit=`: refused requests, newest first.
pub(super) async fn refused(
    State(state): State<AppState>,
    Query(query): Query<RefusedQuery>,
    Query(limit): Query<Limit>,
) -> Result<Json<Value>, ApiError> {
    let list = state
        .store
        .refused_requests(query.pending, limit.rows())
        .await?;
    let mut requests = Vec::with_capacity(list.len());
    for refused in &list {
        requests.push(refused_json(&state, refused).await);
    }
    Ok(Json(json!({ "refused": requests })))
}

/// What an operator is asked to confirm, and how.
const CONFIRM: &str = "送信元アドレスが許可されていないため拒否した通知を、許可された送信元からの通知として\
     決済通知の処理に通します（注文が作成され、入金済みになることがあります）。通知が決済代行会社\
     （ゲートウェイ）から届いたものであることを確認し（trusted_proxies とゲートウェイのアドレスを確認して\
     修正したうえで）、{\"confirm\": true} を送ってください。";

/// What an operator is told when the source is not allowed by the current settings either.
fn still_not_allowed(source: std::net::IpAddr) -> String {
    format!(
        "この通知の送信元 {source} は現在の設定でも許可されていません（trusted_proxies を直しても\
         ゲートウェイのアドレスにならない通知です）。第三者が送った通知かもしれません。決済代行会社\
         （ゲートウェイ）の管理画面でこの取引を確認できた場合に限り、\
         {{\"confirm\": true, \"allow_unlisted_source\": true}} を送ってください。"
    )
}

/// Flags of the replay's body; anything else, or no body, confirms nothing.
fn flag(body: &Value, name: &str) -> bool {
    body.get(name).and_then(Value::as_bool).unwrap_or(false)
}

/// `POST /refused/{id}/replay` with `{"confirm": true}`: replays a refused request as if from an
/// allowed source. Without the confirmation it does nothing and says what it would do; a request
/// whose source the current settings do not allow either needs `"allow_unlisted_source": true` too.
pub(super) async fn replay(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
    if !flag(&body, "confirm") {
        return Err(ApiError::BadRequest(CONFIRM.to_owned()));
    }
    let handled = crate::refused::replay(&state, id, flag(&body, "allow_unlisted_source"))
        .await
        .map_err(|error| match error {
            RefusedReplayError::NotFound => ApiError::NotFound,
            RefusedReplayError::SourceStillNotAllowed(source) => {
                ApiError::BadRequest(still_not_allowed(source))
            }
            RefusedReplayError::AlreadyReplayed(Some(journal_id)) => ApiError::Conflict(format!(
                "この通知はすでに再実行されています（通知ジャーナル {journal_id}）。もう一度通すには \
                 POST /admin/api/journal/{journal_id}/replay を使ってください"
            )),
            RefusedReplayError::AlreadyReplayed(None) => {
                ApiError::Conflict("この通知はすでに再実行されています".to_owned())
            }
            RefusedReplayError::NoEndpoint(endpoint) => ApiError::Conflict(format!(
                "通知先 `{endpoint}` を受け付けるモジュールが現在使用されていません"
            )),
            RefusedReplayError::Unavailable(detail) => ApiError::Unavailable(detail),
        })?;
    tracing::info!(
        refused = id,
        journal = handled.journal_id,
        "refused notification replayed with the operator's confirmation"
    );
    Ok(Json(json!({
        "refused_id": id,
        "verdict": handled.verdict.as_ref().map(|v| v.as_str()),
        "journal_id": handled.journal_id,
        "response_status": handled.response.status,
        "response_body": String::from_utf8_lossy(&handled.response.body),
    })))
}
