//! The Remise (ルミーズ) gateway module for shophost: card payments (with PayQuick and installments) and
//! multi-payments (コンビニ・電子マネー), speaking the protocol Welcart's Remise module speaks.
//!
//! # The key design decision: the server notification is the only source of truth
//!
//! Welcart created card orders from the shopper's browser return, which anyone can forge. Here the
//! browser return never marks anything paid: [`RemiseModule::parse_return`] only reads the link key,
//! a failure message and, for multi-payments, the slip (an unpaid order, deduplicated with the
//! notification). Payments come from the server-to-server notifications, read by
//! [`parse_notification`], which turns doubt (a missing `X-ERRLEVEL`, an unknown `REC_FLG`, two
//! different values for one field) into a rejection or a failure, never into "paid".
//!
//! Like every shophost module this crate does no I/O, reads no clock and draws no random numbers: the
//! forms and signals are pure functions of the config and the request, which is what the golden tests
//! against Welcart's observed forms rely on.
//!
//! # Map
//! - [`settings`]: the operator's form and its validation into [`RemiseConfig`].
//! - [`forms`]: the outbound wire types, the forms posted to Remise (`RemiseCardForm`, …).
//! - [`notifications`]: the inbound wire types, read into signals (`RemiseCardNotification`, …).
//! - [`normalise`]: KANA/TEL/YUBIN/name/BIKO normalisation for the multi-payment form.
//! - [`slip`]: `X-PAY_CSV` codes to the place and rows of the payment slip.

use shophost_module_api::{
    async_trait, Answer, BrowserReturn, CardUpdateRequest, CheckoutOption, InboundRequest,
    LinkKeySpec, ModuleConfig, Notification, NotificationEndpoint, NotificationTrust,
    PaymentModule, PaymentStart, PaymentStartError, PaymentStartRequest, RedirectForm, Refusal,
    Rejection, ReturnKind, SettingsSchema, SettingsValues, SettlementKind, SettlementType,
    WireCharset, WireResponse,
};

pub mod forms;
pub mod normalise;
pub mod notifications;
pub mod settings;
pub mod slip;

pub use notifications::{parse_card_notification, parse_conv_notification};
pub use settings::{RemiseConfig, RemiseEnvironment, RemiseJob};

/// The module's id.
pub const MODULE_ID: &str = "remise";
/// The card settlement type.
pub const SETTLEMENT_CARD: &str = "acting_remise_card";
/// The multi-payment settlement type.
pub const SETTLEMENT_CONV: &str = "acting_remise_conv";
/// The card result notification endpoint (also Welcart's `?acting=remise_card`).
pub const ENDPOINT_CARD: &str = "remise_card";
/// The multi-payment notification endpoint (also Welcart's `?acting=remise_conv`).
pub const ENDPOINT_CONV: &str = "remise_conv";

/// The acknowledgement Remise expects, byte for byte (no declaration, no newline).
pub const ACK_PC: &str = "<SDBKDATA>STATUS=800</SDBKDATA>";
/// The acknowledgement for a card notification that carries `CARIER_TYPE` (Remise's mobile flavour).
pub const ACK_MOBILE: &str = "<SDBKDATA>STATUS=900</SDBKDATA>";
const RESPONSE_CONTENT_TYPE: &str = "text/html; charset=Shift_JIS";

/// The Remise module.
#[derive(Debug, Clone, Copy, Default)]
pub struct RemiseModule;

/// Does nothing. The host calls it so that the linker keeps this crate, and with it the
/// `inventory` registration below, in the binary.
pub fn force_link() {}

shophost_module_api::inventory::submit! {
    shophost_module_api::ModuleDescriptor {
        id: "remise",
        display_name: "ルミーズ",
        api_version: shophost_module_api::API_VERSION,
        build: || Box::new(RemiseModule),
    }
}

/// Reads a notification at `endpoint` (`remise_card` or `remise_conv`); the pure function behind
/// [`PaymentModule::parse_notification`], public for the fuzz target.
pub fn parse_notification(
    config: &RemiseConfig,
    endpoint: &str,
    request: &InboundRequest,
) -> Result<Notification, Rejection> {
    match endpoint {
        ENDPOINT_CARD => parse_card_notification(config, request),
        ENDPOINT_CONV => parse_conv_notification(config, request),
        other => Err(Rejection::new(format!(
            "unknown Remise endpoint {}",
            normalise::first_chars(other, 32)
        ))),
    }
}

