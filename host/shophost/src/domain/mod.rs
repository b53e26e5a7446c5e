//! The shop's domain types: what the host stores and shows, independent of any backend or gateway.
//!
//! Money is an integer number of yen. Times are Unix milliseconds in UTC; the shop's time zone
//! (Asia/Tokyo, UTC+9, no daylight saving) is applied only for display and for gateway dates.

use serde::{Deserialize, Serialize};
use shophost_module_api::{Customer, LocalDate, PaymentSlip};

/// Japan Standard Time offset in seconds. Japan has had no daylight saving since 1951.
pub const SHOP_UTC_OFFSET_SECONDS: i64 = 9 * 3600;

/// Now, in Unix milliseconds.
pub fn now_millis() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

/// Bytes as lowercase hexadecimal. Kept only for `db/`, which is being moved in another branch and will
/// call `hex::encode` itself; remove at that merge.
pub fn hex(bytes: &[u8]) -> String {
    ::hex::encode(bytes)
}

/// The shop-local calendar date of a Unix-millisecond instant.
pub fn local_date(millis: i64) -> LocalDate {
    let local_seconds = millis.div_euclid(1000) + SHOP_UTC_OFFSET_SECONDS;
    LocalDate::from_day_number(local_seconds.div_euclid(86_400))
}

/// `YYYY-MM-DD HH:MM:SS` in shop-local time.
pub fn local_datetime(millis: i64) -> String {
    let local_seconds = millis.div_euclid(1000) + SHOP_UTC_OFFSET_SECONDS;
    let date = LocalDate::from_day_number(local_seconds.div_euclid(86_400));
    let seconds = local_seconds.rem_euclid(86_400);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        date.year,
        date.month,
        date.day,
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// `YYYY年MM月DD日`.
pub fn japanese_date(date: LocalDate) -> String {
    format!("{:04}年{:02}月{:02}日", date.year, date.month, date.day)
}

/// An order's payment status (入金状況).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// 未入金: a deferred payment's slip is issued, not yet paid.
    Unpaid,
    /// 入金済み: a deferred payment was received.
    Paid,
    /// 仮売上: card authorised, not captured.
    Authorized,
    /// 売上: card captured.
    Captured,
    /// 取消: cancelled.
    Cancelled,
    /// 期限切れ: the payment deadline passed without payment.
    Expired,
}

impl PaymentStatus {
    /// Storage slug.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Unpaid => "unpaid",
            PaymentStatus::Paid => "paid",
            PaymentStatus::Authorized => "authorized",
            PaymentStatus::Captured => "captured",
            PaymentStatus::Cancelled => "cancelled",
            PaymentStatus::Expired => "expired",
        }
    }

    /// Parses a storage slug.
    pub fn parse(slug: &str) -> Option<Self> {
        Some(match slug {
            "unpaid" => PaymentStatus::Unpaid,
            "paid" => PaymentStatus::Paid,
            "authorized" => PaymentStatus::Authorized,
            "captured" => PaymentStatus::Captured,
            "cancelled" => PaymentStatus::Cancelled,
            "expired" => PaymentStatus::Expired,
            _ => return None,
        })
    }

    /// The operator's word for it.
    pub fn label(self) -> &'static str {
        match self {
            PaymentStatus::Unpaid => "未入金",
            PaymentStatus::Paid => "入金済み",
            PaymentStatus::Authorized => "仮売上",
            PaymentStatus::Captured => "売上",
            PaymentStatus::Cancelled => "取消",
            PaymentStatus::Expired => "期限切れ",
        }
    }
}

/// A checkout attempt's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptState {
    /// Sent to the gateway (or about to be), no order yet.
    Open,
    /// The order exists.
    Ordered,
    /// A card update completed.
    CardUpdated,
}

impl AttemptState {
    /// Storage slug.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptState::Open => "open",
            AttemptState::Ordered => "ordered",
            AttemptState::CardUpdated => "card_updated",
        }
    }

    /// Parses a storage slug.
    pub fn parse(slug: &str) -> Option<Self> {
        Some(match slug {
            "open" => AttemptState::Open,
            "ordered" => AttemptState::Ordered,
            "card_updated" => AttemptState::CardUpdated,
            _ => return None,
        })
    }
}

