//! Checkout: turning a cart, a customer and a payment method into a stored attempt with a link key, and
//! the attempt into the gateway redirect; and reading the shopper's browser when it comes back.
//!
//! The attempt (the 決済直前ログ) is stored before any redirect page is shown, with a link key drawn
//! from the operating system's CSPRNG; the database's unique constraint is the final word on uniqueness.
//! Building the redirect again for the same attempt gives the same link key: one key per attempt, not
//! per page view.
//!
//! Looking stores nothing: [`preview`] applies the rules of [`create_attempt`] without storing, and
//! [`check_payment_start`] finds what [`confirm`] would refuse (a settlement type no longer provided, a
//! value the gateway's charset cannot carry) without taking the step. The storefront's confirm page
//! shows those on GET; only the shopper's POST stores the attempt.

use std::collections::BTreeMap;

use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use shophost_module_api::{
    CardUpdateRequest, LineItem, LinkKeySpec, MemberRef, PaymentStart, PaymentStartError,
    PaymentStartRequest, Recurrence, RecurringCharge, RedirectForm, ReturnKind, ReturnUrls,
};

use crate::db::{DbError, NewAttempt};
/// An order's sums with the consumption tax per rate: written once, in `domain` (see
/// [`crate::domain::Totals`]).
pub use crate::domain::Totals;
use crate::domain::{
    charset, customer, local_date, now_millis, Attempt, AttemptKind, AttemptSnapshot, AttemptState,
    CartLine, CartRecurrence, CustomerDetails, Order, PaymentStatus,
};
use crate::engine::ProvidedType;
use crate::AppState;

/// What a shopper (or a headless storefront) submits to start a checkout.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct CheckoutInput {
    /// Cart lines.
    pub lines: Vec<CartInputLine>,
    /// Customer details.
    pub customer: CustomerDetails,
    /// Chosen payment method.
    pub payment_method_id: i64,
    /// 備考.
    #[serde(default)]
    pub note: String,
    /// Checkout options (e.g. `div` for installments).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// One cart line as submitted.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct CartInputLine {
    /// Product.
    pub product_id: i64,
    /// Quantity.
    pub quantity: i64,
}

/// Why a checkout cannot go on; messages are for the shopper, in Japanese.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    /// Something the shopper entered is wrong.
    #[error("{0}")]
    Input(String),
    /// What the shopper entered fails the checks field by field (the customer's details): every
    /// message joined, and each by its field's JSON name.
    #[error("{message}")]
    Invalid {
        /// Every message, joined.
        message: String,
        /// `(field, message)`, in the validator's order.
        fields: Vec<(String, String)>,
    },
    /// No such attempt (or not one that can be paid).
    #[error("お支払い手続きが見つかりません")]
    NotFound,
    /// Storage failed.
    #[error("ただいま混み合っています。しばらくしてからもう一度お試しください")]
    Unavailable(#[from] DbError),
    /// The gateway module panicked; the detail is logged, the shopper is asked to try again later.
    #[error("ただいまお支払い手続きができません。しばらくしてからもう一度お試しください")]
    ModuleFailed(#[from] crate::guard::ModulePanic),
}

/// How to go on after the confirm step.
#[derive(Debug, Clone, PartialEq, Eq)]
// Built once per request and matched at once; boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Confirmed {
    /// Send the shopper to the gateway with this form.
    Redirect(RedirectForm),
    /// A zero-total order: created at once, no gateway.
    Completed(Order),
}

/// A payment method a shopper can choose now, as the checkout API lists it and the storefront's delivery
/// page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckoutMethod {
    /// The payment method's id.
    pub id: i64,
    /// Its name (支払方法).
    pub name: String,
    /// The operator's explanation: HTML, sanitised when the operator saved it.
    pub explanation: String,
    /// The settlement type it pays with.
    pub settlement_type: String,
    /// The settlement type's label.
    pub settlement_label: String,
    /// What the module tells shoppers about it (e.g. the payment deadline), if anything.
    pub notice: Option<String>,
    /// The choices the shopper makes for it (e.g. `div`, installments).
    pub options: Vec<CheckoutMethodOption>,
    /// Whether it takes a recurring (継続課金) item.
    pub recurring: bool,
}

/// A choice a payment method asks for at checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckoutMethodOption {
    /// The key the chosen value is sent under, e.g. `div`.
    pub key: String,
    /// The label, e.g. `お支払回数`.
    pub label: String,
    /// `(value, label)` pairs; the first is the default.
    pub choices: Vec<(String, String)>,
}

