//! コンビニ・電子マネー notifications (the slip issued, the 収納情報通知), and bytes the host could not
//! decode, in a card or a コンビニ notification.

use super::*;

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