/// What a checkout attempt is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptKind {
    /// A purchase.
    Order,
    /// A member's card change (no order).
    CardUpdate,
}

impl AttemptKind {
    /// Storage slug.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptKind::Order => "order",
            AttemptKind::CardUpdate => "card_update",
        }
    }

    /// Parses a storage slug.
    pub fn parse(slug: &str) -> Option<Self> {
        Some(match slug {
            "order" => AttemptKind::Order,
            "card_update" => AttemptKind::CardUpdate,
            _ => return None,
        })
    }
}

/// A product for sale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    /// Id.
    pub id: i64,
    /// Stock-keeping unit code.
    pub sku: String,
    /// Name.
    pub name: String,
    /// Price in yen, tax included.
    pub price: i64,
    /// Description (plain text).
    pub description: String,
    /// Set for a recurring product (継続課金).
    pub recurrence: Option<ProductRecurrence>,
}

/// How a recurring product is charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductRecurrence {
    /// Months between charges: 1, 6 or 12.
    pub interval_months: u32,
    /// Day of the month charges fall on: 1–28, or [`ORDER_DAY`] (the day of the first order).
    pub charging_day: u32,
}

/// [`ProductRecurrence::charging_day`] for "the day of the first order" (受注日).
pub const ORDER_DAY: u32 = 99;

impl ProductRecurrence {
    /// The first recurring charge after a first order on `ordered`: on the order's day `interval_months`
    /// later when charged on the order day, else the next charging day (this month if it is still ahead,
    /// next month otherwise), as WCEX DL Seller computes it.
    pub fn first_charge(self, ordered: LocalDate) -> LocalDate {
        let (year, month, day) = if self.charging_day == ORDER_DAY {
            let months = i64::from(ordered.month) - 1 + i64::from(self.interval_months);
            (
                i64::from(ordered.year) + months.div_euclid(12),
                months.rem_euclid(12) + 1,
                u32::from(ordered.day),
            )
        } else if u32::from(ordered.day) < self.charging_day {
            (
                i64::from(ordered.year),
                i64::from(ordered.month),
                self.charging_day,
            )
        } else {
            let months = i64::from(ordered.month);
            (
                i64::from(ordered.year) + months.div_euclid(12),
                months.rem_euclid(12) + 1,
                self.charging_day,
            )
        };
        month_day(year, month, day).unwrap_or(ordered)
    }
}

/// The date `year`-`month`-`day`, or the month's last day when it has no such day (the 29th–31st).
fn month_day(year: i64, month: i64, day: u32) -> Option<LocalDate> {
    (0..4).find_map(|back| {
        LocalDate::parse_yyyymmdd(&format!(
            "{year:04}{month:02}{:02}",
            day.saturating_sub(back)
        ))
    })
}

/// The date a recurring charge registered to start on `first` (`YYYYMMDD`) and repeat every
/// `interval_months` falls on next, on or after `today`: the gateway charges on that schedule by itself,
/// so the shop shows it without hearing about each charge. `None` when `first` is not a date.
pub fn scheduled_charge(first: &str, interval_months: i64, today: LocalDate) -> Option<LocalDate> {
    let first = LocalDate::parse_yyyymmdd(first)?;
    let interval = interval_months.max(1);
    let start = i64::from(first.year) * 12 + i64::from(first.month) - 1;
    (0..=1200 / interval)
        .map(|k| {
            let months = start + k * interval;
            month_day(
                months.div_euclid(12),
                months.rem_euclid(12) + 1,
                u32::from(first.day),
            )
        })
        .find_map(|date| date.filter(|date| *date >= today))
}

/// One line of a cart or order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLine {
    /// Product id.
    pub product_id: i64,
    /// Product name at the time.
    pub name: String,
    /// Unit price at the time, yen.
    pub unit_price: i64,
    /// Quantity.
    pub quantity: i64,
    /// For a recurring product: how it recurs and when it is next charged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurring: Option<CartRecurrence>,
}

