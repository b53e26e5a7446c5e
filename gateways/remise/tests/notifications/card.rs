//! Card notifications (結果通知): success, decline and doubt, the checks of the form itself, and the
//! identity mismatches the module reports.

use super::*;

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
