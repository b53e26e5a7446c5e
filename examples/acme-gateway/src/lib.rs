//! Acme: an example third-party gateway module for shophost, written only against
//! `shophost-module-api`, the way a gateway vendor would write one.
//!
//! Acme is a hosted-page gateway. The shop posts a signed form to Acme's payment page; the shopper pays
//! there by card (`acting_acme_card`, settled at once) or asks for bank transfer details
//! (`acting_acme_bank`, deferred: the order is created unpaid when Acme issues the details and becomes
//! paid when the transfer arrives). Acme tells the shop what happened with JSON notifications signed
//! with HMAC-SHA256 over the raw body, then sends the browser back.
//!
//! # The key design decision: the signature is the only trust
//!
//! Acme's notifications come from cloud addresses that change, so the endpoint is
//! [`NotificationTrust::Signed`](shophost_module_api::NotificationTrust::Signed): the host accepts
//! requests from anywhere, and [`parse_notification`] refuses any body whose `X-Acme-Signature` does
//! not verify, before decoding a byte of it. The module declares that header
//! ([`TypedModule::inbound_headers`]), so the host hands it over and journals it. The browser return
//! is unsigned and is only used to find the link key and show a message; it never marks anything paid.
//!
//! The crate is both a `cdylib` ([`shophost_module_api::export_module!`], for `[[modules.dynamic]]`)
//! and an `rlib` registered with [`register_module!`], so it can also be compiled into a host.
//!
//! # Map
//! - [`settings`]: the operator's form and [`AcmeConfig`].
//! - [`transformers`]: `AcmePaymentForm`, `AcmeNotification` and their conversions.
//! - [`signature`]: what Acme signs, with the module API's HMAC-SHA256 helpers.

use shophost_module_api::{
    register_module, Answer, BrowserReturn, FieldError, InboundRequest, Notification,
    NotificationEndpoint, PaymentStart, PaymentStartError, PaymentStartRequest, RedirectForm,
    Refusal, Rejection, ReturnKind, SettingsSchema, SettingsValues, SettlementKind, SettlementType,
    TypedModule, WireCharset, WireResponse,
};

pub mod settings;
pub mod signature;
pub mod transformers;

pub use settings::{AcmeConfig, AcmeEnvironment};
pub use transformers::{AcmeMethod, AcmeNotification, AcmePaymentForm};

/// The module's id.
pub const MODULE_ID: &str = "acme";
/// The card settlement type.
pub const SETTLEMENT_CARD: &str = "acting_acme_card";
/// The bank-transfer settlement type.
pub const SETTLEMENT_BANK: &str = "acting_acme_bank";
/// The one notification endpoint (`/notify/acme`).
pub const ENDPOINT: &str = "acme";

/// The Acme module.
#[derive(Debug, Clone, Copy, Default)]
pub struct AcmeModule;

shophost_module_api::export_module!(AcmeModule);

register_module!(AcmeModule);

/// The settlement types a config provides.
pub fn settlement_types(config: &AcmeConfig) -> Vec<SettlementType> {
    let mut types = Vec::new();
    if config.card {
        types.push(SettlementType::new(
            SETTLEMENT_CARD,
            "カード決済（アクメ）",
            SettlementKind::Immediate,
        ));
    }
    if config.bank {
        types.push(
            SettlementType::new(
                SETTLEMENT_BANK,
                "銀行振込（アクメ）",
                SettlementKind::Deferred,
            )
            .notice(format!(
                "（お振込みの期限はご注文日から{}日間です。）",
                config.bank_days
            )),
        );
    }
    types
}

/// Builds the signed redirect form; the pure function behind [`TypedModule::start_payment`].
pub fn start_payment(
    config: &AcmeConfig,
    request: &PaymentStartRequest,
) -> Result<PaymentStart, PaymentStartError> {
    let method = match request.settlement_type.as_str() {
        SETTLEMENT_CARD if config.card => AcmeMethod::Card,
        SETTLEMENT_BANK if config.bank => AcmeMethod::Bank,
        other => return Err(PaymentStartError::UnknownSettlementType(other.to_owned())),
    };
    let form = AcmePaymentForm::new(config, method, request);
    Ok(PaymentStart::Redirect(RedirectForm::post(
        config.payment_page_url.clone(),
        WireCharset::Utf8,
        form.fields(config.secret_key.expose()),
    )))
}

