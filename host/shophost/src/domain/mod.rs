//! The shop's domain types: what the host stores and shows, independent of any backend or gateway.
//!
//! Money is an integer number of yen. Times are Unix milliseconds in UTC; the shop's time zone
//! (Asia/Tokyo, UTC+9, no daylight saving) is applied only for display and for gateway dates, in
//! `time.rs`; serialised for the JSON APIs, an instant is ISO 8601 with that offset (`time::iso`); the 継続課金 date rule is in `recurrence.rs`.

mod operator;
mod recurrence;
mod tax;
mod time;

pub mod charset;
pub mod customer;

use serde::{Deserialize, Serialize};
use shophost_module_api::{Customer, LocalDate, PaymentSlip};

pub use self::operator::{Operator, OperatorSession};
pub use self::recurrence::{scheduled_charge, ProductRecurrence, ORDER_DAY};
pub use self::tax::{included_tax, RateTotal, TaxClass, Totals};
pub use self::time::{
    from_module_date, iso, iso_datetime, japanese_date, local_date, local_datetime,
    local_day_start, now_millis, to_module_date, SHOP_UTC_OFFSET,
};

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
    /// 返品: a captured or received payment given back; only ever set by the operator, after doing it
    /// in the gateway's backyard.
    Returned,
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
            PaymentStatus::Returned => "returned",
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
            "returned" => PaymentStatus::Returned,
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
            PaymentStatus::Returned => "返品",
        }
    }

    /// Every status, in the order the console offers them.
    pub const ALL: [PaymentStatus; 7] = [
        PaymentStatus::Unpaid,
        PaymentStatus::Paid,
        PaymentStatus::Authorized,
        PaymentStatus::Captured,
        PaymentStatus::Cancelled,
        PaymentStatus::Expired,
        PaymentStatus::Returned,
    ];
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
    /// 販売中 (true) or 停止 (false): a stopped product is not offered in the storefront.
    pub active: bool,
    /// 標準税率 or 軽減税率.
    pub tax_class: TaxClass,
    /// Set for a recurring product (継続課金).
    pub recurrence: Option<ProductRecurrence>,
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
    /// The consumption tax rate of the line in percent (10 or 8), recorded with the line so the order's
    /// sums stay as they were when the product later changes class. Lines stored before rates were
    /// recorded read as 10.
    #[serde(default = "tax::standard_rate")]
    pub tax_rate: u32,
    /// For a recurring product: how it recurs and when it is next charged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurring: Option<CartRecurrence>,
}

impl CartLine {
    /// The line's tax-included amount.
    pub fn amount(&self) -> i64 {
        self.unit_price * self.quantity
    }

    /// Whether the line is at the reduced rate (軽減税率, marked ※).
    pub fn reduced(&self) -> bool {
        self.tax_rate < TaxClass::Standard.rate()
    }
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
    /// The gateway's id for it (`Signal::PaymentSucceeded::recurring_id`), when reported.
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
    #[serde(serialize_with = "self::time::iso::serialize")]
    pub created_at: i64,
    /// Last change.
    #[serde(serialize_with = "self::time::iso::serialize")]
    pub updated_at: i64,
}

/// The customer's details as stored with an attempt and an order. A field left out of JSON is blank,
/// so that the checkout API names every missing field at once (by `customer::problems`) instead of
/// failing on the first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
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
    /// Tax included in the total (the sum of the per-rate taxes, see [`Totals`]).
    pub tax: i64,
    /// 備考.
    pub note: String,
    /// Checkout options chosen (e.g. installments).
    #[serde(default)]
    pub options: std::collections::BTreeMap<String, String>,
}

impl AttemptSnapshot {
    /// The sums per rate, from the lines (each with the rate recorded when it was priced) and
    /// shipping.
    pub fn totals(&self) -> Totals {
        Totals::of(&self.lines, self.shipping)
    }
}

/// A checkout attempt: the link key and the snapshot stored before the shopper is sent to the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// Id.
    pub id: i64,
    /// The link key (the gateway's order id).
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
    #[serde(serialize_with = "self::time::iso::option::serialize")]
    pub returned_at: Option<i64>,
    /// 要確認: why the operator should look at it, if they should.
    pub attention: Option<String>,
    /// The order made from it.
    pub order_id: Option<i64>,
    /// Created.
    #[serde(serialize_with = "self::time::iso::serialize")]
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
    #[serde(serialize_with = "self::time::iso::serialize")]
    pub created_at: i64,
}

impl Order {
    /// The sums per rate, from the lines as ordered (each with its recorded rate); what the total
    /// holds beyond the lines is shipping.
    pub fn totals(&self) -> Totals {
        let items: i64 = self.lines.iter().map(CartLine::amount).sum();
        Totals::of(&self.lines, self.total - items)
    }
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
    #[serde(serialize_with = "self::time::iso::serialize")]
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
    /// Place in the operator's order (1 at the top; see [`MoveDirection`]).
    pub position: i64,
}

/// Which way a payment method moves in the operator's order: it swaps places with its neighbour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MoveDirection {
    /// Towards the top (shown earlier).
    Up,
    /// Towards the bottom.
    Down,
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
    /// Endpoint name, as the module declares it.
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
    #[serde(serialize_with = "self::time::iso::serialize")]
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
    /// The refused request (see [`RefusedRequest`]) this one replays, if a replay of one.
    pub replay_of_refused: Option<i64>,
    /// What the operator confirmed for a replay of a refused request.
    pub replay_note: Option<String>,
    /// When retention emptied the body (the rest of the entry stays).
    #[serde(serialize_with = "self::time::iso::option::serialize")]
    pub body_purged_at: Option<i64>,
}

/// A notification refused for its source address, kept (within a budget) so that an operator who
/// fixes `trusted_proxies` or the gateway's addresses can replay it. Nothing of it was applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusedRequest {
    /// Id.
    pub id: i64,
    /// The module whose endpoint it came to.
    pub module_id: String,
    /// The endpoint.
    pub endpoint: String,
    /// HTTP method.
    pub method: String,
    /// Query string.
    pub query: String,
    /// Content type.
    pub content_type: Option<String>,
    /// The TCP peer.
    pub peer: String,
    /// The source address as worked out when it came (after the trusted proxies of that time).
    pub source: String,
    /// The headers the journal keeps (`X-Forwarded-For` among them).
    pub headers: Vec<(String, String)>,
    /// Raw body.
    #[serde(skip)]
    pub body: Vec<u8>,
    /// Bytes counted against the budget.
    pub size: i64,
    /// Received.
    #[serde(serialize_with = "self::time::iso::serialize")]
    pub received_at: i64,
    /// The link key the module read from it, if any (read only; nothing was applied).
    pub link_key: Option<String>,
    /// When an operator replayed it.
    #[serde(serialize_with = "self::time::iso::option::serialize")]
    pub replayed_at: Option<i64>,
    /// The journal entry of the replay.
    pub replay_journal_id: Option<i64>,
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
    #[serde(serialize_with = "self::time::iso::serialize")]
    pub at: i64,
}