/// The methods a shopper can choose now: in use (使用), settlement type provided, in the operator's
/// order.
pub async fn methods_for_checkout(state: &AppState) -> Result<Vec<CheckoutMethod>, DbError> {
    let mut methods = Vec::new();
    for method in state.store.payment_methods().await? {
        if !method.active {
            continue;
        }
        let Some(provided) = state.engine.provided(&method.settlement_type) else {
            continue;
        };
        let settlement_type = &provided.settlement_type;
        methods.push(CheckoutMethod {
            id: method.id,
            name: method.name,
            explanation: method.explanation,
            settlement_type: method.settlement_type,
            settlement_label: settlement_type.label.clone(),
            notice: settlement_type.notice.clone(),
            options: settlement_type
                .checkout_options
                .iter()
                .map(|option| CheckoutMethodOption {
                    key: option.key.clone(),
                    label: option.label.clone(),
                    choices: option.choices.clone(),
                })
                .collect(),
            recurring: settlement_type.recurring,
        });
    }
    Ok(methods)
}

/// Draws a link key: `digits` decimal digits, never starting with 0, from the OS CSPRNG.
pub fn new_link_key(spec: &LinkKeySpec) -> String {
    let mut rng = OsRng;
    let mut key = String::with_capacity(spec.digits);
    while key.len() < spec.digits {
        // Rejection sampling keeps every digit uniform.
        let byte = (rng.next_u32() & 0xff) as u8;
        if byte >= 250 {
            continue;
        }
        let digit = byte % 10;
        if key.is_empty() && digit == 0 {
            continue;
        }
        key.push(char::from(b'0' + digit));
    }
    key
}

/// A card-update link key: the module's card-update prefix and random digits, as many as the module's link-key length allows (at most 10).
pub fn new_card_update_key(spec: &LinkKeySpec) -> String {
    let prefix = spec.card_update_prefix.unwrap_or("");
    let rest = LinkKeySpec {
        digits: spec.digits.saturating_sub(prefix.len()).clamp(1, 10),
        card_update_prefix: None,
    };
    format!("{prefix}{}", new_link_key(&rest))
}

/// An order as [`create_attempt`] would store it: checked and priced, not stored. The storefront's
/// confirm page shows it before the shopper confirms; a stored attempt converts into one too
/// (`AttemptDraft::from`), so both are checked and shown the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptDraft {
    /// The gateway module.
    pub module_id: String,
    /// The settlement type.
    pub settlement_type: String,
    /// The payment method's id.
    pub payment_method_id: Option<i64>,
    /// The payment method's name (支払方法) at the time.
    pub payment_method_name: String,
    /// The logged-in member, if any.
    pub member_id: Option<i64>,
    /// Lines, customer, sums, 備考 and options: what the attempt stores.
    pub snapshot: AttemptSnapshot,
    /// When it was priced (for a stored attempt, when it was stored), in Unix milliseconds: the gateway
    /// form's "today".
    pub priced_at: i64,
}

impl From<&Attempt> for AttemptDraft {
    fn from(attempt: &Attempt) -> Self {
        AttemptDraft {
            module_id: attempt.module_id.clone(),
            settlement_type: attempt.settlement_type.clone(),
            payment_method_id: attempt.payment_method_id,
            payment_method_name: attempt.payment_method_name.clone(),
            member_id: attempt.member_id,
            snapshot: attempt.snapshot.clone(),
            priced_at: attempt.created_at,
        }
    }
}

/// The attempt [`create_attempt`] would store for this input, by the same rules (customer, payment
/// method, catalogue prices and quantities, 継続課金, options), with nothing stored.
pub async fn preview(
    state: &AppState,
    input: &CheckoutInput,
    member_id: Option<i64>,
) -> Result<AttemptDraft, CheckoutError> {
    Ok(priced(state, input, member_id).await?.0)
}

/// Validates the input, prices the cart from the catalogue and stores the attempt with a fresh link key.
pub async fn create_attempt(
    state: &AppState,
    input: &CheckoutInput,
    member_id: Option<i64>,
) -> Result<Attempt, CheckoutError> {
    let (draft, provided) = priced(state, input, member_id).await?;
    let spec = provided.link_key_spec;
    for _ in 0..5 {
        let attempt = NewAttempt {
            link_key: new_link_key(&spec),
            kind: AttemptKind::Order,
            module_id: draft.module_id.clone(),
            settlement_type: draft.settlement_type.clone(),
            payment_method_id: draft.payment_method_id,
            payment_method_name: draft.payment_method_name.clone(),
            member_id: draft.member_id,
            snapshot: draft.snapshot.clone(),
        };
        match state.store.create_attempt(&attempt).await {
            Err(DbError::Conflict("checkout_attempts_link_key_key")) => continue,
            other => return Ok(other?),
        }
    }
    Err(CheckoutError::Unavailable(DbError::Conflict(
        "checkout_attempts_link_key_key",
    )))
}

