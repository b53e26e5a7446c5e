//! Malformed notifications, as a table: each case is one request to a notification URL (missing
//! fields, wrong types, overlong values, invalid Shift_JIS, UTF-8, bodies over the configured limit,
//! the wrong content type or method) with the answer it must get. Every one of them is about a real
//! open attempt, and after every one the attempt is still open with no order and no payment event,
//! and the journal holds the request as `rejected` with the reason.
//!
//! Remise's protocol has one answer for "I read this and refuse it" (`error1`, HTTP 200), so almost
//! every case expects that; what differs is the reason the journal keeps for the operator.

mod common;

use common::*;
use encoding_rs::SHIFT_JIS;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

/// `server.max_body_bytes` of the shop under test.
const LIMIT: usize = 16 * 1024;
/// Remise's refusal of a request it was sent.
const REFUSED: (u16, &str) = (200, "error1");
const FORM_SJIS: &str = "application/x-www-form-urlencoded; charset=Shift_JIS";
const FORM: &str = "application/x-www-form-urlencoded";

/// One malformed request and what it must get.
struct Case {
    name: &'static str,
    /// `acting=` of the notification URL.
    acting: &'static str,
    /// What the open attempt it is about pays with.
    settlement_type: &'static str,
    method: &'static str,
    content_type: Option<&'static str>,
    /// Appended to `?acting=…`, from the attempt's link key.
    query: fn(&str) -> String,
    /// The body, from the attempt's link key.
    body: fn(&str) -> Vec<u8>,
    /// Status and body of the answer.
    expect: (u16, &'static str),
    /// A part of the reason the journal keeps.
    reason: &'static str,
    /// Whether the link key can be read from the request (and so is journaled).
    names_link_key: bool,
}

impl Case {
    /// A Shift_JIS form POST to the card endpoint that must be refused with `error1`.
    fn card(name: &'static str, body: fn(&str) -> Vec<u8>, reason: &'static str) -> Case {
        Case {
            name,
            acting: "remise_card",
            settlement_type: CARD,
            method: "POST",
            content_type: Some(FORM_SJIS),
            query: |_| String::new(),
            body,
            expect: REFUSED,
            reason,
            names_link_key: true,
        }
    }

    /// The same, to the multi-payment endpoint.
    fn conv(name: &'static str, body: fn(&str) -> Vec<u8>, reason: &'static str) -> Case {
        Case {
            acting: "remise_conv",
            settlement_type: CONV,
            ..Case::card(name, body, reason)
        }
    }

    /// The link key cannot be read from this request.
    fn anonymous(self) -> Case {
        Case {
            names_link_key: false,
            ..self
        }
    }