/// A recurring line as checked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartRecurrence {
    /// The product's recurrence.
    #[serde(flatten)]
    pub product: ProductRecurrence,
    /// `YYYYMMDD` of the first recurring charge after this order.
    pub next_charge: u32,
}

impl CartRecurrence {
    /// The first recurring charge as a date.
    pub fn next_charge_date(self) -> Option<LocalDate> {
        LocalDate::parse_yyyymmdd(&format!("{:08}", self.next_charge))
    }
}

/// A recurring charge registered at a gateway by a first order (継続課金の契約).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecurringContract {
    /// Id.
    pub id: i64,
    /// The first order.
    pub order_id: i64,
    /// The member charged.
    pub member_id: i64,
    /// The gateway module.
    pub module_id: String,
    /// The settlement type of the first order.
    pub settlement_type: String,
    /// The gateway's id for it (Remise `X-AC_MEMBERID`), when reported.
    pub gateway_id: Option<String>,
    /// What is charged for.
    pub product_name: String,
    /// Amount of each charge, yen.
    pub amount: i64,
    /// Months between charges.
    pub interval_months: i64,
    /// Day of the month, or 99 = the first order's day.
    pub charging_day: i64,
    /// `YYYYMMDD` of the next charge as registered.
    pub next_charge: String,
    /// `continuation` (継続中) or `stopped` (停止).
    pub status: String,
    /// When registered.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
}

/// The customer's details as stored with an attempt and an order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerDetails {
    /// E-mail.
    pub email: String,
    /// 姓.
    pub family_name: String,
    /// 名.
    pub given_name: String,
    /// セイ.
    #[serde(default)]
    pub family_kana: String,
    /// メイ.
    #[serde(default)]
    pub given_kana: String,
    /// Postcode.
    #[serde(default)]
    pub postcode: String,
    /// Prefecture.
    #[serde(default)]
    pub prefecture: String,
    /// City and street.
    #[serde(default)]
    pub address1: String,
    /// Block and number.
    #[serde(default)]
    pub address2: String,
    /// Building.
    #[serde(default)]
    pub address3: String,
    /// Phone.
    #[serde(default)]
    pub phone: String,
}

impl CustomerDetails {
    /// As the module API's customer.
    pub fn to_module(&self) -> Customer {
        Customer {
            email: self.email.clone(),
            family_name: self.family_name.clone(),
            given_name: self.given_name.clone(),
            family_kana: self.family_kana.clone(),
            given_kana: self.given_kana.clone(),
            postcode: self.postcode.clone(),
            prefecture: self.prefecture.clone(),
            address1: self.address1.clone(),
            address2: self.address2.clone(),
            address3: self.address3.clone(),
            phone: self.phone.clone(),
        }
    }

    /// `姓 名`.
    pub fn full_name(&self) -> String {
        format!("{} {}", self.family_name, self.given_name)
    }
}

/// Everything a checkout attempt remembers (the 決済直前ログ's content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptSnapshot {
    /// The cart.
    pub lines: Vec<CartLine>,
    /// The customer.
    pub customer: CustomerDetails,
    /// Sum of lines.
    pub items_total: i64,
    /// Shipping.
    pub shipping: i64,
    /// Total charged.
    pub total: i64,
    /// Tax included in the total.
    pub tax: i64,
    /// 備考.
    pub note: String,
    /// Checkout options chosen (e.g. installments).
    #[serde(default)]
    pub options: std::collections::BTreeMap<String, String>,
}

