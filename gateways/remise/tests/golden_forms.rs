//! Golden tests: the forms this module builds, compared field for field (names, order, values) with the
//! hidden fields Welcart 2.12.1 was observed to post to Remise.
//!
//! The observed forms are copies of the reference transcripts (Welcart 2.12.1, observed running) kept
//! in `tests/fixtures/welcart-observed/`, so the tests run from a fresh clone with nothing beside it.
//! The only fields ignored are the two we deliberately do not send: `_purchase_nonce` (a Welcart
//! nonce that leaks to Remise) and `dummy` (U+FFFD, needless on a page served in Shift_JIS). The link key and return URLs of each transcript are fed into the request, so
//! even those compare equal. Differences Welcart did not show (a saved PayQuick card, installments) are
//! spelled out as [`Edit`]s to the observed form.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::config;
use remise::RemiseModule;
use shophost_module_api::testing::block_on;
use shophost_module_api::{
    CardOnFile, CardUpdateRequest, Customer, LineItem, LocalDate, MemberRef, PaymentStart,
    PaymentStartError, PaymentStartRequest, Recurrence, RecurringCharge, RedirectForm, ReturnUrls,
    TypedModule, WireCharset,
};

const NOT_SENT: &[&str] = &["_purchase_nonce", "dummy"];

/// The observed hidden fields of a transcript, in order.
fn observed(file: &str) -> (Vec<(String, String)>, Option<String>) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/welcart-observed")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| {
        panic!(
            "the observed Welcart transcript {} is missing ({error}); the golden tests need it",
            path.display()
        )
    });
    let json: serde_json::Value = serde_json::from_str(&text).expect("transcript is JSON");
    let (fields, action) = match json.get("remise_form") {
        Some(form) => (
            &form["hidden_fields"],
            form["action"].as_str().map(str::to_owned),
        ),
        None => (&json["steps"][0]["form_hidden_fields"], None),
    };
    let fields = fields
        .as_array()
        .unwrap_or_else(|| panic!("{file}: no hidden fields"))
        .iter()
        .map(|pair| {
            (
                pair[0].as_str().expect("field name").to_owned(),
                pair[1].as_str().expect("field value").to_owned(),
            )
        })
        .collect();
    (fields, action)
}

/// A change to the observed form that this case expects.
#[derive(Clone, Copy)]
enum Edit {
    /// Field `name` has this value instead.
    Set(&'static str, &'static str),
    /// A field `name` = `value` follows field `after`.
    InsertAfter(&'static str, &'static str, &'static str),
}

struct Case<'a> {
    name: &'a str,
    file: &'a str,
    settlement_type: &'a str,
    settings: &'a [(&'a str, &'a str)],
    member: Option<MemberRef>,
    options: &'a [(&'a str, &'a str)],
    edits: &'a [Edit],
}

fn customer(email: &str) -> Customer {
    Customer {
        email: email.to_owned(),
        family_name: "山田".to_owned(),
        given_name: "太郎".to_owned(),
        family_kana: "ヤマダ".to_owned(),
        given_kana: "タロウ".to_owned(),
        postcode: "150-0001".to_owned(),
        prefecture: "東京都".to_owned(),
        address1: "渋谷区神宮前".to_owned(),
        address2: "1-2-3".to_owned(),
        address3: "テストビル101".to_owned(),
        phone: "03-1111-2222".to_owned(),
    }
}

fn saved_card() -> CardOnFile {
    CardOnFile {
        token: "PQ0000000000000042".to_owned(),
        last4: "1111".to_owned(),
        expiry: "12/29".to_owned(),
    }
}

fn member(card: Option<CardOnFile>) -> Option<MemberRef> {
    Some(MemberRef {
        member_id: 1000,
        card,
    })
}

/// Builds the case's form and compares it with the observed one after the case's edits.
fn check(case: Case<'_>) {
    check_with_items(case, Vec::new());
}

