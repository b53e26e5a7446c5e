//! Acme without a host, through `shophost_module_api::testing`: settings, the signed form, every
//! notification event, signatures, returns and answers.

use acme_gateway::signature::{form_message, sign};
use acme_gateway::{AcmeModule, ENDPOINT, SETTLEMENT_BANK, SETTLEMENT_CARD};
use shophost_module_api::testing::{
    assert_form_fields, config, field_errors, form_field, json_post, parse_notification,
    parse_return, payment_start_request, query_get, start_form,
};
use shophost_module_api::{
    Answer, Capture, LocalDate, NotificationTrust, Refusal, ReturnKind, SettlementKind, Signal,
    TypedModule,
};

const SECRET: &str = "acme-test-secret-key-0123456789";
const SETTINGS: &[(&str, &str)] = &[("merchant_id", "M0001"), ("secret_key", SECRET)];
const LINK_KEY: &str = "12345678901234567";

fn signed(body: &str) -> shophost_module_api::InboundRequest {
    json_post(
        body,
        &[("X-Acme-Signature", &sign(SECRET, body.as_bytes()))],
    )
}

fn event(event: &str, extra: &str) -> String {
    format!(
        r#"{{"event":"{event}","payment_id":"pay_1","order_id":"{LINK_KEY}","merchant_id":"M0001","amount":1980,"currency":"JPY"{extra}}}"#
    )
}

#[test]
fn settings_errors_name_their_fields() {
    let module = AcmeModule;
    assert_eq!(field_errors(&module, SETTINGS), vec![]);
    assert_eq!(
        field_errors(&module, &[]),
        vec![
            (
                "merchant_id".to_owned(),
                "加盟店IDを入力してください".to_owned()
            ),
            (
                "secret_key".to_owned(),
                "シークレットキーを入力してください".to_owned()
            ),
        ]
    );
    assert_eq!(
        field_errors(
            &module,
            &[
                ("merchant_id", "M-1"),
                ("secret_key", "short"),
                ("environment", "live"),
                ("payment_page_url_live", "http://pay.acme.example/pay"),
                ("bank_days", "31"),
            ]
        ),
        vec![
            (
                "merchant_id".to_owned(),
                "加盟店IDは半角英数で入力してください".to_owned()
            ),
            (
                "bank_days".to_owned(),
                "振込期限（日数）は1以上30以下で入力してください".to_owned()
            ),
            (
                "secret_key".to_owned(),
                "シークレットキーは16文字以上で入力してください".to_owned()
            ),
            (
                "payment_page_url_live".to_owned(),
                "本番環境の決済ページURLは https:// で始まるURLを入力してください".to_owned()
            ),
        ]
    );
}

#[test]
fn settlement_types_follow_the_switches() {
    let module = AcmeModule;
    let both = module.settlement_types(&config(&module, SETTINGS));
    let kinds: Vec<(&str, SettlementKind)> = both.iter().map(|t| (t.id.as_str(), t.kind)).collect();
    assert_eq!(
        kinds,
        [
            (SETTLEMENT_CARD, SettlementKind::Immediate),
            (SETTLEMENT_BANK, SettlementKind::Deferred)
        ]
    );
    let off = config(
        &module,
        &[SETTINGS[0], SETTINGS[1], ("card", "off"), ("bank", "off")],
    );
    assert!(module.settlement_types(&off).is_empty());
    assert!(module.notification_endpoints(&off).is_empty());
}

#[test]
fn the_endpoint_is_signed_and_the_signature_header_declared() {
    let module = AcmeModule;
    let endpoints = module.notification_endpoints(&config(&module, SETTINGS));
    assert_eq!(endpoints.len(), 1);
    assert_eq!(endpoints[0].trust, NotificationTrust::Signed);
    assert_eq!(
        endpoints[0].url("https://shop.example.jp"),
        "https://shop.example.jp/notify/acme"
    );
    assert_eq!(module.inbound_headers(), ["x-acme-signature"]);
}

#[test]
fn the_card_form_is_signed_over_every_field() {
    let module = AcmeModule;
    let config = config(&module, SETTINGS);
    let request = payment_start_request(SETTLEMENT_CARD, LINK_KEY, 1980);
    let form = start_form(&module, &config, &request);
    assert_eq!(form.url, "https://sandbox.acme.example/pay");
    let unsigned = [
        ("merchant_id", "M0001"),
        ("order_id", LINK_KEY),
        ("amount", "1980"),
        ("currency", "JPY"),
        ("method", "card"),
        ("description", "テスト商品 × 1"),
        ("email", "shopper@example.com"),
        ("customer_name", "山田 太郎"),
        ("success_url", "http://shop.test/return/acting_acme_card/ok"),
        ("failure_url", "http://shop.test/return/acting_acme_card/ng"),
        (
            "cancel_url",
            "http://shop.test/return/acting_acme_card/exit",
        ),
    ];
    let signature = sign(SECRET, &form_message(unsigned));
    let mut expected = unsigned.to_vec();
    expected.push(("signature", &signature));
    assert_form_fields(&form, &expected);
}

#[test]
fn the_bank_form_carries_the_transfer_deadline() {
    let module = AcmeModule;
    let config = config(&module, &[SETTINGS[0], SETTINGS[1], ("bank_days", "10")]);
    let form = start_form(
        &module,
        &config,
        &payment_start_request(SETTLEMENT_BANK, LINK_KEY, 1980),
    );
    assert_eq!(form_field(&form, "method"), Some("bank"));
    // payment_start_request's today is 2026-04-01.
    assert_eq!(form_field(&form, "transfer_due"), Some("2026-04-11"));
}

