//! The kit catches broken modules: Remise with its answers or its dedup keys broken on purpose fails
//! exactly the checks that should catch it, and says why. (`trust.rs` breaks Acme's signature check.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use remise::{RemiseConfig, RemiseModule};
use shophost_module_api::{
    Answer, BrowserReturn, FieldError, InboundRequest, LinkKeySpec, Notification,
    NotificationEndpoint, PaymentStart, PaymentStartError, PaymentStartRequest, Rejection,
    ReturnKind, SettingsSchema, SettingsValues, SettlementType, TypedModule, WireCharset,
    WireResponse,
};
use shophost_testkit::{run_conformance, Report, TestRequest, WireFormat};

/// How to break Remise.
#[derive(Clone, Copy)]
enum Fault {
    /// Answers every notification with the acknowledgement, whatever the host decided.
    AcknowledgesEverything,
    /// Gives every copy of an event its own dedup key.
    DedupKeyPerCopy,
    /// Answers every refusal with HTTP 500, which a gateway reads as "try again".
    RefusesWithServerError,
}

/// Remise with one fault: the same config type, so it delegates without any conversion.
struct Broken {
    fault: Fault,
    copies: AtomicUsize,
}

impl TypedModule for Broken {
    const ID: &'static str = "remise";
    const DISPLAY_NAME: &'static str = "壊れたルミーズ";
    type Config = RemiseConfig;

    fn settings_schema(&self) -> SettingsSchema {
        RemiseModule.settings_schema()
    }
    fn validate(&self, values: &SettingsValues) -> Result<RemiseConfig, Vec<FieldError>> {
        RemiseModule.validate(values)
    }
    fn settlement_types(&self, config: &RemiseConfig) -> Vec<SettlementType> {
        RemiseModule.settlement_types(config)
    }
    fn notification_endpoints(&self, config: &RemiseConfig) -> Vec<NotificationEndpoint> {
        RemiseModule.notification_endpoints(config)
    }
    fn wire_charset(&self) -> WireCharset {
        RemiseModule.wire_charset()
    }
    fn link_key_spec(&self) -> LinkKeySpec {
        RemiseModule.link_key_spec()
    }
    async fn start_payment(
        &self,
        config: &RemiseConfig,
        request: &PaymentStartRequest,
    ) -> Result<PaymentStart, PaymentStartError> {
        RemiseModule.start_payment(config, request).await
    }
    async fn parse_notification(
        &self,
        config: &RemiseConfig,
        endpoint: &str,
        request: &InboundRequest,
    ) -> Result<Notification, Rejection> {
        let mut notification = RemiseModule
            .parse_notification(config, endpoint, request)
            .await?;
        if let Fault::DedupKeyPerCopy = self.fault {
            let copy = self.copies.fetch_add(1, Ordering::SeqCst);
            notification.dedup_key = format!("{}:{copy}", notification.dedup_key);
        }
        Ok(notification)
    }
    async fn parse_return(
        &self,
        config: &RemiseConfig,
        settlement_type: &str,
        kind: ReturnKind,
        request: &InboundRequest,
    ) -> BrowserReturn {
        RemiseModule
            .parse_return(config, settlement_type, kind, request)
            .await
    }
    fn respond(&self, endpoint: &str, request: &InboundRequest, answer: &Answer) -> WireResponse {
        match self.fault {
            Fault::AcknowledgesEverything => {
                RemiseModule.respond(endpoint, request, &Answer::Acknowledge)
            }
            Fault::RefusesWithServerError if matches!(answer, Answer::Refuse(_)) => {
                WireResponse::text(500, "text/html; charset=Shift_JIS", "error1")
            }
            Fault::DedupKeyPerCopy | Fault::RefusesWithServerError => {
                RemiseModule.respond(endpoint, request, answer)
            }
        }
    }
}

/// A minimal Remise wire format: card result notifications in ASCII (valid Shift_JIS).
struct Wire;

const FORM: &str = "application/x-www-form-urlencoded";

