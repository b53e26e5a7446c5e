//! What an inbound request does to the store, decided in plain Rust from what was read.
//!
//! Applying a gateway signal is three steps: read the attempt with everything the decision needs
//! ([`Loaded`]: the attempt, whether the signal's event key is recorded and for which link key, and the
//! attempt's order), decide ([`decide`], no I/O), and write the [`Change`]s and the journal [`Entry`].
//! Because deciding reads nothing, each backend writes the way it is fastest at: the SQLite writer
//! (`sqlite/round.rs`) reads and writes a whole round of requests in two round trips of fixed text;
//! the PostgreSQL writer (`postgres/round.rs`) does the same under row locks taken in id order, so
//! several host processes agree, and retries a failed batch one request per transaction
//! (`postgres/statements.rs`). The response journaled with the entry is one of the [`Responses`]
//! the caller worked out before storage: deciding runs no module code.

use shophost_module_api::{
    CardOnFile, Notification, Refusal, SettlementKind, Signal, WireResponse,
};

use super::{ApplyContext, InboundRecord, Intent, Recorded, Responses, Verdict};
use crate::domain::{
    local_date, Attempt, AttemptKind, AttemptState, CartRecurrence, PaymentStatus, StoredSlip,
};

/// What was read about one signal's attempt.
#[derive(Debug, Clone)]
pub(super) struct Loaded {
    pub attempt: Attempt,
    /// The link key the signal's dedup key is already recorded for.
    pub recorded_for: Option<String>,
    /// The attempt's order: id, status, number.
    pub order: Option<(i64, PaymentStatus, String)>,
    /// The order's transaction id, when it has one.
    pub order_transaction_id: Option<String>,
    /// Whether a success notification was accepted for this link key before. An immediate payment's
    /// order without one was registered by the operator from the 決済直前ログ (受注データ登録), and
    /// the first verified success confirms it rather than counting as a second payment.
    pub succeeded_before: bool,
}

/// A change to make, decided before writing.
#[derive(Debug, Clone)]
pub(super) enum Change {
    /// Create the attempt's order and move the attempt to `ordered`.
    CreateOrder(NewOrder),
    /// Register the recurring charge the new order's payment set up (継続課金の契約), for the order the
    /// [`Change::CreateOrder`] before it creates.
    CreateContract(NewContract),
    /// Flag an order 要確認.
    FlagOrder { order_id: i64, attention: String },
    /// Add the payment slip to an order made by an earlier receipt.
    AddSlip {
        order_id: i64,
        slip: StoredSlip,
        transaction_id: String,
    },
    /// Move an order's status, guarded by the status it must have now, with a history entry.
    Transition {
        order_id: i64,
        from: PaymentStatus,
        to: PaymentStatus,
        attention: Option<&'static str>,
        reason: &'static str,
    },
    /// Confirm an order the operator registered (受注データ登録) with the gateway's verified success:
    /// its transaction id (unless one was given), a history entry, and the status moved from `from`
    /// to `to` (the same, or 仮売上 to 売上), guarded like [`Change::Transition`].
    ConfirmRegistered {
        order_id: i64,
        from: PaymentStatus,
        to: PaymentStatus,
        transaction_id: String,
        reason: &'static str,
    },
    /// Keep the member's card.
    UpsertCard { member_id: i64, card: CardOnFile },
    /// The card-update attempt is done.
    CardUpdated,
}

/// The order a [`Change::CreateOrder`] creates (the rest of its row comes from the attempt).
#[derive(Debug, Clone)]
pub(super) struct NewOrder {
    pub status: PaymentStatus,
    pub label: String,
    pub transaction_id: Option<String>,
    pub slip: Option<StoredSlip>,
    /// The first line of its history.
    pub reason: String,
    pub number: String,
    /// 要確認 from the start, with why.
    pub attention: Option<String>,
}

/// The recurring contract a [`Change::CreateContract`] registers.
#[derive(Debug, Clone)]
pub(super) struct NewContract {
    /// The gateway's id for it, when reported.
    pub gateway_id: Option<String>,
    pub member_id: i64,
    pub product_name: String,
    pub amount: i64,
    pub recurrence: CartRecurrence,
}

