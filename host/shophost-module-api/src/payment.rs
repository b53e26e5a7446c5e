//! The payment side of the module API: settlement types, starting a payment, and the signals a
//! gateway's requests are turned into.
//!
//! Everything here is plain data. A module computes it; the host stores it and acts on it.

use std::collections::BTreeMap;

use crate::wire::WireCharset;

/// A settlement type (決済種別) a module provides, e.g. `acting_remise_card`.
///
/// Built with [`SettlementType::new`] and the setters after it, so that a field added later breaks no
/// module.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SettlementType {
    /// Slug, unique across modules: `acting_<module>_<kind>`.
    pub id: String,
    /// Label for operators, e.g. `カード決済（ルミーズ）`.
    pub label: String,
    /// How payments of this type settle.
    pub kind: SettlementKind,
    /// Extra choices the shopper makes at checkout (e.g. installments), in display order.
    pub checkout_options: Vec<CheckoutOption>,
    /// Text shown beside the method on the delivery and confirm pages, e.g. the payment deadline.
    pub notice: Option<String>,
    /// Whether a cart with a recurring item ([`LineItem::recurring`]) may be paid with this type: the
    /// first payment then also registers the recurring charge at the gateway (Remise 自動継続課金).
    pub recurring: bool,
    /// The state a payment of this type is in once the gateway has accepted it, as the module is
    /// configured (Remise `JOB=AUTH`: [`Capture::Authorized`]). The host gives an order it registers
    /// from the 決済直前ログ (受注データ登録) this state; it means nothing for a deferred type, whose
    /// registered order is unpaid (未入金).
    pub capture: Capture,
}

impl SettlementType {
    /// A settlement type with no checkout options, no notice, and no recurring charges.
    pub fn new(id: impl Into<String>, label: impl Into<String>, kind: SettlementKind) -> Self {
        SettlementType {
            id: id.into(),
            label: label.into(),
            kind,
            checkout_options: Vec::new(),
            notice: None,
            recurring: false,
            capture: Capture::Captured,
        }
    }

    /// Adds a choice the shopper makes at checkout (after the ones added before).
    pub fn checkout_option(mut self, option: CheckoutOption) -> Self {
        self.checkout_options.push(option);
        self
    }

    /// Sets the text shown beside the method on the delivery and confirm pages.
    pub fn notice(mut self, notice: impl Into<String>) -> Self {
        self.notice = Some(notice.into());
        self
    }

    /// Sets whether a cart with a recurring item may be paid with this type.
    pub fn recurring(mut self, recurring: bool) -> Self {
        self.recurring = recurring;
        self
    }

    /// Sets the state an accepted payment is in (captured unless set).
    pub fn capture(mut self, capture: Capture) -> Self {
        self.capture = capture;
        self
    }
}

/// How a settlement type settles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettlementKind {
    /// Paid (or authorised) at once at the gateway: the order is created when the gateway confirms it.
    Immediate,
    /// Paid later (convenience store, bank): the order is created unpaid (未入金) when the gateway issues
    /// the payment slip and becomes paid (入金済み) on the receipt notification.
    Deferred,
}

/// A choice the shopper makes at checkout for one settlement type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckoutOption {
    /// The key the choice is sent back under in [`PaymentStartRequest::options`], e.g. `div`.
    pub key: String,
    /// The label, e.g. `お支払回数`.
    pub label: String,
    /// `(value, label)` pairs; the first is the default.
    pub choices: Vec<(String, String)>,
}

impl CheckoutOption {
    /// A choice sent back under `key`, among `(value, label)` pairs; the first is the default.
    pub fn new(key: &str, label: &str, choices: &[(&str, &str)]) -> Self {
        CheckoutOption {
            key: key.to_owned(),
            label: label.to_owned(),
            choices: choices
                .iter()
                .map(|(value, label)| ((*value).to_owned(), (*label).to_owned()))
                .collect(),
        }
    }
}

/// A calendar date in the shop's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalDate {
    /// Year, e.g. 2026.
    pub year: i32,
    /// Month 1–12.
    pub month: u8,
    /// Day 1–31.
    pub day: u8,
}

impl LocalDate {
    /// The date `days` days later (or earlier, when negative).
    pub fn add_days(self, days: i64) -> LocalDate {
        LocalDate::from_day_number(self.day_number() + days)
    }

    /// `YYYYMMDD`.
    pub fn yyyymmdd(self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }

    /// Parses `YYYYMMDD`, checking that the date exists.
    pub fn parse_yyyymmdd(text: &str) -> Option<LocalDate> {
        if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let date = LocalDate {
            year: text[0..4].parse().ok()?,
            month: text[4..6].parse().ok()?,
            day: text[6..8].parse().ok()?,
        };
        (LocalDate::from_day_number(date.day_number()) == date).then_some(date)
    }

