//! Remise's inbound wire format: the notifications (and the fields of the returns) Remise sends
//! back, read into `Remise…` types with `TryFrom<&InboundRequest>` and turned into the host's
//! `Signal`s.
//!
//! The parsers are stricter than Welcart: a notification becomes "paid" only when every field that
//! says so is present and says exactly that; anything missing, malformed or contradictory is a
//! rejection or a failure, never a payment.
//!
//! The host hands over values whose bytes were not valid Shift_JIS with those bytes replaced by U+FFFD
//! (so that one bad byte in a name does not lose a payment). Every field read here that decides
//! anything or reaches the shopper refuses it: link keys, ids, amounts and codes take only ASCII
//! digits or printable ASCII, and the payment slip's free-text fields refuse U+FFFD by name. Only
//! details for the error log (`X-ERRINFO`) and fields never read (`X-NAME`) may carry it.

use shophost_module_api::{Capture, CardOnFile, InboundRequest, Notification, Rejection, Signal};

use crate::normalise;
use crate::settings::{RemiseConfig, RemiseJob};
use crate::slip;

/// Link keys starting with this mark a card update rather than a payment, in Remise's notifications.
pub const CARD_UPDATE_PREFIX: &str = "0000000";
/// Longest link key Remise accepts in `S_TORIHIKI_NO`, in digits.
pub const LINK_KEY_MAX_DIGITS: usize = 17;
/// `X-R_CODE` when Remise reports success.
pub const R_CODE_OK: &str = "0:0000";

// Gateway ids and codes are short ASCII tokens; anything longer or stranger is not from Remise, and
// keeping them bounded keeps the dedup keys built from them bounded too.
const ID_MAX_CHARS: usize = 64;
const CODE_MAX_CHARS: usize = 16;
// Free-text error details go to the host's error log; a cap keeps a hostile sender from filling it.
const DETAIL_MAX_CHARS: usize = 200;

// ---------------------------------------------------------------------------------------------------
// Reading fields
// ---------------------------------------------------------------------------------------------------

/// The one value of field `name`, or `None` when absent. A field sent twice with different values is
/// a rejection: the host and the module must never read different values of the same field.
fn single<'a>(
    request: &'a InboundRequest,
    name: &str,
    link_key: Option<&str>,
) -> Result<Option<&'a str>, Rejection> {
    let mut values = request
        .fields
        .iter()
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value.as_str());
    let first = values.next();
    if let Some(first) = first {
        if values.any(|other| other != first) {
            return Err(rejection(
                format!("conflicting values for {name}"),
                link_key,
            ));
        }
    }
    Ok(first)
}

fn rejection(reason: String, link_key: Option<&str>) -> Rejection {
    match link_key {
        Some(link_key) => Rejection::new(reason).for_link_key(link_key),
        None => Rejection::new(reason),
    }
}

/// Whether `value` is a link key Remise can have sent: 1–17 ASCII digits.
pub fn is_link_key(value: &str) -> bool {
    (1..=LINK_KEY_MAX_DIGITS).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit())
}

/// Reads the link key from field `name`, required.
fn link_key<'a>(request: &'a InboundRequest, name: &str) -> Result<&'a str, Rejection> {
    match single(request, name, None)? {
        None => Err(Rejection::new(format!("missing {name}"))),
        Some(value) if is_link_key(value) => Ok(value),
        Some(_) => Err(Rejection::new(format!(
            "malformed {name}: not 1 to {LINK_KEY_MAX_DIGITS} digits"
        ))),
    }
}

/// A short ASCII token (id or code): 1 to `max` printable ASCII characters, no spaces.
fn is_token(value: &str, max: usize) -> bool {
    (1..=max).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic())
}

