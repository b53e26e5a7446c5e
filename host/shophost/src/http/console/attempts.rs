//! 決済直前ログ: the checkout attempts searched by link key, 登録日 and customer name (keyset-paged),
//! one attempt as Welcart's dialog shows it with its journal entries, and 受注データ登録 with its
//! confirmation step. Every rule is in `crate::attempt_log`, which the admin API calls too.

use askama::Template;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Deserialize;

use super::{Chrome, ConsoleForm, Signed};
use crate::attempt_log::{self, RegisterError, RegisteredAt, Registration, Search};
use crate::domain::{
    local_datetime, Attempt, AttemptKind, AttemptState, CartLine, CustomerDetails, JournalEntry,
    Order, PaymentStatus, Totals,
};
use crate::http::forms::FormErrors;
use crate::http::html::{self, filters};
use crate::AppState;

/// The menu entry of the 決済直前ログ's screens.
const MENU: &str = "/admin/attempts";

/// The detail page's path of a link key.
fn detail_path(link_key: &str) -> String {
    format!(
        "/admin/attempts/{}",
        utf8_percent_encode(link_key, NON_ALPHANUMERIC)
    )
}

/// An attempt's state as the list and the detail say it.
fn state_label(attempt: &Attempt) -> &'static str {
    match (attempt.kind, attempt.state) {
        (_, AttemptState::Ordered) => "受注済み",
        (_, AttemptState::CardUpdated) => "カード変更済み",
        (AttemptKind::CardUpdate, AttemptState::Open) => "カード変更（未完了）",
        (AttemptKind::Order, AttemptState::Open) => "受注なし",
    }
}

/// One attempt as listed.
struct Row {
    registered: String,
    link_key: String,
    path: String,
    customer: String,
    total: i64,
    method: String,
    state: &'static str,
    open: bool,
    attention: bool,
}

fn row(attempt: &Attempt) -> Row {
    Row {
        registered: local_datetime(attempt.created_at),
        path: detail_path(&attempt.link_key),
        link_key: attempt.link_key.clone(),
        customer: attempt.snapshot.customer.full_name(),
        total: attempt.total,
        method: attempt.payment_method_name.clone(),
        state: state_label(attempt),
        open: attempt.state == AttemptState::Open,
        attention: attempt.attention.is_some(),
    }
}

#[derive(Template)]
#[template(path = "console/attempts.html")]
struct ListPage {
    chrome: Chrome,
    search: Search,
    errors: FormErrors,
    rows: Vec<Row>,
    /// The next page's URL, when there is one.
    next: Option<String>,
    /// Whether this is a later page (offer the first).
    paged: bool,
}

/// The list's query: the search as typed and the page.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    link_key: String,
    #[serde(default)]
    customer_name: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    attention: String,
    #[serde(default)]
    before: String,
}

/// The query of the next page: the same search, starting below `before`.
fn next_url(search: &Search, before: i64) -> String {
    let encode = |text: &str| utf8_percent_encode(text, NON_ALPHANUMERIC).to_string();
    let mut url = format!(
        "/admin/attempts?link_key={}&customer_name={}&from={}&to={}",
        encode(&search.link_key),
        encode(&search.customer_name),
        encode(&search.from),
        encode(&search.to)
    );
    if search.attention {
        url.push_str("&attention=true");
    }
    url.push_str(&format!("&before={before}"));
    url
}