    /// Days since 1970-01-01 (Howard Hinnant's civil-from-days algorithm, inverted).
    pub fn day_number(self) -> i64 {
        let year = i64::from(self.year) - i64::from(self.month <= 2);
        let era = year.div_euclid(400);
        let year_of_era = year - era * 400;
        let month = i64::from(self.month);
        let day_of_year =
            (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        era * 146_097 + day_of_era - 719_468
    }

    /// The date `days` days after 1970-01-01.
    pub fn from_day_number(days: i64) -> LocalDate {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z - era * 146_097;
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let mp = (5 * day_of_year + 2) / 153;
        let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (year_of_era + era * 400 + i64::from(month <= 2)) as i32;
        LocalDate { year, month, day }
    }
}

/// One line of the cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineItem {
    /// Product name.
    pub name: String,
    /// Price of one, in yen, tax included.
    pub unit_price: i64,
    /// How many.
    pub quantity: i64,
    /// Set when the item is charged again and again (継続課金): the host sends such an item alone, to a
    /// member, and only to a settlement type with [`SettlementType::recurring`].
    pub recurring: Option<Recurrence>,
}

/// How a recurring item is charged after the first payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recurrence {
    /// Months between charges: 1 (monthly), 6 or 12.
    pub interval_months: u32,
    /// The date of the first charge after this payment.
    pub next_charge: LocalDate,
}

/// The customer as entered at checkout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Customer {
    /// E-mail address.
    pub email: String,
    /// Family name (姓).
    pub family_name: String,
    /// Given name (名).
    pub given_name: String,
    /// Family name reading (セイ), as entered.
    pub family_kana: String,
    /// Given name reading (メイ), as entered.
    pub given_kana: String,
    /// Postcode as entered, e.g. `150-0001`.
    pub postcode: String,
    /// Prefecture, e.g. `東京都`.
    pub prefecture: String,
    /// City and street.
    pub address1: String,
    /// Block and number.
    pub address2: String,
    /// Building.
    pub address3: String,
    /// Phone number as entered.
    pub phone: String,
}

/// A card the gateway keeps for a member (PayQuick and the like); the shop never sees the number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardOnFile {
    /// The gateway's token for the card (Remise `PAYQUICKID`).
    pub token: String,
    /// Last four digits (下4桁).
    pub last4: String,
    /// Expiry as `MM/YY`.
    pub expiry: String,
}

/// The logged-in member at checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRef {
    /// The shop's member id.
    pub member_id: i64,
    /// The card this module keeps for the member, if any.
    pub card: Option<CardOnFile>,
}

/// The URLs the host serves for the shopper's browser coming back from the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnUrls {
    /// Success return (Remise `RETURL`).
    pub success: String,
    /// Failure return (Remise `NG_RETURL`).
    pub failure: String,
    /// Cancel: back to the confirm page (Remise `EXITURL`).
    pub cancel: String,
}

/// Everything a module needs to build the start of one payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentStartRequest {
    /// The settlement type chosen.
    pub settlement_type: String,
    /// The checkout attempt's link key, already stored by the host.
    pub link_key: String,
    /// Total to charge, yen, tax included.
    pub total: i64,
    /// Tax included in `total`, when known.
    pub tax: Option<i64>,
    /// The cart.
    pub items: Vec<LineItem>,
    /// The customer.
    pub customer: Customer,
    /// The member, when logged in.
    pub member: Option<MemberRef>,
    /// The shopper's note to the shop (備考).
    pub note: String,
    /// The shopper's answers to the settlement type's [`CheckoutOption`]s.
    pub options: BTreeMap<String, String>,
    /// Where the browser comes back to.
    pub urls: ReturnUrls,
    /// Today in the shop's time zone.
    pub today: LocalDate,
}

/// Everything a module needs to start a card update (registering a new card without an order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardUpdateRequest {
    /// The card-update attempt's link key, already stored by the host.
    pub link_key: String,
    /// The member, with their current card.
    pub member: MemberRef,
    /// The member's e-mail address.
    pub email: String,
    /// The member's details as registered (name reading, phone…), for gateways that want them.
    pub customer: Customer,
    /// The member's current recurring charge at this module, whose card should change too.
    pub recurring: Option<RecurringCharge>,
    /// Where the browser comes back to.
    pub urls: ReturnUrls,
    /// Today in the shop's time zone.
    pub today: LocalDate,
}

/// A recurring charge the gateway runs for a member (see [`LineItem::recurring`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecurringCharge {
    /// The gateway's id for it, as reported by [`Signal::PaymentSucceeded::recurring_id`].
    pub gateway_id: String,
    /// Amount of each charge, yen.
    pub amount: i64,
}

/// How to send the shopper's browser to the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentStart {
    /// An auto-built form the browser submits to the gateway's hosted page.
    Redirect(RedirectForm),
}