/// [`check`] for a cart of `items`.
fn check_with_items(case: Case<'_>, items: Vec<LineItem>) {
    let (observed, action) = observed(case.file);
    let value = |name: &str| {
        observed
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .unwrap_or_else(|| panic!("{}: observed form has no {name}", case.name))
    };
    let request = PaymentStartRequest {
        settlement_type: case.settlement_type.to_owned(),
        link_key: value("S_TORIHIKI_NO"),
        total: 3990,
        tax: Some(362),
        items,
        customer: customer(&value("MAIL")),
        member: case.member.clone(),
        note: "備考テスト".to_owned(),
        options: case
            .options
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect::<BTreeMap<_, _>>(),
        urls: ReturnUrls {
            success: value("RETURL"),
            failure: value("NG_RETURL"),
            cancel: value("EXITURL"),
        },
        today: LocalDate {
            year: 2026,
            month: 11,
            day: 27,
        },
    };
    let PaymentStart::Redirect(form) =
        block_on(RemiseModule.start_payment(&config(case.settings), &request))
            .unwrap_or_else(|error| panic!("{}: {error}", case.name));

    let mut expected: Vec<(String, String)> = observed
        .into_iter()
        .filter(|(name, _)| !NOT_SENT.contains(&name.as_str()))
        .collect();
    for edit in case.edits {
        match *edit {
            Edit::Set(name, value) => {
                let field = expected
                    .iter_mut()
                    .find(|(key, _)| key == name)
                    .unwrap_or_else(|| panic!("{}: no {name} to set", case.name));
                field.1 = value.to_owned();
            }
            Edit::InsertAfter(after, name, value) => {
                let at = expected
                    .iter()
                    .position(|(key, _)| key == after)
                    .unwrap_or_else(|| panic!("{}: no {after} to insert after", case.name));
                expected.insert(at + 1, (name.to_owned(), value.to_owned()));
            }
        }
    }
    let got: Vec<(String, String)> = form
        .fields
        .iter()
        .map(|field| (field.name.clone(), field.value.clone()))
        .collect();
    for (index, (got, expected)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(got, expected, "{}: field #{index}", case.name);
    }
    assert_eq!(got.len(), expected.len(), "{}: number of fields", case.name);
    assert_envelope(case.name, &form, action.as_deref());
}

fn assert_envelope(name: &str, form: &RedirectForm, observed_action: Option<&str>) {
    assert_eq!(form.method, "POST", "{name}");
    assert_eq!(form.charset, WireCharset::ShiftJis, "{name}");
    let expected_url = if form.fields.iter().any(|field| field.name == "KANA1") {
        remise::settings::DEFAULT_CONV_TEST_URL
    } else {
        remise::settings::DEFAULT_CARD_TEST_URL
    };
    assert_eq!(form.url, expected_url, "{name}");
    if let Some(action) = observed_action {
        assert_eq!(
            form.url, action,
            "{name}: Welcart posted to the same test URL"
        );
    }
}

#[test]
fn card_guest_capture_lump_sum() {
    check(Case {
        name: "card guest",
        file: "form_card_guest.json",
        settlement_type: "acting_remise_card",
        settings: &[],
        member: None,
        options: &[],
        edits: &[],
    });
}

#[test]
fn card_guest_auth() {
    check(Case {
        name: "card guest AUTH",
        file: "form_card_guest.json",
        settlement_type: "acting_remise_card",
        settings: &[("card_jb", "AUTH")],
        member: None,
        options: &[],
        edits: &[Edit::Set("JOB", "AUTH")],
    });
}

#[test]
fn card_member_first_purchase_sends_payquick_without_id() {
    check(Case {
        name: "card member, first purchase",
        file: "form_card_member.json",
        settlement_type: "acting_remise_card",
        settings: &[],
        member: member(None),
        options: &[],
        edits: &[],
    });
}

#[test]
fn card_member_second_purchase_sends_the_saved_card() {
    // Welcart never stored the PayQuick id (its notification lost the member), so its second form still
    // lacked PAYQUICKID; with the card saved, ours carries it right after PAYQUICK.
    check(Case {
        name: "card member, second purchase",
        file: "form_card_member_second.json",
        settlement_type: "acting_remise_card",
        settings: &[],
        member: member(Some(saved_card())),
        options: &[],
        edits: &[Edit::InsertAfter(
            "PAYQUICK",
            "PAYQUICKID",
            "PQ0000000000000042",
        )],
    });
    // Without a saved card the form is exactly what Welcart sent.
    check(Case {
        name: "card member, second purchase, no saved card",
        file: "form_card_member_second.json",
        settlement_type: "acting_remise_card",
        settings: &[],
        member: member(None),
        options: &[],
        edits: &[],
    });
}

#[test]
fn card_member_without_payquick_sends_no_payquick() {
    check(Case {
        name: "card member, PayQuick off",
        file: "form_card_guest.json",
        settlement_type: "acting_remise_card",
        settings: &[("payquick", "off")],
        member: member(Some(saved_card())),
        options: &[],
        edits: &[],
    });
}