/// What a request came to, and the changes that make it so.
#[derive(Debug, Clone)]
pub(super) struct Decision {
    pub verdict: Verdict,
    /// The settlement type of the attempt, when one was found.
    pub settlement_type: Option<String>,
    pub order_number: Option<String>,
    /// The event kind to claim the signal's dedup key with (accepted signals only).
    pub claim: Option<&'static str>,
    pub writes: Vec<Change>,
    /// A line for the 決済エラーログ: result and link key.
    pub error_log: Option<(String, Option<String>)>,
}

impl Decision {
    fn refused(refusal: Refusal, reason: String, link_key: Option<String>) -> Self {
        Decision {
            error_log: Some((reason.clone(), link_key)),
            verdict: Verdict::Refused { refusal, reason },
            settlement_type: None,
            order_number: None,
            claim: None,
            writes: Vec::new(),
        }
    }

    /// The decision for a request the host refused before storage.
    pub fn for_refusal(refusal: Refusal, reason: &str, link_key: Option<&str>) -> Self {
        Decision::refused(refusal, reason.to_owned(), link_key.map(str::to_owned))
    }
}

fn signal_kind(signal: &Signal) -> &'static str {
    match signal {
        Signal::PaymentSucceeded { .. } => "payment_succeeded",
        Signal::PaymentFailed { .. } => "payment_failed",
        Signal::PaymentIssued { .. } => "payment_issued",
        Signal::PaymentReceived { .. } => "payment_received",
        Signal::NotPaid { .. } => "not_paid",
        Signal::CardRegistered { .. } => "card_registered",
    }
}

/// The history entry of an order registered from the 決済直前ログ that a success notification confirmed.
pub(crate) const CONFIRMED_REGISTERED: &str =
    "受注データ登録済みの注文を決済結果通知で確認しました";

/// The order number: the shop-local date and the attempt id, so it is unique without another query.
pub(super) fn order_number(attempt_id: i64, at: i64) -> String {
    format!("{}-{:06}", local_date(at).yyyymmdd(), attempt_id)
}

/// Checks a signal against what was read about its attempt and decides what it changes. Refusals and
/// duplicates change nothing.
pub(super) fn decide(
    loaded: Option<&Loaded>,
    notification: &Notification,
    context: &ApplyContext,
    at: i64,
) -> Decision {
    let link_key = notification.link_key.as_str();
    let Some(loaded) = loaded else {
        return Decision::refused(
            Refusal::UnknownLinkKey,
            format!("unknown link key {link_key}"),
            Some(link_key.to_owned()),
        );
    };
    let mut decision = decide_for_attempt(loaded, notification, context, at);
    decision.settlement_type = Some(loaded.attempt.settlement_type.clone());
    decision
}

/// Why a recurring first order is 要確認 when its notification named no recurring registration.
const REGISTRATION_NOT_NOTIFIED: &str =
    "継続課金の登録番号がゲートウェイから通知されませんでした。\
    ゲートウェイの管理画面で継続課金の登録を確認してください";

/// For a first order of a recurring item, the contract registered beside the order `writes` creates,
/// and 要確認 on that order when the gateway's id for the registration is missing (`missing` says
/// why) or the buyer is not a member (which checkout prevents). Nothing for other orders.
pub(super) fn recurring_contract(
    writes: &mut Vec<Change>,
    attempt: &Attempt,
    gateway_id: Option<&String>,
    missing: &str,
) {
    let Some((line, recurrence)) = attempt
        .snapshot
        .lines
        .iter()
        .find_map(|line| line.recurring.map(|recurrence| (line, recurrence)))
    else {
        return;
    };
    let attention = match (attempt.member_id, gateway_id) {
        (Some(member_id), _) => {
            writes.push(Change::CreateContract(NewContract {
                gateway_id: gateway_id.cloned(),
                member_id,
                product_name: line.name.clone(),
                amount: attempt.total,
                recurrence,
            }));
            gateway_id.is_none().then(|| missing.to_owned())
        }
        (None, _) => Some(
            "会員でない注文に継続課金の商品があります。継続課金は登録されていません".to_owned(),
        ),
    };
    if let Some(Change::CreateOrder(order)) = writes
        .iter_mut()
        .find(|change| matches!(change, Change::CreateOrder(_)))
    {
        order.attention = attention;
    }
}