/// A form posted by the shopper's browser to the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectForm {
    /// The gateway page.
    pub url: String,
    /// `POST` or `GET`.
    pub method: String,
    /// The charset the browser must submit in; the host serves the page in it and checks every value is
    /// representable before showing it.
    pub charset: WireCharset,
    /// The fields, in the order the gateway expects.
    pub fields: Vec<FormField>,
}

impl RedirectForm {
    /// A form the browser posts to `url` in `charset`.
    pub fn post(url: impl Into<String>, charset: WireCharset, fields: Vec<FormField>) -> Self {
        RedirectForm {
            url: url.into(),
            method: "POST".to_owned(),
            charset,
            fields,
        }
    }
}

/// One field of a [`RedirectForm`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormField {
    /// Wire name, e.g. `NAME1`.
    pub name: String,
    /// Value.
    pub value: String,
    /// What the shopper calls the value, e.g. `お名前（姓）`, used when it cannot be sent.
    pub label: Option<String>,
}

impl FormField {
    /// A field whose value the shop makes up (no shopper-facing label needed).
    pub fn new(name: &str, value: impl Into<String>) -> Self {
        FormField {
            name: name.to_owned(),
            value: value.into(),
            label: None,
        }
    }

    /// A field carrying something the shopper typed, named so an error can point at it.
    pub fn labelled(name: &str, value: impl Into<String>, label: &str) -> Self {
        FormField {
            name: name.to_owned(),
            value: value.into(),
            label: Some(label.to_owned()),
        }
    }
}

/// Why a payment cannot be started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentStartError {
    /// The settlement type is not one this module provides with its current settings.
    #[error("settlement type {0} is not provided")]
    UnknownSettlementType(String),
    /// The shopper's input cannot be sent as it is; the message is for the shopper, in Japanese.
    #[error("{0}")]
    Input(String),
    /// The module does not support this operation.
    #[error("not supported by this module")]
    Unsupported,
}

/// Whether a successful card payment was only authorised or also captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capture {
    /// 仮売上 (Remise `AUTH`).
    Authorized,
    /// 売上 (Remise `CAPTURE`).
    Captured,
}

/// One row of a payment slip (払込票) shown to the shopper, e.g. 払込番号.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SlipRow {
    /// Label, e.g. `払込番号`.
    pub label: String,
    /// Value.
    pub value: String,
    /// Whether the value is a URL to show as a link (the host shows only `http`/`https` URLs as links).
    pub link: bool,
}

impl SlipRow {
    /// A row of text.
    pub fn text(label: impl Into<String>, value: impl Into<String>) -> Self {
        SlipRow {
            label: label.into(),
            value: value.into(),
            link: false,
        }
    }

    /// A row whose value is a URL to show as a link.
    pub fn link(label: impl Into<String>, url: impl Into<String>) -> Self {
        SlipRow {
            label: label.into(),
            value: url.into(),
            link: true,
        }
    }
}

/// What the shopper needs to pay a deferred payment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PaymentSlip {
    /// Where to pay, e.g. `セブン-イレブン`.
    pub place: String,
    /// Place-specific rows.
    pub rows: Vec<SlipRow>,
    /// Last day to pay, in the shop's time zone.
    pub deadline: Option<LocalDate>,
}

impl PaymentSlip {
    /// A slip for paying at `place`, with these rows and no deadline.
    pub fn new(place: impl Into<String>, rows: Vec<SlipRow>) -> Self {
        PaymentSlip {
            place: place.into(),
            rows,
            deadline: None,
        }
    }

    /// Sets the last day to pay.
    pub fn deadline(mut self, deadline: Option<LocalDate>) -> Self {
        self.deadline = deadline;
        self
    }
}

/// What a gateway request says happened, as the module read it. The host checks it against its own
/// records (link key, amount, attempt state) before anything changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// A card payment succeeded.
    PaymentSucceeded {
        /// The gateway's transaction id.
        transaction_id: String,
        /// Amount charged, yen.
        amount: i64,
        /// Authorised or captured.
        capture: Capture,
        /// The card the gateway now keeps for the member, if it issued or confirmed one.
        card: Option<CardOnFile>,
        /// The gateway's id for the recurring charge this payment registered (Remise `X-AC_MEMBERID`),
        /// when the cart had a recurring item.
        recurring_id: Option<String>,
    },
    /// A payment failed at the gateway; recorded in the 決済エラーログ, nothing else changes.
    PaymentFailed {
        /// The gateway's error code.
        code: String,
        /// The gateway's explanation, if any.
        detail: String,
    },
    /// A deferred payment's slip was issued: the order exists, unpaid.
    PaymentIssued {
        /// The gateway's id for the slip (Remise `X-JOB_ID`).
        transaction_id: String,
        /// Amount to pay, yen, when the gateway says.
        amount: Option<i64>,
        /// What the shopper needs to pay.
        slip: PaymentSlip,
    },
    /// A deferred payment was received (入金).
    PaymentReceived {
        /// Amount received, yen, when the gateway says.
        amount: Option<i64>,
        /// The gateway's id for the slip, when it says.
        transaction_id: Option<String>,
    },
    /// A notification about a payment that says it was not paid (e.g. a receipt flag other than paid):
    /// recorded, changes nothing.
    NotPaid {
        /// What the gateway said.
        detail: String,
    },
    /// A member's card was registered or updated without an order.
    CardRegistered {
        /// The card.
        card: CardOnFile,
    },
}

