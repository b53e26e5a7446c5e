//! A template gateway module for shophost: copy this folder, rename `mygateway` everywhere, and
//! replace the wire format with your gateway's. The guide `docs/writing-a-gateway-module.md` walks
//! through it step by step.
//!
//! It is a complete module for an imaginary hosted-page gateway, "MyGateway":
//!
//! - the shop posts a UTF-8 form to MyGateway's payment page (`shop_id`, `order_id`, `amount`, return
//!   URLs);
//! - MyGateway posts a form-encoded notification back (`status=paid` or `failed`, with `order_id`,
//!   `transaction_id`, `amount`), answered `OK`;
//! - it sends the browser back with `order_id` in the query.
//!
//! Notifications are trusted by their source address ([`NotificationTrust::SourceAddress`]): the host
//! drops anything from outside the ranges the operator configured. If your gateway signs its
//! notifications, use [`NotificationTrust::Signed`] and verify the signature in `parse_notification`
//! instead (see the `acme-gateway` example).
//!
//! The module registers itself both ways: [`export_module!`](shophost_module_api::export_module) for
//! loading the `cdylib` at run time (`[[modules.dynamic]]` in `shophost.toml`), and `inventory` for
//! compiling it into a host.

use shophost_module_api::{
    async_trait, Answer, BrowserReturn, Capture, CharClass, FieldError, FormField, InboundRequest,
    IpRange, ModuleConfig, ModuleDescriptor, Notification, NotificationEndpoint, NotificationTrust,
    PaymentModule, PaymentStart, PaymentStartError, PaymentStartRequest, RedirectForm, Rejection,
    ReturnKind, SettingField, SettingsSchema, SettingsValues, SettlementKind, SettlementType,
    Signal, WireCharset, WireResponse, API_VERSION,
};

/// The module's id: lower-case ASCII, used in `shophost.toml`, URLs and storage.
pub const MODULE_ID: &str = "mygateway";
/// The one settlement type: `acting_<module id>_<kind>`.
pub const SETTLEMENT_CARD: &str = "acting_mygateway_card";
/// The notification endpoint, served at `/notify/mygateway`.
pub const ENDPOINT: &str = "mygateway";

/// The module. It holds nothing: everything it needs arrives as arguments.
#[derive(Debug, Clone, Copy, Default)]
pub struct MyGatewayModule;

// Loadable from a shared library: exports the ABI descriptor and the constructor.
shophost_module_api::export_module!(MyGatewayModule);

// Compiled into a host: registered with `inventory` (the host must link this crate).
shophost_module_api::inventory::submit! {
    ModuleDescriptor {
        id: MODULE_ID,
        display_name: "マイゲートウェイ",
        api_version: API_VERSION,
        build: || Box::new(MyGatewayModule),
    }
}

/// The validated settings: the module's own type, which the host keeps without looking inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MyGatewayConfig {
    /// `shop_id`.
    pub shop_id: String,
    /// `payment_page_url`.
    pub payment_page_url: String,
    /// `notify_sources`.
    pub notify_sources: Vec<IpRange>,
}

/// The operator's form. Labels and help are what the operator reads; keep them in their language.
pub fn settings_schema() -> SettingsSchema {
    SettingsSchema::new(vec![
        SettingField::text("shop_id", "ショップID")
            .required()
            .max_chars(20)
            .chars(CharClass::AsciiAlphanumeric),
        SettingField::url("payment_page_url", "決済ページURL")
            .default_value("https://pay.mygateway.example/start"),
        SettingField::text("notify_sources", "通知の送信元")
            .list()
            .default_value("192.0.2.0/24")
            .help("結果通知を送るIPアドレス（CIDR可）を、空白またはカンマで区切って入力してください。"),
    ])
}

