//! 通知ジャーナル: every inbound gateway request as it came, filtered (module, endpoint, verdict, link
//! key, days) and keyset-paged by id; one entry with its source, headers, body (decoded in its charset
//! and as hex), verdict and reason, the answer sent and the replays already made of it; and 再処理,
//! a replay through the notification path (`crate::inbound::replay`, as the JSON admin API does)
//! after a confirmation step, whose outcome the entry's page then shows.

use askama::Template;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Chrome, ConsoleForm, Signed};
use crate::db::JournalFilter;
use crate::domain::{local_datetime, local_day_start, JournalEntry};
use crate::http::forms::FormErrors;
use crate::http::html;
use crate::inbound::ReplayError;
use crate::AppState;

/// The menu entry of the 通知ジャーナル screens.
const MENU: &str = "/admin/journal";

/// Entries on one page of the list.
const PAGE_ROWS: i64 = 50;

/// A day is this long in shop time (Japan keeps no daylight saving).
const DAY_MILLIS: i64 = 86_400_000;

/// The list's filters, as the form sends them (all optional).
#[derive(Debug, Default, Deserialize)]
pub(super) struct Filters {
    #[serde(default)]
    module: String,
    #[serde(default)]
    endpoint: String,
    #[serde(default)]
    verdict: String,
    #[serde(default)]
    link_key: String,
    /// First day, `YYYY-MM-DD` in shop time.
    #[serde(default)]
    from: String,
    /// Last day (included).
    #[serde(default)]
    to: String,
    /// The next page: entries older than this id.
    #[serde(default)]
    before: Option<i64>,
}

/// The verdicts the filter offers: (journal word, label).
const VERDICTS: &[(&str, &str)] = &[
    ("accepted", "受付"),
    ("duplicate", "重複"),
    ("rejected", "拒否"),
];

/// A verdict's label.
fn verdict_label(verdict: &str) -> &'static str {
    VERDICTS
        .iter()
        .find(|(word, _)| *word == verdict)
        .map_or("不明", |(_, label)| label)
}

/// A shop-local `YYYY-MM-DD` as the instant its day begins.
fn day_start(text: &str) -> Option<i64> {
    let digits: String = text.chars().filter(|c| *c != '-').collect();
    if text.len() != 10 || digits.len() != 8 {
        return None;
    }
    local_day_start(shophost_module_api::LocalDate::parse_yyyymmdd(&digits)?)
}

/// Filters as the store reads them, with the problems of those that could not be read.
fn store_filter(filters: &Filters) -> (JournalFilter, FormErrors) {
    let text = |value: &str| Some(value.trim().to_owned()).filter(|v| !v.is_empty());
    let mut errors = FormErrors::default();
    let mut day = |name: &str, value: &str| -> Option<i64> {
        let value = value.trim();
        if value.is_empty() {
            return None;
        }
        let start = day_start(value);
        if start.is_none() {
            errors.add(name, "日付は YYYY-MM-DD の形で入力してください");
        }
        start
    };
    let from = day("from", &filters.from);
    let until = day("to", &filters.to).map(|start| start + DAY_MILLIS);
    let verdict = text(&filters.verdict).filter(|v| VERDICTS.iter().any(|(word, _)| word == v));
    let filter = JournalFilter {
        module_id: text(&filters.module),
        endpoint: text(&filters.endpoint),
        verdict,
        link_key: text(&filters.link_key),
        from,
        until,
        before_id: filters.before,
        replay_of: None,
    };
    (filter, errors)
}

/// One entry as listed.
struct Row {
    id: i64,
    received: String,
    module: String,
    endpoint: String,
    verdict: String,
    verdict_label: &'static str,
    link_key: String,
    reason: String,
    response_status: i64,
}

fn row(entry: &JournalEntry) -> Row {
    Row {
        id: entry.id,
        received: local_datetime(entry.received_at),
        module: entry.module_id.clone().unwrap_or_default(),
        endpoint: entry.endpoint.clone(),
        verdict: entry.verdict.clone(),
        verdict_label: verdict_label(&entry.verdict),
        link_key: entry.link_key.clone().unwrap_or_default(),
        reason: entry.reason.clone(),
        response_status: entry.response_status,
    }
}

