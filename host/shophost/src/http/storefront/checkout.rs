//! The checkout steps after the cart: お客様情報, 発送・支払方法, 内容確認 and ご注文完了.
//!
//! 内容確認 is two requests, so that no GET stores anything: the GET shows the order priced and checked
//! by the attempt's rules ([`checkout::preview`], [`checkout::check_payment_start`]) with a button that
//! POSTs back; the POST stores the attempt, or reuses the session's, and answers with the gateway form.
//!
//! The customer is checked by the domain's one validator and the methods come from
//! [`checkout::methods_for_checkout`], exactly as the JSON checkout API does.

use std::collections::BTreeMap;

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use shophost_module_api::{SettlementKind, WireCharset};

use super::session::{Session, Visit};
use super::views::{
    AttemptSummary, Choice, CompletePage, ConfirmOutcome, ConfirmPage, ConfirmingPage,
    CustomerPage, CustomerSummary, DeliveryPage, FormErrors, MethodChoice, OptionChoice,
};
use super::{field, form_status, see_other, Fields, PageResult};
use crate::checkout::{
    self, AttemptDraft, CartInputLine, CheckoutError, CheckoutInput, CheckoutMethod, Confirmed,
    ReturnView,
};
use crate::db::DbError;
use crate::domain::{customer, Attempt, AttemptKind, AttemptState, CustomerDetails, MemberCard};
use crate::http::{html, PageError};
use crate::AppState;

// ---------------------------------------------------------------------------------------------------
// お客様情報
// ---------------------------------------------------------------------------------------------------

/// The customer form's fields, as typed.
fn read_customer(fields: &Fields) -> CustomerDetails {
    let text = |name: &str| field(fields, name);
    CustomerDetails {
        email: text("email"),
        family_name: text("family_name"),
        given_name: text("given_name"),
        family_kana: text("family_kana"),
        given_kana: text("given_kana"),
        postcode: text("postcode"),
        prefecture: text("prefecture"),
        address1: text("address1"),
        address2: text("address2"),
        address3: text("address3"),
        phone: text("phone"),
    }
}

/// The customer form's details, tidied, and what is wrong with them (member registration uses it too).
pub(super) fn submitted_customer(fields: &Fields) -> (CustomerDetails, FormErrors) {
    let details = customer::tidy(&read_customer(fields));
    let errors = FormErrors::from(customer::problems(&details));
    (details, errors)
}

pub(super) async fn customer_page(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let visit = Visit::read(&state, &headers).await?;
    if visit.session.cart.is_empty() {
        return Ok(visit.respond(see_other("/cart")));
    }
    let customer = match (&visit.session.customer, visit.session.member_id) {
        (Some(customer), _) => customer.clone(),
        (None, Some(member_id)) => state
            .store
            .member(member_id)
            .await?
            .map(|m| m.details)
            .unwrap_or_default(),
        (None, None) => CustomerDetails::default(),
    };
    Ok(render_customer(visit, customer, FormErrors::default()))
}

fn render_customer(visit: Visit, customer: CustomerDetails, errors: FormErrors) -> Response {
    let page = CustomerPage {
        member: visit.session.member_id.is_some(),
        customer,
        errors,
    };
    visit.respond(html::render(form_status(&page.errors), &page))
}

pub(super) async fn customer_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> PageResult {
    let mut visit = Visit::read(&state, &headers).await?;
    let (customer, errors) = submitted_customer(&fields);
    if !errors.is_empty() {
        return Ok(render_customer(visit, customer, errors));
    }
    visit
        .update(&state, |s| {
            if s.customer.as_ref() != Some(&customer) {
                s.customer = Some(customer);
                s.changed();
            }
        })
        .await?;
    Ok(visit.respond(see_other("/checkout/delivery")))
}

// ---------------------------------------------------------------------------------------------------
// 発送・支払方法
// ---------------------------------------------------------------------------------------------------

/// The form field of a method's checkout option.
fn option_field(method: &CheckoutMethod, key: &str) -> String {
    format!("opt_{}_{key}", method.id)
}

