//! Unit tests of [`decide`](super::decide): refusals, duplicates and the changes each signal makes.

use std::collections::BTreeMap;

use shophost_module_api::{Capture, Notification, Refusal, SettlementKind, Signal};

use super::{decide, Change, Loaded, NewOrder, CONFIRMED_REGISTERED};
use crate::db::{ApplyContext, Verdict};
use crate::domain::{Attempt, AttemptKind, AttemptSnapshot, AttemptState, PaymentStatus};

const AT: i64 = 1_795_000_000_000;

fn context() -> ApplyContext {
    ApplyContext {
        module_id: "gateway".into(),
        settlement_labels: BTreeMap::from([("acting_gateway_conv".into(), "コンビニ".into())]),
        settlement_kinds: BTreeMap::from([
            ("acting_gateway_card".into(), SettlementKind::Immediate),
            ("acting_gateway_conv".into(), SettlementKind::Deferred),
        ]),
        channel: "notification",
    }
}

fn loaded(settlement_type: &str, order: Option<(i64, PaymentStatus)>) -> Loaded {
    Loaded {
        attempt: Attempt {
            id: 42,
            link_key: "12345678901234567".into(),
            kind: AttemptKind::Order,
            module_id: "gateway".into(),
            settlement_type: settlement_type.into(),
            payment_method_id: Some(1),
            payment_method_name: "方法".into(),
            member_id: Some(7),
            snapshot: AttemptSnapshot {
                lines: Vec::new(),
                customer: Default::default(),
                items_total: 1000,
                shipping: 0,
                total: 1000,
                tax: 0,
                note: String::new(),
                options: BTreeMap::new(),
            },
            total: 1000,
            state: if order.is_some() {
                AttemptState::Ordered
            } else {
                AttemptState::Open
            },
            returned_at: None,
            attention: None,
            order_id: order.map(|(id, _)| id),
            created_at: AT,
        },
        recorded_for: None,
        order: order.map(|(id, status)| (id, status, "20261127-000042".into())),
        order_transaction_id: None,
        // An order of an immediate payment came from a success notification, unless a test says the
        // operator registered it.
        succeeded_before: order.is_some() && settlement_type == "acting_gateway_card",
    }
}

fn signal(signal: Signal) -> Notification {
    Notification::new("12345678901234567", "card:1", signal)
}

fn card_success(amount: i64) -> Notification {
    signal(Signal::PaymentSucceeded {
        transaction_id: "T1".into(),
        amount,
        capture: Capture::Captured,
        card: None,
        recurring_id: None,
    })
}

fn received() -> Notification {
    signal(Signal::PaymentReceived {
        amount: Some(1000),
        transaction_id: None,
    })
}

fn refusal(verdict: &Verdict) -> Option<Refusal> {
    match verdict {
        Verdict::Refused { refusal, .. } => Some(*refusal),
        _ => None,
    }
}

#[test]
fn a_first_card_success_claims_the_event_and_creates_the_order() {
    let d = decide(
        Some(&loaded("acting_gateway_card", None)),
        &card_success(1000),
        &context(),
        AT,
    );
    assert_eq!(d.verdict, Verdict::Accepted);
    assert_eq!(d.claim, Some("payment_succeeded"));
    assert_eq!(d.settlement_type.as_deref(), Some("acting_gateway_card"));
    assert_eq!(
        d.order_number.as_deref(),
        Some(super::order_number(42, AT).as_str())
    );
    match d.writes.as_slice() {
        [Change::CreateOrder(NewOrder {
            status,
            transaction_id,
            ..
        })] => {
            assert_eq!(*status, PaymentStatus::Captured);
            assert_eq!(transaction_id.as_deref(), Some("T1"));
        }
        other => panic!("unexpected writes {other:?}"),
    }
}

#[test]
fn refusals_and_duplicates_claim_nothing_and_write_nothing() {
    let ctx = context();
    let card = loaded("acting_gateway_card", None);
    let cases = [
        (
            decide(None, &card_success(1000), &ctx, AT),
            Some(Refusal::UnknownLinkKey),
        ),
        (
            decide(Some(&card), &card_success(999), &ctx, AT),
            Some(Refusal::Mismatch),
        ),
        (
            decide(Some(&card), &received(), &ctx, AT),
            Some(Refusal::Mismatch),
        ),
        (
            decide(
                Some(&Loaded {
                    recorded_for: Some("other".into()),
                    ..card.clone()
                }),
                &card_success(1000),
                &ctx,
                AT,
            ),
            Some(Refusal::Mismatch),
        ),
        (
            decide(
                Some(&Loaded {
                    recorded_for: Some(card.attempt.link_key.clone()),
                    ..card.clone()
                }),
                &card_success(1000),
                &ctx,
                AT,
            ),
            None,
        ),
    ];
    for (decision, expected) in cases {
        assert_eq!(refusal(&decision.verdict), expected, "{decision:?}");
        if expected.is_none() {
            assert_eq!(decision.verdict, Verdict::Duplicate);
        } else {
            assert!(decision.error_log.is_some(), "{decision:?}");
        }
        assert!(
            decision.claim.is_none() && decision.writes.is_empty(),
            "{decision:?}"
        );
    }
}