/// Reads a required token field (transaction id, job id…), trimmed.
fn required_token<'a>(
    request: &'a InboundRequest,
    name: &str,
    max: usize,
    link_key: &str,
) -> Result<&'a str, Rejection> {
    match single(request, name, Some(link_key))?.map(str::trim) {
        None | Some("") => Err(rejection(format!("missing {name}"), Some(link_key))),
        Some(value) if is_token(value, max) => Ok(value),
        Some(_) => Err(rejection(format!("malformed {name}"), Some(link_key))),
    }
}

/// Reads an optional token field, trimmed; empty counts as absent.
fn optional_token<'a>(
    request: &'a InboundRequest,
    name: &str,
    max: usize,
    link_key: &str,
) -> Result<Option<&'a str>, Rejection> {
    match single(request, name, Some(link_key))?.map(str::trim) {
        None | Some("") => Ok(None),
        Some(value) if is_token(value, max) => Ok(Some(value)),
        Some(_) => Err(rejection(format!("malformed {name}"), Some(link_key))),
    }
}

/// Parses a yen amount: ASCII digits only (no sign, no separators), at most 15 of them.
pub fn parse_amount(value: &str) -> Option<i64> {
    let value = value.trim();
    if (1..=15).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit()) {
        value.parse().ok()
    } else {
        None
    }
}

/// Reads an optional amount field; present but not a non-negative integer is a rejection.
fn optional_amount(
    request: &InboundRequest,
    name: &str,
    link_key: &str,
) -> Result<Option<i64>, Rejection> {
    match single(request, name, Some(link_key))? {
        None => Ok(None),
        Some(value) => parse_amount(value).map(Some).ok_or_else(|| {
            rejection(
                format!("malformed {name}: not a non-negative integer"),
                Some(link_key),
            )
        }),
    }
}

/// The character the host puts where a value's bytes could not be decoded.
const REPLACED: char = '\u{FFFD}';

/// Free text for the error log: trimmed and capped.
fn detail(request: &InboundRequest, name: &str) -> String {
    normalise::first_chars(request.field(name).unwrap_or("").trim(), DETAIL_MAX_CHARS)
}

/// Identity fields Remise echoed (`SHOPCO`/`HOSTID`, with or without `X-`) that are not this shop's.
pub fn identity_mismatches(config: &RemiseConfig, request: &InboundRequest) -> Vec<String> {
    let mut mismatches = Vec::new();
    for (names, expected) in [
        (["SHOPCO", "X-SHOPCO"], &config.shop_code),
        (["HOSTID", "X-HOSTID"], &config.host_id),
    ] {
        for name in names {
            for (key, value) in &request.fields {
                if key == name && value != expected {
                    mismatches.push(format!(
                        "{name} is `{}`, this shop's is `{expected}`",
                        normalise::first_chars(value, ID_MAX_CHARS)
                    ));
                }
            }
        }
    }
    mismatches
}

// ---------------------------------------------------------------------------------------------------
// Card result notification
// ---------------------------------------------------------------------------------------------------

/// What a card result says, mapped exhaustively: only an exact success is [`RemiseCardResult::Approved`];
/// every other combination, including ones Remise does not document, is declined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemiseCardResult {
    /// `X-ERRLEVEL=0`, `X-ERRCODE` blank and `X-R_CODE` absent or `0:0000`.
    Approved,
    /// Anything else, with the code to log.
    Declined {
        /// `X-ERRCODE` trimmed, else `X-R_CODE`, else `ERRLEVEL=<n>`.
        code: String,
    },
}

/// A card result notification (結果通知), read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemiseCardNotification {
    /// `X-S_TORIHIKI_NO`.
    pub link_key: String,
    /// `X-TRANID`.
    pub transaction_id: String,
    /// From `X-ERRLEVEL`, `X-ERRCODE` and `X-R_CODE`.
    pub result: RemiseCardResult,
    /// `X-ERRINFO`, for the error log.
    pub error_info: String,
    /// `X-TOTAL`, else `X-AMOUNT`, when present.
    pub amount: Option<i64>,
    /// `X-PAYQUICKID`, `X-PARTOFCARD`, `X-EXPIRE` as a card, when Remise keeps the card.
    pub card: Option<CardOnFile>,
    /// `X-AC_MEMBERID`: Remise's id for the recurring charge this payment registered.
    pub recurring_id: Option<String>,
}

