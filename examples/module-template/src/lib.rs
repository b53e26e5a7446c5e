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
//! Notifications are trusted by their source address ([`NotificationEndpoint::source_address`]): the
//! host drops anything from outside the ranges the operator configured. If your gateway signs its
//! notifications, declare [`NotificationEndpoint::signed`] and verify the signature in
//! `parse_notification` with [`shophost_module_api::signature`] instead (see the `acme-gateway`
//! example).
//!
//! The module is one [`TypedModule`] impl: its config is the module's own [`MyGatewayConfig`], handed
//! back to every method, so nothing here downcasts. It registers itself both ways:
//! [`export_module!`](shophost_module_api::export_module) for loading the `cdylib` at run time
//! (`[[modules.dynamic]]` in `shophost.toml`), and [`register_module!`] for compiling it into a host.

use shophost_module_api::{
    register_module, Answer, BrowserReturn, Capture, CharClass, FieldError, FormField,
    InboundRequest, IpRange, Notification, NotificationEndpoint, PaymentStart, PaymentStartError,
    PaymentStartRequest, RedirectForm, Rejection, ReturnKind, SettingField, SettingsSchema,
    SettingsValues, SettlementKind, SettlementType, Signal, TypedModule, WireCharset, WireResponse,
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
register_module!(MyGatewayModule);

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
    Ok(PaymentStart::Redirect(RedirectForm::post(
        &*config.payment_page_url,
        WireCharset::Utf8,
        vec![
            FormField::new("shop_id", &*config.shop_id),
            FormField::new("order_id", &*request.link_key),
            FormField::new("amount", request.total.to_string()),
            FormField::labelled("email", &*request.customer.email, "メールアドレス"),
            FormField::new("success_url", &*request.urls.success),
            FormField::new("failure_url", &*request.urls.failure),
            FormField::new("cancel_url", &*request.urls.cancel),
        ],
    )))
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
    // Each `required_*` refuses a missing, blank or repeated field by name; `?` makes it a rejection.
    let link_key = request.required_link_key("order_id")?;
    let reject = |reason: String| Rejection::new(reason).for_link_key(link_key);
    let transaction_id = request
        .required_field("transaction_id")
        .map_err(|error| reject(error.to_string()))?;
    if !is_token(transaction_id) {
        return Err(reject("malformed transaction_id".to_owned()));
    }
    let mut mismatches = Vec::new();
    if request.field("shop_id") != Some(config.shop_id.as_str()) {
        mismatches.push("shop_id is not this shop's".to_owned());
    }
    let (signal, kind) = match request.field("status") {
        Some("paid") => {
            let amount = request
                .required_amount("amount")
                .map_err(|error| reject(error.to_string()))?;
            let signal = Signal::PaymentSucceeded {
                transaction_id: transaction_id.to_owned(),
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
    let dedup_key = format!("{MODULE_ID}:{kind}:{transaction_id}");
    Ok(Notification::new(link_key, dedup_key, signal).mismatches(mismatches))
}

/// Whether `text` is a gateway id: 1 to 64 of `A–Z a–z 0–9 _ -`.
fn is_token(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl TypedModule for MyGatewayModule {
    const ID: &'static str = MODULE_ID;
    const DISPLAY_NAME: &'static str = "マイゲートウェイ";
    type Config = MyGatewayConfig;

    fn settings_schema(&self) -> SettingsSchema {
        settings_schema()
    }

    fn validate(&self, values: &SettingsValues) -> Result<MyGatewayConfig, Vec<FieldError>> {
        validate(values)
    }

    fn settlement_types(&self, _config: &MyGatewayConfig) -> Vec<SettlementType> {
        vec![SettlementType::new(
            SETTLEMENT_CARD,
            "カード決済（マイゲートウェイ）",
            SettlementKind::Immediate,
        )]
    }

    fn notification_endpoints(&self, config: &MyGatewayConfig) -> Vec<NotificationEndpoint> {
        // What the operator registers at the gateway, and where: the host prints the full URL in its
        // start-up banner, in `shophost modules` and in the advice for a notification that never came.
        vec![
            NotificationEndpoint::source_address(ENDPOINT, config.notify_sources.clone())
                .setting_name("結果通知URL")
                .registered_at("マイゲートウェイ管理画面"),
        ]
    }

    async fn start_payment(
        &self,
        config: &MyGatewayConfig,
        request: &PaymentStartRequest,
    ) -> Result<PaymentStart, PaymentStartError> {
        start_payment(config, request)
    }

    async fn parse_notification(
        &self,
        config: &MyGatewayConfig,
        _endpoint: &str,
        request: &InboundRequest,
    ) -> Result<Notification, Rejection> {
        parse_notification(config, request)
    }

    async fn parse_return(
        &self,
        _config: &MyGatewayConfig,
        _settlement_type: &str,
        kind: ReturnKind,
        request: &InboundRequest,
    ) -> BrowserReturn {
        // A return only finds the order page and a message; it never marks anything paid.
        BrowserReturn::nothing()
            .link_key(
                request
                    .required_link_key("order_id")
                    .ok()
                    .map(str::to_owned),
            )
            .message(
                (kind == ReturnKind::Failure).then(|| "お支払いが完了しませんでした。".to_owned()),
            )
    }

    fn respond(&self, _endpoint: &str, _request: &InboundRequest, answer: &Answer) -> WireResponse {
        match answer {
            Answer::Acknowledge => WireResponse::text(200, "text/plain", "OK"),
            // Every refusal is final for MyGateway: a 4xx it does not resend.
            Answer::Refuse(_) => WireResponse::text(400, "text/plain", "NG"),
            // A 5xx makes MyGateway resend later, once the shop can store it.
            Answer::Unavailable => WireResponse::text(503, "text/plain", "RETRY"),
        }
    }
}