    fn content_type(self, content_type: Option<&'static str>) -> Case {
        Case {
            content_type,
            ..self
        }
    }
}

/// A card success for `link_key` whose only fault is the one each case puts in.
fn card(link_key: &str) -> Vec<(String, String)> {
    card_success(link_key, "T0001", MUG_PRICE)
}

fn receipt(link_key: &str) -> Vec<(String, String)> {
    conv_receipt(link_key, "1", MUG_PRICE)
}

fn issued(link_key: &str) -> Vec<(String, String)> {
    conv_issued(link_key, "20260101000000001", MUG_PRICE, "20991231")
}

fn without(mut fields: Vec<(String, String)>, name: &str) -> Vec<(String, String)> {
    fields.retain(|(key, _)| key != name);
    fields
}

/// A form body percent-encoded as UTF-8 (what a careless sender or a UTF-8 page would post).
fn utf8_form(fields: &[(String, String)]) -> Vec<u8> {
    fields
        .iter()
        .map(|(name, value)| {
            format!(
                "{}={}",
                utf8_percent_encode(name, NON_ALPHANUMERIC),
                utf8_percent_encode(value, NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

/// A valid form with `tail` (raw bytes) appended as one more field.
fn form_with_raw_tail(fields: &[(String, String)], tail: &[u8]) -> Vec<u8> {
    let mut body = sjis_form(fields);
    body.extend_from_slice(tail);
    body
}

/// "テスト" in UTF-8: E3 83 86 E3 82 B9 E3 83 88. As Shift_JIS the bytes pair up as E3 83, 86 E3,
/// 82 B9, E3 83 and leave 88, a lead byte with nothing after it: not valid Shift_JIS.
const TESUTO: &str = "テスト";

fn cases() -> Vec<Case> {
    vec![
        // -- missing fields ----------------------------------------------------------------
        Case::card(
            "missing X-S_TORIHIKI_NO",
            |key| sjis_form(&without(card(key), "X-S_TORIHIKI_NO")),
            "missing X-S_TORIHIKI_NO",
        )
        .anonymous(),
        Case::card(
            "missing X-TRANID",
            |key| sjis_form(&without(card(key), "X-TRANID")),
            "missing X-TRANID",
        ),
        Case::card(
            "missing X-ERRLEVEL (Welcart read it as success)",
            |key| sjis_form(&without(card(key), "X-ERRLEVEL")),
            "missing X-ERRLEVEL",
        ),
        Case::card(
            "missing X-TOTAL and X-AMOUNT",
            |key| sjis_form(&without(without(card(key), "X-TOTAL"), "X-AMOUNT")),
            "missing X-TOTAL and X-AMOUNT",
        ),
        Case::card("empty body", |_| Vec::new(), "missing X-S_TORIHIKI_NO").anonymous(),
        Case::conv(
            "receipt without REC_FLG",
            |key| sjis_form(&without(receipt(key), "REC_FLG")),
            "missing REC_FLG",
        ),
        Case::conv(
            // Welcart marked an order paid on S_TORIHIKI_NO and REC_FLG alone.
            "receipt without TOTAL",
            |key| sjis_form(&without(receipt(key), "TOTAL")),
            "missing TOTAL: a receipt (REC_FLG=1) must carry the amount paid",
        ),
        Case::conv(
            "issuance without X-JOB_ID",
            |key| sjis_form(&without(issued(key), "X-JOB_ID")),
            "missing X-JOB_ID",
        ),
        Case::conv(
            "neither a receipt nor an issuance",
            |_| sjis_form(&pairs(&[("TOTAL", "3990"), ("REC_CVSCODE", "D001")])),
            "neither a receipt",
        )
        .anonymous(),
        // -- wrong types ---------------------------------------------------------------------
        Case::card(
            "X-TOTAL not a number",
            |key| sjis_form(&with(card(key), "X-TOTAL", "abc")),
            "malformed X-TOTAL",
        ),
        Case::card(
            "X-TOTAL negative",
            |key| sjis_form(&with(card(key), "X-TOTAL", "-3990")),
            "malformed X-TOTAL",
        ),
        Case::card(
            "X-TOTAL in full-width digits",
            |key| sjis_form(&with(card(key), "X-TOTAL", "３９９０")),
            "malformed X-TOTAL",
        ),
        Case::card(
            "X-ERRLEVEL not a digit",
            |key| sjis_form(&with(card(key), "X-ERRLEVEL", "OK")),
            "malformed X-ERRLEVEL",
        ),
        Case::card(
            "link key with letters",
            |key| sjis_form(&with(card(key), "X-S_TORIHIKI_NO", &format!("{key}A"))),
            "malformed X-S_TORIHIKI_NO",
        )
        .anonymous(),
        Case::card(
            "X-TOTAL twice with different values",
            |key| {
                let mut fields = card(key);
                fields.push(("X-TOTAL".to_owned(), "1".to_owned()));
                sjis_form(&fields)
            },
            "conflicting values for X-TOTAL",
        ),
        Case::conv(
            "receipt TOTAL not a number",
            |key| sjis_form(&with(receipt(key), "TOTAL", "3,990")),
            "malformed TOTAL",
        ),
        Case::conv(
            "issuance X-R_CODE with a space",
            |key| sjis_form(&with(issued(key), "X-R_CODE", "0 0000")),
            "malformed X-R_CODE",
        ),
        // -- overlong values -------------------------------------------------------------------
        Case::card(
            "link key of 18 digits",
            |key| sjis_form(&with(card(key), "X-S_TORIHIKI_NO", &format!("{key}0"))),
            "malformed X-S_TORIHIKI_NO",
        )
        .anonymous(),
        Case::card(
            "X-TRANID of 65 characters",
            |key| sjis_form(&with(card(key), "X-TRANID", &"T".repeat(65))),
            "malformed X-TRANID",
        ),
        Case::card(
            "X-TOTAL of 16 digits",
            |key| sjis_form(&with(card(key), "X-TOTAL", "1000000000000000")),
            "malformed X-TOTAL",
        ),
        Case::conv(
            "REC_FLG of 17 characters",
            |key| sjis_form(&with(receipt(key), "REC_FLG", &"1".repeat(17))),
            "malformed REC_FLG",
        ),
        // -- charsets ------------------------------------------------------------------------
        // Bytes that are not Shift_JIS are replaced in values, and the module refuses them where it
        // relies on the value; in a field's name they refuse the request. (In free text they are
        // read, noted and accepted: see `notifications.rs` and the UTF-8 test below.)
        Case::card(
            "invalid Shift_JIS in a field name: a lead byte at the end",
            |key| form_with_raw_tail(&card(key), b"&X-NOTE%82=1"),
            "a field name in the body is not valid Shift_JIS",
        )
        .anonymous(),
        Case::card(
            "invalid Shift_JIS in a field name: byte FF, unescaped",
            |key| form_with_raw_tail(&card(key), b"&X-\xFFNOTE=1"),
            "a field name in the body is not valid Shift_JIS",
        )
        .anonymous()
        .content_type(Some(FORM)),
        Case::card(
            "invalid Shift_JIS in X-TRANID: byte FF, unescaped",
            |key| {
                let fields = without(card(key), "X-TRANID");
                form_with_raw_tail(&fields, b"&X-TRANID=T0001\xFF")
            },
            "malformed X-TRANID; undecodable bytes replaced in X-TRANID",
        )
        .content_type(Some(FORM)),
        Case::conv(
            "invalid Shift_JIS in a receipt's TOTAL",
            |key| {
                let fields = without(receipt(key), "TOTAL");
                form_with_raw_tail(&fields, b"&TOTAL=3990%82")
            },
            "malformed TOTAL: not a non-negative integer; undecodable bytes replaced in TOTAL",
        ),
        Case::conv(
            "invalid Shift_JIS in the payment number of a slip",
            |key| {
                let fields = without(issued(key), "X-PAY_NO1");
                form_with_raw_tail(&fields, b"&X-PAY_NO1=1234%FF5")
            },
            "undecodable bytes in X-PAY_NO1; undecodable bytes replaced in X-PAY_NO1",
        ),
        // -- size ------------------------------------------------------------------------------
        Case::card(
            "body just over the limit",
            |key| form_with_raw_tail(&card(key), format!("&X-PAD={}", "A".repeat(LIMIT)).as_bytes()),
            "larger than the limit of 16384",
        )
        .anonymous(),
        Case::card(
            "huge body",
            |key| {
                form_with_raw_tail(&card(key), format!("&X-PAD={}", "A".repeat(64 * LIMIT)).as_bytes())
            },
            "larger than the limit of 16384",
        )
        .anonymous(),
        // -- content type and method --------------------------------------------------------------
        Case::card(
            "text/plain",
            |key| sjis_form(&card(key)),
            "must be a POST with a form body, got POST without a form",
        )
        .content_type(Some("text/plain; charset=Shift_JIS"))
        .anonymous(),
        Case::card(
            "JSON",
            |key| {
                serde_json::json!({ "X-S_TORIHIKI_NO": key, "X-TRANID": "T0001" })
                    .to_string()
                    .into_bytes()
            },
            "must be a POST with a form body",
        )
        .content_type(Some("application/json"))
        .anonymous(),
        Case::card(
            "multipart/form-data",
            |key| {
                format!(
                    "--b\r\nContent-Disposition: form-data; name=\"X-S_TORIHIKI_NO\"\r\n\r\n{key}\r\n--b--\r\n"
                )
                .into_bytes()
            },
            "must be a POST with a form body",
        )
        .content_type(Some("multipart/form-data; boundary=b"))
        .anonymous(),
        Case::card(
            "no content type",
            |key| sjis_form(&card(key)),
            "must be a POST with a form body",
        )
        .content_type(None)
        .anonymous(),
        Case {
            method: "GET",
            query: |key| format!("&{}", String::from_utf8(sjis_form(&card(key))).expect("ASCII")),
            ..Case::card(
                "GET with the fields in the query",
                |_| Vec::new(),
                "must be a POST with a form body, got GET",
            )
            .content_type(None)
            .anonymous()
        },
        Case {
            method: "PUT",
            ..Case::card(
                "PUT",
                |key| sjis_form(&card(key)),
                "must be a POST with a form body, got PUT",
            )
            .anonymous()
        },
        Case {
            method: "GET",
            query: |key| format!("&{}", String::from_utf8(sjis_form(&receipt(key))).expect("ASCII")),
            ..Case::conv(
                "GET receipt",
                |_| Vec::new(),
                "must be a POST with a form body, got GET",
            )
            .content_type(None)
            .anonymous()
        },
        // -- not for us ------------------------------------------------------------------------
        Case::card(
            "another shop's SHOPCO",
            |key| sjis_form(&with(card(key), "X-SHOPCO", "OTHERSHOP")),
            "X-SHOPCO is `OTHERSHOP`",
        ),
        Case {
            acting: "nobody",
            expect: (404, "unknown notification endpoint"),
            ..Case::card(
                "an endpoint no module listens on",
                |key| sjis_form(&card(key)),
                "no module listens on notification endpoint `nobody`",
            )
            .anonymous()
        },
    ]
}

/// Sends one case about a fresh open attempt and checks the answer, the journal and that nothing
/// changed.
async fn check(shop: &Shop, case: &Case) {
    let name = case.name;
    let link_key = shop.checkout(case.settlement_type, &[], None).await;
    let last_before = shop
        .state
        .store
        .journal(None, 1)
        .await
        .expect("journal")
        .first()
        .map_or(0, |entry| entry.id);

    let url = format!(
        "{}/index.php?acting={}{}",
        shop.base,
        case.acting,
        (case.query)(&link_key)
    );
    let method = reqwest::Method::from_bytes(case.method.as_bytes()).expect("method");
    let mut request = shop.http.request(method, &url).body((case.body)(&link_key));
    if let Some(content_type) = case.content_type {
        request = request.header("content-type", content_type);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{name}: no answer: {e:?}"));
    let status = response.status().as_u16();
    let body = response
        .bytes()
        .await
        .unwrap_or_else(|e| panic!("{name}: answer cut short: {e:?}"));
    assert_eq!(
        (status, String::from_utf8_lossy(&body).as_ref()),
        case.expect,
        "{name}"
    );

    let journal = shop.state.store.journal(None, 10).await.expect("journal");
    let new: Vec<_> = journal.iter().filter(|e| e.id > last_before).collect();
    assert_eq!(new.len(), 1, "{name}: one journal entry: {new:?}");
    let entry = new[0];
    assert_eq!(entry.verdict, "rejected", "{name}");
    assert!(
        entry.reason.contains(case.reason),
        "{name}: the reason is {:?}",
        entry.reason
    );
    assert_eq!(entry.method, case.method, "{name}");
    assert_eq!(
        entry.link_key.as_deref(),
        case.names_link_key.then_some(link_key.as_str()),
        "{name}"
    );
    assert_eq!(entry.response_status, i64::from(case.expect.0), "{name}");
    assert_eq!(entry.response_body, case.expect.1.as_bytes(), "{name}");

    assert!(shop.order(&link_key).await.is_none(), "{name}: no order");
    assert_eq!(shop.attempt(&link_key).await["state"], "open", "{name}");
    assert_eq!(
        shop.state
            .store
            .payment_event_count(&link_key)
            .await
            .expect("events"),
        0,
        "{name}: no payment event"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_notifications_are_refused_and_change_nothing() {
    let shop = Shop::start_with(Options {
        max_body_bytes: LIMIT,
        ..Options::default()
    })
    .await;
    // The premises of the charset cases.
    let utf8 = TESUTO.as_bytes();
    assert!(SHIFT_JIS
        .decode_without_bom_handling_and_without_replacement(utf8)
        .is_none());
    assert!(std::str::from_utf8(&SHIFT_JIS.encode(TESUTO).0).is_err());

    let cases = cases();
    for case in &cases {
        check(&shop, case).await;
    }
    // Nothing any of them said made an order.
    assert_eq!(
        shop.admin_get("/orders").await["orders"],
        serde_json::json!([])
    );
    assert_eq!(
        shop.state
            .store
            .journal(None, 1000)
            .await
            .expect("journal")
            .len(),
        cases.len()
    );
}

/// What the shop does with UTF-8, decided: the declared charset wins; without one the body is read
/// as Shift_JIS, as Remise sends it.
///
/// - `charset=UTF-8` declared and valid: read as UTF-8 and accepted when otherwise valid (Remise
///   never does this, but a relay that re-encodes and says so is read correctly).
/// - No charset, and the UTF-8 bytes are not valid Shift_JIS: the free-text field is read with the
///   undecodable bytes replaced (U+FFFD), the journal notes the field, and the notification, valid in
///   every field that decides anything, is accepted. Likewise Shift_JIS bytes declared UTF-8.
/// - No charset, and the UTF-8 bytes happen to be valid Shift_JIS (as 山田's are): the shop cannot
///   tell this from Shift_JIS text, so the free-text field reads as mojibake and the notification,
///   valid in every field that decides anything (ASCII ids, digits, codes), is accepted. The raw
///   bytes stay in the journal, so an operator can read the name correctly later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn utf8_bodies_are_read_in_the_charset_they_declare() {
    let shop = Shop::start().await;

    let declared = shop.checkout(CARD, &[], None).await;
    let fields = with(card(&declared), "X-NAME", "山田 太郎");
    let answer = shop
        .post_raw(
            &shop.notify_url("remise_card"),
            "application/x-www-form-urlencoded; charset=UTF-8",
            utf8_form(&fields),
        )
        .await;
    assert_eq!((answer.status, answer.text().as_str()), (200, ACK));
    let order = shop.order_detail(&declared).await;
    assert_eq!((order.status.as_str(), order.events), ("captured", 1));
    let entry = &shop.journal(&declared).await[0];
    assert_eq!(entry["verdict"], "accepted");
    assert_eq!(entry["charset"], "UTF-8");
    // The journal keeps the body as sent; its X-NAME is UTF-8 for 山田 太郎.
    let kept = entry["body"].as_str().unwrap();
    let name = kept
        .split('&')
        .find_map(|pair| pair.strip_prefix("X%2DNAME="))
        .expect("X-NAME in the journaled body");
    let name: Vec<u8> = percent_encoding::percent_decode_str(name).collect();
    assert_eq!(String::from_utf8(name).unwrap(), "山田 太郎");

    let undeclared = shop.checkout(CARD, &[], None).await;
    let yamada = "山田";
    let mojibake = SHIFT_JIS
        .decode_without_bom_handling_and_without_replacement(yamada.as_bytes())
        .expect("山田's UTF-8 bytes are valid Shift_JIS");
    assert_ne!(mojibake, yamada);
    let body = utf8_form(&with(
        with(card(&undeclared), "X-TRANID", "T0002"),
        "X-NAME",
        yamada,
    ));
    let answer = shop
        .post_raw(&shop.notify_url("remise_card"), FORM, body.clone())
        .await;
    assert_eq!((answer.status, answer.text().as_str()), (200, ACK));
    let order = shop.order_detail(&undeclared).await;
    assert_eq!((order.status.as_str(), order.events), ("captured", 1));
    let entry = &shop.journal(&undeclared).await[0];
    assert_eq!(entry["verdict"], "accepted");
    assert_eq!(entry["charset"], "Shift_JIS");
    assert_eq!(entry["body"].as_str().unwrap().as_bytes(), body.as_slice());
    let read = parse_sjis_form(entry["body"].as_str().unwrap());
    assert_eq!(field(&read, "X-NAME"), Some(mojibake.as_ref()));

    // テスト's UTF-8 bytes are not valid Shift_JIS, and テスト's Shift_JIS bytes are not valid UTF-8:
    // either way only the name is affected, and the journal says so.
    for (number, (content_type, body_of)) in [
        (FORM, utf8_form as fn(&[(String, String)]) -> Vec<u8>),
        (
            "application/x-www-form-urlencoded; charset=UTF-8",
            sjis_form::<String, String>,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let link_key = shop.checkout(CARD, &[], None).await;
        let transaction = format!("T01{number}");
        let fields = with(
            with(card(&link_key), "X-TRANID", &transaction),
            "X-NAME",
            TESUTO,
        );
        let answer = shop
            .post_raw(
                &shop.notify_url("remise_card"),
                content_type,
                body_of(&fields),
            )
            .await;
        assert_eq!(
            (answer.status, answer.text().as_str()),
            (200, ACK),
            "{content_type}"
        );
        let order = shop.order_detail(&link_key).await;
        assert_eq!((order.status.as_str(), order.events), ("captured", 1));
        let entry = &shop.journal(&link_key).await[0];
        assert_eq!(
            entry["reason"],
            format!(
                "order {}; undecodable bytes replaced in X-NAME",
                order.number
            ),
            "{content_type}"
        );
    }
}

/// A gateway event is about one attempt. A notification for another attempt that carries an event
/// already recorded (here the same `X-TRANID`) is not a copy of it: it is refused and logged, not
/// acknowledged as a duplicate (which would tell Remise the second attempt's payment is stored when
/// nothing was applied to it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_attempts_event_is_refused_not_acknowledged_as_a_copy() {
    let shop = Shop::start().await;
    let first = shop.checkout(CARD, &[], None).await;
    let answer = shop.notify("remise_card", &card(&first)).await;
    assert_eq!((answer.status, answer.text().as_str()), (200, ACK));

    let second = shop.checkout(CARD, &[], None).await;
    let answer = shop.notify("remise_card", &card(&second)).await;
    assert_eq!((answer.status, answer.text().as_str()), REFUSED);
    assert!(shop.order(&second).await.is_none());
    assert_eq!(shop.attempt(&second).await["state"], "open");
    let entry = &shop.journal(&second).await[0];
    assert_eq!(entry["verdict"], "rejected");
    let reason = entry["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("already recorded for link key {first}")),
        "{reason}"
    );
    assert_eq!(shop.settlement_errors(&second).await.len(), 1);

    // The first attempt's order is as it was, and its own copies are still duplicates.
    let answer = shop.notify("remise_card", &card(&first)).await;
    assert_eq!((answer.status, answer.text().as_str()), (200, ACK));
    let order = shop.order_detail(&first).await;
    assert_eq!(
        (order.status.as_str(), order.history.len(), order.events),
        ("captured", 1, 1)
    );
    assert!(order.order["attention"].is_null());
    assert_eq!(
        journal_verdicts(&shop.state, &first).await,
        verdicts(&[("accepted", 1), ("duplicate", 1)])
    );
}
