//! Notifications, browser returns and responses, through the module's trait: what each Remise request
//! becomes, that doubt never becomes "paid", and the exact bytes answered. The card notifications are
//! in `card.rs`, the コンビニ ones (and undecodable bytes in either) in `conv.rs`, the browser returns
//! and every answer's bytes in `answers.rs`.

#[path = "../common/mod.rs"]
mod common;

use common::{config, get, post};
use remise::RemiseModule;
use shophost_module_api::testing::block_on;
use shophost_module_api::{
    Answer, BrowserReturn, Capture, CardOnFile, InboundRequest, LocalDate, Notification,
    PaymentSlip, Refusal, Rejection, ReturnKind, Signal, SlipRow, TypedModule, WireResponse,
};

const LINK_KEY: &str = "12345678901234567";
const TRANID: &str = "2611271502000000000000000001";
const UPDATE_KEY: &str = "00000001234567890";
const JOB_ID: &str = "26112700000000042";

fn notify(
    settings: &[(&str, &str)],
    endpoint: &str,
    request: &InboundRequest,
) -> Result<Notification, Rejection> {
    block_on(RemiseModule.parse_notification(&config(settings), endpoint, request))
}

fn card_success() -> Vec<(&'static str, &'static str)> {
    vec![
        ("X-TRANID", TRANID),
        ("X-S_TORIHIKI_NO", LINK_KEY),
        ("X-ERRCODE", "   "),
        ("X-ERRINFO", "         "),
        ("X-ERRLEVEL", "0"),
        ("X-R_CODE", "0:0000"),
        ("X-AMOUNT", "3990"),
        ("X-TAX", "0"),
        ("X-TOTAL", "3990"),
        ("REC_TYPE", "RET"),
    ]
}

/// `base` with fields replaced (or added at the end), and those named in `remove` left out.
fn with(
    base: &[(&'static str, &'static str)],
    changes: &[(&'static str, &'static str)],
    remove: &[&str],
) -> Vec<(&'static str, &'static str)> {
    let mut fields: Vec<(&str, &str)> = base
        .iter()
        .filter(|(key, _)| !remove.contains(key))
        .copied()
        .collect();
    for (key, value) in changes {
        match fields.iter_mut().find(|(existing, _)| existing == key) {
            Some(field) => field.1 = value,
            None => fields.push((key, value)),
        }
    }
    fields
}

fn succeeded(amount: i64, capture: Capture, card: Option<CardOnFile>) -> Notification {
    Notification::new(
        LINK_KEY.to_owned(),
        format!("remise_card:{TRANID}"),
        Signal::PaymentSucceeded {
            transaction_id: TRANID.to_owned(),
            amount,
            capture,
            card,
            recurring_id: None,
        },
    )
}

fn failed(code: &str, detail: &str) -> Notification {
    Notification::new(
        LINK_KEY.to_owned(),
        format!("remise_card:failed:{TRANID}"),
        Signal::PaymentFailed {
            code: code.to_owned(),
            detail: detail.to_owned(),
        },
    )
}

fn rejected(reason: &str, link_key: Option<&str>) -> Result<Notification, Rejection> {
    let rejection = Rejection::new(reason);
    Err(match link_key {
        Some(link_key) => rejection.for_link_key(link_key),
        None => rejection,
    })
}

fn issued_fields() -> Vec<(&'static str, &'static str)> {
    vec![
        ("X-S_TORIHIKI_NO", LINK_KEY),
        ("X-JOB_ID", JOB_ID),
        ("X-R_CODE", "0:0000"),
        ("X-TOTAL", "3990"),
        ("X-TAX", ""),
        ("X-PAYDATE", "20261211"),
        ("X-PAY_WAY", "001"),
        ("X-PAY_CSV", "D001"),
        ("X-PAY_NO1", "1234567890123"),
        ("X-PAY_NO2", "https://slip.example/7"),
        ("OPT", "1"),
        ("REC_TYPE", "RET"),
    ]
}

fn issued() -> Notification {
    Notification::new(
        LINK_KEY.to_owned(),
        format!("remise_conv:issued:{JOB_ID}"),
        Signal::PaymentIssued {
            transaction_id: JOB_ID.to_owned(),
            amount: Some(3990),
            slip: PaymentSlip::new(
                "セブン-イレブン".to_owned(),
                vec![
                    SlipRow::text("払込番号".to_owned(), "1234567890123".to_owned()),
                    SlipRow::link(
                        "払込票のURL".to_owned(),
                        "https://slip.example/7".to_owned(),
                    ),
                ],
            )
            .deadline(Some(LocalDate {
                year: 2026,
                month: 12,
                day: 11,
            })),
        },
    )
}

fn browser_return(
    settlement_type: &str,
    kind: ReturnKind,
    request: &InboundRequest,
) -> BrowserReturn {
    block_on(RemiseModule.parse_return(&config(&[]), settlement_type, kind, request))
}

mod answers;
mod card;
mod conv;
