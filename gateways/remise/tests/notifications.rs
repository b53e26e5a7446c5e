//! Notifications, browser returns and responses, through the module's trait: what each Remise request
//! becomes, that doubt never becomes "paid", and the exact bytes answered.

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

/// Card notification cases: settings, fields, expected outcome.
#[test]
fn card_notifications() {
    type Case = (
        &'static str,
        Vec<(&'static str, &'static str)>,
        Vec<(&'static str, &'static str)>,
        Result<Notification, Rejection>,
    );
    let cases: Vec<Case> = vec![
        (
            "success, CAPTURE",
            vec![],
            card_success(),
            Ok(succeeded(3990, Capture::Captured, None)),
        ),
        (
            "success, AUTH",
            vec![("card_jb", "AUTH")],
            card_success(),
            Ok(succeeded(3990, Capture::Authorized, None)),
        ),
        (
            "success registering a recurring charge: authorised whatever the job code",
            vec![("continuation", "on")],
            with(&card_success(), &[("X-AC_MEMBERID", "AC0001234")], &[]),
            Ok({
                let mut value = succeeded(3990, Capture::Captured, None);
                value.signal = Signal::PaymentSucceeded {
                    transaction_id: TRANID.to_owned(),
                    amount: 3990,
                    capture: Capture::Authorized,
                    card: None,
                    recurring_id: Some("AC0001234".to_owned()),
                };
                value
            }),
        ),
        (
            "success without X-R_CODE",
            vec![],
            with(&card_success(), &[], &["X-R_CODE"]),
            Ok(succeeded(3990, Capture::Captured, None)),
        ),
        (
            "success with only X-AMOUNT",
            vec![],
            with(&card_success(), &[("X-AMOUNT", "1200")], &["X-TOTAL"]),
            Ok(succeeded(1200, Capture::Captured, None)),
        ),
        (
            "success with PayQuick card",
            vec![],
            with(
                &card_success(),
                &[
                    ("X-PAYQUICKID", "PQ0042"),
                    ("X-PARTOFCARD", "1111"),
                    ("X-EXPIRE", "1229"),
                ],
                &[],
            ),
            Ok(succeeded(
                3990,
                Capture::Captured,
                Some(CardOnFile {
                    token: "PQ0042".to_owned(),
                    last4: "1111".to_owned(),
                    expiry: "12/29".to_owned(),
                }),
            )),
        ),
        (
            "failure",
            vec![],
            with(
                &card_success(),
                &[
                    ("X-ERRLEVEL", "1"),
                    ("X-ERRCODE", "E01"),
                    ("X-ERRINFO", "001234567"),
                    ("X-R_CODE", "1:0001"),
                ],
                &[],
            ),
            Ok(failed("E01", "001234567")),
        ),
        (
            "ERRLEVEL 0 but a failing R_CODE",
            vec![],
            with(&card_success(), &[("X-R_CODE", "8:1234")], &[]),
            Ok(failed("8:1234", "")),
        ),
        (
            "ERRLEVEL 0 but an error code",
            vec![],
            with(&card_success(), &[("X-ERRCODE", "E01")], &[]),
            Ok(failed("E01", "")),
        ),
        (
            "ERRLEVEL 9 and nothing else",
            vec![],
            with(
                &card_success(),
                &[("X-ERRLEVEL", "9")],
                &["X-R_CODE", "X-ERRCODE"],
            ),
            Ok(failed("ERRLEVEL=9", "")),
        ),
        (
            "card update",
            vec![],
            with(
                &card_success(),
                &[
                    ("X-S_TORIHIKI_NO", UPDATE_KEY),
                    ("X-PAYQUICKID", "PQ0099"),
                    ("X-PARTOFCARD", "4242"),
                    ("X-EXPIRE", "0731"),
                ],
                &["X-TOTAL", "X-AMOUNT"],
            ),
            Ok(Notification::new(
                UPDATE_KEY.to_owned(),
                format!("remise_card:update:{TRANID}"),
                Signal::CardRegistered {
                    card: CardOnFile {
                        token: "PQ0099".to_owned(),
                        last4: "4242".to_owned(),
                        expiry: "07/31".to_owned(),
                    },
                },
            )),
        ),
        (
            "card update without PAYQUICKID",
            vec![],
            with(&card_success(), &[("X-S_TORIHIKI_NO", UPDATE_KEY)], &[]),
            rejected("missing X-PAYQUICKID in a card update", Some(UPDATE_KEY)),
        ),
        (
            "missing X-ERRLEVEL",
            vec![],
            with(&card_success(), &[], &["X-ERRLEVEL"]),
            rejected("missing X-ERRLEVEL", Some(LINK_KEY)),
        ),
        (
            "empty X-ERRLEVEL",
            vec![],
            with(&card_success(), &[("X-ERRLEVEL", "")], &[]),
            rejected("empty X-ERRLEVEL", Some(LINK_KEY)),
        ),
        (
            "non-digit X-ERRLEVEL",
            vec![],
            with(&card_success(), &[("X-ERRLEVEL", "OK")], &[]),
            rejected("malformed X-ERRLEVEL", Some(LINK_KEY)),
        ),
        (
            "missing link key",
            vec![],
            with(&card_success(), &[], &["X-S_TORIHIKI_NO"]),
            rejected("missing X-S_TORIHIKI_NO", None),
        ),
        (
            "malformed link key",
            vec![],
            with(
                &card_success(),
                &[("X-S_TORIHIKI_NO", "123456789012345678")],
                &[],
            ),
            rejected("malformed X-S_TORIHIKI_NO: not 1 to 17 digits", None),
        ),
        (
            "missing X-TRANID",
            vec![],
            with(&card_success(), &[], &["X-TRANID"]),
            rejected("missing X-TRANID", Some(LINK_KEY)),
        ),
        (
            "non-numeric amount",
            vec![],
            with(&card_success(), &[("X-TOTAL", "3,990")], &[]),
            rejected(
                "malformed X-TOTAL: not a non-negative integer",
                Some(LINK_KEY),
            ),
        ),
        (
            "negative amount",
            vec![],
            with(&card_success(), &[("X-TOTAL", "-3990")], &[]),
            rejected(
                "malformed X-TOTAL: not a non-negative integer",
                Some(LINK_KEY),
            ),
        ),
        (
            "no amount at all",
            vec![],
            with(&card_success(), &[], &["X-TOTAL", "X-AMOUNT"]),
            rejected("missing X-TOTAL and X-AMOUNT", Some(LINK_KEY)),
        ),
        (
            "one field, two values",
            vec![],
            with(
                &card_success(),
                &[("X-ERRLEVEL", "0"), ("X-TRANID", TRANID)],
                &[],
            )
            .into_iter()
            .chain([("X-ERRLEVEL", "1")])
            .collect(),
            rejected("conflicting values for X-ERRLEVEL", Some(LINK_KEY)),
        ),
        (
            "card payments off",
            vec![("card_activate", "off")],
            card_success(),
            rejected(
                "card payments are off in this shop's settings",
                Some(LINK_KEY),
            ),
        ),
    ];
    for (name, settings, fields, expect) in cases {
        assert_eq!(
            notify(&settings, "remise_card", &post(&fields)),
            expect,
            "{name}"
        );
    }
}

