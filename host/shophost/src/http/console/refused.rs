//! 拒否した通知: notifications refused for their source address (`crate::refused`), listed with where
//! each came from then and what its source is under the current `trusted_proxies`, and replayed —
//! as the JSON admin API does — only after the operator confirms the source on a confirmation page
//! (and, for a source the current settings do not allow either, vouches for it having found the
//! payment at the gateway).

use askama::Template;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Chrome, ConsoleForm, Signed};
use crate::domain::{local_datetime, RefusedRequest};
use crate::http::forms::FormErrors;
use crate::http::html;
use crate::refused::RefusedReplayError;
use crate::AppState;

/// The menu entry these pages sit under (the journal's).
const MENU: &str = "/admin/journal";

/// How many refused requests the list shows, newest first.
const LIST_ROWS: i64 = 200;

/// One refused request as listed.
struct Row {
    id: i64,
    received: String,
    module: String,
    endpoint: String,
    source: String,
    peer: String,
    /// The source under the current settings, and whether it is allowed now.
    source_now: String,
    allowed_now: bool,
    link_key: String,
    /// The checkout attempt's state (`open`, …), empty when none.
    attempt_state: String,
    /// The journal entry of its replay, when replayed.
    replay_journal_id: Option<i64>,
    replayed: bool,
    body: String,
}

async fn row(state: &AppState, refused: RefusedRequest) -> Row {
    let (source_now, allowed_now) = crate::refused::source_now(state, &refused)
        .map(|(source, allowed)| (source.to_string(), allowed))
        .unwrap_or_default();
    let attempt_state = match &refused.link_key {
        Some(link_key) => state
            .store
            .attempt_by_link_key(link_key)
            .await
            .ok()
            .flatten()
            .map(|attempt| attempt.state.as_str().to_owned())
            .unwrap_or_default(),
        None => String::new(),
    };
    Row {
        id: refused.id,
        received: local_datetime(refused.received_at),
        module: refused.module_id,
        endpoint: refused.endpoint,
        source: refused.source,
        peer: refused.peer,
        source_now,
        allowed_now,
        link_key: refused.link_key.unwrap_or_default(),
        attempt_state,
        replay_journal_id: refused.replay_journal_id,
        replayed: refused.replayed_at.is_some(),
        body: String::from_utf8_lossy(&refused.body).into_owned(),
    }
}

#[derive(Template)]
#[template(path = "console/refused.html")]
struct ListPage {
    chrome: Chrome,
    rows: Vec<Row>,
    pending: bool,
    notice: String,
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    pending: Option<String>,
    /// The refused request just replayed.
    replayed: Option<i64>,
}

/// `GET /admin/refused` (`?pending=1`: only those not replayed yet).
pub(super) async fn list(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
    Query(query): Query<ListQuery>,
) -> Response {
    let pending = query.pending.is_some_and(|p| !p.is_empty());
    let list = match state.store.refused_requests(pending, LIST_ROWS).await {
        Ok(list) => list,
        Err(error) => return super::unavailable(error),
    };
    let mut notice = String::new();
    if let Some(id) = query.replayed {
        if let Some(journal_id) = list
            .iter()
            .find(|r| r.id == id)
            .and_then(|r| r.replay_journal_id)
        {
            notice = match state.store.journal_entry(journal_id).await {
                Ok(Some(entry)) => format!(
                    "拒否した通知 #{id} を再実行しました（通知ジャーナル #{journal_id}、判定: {}、{}）。",
                    entry.verdict, entry.reason
                ),
                Ok(None) => format!("拒否した通知 #{id} を再実行しました。"),
                Err(error) => return super::unavailable(error),
            };
        }
    }
    let mut rows = Vec::with_capacity(list.len());
    for refused in list {
        rows.push(row(&state, refused).await);
    }
    let page = ListPage {
        chrome: Chrome::new(&signed, MENU),
        rows,
        pending,
        notice,
    };
    html::render(StatusCode::OK, &page)
}

#[derive(Template)]
#[template(path = "console/refused_replay.html")]
struct ConfirmPage {
    chrome: Chrome,
    row: Row,
    errors: FormErrors,
}

fn not_found() -> Response {
    html::error_page(
        StatusCode::NOT_FOUND,
        "この拒否した通知の記録はありません（保存期間を過ぎて削除された可能性があります）。",
    )
}

/// `POST /admin/refused/{id}/replay`: without `confirm=1` asks to confirm the source; with it (and
/// `allow_unlisted_source=1` for a source not allowed now either) replays the request.
pub(super) async fn replay(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: ConsoleForm,
) -> Response {
    let refused = match state.store.refused_request(id).await {
        Ok(Some(refused)) => refused,
        Ok(None) => return not_found(),
        Err(error) => return super::unavailable(error),
    };
    let confirm = |status: StatusCode, row: Row, errors: FormErrors| {
        let page = ConfirmPage {
            chrome: Chrome::new(&form.signed, MENU),
            row,
            errors,
        };
        html::render(status, &page)
    };
    if form.get("confirm") != "1" {
        let row = row(&state, refused).await;
        let errors = if row.replayed {
            FormErrors::general("この通知はすでに再実行されています。")
        } else {
            FormErrors::default()
        };
        return confirm(StatusCode::OK, row, errors);
    }
    let vouch = form.get("allow_unlisted_source") == "1";
    match crate::refused::replay(&state, id, vouch).await {
        Ok(handled) => {
            tracing::info!(by = %form.signed.operator.login, refused = id, journal = ?handled.journal_id, "console: refused notification replayed with the operator's confirmation");
            Redirect::to(&format!("/admin/refused?replayed={id}")).into_response()
        }
        Err(RefusedReplayError::NotFound) => not_found(),
        Err(RefusedReplayError::SourceStillNotAllowed(source)) => {
            let errors = FormErrors::general(format!(
                "この通知の送信元 {source} は現在の設定でも許可されていません。決済代行会社（ゲートウェイ）の管理画面でこの取引を確認できた場合に限り、「送信元を確認しました」にチェックして再実行してください。"
            ));
            confirm(
                StatusCode::UNPROCESSABLE_ENTITY,
                row(&state, refused).await,
                errors,
            )
        }
        Err(RefusedReplayError::AlreadyReplayed(_)) => confirm(
            StatusCode::CONFLICT,
            row(&state, refused).await,
            FormErrors::general("この通知はすでに再実行されています。もう一度通すには、通知ジャーナルの記録から再処理してください。"),
        ),
        Err(RefusedReplayError::NoEndpoint(endpoint)) => confirm(
            StatusCode::CONFLICT,
            row(&state, refused).await,
            FormErrors::general(format!(
                "通知先 `{endpoint}` を受け付ける決済モジュールが現在使用されていません。"
            )),
        ),
        Err(RefusedReplayError::Unavailable(detail)) => {
            tracing::error!(%detail, "console: refused replay failed");
            html::error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "データベースに接続できません。しばらくしてからもう一度お試しください。",
            )
        }
    }
}