impl TryFrom<&InboundRequest> for RemiseCardNotification {
    type Error = Rejection;

    fn try_from(request: &InboundRequest) -> Result<Self, Rejection> {
        form_post(request, "card result notification")?;
        let link_key = link_key(request, "X-S_TORIHIKI_NO")?;
        let transaction_id = required_token(request, "X-TRANID", ID_MAX_CHARS, link_key)?;
        // Welcart read a missing X-ERRLEVEL as 0 (success); here it must be there and be one digit.
        let error_level = match single(request, "X-ERRLEVEL", Some(link_key))?.map(str::trim) {
            None => return Err(rejection("missing X-ERRLEVEL".into(), Some(link_key))),
            Some("") => return Err(rejection("empty X-ERRLEVEL".into(), Some(link_key))),
            Some(level) if level.len() == 1 && level.bytes().all(|b| b.is_ascii_digit()) => level,
            Some(_) => return Err(rejection("malformed X-ERRLEVEL".into(), Some(link_key))),
        };
        // The codes decide between paid and declined, so a code that is not a plain token (one the
        // host could not decode, say) is no answer either way.
        let code = |name: &str| match single(request, name, Some(link_key))?.map(str::trim) {
            Some(code) if !code.is_empty() && !is_token(code, CODE_MAX_CHARS) => {
                Err(rejection(format!("malformed {name}"), Some(link_key)))
            }
            code => Ok(code),
        };
        let error_code = code("X-ERRCODE")?;
        let result_code = code("X-R_CODE")?;
        let approved = error_level == "0"
            && error_code.is_none_or(str::is_empty)
            && result_code.is_none_or(|code| code == R_CODE_OK);
        let result = if approved {
            RemiseCardResult::Approved
        } else {
            let code = [error_code, result_code]
                .into_iter()
                .flatten()
                .find(|code| !code.is_empty())
                .map(|code| normalise::first_chars(code, DETAIL_MAX_CHARS))
                .unwrap_or_else(|| format!("ERRLEVEL={error_level}"));
            RemiseCardResult::Declined { code }
        };
        let amount = match optional_amount(request, "X-TOTAL", link_key)? {
            Some(total) => Some(total),
            None => optional_amount(request, "X-AMOUNT", link_key)?,
        };
        let card = optional_token(request, "X-PAYQUICKID", ID_MAX_CHARS, link_key)?.map(|token| {
            CardOnFile {
                token: token.to_owned(),
                last4: last4(request.field("X-PARTOFCARD").unwrap_or("")),
                expiry: expiry(request.field("X-EXPIRE").unwrap_or("")),
            }
        });
        let recurring_id =
            optional_token(request, "X-AC_MEMBERID", ID_MAX_CHARS, link_key)?.map(str::to_owned);
        Ok(RemiseCardNotification {
            link_key: link_key.to_owned(),
            transaction_id: transaction_id.to_owned(),
            result,
            error_info: detail(request, "X-ERRINFO"),
            amount,
            card,
            recurring_id,
        })
    }
}

