//! 継続課金: the recurring contracts by state (継続中/停止), member and product, newest first a page
//! at a time; one contract (the gateway's id, amount, interval, the next charge on the schedule
//! registered at the gateway); and 停止: a confirmation step, then `crate::contracts::stop` (which the
//! admin API's `POST /admin/api/contracts/{id}/stop` calls too), whose notice reminds the operator to
//! stop it in the gateway's console as well. A contract stopped already is refused with the reason.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Deserialize;
use shophost_module_api::LocalDate;

use super::{Chrome, ConsoleForm, Signed};
use crate::contracts::{self, ContractError};
use crate::db::{ContractFilter, DbError, OrderFilter};
use crate::domain::{japanese_date, local_datetime, RecurringContract, ORDER_DAY};
use crate::http::forms::FormErrors;
use crate::http::html::{self, filters};
use crate::AppState;

/// The menu entry of every contracts screen.
const MENU: &str = "/admin/contracts";

/// Contracts on one page of the list.
const PAGE: i64 = 50;

/// One contract as listed.
struct Row {
    id: i64,
    member_id: i64,
    member_email: String,
    product_name: String,
    amount: i64,
    schedule: String,
    next_charge: String,
    running: bool,
}

#[derive(Template)]
#[template(path = "console/contracts.html")]
struct ContractsPage {
    chrome: Chrome,
    /// The filter as given: `continuation`, `stopped` or empty.
    status: String,
    member: String,
    product: String,
    rows: Vec<Row>,
    next: Option<String>,
}

/// One contract in full.
struct Facts {
    id: i64,
    running: bool,
    member_id: i64,
    member_email: String,
    member_name: String,
    module_name: String,
    module_id: String,
    gateway_id: String,
    product_name: String,
    amount: i64,
    schedule: String,
    first_charge: String,
    next_charge: String,
    order_number: String,
    registered: String,
    updated: String,
}

#[derive(Template)]
#[template(path = "console/contract.html")]
struct ContractPage {
    chrome: Chrome,
    contract: Facts,
    notice: String,
    errors: FormErrors,
}

#[derive(Template)]
#[template(path = "console/contract_stop.html")]
struct StopPage {
    chrome: Chrome,
    contract: Facts,
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    member: String,
    #[serde(default)]
    product: String,
    before: Option<i64>,
}

#[derive(Deserialize)]
pub(super) struct Done {
    #[serde(default)]
    done: String,
}

/// How often and on which day: 「毎月・10日」, 「6か月ごと・注文日と同じ日」.
fn schedule(contract: &RecurringContract) -> String {
    let interval = match contract.interval_months {
        1 => "毎月".to_owned(),
        12 => "毎年".to_owned(),
        months => format!("{months}か月ごと"),
    };
    let day = if contract.charging_day == i64::from(ORDER_DAY) {
        "注文日と同じ日".to_owned()
    } else {
        format!("{}日", contract.charging_day)
    };
    format!("{interval}・{day}")
}

/// A `YYYYMMDD` as 2026年1月10日, or as it is when it is no date.
fn registered_date(yyyymmdd: &str) -> String {
    LocalDate::parse_yyyymmdd(yyyymmdd).map_or_else(|| yyyymmdd.to_owned(), japanese_date)
}

/// The next charge to expect, or — for a stopped contract.
fn next_charge(contract: &RecurringContract) -> String {
    if !contracts::running(contract) {
        return "—".to_owned();
    }
    contracts::next_charge_expected(contract)
        .map_or_else(|| registered_date(&contract.next_charge), japanese_date)
}

fn module_name(state: &AppState, module_id: &str) -> String {
    state.engine.registry().get(module_id).map_or_else(
        || module_id.to_owned(),
        |module| module.display_name.clone(),
    )
}

/// 継続課金: the list, filtered.
pub(super) async fn list(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
    Query(query): Query<ListQuery>,
) -> Response {
    let status = match query.status.as_str() {
        "continuation" | "stopped" => query.status.clone(),
        _ => String::new(),
    };
    let member = query.member.trim().to_owned();
    let filter = ContractFilter {
        status: (!status.is_empty()).then(|| status.clone()),
        // A member number that is no number finds nobody rather than everybody.
        member_id: (!member.is_empty()).then(|| member.parse().unwrap_or(0)),
        product: query.product.trim().to_owned(),
        before: query.before,
    };
    let looked_up = async {
        let mut found = state.store.find_contracts(&filter, PAGE + 1).await?;
        let more = found.len() as i64 > PAGE;
        found.truncate(PAGE as usize);
        let mut emails = BTreeMap::new();
        for contract in &found {
            if let std::collections::btree_map::Entry::Vacant(entry) =
                emails.entry(contract.member_id)
            {
                let member = state.store.member(contract.member_id).await?;
                entry.insert(member.map(|m| m.email).unwrap_or_default());
            }
        }
        Ok::<_, DbError>((found, more, emails))
    };
    let (found, more, emails) = match looked_up.await {
        Ok(found) => found,
        Err(error) => return super::unavailable(error),
    };
    let next = more.then(|| {
        let last = found.last().map_or(0, |contract| contract.id);
        format!(
            "/admin/contracts?status={status}&member={}&product={}&before={last}",
            utf8_percent_encode(&member, NON_ALPHANUMERIC),
            utf8_percent_encode(&filter.product, NON_ALPHANUMERIC)
        )
    });
    let rows = found
        .into_iter()
        .map(|contract| Row {
            id: contract.id,
            member_id: contract.member_id,
            member_email: emails.get(&contract.member_id).cloned().unwrap_or_default(),
            schedule: schedule(&contract),
            next_charge: next_charge(&contract),
            running: contracts::running(&contract),
            product_name: contract.product_name,
            amount: contract.amount,
        })
        .collect();
    let page = ContractsPage {
        chrome: Chrome::new(&signed, MENU),
        status,
        member,
        product: filter.product,
        rows,
        next,
    };
    html::render(StatusCode::OK, &page)
}