/// A signal tied to the checkout it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Notification {
    /// The link key of the checkout attempt (or card-update attempt) the signal is about.
    pub link_key: String,
    /// What happened.
    pub signal: Signal,
    /// A key that is the same for every copy of this one gateway event and different for every other
    /// event, e.g. `card:<X-TRANID>`. The host applies each dedup key at most once.
    pub dedup_key: String,
    /// Identity fields the gateway echoed (e.g. `SHOPCO`) that did not match this shop's settings; when
    /// not empty the host refuses the request and logs these.
    pub mismatches: Vec<String>,
}

impl Notification {
    /// A signal about `link_key`, applied at most once per `dedup_key`, with no mismatches.
    pub fn new(link_key: impl Into<String>, dedup_key: impl Into<String>, signal: Signal) -> Self {
        Notification {
            link_key: link_key.into(),
            signal,
            dedup_key: dedup_key.into(),
            mismatches: Vec::new(),
        }
    }

    /// Sets the identity fields that did not match this shop's settings (the host refuses the
    /// notification when there are any).
    pub fn mismatches(mut self, mismatches: Vec<String>) -> Self {
        self.mismatches = mismatches;
        self
    }
}

/// Why a module could not read a request at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
#[non_exhaustive]
pub struct Rejection {
    /// What is wrong with it, for the journal and the error log, e.g. `missing X-S_TORIHIKI_NO`.
    pub reason: String,
    /// The link key, when it could be read.
    pub link_key: Option<String>,
}

impl Rejection {
    /// A rejection with no link key.
    pub fn new(reason: impl Into<String>) -> Self {
        Rejection {
            reason: reason.into(),
            link_key: None,
        }
    }

    /// The same rejection, about `link_key` (so the journal and the 決済エラーログ can name the checkout).
    pub fn for_link_key(mut self, link_key: impl Into<String>) -> Self {
        self.link_key = Some(link_key.into());
        self
    }
}

/// What a browser return says, as the module read it. A browser return never marks anything paid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrowserReturn {
    /// The link key, when the return carries one.
    pub link_key: Option<String>,
    /// For deferred payments, the slip the return carries: the host may create the unpaid order from it
    /// (once, for an open attempt whose link key and amount match). The host ignores any other signal.
    pub notification: Option<Notification>,
    /// For failures, the gateway's reason in words for the shopper.
    pub message: Option<String>,
}

impl BrowserReturn {
    /// A return that says nothing the host can use.
    pub fn nothing() -> Self {
        BrowserReturn::default()
    }

    /// Sets the link key the return carries.
    pub fn link_key(mut self, link_key: Option<String>) -> Self {
        self.link_key = link_key;
        self
    }

    /// Sets the slip of a deferred payment the return carries.
    pub fn notification(mut self, notification: Option<Notification>) -> Self {
        self.notification = notification;
        self
    }

    /// Sets the failure message for the shopper.
    pub fn message(mut self, message: Option<String>) -> Self {
        self.message = message;
        self
    }
}

/// The format link keys must have for this gateway; the host draws them from a cryptographic RNG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkKeySpec {
    /// Number of decimal digits.
    pub digits: usize,
    /// A prefix the host must never generate for ordinary checkouts, because the gateway gives it
    /// another meaning (Remise: `0000000` marks card updates); the host adds it for card updates.
    pub card_update_prefix: Option<&'static str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_add_across_months_and_leap_years() {
        let d = LocalDate {
            year: 2026,
            month: 11,
            day: 27,
        };
        assert_eq!(d.add_days(14).yyyymmdd(), "20261211");
        assert_eq!(d.add_days(35).yyyymmdd(), "20270101");
        let leap = LocalDate {
            year: 2028,
            month: 2,
            day: 28,
        };
        assert_eq!(leap.add_days(1).yyyymmdd(), "20280229");
        assert_eq!(LocalDate::from_day_number(0).yyyymmdd(), "19700101");
        assert_eq!(LocalDate::parse_yyyymmdd("20261211"), Some(d.add_days(14)));
        assert_eq!(LocalDate::parse_yyyymmdd("20260230"), None);
        assert_eq!(LocalDate::parse_yyyymmdd("2026121"), None);
    }
}
