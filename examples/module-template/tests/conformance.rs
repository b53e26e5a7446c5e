//! The module through a real host, with the conformance kit: describe the wire format once, and the
//! kit checks duplicates, returns without notifications, wrong amounts, undecodable bodies, retries
//! after a refused acknowledgement and invalid settings.

use std::sync::Arc;

use module_template::MyGatewayModule;
use shophost_module_api::testing::form_urlencoded;
use shophost_module_api::SettingsValues;
use shophost_testkit::{run_conformance, TestRequest, WireFormat};

const FORM: &str = "application/x-www-form-urlencoded";

struct MyWire;

fn notification(link_key: &str, status: &str, amount: i64) -> Vec<u8> {
    form_urlencoded(&[
        ("shop_id", "SHOP01"),
        ("order_id", link_key),
        ("transaction_id", &format!("TX{link_key}")),
        ("status", status),
        ("amount", &amount.to_string()),
    ])
}

impl WireFormat for MyWire {
    fn valid_settings(&self) -> SettingsValues {
        // The kit sends from 127.0.0.1.
        [("shop_id", "SHOP01"), ("notify_sources", "127.0.0.1/32")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn invalid_settings(&self) -> SettingsValues {
        [("shop_id", "")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn endpoint(&self) -> String {
        module_template::ENDPOINT.to_owned()
    }

    fn success_notification(&self, link_key: &str, amount: i64) -> TestRequest {
        TestRequest::post(FORM, notification(link_key, "paid", amount))
    }

    fn failure_notification(&self, link_key: &str) -> TestRequest {
        TestRequest::post(FORM, notification(link_key, "failed", 1980))
    }

    fn undecodable_notification(&self, link_key: &str, amount: i64) -> TestRequest {
        // 0xFF is never UTF-8. The host reads the amount with U+FFFD in its place, and the module
        // refuses an amount that is not digits.
        let mut body = form_urlencoded(&[
            ("shop_id", "SHOP01"),
            ("order_id", link_key),
            ("transaction_id", &format!("TX{link_key}")),
            ("status", "paid"),
        ]);
        body.extend_from_slice(format!("&amount={amount}%FF").as_bytes());
        TestRequest::post(FORM, body)
    }

    fn success_return(&self, link_key: &str) -> TestRequest {
        TestRequest::get(format!("order_id={link_key}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_module_passes_the_conformance_kit() {
    let report = run_conformance(Arc::new(MyGatewayModule), &MyWire).await;
    report.assert_passed();
}
