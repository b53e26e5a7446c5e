//! The kit checks what vouches for notifications: a copy of the Acme example module whose signature
//! check always says yes fails `notification_trust` for each forgery, and so does a copy that declares
//! its endpoint unverified without saying why; the real Acme passes every check.

use std::sync::Arc;

use acme_gateway::signature::{sign, SIGNATURE_HEADER};
use acme_gateway::{AcmeConfig, AcmeModule};
use shophost_module_api::{
    Answer, BrowserReturn, FieldError, InboundRequest, Notification, NotificationEndpoint,
    PaymentStart, PaymentStartError, PaymentStartRequest, Rejection, ReturnKind, SettingsSchema,
    SettingsValues, SettlementType, TypedModule, WireResponse,
};
use shophost_testkit::{run_conformance, Report, TestRequest, WireFormat};

const MERCHANT: &str = "M0001";
const SECRET: &str = "acme-test-secret-key-0123456789";

/// How to weaken Acme.
#[derive(Clone, Copy)]
enum Weakness {
    /// The signature check always says yes: every request is signed afresh before Acme reads it.
    AcceptsAnySignature,
    /// The endpoint is declared unverified, with no reason.
    UnverifiedWithoutReason,
}

/// Acme with one weakness. Same config type, so it delegates without any conversion.
struct WeakAcme(Weakness);

impl TypedModule for WeakAcme {
    const ID: &'static str = "acme";
    const DISPLAY_NAME: &'static str = "弱いアクメ";
    type Config = AcmeConfig;

    fn settings_schema(&self) -> SettingsSchema {
        AcmeModule.settings_schema()
    }
    fn validate(&self, values: &SettingsValues) -> Result<AcmeConfig, Vec<FieldError>> {
        AcmeModule.validate(values)
    }
    fn settlement_types(&self, config: &AcmeConfig) -> Vec<SettlementType> {
        AcmeModule.settlement_types(config)
    }
    fn notification_endpoints(&self, config: &AcmeConfig) -> Vec<NotificationEndpoint> {
        match self.0 {
            Weakness::AcceptsAnySignature => AcmeModule.notification_endpoints(config),
            Weakness::UnverifiedWithoutReason => {
                vec![NotificationEndpoint::unverified(
                    acme_gateway::ENDPOINT,
                    " ",
                )]
            }
        }
    }
    fn inbound_headers(&self) -> &'static [&'static str] {
        AcmeModule.inbound_headers()
    }
    async fn start_payment(
        &self,
        config: &AcmeConfig,
        request: &PaymentStartRequest,
    ) -> Result<PaymentStart, PaymentStartError> {
        AcmeModule.start_payment(config, request).await
    }
    async fn parse_notification(
        &self,
        config: &AcmeConfig,
        endpoint: &str,
        request: &InboundRequest,
    ) -> Result<Notification, Rejection> {
        // "Verifies" by signing whatever came with the right key: the check always says yes.
        let mut request = request.clone();
        request
            .headers
            .retain(|(name, _)| name.as_str() != SIGNATURE_HEADER);
        request.headers.push((
            SIGNATURE_HEADER.to_owned(),
            sign(config.secret_key.expose(), &request.body),
        ));
        AcmeModule
            .parse_notification(config, endpoint, &request)
            .await
    }
    async fn parse_return(
        &self,
        config: &AcmeConfig,
        settlement_type: &str,
        kind: ReturnKind,
        request: &InboundRequest,
    ) -> BrowserReturn {
        AcmeModule
            .parse_return(config, settlement_type, kind, request)
            .await
    }
    fn respond(&self, endpoint: &str, request: &InboundRequest, answer: &Answer) -> WireResponse {
        AcmeModule.respond(endpoint, request, answer)
    }
}

/// Acme's wire format: signed JSON notifications, returns with `order_id`.
struct AcmeWire;

fn signed(body: String) -> TestRequest {
    let signature = sign(SECRET, body.as_bytes());
    TestRequest::post("application/json", body).header("X-Acme-Signature", &signature)
}

fn event(link_key: &str, event: &str, amount: i64) -> String {
    format!(
        r#"{{"event":"{event}","payment_id":"pay_{link_key}","order_id":"{link_key}","merchant_id":"{MERCHANT}","amount":{amount},"currency":"JPY"}}"#
    )
}

impl WireFormat for AcmeWire {
    fn valid_settings(&self) -> SettingsValues {
        [("merchant_id", MERCHANT), ("secret_key", SECRET)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }
    fn invalid_settings(&self) -> SettingsValues {
        let mut values = self.valid_settings();
        values.insert("secret_key".to_owned(), "short".to_owned());
        values
    }
    fn endpoint(&self) -> String {
        acme_gateway::ENDPOINT.to_owned()
    }
    fn success_notification(&self, link_key: &str, amount: i64) -> TestRequest {
        signed(event(link_key, "payment.succeeded", amount))
    }
    fn failure_notification(&self, link_key: &str) -> TestRequest {
        signed(event(link_key, "payment.failed", 1980))
    }
    fn undecodable_notification(&self, link_key: &str, amount: i64) -> TestRequest {
        let mut body = event(link_key, "payment.succeeded", amount).into_bytes();
        body.insert(body.len() - 1, 0xff);
        let signature = sign(SECRET, &body);
        TestRequest::post("application/json", body).header("X-Acme-Signature", &signature)
    }
    fn success_return(&self, link_key: &str) -> TestRequest {
        TestRequest::get(format!("order_id={link_key}"))
    }
}

fn failures(report: &Report) -> Vec<(&'static str, String)> {
    report
        .checks
        .iter()
        .filter_map(|check| Some((check.name, check.outcome.clone().err()?)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_whose_signature_check_always_says_yes_fails_the_trust_check() {
    let report =
        run_conformance(Arc::new(WeakAcme(Weakness::AcceptsAnySignature)), &AcmeWire).await;
    let failures = failures(&report);
    let names: Vec<&str> = failures.iter().map(|(name, _)| *name).collect();
    // A module that reads only signed requests as its own passes everything else: the kit's other
    // checks send genuine notifications.
    assert_eq!(names, ["notification_trust"], "{report}");
    let reason = &failures[0].1;
    for forgery in [
        "a notification with a forged signature (the right form, the wrong value) was accepted and made an order",
        "a notification without its signature was accepted and made an order",
        "a notification signed for 1890 yen whose amount was changed to 1980 was accepted and made an order",
    ] {
        assert!(reason.contains(forgery), "{reason}");
    }
    assert!(
        reason.starts_with("endpoint `acme` is signed, but "),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unverified_endpoint_without_a_reason_fails_the_trust_check() {
    let report = run_conformance(
        Arc::new(WeakAcme(Weakness::UnverifiedWithoutReason)),
        &AcmeWire,
    )
    .await;
    let failures = failures(&report);
    assert_eq!(failures.len(), 1, "{report}");
    assert_eq!(failures[0].0, "notification_trust");
    assert!(
        failures[0]
            .1
            .starts_with("endpoint `acme` is unverified and declares no reason"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acme_itself_passes() {
    run_conformance(Arc::new(AcmeModule), &AcmeWire)
        .await
        .assert_passed();
}