/// `ご登録のカード（…）でお支払いいただけます` for a member whose card the method's module keeps.
async fn saved_card_for(
    state: &AppState,
    member_id: Option<i64>,
    settlement_type: &str,
) -> Result<Option<MemberCard>, DbError> {
    let Some(member_id) = member_id else {
        return Ok(None);
    };
    let Some(provided) = state.engine.provided(settlement_type) else {
        return Ok(None);
    };
    // Only immediate (card) payments use a kept card.
    if provided.settlement_type.kind != SettlementKind::Immediate {
        return Ok(None);
    }
    state
        .store
        .member_card(member_id, provided.module.id())
        .await
}

/// What the shopper chose on the delivery page.
struct DeliveryChoice {
    payment_method_id: Option<i64>,
    options: BTreeMap<String, String>,
    note: String,
}

pub(super) async fn delivery_page(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let visit = Visit::read(&state, &headers).await?;
    if visit.session.cart.is_empty() {
        return Ok(visit.respond(see_other("/cart")));
    }
    if visit.session.customer.is_none() {
        return Ok(visit.respond(see_other("/checkout/customer")));
    }
    let choice = DeliveryChoice {
        payment_method_id: visit.session.payment_method_id,
        options: visit.session.options.clone(),
        note: visit.session.note.clone(),
    };
    render_delivery(&state, visit, &choice, FormErrors::default()).await
}

async fn render_delivery(
    state: &AppState,
    visit: Visit,
    choice: &DeliveryChoice,
    errors: FormErrors,
) -> PageResult {
    let mut methods = checkout::methods_for_checkout(state).await?;
    // A recurring item (継続課金) can only be paid with a method that registers the recurring charge.
    let products = state.store.products().await?;
    let recurring_cart = visit.session.cart.keys().any(|id| {
        products
            .iter()
            .any(|product| product.id == *id && product.recurrence.is_some())
    });
    if recurring_cart {
        methods.retain(|method| method.recurring);
    }
    let mut choices = Vec::new();
    for method in methods {
        let chosen = choice.payment_method_id == Some(method.id);
        let saved_card =
            saved_card_for(state, visit.session.member_id, &method.settlement_type).await?;
        let options = method
            .options
            .iter()
            .map(|option| {
                let picked = chosen.then(|| choice.options.get(&option.key)).flatten();
                OptionChoice {
                    field: option_field(&method, &option.key),
                    label: option.label.clone(),
                    choices: option
                        .choices
                        .iter()
                        .map(|(value, label)| Choice {
                            value: value.clone(),
                            label: label.clone(),
                            selected: picked == Some(value),
                        })
                        .collect(),
                }
            })
            .collect();
        choices.push(MethodChoice {
            id: method.id,
            name: method.name,
            explanation: method.explanation,
            notice: method.notice,
            checked: chosen,
            saved_card,
            options,
        });
    }
    let page = DeliveryPage {
        methods: choices,
        recurring_cart,
        note: choice.note.clone(),
        errors,
    };
    Ok(visit.respond(html::render(form_status(&page.errors), &page)))
}

pub(super) async fn delivery_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> PageResult {
    let mut visit = Visit::read(&state, &headers).await?;
    if visit.session.cart.is_empty() {
        return Ok(visit.respond(see_other("/cart")));
    }
    let methods = checkout::methods_for_checkout(&state).await?;
    let mut errors = FormErrors::default();
    let method = field(&fields, "payment_method")
        .parse::<i64>()
        .ok()
        .and_then(|id| methods.iter().find(|m| m.id == id));
    let mut options = BTreeMap::new();
    match method {
        None => errors.add("payment_method", "お支払方法を選んでください"),
        Some(method) => {
            for option in &method.options {
                let name = option_field(method, &option.key);
                let value = field(&fields, &name);
                if option.choices.iter().any(|(v, _)| *v == value) {
                    options.insert(option.key.clone(), value);
                } else {
                    errors.add(name, format!("{}を選んでください", option.label));
                }
            }
        }
    }
    let note = field(&fields, "note").trim().to_owned();
    if note.chars().count() > 1000 {
        errors.add("note", "備考は1000文字以内で入力してください");
    }
    let choice = DeliveryChoice {
        payment_method_id: method.map(|m| m.id),
        options,
        note,
    };
    if !errors.is_empty() {
        return render_delivery(&state, visit, &choice, errors).await;
    }
    visit
        .update(&state, |s| {
            if s.payment_method_id != choice.payment_method_id
                || s.options != choice.options
                || s.note != choice.note
            {
                s.payment_method_id = choice.payment_method_id;
                s.options = choice.options;
                s.note = choice.note;
                s.changed();
            }
        })
        .await?;
    Ok(visit.respond(see_other("/checkout/confirm")))
}