#[test]
fn every_event_maps_to_its_signal() {
    let module = AcmeModule;
    let config = config(&module, SETTINGS);
    let read = |body: &str| parse_notification(&module, &config, ENDPOINT, &signed(body));
    let paid = read(&event("payment.succeeded", "")).unwrap();
    assert_eq!(paid.link_key, LINK_KEY);
    assert_eq!(paid.dedup_key, "acme:succeeded:pay_1");
    assert_eq!(
        paid.signal,
        Signal::PaymentSucceeded {
            transaction_id: "pay_1".into(),
            amount: 1980,
            capture: Capture::Captured,
            card: None,
            recurring_id: None,
        }
    );
    let failed = read(&event(
        "payment.failed",
        r#","code":"card_declined","message":"NG""#,
    ))
    .unwrap();
    assert_eq!(
        failed.signal,
        Signal::PaymentFailed {
            code: "card_declined".into(),
            detail: "NG".into()
        }
    );
    let transfer = r#","transfer":{"bank_name":"アクメ銀行","branch_name":"本店営業部","account_type":"普通","account_number":"1234567","account_holder":"アクメ（カ","reference":"R01234567","due_date":"2026-04-08"}"#;
    let issued = read(&event("transfer.issued", transfer)).unwrap();
    assert_eq!(issued.dedup_key, "acme:issued:pay_1");
    let Signal::PaymentIssued { amount, slip, .. } = issued.signal else {
        panic!("not an issued signal: {:?}", issued.signal);
    };
    assert_eq!(amount, Some(1980));
    assert_eq!(
        slip.deadline,
        Some(LocalDate {
            year: 2026,
            month: 4,
            day: 8
        })
    );
    assert_eq!(slip.rows[5].value, "R01234567");
    let received = read(&event("transfer.received", "")).unwrap();
    assert_eq!(
        received.signal,
        Signal::PaymentReceived {
            amount: Some(1980),
            transaction_id: Some("pay_1".into())
        }
    );
    // An event Acme adds later is never a payment.
    let unknown = read(&event("payment.refunded", "")).unwrap();
    assert_eq!(
        unknown.signal,
        Signal::NotPaid {
            detail: "Acme event `payment.refunded`".into()
        }
    );
}

#[test]
fn forged_foreign_and_undecodable_notifications_are_refused() {
    let module = AcmeModule;
    let config = config(&module, SETTINGS);
    let body = event("payment.succeeded", "");
    let read = |request| parse_notification(&module, &config, ENDPOINT, &request);
    let reason = |request| read(request).unwrap_err().reason;
    assert_eq!(
        reason(json_post(body.as_str(), &[])),
        "missing X-Acme-Signature"
    );
    let forged = sign("another-merchant-secret-key", body.as_bytes());
    assert_eq!(
        reason(json_post(body.as_str(), &[("X-Acme-Signature", &forged)])),
        "bad X-Acme-Signature"
    );
    let tampered = body.replace("1980", "1");
    let original = sign(SECRET, body.as_bytes());
    assert_eq!(
        reason(json_post(
            tampered.as_str(),
            &[("X-Acme-Signature", &original)]
        )),
        "bad X-Acme-Signature"
    );
    let mut bytes = body.clone().into_bytes();
    bytes.insert(2, 0xff);
    let signature = sign(SECRET, &bytes);
    assert!(
        reason(json_post(bytes, &[("X-Acme-Signature", &signature)]))
            .starts_with("body is not valid UTF-8"),
    );
    let foreign = read(signed(&body.replace("M0001", "M9999"))).unwrap();
    assert_eq!(
        foreign.mismatches,
        ["merchant_id is `M9999`, this shop's is `M0001`"]
    );
    let dollars = reason(signed(&body.replace("JPY", "USD")));
    assert_eq!(dollars, "currency is `USD`, not JPY");
}

#[test]
fn returns_find_the_link_key_and_never_pay() {
    let module = AcmeModule;
    let config = config(&module, SETTINGS);
    let back = |kind, query: &[(&str, &str)]| {
        parse_return(&module, &config, SETTLEMENT_CARD, kind, &query_get(query))
    };
    let ok = back(ReturnKind::Success, &[("order_id", LINK_KEY)]);
    assert_eq!(ok.link_key.as_deref(), Some(LINK_KEY));
    assert_eq!(ok.notification, None);
    let ng = back(
        ReturnKind::Failure,
        &[("order_id", LINK_KEY), ("code", "card_declined")],
    );
    assert_eq!(
        ng.message.as_deref(),
        Some("お支払いが完了しませんでした（エラーコード: card_declined）")
    );
    let junk = back(ReturnKind::Success, &[("order_id", "<script>")]);
    assert_eq!(junk.link_key, None);
}

#[test]
fn answers_are_json_and_only_success_is_2xx() {
    let module = AcmeModule;
    let request = json_post("{}", &[]);
    let answer = |answer: &Answer| module.respond(ENDPOINT, &request, answer);
    let ack = answer(&Answer::Acknowledge);
    assert_eq!(
        (ack.status, ack.body.as_slice()),
        (200, br#"{"received":true}"#.as_slice())
    );
    let refused = answer(&Answer::Refuse(Refusal::Malformed));
    assert_eq!(refused.status, 400);
    assert!(!String::from_utf8_lossy(&refused.body).contains("signature"));
    assert_eq!(answer(&Answer::Unavailable).status, 503);
}
