//! The member pages: ログイン and ログアウト, 会員登録, マイページ (orders, kept cards, 継続課金), and the
//! card change (クレジットカード変更) through the gateway.

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::checkout::submitted_customer;
use super::session::Visit;
use super::views::{
    CardDonePage, CardResult, CardUpdatePage, ContractRow, FormErrors, LoginPage, MyPage, OrderRow,
    RegisterPage,
};
use super::{field, safe_next, see_other, Fields, PageResult};
use crate::checkout::{self, CheckoutError};
use crate::db::{DbError, OrderFilter};
use crate::domain::{
    japanese_date, local_date, now_millis, scheduled_charge, AttemptState, Member, MemberCard,
};
use crate::http::client::ClientAddress;
use crate::http::{html, PageError};
use crate::members::Login;
use crate::AppState;

#[derive(Debug, serde::Deserialize)]
pub(super) struct NextQuery {
    #[serde(default)]
    next: String,
}

pub(super) async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<NextQuery>,
) -> PageResult {
    let visit = Visit::read(&state, &headers).await?;
    let next = safe_next(&query.next);
    if visit.session.member_id.is_some() {
        return Ok(visit.respond(see_other(next)));
    }
    let page = LoginPage {
        email: String::new(),
        next,
        errors: FormErrors::default(),
    };
    Ok(visit.respond(html::render(StatusCode::OK, &page)))
}

pub(super) async fn login_submit(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> PageResult {
    let mut visit = Visit::read(&state, &headers).await?;
    let email = field(&fields, "email").trim().to_owned();
    let next = safe_next(&field(&fields, "next"));
    let login =
        crate::members::authenticate(&state, client, &email, &field(&fields, "password")).await?;
    let member = match login {
        Login::Member(member) => member,
        refused => {
            let status = match refused {
                Login::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::UNAUTHORIZED,
            };
            let page = LoginPage {
                email,
                next,
                errors: FormErrors::general(refused.refusal().unwrap_or_default()),
            };
            return Ok(visit.respond(html::render(status, &page)));
        }
    };
    visit.rotate(&state).await?;
    visit
        .update(&state, |s| {
            s.member_id = Some(member.id);
            // Logging in means "use my account": the member's stored details replace what was
            // typed as a guest (the customer form shows them, to be checked or changed).
            s.customer = None;
            // The attempt remembers who bought: a new login needs a new attempt.
            s.changed();
        })
        .await?;
    Ok(visit.respond(see_other(next)))
}

pub(super) async fn logout(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let mut visit = Visit::read(&state, &headers).await?;
    visit.end(&state).await?;
    Ok(visit.respond(see_other("/")))
}

pub(super) async fn register_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<NextQuery>,
) -> PageResult {
    let visit = Visit::read(&state, &headers).await?;
    let page = RegisterPage {
        customer: visit.session.customer.clone().unwrap_or_default(),
        next: safe_next(&query.next),
        errors: FormErrors::default(),
    };
    Ok(visit.respond(html::render(StatusCode::OK, &page)))
}

pub(super) async fn register_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> PageResult {
    let mut visit = Visit::read(&state, &headers).await?;
    let next = safe_next(&field(&fields, "next"));
    let (details, mut errors) = submitted_customer(&fields);
    let password = field(&fields, "password");
    if password.chars().count() < 6 {
        errors.add("password", "パスワードは6文字以上で入力してください");
    } else if password != field(&fields, "password_confirm") {
        errors.add("password_confirm", "パスワード（確認）が一致しません");
    }
    let show = |visit: Visit, customer, errors| {
        let page = RegisterPage {
            customer,
            next,
            errors,
        };
        visit.respond(html::render(StatusCode::UNPROCESSABLE_ENTITY, &page))
    };
    if !errors.is_empty() {
        return Ok(show(visit, details, errors));
    }
    // Hashing takes tens of milliseconds of CPU on purpose: keep it off the async workers.
    let hash = tokio::task::spawn_blocking(move || crate::members::hash_password(&password))
        .await
        .map_err(|e| PageError::Unavailable(e.to_string()))?;
    let member = match state
        .store
        .create_member(&details.email, &hash, &details)
        .await
    {
        Ok(member) => member,
        Err(DbError::Conflict("members_email_key")) => {
            let mut errors = FormErrors::default();
            errors.add("email", "このメールアドレスはすでに登録されています");
            return Ok(show(visit, details, errors));
        }
        Err(error) => return Err(error.into()),
    };
    visit.rotate(&state).await?;
    visit
        .update(&state, |s| {
            s.member_id = Some(member.id);
            s.customer = Some(details);
            s.changed();
        })
        .await?;
    Ok(visit.respond(see_other(next)))
}

/// The logged-in member, or the login page to go to.
async fn require_member(
    state: &AppState,
    visit: &mut Visit,
    next: &str,
) -> Result<Result<Member, String>, DbError> {
    let login = format!("/login?next={next}");
    let Some(member_id) = visit.session.member_id else {
        return Ok(Err(login));
    };
    match state.store.member(member_id).await? {
        Some(member) => Ok(Ok(member)),
        None => {
            visit.end(state).await?;
            Ok(Err(login))
        }
    }
}

