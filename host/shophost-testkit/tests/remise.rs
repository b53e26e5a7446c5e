//! Remise through the conformance kit: its wire format described once (Shift_JIS form bodies, the
//! `X-` fields of a card result notification, the card return), and every check passing.

use std::sync::Arc;

use encoding_rs::SHIFT_JIS;
use percent_encoding::{percent_encode, NON_ALPHANUMERIC};
use shophost_module_api::SettingsValues;
use shophost_testkit::{run_conformance, TestRequest, WireFormat, CHECKS};

const FORM: &str = "application/x-www-form-urlencoded";

/// A form body in Shift_JIS, as Remise posts it (no charset in the content type).
fn sjis_form(fields: &[(&str, &str)]) -> Vec<u8> {
    fields
        .iter()
        .map(|(name, value)| {
            let (bytes, _, unmappable) = SHIFT_JIS.encode(value);
            assert!(!unmappable, "{value} has no Shift_JIS form");
            format!("{name}={}", percent_encode(&bytes, NON_ALPHANUMERIC))
        })
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

/// The `X-` fields of a card result notification that says the payment succeeded.
fn approved(link_key: &str, amount: i64) -> Vec<(&'static str, String)> {
    vec![
        ("X-TRANID", format!("T{link_key}")),
        ("X-S_TORIHIKI_NO", link_key.to_owned()),
        ("X-AMOUNT", amount.to_string()),
        ("X-TAX", "0".to_owned()),
        ("X-TOTAL", amount.to_string()),
        ("X-REFAPPROVED", "1234567".to_owned()),
        ("X-ERRCODE", "   ".to_owned()),
        ("X-ERRINFO", "000000000".to_owned()),
        ("X-ERRLEVEL", "0".to_owned()),
        ("X-R_CODE", "0:0000".to_owned()),
        ("X-PARTOFCARD", "1111".to_owned()),
        ("X-EXPIRE", "1229".to_owned()),
        ("X-NAME", "ヤマダ タロウ".to_owned()),
    ]
}

fn body(fields: &[(&'static str, String)]) -> Vec<u8> {
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    sjis_form(&pairs)
}

struct RemiseWire;

fn shop() -> SettingsValues {
    [
        ("SHOPCO", "TESTSHOP"),
        ("HOSTID", "12345678"),
        ("card_activate", "on"),
        ("card_jb", "CAPTURE"),
        ("payquick", "off"),
        ("howpay", "off"),
        ("card_pc_ope", "test"),
        ("conv_activate", "on"),
        ("S_PAYDATE", "14"),
        ("conv_pc_ope", "test"),
        ("notify_sources_test", "127.0.0.1/32"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

impl WireFormat for RemiseWire {
    fn valid_settings(&self) -> SettingsValues {
        shop()
    }

    fn invalid_settings(&self) -> SettingsValues {
        let mut values = shop();
        values.insert("SHOPCO".to_owned(), String::new());
        values
    }

    fn endpoint(&self) -> String {
        remise::ENDPOINT_CARD.to_owned()
    }

    fn success_notification(&self, link_key: &str, amount: i64) -> TestRequest {
        TestRequest::post(FORM, body(&approved(link_key, amount)))
    }

    fn failure_notification(&self, link_key: &str) -> TestRequest {
        let mut fields = approved(link_key, 1980);
        for (name, value) in &mut fields {
            match *name {
                "X-TRANID" => *value = format!("F{link_key}"),
                "X-REFAPPROVED" => value.clear(),
                "X-ERRCODE" => *value = "G12".to_owned(),
                "X-ERRINFO" => *value = "000000012".to_owned(),
                "X-ERRLEVEL" => *value = "1".to_owned(),
                "X-R_CODE" => *value = "1:0012".to_owned(),
                _ => {}
            }
        }
        TestRequest::post(FORM, body(&fields))
    }

    fn undecodable_notification(&self, link_key: &str, amount: i64) -> TestRequest {
        let fields: Vec<_> = approved(link_key, amount)
            .into_iter()
            .filter(|(name, _)| *name != "X-TOTAL")
            .collect();
        let mut bytes = body(&fields);
        // 0x82 opens a two-byte Shift_JIS character that never comes: the host reads the amount with
        // U+FFFD in its place, and Remise refuses an amount that is not digits. (The same byte in the
        // shopper's name would be read and the payment kept.)
        bytes.extend_from_slice(format!("&X-TOTAL={amount}%82").as_bytes());
        TestRequest::post(FORM, bytes)
    }

    fn success_return(&self, link_key: &str) -> TestRequest {
        // Remise sends the browser back with the notification's fields, posted in Shift_JIS.
        TestRequest::post(FORM, body(&approved(link_key, 1980)))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remise_passes_the_conformance_kit() {
    let report = run_conformance(Arc::new(remise::RemiseModule), &RemiseWire).await;
    report.assert_passed();
    let names: Vec<&str> = CHECKS.iter().map(|(name, _)| *name).collect();
    assert_eq!(report.passed_checks(), names);
}