/// Reads a notification; the pure function behind [`TypedModule::parse_notification`].
pub fn parse_notification(
    config: &AcmeConfig,
    request: &InboundRequest,
) -> Result<Notification, Rejection> {
    AcmeNotification::read(config, request)?.into_notification(config)
}

/// Reads a browser return: Acme appends `order_id` (and, on failure, `code`) to the return URL.
pub fn parse_return(kind: ReturnKind, request: &InboundRequest) -> BrowserReturn {
    let link_key = request
        .field("order_id")
        .map(str::trim)
        .filter(|key| transformers::is_link_key(key))
        .map(str::to_owned);
    let message = (kind == ReturnKind::Failure).then(|| {
        match request
            .field("code")
            .map(str::trim)
            .filter(|code| transformers::is_token(code))
        {
            Some(code) => format!("お支払いが完了しませんでした（エラーコード: {code}）"),
            None => "お支払いが完了しませんでした。".to_owned(),
        }
    });
    BrowserReturn::nothing().link_key(link_key).message(message)
}

/// The answer Acme expects: any 2xx stops its retries, anything else makes it retry.
pub fn respond(answer: &Answer) -> WireResponse {
    let (status, body) = match answer {
        Answer::Acknowledge => (200, r#"{"received":true}"#),
        // Refusals are final (4xx); the reason stays in the shop's journal, not in Acme's logs.
        Answer::Refuse(refusal) => match refusal {
            Refusal::SourceNotAllowed => (403, r#"{"received":false,"error":"forbidden"}"#),
            Refusal::UnknownLinkKey => (404, r#"{"received":false,"error":"unknown_order"}"#),
            Refusal::Mismatch => (422, r#"{"received":false,"error":"mismatch"}"#),
            Refusal::WrongState => (409, r#"{"received":false,"error":"wrong_state"}"#),
            // Malformed, and any refusal the host learns to tell apart later.
            _ => (400, r#"{"received":false,"error":"malformed"}"#),
        },
        Answer::Unavailable => (503, r#"{"received":false,"retry":true}"#),
    };
    WireResponse::text(status, "application/json", body)
}

/// The endpoint Acme posts to, while card payments or bank transfers are on.
pub fn notification_endpoints(config: &AcmeConfig) -> Vec<NotificationEndpoint> {
    if config.card || config.bank {
        vec![NotificationEndpoint::signed(ENDPOINT)
            .setting_name("通知URL（Webhook）")
            .registered_at("アクメ管理画面")]
    } else {
        Vec::new()
    }
}

impl TypedModule for AcmeModule {
    const ID: &'static str = MODULE_ID;
    const DISPLAY_NAME: &'static str = "アクメ";
    type Config = AcmeConfig;

    fn settings_schema(&self) -> SettingsSchema {
        settings::settings_schema()
    }

    fn validate(&self, values: &SettingsValues) -> Result<AcmeConfig, Vec<FieldError>> {
        settings::validate(values)
    }

    fn settlement_types(&self, config: &AcmeConfig) -> Vec<SettlementType> {
        settlement_types(config)
    }

    fn notification_endpoints(&self, config: &AcmeConfig) -> Vec<NotificationEndpoint> {
        notification_endpoints(config)
    }

    fn inbound_headers(&self) -> &'static [&'static str] {
        &[signature::SIGNATURE_HEADER]
    }

    async fn start_payment(
        &self,
        config: &AcmeConfig,
        request: &PaymentStartRequest,
    ) -> Result<PaymentStart, PaymentStartError> {
        start_payment(config, request)
    }

    async fn parse_notification(
        &self,
        config: &AcmeConfig,
        _endpoint: &str,
        request: &InboundRequest,
    ) -> Result<Notification, Rejection> {
        parse_notification(config, request)
    }

    async fn parse_return(
        &self,
        _config: &AcmeConfig,
        _settlement_type: &str,
        kind: ReturnKind,
        request: &InboundRequest,
    ) -> BrowserReturn {
        parse_return(kind, request)
    }

    fn respond(&self, _endpoint: &str, _request: &InboundRequest, answer: &Answer) -> WireResponse {
        respond(answer)
    }
}