/// A monthly item, first charged again on 2026-12-27.
fn monthly() -> LineItem {
    LineItem {
        name: "オンライン茶道教室 月謝".to_owned(),
        unit_price: 3990,
        quantity: 1,
        recurring: Some(Recurrence {
            interval_months: 1,
            next_charge: LocalDate {
                year: 2026,
                month: 12,
                day: 27,
            },
        }),
    }
}

#[test]
fn card_member_recurring_item_registers_the_autocharge() {
    // 自動継続課金 on: an authorisation (whatever ジョブコード says), ITEM 0000990, paid in one even
    // when the shopper chose installments, and the AC_* fields of reference §8.1 after the rest.
    check_with_items(
        Case {
            name: "recurring item, continuation on",
            file: "form_card_member.json",
            settlement_type: "acting_remise_card",
            settings: &[("payquick", "on"), ("howpay", "on"), ("continuation", "on")],
            member: member(None),
            options: &[("div", "1")],
            edits: &[
                Edit::Set("JOB", "AUTH"),
                Edit::Set("ITEM", "0000990"),
                Edit::InsertAfter("METHOD", "AUTOCHARGE", "1"),
                Edit::InsertAfter("AUTOCHARGE", "AC_S_KAIIN_NO", "1000"),
                Edit::InsertAfter("AC_S_KAIIN_NO", "AC_NAME", ""),
                Edit::InsertAfter("AC_NAME", "AC_KANA", "ヤマダタロウ"),
                Edit::InsertAfter("AC_KANA", "AC_TEL", "0311112222"),
                Edit::InsertAfter("AC_TEL", "AC_AMOUNT", "3990"),
                Edit::InsertAfter("AC_AMOUNT", "AC_TOTAL", "3990"),
                Edit::InsertAfter("AC_TOTAL", "AC_NEXT_DATE", "20261227"),
                Edit::InsertAfter("AC_NEXT_DATE", "AC_INTERVAL", "1M"),
            ],
        },
        vec![monthly()],
    );
    // 自動継続課金 off: the item goes as an ordinary card payment (the host refuses such a cart before
    // it gets here, since the settlement type then does not take recurring items).
    check_with_items(
        Case {
            name: "recurring item, continuation off",
            file: "form_card_member.json",
            settlement_type: "acting_remise_card",
            settings: &[("payquick", "on")],
            member: member(None),
            options: &[],
            edits: &[],
        },
        vec![monthly()],
    );
}

#[test]
fn each_installment_choice() {
    /// A guest card payment with this 分割 setting and `div` choice.
    fn installment<'a>(
        name: &'a str,
        howpay: &'a str,
        options: &'a [(&'a str, &'a str)],
        edits: &'a [Edit],
    ) -> Case<'a> {
        let settings: &[(&str, &str)] = if howpay == "on" {
            &[("howpay", "on")]
        } else {
            &[("howpay", "off")]
        };
        Case {
            name,
            file: "form_card_guest.json",
            settlement_type: "acting_remise_card",
            settings,
            member: None,
            options,
            edits,
        }
    }
    check(installment("div 0", "on", &[("div", "0")], &[]));
    check(installment("div absent", "on", &[], &[]));
    check(installment(
        "div 1",
        "on",
        &[("div", "1")],
        &[
            Edit::Set("div", "1"),
            Edit::Set("METHOD", "61"),
            Edit::InsertAfter("METHOD", "PTIMES", "2"),
        ],
    ));
    check(installment(
        "div 2",
        "on",
        &[("div", "2")],
        &[Edit::Set("div", "2"), Edit::Set("METHOD", "80")],
    ));
    check(installment(
        "div 1 without installments",
        "off",
        &[("div", "1")],
        &[],
    ));
    check(installment("div 9", "on", &[("div", "9")], &[]));
}

#[test]
fn conv_guest() {
    check(Case {
        name: "conv guest",
        file: "form_conv_guest.json",
        settlement_type: "acting_remise_conv",
        settings: &[],
        member: None,
        options: &[],
        edits: &[],
    });
}

#[test]
fn conv_with_blank_pay_days_leaves_the_deadline_to_remise() {
    check(Case {
        name: "conv, S_PAYDATE blank",
        file: "form_conv_guest.json",
        settlement_type: "acting_remise_conv",
        settings: &[("S_PAYDATE", "")],
        member: None,
        options: &[],
        edits: &[Edit::Set("S_PAYDATE", "")],
    });
}