fn notification(link_key: &str, amount: i64, level: &str) -> String {
    format!(
        "X-TRANID=T{link_key}&X-S_TORIHIKI_NO={link_key}&X-TOTAL={amount}&X-ERRCODE=&X-ERRLEVEL={level}&X-R_CODE={}",
        if level == "0" { "0:0000" } else { "1:0012" }
    )
}

impl WireFormat for Wire {
    fn valid_settings(&self) -> SettingsValues {
        [
            ("SHOPCO", "TESTSHOP"),
            ("HOSTID", "12345678"),
            ("card_activate", "on"),
            ("card_jb", "CAPTURE"),
            ("payquick", "off"),
            ("howpay", "off"),
            ("card_pc_ope", "test"),
            ("notify_sources_test", "127.0.0.1/32"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }
    fn invalid_settings(&self) -> SettingsValues {
        let mut values = self.valid_settings();
        values.insert("card_jb".to_owned(), "SOMETIMES".to_owned());
        values
    }
    fn endpoint(&self) -> String {
        "remise_card".to_owned()
    }
    fn success_notification(&self, link_key: &str, amount: i64) -> TestRequest {
        TestRequest::post(FORM, notification(link_key, amount, "0"))
    }
    fn failure_notification(&self, link_key: &str) -> TestRequest {
        TestRequest::post(FORM, notification(link_key, 1980, "1"))
    }
    fn undecodable_notification(&self, link_key: &str, amount: i64) -> TestRequest {
        // 0x82 opens a two-byte Shift_JIS character that never comes.
        let total = format!("X-TOTAL={amount}");
        let body = notification(link_key, amount, "0").replace(&total, &format!("{total}%82"));
        TestRequest::post(FORM, body)
    }
    fn success_return(&self, link_key: &str) -> TestRequest {
        TestRequest::post(FORM, format!("X-S_TORIHIKI_NO={link_key}"))
    }
}

fn failed(report: &Report) -> Vec<&'static str> {
    report
        .checks
        .iter()
        .filter(|c| c.outcome.is_err())
        .map(|c| c.name)
        .collect()
}

async fn run(fault: Fault) -> Report {
    let module = Broken {
        fault,
        copies: AtomicUsize::new(0),
    };
    run_conformance(Arc::new(module), &Wire).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_that_acknowledges_refusals_fails_where_it_should() {
    let report = run(Fault::AcknowledgesEverything).await;
    assert!(!report.passed());
    assert_eq!(
        failed(&report),
        [
            "wrong_amount",
            "undecodable_charset",
            "notification_trust",
            "retry_after_refused_acknowledgement"
        ],
        "{report}"
    );
    let text = report.to_string();
    assert!(
        text.contains("FAIL  retry_after_refused_acknowledgement: a notification the host could not store was acknowledged (HTTP 200 `<SDBKDATA>STATUS=800</SDBKDATA>`); the gateway would never resend it"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_without_stable_dedup_keys_fails_the_duplicate_check() {
    let report = run(Fault::DedupKeyPerCopy).await;
    assert_eq!(failed(&report), ["duplicate_notification"], "{report}");
    assert!(
        report
            .to_string()
            .contains("two copies recorded 2 payment events, expected 1"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_that_answers_refusals_with_a_server_error_fails_where_it_should() {
    let report = run(Fault::RefusesWithServerError).await;
    assert_eq!(
        failed(&report),
        ["wrong_amount", "undecodable_charset", "notification_trust"],
        "{report}"
    );
    let text = report.to_string();
    assert!(
        text.contains("FAIL  wrong_amount: a notification for the wrong amount was answered HTTP 500 `error1`; a refusal must be answered below HTTP 500"),
        "{text}"
    );
    assert!(
        text.contains(
            "FAIL  undecodable_charset: an undecodable notification was answered HTTP 500 `error1`"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "FAIL  notification_trust: a success notification from 203.0.113.7 (outside the allowlist) was answered HTTP 500 `error1`"
        ),
        "{text}"
    );
}
