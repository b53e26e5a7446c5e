//! Acme's wire format: the redirect form the shopper's browser posts to Acme's payment page, and the
//! signed JSON notifications Acme posts back, each as an `Acme…` type with a conversion to or from the
//! host's domain types.
//!
//! A notification becomes a payment only when its signature verifies over the exact bytes received, its
//! body is UTF-8 JSON, it names this merchant, and its event says so exactly; every event Acme might add
//! later maps to "not paid", never to "paid".

use serde::Deserialize;
use shophost_module_api::{
    Capture, FormField, InboundRequest, LocalDate, Notification, PaymentSlip, PaymentStartRequest,
    Rejection, Signal, SlipRow,
};

use crate::settings::AcmeConfig;
use crate::signature;

/// Acme's ids and codes are short ASCII tokens; anything longer or stranger is not from Acme, and
/// bounding them bounds the dedup keys built from them.
const TOKEN_MAX_CHARS: usize = 64;
/// Free text goes to the host's error log; a cap keeps a sender from filling it.
const DETAIL_MAX_CHARS: usize = 200;
/// Longest description Acme's page shows.
const DESCRIPTION_MAX_CHARS: usize = 100;

/// How the shopper pays at Acme's page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcmeMethod {
    /// Card, paid at once.
    Card,
    /// Bank transfer: Acme issues account details, the shopper transfers later.
    Bank,
}

impl AcmeMethod {
    /// The form's `method` value.
    pub fn as_wire(self) -> &'static str {
        match self {
            AcmeMethod::Card => "card",
            AcmeMethod::Bank => "bank",
        }
    }
}

/// The redirect form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmePaymentForm {
    /// `merchant_id`.
    pub merchant_id: String,
    /// `order_id`: the link key.
    pub order_id: String,
    /// `amount`, yen.
    pub amount: i64,
    /// `method`.
    pub method: AcmeMethod,
    /// `description`: the cart in words.
    pub description: String,
    /// `email`.
    pub email: String,
    /// `customer_name`.
    pub customer_name: String,
    /// `success_url`.
    pub success_url: String,
    /// `failure_url`.
    pub failure_url: String,
    /// `cancel_url`.
    pub cancel_url: String,
    /// `transfer_due` (`YYYY-MM-DD`), bank transfers only.
    pub transfer_due: Option<LocalDate>,
}

impl AcmePaymentForm {
    /// The form for a payment request.
    pub fn new(config: &AcmeConfig, method: AcmeMethod, request: &PaymentStartRequest) -> Self {
        let description: Vec<String> = request
            .items
            .iter()
            .map(|item| format!("{} × {}", item.name, item.quantity))
            .collect();
        AcmePaymentForm {
            merchant_id: config.merchant_id.clone(),
            order_id: request.link_key.clone(),
            amount: request.total,
            method,
            description: first_chars(&description.join("、"), DESCRIPTION_MAX_CHARS),
            email: request.customer.email.clone(),
            customer_name: format!(
                "{} {}",
                request.customer.family_name, request.customer.given_name
            )
            .trim()
            .to_owned(),
            success_url: request.urls.success.clone(),
            failure_url: request.urls.failure.clone(),
            cancel_url: request.urls.cancel.clone(),
            transfer_due: (method == AcmeMethod::Bank)
                .then(|| request.today.add_days(config.bank_days)),
        }
    }

    /// The fields in Acme's order, ending with `signature` over all the others.
    pub fn fields(&self, secret_key: &str) -> Vec<FormField> {
        let mut fields = vec![
            FormField::new("merchant_id", &*self.merchant_id),
            FormField::new("order_id", &*self.order_id),
            FormField::new("amount", self.amount.to_string()),
            FormField::new("currency", "JPY"),
            FormField::new("method", self.method.as_wire()),
            FormField::new("description", &*self.description),
            FormField::labelled("email", &*self.email, "メールアドレス"),
            FormField::labelled("customer_name", &*self.customer_name, "お名前"),
            FormField::new("success_url", &*self.success_url),
            FormField::new("failure_url", &*self.failure_url),
            FormField::new("cancel_url", &*self.cancel_url),
        ];
        if let Some(due) = self.transfer_due {
            fields.push(FormField::new("transfer_due", iso_date(due)));
        }
        let message = signature::form_message(
            fields
                .iter()
                .map(|field| (field.name.as_str(), field.value.as_str())),
        );
        fields.push(FormField::new(
            "signature",
            signature::sign(secret_key, &message),
        ));
        fields
    }
}