/// A checkout attempt: the link key and the snapshot stored before the shopper is sent to the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// Id.
    pub id: i64,
    /// The link key (Remise `S_TORIHIKI_NO`).
    pub link_key: String,
    /// What it is for.
    pub kind: AttemptKind,
    /// The gateway module.
    pub module_id: String,
    /// The settlement type.
    pub settlement_type: String,
    /// The payment method's id, when an order attempt.
    pub payment_method_id: Option<i64>,
    /// The payment method's name at the time.
    pub payment_method_name: String,
    /// The logged-in member, if any.
    pub member_id: Option<i64>,
    /// The snapshot.
    pub snapshot: AttemptSnapshot,
    /// Total charged.
    pub total: i64,
    /// State.
    pub state: AttemptState,
    /// When the success browser return arrived, if it did.
    pub returned_at: Option<i64>,
    /// 要確認: why the operator should look at it, if they should.
    pub attention: Option<String>,
    /// The order made from it.
    pub order_id: Option<i64>,
    /// Created.
    pub created_at: i64,
}

/// An order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Order {
    /// Id.
    pub id: i64,
    /// Order number shown to shopper and operator.
    pub order_number: String,
    /// The attempt it came from.
    pub attempt_id: i64,
    /// The link key.
    pub link_key: String,
    /// The member, if any.
    pub member_id: Option<i64>,
    /// Customer.
    pub customer: CustomerDetails,
    /// Lines.
    pub lines: Vec<CartLine>,
    /// Total.
    pub total: i64,
    /// Payment method id (may point at a stopped method).
    pub payment_method_id: Option<i64>,
    /// Payment method name at the time of the order.
    pub payment_method_name: String,
    /// Settlement type at the time of the order.
    pub settlement_type: String,
    /// Settlement type label at the time of the order.
    pub settlement_label: String,
    /// Module.
    pub module_id: String,
    /// Payment status.
    pub payment_status: PaymentStatus,
    /// The gateway's transaction id.
    pub transaction_id: Option<String>,
    /// The payment slip for deferred payments.
    pub slip: Option<StoredSlip>,
    /// Payment deadline (YYYYMMDD), for deferred payments.
    pub deadline: Option<String>,
    /// 要確認: why the operator should look at it.
    pub attention: Option<String>,
    /// Created.
    pub created_at: i64,
}

/// A payment slip as stored (serde form of [`PaymentSlip`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSlip {
    /// Where to pay.
    pub place: String,
    /// `(label, value, link)` rows.
    pub rows: Vec<(String, String, bool)>,
    /// Deadline `YYYYMMDD`.
    pub deadline: Option<String>,
}

impl From<&PaymentSlip> for StoredSlip {
    fn from(slip: &PaymentSlip) -> Self {
        StoredSlip {
            place: slip.place.clone(),
            rows: slip
                .rows
                .iter()
                .map(|row| (row.label.clone(), row.value.clone(), row.link))
                .collect(),
            deadline: slip.deadline.map(LocalDate::yyyymmdd),
        }
    }
}

/// One entry of an order's append-only status history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderHistoryEntry {
    /// Previous status (none at creation).
    pub from_status: Option<PaymentStatus>,
    /// New status.
    pub to_status: PaymentStatus,
    /// Why.
    pub reason: String,
    /// When.
    pub at: i64,
}

/// A payment method (支払方法).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PaymentMethod {
    /// Id.
    pub id: i64,
    /// Unique name shown to shoppers.
    pub name: String,
    /// Explanation (sanitised HTML).
    pub explanation: String,
    /// Settlement type slug.
    pub settlement_type: String,
    /// Reserved (Welcart's 決済モジュール field, kept blank).
    pub module: String,
    /// 使用 (true) or 停止 (false).
    pub active: bool,
    /// Display order.
    pub sort: i64,
}

/// A member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    /// Id.
    pub id: i64,
    /// E-mail (login).
    pub email: String,
    /// Stored details.
    pub details: CustomerDetails,
}

/// A card a gateway keeps for a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberCard {
    /// Module.
    pub module_id: String,
    /// Gateway token (PayQuick id).
    pub token: String,
    /// 下4桁.
    pub last4: String,
    /// `MM/YY`.
    pub expiry: String,
}