/// Reads a browser return; the pure function behind [`PaymentModule::parse_return`].
///
/// Card returns give the link key and, for failures, a message; they never carry a signal. A
/// multi-payment success return carries the issued slip, under the same dedup key as the issuance
/// notification.
pub fn parse_return(
    config: &RemiseConfig,
    settlement_type: &str,
    kind: ReturnKind,
    request: &InboundRequest,
) -> BrowserReturn {
    let link_key_in = |name: &str| {
        request
            .field(name)
            .filter(|key| notifications::is_link_key(key))
            .map(str::to_owned)
    };
    let nothing = BrowserReturn {
        link_key: None,
        notification: None,
        message: None,
    };
    match settlement_type {
        SETTLEMENT_CARD if config.card.is_some() => {
            let message = (kind == ReturnKind::Failure).then(|| {
                let codes: Vec<&str> = ["X-ERRCODE", "X-ERRINFO"]
                    .into_iter()
                    .filter_map(|name| notifications::shopper_safe_code(request.field(name)))
                    .collect();
                if codes.is_empty() {
                    "カード会社で決済が承認されませんでした。".to_owned()
                } else {
                    format!(
                        "カード会社で決済が承認されませんでした（エラーコード: {}）",
                        codes.join(" / ")
                    )
                }
            });
            BrowserReturn {
                link_key: link_key_in("X-S_TORIHIKI_NO"),
                notification: None,
                message,
            }
        }
        SETTLEMENT_CONV if config.conv.is_some() => {
            let issued = (kind == ReturnKind::Success
                && request.field("X-JOB_ID").is_some()
                && request.field("X-R_CODE").map(str::trim) == Some(notifications::R_CODE_OK))
            .then(|| notifications::RemiseConvIssued::try_from(request).ok())
            .flatten()
            .map(|issued| {
                issued.into_notification(notifications::identity_mismatches(config, request))
            });
            let message = (kind == ReturnKind::Failure).then(|| {
                match notifications::shopper_safe_code(request.field("X-R_CODE")) {
                    Some(code) => {
                        format!("お支払い手続きが完了しませんでした（エラーコード: {code}）")
                    }
                    None => "お支払い手続きが完了しませんでした。".to_owned(),
                }
            });
            BrowserReturn {
                link_key: link_key_in("X-S_TORIHIKI_NO"),
                notification: issued,
                message,
            }
        }
        _ => nothing,
    }
}

/// The exact answer to a notification; the pure function behind [`PaymentModule::respond`].
///
/// Always `200` with Remise's bare-text bodies (`<SDBKDATA>…`, `error0`, `error1`), except when the host
/// could not store the signal: then `503` `error2`, so Remise retries. Never an HTML error page.
pub fn respond(endpoint: &str, request: &InboundRequest, answer: &Answer) -> WireResponse {
    let (status, body) = match answer {
        Answer::Acknowledge if endpoint == ENDPOINT_CARD && request.has_field("CARIER_TYPE") => {
            (200, ACK_MOBILE)
        }
        Answer::Acknowledge => (200, ACK_PC),
        Answer::Refuse { refusal, .. } => match refusal {
            Refusal::SourceNotAllowed => (200, "error0"),
            Refusal::UnknownLinkKey
            | Refusal::Malformed
            | Refusal::Mismatch
            | Refusal::WrongState => (200, "error1"),
        },
        Answer::Unavailable => (503, "error2"),
    };
    WireResponse::text(status, RESPONSE_CONTENT_TYPE, body)
}

/// The settlement types a config provides.
pub fn settlement_types(config: &RemiseConfig) -> Vec<SettlementType> {
    let mut types = Vec::new();
    if let Some(card) = &config.card {
        let checkout_options = if card.installments {
            vec![CheckoutOption {
                key: "div".into(),
                label: "お支払回数".into(),
                choices: vec![
                    ("0".into(), "一括払い".into()),
                    ("1".into(), "2回払い".into()),
                    ("2".into(), "リボ払い".into()),
                ],
            }]
        } else {
            Vec::new()
        };
        types.push(SettlementType {
            id: SETTLEMENT_CARD.into(),
            label: "カード決済（ルミーズ）".into(),
            kind: SettlementKind::Immediate,
            checkout_options,
            notice: None,
            recurring: card.continuation,
        });
    }
    if let Some(conv) = &config.conv {
        types.push(SettlementType {
            id: SETTLEMENT_CONV.into(),
            label: "マルチ決済（ルミーズ）".into(),
            kind: SettlementKind::Deferred,
            checkout_options: Vec::new(),
            notice: conv.pay_days.map(|days| {
                format!("（お支払いの有効期限はご注文日から{days}日間となっております。）")
            }),
            recurring: false,
        });
    }
    types
}

/// Builds the redirect form for a payment; the pure function behind [`PaymentModule::start_payment`].
pub fn start_payment(
    config: &RemiseConfig,
    request: &PaymentStartRequest,
) -> Result<PaymentStart, PaymentStartError> {
    let (url, fields) = match request.settlement_type.as_str() {
        SETTLEMENT_CARD => {
            let card = config.card.as_ref().ok_or_else(|| unknown(request))?;
            let form = forms::RemiseCardForm::new(config, card, request);
            (card.form_url.clone(), form.fields())
        }
        SETTLEMENT_CONV => {
            let conv = config.conv.as_ref().ok_or_else(|| unknown(request))?;
            let form = forms::RemiseConvForm::new(config, conv, request);
            (conv.form_url.clone(), form.fields())
        }
        _ => return Err(unknown(request)),
    };
    Ok(redirect(url, fields))
}