// ---------------------------------------------------------------------------------------------------
// 内容確認
// ---------------------------------------------------------------------------------------------------

/// The order in the session, as the checkout's input.
fn checkout_input(session: &Session) -> CheckoutInput {
    CheckoutInput {
        lines: session
            .cart
            .iter()
            .map(|(product_id, quantity)| CartInputLine {
                product_id: *product_id,
                quantity: *quantity,
            })
            .collect(),
        customer: session.customer.clone().unwrap_or_default(),
        payment_method_id: session.payment_method_id.unwrap_or_default(),
        note: session.note.clone(),
        options: session.options.clone(),
    }
}

/// The session's attempt, as the confirm step needs it.
enum SessionAttempt {
    /// Open: confirming uses it.
    Open(Box<Attempt>),
    /// Already an order (paid in another tab, or the shopper came back after paying).
    Ordered(String),
}

/// The session's attempt, read only (the session keeps it while nothing it was made from changes);
/// `None` when there is none, or none that confirming could use.
async fn stored_attempt(
    state: &AppState,
    session: &Session,
) -> Result<Option<SessionAttempt>, DbError> {
    let Some(link_key) = session.link_key.clone() else {
        return Ok(None);
    };
    let Some(attempt) = state.store.attempt_by_link_key(&link_key).await? else {
        return Ok(None);
    };
    Ok(match (attempt.kind, attempt.state) {
        (AttemptKind::Order, AttemptState::Open) => Some(SessionAttempt::Open(Box::new(attempt))),
        (AttemptKind::Order, AttemptState::Ordered) => Some(SessionAttempt::Ordered(link_key)),
        _ => None,
    })
}

/// The session's attempt if nothing changed since it was stored, otherwise a new one.
async fn current_attempt(
    state: &AppState,
    visit: &mut Visit,
) -> Result<SessionAttempt, CheckoutError> {
    if let Some(found) = stored_attempt(state, &visit.session).await? {
        return Ok(found);
    }
    let revision = visit.session.revision;
    let input = checkout_input(&visit.session);
    let attempt = checkout::create_attempt(state, &input, visit.session.member_id).await?;
    let kept = visit
        .update(state, |s| {
            if s.revision == revision && s.link_key.is_none() {
                s.link_key = Some(attempt.link_key.clone());
                true
            } else {
                false
            }
        })
        .await?;
    if !kept {
        // Another request of this shopper stored an attempt first: use that one, so the shopper has
        // one link key, not two.
        if let Some(SessionAttempt::Open(other)) = stored_attempt(state, &visit.session).await? {
            return Ok(SessionAttempt::Open(other));
        }
    }
    Ok(SessionAttempt::Open(Box::new(attempt)))
}