impl RemiseCardNotification {
    /// The signal for the host. `job` says whether a success was an authorisation or a capture.
    pub fn into_notification(
        self,
        job: RemiseJob,
        mismatches: Vec<String>,
    ) -> Result<Notification, Rejection> {
        let link_key = self.link_key;
        let (signal, dedup_key) = match self.result {
            RemiseCardResult::Declined { code } => (
                Signal::PaymentFailed {
                    code,
                    detail: self.error_info,
                },
                format!("remise_card:failed:{}", self.transaction_id),
            ),
            RemiseCardResult::Approved if link_key.starts_with(CARD_UPDATE_PREFIX) => {
                let card = self.card.ok_or_else(|| {
                    rejection(
                        "missing X-PAYQUICKID in a card update".into(),
                        Some(&link_key),
                    )
                })?;
                (
                    Signal::CardRegistered { card },
                    format!("remise_card:update:{}", self.transaction_id),
                )
            }
            RemiseCardResult::Approved => {
                let amount = self.amount.ok_or_else(|| {
                    rejection("missing X-TOTAL and X-AMOUNT".into(), Some(&link_key))
                })?;
                (
                    Signal::PaymentSucceeded {
                        transaction_id: self.transaction_id.clone(),
                        amount,
                        // A recurring registration was sent with `JOB=AUTH` whatever the setting.
                        capture: if self.recurring_id.is_some() || job == RemiseJob::Auth {
                            Capture::Authorized
                        } else {
                            Capture::Captured
                        },
                        card: self.card,
                        recurring_id: self.recurring_id,
                    },
                    format!("remise_card:{}", self.transaction_id),
                )
            }
        };
        Ok(Notification::new(link_key, dedup_key, signal).mismatches(mismatches))
    }
}

/// Remise posts its notifications as forms; anything else is refused, naming what came.
fn form_post(request: &InboundRequest, what: &str) -> Result<(), Rejection> {
    if request.method == "POST" && request.form_body {
        return Ok(());
    }
    Err(Rejection::new(format!(
        "a {what} must be a POST with a form body, got {} {}",
        normalise::first_chars(&request.method, 16),
        if request.form_body {
            "with a form"
        } else {
            "without a form"
        }
    )))
}

/// The last four digits from `X-PARTOFCARD`, or empty when it holds no digits only.
fn last4(value: &str) -> String {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return String::new();
    }
    value[value.len().saturating_sub(4)..].to_owned()
}

/// `X-EXPIRE` (`MMYY`) as `MM/YY`, or empty when it is not a month and year.
fn expiry(value: &str) -> String {
    let value = value.trim();
    let month_ok = value
        .get(0..2)
        .and_then(|month| month.parse::<u8>().ok())
        .is_some_and(|month| (1..=12).contains(&month));
    if value.len() == 4 && value.bytes().all(|b| b.is_ascii_digit()) && month_ok {
        format!("{}/{}", &value[0..2], &value[2..4])
    } else {
        String::new()
    }
}

// ---------------------------------------------------------------------------------------------------
// Multi-payment notifications
// ---------------------------------------------------------------------------------------------------

/// The receipt flag of a 収納情報通知, mapped exhaustively: only `1` (収納済) is a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemiseRecFlag {
    /// `REC_FLG=1`: the shopper paid.
    Received,
    /// Any other value (Welcart counted these as paid; Remise's EC-CUBE module does not).
    Other(String),
}

impl RemiseRecFlag {
    fn parse(value: &str) -> Self {
        match value {
            "1" => RemiseRecFlag::Received,
            other => RemiseRecFlag::Other(other.to_owned()),
        }
    }
}

/// A multi-payment receipt notification (収納情報通知): unprefixed `S_TORIHIKI_NO` and `REC_FLG`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemiseConvReceipt {
    /// `S_TORIHIKI_NO`.
    pub link_key: String,
    /// `REC_FLG`.
    pub flag: RemiseRecFlag,
    /// `TOTAL`: always present when `flag` is [`RemiseRecFlag::Received`].
    pub amount: Option<i64>,
    /// `JOB_ID`, when present.
    pub job_id: Option<String>,
}

impl TryFrom<&InboundRequest> for RemiseConvReceipt {
    type Error = Rejection;

