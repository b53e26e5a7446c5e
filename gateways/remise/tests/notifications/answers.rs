//! Browser returns (which never carry a card payment's signal; a コンビニ return carries the slip), and
//! the exact bytes of every answer.

use super::*;

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