/// What a notification says happened, mapped exhaustively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcmeEvent {
    /// `payment.succeeded`: a card payment was captured.
    PaymentSucceeded,
    /// `payment.failed`: a card payment was declined.
    PaymentFailed,
    /// `transfer.issued`: bank details were given to the shopper.
    TransferIssued,
    /// `transfer.received`: the shopper's transfer arrived.
    TransferReceived,
    /// Anything else (`transfer.expired`, events Acme adds later): never a payment.
    Other(String),
}

impl AcmeEvent {
    fn parse(event: &str) -> Self {
        match event {
            "payment.succeeded" => AcmeEvent::PaymentSucceeded,
            "payment.failed" => AcmeEvent::PaymentFailed,
            "transfer.issued" => AcmeEvent::TransferIssued,
            "transfer.received" => AcmeEvent::TransferReceived,
            other => AcmeEvent::Other(other.to_owned()),
        }
    }
}

/// Bank details of a transfer, as Acme sends them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AcmeTransfer {
    /// Bank.
    pub bank_name: String,
    /// Branch.
    pub branch_name: String,
    /// 普通 / 当座.
    pub account_type: String,
    /// Account number.
    pub account_number: String,
    /// Account holder, in katakana.
    pub account_holder: String,
    /// The reference the shopper must quote.
    pub reference: String,
    /// Last day to transfer, `YYYY-MM-DD`.
    pub due_date: String,
}

/// A notification body as Acme sends it (unknown fields are ignored: Acme adds fields over time).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AcmeNotification {
    /// E.g. `payment.succeeded`.
    pub event: String,
    /// Acme's id for the payment.
    pub payment_id: String,
    /// The link key.
    pub order_id: String,
    /// The merchant it is for.
    pub merchant_id: String,
    /// Amount, yen.
    #[serde(default)]
    pub amount: Option<i64>,
    /// `JPY`.
    #[serde(default)]
    pub currency: Option<String>,
    /// Decline code, for `payment.failed`.
    #[serde(default)]
    pub code: Option<String>,
    /// Decline message, for `payment.failed`.
    #[serde(default)]
    pub message: Option<String>,
    /// Bank details, for `transfer.issued`.
    #[serde(default)]
    pub transfer: Option<AcmeTransfer>,
}

impl AcmeNotification {
    /// Reads a notification: method, content type, signature over the raw body, UTF-8, JSON, in that
    /// order, so nothing is decoded before it is known to come from Acme.
    pub fn read(config: &AcmeConfig, request: &InboundRequest) -> Result<Self, Rejection> {
        if request.method != "POST" {
            return Err(Rejection::new(format!(
                "a notification must be a POST, got {}",
                first_chars(&request.method, 16)
            )));
        }
        let content_type = request
            .content_type
            .as_deref()
            .unwrap_or("")
            .to_ascii_lowercase();
        let mut parts = content_type.split(';').map(str::trim);
        if parts.next() != Some("application/json") {
            return Err(Rejection::new(format!(
                "content type must be application/json, got `{}`",
                first_chars(&content_type, 64)
            )));
        }
        if let Some(charset) = parts.find_map(|part| part.strip_prefix("charset=")) {
            if !matches!(charset.trim_matches('"'), "utf-8" | "utf8") {
                return Err(Rejection::new(format!(
                    "charset must be UTF-8, got `{}`",
                    first_chars(charset, 32)
                )));
            }
        }
        let Ok(given) = request.required_header(signature::SIGNATURE_HEADER) else {
            return Err(Rejection::new("missing X-Acme-Signature"));
        };
        if !signature::verify(config.secret_key.expose(), &request.body, given) {
            return Err(Rejection::new("bad X-Acme-Signature"));
        }
        let text = std::str::from_utf8(&request.body)
            .map_err(|error| Rejection::new(format!("body is not valid UTF-8: {error}")))?;
        serde_json::from_str(text).map_err(|error| {
            Rejection::new(format!(
                "body is not an Acme notification: {}",
                first_chars(&error.to_string(), DETAIL_MAX_CHARS)
            ))
        })
    }

