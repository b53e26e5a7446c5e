//! 会員: the members found by e-mail or name (newest first, a page at a time), one member's details,
//! the card each module keeps for them (下4桁, 有効期限, ペイクイック 登録あり), their 継続課金 and
//! orders, and ペイクイックを解除する: a confirmation step, then `crate::members::release_card` (which
//! the admin API's `DELETE /admin/api/members/{id}/cards/{module}` calls too), after which the member's
//! next card payment asks for the card again.

use askama::Template;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Deserialize;

use super::{Chrome, ConsoleForm, Signed};
use crate::db::{MemberSearch, OrderFilter};
use crate::domain::{local_datetime, Member, MemberCard};
use crate::http::forms::FormErrors;
use crate::http::html::{self, filters};
use crate::AppState;

/// The menu entry of every members screen.
const MENU: &str = "/admin/members";

/// Members on one page of the list.
const PAGE: i64 = 50;

/// How many of a member's orders and contracts the details show.
const DETAIL_ROWS: i64 = 50;

/// One member as listed.
struct Row {
    id: i64,
    email: String,
    name: String,
    kana: String,
    registered: String,
    has_card: bool,
}

#[derive(Template)]
#[template(path = "console/members.html")]
struct MembersPage {
    chrome: Chrome,
    query: String,
    rows: Vec<Row>,
    /// The next page's link, when there are more.
    next: Option<String>,
}

/// A card a module keeps for the member.
struct CardRow {
    module_id: String,
    module_name: String,
    last4: String,
    expiry: String,
    release_path: String,
}

/// One of the member's contracts.
struct ContractRow {
    id: i64,
    product_name: String,
    amount: i64,
    running: bool,
    registered: String,
}

/// One of the member's orders.
struct OrderRow {
    order_number: String,
    created: String,
    total: i64,
    method: String,
    status: &'static str,
}

#[derive(Template)]
#[template(path = "console/member.html")]
struct MemberPage {
    chrome: Chrome,
    member: Member,
    address: String,
    cards: Vec<CardRow>,
    contracts: Vec<ContractRow>,
    orders: Vec<OrderRow>,
    notice: String,
    errors: FormErrors,
}

#[derive(Template)]
#[template(path = "console/member_release.html")]
struct ReleasePage {
    chrome: Chrome,
    member: Member,
    card: CardRow,
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    q: String,
    before: Option<i64>,
}

#[derive(Deserialize)]
pub(super) struct Done {
    #[serde(default)]
    done: String,
    #[serde(default)]
    module: String,
}

fn full_name(member: &Member) -> String {
    format!(
        "{} {}",
        member.details.family_name, member.details.given_name
    )
}

fn module_name(state: &AppState, module_id: &str) -> String {
    state.engine.registry().get(module_id).map_or_else(
        || module_id.to_owned(),
        |module| module.display_name.clone(),
    )
}

fn card_row(state: &AppState, member_id: i64, card: MemberCard) -> CardRow {
    CardRow {
        release_path: format!(
            "/admin/members/{member_id}/cards/{}/release",
            utf8_percent_encode(&card.module_id, NON_ALPHANUMERIC)
        ),
        module_name: module_name(state, &card.module_id),
        module_id: card.module_id,
        last4: card.last4,
        expiry: card.expiry,
    }
}

/// 会員: the list, or the members the search finds.
pub(super) async fn list(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
    Query(query): Query<ListQuery>,
) -> Response {
    let search = MemberSearch {
        text: query.q.trim().to_owned(),
        before: query.before,
    };
    let mut found = match state.store.members(&search, PAGE + 1).await {
        Ok(found) => found,
        Err(error) => return super::unavailable(error),
    };
    let more = found.len() as i64 > PAGE;
    found.truncate(PAGE as usize);
    let next = more.then(|| {
        let last = found.last().map_or(0, |listing| listing.member.id);
        format!(
            "/admin/members?q={}&before={last}",
            utf8_percent_encode(&search.text, NON_ALPHANUMERIC)
        )
    });
    let rows = found
        .into_iter()
        .map(|listing| Row {
            id: listing.member.id,
            name: full_name(&listing.member),
            kana: format!(
                "{} {}",
                listing.member.details.family_kana, listing.member.details.given_kana
            ),
            email: listing.member.email,
            registered: local_datetime(listing.created_at),
            has_card: listing.cards > 0,
        })
        .collect();
    let page = MembersPage {
        chrome: Chrome::new(&signed, MENU),
        query: search.text,
        rows,
        next,
    };
    html::render(StatusCode::OK, &page)
}