/// The order summary of the confirm page, from the attempt as stored or as it would be stored (what
/// will be charged).
fn order_summary(state: &AppState, draft: &AttemptDraft) -> AttemptSummary {
    let snapshot = &draft.snapshot;
    let provided = state.engine.provided(&draft.settlement_type);
    let settlement_type = provided.as_ref().map(|p| &p.settlement_type);
    let options = settlement_type
        .map(|t| t.checkout_options.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|option| {
            let value = snapshot.options.get(&option.key)?;
            let shown = option
                .choices
                .iter()
                .find(|(v, _)| v == value)
                .map_or(value, |(_, label)| label);
            Some((option.label.clone(), shown.clone()))
        })
        .collect();
    AttemptSummary {
        lines: snapshot.lines.clone(),
        totals: snapshot.totals(),
        customer: CustomerSummary::from(&snapshot.customer),
        payment_method: draft.payment_method_name.clone(),
        notice: settlement_type.and_then(|t| t.notice.clone()),
        options,
        note_lines: if snapshot.note.is_empty() {
            Vec::new()
        } else {
            snapshot.note.split('\n').map(str::to_owned).collect()
        },
    }
}

/// The confirm page when the order cannot go to the gateway: the message, and where to fix it.
fn confirm_refused(visit: Visit, message: String, summary: Option<AttemptSummary>) -> Response {
    let page = ConfirmPage {
        charset: WireCharset::Utf8.http_name(),
        summary,
        outcome: ConfirmOutcome::Refused(message),
    };
    visit.respond(html::render(StatusCode::OK, &page))
}

/// Where a shopper who skipped a step of the checkout belongs, if they did.
fn missing_step(session: &Session) -> Option<&'static str> {
    if session.cart.is_empty() {
        Some("/cart")
    } else if session.customer.is_none() {
        Some("/checkout/customer")
    } else if session.payment_method_id.is_none() {
        Some("/checkout/delivery")
    } else {
        None
    }
}

/// `?changed=1`: the shopper confirmed a page that no longer showed the session's order.
#[derive(Debug, serde::Deserialize)]
pub(super) struct ConfirmQuery {
    changed: Option<String>,
}

/// 内容確認 (GET): the order as it will be confirmed, priced and checked by the rules of the attempt,
/// and a button that confirms it. Showing the page stores nothing.
pub(super) async fn confirm_page(
    State(state): State<AppState>,
    Query(query): Query<ConfirmQuery>,
    headers: HeaderMap,
) -> PageResult {
    let visit = Visit::read(&state, &headers).await?;
    if let Some(step) = missing_step(&visit.session) {
        return Ok(visit.respond(see_other(step)));
    }
    let draft = match stored_attempt(&state, &visit.session).await? {
        // The completion page starts a new cart once it shows the order.
        Some(SessionAttempt::Ordered(link_key)) => {
            return Ok(visit.respond(see_other(&format!("/checkout/complete/{link_key}"))))
        }
        // Confirming will reuse the stored attempt: show what it charges.
        Some(SessionAttempt::Open(attempt)) => AttemptDraft::from(&*attempt),
        None => {
            let input = checkout_input(&visit.session);
            match checkout::preview(&state, &input, visit.session.member_id).await {
                Ok(draft) => draft,
                Err(CheckoutError::Input(message) | CheckoutError::Invalid { message, .. }) => {
                    return Ok(confirm_refused(visit, message, None))
                }
                Err(error) => return Err(error.into()),
            }
        }
    };
    let summary = order_summary(&state, &draft);
    match checkout::check_payment_start(&state, &draft).await {
        Ok(()) => {}
        Err(CheckoutError::Input(message)) => {
            return Ok(confirm_refused(visit, message, Some(summary)))
        }
        Err(error) => return Err(error.into()),
    }
    let page = ConfirmPage {
        charset: WireCharset::Utf8.http_name(),
        summary: Some(summary),
        outcome: ConfirmOutcome::Review {
            revision: visit.session.revision,
            changed: query.changed.is_some(),
        },
    };
    Ok(visit.respond(html::render(StatusCode::OK, &page)))
}