    /// The signal for the host.
    pub fn into_notification(self, config: &AcmeConfig) -> Result<Notification, Rejection> {
        let link_key = self.order_id.trim().to_owned();
        if !is_link_key(&link_key) {
            return Err(Rejection::new("order_id is not a link key"));
        }
        let reject = |reason: String| Rejection::new(reason).for_link_key(&*link_key);
        let payment_id = self.payment_id.trim();
        if !is_token(payment_id) {
            return Err(reject("malformed payment_id".to_owned()));
        }
        if let Some(currency) = &self.currency {
            if currency != "JPY" {
                return Err(reject(format!(
                    "currency is `{}`, not JPY",
                    first_chars(currency, 8)
                )));
            }
        }
        if self.amount.is_some_and(|amount| amount < 0) {
            return Err(reject("negative amount".to_owned()));
        }
        let mut mismatches = Vec::new();
        if self.merchant_id != config.merchant_id {
            mismatches.push(format!(
                "merchant_id is `{}`, this shop's is `{}`",
                first_chars(&self.merchant_id, TOKEN_MAX_CHARS),
                config.merchant_id
            ));
        }
        let (signal, kind) = match AcmeEvent::parse(&self.event) {
            AcmeEvent::PaymentSucceeded => {
                let amount = self
                    .amount
                    .ok_or_else(|| reject("missing amount".to_owned()))?;
                let signal = Signal::PaymentSucceeded {
                    transaction_id: payment_id.to_owned(),
                    amount,
                    capture: Capture::Captured,
                    card: None,
                    recurring_id: None,
                };
                (signal, "succeeded".to_owned())
            }
            AcmeEvent::PaymentFailed => {
                let code = self
                    .code
                    .as_deref()
                    .map(str::trim)
                    .filter(|code| is_token(code))
                    .unwrap_or("unknown")
                    .to_owned();
                let detail = first_chars(
                    self.message.as_deref().unwrap_or("").trim(),
                    DETAIL_MAX_CHARS,
                );
                (Signal::PaymentFailed { code, detail }, "failed".to_owned())
            }
            AcmeEvent::TransferIssued => {
                let transfer = self
                    .transfer
                    .ok_or_else(|| reject("missing transfer".to_owned()))?;
                let deadline = LocalDate::parse_yyyymmdd(&transfer.due_date.replace('-', ""))
                    .ok_or_else(|| reject("malformed transfer.due_date".to_owned()))?;
                let row = |label: &str, value: &str| {
                    SlipRow::text(label, first_chars(value.trim(), TOKEN_MAX_CHARS))
                };
                let slip = PaymentSlip::new(
                    "銀行振込（アクメ）",
                    vec![
                        row("銀行名", &transfer.bank_name),
                        row("支店名", &transfer.branch_name),
                        row("口座種別", &transfer.account_type),
                        row("口座番号", &transfer.account_number),
                        row("口座名義", &transfer.account_holder),
                        row("振込依頼番号", &transfer.reference),
                    ],
                )
                .deadline(Some(deadline));
                let signal = Signal::PaymentIssued {
                    transaction_id: payment_id.to_owned(),
                    amount: self.amount,
                    slip,
                };
                (signal, "issued".to_owned())
            }
            AcmeEvent::TransferReceived => {
                let signal = Signal::PaymentReceived {
                    amount: self.amount,
                    transaction_id: Some(payment_id.to_owned()),
                };
                (signal, "received".to_owned())
            }
            AcmeEvent::Other(event) => {
                let event = first_chars(&event, 32);
                let signal = Signal::NotPaid {
                    detail: format!("Acme event `{event}`"),
                };
                // One key per event name and payment: each new kind of event is recorded once.
                let kind = if is_token(&event.replace('.', "_")) {
                    event
                } else {
                    "other".to_owned()
                };
                (signal, kind)
            }
        };
        Ok(
            Notification::new(link_key, format!("acme:{kind}:{payment_id}"), signal)
                .mismatches(mismatches),
        )
    }
}

/// Whether `text` could be a link key: 1 to 32 ASCII digits.
pub fn is_link_key(text: &str) -> bool {
    (1..=32).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `text` is an Acme token: 1 to 64 of `A–Z a–z 0–9 _ -`.
pub fn is_token(text: &str) -> bool {
    (1..=TOKEN_MAX_CHARS).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `YYYY-MM-DD`.
pub fn iso_date(date: LocalDate) -> String {
    format!("{:04}-{:02}-{:02}", date.year, date.month, date.day)
}

/// At most `max` characters of `text`.
pub fn first_chars(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}