/// The rules of an order attempt, once: checks the input and prices the cart from the catalogue; reads,
/// never writes. Returns the draft and the settlement type's provider.
async fn priced(
    state: &AppState,
    input: &CheckoutInput,
    member_id: Option<i64>,
) -> Result<(AttemptDraft, ProvidedType), CheckoutError> {
    if input.lines.is_empty() {
        return Err(CheckoutError::Input("カートに商品がありません".to_owned()));
    }
    let customer = customer::tidy(&input.customer);
    let problems = customer::problems(&customer);
    if !problems.is_empty() {
        // Every problem at once, as the storefront's form shows them, each by its field.
        let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        return Err(CheckoutError::Invalid {
            message: messages.join("。"),
            fields: problems
                .iter()
                .map(|p| (p.field.to_owned(), p.message.clone()))
                .collect(),
        });
    }
    let method = state
        .store
        .payment_method(input.payment_method_id)
        .await?
        .filter(|m| m.active)
        .ok_or_else(|| CheckoutError::Input("お支払方法を選んでください".to_owned()))?;
    let provided = provided_for(state, &method.settlement_type)?;
    let priced_at = now_millis();
    let mut lines = Vec::new();
    for line in &input.lines {
        if !(1..=99).contains(&line.quantity) {
            return Err(CheckoutError::Input(
                "数量は1から99までで指定してください".to_owned(),
            ));
        }
        let product = state
            .store
            .product(line.product_id)
            .await?
            .ok_or_else(|| CheckoutError::Input("カートの商品が見つかりません".to_owned()))?;
        if !product.active {
            return Err(CheckoutError::Input(format!(
                "「{}」は現在販売しておりません",
                product.name
            )));
        }
        let today = local_date(priced_at);
        lines.push(CartLine {
            product_id: product.id,
            name: product.name,
            unit_price: product.price,
            quantity: line.quantity,
            tax_rate: product.tax_class.rate(),
            recurring: product.recurrence.map(|recurrence| CartRecurrence {
                product: recurrence,
                next_charge: recurrence
                    .first_charge(today)
                    .yyyymmdd()
                    .parse()
                    .unwrap_or_default(),
            }),
        });
    }
    // A recurring product (継続課金) is bought alone, once, by a member, with a settlement type that can
    // register the recurring charge — as WCEX DL Seller requires.
    if lines.iter().any(|line| line.recurring.is_some()) {
        if lines.len() != 1 || lines[0].quantity != 1 {
            return Err(CheckoutError::Input(
                "継続課金の商品は、ほかの商品と別に1点ずつご注文ください".to_owned(),
            ));
        }
        if member_id.is_none() {
            return Err(CheckoutError::Input(
                "継続課金の商品のご購入には会員ログインが必要です".to_owned(),
            ));
        }
        if !provided.settlement_type.recurring {
            return Err(CheckoutError::Input(format!(
                "継続課金の商品は「{}」ではお支払いいただけません",
                method.name
            )));
        }
    }
    let totals = Totals::of(&lines, state.config.shop.shipping);
    let mut options = BTreeMap::new();
    for option in &provided.settlement_type.checkout_options {
        let chosen = input.options.get(&option.key).cloned();
        let value = match chosen {
            Some(value) if option.choices.iter().any(|(v, _)| *v == value) => value,
            Some(_) => {
                return Err(CheckoutError::Input(format!(
                    "{}の選択が正しくありません",
                    option.label
                )))
            }
            None => option
                .choices
                .first()
                .map(|(v, _)| v.clone())
                .unwrap_or_default(),
        };
        options.insert(option.key.clone(), value);
    }
    let draft = AttemptDraft {
        module_id: provided.module.id().to_owned(),
        settlement_type: method.settlement_type.clone(),
        payment_method_id: Some(method.id),
        payment_method_name: method.name.clone(),
        member_id,
        snapshot: AttemptSnapshot {
            lines,
            customer,
            items_total: totals.items,
            shipping: totals.shipping,
            total: totals.total,
            tax: totals.tax,
            note: input.note.clone(),
            options,
        },
        priced_at,
    };
    Ok((draft, provided))
}