#[derive(Template)]
#[template(path = "console/journal.html")]
struct ListPage {
    chrome: Chrome,
    modules: Vec<String>,
    verdicts: &'static [(&'static str, &'static str)],
    filters: Filters,
    errors: FormErrors,
    rows: Vec<Row>,
    /// The query of the next page, when there is one.
    next: Option<String>,
}

/// The query string of the list with `filters` and the page before `before`.
fn next_query(filters: &Filters, before: i64) -> String {
    let pairs = [
        ("module", filters.module.as_str()),
        ("endpoint", &filters.endpoint),
        ("verdict", &filters.verdict),
        ("link_key", &filters.link_key),
        ("from", &filters.from),
        ("to", &filters.to),
    ];
    let mut query: Vec<String> = pairs
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| {
            let value =
                percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC);
            format!("{name}={value}")
        })
        .collect();
    query.push(format!("before={before}"));
    query.join("&")
}

/// `GET /admin/journal`.
pub(super) async fn list(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
    Query(filters): Query<Filters>,
) -> Response {
    let (filter, errors) = store_filter(&filters);
    let mut entries = match state.store.journal_page(&filter, PAGE_ROWS + 1).await {
        Ok(entries) => entries,
        Err(error) => return super::unavailable(error),
    };
    let more = entries.len() as i64 > PAGE_ROWS;
    entries.truncate(PAGE_ROWS as usize);
    let next = more
        .then(|| entries.last().map(|last| next_query(&filters, last.id)))
        .flatten();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = ListPage {
        chrome: Chrome::new(&signed, MENU),
        modules: state.engine.registry().ids(),
        verdicts: VERDICTS,
        rows: entries.iter().map(row).collect(),
        filters,
        errors,
        next,
    };
    html::render(status, &page)
}

/// What a replay did: the journal entry it made, or the answer alone when it made none.
struct Outcome {
    journal_id: Option<i64>,
    verdict: String,
    verdict_label: &'static str,
    reason: String,
    response_status: i64,
    response_body: String,
}

fn outcome_of(entry: &JournalEntry) -> Outcome {
    Outcome {
        journal_id: Some(entry.id),
        verdict: entry.verdict.clone(),
        verdict_label: verdict_label(&entry.verdict),
        reason: entry.reason.clone(),
        response_status: entry.response_status,
        response_body: String::from_utf8_lossy(&entry.response_body).into_owned(),
    }
}

#[derive(Template)]
#[template(path = "console/journal_entry.html")]
struct EntryPage {
    chrome: Chrome,
    entry: JournalEntry,
    received: String,
    verdict_label: &'static str,
    /// The body decoded in its charset (`None`: not valid in it, or removed).
    body_text: Option<String>,
    body_hex: String,
    /// Why there is no body (retention removed it).
    body_note: String,
    response_body: String,
    /// Replays already made of this entry, oldest first.
    replays: Vec<Row>,
    /// Whether 再処理 is offered (a notification with its body).
    replayable: bool,
    /// The outcome of the replay just made.
    outcome: Option<Outcome>,
}

#[derive(Deserialize)]
pub(super) struct Replayed {
    /// The journal entry of the replay just made.
    replayed: Option<i64>,
}

fn not_found() -> Response {
    html::error_page(
        StatusCode::NOT_FOUND,
        "この通知ジャーナルの記録はありません。",
    )
}

async fn render_entry(
    state: &AppState,
    signed: &Signed,
    id: i64,
    outcome: Option<Outcome>,
) -> Response {
    let entry = match state.store.journal_entry(id).await {
        Ok(Some(entry)) => entry,
        Ok(None) => return not_found(),
        Err(error) => return super::unavailable(error),
    };
    let filter = JournalFilter {
        replay_of: Some(id),
        ..JournalFilter::default()
    };
    let mut replays = match state.store.journal_page(&filter, PAGE_ROWS).await {
        Ok(replays) => replays,
        Err(error) => return super::unavailable(error),
    };
    replays.reverse();
    let body_note = entry
        .body_purged_at
        .map(crate::notices::journal_body_purged)
        .unwrap_or_default();
    let page = EntryPage {
        chrome: Chrome::new(signed, MENU),
        received: local_datetime(entry.received_at),
        verdict_label: verdict_label(&entry.verdict),
        body_text: if body_note.is_empty() {
            crate::logs::body_text(&entry)
        } else {
            None
        },
        body_hex: crate::logs::hex_dump(&entry.body),
        body_note,
        response_body: String::from_utf8_lossy(&entry.response_body).into_owned(),
        replays: replays.iter().map(row).collect(),
        replayable: replayable(&entry).is_ok(),
        outcome,
        entry,
    };
    html::render(StatusCode::OK, &page)
}