/// Validates settings (defaults already filled in by the host) into a config, or every error.
pub fn validate(values: &SettingsValues) -> Result<MyGatewayConfig, Vec<FieldError>> {
    let schema = settings_schema();
    let mut errors = schema.check(values);
    let value = |key: &str| values.get(key).map(String::as_str).unwrap_or("");
    let notify_sources = match IpRange::parse_list(value("notify_sources")) {
        Ok(ranges) if !ranges.is_empty() => ranges,
        _ => {
            errors.push(FieldError::new(
                "notify_sources",
                "通知の送信元はIPアドレスまたはCIDRで入力してください".to_owned(),
            ));
            Vec::new()
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(MyGatewayConfig {
        shop_id: value("shop_id").to_owned(),
        payment_page_url: value("payment_page_url").to_owned(),
        notify_sources,
    })
}

/// The redirect form.
pub fn start_payment(
    config: &MyGatewayConfig,
    request: &PaymentStartRequest,
) -> Result<PaymentStart, PaymentStartError> {
    if request.settlement_type != SETTLEMENT_CARD {
        return Err(PaymentStartError::UnknownSettlementType(
            request.settlement_type.clone(),
        ));
    }
    Ok(PaymentStart::Redirect(RedirectForm {
        url: config.payment_page_url.clone(),
        method: "POST".into(),
        charset: WireCharset::Utf8,
        fields: vec![
            FormField::new("shop_id", &*config.shop_id),
            FormField::new("order_id", &*request.link_key),
            FormField::new("amount", request.total.to_string()),
            FormField::labelled("email", &*request.customer.email, "メールアドレス"),
            FormField::new("success_url", &*request.urls.success),
            FormField::new("failure_url", &*request.urls.failure),
            FormField::new("cancel_url", &*request.urls.cancel),
        ],
    }))
}

/// Reads a notification. Anything missing or odd is a rejection; only `status=paid` is a payment.
pub fn parse_notification(
    config: &MyGatewayConfig,
    request: &InboundRequest,
) -> Result<Notification, Rejection> {
    if request.method != "POST" || !request.form_body {
        return Err(Rejection::new(
            "a notification must be a POST with a form body",
        ));
    }
    let link_key = request
        .field("order_id")
        .filter(|key| is_link_key(key))
        .ok_or_else(|| Rejection::new("missing or malformed order_id"))?
        .to_owned();
    let reject = |reason: &str| Rejection {
        reason: reason.to_owned(),
        link_key: Some(link_key.clone()),
    };
    let transaction_id = request
        .field("transaction_id")
        .filter(|id| is_token(id))
        .ok_or_else(|| reject("missing or malformed transaction_id"))?
        .to_owned();
    let mut mismatches = Vec::new();
    if request.field("shop_id") != Some(config.shop_id.as_str()) {
        mismatches.push("shop_id is not this shop's".to_owned());
    }
    let (signal, kind) = match request.field("status") {
        Some("paid") => {
            let amount = request
                .field("amount")
                .filter(|a| !a.is_empty() && a.len() <= 15 && a.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|a| a.parse().ok())
                .ok_or_else(|| reject("missing or malformed amount"))?;
            let signal = Signal::PaymentSucceeded {
                transaction_id: transaction_id.clone(),
                amount,
                capture: Capture::Captured,
                card: None,
                recurring_id: None,
            };
            (signal, "paid")
        }
        Some("failed") => {
            let code = request
                .field("code")
                .filter(|code| is_token(code))
                .unwrap_or("unknown");
            let signal = Signal::PaymentFailed {
                code: code.to_owned(),
                detail: String::new(),
            };
            (signal, "failed")
        }
        // Unknown statuses are recorded and change nothing: never "paid" by default.
        _ => {
            let signal = Signal::NotPaid {
                detail: "unknown status".to_owned(),
            };
            (signal, "other")
        }
    };
    Ok(Notification {
        dedup_key: format!("{MODULE_ID}:{kind}:{transaction_id}"),
        link_key,
        signal,
        mismatches,
    })
}

/// Whether `text` could be a link key: 1 to 32 ASCII digits.
fn is_link_key(text: &str) -> bool {
    (1..=32).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `text` is a gateway id: 1 to 64 of `A–Z a–z 0–9 _ -`.
fn is_token(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn my_config(config: &ModuleConfig) -> Option<&MyGatewayConfig> {
    config.get::<MyGatewayConfig>()
}

#[async_trait]
impl PaymentModule for MyGatewayModule {
    fn id(&self) -> &str {
        MODULE_ID
    }

    fn display_name(&self) -> &str {
        "マイゲートウェイ"
    }

    fn settings_schema(&self) -> SettingsSchema {
        settings_schema()
    }

    fn validate(&self, values: &SettingsValues) -> Result<ModuleConfig, Vec<FieldError>> {
        validate(values).map(ModuleConfig::new)
    }

    fn settlement_types(&self, _config: &ModuleConfig) -> Vec<SettlementType> {
        vec![SettlementType {
            id: SETTLEMENT_CARD.into(),
            label: "カード決済（マイゲートウェイ）".into(),
            kind: SettlementKind::Immediate,
            checkout_options: Vec::new(),
            notice: None,
            recurring: false,
        }]
    }

    async fn start_payment(
        &self,
        config: &ModuleConfig,
        request: &PaymentStartRequest,
    ) -> Result<PaymentStart, PaymentStartError> {
        match my_config(config) {
            Some(config) => start_payment(config, request),
            None => Err(PaymentStartError::UnknownSettlementType(
                request.settlement_type.clone(),
            )),
        }
    }

    fn notification_endpoints(&self, config: &ModuleConfig) -> Vec<NotificationEndpoint> {
        my_config(config)
            .map(|config| {
                vec![NotificationEndpoint {
                    name: ENDPOINT.into(),
                    trust: NotificationTrust::SourceAddress(config.notify_sources.clone()),
                }]
            })
            .unwrap_or_default()
    }

    async fn parse_notification(
        &self,
        config: &ModuleConfig,
        _endpoint: &str,
        request: &InboundRequest,
    ) -> Result<Notification, Rejection> {
        match my_config(config) {
            Some(config) => parse_notification(config, request),
            None => Err(Rejection::new("the config was not built by this module")),
        }
    }

    async fn parse_return(
        &self,
        _config: &ModuleConfig,
        _settlement_type: &str,
        kind: ReturnKind,
        request: &InboundRequest,
    ) -> BrowserReturn {
        BrowserReturn {
            link_key: request
                .field("order_id")
                .filter(|key| is_link_key(key))
                .map(str::to_owned),
            notification: None,
            message: (kind == ReturnKind::Failure)
                .then(|| "お支払いが完了しませんでした。".to_owned()),
        }
    }

    fn respond(&self, _endpoint: &str, _request: &InboundRequest, answer: &Answer) -> WireResponse {
        match answer {
            Answer::Acknowledge => WireResponse::text(200, "text/plain", "OK"),
            Answer::Refuse { .. } => WireResponse::text(400, "text/plain", "NG"),
            Answer::Unavailable => WireResponse::text(503, "text/plain", "RETRY"),
        }
    }
}
