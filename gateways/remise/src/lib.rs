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
//! against Welcart's observed forms rely on. [`RemiseModule`] implements `TypedModule` with
//! [`RemiseConfig`] as its config by delegating to those pure functions, which the tests and the fuzz
//! targets call directly.
//!
//! # Map
//! - [`settings`]: the operator's form and its validation into [`RemiseConfig`].
//! - [`forms`]: the outbound wire types, the forms posted to Remise (`RemiseCardForm`, …).
//! - [`notifications`]: the inbound wire types, read into signals (`RemiseCardNotification`, …).
//! - [`normalise`]: KANA/TEL/YUBIN/name/BIKO normalisation for the multi-payment form.
//! - [`slip`]: `X-PAY_CSV` codes to the place and rows of the payment slip.

use shophost_module_api::{
    register_module, Answer, BrowserReturn, Capture, CardUpdateRequest, CheckoutOption, FieldError,
    FormField, InboundRequest, LinkKeySpec, Notification, NotificationEndpoint, PaymentStart,
    PaymentStartError, PaymentStartRequest, RedirectForm, Refusal, Rejection, ReturnKind,
    SettingsSchema, SettingsValues, SettlementKind, SettlementType, TypedModule, WireCharset,
    WireResponse,
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
/// Where the operator registers the notification URLs (and stops recurring charges) at Remise.
pub const BACKYARD: &str = "加盟店バックヤード";

/// The acknowledgement Remise expects, byte for byte (no declaration, no newline).
pub const ACK_PC: &str = "<SDBKDATA>STATUS=800</SDBKDATA>";
/// The acknowledgement for a card notification that carries `CARIER_TYPE` (Remise's mobile flavour).
pub const ACK_MOBILE: &str = "<SDBKDATA>STATUS=900</SDBKDATA>";
const RESPONSE_CONTENT_TYPE: &str = "text/html; charset=Shift_JIS";

/// The Remise module.
#[derive(Debug, Clone, Copy, Default)]
pub struct RemiseModule;

/// Does nothing. The host calls it so that the linker keeps this crate, and with it the
/// registration below, in the binary.
pub fn force_link() {}

register_module!(RemiseModule);

/// Reads a notification at `endpoint` (`remise_card` or `remise_conv`); the pure function behind
/// [`TypedModule::parse_notification`], public for the fuzz target.
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

/// Reads a browser return; the pure function behind [`TypedModule::parse_return`].
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
            BrowserReturn::nothing()
                .link_key(link_key_in("X-S_TORIHIKI_NO"))
                .message(message)
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
            BrowserReturn::nothing()
                .link_key(link_key_in("X-S_TORIHIKI_NO"))
                .notification(issued)
                .message(message)
        }
        _ => BrowserReturn::nothing(),
    }
}

/// The exact answer to a notification; the pure function behind [`TypedModule::respond`].
///
/// Always `200` with Remise's bare-text bodies (`<SDBKDATA>…`, `error0`, `error1`), except when the host
/// could not store the signal: then `503` `error2`, so Remise retries. Never an HTML error page.
pub fn respond(endpoint: &str, request: &InboundRequest, answer: &Answer) -> WireResponse {
    let (status, body) = match answer {
        Answer::Acknowledge if endpoint == ENDPOINT_CARD && request.has_field("CARIER_TYPE") => {
            (200, ACK_MOBILE)
        }
        Answer::Acknowledge => (200, ACK_PC),
        Answer::Refuse(Refusal::SourceNotAllowed) => (200, "error0"),
        // Every other refusal, including any the host learns to tell apart later, is Welcart's
        // `error1`: the request was read and refused.
        Answer::Refuse(_) => (200, "error1"),
        Answer::Unavailable => (503, "error2"),
    };
    WireResponse::text(status, RESPONSE_CONTENT_TYPE, body)
}