#[test]
fn shopper_input_is_labelled_and_shop_values_are_not() {
    let request = conv_request();
    let PaymentStart::Redirect(form) = remise::start_payment(&config(&[]), &request).unwrap();
    let labelled: Vec<&str> = form
        .fields
        .iter()
        .filter(|field| field.label.is_some())
        .map(|field| field.name.as_str())
        .collect();
    assert_eq!(
        labelled,
        [
            "NAME1", "NAME2", "KANA1", "KANA2", "YUBIN1", "YUBIN2", "ADD1", "ADD2", "ADD3", "TEL",
            "MAIL", "BIKO"
        ]
    );
    let name1 = form
        .fields
        .iter()
        .find(|field| field.name == "NAME1")
        .unwrap();
    assert_eq!(name1.label.as_deref(), Some("お名前（姓）"));
}

#[test]
fn conv_normalises_what_the_shopper_typed() {
    let mut request = conv_request();
    request.customer.family_kana = "ﾔﾏﾀﾞ".to_owned();
    request.customer.given_kana = "たろう".to_owned();
    request.customer.postcode = "１５０－０００１".to_owned();
    request.customer.phone = "０３（１１１１）２２２２".to_owned();
    request.note = "あいうえおかきくけこさしすせそたちつてとなにぬ".to_owned();
    request.customer.family_name = "寿限無寿限無五劫の擦り切れ海砂利水魚の水行末".to_owned();
    let PaymentStart::Redirect(form) = remise::start_payment(&config(&[]), &request).unwrap();
    let value = |name: &str| {
        form.fields
            .iter()
            .find(|field| field.name == name)
            .map(|field| field.value.as_str())
            .unwrap()
    };
    assert_eq!(value("KANA1"), "ヤマダ");
    assert_eq!(value("KANA2"), "タロウ");
    assert_eq!((value("YUBIN1"), value("YUBIN2")), ("150", "0001"));
    assert_eq!(value("TEL"), "0311112222");
    assert_eq!(
        value("BIKO"),
        "あいうえおかきくけこさしすせそたちつてとなに..."
    );
    assert_eq!(value("NAME1"), "寿限無寿限無五劫の擦り切れ海砂利水魚の水");
}

fn conv_request() -> PaymentStartRequest {
    PaymentStartRequest {
        settlement_type: "acting_remise_conv".to_owned(),
        link_key: "12345678901234567".to_owned(),
        total: 3990,
        tax: None,
        items: Vec::new(),
        customer: customer("guest@example.invalid"),
        member: None,
        note: "備考テスト".to_owned(),
        options: BTreeMap::new(),
        urls: ReturnUrls {
            success: "https://shop.example/ok".to_owned(),
            failure: "https://shop.example/ng".to_owned(),
            cancel: "https://shop.example/exit".to_owned(),
        },
        today: LocalDate {
            year: 2026,
            month: 11,
            day: 27,
        },
    }
}

#[test]
fn production_urls_are_used_in_production() {
    let config = config(&[
        ("card_pc_ope", "public"),
        ("send_url_pc", "https://card.remise.example/pay"),
        ("conv_pc_ope", "public"),
        ("send_url_cvs_pc", "https://cvs.remise.example/pay"),
    ]);
    let mut request = conv_request();
    let PaymentStart::Redirect(form) = remise::start_payment(&config, &request).unwrap();
    assert_eq!(form.url, "https://cvs.remise.example/pay");
    request.settlement_type = "acting_remise_card".to_owned();
    let PaymentStart::Redirect(form) = remise::start_payment(&config, &request).unwrap();
    assert_eq!(form.url, "https://card.remise.example/pay");
}

#[test]
fn unknown_or_disabled_settlement_types_are_refused() {
    let mut request = conv_request();
    request.settlement_type = "acting_remise_bank".to_owned();
    assert_eq!(
        remise::start_payment(&config(&[]), &request),
        Err(PaymentStartError::UnknownSettlementType(
            "acting_remise_bank".to_owned()
        ))
    );
    request.settlement_type = "acting_remise_conv".to_owned();
    assert_eq!(
        remise::start_payment(&config(&[("conv_activate", "off")]), &request),
        Err(PaymentStartError::UnknownSettlementType(
            "acting_remise_conv".to_owned()
        ))
    );
    request.settlement_type = "acting_remise_card".to_owned();
    assert_eq!(
        remise::start_payment(&config(&[("card_activate", "off")]), &request),
        Err(PaymentStartError::UnknownSettlementType(
            "acting_remise_card".to_owned()
        ))
    );
}