/// The cards the in-use modules keep for a member, by module id.
async fn member_cards(state: &AppState, member_id: i64) -> Result<Vec<MemberCard>, DbError> {
    let mut cards = Vec::new();
    for module_id in state.engine.states().keys() {
        if let Some(card) = state.store.member_card(member_id, module_id).await? {
            cards.push(card);
        }
    }
    Ok(cards)
}

pub(super) async fn mypage(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let mut visit = Visit::read(&state, &headers).await?;
    let member = match require_member(&state, &mut visit, "/mypage").await? {
        Ok(member) => member,
        Err(login) => return Ok(visit.respond(see_other(&login))),
    };
    let filter = OrderFilter {
        member_id: Some(member.id),
        ..OrderFilter::default()
    };
    let orders = state.store.orders(&filter, 100).await?;
    let today = local_date(now_millis());
    let contracts = state
        .store
        .contracts(Some(member.id), 100)
        .await?
        .into_iter()
        .map(|contract| {
            let running = contract.status == "continuation";
            // The gateway charges on the registered schedule by itself: show the next date of it.
            let next_charge = if running {
                scheduled_charge(&contract.next_charge, contract.interval_months, today)
                    .map(japanese_date)
                    .unwrap_or_else(|| contract.next_charge.clone())
            } else {
                "—".to_owned()
            };
            ContractRow {
                product_name: contract.product_name,
                amount: contract.amount,
                next_charge,
                status: if running { "継続中" } else { "停止" },
            }
        })
        .collect();
    let page = MyPage {
        member_id: member.id,
        name: member.details.full_name(),
        email: member.email,
        cards: member_cards(&state, member.id).await?,
        contracts,
        orders: orders.iter().map(OrderRow::from).collect(),
    };
    Ok(visit.respond(html::render(StatusCode::OK, &page)))
}

pub(super) async fn card_update_start(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> PageResult {
    let mut visit = Visit::read(&state, &headers).await?;
    let member = match require_member(&state, &mut visit, "/mypage").await? {
        Ok(member) => member,
        Err(login) => return Ok(visit.respond(see_other(&login))),
    };
    // マイページ names the module of the card to change; the host has no gateway to assume.
    let module_id = field(&fields, "module");
    if module_id.is_empty() {
        return Ok(visit.respond(PageError::BadRequest(
            "変更するクレジットカードを選んでください".to_owned(),
        )));
    }
    let started = match checkout::start_card_update(&state, member.id, &module_id).await {
        Ok(started) => started,
        Err(CheckoutError::NotFound) => {
            return Ok(visit.respond(PageError::NotFound(
                "クレジットカードの変更は現在ご利用いただけません".to_owned(),
            )))
        }
        Err(error) => return Err(error.into()),
    };
    visit
        .update(&state, |s| s.card_update_key = Some(started.link_key))
        .await?;
    let charset = started.form.charset;
    let page = CardUpdatePage {
        card: state.store.member_card(member.id, &module_id).await?,
        form: started.form,
    };
    Ok(visit.respond(html::render_in(charset, StatusCode::OK, &page)))
}

/// The gateway's browser return after a card change, a POST from the gateway's site: it carries no
/// SameSite=Lax cookie, so answer with a redirect to the GET page, which does (a top-level GET).
pub(super) async fn card_update_returned() -> Response {
    see_other("/mypage/card/done")
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct DoneQuery {
    #[serde(default)]
    n: u32,
}

/// How many times the result page looks again for a delayed notification before it stops.
const CARD_RESULT_LOOKS: u32 = 5;

/// The gateway sends the browser here after a card change. It only shows the result: the card itself
/// is changed by the gateway's notification, which may land a moment after the browser.
pub(super) async fn card_update_done(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<DoneQuery>,
) -> PageResult {
    let mut visit = Visit::read(&state, &headers).await?;
    let member = match require_member(&state, &mut visit, "/mypage").await? {
        Ok(member) => member,
        Err(login) => return Ok(visit.respond(see_other(&login))),
    };
    let updated = match &visit.session.card_update_key {
        Some(key) => state
            .store
            .attempt_by_link_key(key)
            .await?
            .is_some_and(|a| a.state == AttemptState::CardUpdated),
        None => false,
    };
    // A declined card comes back as the gateway's failure notification: stop waiting then.
    let declined = match &visit.session.card_update_key {
        Some(key) if !updated => {
            state.store.last_payment_event(key).await?.as_deref() == Some("payment_failed")
        }
        _ => false,
    };
    let result = if updated {
        CardResult::Updated {
            cards: member_cards(&state, member.id).await?,
        }
    } else if declined {
        CardResult::Declined
    } else if query.n < CARD_RESULT_LOOKS {
        CardResult::Waiting {
            next_look: query.n + 1,
        }
    } else {
        CardResult::GaveUp
    };
    Ok(visit.respond(html::render(StatusCode::OK, &CardDonePage { result })))
}
