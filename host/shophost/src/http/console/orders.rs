//! 受注リスト and one order's page: the list filtered by 入金状況, 決済種別, dates and 要確認 and
//! searched, 50 orders a page by keyset (`crate::orders::page`); the order with its customer, lines,
//! tax per rate, the 支払方法 as it was, the コンビニ slip, its history, journal entries and payment
//! events; and the operator's two actions on it (clear 要確認 with a note, a status set by hand for what
//! was done in the gateway's backyard), each POST-redirect-GET. The JSON admin API calls the same
//! functions of `crate::orders`.

use askama::Template;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;

use super::{Chrome, ConsoleForm, Signed};
use crate::domain::{local_datetime, CartLine, Order, PaymentStatus, Totals};
use crate::http::forms::FormErrors;
use crate::http::html::{self, filters};
use crate::orders::{self, ListQuery, OrderDetail, OrderError, PAGE_SIZE};
use crate::AppState;

/// The menu entry of both pages.
const MENU: &str = "/admin/orders";

/// One option of a select.
pub(super) struct Choice {
    value: String,
    label: String,
    selected: bool,
}

/// One order as listed.
struct Row {
    number: String,
    path: String,
    created: String,
    status: String,
    attention: bool,
    settlement: String,
    method: String,
    total: i64,
    name: String,
    email: String,
}

#[derive(Template)]
#[template(path = "console/orders.html")]
struct ListPage {
    chrome: Chrome,
    query: ListQuery,
    statuses: Vec<Choice>,
    types: Vec<Choice>,
    rows: Vec<Row>,
    /// The previous (newer) page's link, empty when none.
    newer: String,
    /// The next (older) page's link, empty when none.
    older: String,
    csv_utf8: String,
    csv_sjis: String,
    errors: FormErrors,
}

/// What an order number keeps unescaped in a path: letters, digits, `-`, `_` and `.`.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

/// The path of an order's page.
pub(super) fn order_path(number: &str) -> String {
    format!(
        "/admin/orders/{}",
        utf8_percent_encode(number, PATH_SEGMENT)
    )
}

/// The filters of `query` as a query string (no cursor), each value escaped.
pub(super) fn filter_query(query: &ListQuery) -> String {
    [
        ("status", &query.status),
        ("type", &query.settlement_type),
        ("from", &query.from),
        ("until", &query.until),
        ("attention", &query.attention),
        ("q", &query.q),
    ]
    .into_iter()
    .filter(|(_, value)| !value.trim().is_empty())
    .map(|(key, value)| {
        format!(
            "{key}={}",
            utf8_percent_encode(value.trim(), NON_ALPHANUMERIC)
        )
    })
    .collect::<Vec<_>>()
    .join("&")
}

/// `/admin/orders?filters&extra`.
fn list_link(filters: &str, extra: &str) -> String {
    let parts: Vec<&str> = [filters, extra]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() {
        MENU.to_owned()
    } else {
        format!("{MENU}?{}", parts.join("&"))
    }
}

/// Every settlement type of the modules registered (in use or not), for the 決済種別 select.
fn type_choices(state: &AppState, selected: &str) -> Vec<Choice> {
    let mut choices: Vec<Choice> = Vec::new();
    for module in state.engine.states().values() {
        for settlement_type in &module.settlement_types {
            if choices.iter().all(|c| c.value != settlement_type.id) {
                choices.push(Choice {
                    selected: settlement_type.id == selected.trim(),
                    value: settlement_type.id.clone(),
                    label: settlement_type.label.clone(),
                });
            }
        }
    }
    choices
}

fn status_choices(selected: &str) -> Vec<Choice> {
    PaymentStatus::ALL
        .into_iter()
        .map(|status| Choice {
            value: status.as_str().to_owned(),
            label: status.label().to_owned(),
            selected: status.as_str() == selected.trim(),
        })
        .collect()
}

