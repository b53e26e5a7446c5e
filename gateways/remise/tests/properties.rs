//! Property tests for the normalisations of the multi-payment form: each output has the shape Remise
//! accepts whatever the shopper typed, and nothing that could be sent in Shift_JIS becomes unsendable.

mod common;

use std::collections::BTreeMap;

use common::config;
use proptest::prelude::*;
use remise::forms::RemiseConvForm;
use remise::normalise;
use shophost_module_api::{Customer, LocalDate, PaymentStartRequest, ReturnUrls};

/// Whether `text` can be sent as Shift_JIS (encoding_rs's Shift_JIS is the WHATWG one, i.e. CP932,
/// which is what the host encodes with).
fn representable(text: &str) -> bool {
    let (_, _, had_errors) = encoding_rs::SHIFT_JIS.encode(text);
    !had_errors
}

/// Text that looks like what shoppers type: kana of both widths, kanji, digits of both widths,
/// ASCII, full-width space and `・`, voiced marks, and the odd character Shift_JIS lacks.
fn shopper_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ぁ-ゖァ-ヺｦ-ﾟー・　 ]{0,30}",
        "[ -~ぁ-んァ-ヶｦ-ﾟ一-龥０-９Ａ-Ｚａ-ｚー・　゛゜①㈱髙\u{3099}\u{309A}😀]{0,40}",
        ".{0,40}",
    ]
}

/// Text every character of which Shift_JIS (CP932) can carry, including CP932-only ①, ㈱ and 髙.
fn sendable_text() -> impl Strategy<Value = String> {
    "[ -~ぁ-んァ-ヶｦ-ﾟ０-９Ａ-Ｚー・　①㈱髙山田太郎渋谷区神宮前東京都備考]{0,40}"
        .prop_filter("Shift_JIS can carry it", |text| representable(text))
}

fn config_for_properties() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        // Failures print their minimal input; no regression files in the source tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config_for_properties())]

    #[test]
    fn kana_is_empty_or_short_katakana(input in shopper_text()) {
        let output = normalise::kana(&input);
        prop_assert!(output.chars().count() <= 20, "{output:?}");
        prop_assert!(
            output.is_empty() || output.chars().all(normalise::is_remise_katakana),
            "{input:?} → {output:?}"
        );
        prop_assert!(representable(&output));
    }

    #[test]
    fn katakana_readings_survive(input in "[ァ-ヶー]{1,20}") {
        prop_assert_eq!(normalise::kana(&input), input);
    }

    #[test]
    fn phone_is_ascii_digits(input in shopper_text()) {
        let output = normalise::phone(&input);
        prop_assert!(output.bytes().all(|b| b.is_ascii_digit()), "{output:?}");
    }

    #[test]
    fn postcode_parts_are_short_digits(input in shopper_text()) {
        let (first, second) = normalise::postcode(&input);
        prop_assert!(first.len() <= 3 && second.len() <= 4, "{first:?} {second:?}");
        prop_assert!(first.bytes().chain(second.bytes()).all(|b| b.is_ascii_digit()));
        prop_assert!(second.is_empty() || first.len() == 3);
    }

    #[test]
    fn note_is_at_most_25_chars(input in shopper_text()) {
        let output = normalise::note(&input);
        prop_assert!(output.chars().count() <= 25, "{output:?}");
        if input.chars().count() <= 22 {
            prop_assert_eq!(&output, &input);
        } else {
            prop_assert!(output.ends_with("...") && input.starts_with(output.trim_end_matches("...")));
        }
    }

    #[test]
    fn name_is_at_most_20_chars(input in shopper_text()) {
        let output = normalise::name(&input);
        prop_assert!(output.chars().count() <= 20);
        prop_assert!(input.starts_with(&output));
    }

    #[test]
    fn sendable_stays_sendable(input in prop_oneof![sendable_text(), shopper_text()]) {
        prop_assume!(representable(&input));
        let (first, second) = normalise::postcode(&input);
        for output in [
            normalise::kana(&input),
            normalise::phone(&input),
            first,
            second,
            normalise::note(&input),
            normalise::name(&input),
        ] {
            prop_assert!(representable(&output), "{input:?} → {output:?}");
        }
    }

    #[test]
    fn a_sendable_customer_gives_a_sendable_form(
        parts in proptest::collection::vec(sendable_text(), 11),
        note in sendable_text(),
        total in 0_i64..10_000_000,
    ) {
        let customer = Customer {
            email: parts[0].clone(),
            family_name: parts[1].clone(),
            given_name: parts[2].clone(),
            family_kana: parts[3].clone(),
            given_kana: parts[4].clone(),
            postcode: parts[5].clone(),
            prefecture: parts[6].clone(),
            address1: parts[7].clone(),
            address2: parts[8].clone(),
            address3: parts[9].clone(),
            phone: parts[10].clone(),
        };
        let request = PaymentStartRequest {
            settlement_type: "acting_remise_conv".to_owned(),
            link_key: "12345678901234567".to_owned(),
            total,
            tax: None,
            items: Vec::new(),
            customer,
            member: None,
            note,
            options: BTreeMap::new(),
            urls: ReturnUrls {
                success: "https://shop.example/ok".to_owned(),
                failure: "https://shop.example/ng".to_owned(),
                cancel: "https://shop.example/exit".to_owned(),
            },
            today: LocalDate { year: 2026, month: 11, day: 27 },
        };
        let config = config(&[]);
        let form = RemiseConvForm::new(&config, config.conv.as_ref().unwrap(), &request);
        for field in form.fields() {
            prop_assert!(representable(&field.value), "{} = {:?}", field.name, field.value);
        }
    }
}