/// 決済直前ログ一覧.
pub(super) async fn list(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
    Query(query): Query<ListQuery>,
) -> Response {
    let search = Search {
        link_key: query.link_key,
        customer_name: query.customer_name,
        from: query.from,
        to: query.to,
        attention: matches!(query.attention.as_str(), "true" | "1" | "on"),
        before: query.before.trim().parse().ok(),
    };
    let mut page = ListPage {
        chrome: Chrome::new(&signed, MENU),
        paged: search.before.is_some(),
        search,
        errors: FormErrors::default(),
        rows: Vec::new(),
        next: None,
    };
    let filter = match page.search.filter() {
        Ok(filter) => filter,
        Err(problems) => {
            for problem in problems {
                page.errors.add(problem.field, problem.message);
            }
            return html::render(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    match attempt_log::search(&state, &filter).await {
        Ok(found) => {
            page.rows = found.attempts.iter().map(row).collect();
            page.next = found.next.map(|before| next_url(&page.search, before));
            html::render(StatusCode::OK, &page)
        }
        Err(error) => super::unavailable(error),
    }
}

/// One journal entry as the detail lists it.
struct JournalRow {
    received: String,
    endpoint: String,
    verdict: &'static str,
    reason: String,
}

fn journal_row(entry: &JournalEntry) -> JournalRow {
    JournalRow {
        received: local_datetime(entry.received_at),
        endpoint: entry.endpoint.clone(),
        verdict: match entry.verdict.as_str() {
            "accepted" => "受付",
            "duplicate" => "重複",
            "rejected" | "refused" => "拒否",
            _ => "その他",
        },
        reason: entry.reason.clone(),
    }
}

/// The attempt's order as the detail shows it.
struct OrderView {
    number: String,
    status: &'static str,
    created: String,
    attention: String,
}

fn order_view(order: &Order) -> OrderView {
    OrderView {
        number: order.order_number.clone(),
        status: order.payment_status.label(),
        created: local_datetime(order.created_at),
        attention: order.attention.clone().unwrap_or_default(),
    }
}

#[derive(Template)]
#[template(path = "console/attempt.html")]
struct DetailPage {
    chrome: Chrome,
    registered: String,
    link_key: String,
    path: String,
    state: &'static str,
    attention: String,
    customer: CustomerDetails,
    lines: Vec<CartLine>,
    totals: Totals,
    method: String,
    settlement_label: String,
    order: Option<OrderView>,
    journal: Vec<JournalRow>,
    /// 受注データ登録 is offered: the status the order would get.
    registrable: Option<PaymentStatus>,
    /// Why it is not, when the attempt is an open order's and no module provides its type.
    refusal: String,
    /// The choice as posted (`attempt` or `now`) and the transaction id.
    registered_at: String,
    transaction_id: String,
    /// The cart holds a recurring item (継続課金): the form asks for the recurring registration id.
    recurring: bool,
    recurring_id: String,
    errors: FormErrors,
    /// The confirmation step: the choice is shown and posted again with `confirm`.
    confirming: bool,
    /// The 受注日時 the order would get (the confirmation step).
    order_time: String,
    notice: String,
}

impl DetailPage {
    async fn new(state: &AppState, signed: &Signed, attempt: Attempt) -> Result<Self, Response> {
        let order = attempt_log::order_of(state, &attempt)
            .await
            .map_err(super::unavailable)?;
        let journal = state
            .store
            .journal(Some(&attempt.link_key), 100)
            .await
            .map_err(super::unavailable)?;
        let open_order = attempt.kind == AttemptKind::Order && order.is_none();
        let registrable = open_order
            .then(|| attempt_log::registered_status(state, &attempt))
            .flatten();
        let refusal = match (open_order, registrable) {
            (true, None) => RegisterError::NotProvided(attempt.settlement_type.clone()).to_string(),
            _ => String::new(),
        };
        let recurring = attempt_log::is_recurring(&attempt);
        Ok(DetailPage {
            chrome: Chrome::new(signed, MENU),
            registered: local_datetime(attempt.created_at),
            path: detail_path(&attempt.link_key),
            state: state_label(&attempt),
            attention: attempt.attention.clone().unwrap_or_default(),
            settlement_label: state
                .engine
                .labels()
                .get(&attempt.settlement_type)
                .cloned()
                .unwrap_or_else(|| attempt.settlement_type.clone()),
            method: attempt.payment_method_name.clone(),
            totals: attempt.snapshot.totals(),
            lines: attempt.snapshot.lines,
            customer: attempt.snapshot.customer,
            link_key: attempt.link_key,
            order: order.as_ref().map(order_view),
            journal: journal.iter().map(journal_row).collect(),
            registrable,
            refusal,
            registered_at: "attempt".to_owned(),
            transaction_id: String::new(),
            recurring,
            recurring_id: String::new(),
            errors: FormErrors::default(),
            confirming: false,
            order_time: String::new(),
            notice: String::new(),
        })
    }
}

fn not_found() -> Response {
    html::error_page(
        StatusCode::NOT_FOUND,
        "決済直前ログが見つかりません。リンクキーが違うか、保存期間を過ぎて削除されました。",
    )
}

/// The attempt and its page, or the page to answer with instead.
async fn load(state: &AppState, signed: &Signed, link_key: &str) -> Result<DetailPage, Response> {
    match state.store.attempt_by_link_key(link_key).await {
        Ok(Some(attempt)) => DetailPage::new(state, signed, attempt).await,
        Ok(None) => Err(not_found()),
        Err(error) => Err(super::unavailable(error)),
    }
}

#[derive(Deserialize)]
pub(super) struct Done {
    #[serde(default)]
    done: String,
}

/// 決済直前ログ詳細.
pub(super) async fn detail(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
    Path(link_key): Path<String>,
    Query(done): Query<Done>,
) -> Response {
    let mut page = match load(&state, &signed, &link_key).await {
        Ok(page) => page,
        Err(response) => return response,
    };
    if done.done == "registered" {
        if let Some(order) = &page.order {
            page.notice = format!(
                "受注データを登録しました（注文番号 {}、{}）。注文確認メールはまだ送信していません（注文の画面から一度だけ送信できます）。",
                order.number, order.status
            );
        }
    }
    html::render(StatusCode::OK, &page)
}

/// 受注データ登録: the first post shows the confirmation step, the second (with `confirm`) registers
/// and goes back to the detail; a refusal is shown on the detail with its reason.
pub(super) async fn register(
    State(state): State<AppState>,
    Path(link_key): Path<String>,
    form: ConsoleForm,
) -> Response {
    let mut page = match load(&state, &form.signed, &link_key).await {
        Ok(page) => page,
        Err(response) => return response,
    };
    page.transaction_id = form.get("transaction_id").trim().to_owned();
    page.recurring_id = form.get("recurring_id").trim().to_owned();
    let Some(registered_at) = RegisteredAt::parse(&form.get("registered_at")) else {
        page.errors.add(
            "registered_at",
            "受注日時に登録日と現在の時刻のどちらを設定するか選んでください",
        );
        return html::render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    page.registered_at = form.get("registered_at");
    let registration = Registration {
        registered_at,
        transaction_id: page.transaction_id.clone(),
        recurring_id: page.recurring_id.clone(),
    };
    let result = if form.get("confirm") == "1" {
        attempt_log::register(&state, &link_key, &registration)
            .await
            .map(Some)
    } else {
        attempt_log::check(&state, &link_key, &registration)
            .await
            .map(|_| None)
    };
    let status = match result {
        Ok(Some(order)) => {
            tracing::info!(by = %form.signed.operator.login, %link_key, order = %order.order_number, "console: order registered from the checkout log");
            return Redirect::to(&format!("{}?done=registered", page.path)).into_response();
        }
        Ok(None) => {
            page.confirming = true;
            page.order_time = match registered_at {
                RegisteredAt::Attempt => page.registered.clone(),
                RegisteredAt::Now => "登録する時点の現在時刻".to_owned(),
            };
            StatusCode::OK
        }
        Err(RegisterError::NotFound) => return not_found(),
        Err(RegisterError::Unavailable(error)) => return super::unavailable(error),
        Err(RegisterError::Invalid(problem)) => {
            page.errors.add(problem.field, problem.message);
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Err(other) => {
            // The state changed since the page was shown (an order made meanwhile): show it as it is.
            page = match load(&state, &form.signed, &link_key).await {
                Ok(page) => page,
                Err(response) => return response,
            };
            page.errors.add("", other.to_string());
            StatusCode::CONFLICT
        }
    };
    html::render(status, &page)
}