fn row(order: Order) -> Row {
    Row {
        path: order_path(&order.order_number),
        created: local_datetime(order.created_at),
        status: order.payment_status.label().to_owned(),
        attention: order.attention.is_some(),
        settlement: order.settlement_label,
        method: order.payment_method_name,
        total: order.total,
        name: order.customer.full_name(),
        email: order.customer.email,
        number: order.order_number,
    }
}

/// 受注リスト.
pub(super) async fn list(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
    Query(query): Query<ListQuery>,
) -> Response {
    let filters = filter_query(&query);
    let mut page = ListPage {
        chrome: Chrome::new(&signed, MENU),
        statuses: status_choices(&query.status),
        types: type_choices(&state, &query.settlement_type),
        rows: Vec::new(),
        newer: String::new(),
        older: String::new(),
        csv_utf8: format!("/admin/orders.csv?{}", join(&filters, "charset=utf8")),
        csv_sjis: format!("/admin/orders.csv?{}", join(&filters, "charset=sjis")),
        errors: FormErrors::default(),
        query,
    };
    let filter = match page.query.filter() {
        Ok(filter) => filter,
        Err(OrderError::Invalid { field, message }) => {
            page.errors.add(field, message);
            return html::render(StatusCode::BAD_REQUEST, &page);
        }
        Err(_) => return html::render(StatusCode::BAD_REQUEST, &page),
    };
    let found = match orders::page(&state, &filter, page.query.cursor(), PAGE_SIZE).await {
        Ok(found) => found,
        Err(error) => return super::unavailable(error),
    };
    if let (true, Some(first)) = (found.has_newer, found.orders.first()) {
        let before = format!("before={}", orders::cursor_text(first));
        page.newer = list_link(&filters, &before);
    }
    if let (true, Some(last)) = (found.has_older, found.orders.last()) {
        let after = format!("after={}", orders::cursor_text(last));
        page.older = list_link(&filters, &after);
    }
    page.rows = found.orders.into_iter().map(row).collect();
    html::render(StatusCode::OK, &page)
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_owned()
    } else {
        format!("{a}&{b}")
    }
}

/// The customer as the order's page shows it.
struct CustomerView {
    name: String,
    kana: String,
    email: String,
    address: String,
    phone: String,
}

struct HistoryRow {
    at: String,
    from: String,
    to: String,
    reason: String,
}

struct JournalRow {
    id: i64,
    received: String,
    endpoint: String,
    verdict: String,
    reason: String,
    response_status: i64,
}

struct EventRow {
    at: String,
    kind: String,
    source: String,
    journal_id: String,
}

#[derive(Template)]
#[template(path = "console/order.html")]
struct OrderPage {
    chrome: Chrome,
    id: i64,
    number: String,
    path: String,
    created: String,
    status: String,
    attention: Option<String>,
    customer: CustomerView,
    lines: Vec<CartLine>,
    totals: Totals,
    method: String,
    settlement: String,
    module_id: String,
    link_key: String,
    transaction_id: String,
    slip_place: String,
    /// The slip's rows: (label, value, is a link).
    slip_rows: Vec<(String, String, bool)>,
    deadline: String,
    history: Vec<HistoryRow>,
    journal: Vec<JournalRow>,
    events: Vec<EventRow>,
    targets: Vec<Choice>,
    notice: String,
    errors: FormErrors,
    /// Which form the errors belong to: `attention` or `status`.
    failed: String,
    note: String,
    /// The order's mails (送信メール).
    mails: Vec<super::mail::Row>,
    /// Its 注文確認メール waits for the button (an order registered from the 決済直前ログ).
    confirmation_held: bool,
}

/// `YYYYMMDD` as `YYYY/MM/DD`.
fn slash_date(text: &str) -> String {
    if text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit()) {
        format!("{}/{}/{}", &text[..4], &text[4..6], &text[6..])
    } else {
        text.to_owned()
    }
}