#[test]
fn card_update_form() {
    let request = CardUpdateRequest {
        link_key: "00000001234567890".to_owned(),
        member: MemberRef {
            member_id: 1000,
            card: Some(saved_card()),
        },
        email: "member@example.invalid".to_owned(),
        customer: customer("member@example.invalid"),
        recurring: None,
        urls: ReturnUrls {
            success: "https://shop.example/card/ok".to_owned(),
            failure: "https://shop.example/card/ng".to_owned(),
            cancel: "https://shop.example/card/exit".to_owned(),
        },
        today: LocalDate {
            year: 2026,
            month: 11,
            day: 27,
        },
    };
    let PaymentStart::Redirect(form) = remise::start_card_update(&config(&[]), &request).unwrap();
    let got: Vec<(&str, &str)> = form
        .fields
        .iter()
        .map(|field| (field.name.as_str(), field.value.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("SHOPCO", "TESTSHOP"),
            ("HOSTID", "12345678"),
            ("REMARKS3", "A0000875"),
            ("S_TORIHIKI_NO", "00000001234567890"),
            ("JOB", "CHECK"),
            ("MAIL", "member@example.invalid"),
            ("ITEM", "0000990"),
            ("RETURL", "https://shop.example/card/ok"),
            ("NG_RETURL", "https://shop.example/card/ng"),
            ("EXITURL", "https://shop.example/card/exit"),
            ("OPT", "welcart_card_update"),
            ("PAYQUICK", "1"),
        ]
    );
    assert_eq!(form.url, remise::settings::DEFAULT_CARD_TEST_URL);
    assert_eq!(form.charset, WireCharset::ShiftJis);
    for settings in [&[("payquick", "off")][..], &[("card_activate", "off")][..]] {
        assert_eq!(
            remise::start_card_update(&config(settings), &request),
            Err(PaymentStartError::Unsupported)
        );
    }

    // A subscriber: the recurring charge's card changes too (reference §8.3). The saved card expires
    // 12/29, so it is checked; an expired one is authorised instead.
    let subscriber = CardUpdateRequest {
        recurring: Some(RecurringCharge {
            gateway_id: "AC000000001234".to_owned(),
            amount: 3300,
        }),
        ..request.clone()
    };
    let fields = |request: &CardUpdateRequest| -> Vec<(String, String)> {
        let PaymentStart::Redirect(form) =
            remise::start_card_update(&config(&[]), request).unwrap();
        form.fields
            .into_iter()
            .map(|field| (field.name, field.value))
            .collect()
    };
    let expected = |job: &str| -> Vec<(String, String)> {
        [
            ("SHOPCO", "TESTSHOP"),
            ("HOSTID", "12345678"),
            ("REMARKS3", "A0000875"),
            ("S_TORIHIKI_NO", "00000001234567890"),
            ("JOB", job),
            ("MAIL", "member@example.invalid"),
            ("ITEM", "0000990"),
            ("RETURL", "https://shop.example/card/ok"),
            ("NG_RETURL", "https://shop.example/card/ng"),
            ("EXITURL", "https://shop.example/card/exit"),
            ("TOTAL", "3300"),
            ("AMOUNT", "3300"),
            ("div", "0"),
            ("METHOD", "10"),
            ("OPT", "welcart_card_update"),
            ("PAYQUICK", "1"),
            ("AUTOCHARGE", "1"),
            ("AC_MEMBERID", "AC000000001234"),
            ("AC_S_KAIIN_NO", "1000"),
            ("AC_NAME", ""),
            ("AC_KANA", "ヤマダタロウ"),
            ("AC_TEL", "0311112222"),
            ("AC_AMOUNT", "3300"),
            ("AC_TOTAL", "3300"),
        ]
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
    };
    assert_eq!(fields(&subscriber), expected("CHECK"));
    let expired = CardUpdateRequest {
        member: MemberRef {
            member_id: 1000,
            card: Some(CardOnFile {
                expiry: "10/26".to_owned(),
                ..saved_card()
            }),
        },
        ..subscriber.clone()
    };
    assert_eq!(fields(&expired), expected("AUTH"));
}