#[test]
fn card_notification_must_be_a_posted_form() {
    let fields = card_success();
    let got = notify(&[], "remise_card", &get(&fields));
    assert_eq!(
        got,
        rejected(
            "a card result notification must be a POST with a form body, got GET without a form",
            None
        )
    );
    let mut json = post(&fields);
    json.form_body = false;
    json.content_type = Some("application/json".to_owned());
    assert!(notify(&[], "remise_card", &json).is_err());
    assert_eq!(
        notify(&[], "remise_bank", &post(&fields)),
        rejected("unknown Remise endpoint remise_bank", None)
    );
}

#[test]
fn identity_mismatches_are_reported() {
    let matching = with(
        &card_success(),
        &[("SHOPCO", "TESTSHOP"), ("X-HOSTID", "12345678")],
        &[],
    );
    assert_eq!(
        notify(&[], "remise_card", &post(&matching))
            .unwrap()
            .mismatches,
        Vec::<String>::new()
    );
    let other = with(
        &card_success(),
        &[("SHOPCO", "OTHER"), ("X-HOSTID", "87654321")],
        &[],
    );
    let notification = notify(&[], "remise_card", &post(&other)).unwrap();
    assert_eq!(
        notification.mismatches,
        [
            "SHOPCO is `OTHER`, this shop's is `TESTSHOP`",
            "X-HOSTID is `87654321`, this shop's is `12345678`",
        ]
    );
    // The signal is still read, so the host can log what the foreign request claimed.
    assert!(matches!(
        notification.signal,
        Signal::PaymentSucceeded { .. }
    ));
    let receipt = [
        ("S_TORIHIKI_NO", LINK_KEY),
        ("REC_FLG", "1"),
        ("TOTAL", "3990"),
        ("SHOPCO", "OTHER"),
    ];
    assert_eq!(
        notify(&[], "remise_conv", &post(&receipt))
            .unwrap()
            .mismatches,
        ["SHOPCO is `OTHER`, this shop's is `TESTSHOP`"]
    );
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

#[test]
fn conv_notifications() {
    type Case = (
        &'static str,
        Vec<(&'static str, &'static str)>,
        Result<Notification, Rejection>,
    );
    let receipt = vec![
        ("S_TORIHIKI_NO", LINK_KEY),
        ("REC_FLG", "1"),
        ("TOTAL", "3990"),
        ("JOB_ID", JOB_ID),
        ("RECDATE", "20261130"),
    ];
    let cases: Vec<Case> = vec![
        (
            "receipt, REC_FLG 1",
            receipt.clone(),
            Ok(Notification::new(LINK_KEY.to_owned(), format!("remise_conv:receipt:{LINK_KEY}"), Signal::PaymentReceived {
                    amount: Some(3990),
                    transaction_id: Some(JOB_ID.to_owned()),
                })),
        ),
        (
            // Welcart took these two fields alone as a payment; without the amount it is refused.
            "receipt with only the two fields Welcart read",
            vec![("S_TORIHIKI_NO", LINK_KEY), ("REC_FLG", "1")],
            rejected(
                "missing TOTAL: a receipt (REC_FLG=1) must carry the amount paid",
                Some(LINK_KEY),
            ),
        ),
        (
            "a 'not paid' receipt needs no amount",
            vec![("S_TORIHIKI_NO", LINK_KEY), ("REC_FLG", "0")],
            Ok(Notification::new(LINK_KEY.to_owned(), format!("remise_conv:recflg:0:{LINK_KEY}"), Signal::NotPaid {
                    detail: "REC_FLG=0".to_owned(),
                })),
        ),
        (
            "receipt, REC_FLG 0",
            with(&receipt, &[("REC_FLG", "0")], &[]),
            Ok(Notification::new(LINK_KEY.to_owned(), format!("remise_conv:recflg:0:{LINK_KEY}"), Signal::NotPaid {
                    detail: "REC_FLG=0".to_owned(),
                })),
        ),
        (
            "receipt with a non-integer TOTAL",
            with(&receipt, &[("TOTAL", "3990.0")], &[]),
            rejected("malformed TOTAL: not a non-negative integer", Some(LINK_KEY)),
        ),
        (
            "receipt without REC_FLG",
            with(&receipt, &[], &["REC_FLG"]),
            rejected("missing REC_FLG", Some(LINK_KEY)),
        ),
        (
            "receipt with a bad link key",
            with(&receipt, &[("S_TORIHIKI_NO", "abc")], &[]),
            rejected("malformed S_TORIHIKI_NO: not 1 to 17 digits", None),
        ),
        ("slip issued", issued_fields(), Ok(issued())),
        (
            "slip not issued",
            with(&issued_fields(), &[("X-R_CODE", "8:1234")], &[]),
            Ok(Notification::new(LINK_KEY.to_owned(), format!("remise_conv:failed:{LINK_KEY}:8:1234"), Signal::PaymentFailed {
                    code: "8:1234".to_owned(),
                    detail: String::new(),
                })),
        ),
        (
            "issuance without X-R_CODE",
            with(&issued_fields(), &[], &["X-R_CODE"]),
            rejected("missing X-R_CODE", Some(LINK_KEY)),
        ),
        (
            "issuance without X-JOB_ID",
            with(&issued_fields(), &[], &["X-JOB_ID"]),
            rejected("missing X-JOB_ID", Some(LINK_KEY)),
        ),
        (
            "issuance with a non-integer X-TOTAL",
            with(&issued_fields(), &[("X-TOTAL", "abc")], &[]),
            rejected("malformed X-TOTAL: not a non-negative integer", Some(LINK_KEY)),
        ),
        (
            "nothing Remise sends",
            vec![("foo", "bar")],
            rejected(
                "neither a receipt (S_TORIHIKI_NO, REC_FLG) nor an issuance result (X-JOB_ID, X-S_TORIHIKI_NO)",
                None,
            ),
        ),
    ];
    for (name, fields, expect) in cases {
        assert_eq!(notify(&[], "remise_conv", &post(&fields)), expect, "{name}");
    }
    assert!(notify(&[], "remise_conv", &get(&receipt)).is_err());
    assert_eq!(
        notify(&[("conv_activate", "off")], "remise_conv", &post(&receipt)),
        rejected("multi-payments are off in this shop's settings", None)
    );
}

/// The host replaces bytes it cannot decode with U+FFFD and lets the module decide: every field that
/// decides anything, or that the shopper pays with, refuses such a value; free text is read as it is.
#[test]
fn undecodable_bytes_are_refused_wherever_they_matter() {
    // A card success with a replaced byte in one field: (field, whether it is still read).
    let card_cases = [
        ("X-S_TORIHIKI_NO", "1234567890123456\u{FFFD}", false),
        ("X-TRANID", "T\u{FFFD}1", false),
        ("X-TOTAL", "399\u{FFFD}", false),
        ("X-ERRLEVEL", "\u{FFFD}", false),
        ("X-ERRCODE", "\u{FFFD}", false),
        ("X-R_CODE", "0:0000\u{FFFD}", false),
        ("X-PAYQUICKID", "PQ\u{FFFD}", false),
        ("X-AC_MEMBERID", "AC\u{FFFD}", false),
        ("X-NAME", "ヤマダ\u{FFFD}タロウ", true),
        ("X-ERRINFO", "\u{FFFD}", true),
    ];
    for (field, value, read) in card_cases {
        let fields = with(&card_success(), &[(field, value)], &[]);
        let got = notify(&[("continuation", "on")], "remise_card", &post(&fields));
        assert_eq!(got.is_ok(), read, "{field}={value:?}: {got:?}");
        if read {
            assert_eq!(got, Ok(succeeded(3990, Capture::Captured, None)), "{field}");
        }
    }
    let receipt = [
        ("S_TORIHIKI_NO", LINK_KEY),
        ("REC_FLG", "1"),
        ("TOTAL", "3990"),
        ("JOB_ID", JOB_ID),
        ("REC_CVSNAME", "セブン-イレブン"),
    ];
    let receipt_cases = [
        ("S_TORIHIKI_NO", "\u{FFFD}", false),
        ("REC_FLG", "1\u{FFFD}", false),
        ("TOTAL", "\u{FFFD}3990", false),
        ("JOB_ID", "\u{FFFD}", false),
        ("REC_CVSNAME", "セブン\u{FFFD}", true),
    ];
    for (field, value, read) in receipt_cases {
        let fields = with(&receipt, &[(field, value)], &[]);
        let got = notify(&[], "remise_conv", &post(&fields));
        assert_eq!(got.is_ok(), read, "{field}={value:?}: {got:?}");
    }
    for field in [
        "X-S_TORIHIKI_NO",
        "X-JOB_ID",
        "X-R_CODE",
        "X-TOTAL",
        "X-PAYDATE",
        "X-PAY_CSV",
        "X-PAY_NO1",
        "X-PAY_NO2",
    ] {
        let fields = with(&issued_fields(), &[(field, "12\u{FFFD}3")], &[]);
        let got = notify(&[], "remise_conv", &post(&fields));
        assert!(got.is_err(), "{field}: {got:?}");
        // The success return carries the same fields: no slip from it either.
        let read = browser_return("acting_remise_conv", ReturnKind::Success, &post(&fields));
        assert_eq!(read.notification, None, "{field}");
    }
    assert_eq!(
        notify(
            &[],
            "remise_conv",
            &post(&with(
                &issued_fields(),
                &[("X-PAY_NO1", "12\u{FFFD}3")],
                &[]
            ))
        ),
        rejected("undecodable bytes in X-PAY_NO1", Some(LINK_KEY))
    );
}

fn browser_return(
    settlement_type: &str,
    kind: ReturnKind,
    request: &InboundRequest,
) -> BrowserReturn {
    block_on(RemiseModule.parse_return(&config(&[]), settlement_type, kind, request))
}

#[test]
fn card_returns_never_carry_a_signal() {
    let success = with(
        &card_success(),
        &[("acting", "remise_card"), ("acting_return", "1")],
        &[],
    );
    assert_eq!(
        browser_return("acting_remise_card", ReturnKind::Success, &get(&success)),
        BrowserReturn::nothing().link_key(Some(LINK_KEY.to_owned()))
    );
    let failure = with(
        &card_success(),
        &[
            ("X-ERRLEVEL", "1"),
            ("X-ERRCODE", "E01"),
            ("X-ERRINFO", "001234567"),
        ],
        &[],
    );
    for request in [get(&failure), post(&failure)] {
        assert_eq!(
            browser_return("acting_remise_card", ReturnKind::Failure, &request),
            BrowserReturn::nothing()
                .link_key(Some(LINK_KEY.to_owned()))
                .message(Some(
                    "カード会社で決済が承認されませんでした（エラーコード: E01 / 001234567）"
                        .to_owned()
                ))
        );
    }
    // Codes that are not plain are not echoed to the shopper.
    let hostile = [
        ("X-S_TORIHIKI_NO", "x"),
        ("X-ERRCODE", "<script>"),
        ("X-ERRINFO", ""),
    ];
    assert_eq!(
        browser_return("acting_remise_card", ReturnKind::Failure, &get(&hostile)),
        BrowserReturn::nothing()
            .message(Some("カード会社で決済が承認されませんでした。".to_owned()))
    );
    assert_eq!(
        browser_return("acting_remise_card", ReturnKind::Cancel, &get(&[])),
        BrowserReturn::nothing()
    );
}

#[test]
fn conv_success_return_carries_the_slip_with_the_notification_dedup_key() {
    let fields = issued_fields();
    let from_return = browser_return("acting_remise_conv", ReturnKind::Success, &get(&fields));
    assert_eq!(from_return.link_key.as_deref(), Some(LINK_KEY));
    assert_eq!(from_return.notification, Some(issued()));
    assert_eq!(from_return.message, None);
    let from_notification = notify(&[], "remise_conv", &post(&fields)).unwrap();
    assert_eq!(
        from_return.notification.unwrap().dedup_key,
        from_notification.dedup_key
    );

    let not_issued = with(&fields, &[("X-R_CODE", "8:1234")], &[]);
    let failure = browser_return("acting_remise_conv", ReturnKind::Failure, &get(&not_issued));
    assert_eq!(failure.notification, None);
    assert_eq!(
        failure.message.as_deref(),
        Some("お支払い手続きが完了しませんでした（エラーコード: 8:1234）")
    );
    // A success return without a successful code carries nothing.
    let success = browser_return("acting_remise_conv", ReturnKind::Success, &get(&not_issued));
    assert_eq!(success.notification, None);
    let no_job = with(&fields, &[], &["X-JOB_ID"]);
    assert_eq!(
        browser_return("acting_remise_conv", ReturnKind::Success, &get(&no_job)).notification,
        None
    );
    assert_eq!(
        browser_return("acting_remise_bank", ReturnKind::Success, &get(&fields)),
        BrowserReturn::nothing()
    );
}

fn response(status: u16, body: &str) -> WireResponse {
    WireResponse {
        status,
        content_type: "text/html; charset=Shift_JIS".to_owned(),
        body: body.as_bytes().to_vec(),
    }
}

fn refuse(refusal: Refusal) -> Answer {
    Answer::Refuse(refusal)
}

#[test]
fn every_response_body_exactly() {
    let plain = post(&card_success());
    let mobile = post(&with(&card_success(), &[("CARIER_TYPE", "")], &[]));
    let cases = [
        (
            "remise_card",
            &plain,
            Answer::Acknowledge,
            response(200, "<SDBKDATA>STATUS=800</SDBKDATA>"),
        ),
        (
            "remise_card",
            &mobile,
            Answer::Acknowledge,
            response(200, "<SDBKDATA>STATUS=900</SDBKDATA>"),
        ),
        (
            "remise_conv",
            &mobile,
            Answer::Acknowledge,
            response(200, "<SDBKDATA>STATUS=800</SDBKDATA>"),
        ),
        (
            "remise_conv",
            &plain,
            Answer::Acknowledge,
            response(200, "<SDBKDATA>STATUS=800</SDBKDATA>"),
        ),
        (
            "remise_conv",
            &plain,
            refuse(Refusal::SourceNotAllowed),
            response(200, "error0"),
        ),
        (
            "remise_card",
            &plain,
            refuse(Refusal::SourceNotAllowed),
            response(200, "error0"),
        ),
        (
            "remise_conv",
            &plain,
            refuse(Refusal::UnknownLinkKey),
            response(200, "error1"),
        ),
        (
            "remise_card",
            &plain,
            refuse(Refusal::Malformed),
            response(200, "error1"),
        ),
        (
            "remise_card",
            &plain,
            refuse(Refusal::Mismatch),
            response(200, "error1"),
        ),
        (
            "remise_conv",
            &plain,
            refuse(Refusal::WrongState),
            response(200, "error1"),
        ),
        (
            "remise_card",
            &mobile,
            Answer::Unavailable,
            response(503, "error2"),
        ),
        (
            "remise_conv",
            &plain,
            Answer::Unavailable,
            response(503, "error2"),
        ),
    ];
    for (endpoint, request, answer, expect) in cases {
        assert_eq!(
            RemiseModule.respond(endpoint, request, &answer),
            expect,
            "{endpoint} {answer:?}"
        );
    }
}