/// The provider of a settlement type a shopper pays with, or the shopper's message when it is gone.
fn provided_for(state: &AppState, settlement_type: &str) -> Result<ProvidedType, CheckoutError> {
    state
        .engine
        .provided(settlement_type)
        .ok_or_else(|| CheckoutError::Input("このお支払方法は現在ご利用いただけません".to_owned()))
}

/// The URLs the gateway sends the browser back to for a settlement type.
pub fn return_urls(state: &AppState, settlement_type: &str) -> ReturnUrls {
    let base = &state.config.public_url;
    ReturnUrls {
        success: format!(
            "{base}/return/{settlement_type}/{}",
            ReturnKind::Success.as_str()
        ),
        failure: format!(
            "{base}/return/{settlement_type}/{}",
            ReturnKind::Failure.as_str()
        ),
        cancel: format!(
            "{base}/return/{settlement_type}/{}",
            ReturnKind::Cancel.as_str()
        ),
    }
}

/// Checks that every value of a form can be sent in its charset; the error names the shopper's field.
pub fn check_representable(form: &RedirectForm) -> Result<(), CheckoutError> {
    for field in &form.fields {
        if let Some(bad) = charset::unrepresentable(form.charset, &field.value) {
            let label = field.label.clone().unwrap_or_else(|| field.name.clone());
            return Err(CheckoutError::Input(format!(
                "{label}に決済会社へ送れない文字（{bad}）が含まれています。別の文字に置き換えてください"
            )));
        }
    }
    Ok(())
}

/// The confirm step: builds the gateway redirect for an open attempt, or completes a zero-total order.
pub async fn confirm(state: &AppState, link_key: &str) -> Result<Confirmed, CheckoutError> {
    let attempt = state
        .store
        .attempt_by_link_key(link_key)
        .await?
        .ok_or(CheckoutError::NotFound)?;
    if attempt.kind != AttemptKind::Order || attempt.state != AttemptState::Open {
        return Err(CheckoutError::NotFound);
    }
    let provided = provided_for(state, &attempt.settlement_type)?;
    if attempt.total == 0 {
        // Nothing to charge: skip the gateway (as Welcart does for a zero total).
        let order = state
            .store
            .recover_attempt(
                link_key,
                PaymentStatus::Paid,
                &provided.settlement_type.label,
                "0円のため決済なし",
            )
            .await?;
        return Ok(Confirmed::Completed(order));
    }
    let form = gateway_form(
        state,
        &provided,
        &attempt.link_key,
        &AttemptDraft::from(&attempt),
    )
    .await?;
    Ok(Confirmed::Redirect(form))
}

/// Whether the confirm step would send this draft (or stored attempt) to its gateway now, without
/// taking the step: its settlement type is still provided and every value of the gateway form fits the
/// form's charset. The module builds the form for a link key drawn as the attempt's would be, and the
/// form is dropped: modules are translators without effects, and nothing is stored. A zero total needs
/// no gateway.
pub async fn check_payment_start(
    state: &AppState,
    draft: &AttemptDraft,
) -> Result<(), CheckoutError> {
    let provided = provided_for(state, &draft.settlement_type)?;
    if draft.snapshot.total == 0 {
        return Ok(());
    }
    let link_key = new_link_key(&provided.link_key_spec);
    gateway_form(state, &provided, &link_key, draft).await?;
    Ok(())
}

/// The gateway form for an order under `link_key`, checked against its charset. Reads the member's
/// kept card; stores nothing.
async fn gateway_form(
    state: &AppState,
    provided: &ProvidedType,
    link_key: &str,
    draft: &AttemptDraft,
) -> Result<RedirectForm, CheckoutError> {
    let member = match draft.member_id {
        Some(member_id) => Some(MemberRef {
            member_id,
            card: state
                .store
                .member_card(member_id, provided.module.id())
                .await?
                .map(|card| shophost_module_api::CardOnFile {
                    token: card.token,
                    last4: card.last4,
                    expiry: card.expiry,
                }),
        }),
        None => None,
    };
    let snapshot = &draft.snapshot;
    let request = PaymentStartRequest {
        settlement_type: draft.settlement_type.clone(),
        link_key: link_key.to_owned(),
        total: snapshot.total,
        tax: Some(snapshot.tax),
        items: snapshot
            .lines
            .iter()
            .map(|l| LineItem {
                name: l.name.clone(),
                unit_price: l.unit_price,
                quantity: l.quantity,
                recurring: l.recurring.and_then(|recurring| {
                    Some(Recurrence {
                        interval_months: recurring.product.interval_months,
                        next_charge: recurring.next_charge_date()?,
                    })
                }),
            })
            .collect(),
        customer: snapshot.customer.to_module(),
        member,
        note: snapshot.note.clone(),
        options: snapshot.options.clone(),
        urls: return_urls(state, &draft.settlement_type),
        today: local_date(draft.priced_at),
    };
    let start = crate::guard::module_call_async(provided.module.id(), "start_payment", || {
        provided.module.start_payment(&provided.config, &request)
    })
    .await?
    .map_err(|error| match error {
        PaymentStartError::Input(message) => CheckoutError::Input(message),
        other => CheckoutError::Input(format!("お支払いを開始できません（{other}）")),
    })?;
    let PaymentStart::Redirect(form) = start;
    check_representable(&form)?;
    Ok(form)
}