fn order_page(signed: &Signed, detail: OrderDetail) -> OrderPage {
    let OrderDetail {
        order,
        history,
        journal,
        events,
    } = detail;
    let customer = &order.customer;
    let slip = order.slip.clone();
    OrderPage {
        chrome: Chrome::new(signed, MENU),
        id: order.id,
        path: order_path(&order.order_number),
        number: order.order_number.clone(),
        created: local_datetime(order.created_at),
        status: order.payment_status.label().to_owned(),
        attention: order.attention.clone(),
        customer: CustomerView {
            name: customer.full_name(),
            kana: format!("{} {}", customer.family_kana, customer.given_kana),
            email: customer.email.clone(),
            address: format!(
                "〒{} {}{} {} {}",
                customer.postcode,
                customer.prefecture,
                customer.address1,
                customer.address2,
                customer.address3
            ),
            phone: customer.phone.clone(),
        },
        totals: order.totals(),
        lines: order.lines.clone(),
        method: order.payment_method_name.clone(),
        settlement: order.settlement_label.clone(),
        module_id: order.module_id.clone(),
        link_key: order.link_key.clone(),
        transaction_id: order.transaction_id.clone().unwrap_or_default(),
        slip_place: slip.as_ref().map(|s| s.place.clone()).unwrap_or_default(),
        slip_rows: slip.as_ref().map(|s| s.rows.clone()).unwrap_or_default(),
        deadline: order
            .deadline
            .as_deref()
            .map(slash_date)
            .unwrap_or_default(),
        history: history
            .into_iter()
            .map(|entry| HistoryRow {
                at: local_datetime(entry.at),
                from: entry
                    .from_status
                    .map(|s| s.label().to_owned())
                    .unwrap_or_default(),
                to: entry.to_status.label().to_owned(),
                reason: entry.reason,
            })
            .collect(),
        journal: journal
            .into_iter()
            .map(|entry| JournalRow {
                id: entry.id,
                received: local_datetime(entry.received_at),
                endpoint: entry.endpoint,
                verdict: entry.verdict,
                reason: entry.reason,
                response_status: entry.response_status,
            })
            .collect(),
        events: events
            .into_iter()
            .map(|event| EventRow {
                at: local_datetime(event.at),
                kind: event.kind,
                source: event.source,
                journal_id: event
                    .journal_id
                    .map(|id| id.to_string())
                    .unwrap_or_default(),
            })
            .collect(),
        targets: orders::manual_targets(order.payment_status)
            .iter()
            .map(|status| Choice {
                value: status.as_str().to_owned(),
                label: status.label().to_owned(),
                selected: false,
            })
            .collect(),
        notice: String::new(),
        errors: FormErrors::default(),
        failed: String::new(),
        note: String::new(),
        mails: Vec::new(),
        confirmation_held: false,
    }
}

/// Adds the order's mails to its page.
async fn with_mails(state: &AppState, mut page: OrderPage) -> Result<OrderPage, Response> {
    let filter = crate::mail::MailFilter {
        order_id: Some(page.id),
        ..crate::mail::MailFilter::default()
    };
    let mails = state
        .store
        .mails(&filter, 50)
        .await
        .map_err(super::unavailable)?;
    page.confirmation_held = mails.iter().any(|mail| {
        mail.kind == crate::mail::MailKind::OrderConfirmation
            && mail.status == crate::mail::MailStatus::Held
    });
    page.mails = mails.iter().map(super::mail::row).collect();
    Ok(page)
}

fn not_found() -> Response {
    html::error_page(
        StatusCode::NOT_FOUND,
        "注文が見つかりません。注文番号を確かめてください。",
    )
}

fn error_page(error: OrderError) -> Response {
    match error {
        OrderError::Unavailable(error) => super::unavailable(error),
        _ => not_found(),
    }
}

#[derive(Deserialize)]
pub(super) struct Done {
    #[serde(default)]
    done: String,
}