/// `GET /admin/journal/{id}` (`?replayed=` the entry of a replay just made, to show its outcome).
pub(super) async fn entry(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<i64>,
    Query(replayed): Query<Replayed>,
) -> Response {
    let outcome = match replayed.replayed {
        Some(replay_id) => match state.store.journal_entry(replay_id).await {
            Ok(found) => found
                .filter(|replay| replay.replay_of == Some(id))
                .map(|replay| outcome_of(&replay)),
            Err(error) => return super::unavailable(error),
        },
        None => None,
    };
    render_entry(&state, &signed, id, outcome).await
}

/// Whether an entry can be replayed; why not, with the status to answer.
fn replayable(entry: &JournalEntry) -> Result<(), (StatusCode, String)> {
    if entry.endpoint.starts_with("return:") {
        return Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            "ブラウザの戻り（決済画面からの戻り）は再処理できません。再処理できるのは決済通知だけです。"
                .to_owned(),
        ));
    }
    if let Some(purged_at) = entry.body_purged_at {
        return Err((
            StatusCode::CONFLICT,
            crate::notices::journal_body_purged(purged_at),
        ));
    }
    Ok(())
}

#[derive(Template)]
#[template(path = "console/journal_replay.html")]
struct ConfirmPage {
    chrome: Chrome,
    row: Row,
    errors: FormErrors,
}

/// `POST /admin/journal/{id}/replay`: without `confirm=1` asks to confirm; with it, passes the entry
/// through the notification path again and shows the entry with the replay's outcome.
pub(super) async fn replay(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: ConsoleForm,
) -> Response {
    let entry = match state.store.journal_entry(id).await {
        Ok(Some(entry)) => entry,
        Ok(None) => return not_found(),
        Err(error) => return super::unavailable(error),
    };
    if let Err((status, message)) = replayable(&entry) {
        let page = ConfirmPage {
            chrome: Chrome::new(&form.signed, MENU),
            row: row(&entry),
            errors: FormErrors::general(message),
        };
        return html::render(status, &page);
    }
    if form.get("confirm") != "1" {
        let page = ConfirmPage {
            chrome: Chrome::new(&form.signed, MENU),
            row: row(&entry),
            errors: FormErrors::default(),
        };
        return html::render(StatusCode::OK, &page);
    }
    match crate::inbound::replay(&state, id).await {
        Ok(handled) => {
            tracing::info!(by = %form.signed.operator.login, journal = id, replay = ?handled.journal_id, "console: notification replayed");
            match handled.journal_id {
                Some(replay_id) => {
                    Redirect::to(&format!("/admin/journal/{id}?replayed={replay_id}"))
                        .into_response()
                }
                // Not journaled (the request did not reach storage): show the answer it got.
                None => {
                    let outcome = Outcome {
                        journal_id: None,
                        verdict: String::new(),
                        verdict_label: "記録なし",
                        reason: String::new(),
                        response_status: i64::from(handled.response.status),
                        response_body: String::from_utf8_lossy(&handled.response.body).into_owned(),
                    };
                    render_entry(&state, &form.signed, id, Some(outcome)).await
                }
            }
        }
        Err(ReplayError::NotFound) => not_found(),
        Err(ReplayError::NotANotification) => html::error_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "この記録は決済通知ではないため再処理できません。",
        ),
        Err(ReplayError::Unavailable(detail)) => {
            tracing::error!(%detail, "console: replay failed");
            html::error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "データベースに接続できません。しばらくしてからもう一度お試しください。",
            )
        }
    }
}