/// The settlement types a config provides.
pub fn settlement_types(config: &RemiseConfig) -> Vec<SettlementType> {
    let mut types = Vec::new();
    if let Some(card) = &config.card {
        let mut card_type = SettlementType::new(
            SETTLEMENT_CARD,
            "カード決済（ルミーズ）",
            SettlementKind::Immediate,
        )
        .recurring(card.continuation)
        // What a payment the backyard shows is in, for 受注データ登録: the job this config sends.
        .capture(match card.job {
            settings::RemiseJob::Auth => Capture::Authorized,
            settings::RemiseJob::Capture => Capture::Captured,
        });
        if card.installments {
            card_type = card_type.checkout_option(CheckoutOption::new(
                "div",
                "お支払回数",
                &[("0", "一括払い"), ("1", "2回払い"), ("2", "リボ払い")],
            ));
        }
        types.push(card_type);
    }
    if let Some(conv) = &config.conv {
        let mut conv_type = SettlementType::new(
            SETTLEMENT_CONV,
            "マルチ決済（ルミーズ）",
            SettlementKind::Deferred,
        );
        if let Some(days) = conv.pay_days {
            conv_type = conv_type.notice(format!(
                "（お支払いの有効期限はご注文日から{days}日間となっております。）"
            ));
        }
        types.push(conv_type);
    }
    types
}

/// Builds the redirect form for a payment; the pure function behind [`TypedModule::start_payment`].
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

/// The notification endpoints a config listens on, each trusted only from its environment's addresses
/// and registered in the 加盟店バックヤード at Welcart's URL (`/index.php?acting=…`), which shops moving
/// from Welcart have registered already.
pub fn notification_endpoints(config: &RemiseConfig) -> Vec<NotificationEndpoint> {
    let mut endpoints = Vec::new();
    if let Some(card) = &config.card {
        endpoints.push(
            NotificationEndpoint::source_address(ENDPOINT_CARD, card.notify_sources.clone())
                .welcart_path()
                .setting_name("結果通知URL")
                .registered_at(BACKYARD),
        );
    }
    if let Some(conv) = &config.conv {
        endpoints.push(
            NotificationEndpoint::source_address(ENDPOINT_CONV, conv.notify_sources.clone())
                .welcart_path()
                .setting_name("収納情報通知URL")
                .registered_at(BACKYARD),
        );
    }
    endpoints
}

fn unknown(request: &PaymentStartRequest) -> PaymentStartError {
    PaymentStartError::UnknownSettlementType(request.settlement_type.clone())
}

fn redirect(url: String, fields: Vec<FormField>) -> PaymentStart {
    PaymentStart::Redirect(RedirectForm::post(url, WireCharset::ShiftJis, fields))
}

impl TypedModule for RemiseModule {
    const ID: &'static str = MODULE_ID;
    const DISPLAY_NAME: &'static str = "ルミーズ";
    type Config = RemiseConfig;

    fn settings_schema(&self) -> SettingsSchema {
        settings::settings_schema()
    }

    fn validate(&self, values: &SettingsValues) -> Result<RemiseConfig, Vec<FieldError>> {
        settings::validate(values)
    }

    fn settlement_types(&self, config: &RemiseConfig) -> Vec<SettlementType> {
        settlement_types(config)
    }

    fn notification_endpoints(&self, config: &RemiseConfig) -> Vec<NotificationEndpoint> {
        notification_endpoints(config)
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
        config: &RemiseConfig,
        request: &PaymentStartRequest,
    ) -> Result<PaymentStart, PaymentStartError> {
        start_payment(config, request)
    }

    async fn start_card_update(
        &self,
        config: &RemiseConfig,
        request: &CardUpdateRequest,
    ) -> Result<PaymentStart, PaymentStartError> {
        start_card_update(config, request)
    }

    async fn parse_notification(
        &self,
        config: &RemiseConfig,
        endpoint: &str,
        request: &InboundRequest,
    ) -> Result<Notification, Rejection> {
        parse_notification(config, endpoint, request)
    }

    async fn parse_return(
        &self,
        config: &RemiseConfig,
        settlement_type: &str,
        kind: ReturnKind,
        request: &InboundRequest,
    ) -> BrowserReturn {
        parse_return(config, settlement_type, kind, request)
    }

    fn respond(&self, endpoint: &str, request: &InboundRequest, answer: &Answer) -> WireResponse {
        respond(endpoint, request, answer)
    }
}