/// A notification journal entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JournalEntry {
    /// Id.
    pub id: i64,
    /// Module, when the endpoint belonged to one.
    pub module_id: Option<String>,
    /// Endpoint name (e.g. `remise_card`).
    pub endpoint: String,
    /// HTTP method.
    pub method: String,
    /// Content type.
    pub content_type: Option<String>,
    /// Charset the body was decoded with.
    pub charset: String,
    /// Source address (after trusted-proxy rules).
    pub source: String,
    /// Headers that matter.
    pub headers: Vec<(String, String)>,
    /// Query string.
    pub query: String,
    /// Raw body.
    #[serde(skip)]
    pub body: Vec<u8>,
    /// Received.
    pub received_at: i64,
    /// accepted / duplicate / rejected.
    pub verdict: String,
    /// Why (for rejections) or what (for accepted).
    pub reason: String,
    /// Link key, when readable.
    pub link_key: Option<String>,
    /// Response status sent.
    pub response_status: i64,
    /// Response body sent.
    #[serde(skip)]
    pub response_body: Vec<u8>,
    /// The entry this one replays, if a replay.
    pub replay_of: Option<i64>,
}

/// A 決済エラーログ entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettlementError {
    /// Id.
    pub id: i64,
    /// Module.
    pub module_id: String,
    /// Endpoint or settlement type (Welcart's `acting`).
    pub acting: String,
    /// Link key, when known.
    pub link_key: Option<String>,
    /// Result (error code or reason).
    pub result: String,
    /// Decoded fields.
    pub fields: Vec<(String, String)>,
    /// The journal entry.
    pub journal_id: Option<i64>,
    /// When.
    pub at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shop_dates_are_tokyo_dates() {
        // 2026-11-27 15:30 UTC is 2026-11-28 00:30 in Tokyo.
        let millis = 1_795_793_400_000;
        assert_eq!(local_datetime(millis), "2026-11-28 00:30:00");
        assert_eq!(local_date(millis).yyyymmdd(), "20261128");
        assert_eq!(japanese_date(local_date(millis)), "2026年11月28日");
    }
}

#[cfg(test)]
mod recurrence_tests {
    use super::{ProductRecurrence, ORDER_DAY};
    use shophost_module_api::LocalDate;

    fn date(text: &str) -> LocalDate {
        LocalDate::parse_yyyymmdd(text).expect("a date")
    }

    #[test]
    fn the_first_recurring_charge_follows_dl_sellers_rule() {
        let on = |interval_months, charging_day, ordered: &str| {
            ProductRecurrence {
                interval_months,
                charging_day,
            }
            .first_charge(date(ordered))
            .yyyymmdd()
        };
        // A charging day still ahead this month is this month's; otherwise next month's.
        assert_eq!(on(1, 10, "20261105"), "20261110");
        assert_eq!(on(1, 10, "20261110"), "20261210");
        assert_eq!(on(1, 10, "20261227"), "20270110");
        // Charged on the order day: the same day `interval` months on, the month's last day if shorter.
        assert_eq!(on(1, ORDER_DAY, "20261127"), "20261227");
        assert_eq!(on(6, ORDER_DAY, "20261127"), "20270527");
        assert_eq!(on(12, ORDER_DAY, "20260131"), "20270131");
        assert_eq!(on(1, ORDER_DAY, "20260131"), "20260228");
        assert_eq!(on(1, ORDER_DAY, "20280131"), "20280229");
    }

    #[test]
    fn the_scheduled_charge_follows_the_registration() {
        let next = |first: &str, interval, today: &str| {
            super::scheduled_charge(first, interval, date(today)).map(LocalDate::yyyymmdd)
        };
        assert_eq!(next("20261227", 1, "20261127").as_deref(), Some("20261227"));
        assert_eq!(next("20261227", 1, "20261227").as_deref(), Some("20261227"));
        assert_eq!(next("20261227", 1, "20261228").as_deref(), Some("20270127"));
        assert_eq!(next("20261231", 1, "20270201").as_deref(), Some("20270228"));
        assert_eq!(next("20261210", 6, "20270701").as_deref(), Some("20271210"));
        assert_eq!(
            next("20261210", 12, "20300101").as_deref(),
            Some("20301210")
        );
        assert_eq!(next("not a date", 1, "20261127"), None);
    }
}