/// 受注詳細.
pub(super) async fn detail(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
    Path(number): Path<String>,
    Query(done): Query<Done>,
) -> Response {
    match orders::detail(&state, &number).await {
        Ok(detail) => {
            let mut page = match with_mails(&state, order_page(&signed, detail)).await {
                Ok(page) => page,
                Err(response) => return response,
            };
            page.notice = match done.done.as_str() {
                "cleared" => "要確認を解除しました。".to_owned(),
                "status" => format!("入金状況を「{}」に変更しました。", page.status),
                "mail" => "注文確認メールを送信待ちにしました。まもなく送信します。".to_owned(),
                _ => String::new(),
            };
            html::render(StatusCode::OK, &page)
        }
        Err(error) => error_page(error),
    }
}

/// After an action: back to the order's page, or the page again with the problem at its form.
async fn outcome(
    state: &AppState,
    form: &ConsoleForm,
    number: &str,
    which: &str,
    result: Result<Order, OrderError>,
) -> Response {
    let (status, field, message) = match result {
        Ok(order) => {
            tracing::info!(by = %form.signed.operator.login, order = %order.order_number, action = which, "console: order changed");
            let done = if which == "attention" {
                "cleared"
            } else {
                "status"
            };
            return Redirect::to(&format!("{}?done={done}", order_path(number))).into_response();
        }
        Err(OrderError::Invalid { field, message }) => {
            (StatusCode::UNPROCESSABLE_ENTITY, field, message)
        }
        Err(OrderError::Refused(message)) => (StatusCode::CONFLICT, "", message),
        Err(error) => return error_page(error),
    };
    match orders::detail(state, number).await {
        Ok(detail) => {
            let mut page = match with_mails(state, order_page(&form.signed, detail)).await {
                Ok(page) => page,
                Err(response) => return response,
            };
            page.errors.add(field, message);
            page.failed = which.to_owned();
            page.note = form.get("note");
            html::render(status, &page)
        }
        Err(error) => error_page(error),
    }
}

/// 要確認を解除: needs a note, which goes into the history.
pub(super) async fn clear_attention(
    State(state): State<AppState>,
    Path(number): Path<String>,
    form: ConsoleForm,
) -> Response {
    let login = form.signed.operator.login.clone();
    let result = orders::clear_attention(&state, &number, &form.get("note"), &login).await;
    outcome(&state, &form, &number, "attention", result).await
}

/// 入金状況の手動変更: records what the operator did in the gateway's backyard, never sent to it.
pub(super) async fn change_status(
    State(state): State<AppState>,
    Path(number): Path<String>,
    form: ConsoleForm,
) -> Response {
    let login = form.signed.operator.login.clone();
    let to = form.get("status");
    let result = orders::change_status(&state, &number, &to, &form.get("note"), &login).await;
    outcome(&state, &form, &number, "status", result).await
}

/// 注文確認メールを送信する: for an order registered from the 決済直前ログ, whose mail waits for the
/// operator; once (refused with the reason the second time, or for an order whose mail went by itself).
pub(super) async fn send_confirmation(
    State(state): State<AppState>,
    Path(number): Path<String>,
    form: ConsoleForm,
) -> Response {
    let order = match orders::order(&state, &number).await {
        Ok(order) => order,
        Err(error) => return error_page(error),
    };
    let message = match crate::mail::actions::send_registered_confirmation(&state, order.id).await {
        Ok(mail) => {
            tracing::info!(by = %form.signed.operator.login, order = %number, mail, "console: confirmation mail sent by hand");
            return Redirect::to(&format!("{}?done=mail", order_path(&number))).into_response();
        }
        Err(crate::mail::actions::MailActionError::Refused(reason)) => reason,
        Err(crate::mail::actions::MailActionError::Unavailable(error)) => {
            return super::unavailable(error)
        }
        Err(_) => return not_found(),
    };
    match orders::detail(&state, &number).await {
        Ok(detail) => {
            let mut page = match with_mails(&state, order_page(&form.signed, detail)).await {
                Ok(page) => page,
                Err(response) => return response,
            };
            page.errors.add("", message);
            page.failed = "mail".to_owned();
            html::render(StatusCode::CONFLICT, &page)
        }
        Err(error) => error_page(error),
    }
}