    fn try_from(request: &InboundRequest) -> Result<Self, Rejection> {
        let link_key = link_key(request, "S_TORIHIKI_NO")?;
        let flag = match single(request, "REC_FLG", Some(link_key))?.map(str::trim) {
            None => return Err(rejection("missing REC_FLG".into(), Some(link_key))),
            Some(flag) if flag.is_empty() || is_token(flag, CODE_MAX_CHARS) => {
                RemiseRecFlag::parse(flag)
            }
            Some(_) => return Err(rejection("malformed REC_FLG".into(), Some(link_key))),
        };
        let amount = optional_amount(request, "TOTAL", link_key)?;
        // A receipt is money arriving: it must say how much, and the host compares it with the order
        // (as Remise's own EC-CUBE plugin does). Welcart marked an order paid without it.
        if flag == RemiseRecFlag::Received && amount.is_none() {
            return Err(rejection(
                "missing TOTAL: a receipt (REC_FLG=1) must carry the amount paid".into(),
                Some(link_key),
            ));
        }
        Ok(RemiseConvReceipt {
            link_key: link_key.to_owned(),
            flag,
            amount,
            job_id: optional_token(request, "JOB_ID", ID_MAX_CHARS, link_key)?.map(str::to_owned),
        })
    }
}

impl RemiseConvReceipt {
    /// The signal for the host.
    pub fn into_notification(self, mismatches: Vec<String>) -> Notification {
        let (signal, dedup_key) = match self.flag {
            RemiseRecFlag::Received => (
                Signal::PaymentReceived {
                    amount: self.amount,
                    transaction_id: self.job_id,
                },
                format!("remise_conv:receipt:{}", self.link_key),
            ),
            RemiseRecFlag::Other(flag) => (
                Signal::NotPaid {
                    detail: format!("REC_FLG={flag}"),
                },
                format!("remise_conv:recflg:{flag}:{}", self.link_key),
            ),
        };
        Notification::new(self.link_key, dedup_key, signal).mismatches(mismatches)
    }
}

/// Whether a multi-payment slip was issued, mapped exhaustively: only `X-R_CODE=0:0000` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemiseIssueResult {
    /// `X-R_CODE=0:0000`.
    Issued,
    /// Any other code.
    Failed(String),
}

/// A multi-payment issuance result (`X-JOB_ID`, `X-PAY_*`), as a notification or a browser return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemiseConvIssued {
    /// `X-S_TORIHIKI_NO`.
    pub link_key: String,
    /// `X-JOB_ID`.
    pub job_id: String,
    /// From `X-R_CODE`.
    pub result: RemiseIssueResult,
    /// `X-ERRINFO`, for the error log.
    pub error_info: String,
    /// `X-TOTAL`, when present.
    pub amount: Option<i64>,
    /// `X-PAY_CSV`: where to pay.
    pub pay_csv: String,
    /// `X-PAY_NO1`.
    pub pay_no1: String,
    /// `X-PAY_NO2`.
    pub pay_no2: String,
    /// `X-PAYDATE` (`YYYYMMDD`).
    pub pay_date: String,
}

impl TryFrom<&InboundRequest> for RemiseConvIssued {
    type Error = Rejection;

    fn try_from(request: &InboundRequest) -> Result<Self, Rejection> {
        let link_key = link_key(request, "X-S_TORIHIKI_NO")?;
        let job_id = required_token(request, "X-JOB_ID", ID_MAX_CHARS, link_key)?;
        let result = match single(request, "X-R_CODE", Some(link_key))?.map(str::trim) {
            None | Some("") => return Err(rejection("missing X-R_CODE".into(), Some(link_key))),
            Some(R_CODE_OK) => RemiseIssueResult::Issued,
            Some(code) if is_token(code, CODE_MAX_CHARS) => {
                RemiseIssueResult::Failed(code.to_owned())
            }
            Some(_) => return Err(rejection("malformed X-R_CODE".into(), Some(link_key))),
        };
        // The slip is what the shopper pays with: a number with an undecodable byte in it is wrong.
        let text = |name: &str| -> Result<String, Rejection> {
            let value = single(request, name, Some(link_key))?.unwrap_or("").trim();
            if value.contains(REPLACED) {
                return Err(rejection(
                    format!("undecodable bytes in {name}"),
                    Some(link_key),
                ));
            }
            Ok(normalise::first_chars(value, DETAIL_MAX_CHARS))
        };
        Ok(RemiseConvIssued {
            link_key: link_key.to_owned(),
            job_id: job_id.to_owned(),
            result,
            error_info: detail(request, "X-ERRINFO"),
            amount: optional_amount(request, "X-TOTAL", link_key)?,
            pay_csv: text("X-PAY_CSV")?,
            pay_no1: text("X-PAY_NO1")?,
            pay_no2: text("X-PAY_NO2")?,
            pay_date: text("X-PAYDATE")?,
        })
    }
}