fn decide_for_attempt(
    loaded: &Loaded,
    notification: &Notification,
    context: &ApplyContext,
    at: i64,
) -> Decision {
    let attempt = &loaded.attempt;
    let link_key = notification.link_key.as_str();
    let refuse = |refusal, reason| Decision::refused(refusal, reason, Some(link_key.to_owned()));
    if attempt.module_id != context.module_id {
        return refuse(
            Refusal::UnknownLinkKey,
            format!(
                "link key {link_key} belongs to module {}",
                attempt.module_id
            ),
        );
    }
    let misfit = matches!(
        (
            context.settlement_kinds.get(&attempt.settlement_type),
            &notification.signal,
        ),
        (
            Some(SettlementKind::Immediate),
            Signal::PaymentIssued { .. } | Signal::PaymentReceived { .. } | Signal::NotPaid { .. },
        ) | (
            Some(SettlementKind::Deferred),
            Signal::PaymentSucceeded { .. } | Signal::CardRegistered { .. },
        )
    );
    if misfit {
        return refuse(
            Refusal::Mismatch,
            format!(
                "this signal does not fit link key {link_key}'s settlement type {}",
                attempt.settlement_type
            ),
        );
    }
    let kind = signal_kind(&notification.signal);
    let is_card_update = attempt.kind == AttemptKind::CardUpdate;
    let wants_card_update = matches!(notification.signal, Signal::CardRegistered { .. });
    if is_card_update != wants_card_update
        && !matches!(notification.signal, Signal::PaymentFailed { .. })
    {
        return refuse(
            Refusal::WrongState,
            format!(
                "{kind} does not apply to a {} attempt",
                attempt.kind.as_str()
            ),
        );
    }
    // Amount checks come before the dedup check so a refused copy never blocks a good one.
    let amount = match &notification.signal {
        Signal::PaymentSucceeded { amount, .. } => Some(*amount),
        Signal::PaymentIssued { amount, .. } | Signal::PaymentReceived { amount, .. } => *amount,
        _ => None,
    };
    if let Some(amount) = amount.filter(|amount| *amount != attempt.total) {
        return refuse(
            Refusal::Mismatch,
            format!(
                "amount {amount} does not match the attempt's total {}",
                attempt.total
            ),
        );
    }
    if wants_card_update && (attempt.member_id.is_none() || attempt.state != AttemptState::Open) {
        return refuse(
            Refusal::WrongState,
            format!("card update {link_key} is not open for a member"),
        );
    }
    if let Some(recorded_for) = &loaded.recorded_for {
        // A copy of one gateway event is about the same link key. The same key for another link key
        // is not a copy: acknowledging it as one would tell the gateway that a payment for this
        // attempt is stored when nothing was applied to it.
        if recorded_for != link_key {
            return refuse(
                Refusal::Mismatch,
                format!(
                    "event {} was already recorded for link key {recorded_for}, not {link_key}",
                    notification.dedup_key
                ),
            );
        }
        return Decision {
            verdict: Verdict::Duplicate,
            settlement_type: None,
            order_number: None,
            claim: None,
            writes: Vec::new(),
            error_log: None,
        };
    }
    let label = context
        .settlement_labels
        .get(&attempt.settlement_type)
        .cloned()
        .unwrap_or_else(|| attempt.settlement_type.clone());
    let order = loaded.order.as_ref();
    let mut decision = Decision {
        verdict: Verdict::Accepted,
        settlement_type: None,
        order_number: order.map(|(_, _, number)| number.clone()),
        claim: Some(kind),
        writes: Vec::new(),
        error_log: None,
    };
    let create_order = |decision: &mut Decision,
                        status: PaymentStatus,
                        transaction_id: Option<&String>,
                        slip: Option<StoredSlip>,
                        reason: &str| {
        let number = order_number(attempt.id, at);
        decision.order_number = Some(number.clone());
        decision.writes.push(Change::CreateOrder(NewOrder {
            status,
            label: label.clone(),
            transaction_id: transaction_id.cloned(),
            slip,
            reason: reason.to_owned(),
            number,
            attention: None,
        }));
    };
    match &notification.signal {
        Signal::PaymentSucceeded {
            transaction_id,
            capture,
            card,
            recurring_id,
            ..
        } => {
            let status = match capture {
                shophost_module_api::Capture::Authorized => PaymentStatus::Authorized,
                shophost_module_api::Capture::Captured => PaymentStatus::Captured,
            };
            match order {
                None => {
                    create_order(&mut decision, status, Some(transaction_id), None, "決済結果通知（成功）");
                    recurring_contract(
                        &mut decision.writes,
                        attempt,
                        recurring_id.as_ref(),
                        REGISTRATION_NOT_NOTIFIED,
                    );
                }
                // The order the operator registered from the 決済直前ログ, still unconfirmed by the
                // gateway: this is its payment, unless the operator gave another transaction id.
                Some((order_id, from @ (PaymentStatus::Authorized | PaymentStatus::Captured), _))
                    if !loaded.succeeded_before
                        && loaded
                            .order_transaction_id
                            .as_ref()
                            .is_none_or(|given| given == transaction_id) =>
                {
                    decision.writes.push(Change::ConfirmRegistered {
                        order_id: *order_id,
                        from: *from,
                        // The notification may say captured where the operator registered
                        // authorised; never the other way, which a capture since would undo.
                        to: if *from == PaymentStatus::Captured { *from } else { status },
                        transaction_id: transaction_id.clone(),
                        reason: CONFIRMED_REGISTERED,
                    })
                }
                // A second successful payment for one checkout: money was taken twice. Keep it
                // (acknowledged, recorded) and make the operator look.
                Some((order_id, _, _)) => decision.writes.push(Change::FlagOrder {
                    order_id: *order_id,
                    attention: format!("同じリンクキーで別の決済（取引ID {transaction_id}）が通知されました。ゲートウェイの管理画面で確認してください"),
                }),
            }
            if let (Some(card), Some(member_id)) = (card, attempt.member_id) {
                decision.writes.push(Change::UpsertCard {
                    member_id,
                    card: card.clone(),
                });
            }
        }
        Signal::PaymentFailed { code, detail } => {
            let result = if detail.is_empty() {
                code.clone()
            } else {
                format!("{code} {detail}")
            };
            decision.error_log = Some((result, Some(link_key.to_owned())));
        }
        Signal::PaymentIssued {
            transaction_id,
            slip,
            ..
        } => {
            let stored = StoredSlip::from(slip);
            match order {
                None => create_order(
                    &mut decision,
                    PaymentStatus::Unpaid,
                    Some(transaction_id),
                    Some(stored),
                    "支払番号発行",
                ),
                // The receipt came first and made the order; add the slip now.
                Some((order_id, _, _)) => decision.writes.push(Change::AddSlip {
                    order_id: *order_id,
                    slip: stored,
                    transaction_id: transaction_id.clone(),
                }),
            }
        }
        Signal::PaymentReceived { .. } => match order {
            None => create_order(
                &mut decision,
                PaymentStatus::Paid,
                None,
                None,
                "入金通知（支払番号発行の通知より先に到着）",
            ),
            Some((order_id, PaymentStatus::Unpaid, _)) => {
                decision.writes.push(Change::Transition {
                    order_id: *order_id,
                    from: PaymentStatus::Unpaid,
                    to: PaymentStatus::Paid,
                    attention: None,
                    reason: "入金通知",
                })
            }
            Some((order_id, PaymentStatus::Expired, _)) => {
                decision.writes.push(Change::Transition {
                    order_id: *order_id,
                    from: PaymentStatus::Expired,
                    to: PaymentStatus::Paid,
                    attention: Some("期限後入金: 支払期限を過ぎてから入金されました"),
                    reason: "入金通知（期限後入金）",
                })
            }
            Some((order_id, other, _)) => decision.writes.push(Change::FlagOrder {
                order_id: *order_id,
                attention: format!("入金状況が{}の注文に入金通知が届きました", other.label()),
            }),
        },
        Signal::NotPaid { detail } => {
            decision.error_log = Some((format!("NOT PAID: {detail}"), Some(link_key.to_owned())));
        }
        Signal::CardRegistered { card } => {
            if let Some(member_id) = attempt.member_id {
                decision.writes.push(Change::UpsertCard {
                    member_id,
                    card: card.clone(),
                });
            }
            decision.writes.push(Change::CardUpdated);
        }
    }
    decision
}