/// A started card change: the card-update attempt's link key and the form that sends the member to the
/// gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardUpdateStart {
    /// The card-update attempt's link key (what the gateway's notification will name).
    pub link_key: String,
    /// The gateway form.
    pub form: RedirectForm,
}

/// Starts a member's card change (PayQuick カード変更) for a module: stores a card-update attempt and
/// returns its link key with the gateway form.
pub async fn start_card_update(
    state: &AppState,
    member_id: i64,
    module_id: &str,
) -> Result<CardUpdateStart, CheckoutError> {
    let module_state = state
        .engine
        .states()
        .get(module_id)
        .cloned()
        .ok_or(CheckoutError::NotFound)?;
    let config = module_state.config.clone().ok_or(CheckoutError::NotFound)?;
    let module = module_state.registered.module.clone();
    let member = state
        .store
        .member(member_id)
        .await?
        .ok_or(CheckoutError::NotFound)?;
    let card = state.store.member_card(member_id, module_id).await?;
    let settlement_type = module_state
        .settlement_types
        .iter()
        .find(|t| t.kind == shophost_module_api::SettlementKind::Immediate)
        .map(|t| t.id.clone())
        .ok_or(CheckoutError::NotFound)?;
    let spec = module_state.link_key_spec;
    let snapshot = AttemptSnapshot {
        lines: Vec::new(),
        customer: member.details.clone(),
        items_total: 0,
        shipping: 0,
        total: 0,
        tax: 0,
        note: String::new(),
        options: BTreeMap::new(),
    };
    let mut attempt = None;
    for _ in 0..5 {
        let new = NewAttempt {
            link_key: new_card_update_key(&spec),
            kind: AttemptKind::CardUpdate,
            module_id: module_id.to_owned(),
            settlement_type: settlement_type.clone(),
            payment_method_id: None,
            payment_method_name: "カード情報の更新".to_owned(),
            member_id: Some(member_id),
            snapshot: snapshot.clone(),
        };
        match state.store.create_attempt(&new).await {
            Err(DbError::Conflict("checkout_attempts_link_key_key")) => continue,
            other => {
                attempt = Some(other?);
                break;
            }
        }
    }
    let attempt = attempt.ok_or(CheckoutError::NotFound)?;
    // A subscriber's recurring charge moves to the new card too (the newest one still running; a
    // gateway form carries one).
    let recurring = state
        .store
        .contracts(Some(member_id), 100)
        .await?
        .into_iter()
        .find(|contract| contract.module_id == module_id && contract.status == "continuation")
        .and_then(|contract| {
            Some(RecurringCharge {
                gateway_id: contract.gateway_id?,
                amount: contract.amount,
            })
        });
    let request = CardUpdateRequest {
        link_key: attempt.link_key.clone(),
        member: MemberRef {
            member_id,
            card: card.map(|c| shophost_module_api::CardOnFile {
                token: c.token,
                last4: c.last4,
                expiry: c.expiry,
            }),
        },
        email: member.email.clone(),
        customer: member.details.to_module(),
        recurring,
        urls: ReturnUrls {
            success: format!("{}/mypage/card/done", state.config.public_url),
            failure: format!("{}/mypage/card/done", state.config.public_url),
            cancel: format!("{}/mypage", state.config.public_url),
        },
        today: local_date(attempt.created_at),
    };
    let PaymentStart::Redirect(form) =
        crate::guard::module_call_async(module_id, "start_card_update", || {
            module.start_card_update(&config, &request)
        })
        .await?
        .map_err(|e| CheckoutError::Input(format!("カード情報の更新を開始できません（{e}）")))?;
    check_representable(&form)?;
    Ok(CardUpdateStart {
        link_key: attempt.link_key,
        form,
    })
}

mod returns;

pub use returns::{handle_return, view_for, ReturnView};