impl RemiseConvIssued {
    /// The signal for the host. The issued case has the same dedup key whether it came as a
    /// notification or on the browser return, so the two apply once between them.
    pub fn into_notification(self, mismatches: Vec<String>) -> Notification {
        let (signal, dedup_key) = match self.result {
            RemiseIssueResult::Issued => (
                Signal::PaymentIssued {
                    transaction_id: self.job_id.clone(),
                    amount: self.amount,
                    slip: slip::slip(&self.pay_csv, &self.pay_no1, &self.pay_no2, &self.pay_date),
                },
                format!("remise_conv:issued:{}", self.job_id),
            ),
            RemiseIssueResult::Failed(code) => (
                Signal::PaymentFailed {
                    code: code.clone(),
                    detail: self.error_info,
                },
                format!("remise_conv:failed:{}:{code}", self.link_key),
            ),
        };
        Notification::new(self.link_key, dedup_key, signal).mismatches(mismatches)
    }
}

// ---------------------------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------------------------

/// Reads a notification at the card endpoint (`remise_card`).
pub fn parse_card_notification(
    config: &RemiseConfig,
    request: &InboundRequest,
) -> Result<Notification, Rejection> {
    let notification = RemiseCardNotification::try_from(request)?;
    let Some(card) = &config.card else {
        return Err(rejection(
            "card payments are off in this shop's settings".into(),
            Some(&notification.link_key),
        ));
    };
    notification.into_notification(card.job, identity_mismatches(config, request))
}

/// Reads a notification at the multi-payment endpoint (`remise_conv`): a receipt (`S_TORIHIKI_NO` +
/// `REC_FLG`) or an issuance result (`X-JOB_ID` + `X-S_TORIHIKI_NO`).
pub fn parse_conv_notification(
    config: &RemiseConfig,
    request: &InboundRequest,
) -> Result<Notification, Rejection> {
    form_post(request, "multi-payment notification")?;
    if config.conv.is_none() {
        return Err(Rejection::new(
            "multi-payments are off in this shop's settings",
        ));
    }
    let mismatches = identity_mismatches(config, request);
    if request.has_field("S_TORIHIKI_NO") && request.has_field("REC_FLG") {
        Ok(RemiseConvReceipt::try_from(request)?.into_notification(mismatches))
    } else if request.has_field("X-JOB_ID") || request.has_field("X-S_TORIHIKI_NO") {
        Ok(RemiseConvIssued::try_from(request)?.into_notification(mismatches))
    } else if request.has_field("S_TORIHIKI_NO") {
        let link_key = request
            .field("S_TORIHIKI_NO")
            .filter(|key| is_link_key(key));
        Err(rejection("missing REC_FLG".into(), link_key))
    } else {
        Err(Rejection::new(
            "neither a receipt (S_TORIHIKI_NO, REC_FLG) nor an issuance result (X-JOB_ID, X-S_TORIHIKI_NO)",
        ))
    }
}

/// A gateway code or id short and plain enough to show to the shopper (the return is the shopper's own
/// request, so nothing else from it is echoed).
pub(crate) fn shopper_safe_code(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|code| {
        is_token(code, CODE_MAX_CHARS)
            && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b':')
    })
}