/// The contract in full, or the page that says there is none.
async fn facts(state: &AppState, id: i64) -> Result<Facts, Response> {
    let looked_up = async {
        let Some(contract) = state.store.contract(id).await? else {
            return Ok(None);
        };
        let member = state.store.member(contract.member_id).await?;
        let filter = OrderFilter {
            member_id: Some(contract.member_id),
            ..OrderFilter::default()
        };
        // The first order is the member's; its number is found among theirs.
        let order_number = state
            .store
            .orders(&filter, 1000)
            .await?
            .into_iter()
            .find(|order| order.id == contract.order_id)
            .map(|order| order.order_number)
            .unwrap_or_default();
        Ok::<_, DbError>(Some((contract, member, order_number)))
    };
    let (contract, member, order_number) = match looked_up.await {
        Ok(Some(found)) => found,
        Ok(None) => {
            return Err(html::error_page(
                StatusCode::NOT_FOUND,
                "継続課金が見つかりません。",
            ))
        }
        Err(error) => return Err(super::unavailable(error)),
    };
    Ok(Facts {
        id: contract.id,
        running: contracts::running(&contract),
        member_id: contract.member_id,
        member_email: member.as_ref().map(|m| m.email.clone()).unwrap_or_default(),
        member_name: member
            .map(|m| format!("{} {}", m.details.family_name, m.details.given_name))
            .unwrap_or_default(),
        module_name: module_name(state, &contract.module_id),
        gateway_id: contract.gateway_id.clone().unwrap_or_default(),
        schedule: schedule(&contract),
        first_charge: registered_date(&contract.next_charge),
        next_charge: next_charge(&contract),
        order_number,
        registered: local_datetime(contract.created_at),
        updated: local_datetime(contract.updated_at),
        module_id: contract.module_id,
        product_name: contract.product_name,
        amount: contract.amount,
    })
}

async fn render_contract(
    state: &AppState,
    signed: &Signed,
    id: i64,
    status: StatusCode,
    notice: String,
    errors: FormErrors,
) -> Response {
    match facts(state, id).await {
        Ok(contract) => {
            let page = ContractPage {
                chrome: Chrome::new(signed, MENU),
                contract,
                notice,
                errors,
            };
            html::render(status, &page)
        }
        Err(page) => page,
    }
}

/// One contract, and after 停止 the reminder to stop it at the gateway too.
pub(super) async fn detail(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<i64>,
    Query(done): Query<Done>,
) -> Response {
    let notice = match (done.done.as_str(), state.store.contract(id).await) {
        ("stopped", Ok(Some(contract))) => {
            crate::notices::contract_stopped(&state, &contract.module_id)
        }
        _ => String::new(),
    };
    render_contract(
        &state,
        &signed,
        id,
        StatusCode::OK,
        notice,
        FormErrors::default(),
    )
    .await
}

/// 停止: without `confirm=1` the confirmation page, with it the contract stopped and back to it with
/// the reminder. A contract stopped already is refused with the reason.
pub(super) async fn stop(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: ConsoleForm,
) -> Response {
    let contract = match facts(&state, id).await {
        Ok(contract) => contract,
        Err(page) => return page,
    };
    let refuse = |error: ContractError| {
        let state = state.clone();
        let signed = form.signed.clone();
        async move {
            let errors = FormErrors::general(error.to_string());
            render_contract(
                &state,
                &signed,
                id,
                StatusCode::CONFLICT,
                String::new(),
                errors,
            )
            .await
        }
    };
    if !contract.running {
        return refuse(ContractError::AlreadyStopped).await;
    }
    if form.get("confirm") != "1" {
        let page = StopPage {
            chrome: Chrome::new(&form.signed, MENU),
            contract,
        };
        return html::render(StatusCode::OK, &page);
    }
    match contracts::stop(&state, id).await {
        Ok(_) => {
            tracing::info!(by = %form.signed.operator.login, contract = id, "console: 継続課金 stopped");
            Redirect::to(&format!("/admin/contracts/{id}?done=stopped")).into_response()
        }
        Err(ContractError::Db(error)) => super::unavailable(error),
        Err(ContractError::NotFound) => {
            html::error_page(StatusCode::NOT_FOUND, "継続課金が見つかりません。")
        }
        Err(refused @ ContractError::AlreadyStopped) => refuse(refused).await,
    }
}