/// The member, or the page that says there is none.
async fn find(state: &AppState, id: i64) -> Result<Member, Response> {
    match state.store.member(id).await {
        Ok(Some(member)) => Ok(member),
        Ok(None) => Err(html::error_page(
            StatusCode::NOT_FOUND,
            "会員が見つかりません。",
        )),
        Err(error) => Err(super::unavailable(error)),
    }
}

async fn render_member(
    state: &AppState,
    signed: &Signed,
    id: i64,
    status: StatusCode,
    notice: String,
    errors: FormErrors,
) -> Response {
    let member = match find(state, id).await {
        Ok(member) => member,
        Err(page) => return page,
    };
    let filter = OrderFilter {
        member_id: Some(id),
        ..OrderFilter::default()
    };
    let looked_up = async {
        Ok::<_, crate::db::DbError>((
            state.store.member_cards(id).await?,
            state.store.contracts(Some(id), DETAIL_ROWS).await?,
            state.store.orders(&filter, DETAIL_ROWS).await?,
        ))
    };
    let (cards, contracts, orders) = match looked_up.await {
        Ok(found) => found,
        Err(error) => return super::unavailable(error),
    };
    let details = &member.details;
    let address = [
        details.prefecture.as_str(),
        &details.address1,
        &details.address2,
        &details.address3,
    ]
    .into_iter()
    .filter(|part| !part.is_empty())
    .collect::<Vec<_>>()
    .join(" ");
    let page = MemberPage {
        chrome: Chrome::new(signed, MENU),
        address,
        cards: cards
            .into_iter()
            .map(|card| card_row(state, id, card))
            .collect(),
        contracts: contracts
            .into_iter()
            .map(|contract| ContractRow {
                id: contract.id,
                running: crate::contracts::running(&contract),
                registered: local_datetime(contract.created_at),
                product_name: contract.product_name,
                amount: contract.amount,
            })
            .collect(),
        orders: orders
            .into_iter()
            .map(|order| OrderRow {
                created: local_datetime(order.created_at),
                status: order.payment_status.label(),
                order_number: order.order_number,
                total: order.total,
                method: order.payment_method_name,
            })
            .collect(),
        member,
        notice,
        errors,
    };
    html::render(status, &page)
}

/// A member's details, cards, contracts and orders.
pub(super) async fn detail(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<i64>,
    Query(done): Query<Done>,
) -> Response {
    let notice = match done.done.as_str() {
        "released" => format!(
            "{}のペイクイックの登録を解除しました。次回の購入では、カード番号の入力を求めます。",
            module_name(&state, &done.module)
        ),
        _ => String::new(),
    };
    render_member(
        &state,
        &signed,
        id,
        StatusCode::OK,
        notice,
        FormErrors::default(),
    )
    .await
}

/// ペイクイックを解除する: without `confirm=1` the confirmation page, with it the card forgotten and
/// back to the member's page saying so. A card no module keeps is refused with the reason.
pub(super) async fn release(
    State(state): State<AppState>,
    Path((id, module_id)): Path<(i64, String)>,
    form: ConsoleForm,
) -> Response {
    let member = match find(&state, id).await {
        Ok(member) => member,
        Err(page) => return page,
    };
    let card = match state.store.member_card(id, &module_id).await {
        Ok(card) => card,
        Err(error) => return super::unavailable(error),
    };
    let Some(card) = card else {
        let errors = FormErrors::general(format!(
            "{}のペイクイックの登録はありません（すでに解除されています）。",
            module_name(&state, &module_id)
        ));
        return render_member(
            &state,
            &form.signed,
            id,
            StatusCode::CONFLICT,
            String::new(),
            errors,
        )
        .await;
    };
    if form.get("confirm") != "1" {
        let page = ReleasePage {
            chrome: Chrome::new(&form.signed, MENU),
            card: card_row(&state, id, card),
            member,
        };
        return html::render(StatusCode::OK, &page);
    }
    match crate::members::release_card(&state, id, &module_id).await {
        // Released here, or by someone else between the look-up and now: either way it is gone.
        Ok(_) => {
            tracing::info!(by = %form.signed.operator.login, member = id, module = %module_id, "console: ペイクイック released");
            Redirect::to(&format!(
                "/admin/members/{id}?done=released&module={}",
                utf8_percent_encode(&module_id, NON_ALPHANUMERIC)
            ))
            .into_response()
        }
        Err(error) => super::unavailable(error),
    }
}