/// The journal entry a request will get, with the response stored in it.
pub(super) struct Journaled {
    pub verdict: Verdict,
    pub settlement_type: Option<String>,
    pub order_number: Option<String>,
    pub response: WireResponse,
}

impl Journaled {
    /// The result, once the journal entry's id is known.
    pub fn recorded(self, journal_id: i64) -> Recorded {
        Recorded {
            verdict: self.verdict,
            settlement_type: self.settlement_type,
            journal_id,
            order_number: self.order_number,
            response: self.response,
        }
    }
}

/// A journal entry's contents and the event and error-log line that go with it, worked out once for
/// both backends.
pub(super) struct Entry<'a> {
    pub verdict: &'static str,
    /// The kind of refusal, when refused ([`Verdict::refusal`]).
    pub refusal: Option<&'static str>,
    pub reason: String,
    pub link_key: Option<String>,
    pub response_status: i64,
    pub response_body: Vec<u8>,
    /// The accepted event to record with the entry: dedup key and kind.
    pub event: Option<(&'a str, &'static str)>,
    /// The 決済エラーログ line: result and link key.
    pub error_log: Option<(String, Option<String>)>,
}

/// The journal entry for a request, and what the request comes to once the entry has an id.
pub(super) fn entry<'a>(
    record: &InboundRecord,
    intent: &'a Intent,
    decision: Decision,
    responses: &Responses,
) -> (Entry<'a>, Journaled) {
    let response = responses.pick(&decision.verdict).clone();
    let reason = match &decision.verdict {
        Verdict::Refused { reason, .. } => reason.clone(),
        Verdict::Accepted => {
            let confirmed = decision
                .writes
                .iter()
                .any(|change| matches!(change, Change::ConfirmRegistered { .. }));
            match (&decision.order_number, confirmed) {
                (Some(n), true) => format!("order {n}; {CONFIRMED_REGISTERED}"),
                (Some(n), false) => format!("order {n}"),
                (None, _) => String::new(),
            }
        }
        Verdict::Duplicate => "already applied".to_owned(),
    };
    let reason = match &record.note {
        Some(note) if reason.is_empty() => note.clone(),
        Some(note) => format!("{reason}; {note}"),
        None => reason,
    };
    let (link_key, event) = match intent {
        Intent::Refuse { link_key, .. } => (link_key.clone(), None),
        Intent::Apply(notification) => (
            Some(notification.link_key.clone()),
            decision
                .claim
                .filter(|_| decision.verdict == Verdict::Accepted)
                .map(|kind| (notification.dedup_key.as_str(), kind)),
        ),
    };
    // A replay of a refused request does not add a second error-log line.
    let error_log = decision
        .error_log
        .filter(|_| record.replay_of.is_none() || decision.verdict == Verdict::Accepted);
    let entry = Entry {
        verdict: decision.verdict.as_str(),
        refusal: decision.verdict.refusal(),
        reason,
        link_key,
        response_status: i64::from(response.status),
        response_body: response.body.clone(),
        event,
        error_log,
    };
    let journaled = Journaled {
        verdict: decision.verdict,
        settlement_type: decision.settlement_type,
        order_number: decision.order_number,
        response,
    };
    (entry, journaled)
}

#[cfg(test)]
mod tests;
