//! The sandbox's own records: what the 加盟店バックヤード lists as 売上集計データ.
//!
//! These are plain data snapshots so tests can assert on them; the Japanese labels are the
//! ones the real backyard and the operator manual use (集計区分, 支払方法), and the JSON API
//! serializes them as those labels.

use serde::{Serialize, Serializer};
use time::OffsetDateTime;

/// One payment as the sandbox recorded it (a row of 売上集計データ一覧).
#[derive(Debug, Clone, Serialize)]
pub struct Transaction {
    /// 請求番号: the shop's `S_TORIHIKI_NO` (Welcart's link key).
    pub torihiki_no: String,
    /// `X-TRANID`, 28 digits, for card payments and card checks (also for declines).
    pub tran_id: Option<String>,
    /// `X-JOB_ID`, 17 digits, for multi-payment (マルチ決済) transactions.
    pub job_id: Option<String>,
    pub kind: TransactionKind,
    /// `SHOPCO` the shop sent.
    pub shopco: String,
    /// ホスト: the `HOSTID` the shop sent.
    pub host_id: String,
    /// カード名義人 for card payments; `NAME1 NAME2` for multi-payment.
    pub holder_name: String,
    /// `MAIL` the shop sent.
    pub mail: String,
    /// 請求金額 in yen (0 for a card check, which charges nothing).
    pub amount: u64,
    /// 税送料 in yen.
    pub tax: u64,
    /// 支払方法 (card only): `METHOD`/`PTIMES`.
    pub payment_method: Option<PaymentMethod>,
    /// カードの種類, as sent in `X-CARDBRAND` (`VISA`, `MASTER`, ...).
    pub card_brand: Option<String>,
    /// `X-PARTOFCARD`: the card number's last four digits.
    pub last4: Option<String>,
    /// `X-EXPIRE`: the card's expiry as MMYY.
    pub expire: Option<String>,
    /// `X-PAYQUICKID` returned to the shop, when PayQuick was used or issued.
    pub payquick_id: Option<String>,
    /// 自動継続課金 (`AUTOCHARGE=1`): `X-AC_MEMBERID`, the amount, `AC_NEXT_DATE` and `AC_INTERVAL` as
    /// registered (date and interval blank for a card change of an existing registration).
    pub autocharge: Option<AutoChargeRecord>,
    /// `X-PAY_CSV`: the payment place code (`D001` セブン-イレブン, ...).
    pub pay_csv: Option<String>,
    /// `X-PAY_NO1`: the payment number the shopper takes to the payment place.
    pub pay_no1: Option<String>,
    /// `X-PAY_NO2`: the slip URL, or the order number for ファミリーマート.
    pub pay_no2: Option<String>,
    /// `X-PAYDATE`: the payment deadline, YYYYMMDD.
    pub paydate: Option<String>,
    /// `X-ERRCODE` of a declined card payment.
    pub error_code: Option<String>,
    /// 処理日時, in UTC (the backyard shows it in Asia/Tokyo).
    #[serde(serialize_with = "serialize_rfc3339")]
    pub created: OffsetDateTime,
    /// 集計区分.
    pub status: TransactionStatus,
    /// Every notification the sandbox tried to deliver for this transaction, oldest first.
    pub notifications: Vec<NotificationDelivery>,
}

/// A 自動継続課金 registration as the sandbox recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AutoChargeRecord {
    /// `X-AC_MEMBERID`.
    pub member_id: String,
    /// `AC_TOTAL` (or `AC_AMOUNT`).
    pub total: String,
    /// `AC_NEXT_DATE`, YYYYMMDD.
    pub next_date: String,
    /// `AC_INTERVAL`, e.g. `1M`.
    pub interval: String,
}

impl Transaction {
    /// The identifier Remise gave the transaction: `X-TRANID` or `X-JOB_ID`.
    pub fn remise_id(&self) -> &str {
        self.tran_id
            .as_deref()
            .or(self.job_id.as_deref())
            .unwrap_or_default()
    }
}

/// Which Remise service produced a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TransactionKind {
    /// カード決済 with `JOB=AUTH` or `JOB=CAPTURE`.
    Card,
    /// マルチ決済 (convenience store, Pay-easy, e-money).
    Conv,
    /// カード有効性チェック (`JOB=CHECK`): registers a card without charging it.
    CardCheck,
}