/// 内容確認 (POST, the page's button): stores the attempt, or reuses the session's, and answers with
/// the page carrying the gateway form in the gateway's charset; a zero total completes at once.
pub(super) async fn confirm_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> PageResult {
    let mut visit = Visit::read(&state, &headers).await?;
    if let Some(step) = missing_step(&visit.session) {
        return Ok(visit.respond(see_other(step)));
    }
    // The button confirms the order its page showed. When the cart, the customer, the method or the
    // login changed since (in another tab), the shopper sees the order as it is now first.
    if field(&fields, "revision") != visit.session.revision.to_string() {
        return Ok(visit.respond(see_other("/checkout/confirm?changed=1")));
    }
    let attempt = match current_attempt(&state, &mut visit).await {
        Ok(SessionAttempt::Open(attempt)) => attempt,
        Ok(SessionAttempt::Ordered(link_key)) => {
            return Ok(visit.respond(see_other(&format!("/checkout/complete/{link_key}"))));
        }
        Err(CheckoutError::Input(message) | CheckoutError::Invalid { message, .. }) => {
            return Ok(confirm_refused(visit, message, None))
        }
        Err(error) => return Err(error.into()),
    };
    let summary = || order_summary(&state, &AttemptDraft::from(&*attempt));
    match checkout::confirm(&state, &attempt.link_key).await {
        Ok(Confirmed::Redirect(form)) => {
            let charset = form.charset;
            let page = ConfirmPage {
                charset: charset.http_name(),
                summary: Some(summary()),
                outcome: ConfirmOutcome::Purchase(form),
            };
            Ok(visit.respond(html::render_in(charset, StatusCode::OK, &page)))
        }
        Ok(Confirmed::Completed(order)) => {
            visit
                .update(&state, |s| s.order_placed_for(&order.link_key))
                .await?;
            Ok(visit.respond(see_other(&format!("/checkout/complete/{}", order.link_key))))
        }
        Err(CheckoutError::Input(message)) => Ok(confirm_refused(visit, message, Some(summary()))),
        Err(CheckoutError::NotFound) => {
            // The order was created between reading the attempt and building the form.
            Ok(visit.respond(see_other(&format!(
                "/checkout/complete/{}",
                attempt.link_key
            ))))
        }
        Err(error) => Err(error.into()),
    }
}

// ---------------------------------------------------------------------------------------------------
// ご注文完了
// ---------------------------------------------------------------------------------------------------

pub(super) async fn complete(
    State(state): State<AppState>,
    Path(link_key): Path<String>,
    headers: HeaderMap,
) -> PageResult {
    let mut visit = Visit::read(&state, &headers).await?;
    let view = checkout::view_for(&state, &link_key).await;
    if matches!(view, Ok(ReturnView::Completed(_)))
        && visit.session.link_key.as_deref() == Some(link_key.as_str())
    {
        visit
            .update(&state, |s| s.order_placed_for(&link_key))
            .await?;
    }
    let not_found = || PageError::NotFound("ご注文が見つかりません".to_owned());
    let response = match view {
        Ok(ReturnView::Completed(order)) => {
            html::render(StatusCode::OK, &CompletePage::from(&order))
        }
        Ok(ReturnView::Confirming(_)) => html::render(StatusCode::OK, &ConfirmingPage),
        Ok(ReturnView::Failed(message)) => html::payment_failed_page(&message),
        Ok(ReturnView::Cancelled(_)) | Err(CheckoutError::NotFound) => {
            return Ok(visit.respond(not_found()))
        }
        Err(error) => return Ok(visit.respond(PageError::from(error))),
    };
    Ok(visit.respond(response))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_customer_form_is_read_tidied_and_checked_by_the_domain() {
        let fields: Fields = [
            ("family_name", " 山田 "),
            ("given_name", "太郎"),
            ("email", "taro@example.jp"),
            ("postcode", "１００－０００１"),
            ("prefecture", "東京都"),
            ("address1", "千代田区千代田"),
            ("phone", "03"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let (details, errors) = submitted_customer(&fields);
        assert_eq!(details.family_name, "山田");
        assert_eq!(details.postcode, "100-0001");
        assert_eq!(
            errors.for_field("phone"),
            ["電話番号は10桁または11桁の数字で入力してください（例: 03-1234-5678）"]
        );
        assert_eq!(errors.messages().len(), 1);
    }
}