/// Builds the card registration form for a member's card change; needs card payments and PayQuick on.
pub fn start_card_update(
    config: &RemiseConfig,
    request: &CardUpdateRequest,
) -> Result<PaymentStart, PaymentStartError> {
    match &config.card {
        Some(card) if card.payquick => {
            let form = forms::RemiseCardUpdateForm::new(config, request);
            Ok(redirect(card.form_url.clone(), form.fields()))
        }
        _ => Err(PaymentStartError::Unsupported),
    }
}

/// The notification endpoints a config listens on, each trusted only from its environment's addresses.
pub fn notification_endpoints(config: &RemiseConfig) -> Vec<NotificationEndpoint> {
    let mut endpoints = Vec::new();
    if let Some(card) = &config.card {
        endpoints.push(NotificationEndpoint {
            name: ENDPOINT_CARD.into(),
            trust: NotificationTrust::SourceAddress(card.notify_sources.clone()),
        });
    }
    if let Some(conv) = &config.conv {
        endpoints.push(NotificationEndpoint {
            name: ENDPOINT_CONV.into(),
            trust: NotificationTrust::SourceAddress(conv.notify_sources.clone()),
        });
    }
    endpoints
}

fn unknown(request: &PaymentStartRequest) -> PaymentStartError {
    PaymentStartError::UnknownSettlementType(request.settlement_type.clone())
}

fn redirect(url: String, fields: Vec<shophost_module_api::FormField>) -> PaymentStart {
    PaymentStart::Redirect(RedirectForm {
        url,
        method: "POST".into(),
        charset: WireCharset::ShiftJis,
        fields,
    })
}

/// The config inside a `ModuleConfig`, if this module built it.
fn remise_config(config: &ModuleConfig) -> Option<&RemiseConfig> {
    config.get::<RemiseConfig>()
}

#[async_trait]
impl PaymentModule for RemiseModule {
    fn id(&self) -> &str {
        MODULE_ID
    }

    fn display_name(&self) -> &str {
        "ルミーズ"
    }

    fn settings_schema(&self) -> SettingsSchema {
        settings::settings_schema()
    }

    fn validate(
        &self,
        values: &SettingsValues,
    ) -> Result<ModuleConfig, Vec<shophost_module_api::FieldError>> {
        settings::validate(values).map(ModuleConfig::new)
    }

    fn settlement_types(&self, config: &ModuleConfig) -> Vec<SettlementType> {
        remise_config(config)
            .map(settlement_types)
            .unwrap_or_default()
    }

    fn wire_charset(&self) -> WireCharset {
        WireCharset::ShiftJis
    }

    fn link_key_spec(&self) -> LinkKeySpec {
        LinkKeySpec {
            digits: notifications::LINK_KEY_MAX_DIGITS,
            card_update_prefix: Some(notifications::CARD_UPDATE_PREFIX),
        }
    }

    async fn start_payment(
        &self,
        config: &ModuleConfig,
        request: &PaymentStartRequest,
    ) -> Result<PaymentStart, PaymentStartError> {
        match remise_config(config) {
            Some(config) => start_payment(config, request),
            None => Err(unknown(request)),
        }
    }

    async fn start_card_update(
        &self,
        config: &ModuleConfig,
        request: &CardUpdateRequest,
    ) -> Result<PaymentStart, PaymentStartError> {
        match remise_config(config) {
            Some(config) => start_card_update(config, request),
            None => Err(PaymentStartError::Unsupported),
        }
    }

    fn notification_endpoints(&self, config: &ModuleConfig) -> Vec<NotificationEndpoint> {
        remise_config(config)
            .map(notification_endpoints)
            .unwrap_or_default()
    }

    async fn parse_notification(
        &self,
        config: &ModuleConfig,
        endpoint: &str,
        request: &InboundRequest,
    ) -> Result<Notification, Rejection> {
        match remise_config(config) {
            Some(config) => parse_notification(config, endpoint, request),
            None => Err(Rejection::new(
                "the config was not built by the Remise module",
            )),
        }
    }

    async fn parse_return(
        &self,
        config: &ModuleConfig,
        settlement_type: &str,
        kind: ReturnKind,
        request: &InboundRequest,
    ) -> BrowserReturn {
        match remise_config(config) {
            Some(config) => parse_return(config, settlement_type, kind, request),
            None => BrowserReturn {
                link_key: None,
                notification: None,
                message: None,
            },
        }
    }

    fn respond(&self, endpoint: &str, request: &InboundRequest, answer: &Answer) -> WireResponse {
        respond(endpoint, request, answer)
    }
}
