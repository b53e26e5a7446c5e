//! 決済エラーログ: the list (日時, リンクキー, 決済種別, 結果), one entry with its decoded fields and the
//! request it came from (the notification journal entry it names), the entry as plain text to copy or
//! download for a support request (詳細ログ出力), and deleting one entry or all of them. The
//! dashboard's 決済エラー発生告知 shows until the log is empty (`crate::notices::current`).
//!
//! Reading and emptying the log are `crate::logs`, which the JSON admin API calls too.

use askama::Template;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Chrome, ConsoleForm, Signed};
use crate::domain::{local_datetime, SettlementError};
use crate::http::forms::FormErrors;
use crate::http::html;
use crate::AppState;

/// The menu entry of the 決済エラーログ screens.
const MENU: &str = "/admin/settlement-errors";

/// How many entries the list shows, newest first (the retention job removes old ones).
const LIST_ROWS: i64 = 500;

/// One entry as listed.
struct Row {
    id: i64,
    at: String,
    link_key: String,
    acting: String,
    result: String,
}

#[derive(Template)]
#[template(path = "console/settlement_errors.html")]
struct ListPage {
    chrome: Chrome,
    rows: Vec<Row>,
    notice: String,
    errors: FormErrors,
    /// Asking to confirm 全件削除 (a post without `confirm=1`).
    confirm_all: bool,
}

/// The request the entry came from, as the journal keeps it.
struct Request {
    journal_id: i64,
    received: String,
    source: String,
    line: String,
    charset: String,
    verdict: String,
    reason: String,
    /// The body decoded in its charset, or why there is none.
    body: String,
}

#[derive(Template)]
#[template(path = "console/settlement_error.html")]
struct DetailPage {
    chrome: Chrome,
    id: i64,
    at: String,
    link_key: String,
    module_id: String,
    acting: String,
    result: String,
    fields: Vec<(String, String)>,
    request: Option<Request>,
    /// 詳細ログ出力.
    support_text: String,
}

#[derive(Deserialize)]
pub(super) struct Done {
    #[serde(default)]
    done: String,
    #[serde(default)]
    count: u64,
}

fn row(error: SettlementError) -> Row {
    Row {
        id: error.id,
        at: local_datetime(error.at),
        link_key: error.link_key.unwrap_or_default(),
        acting: error.acting,
        result: error.result,
    }
}

async fn render_list(
    state: &AppState,
    signed: &Signed,
    status: StatusCode,
    notice: String,
    errors: FormErrors,
    confirm_all: bool,
) -> Response {
    let list = match state.store.settlement_errors(LIST_ROWS).await {
        Ok(list) => list,
        Err(error) => return super::unavailable(error),
    };
    let page = ListPage {
        chrome: Chrome::new(signed, MENU),
        rows: list.into_iter().map(row).collect(),
        notice,
        errors,
        confirm_all,
    };
    html::render(status, &page)
}

/// `GET /admin/settlement-errors`.
pub(super) async fn list(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
    Query(done): Query<Done>,
) -> Response {
    let notice = match done.done.as_str() {
        "deleted" => "決済エラーログを1件削除しました。".to_owned(),
        "deleted_all" => format!("決済エラーログを全て（{}件）削除しました。", done.count),
        _ => String::new(),
    };
    render_list(
        &state,
        &signed,
        StatusCode::OK,
        notice,
        FormErrors::default(),
        false,
    )
    .await
}

fn not_found() -> Response {
    html::error_page(
        StatusCode::NOT_FOUND,
        "この決済エラーログはありません（削除されたか、保存期間を過ぎて削除されました）。",
    )
}

/// `GET /admin/settlement-errors/{id}`.
pub(super) async fn detail(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<i64>,
) -> Response {
    let (error, entry) = match crate::logs::settlement_error(state.store.as_ref(), id).await {
        Ok(Some(found)) => found,
        Ok(None) => return not_found(),
        Err(error) => return super::unavailable(error),
    };
    let support_text = crate::logs::support_text(&error, entry.as_ref());
    let request = entry.map(|entry| Request {
        journal_id: entry.id,
        received: local_datetime(entry.received_at),
        source: entry.source.clone(),
        line: format!(
            "{} {}{}{}",
            entry.method,
            entry.endpoint,
            if entry.query.is_empty() { "" } else { "?" },
            entry.query
        ),
        charset: entry.charset.clone(),
        verdict: entry.verdict.clone(),
        reason: entry.reason.clone(),
        body: match entry.body_purged_at {
            Some(purged_at) => crate::notices::journal_body_purged(purged_at),
            None => {
                crate::logs::body_text(&entry).unwrap_or_else(|| crate::logs::hex_dump(&entry.body))
            }
        },
    });
    let page = DetailPage {
        chrome: Chrome::new(&signed, MENU),
        id: error.id,
        at: local_datetime(error.at),
        link_key: error.link_key.unwrap_or_default(),
        module_id: error.module_id,
        acting: error.acting,
        result: error.result,
        fields: error.fields,
        request,
        support_text,
    };
    html::render(StatusCode::OK, &page)
}

/// `GET /admin/settlement-errors/{id}/log.txt`: 詳細ログ出力 as a file to attach to a support request.
pub(super) async fn download(State(state): State<AppState>, Path(id): Path<i64>) -> Response {
    let (error, entry) = match crate::logs::settlement_error(state.store.as_ref(), id).await {
        Ok(Some(found)) => found,
        Ok(None) => return not_found(),
        Err(error) => return super::unavailable(error),
    };
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"settlement-error-{id}.txt\""),
            ),
        ],
        crate::logs::support_text(&error, entry.as_ref()),
    )
        .into_response()
}

/// `POST /admin/settlement-errors/{id}/delete`.
pub(super) async fn delete(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: ConsoleForm,
) -> Response {
    match state.store.delete_settlement_error(id).await {
        Ok(true) => {
            tracing::info!(by = %form.signed.operator.login, id, "console: settlement error deleted");
            Redirect::to("/admin/settlement-errors?done=deleted").into_response()
        }
        Ok(false) => {
            render_list(
                &state,
                &form.signed,
                StatusCode::NOT_FOUND,
                String::new(),
                FormErrors::general("この決済エラーログはすでに削除されています。"),
                false,
            )
            .await
        }
        Err(error) => super::unavailable(error),
    }
}

/// `POST /admin/settlement-errors/delete-all`: with `confirm=1` empties the log; without it shows the
/// list asking to confirm.
pub(super) async fn delete_all(State(state): State<AppState>, form: ConsoleForm) -> Response {
    if form.get("confirm") != "1" {
        return render_list(
            &state,
            &form.signed,
            StatusCode::OK,
            String::new(),
            FormErrors::default(),
            true,
        )
        .await;
    }
    match crate::logs::delete_all_settlement_errors(state.store.as_ref()).await {
        Ok(count) => {
            tracing::info!(by = %form.signed.operator.login, count, "console: settlement error log emptied");
            Redirect::to(&format!(
                "/admin/settlement-errors?done=deleted_all&count={count}"
            ))
            .into_response()
        }
        Err(error) => super::unavailable(error),
    }
}
