//! Acme through the conformance kit: its wire format (signed JSON notifications, returns with
//! `order_id`) described once, and every check passing.

use std::sync::Arc;

use acme_gateway::signature::sign;
use acme_gateway::AcmeModule;
use shophost_module_api::SettingsValues;
use shophost_testkit::{run_conformance, TestRequest, WireFormat};

const MERCHANT: &str = "M0001";
const SECRET: &str = "acme-test-secret-key-0123456789";

/// A notification as Acme posts it: the JSON body, signed over its exact bytes.
fn signed(body: Vec<u8>) -> TestRequest {
    let signature = sign(SECRET, &body);
    TestRequest::post("application/json; charset=utf-8", body)
        .header("X-Acme-Signature", &signature)
}

struct AcmeWire;

impl WireFormat for AcmeWire {
    fn valid_settings(&self) -> SettingsValues {
        [
            ("merchant_id", MERCHANT),
            ("secret_key", SECRET),
            ("environment", "test"),
            ("payment_page_url_test", "http://127.0.0.1:9/pay"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn invalid_settings(&self) -> SettingsValues {
        let mut values = self.valid_settings();
        values.insert("secret_key".to_owned(), "too-short".to_owned());
        values
    }

    fn endpoint(&self) -> String {
        acme_gateway::ENDPOINT.to_owned()
    }

    fn success_notification(&self, link_key: &str, amount: i64) -> TestRequest {
        signed(
            format!(
                r#"{{"event":"payment.succeeded","payment_id":"pay_{link_key}","order_id":"{link_key}","merchant_id":"{MERCHANT}","amount":{amount},"currency":"JPY"}}"#
            )
            .into_bytes(),
        )
    }

    fn failure_notification(&self, link_key: &str) -> TestRequest {
        signed(
            format!(
                r#"{{"event":"payment.failed","payment_id":"pay_{link_key}","order_id":"{link_key}","merchant_id":"{MERCHANT}","amount":1980,"currency":"JPY","code":"card_declined","message":"カード会社が承認しませんでした"}}"#
            )
            .into_bytes(),
        )
    }

    fn undecodable_notification(&self, link_key: &str, amount: i64) -> TestRequest {
        // Correctly signed, so only the UTF-8 check can stop it: 0xFF is never UTF-8.
        let mut body = format!(
            r#"{{"event":"payment.succeeded","payment_id":"pay_{link_key}","order_id":"{link_key}","merchant_id":"{MERCHANT}","amount":{amount},"currency":"JPY","customer_name":""#
        )
        .into_bytes();
        body.extend_from_slice(b"\xff\xfe\"}");
        signed(body)
    }

    fn success_return(&self, link_key: &str) -> TestRequest {
        TestRequest::get(format!("order_id={link_key}&payment_id=pay_{link_key}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acme_passes_the_conformance_kit() {
    let report = run_conformance(Arc::new(AcmeModule), &AcmeWire).await;
    report.assert_passed();
}