/// お客様の支払方法 for a card payment (`METHOD`, with `PTIMES` for installments).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PaymentMethod {
    /// `METHOD=10`.
    #[serde(rename = "一括")]
    Lump,
    /// `METHOD=61` with `PTIMES=2`, the only installment count Welcart offers.
    #[serde(rename = "分割（2回）")]
    TwoInstallments,
    /// `METHOD=80`.
    #[serde(rename = "リボ")]
    Revolving,
}

impl PaymentMethod {
    /// The label the backyard shows.
    pub fn label(self) -> &'static str {
        match self {
            PaymentMethod::Lump => "一括",
            PaymentMethod::TwoInstallments => "分割（2回）",
            PaymentMethod::Revolving => "リボ",
        }
    }

    /// The `METHOD` code on the wire.
    pub fn code(self) -> &'static str {
        match self {
            PaymentMethod::Lump => "10",
            PaymentMethod::TwoInstallments => "61",
            PaymentMethod::Revolving => "80",
        }
    }
}

/// 集計区分: the state of a transaction in the backyard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TransactionStatus {
    /// 売上: captured (`JOB=CAPTURE`, or an authorisation captured from the backyard).
    #[serde(rename = "売上")]
    Sales,
    /// 仮売上: authorised only (`JOB=AUTH`).
    #[serde(rename = "仮売上")]
    Authorized,
    /// 取消: voided from the backyard.
    #[serde(rename = "取消")]
    Cancelled,
    /// 返品: refunded from the backyard.
    #[serde(rename = "返品")]
    Returned,
    /// 未入金: a multi-payment number was issued and not paid yet.
    #[serde(rename = "未入金")]
    Unpaid,
    /// 入金済み: the 収納情報通知 was delivered to the shop.
    #[serde(rename = "入金済み")]
    Paid,
    /// 有効性チェック: a card registered by `JOB=CHECK`, nothing charged.
    #[serde(rename = "有効性チェック")]
    CardChecked,
    /// NG: the card was declined.
    #[serde(rename = "NG")]
    Declined,
}

impl TransactionStatus {
    /// The label the backyard shows.
    pub fn label(self) -> &'static str {
        match self {
            TransactionStatus::Sales => "売上",
            TransactionStatus::Authorized => "仮売上",
            TransactionStatus::Cancelled => "取消",
            TransactionStatus::Returned => "返品",
            TransactionStatus::Unpaid => "未入金",
            TransactionStatus::Paid => "入金済み",
            TransactionStatus::CardChecked => "有効性チェック",
            TransactionStatus::Declined => "NG",
        }
    }
}

/// Which server-to-server message a delivery carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum NotificationKind {
    /// カード決済の結果通知 (`X-TRANID`, `X-ERRCODE`, ...) to the card notification URL.
    CardResult,
    /// マルチ決済の番号発行結果 (`X-JOB_ID`, `X-PAY_NO1`, ...) to the conv notification URL.
    ConvIssued,
    /// 収納情報通知 (`S_TORIHIKI_NO`, `REC_FLG=1`, ...) to the conv notification URL.
    ConvPaid,
}

impl NotificationKind {
    /// The label the backyard shows.
    pub fn label(self) -> &'static str {
        match self {
            NotificationKind::CardResult => "結果通知",
            NotificationKind::ConvIssued => "結果通知（番号発行）",
            NotificationKind::ConvPaid => "収納情報通知（入金）",
        }
    }
}

/// One notification and what happened when the sandbox posted it.
#[derive(Debug, Clone, Serialize)]
pub struct NotificationDelivery {
    pub kind: NotificationKind,
    /// Where it was (or is being) posted.
    pub url: String,
    /// The fields posted, in order, before Shift_JIS and percent encoding.
    pub fields: Vec<(String, String)>,
    /// How many posts were made so far.
    pub attempts: u32,
    /// The HTTP status of the last answer; `None` before the first attempt or after a
    /// connection error.
    pub last_status: Option<u16>,
    /// The last answer's body, or a description of the connection error.
    pub last_answer: Option<String>,
    /// Whether the shop answered `<SDBKDATA>STATUS=800</SDBKDATA>` (or `STATUS=900`).
    pub delivered: bool,
}

impl NotificationDelivery {
    /// The value posted under `name`, if any.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
    }
}

fn serialize_rfc3339<S: Serializer>(
    time: &OffsetDateTime,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let text = time
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(serde::ser::Error::custom)?;
    serializer.serialize_str(&text)
}