#[test]
fn a_receipt_moves_the_order_by_its_current_status() {
    let ctx = context();
    let moved = |status| {
        decide(
            Some(&loaded("acting_gateway_conv", Some((5, status)))),
            &received(),
            &ctx,
            AT,
        )
        .writes
    };
    assert!(matches!(
        moved(PaymentStatus::Unpaid).as_slice(),
        [Change::Transition {
            order_id: 5,
            from: PaymentStatus::Unpaid,
            to: PaymentStatus::Paid,
            attention: None,
            ..
        }]
    ));
    assert!(matches!(
        moved(PaymentStatus::Expired).as_slice(),
        [Change::Transition {
            from: PaymentStatus::Expired,
            to: PaymentStatus::Paid,
            attention: Some(_),
            ..
        }]
    ));
    assert!(matches!(
        moved(PaymentStatus::Paid).as_slice(),
        [Change::FlagOrder { order_id: 5, .. }]
    ));
    let early = decide(
        Some(&loaded("acting_gateway_conv", None)),
        &received(),
        &ctx,
        AT,
    );
    assert!(matches!(
        early.writes.as_slice(),
        [Change::CreateOrder(NewOrder {
            status: PaymentStatus::Paid,
            ..
        })]
    ));
    assert_eq!(early.claim, Some("payment_received"));
}

#[test]
fn a_second_card_success_flags_the_order_instead_of_making_another() {
    let d = decide(
        Some(&loaded(
            "acting_gateway_card",
            Some((5, PaymentStatus::Captured)),
        )),
        &card_success(1000),
        &context(),
        AT,
    );
    assert_eq!(d.verdict, Verdict::Accepted);
    assert_eq!(d.order_number.as_deref(), Some("20261127-000042"));
    assert!(matches!(
        d.writes.as_slice(),
        [Change::FlagOrder { order_id: 5, .. }]
    ));
}

/// An order the operator registered from the 決済直前ログ (受注データ登録), no success accepted before.
fn registered(status: PaymentStatus, transaction_id: Option<&str>) -> Loaded {
    Loaded {
        succeeded_before: false,
        order_transaction_id: transaction_id.map(str::to_owned),
        ..loaded("acting_gateway_card", Some((5, status)))
    }
}

#[test]
fn a_success_for_a_registered_order_confirms_it_instead_of_flagging_a_second_payment() {
    let ctx = context();
    let confirm = |loaded: &Loaded, capture| {
        let notification = signal(Signal::PaymentSucceeded {
            transaction_id: "T1".into(),
            amount: 1000,
            capture,
            card: None,
            recurring_id: None,
        });
        decide(Some(loaded), &notification, &ctx, AT)
    };
    // Registered as 売上 with no transaction id: confirmed, the id taken from the notification.
    let d = confirm(
        &registered(PaymentStatus::Captured, None),
        Capture::Captured,
    );
    assert_eq!(d.verdict, Verdict::Accepted);
    assert_eq!(d.claim, Some("payment_succeeded"));
    match d.writes.as_slice() {
        [Change::ConfirmRegistered {
            order_id: 5,
            from: PaymentStatus::Captured,
            to: PaymentStatus::Captured,
            transaction_id,
            reason,
        }] => {
            assert_eq!(transaction_id, "T1");
            assert_eq!(*reason, CONFIRMED_REGISTERED);
        }
        other => panic!("unexpected writes {other:?}"),
    }
    // Registered as 仮売上, the gateway says captured: moved up; never down from 売上.
    let up = confirm(
        &registered(PaymentStatus::Authorized, None),
        Capture::Captured,
    );
    assert!(matches!(
        up.writes.as_slice(),
        [Change::ConfirmRegistered {
            from: PaymentStatus::Authorized,
            to: PaymentStatus::Captured,
            ..
        }]
    ));
    let kept = confirm(
        &registered(PaymentStatus::Captured, None),
        Capture::Authorized,
    );
    assert!(matches!(
        kept.writes.as_slice(),
        [Change::ConfirmRegistered {
            to: PaymentStatus::Captured,
            ..
        }]
    ));
    // The transaction id the operator gave is the one notified: confirmed.
    let same = confirm(
        &registered(PaymentStatus::Captured, Some("T1")),
        Capture::Captured,
    );
    assert!(matches!(
        same.writes.as_slice(),
        [Change::ConfirmRegistered { .. }]
    ));
    // Another transaction id, a success already accepted, or a status a payment no longer has: a
    // second payment, flagged as before.
    let flagged = [
        registered(PaymentStatus::Captured, Some("T0")),
        Loaded {
            succeeded_before: true,
            ..registered(PaymentStatus::Captured, None)
        },
        registered(PaymentStatus::Cancelled, None),
    ];
    for loaded in &flagged {
        let d = confirm(loaded, Capture::Captured);
        assert!(
            matches!(d.writes.as_slice(), [Change::FlagOrder { order_id: 5, .. }]),
            "{loaded:?}: {d:?}"
        );
    }
}
