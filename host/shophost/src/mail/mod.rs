//! Mail: what the shop sends (注文確認メール, 入金確認メール, 継続課金の登録, the shop's notices of new orders
//! and of 決済エラー) and how it gets there without being lost or sent twice.
//!
//! - The **outbox** (`mail_outbox`) is written by database triggers in the transaction of the row that
//!   causes a mail (migration `0011_mail.sql`): an order created, an unpaid order paid, a contract
//!   registered, a 決済エラーログ line. A duplicate notification changes no row, so it queues no mail;
//!   a crash after the commit leaves the mail queued for the next start.
//! - `render.rs` makes the message from the committed rows the first time a worker claims it; the
//!   bytes are stored, so a resend is byte-identical.
//! - `worker.rs` claims due mails (a lease, `FOR UPDATE SKIP LOCKED` on PostgreSQL), sends them over
//!   SMTP with `lettre` (or captures them: the demo keeps mail on the machine), records every attempt,
//!   retries with backoff and gives up after the configured time (失敗, on the dashboard).
//! - `settings.rs` the `[mail]` settings, and the operator's from the console, which win once saved.
//! - `actions.rs` what the console (and tests) do: resend, the 注文確認メール of a registered order sent
//!   by hand once, a test mail.

pub mod actions;
pub mod render;
pub mod settings;
pub mod worker;

use serde::Serialize;

pub use settings::{MailSettings, SmtpSettings, Tls, Transport};

/// What a mail is about; stored as [`MailKind::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MailKind {
    /// 注文確認メール to the shopper.
    OrderConfirmation,
    /// The shop's notice of a new order.
    OrderNotice,
    /// 入金確認メール: a deferred payment's receipt.
    PaymentReceived,
    /// 継続課金の登録 to the shopper.
    ContractRegistered,
    /// The shop's notice of a 決済エラー.
    SettlementError,
    /// 送信テスト from the console.
    Test,
}

impl MailKind {
    /// Every kind, in the order the console lists them.
    pub const ALL: [MailKind; 6] = [
        MailKind::OrderConfirmation,
        MailKind::OrderNotice,
        MailKind::PaymentReceived,
        MailKind::ContractRegistered,
        MailKind::SettlementError,
        MailKind::Test,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::OrderConfirmation => "order_confirmation",
            MailKind::OrderNotice => "order_notice",
            MailKind::PaymentReceived => "payment_received",
            MailKind::ContractRegistered => "contract_registered",
            MailKind::SettlementError => "settlement_error",
            MailKind::Test => "test",
        }
    }

    /// From the stored name.
    pub fn parse(text: &str) -> Option<MailKind> {
        MailKind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    /// The operator's word for it.
    pub fn label(self) -> &'static str {
        match self {
            MailKind::OrderConfirmation => "注文確認メール",
            MailKind::OrderNotice => "新規注文のお知らせ（ショップ宛）",
            MailKind::PaymentReceived => "入金確認メール",
            MailKind::ContractRegistered => "継続課金登録のお知らせ",
            MailKind::SettlementError => "決済エラーのお知らせ（ショップ宛）",
            MailKind::Test => "送信テスト",
        }
    }
}

/// Where a mail is; stored as [`MailStatus::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MailStatus {
    /// Waiting for the operator (an order registered from the 決済直前ログ).
    Held,
    /// 待機中: due, not tried yet.
    Pending,
    /// 再送待ち: tried, failed, due again later.
    Retry,
    /// 送信済み (or captured, in the demo).
    Sent,
    /// 失敗: given up after the configured time.
    Failed,
    /// No recipient (a shop notice while no notice address is set).
    Skipped,
}

impl MailStatus {
    /// Every status.
    pub const ALL: [MailStatus; 6] = [
        MailStatus::Pending,
        MailStatus::Retry,
        MailStatus::Sent,
        MailStatus::Failed,
        MailStatus::Held,
        MailStatus::Skipped,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            MailStatus::Held => "held",
            MailStatus::Pending => "pending",
            MailStatus::Retry => "retry",
            MailStatus::Sent => "sent",
            MailStatus::Failed => "failed",
            MailStatus::Skipped => "skipped",
        }
    }

    /// From the stored name.
    pub fn parse(text: &str) -> Option<MailStatus> {
        MailStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
    }

    /// The operator's word for it.
    pub fn label(self) -> &'static str {
        match self {
            MailStatus::Held => "未送信（手動送信待ち）",
            MailStatus::Pending => "待機中",
            MailStatus::Retry => "再送待ち",
            MailStatus::Sent => "送信済み",
            MailStatus::Failed => "失敗",
            MailStatus::Skipped => "送信先なし",
        }
    }
}

/// One mail of the outbox.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxMail {
    /// Id.
    pub id: i64,
    /// What it is about.
    pub kind: MailKind,
    /// Its cause: the order's, contract's or 決済エラーログ line's id (none for a test mail).
    pub subject_id: Option<i64>,
    /// The order it is about, if any.
    pub order_id: Option<i64>,
    /// What the cause said, copied when it may go (a 決済エラーログ line), as JSON.
    pub detail_json: Option<String>,
    /// Where it is.
    pub status: MailStatus,
    /// Queued (Unix ms).
    pub created_at: i64,
    /// Due (Unix ms).
    pub next_attempt_at: i64,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// The envelope's recipients, once rendered (comma-separated).
    pub recipients: Option<String>,
    /// The subject as the recipient reads it, once rendered.
    pub subject: Option<String>,
    /// The message as sent (RFC 5322), once rendered.
    #[serde(skip)]
    pub message: Option<Vec<u8>>,
    /// Sent (Unix ms).
    pub sent_at: Option<i64>,
    /// When the operator sent a held mail by hand, or asked for a resend (Unix ms).
    pub released_at: Option<i64>,
    /// The lease this process holds while sending (claimed rows only).
    #[serde(skip)]
    pub lease_token: Option<String>,
}

impl OutboxMail {
    /// The recipients as a list.
    pub fn recipient_list(&self) -> Vec<String> {
        self.recipients
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// One delivery attempt of a mail.
#[derive(Debug, Clone, Serialize)]
pub struct MailDelivery {
    /// When (Unix ms).
    pub at: i64,
    /// `smtp` or `capture`.
    pub transport: String,
    /// `sent` or `error`.
    pub outcome: String,
    /// The server's answer, or the error.
    pub detail: String,
}

/// How one claimed mail's attempt ended, to be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// The mail.
    pub id: i64,
    /// The transport that tried it (`smtp`, `capture`, or `none` when it was never sent).
    pub transport: &'static str,
    /// How it ended.
    pub outcome: Outcome,
}

/// How a claimed mail's attempt ended, as the worker records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered (or captured); the transport's answer.
    Sent(String),
    /// Failed; due again at `next_at` (Unix ms).
    Retry {
        /// Why.
        error: String,
        /// When to try again.
        next_at: i64,
    },
    /// Failed and given up.
    Failed(String),
    /// Nobody to send it to.
    Skipped(String),
}

/// Filters of the 送信メール list.
#[derive(Debug, Clone, Default)]
pub struct MailFilter {
    /// Only this status.
    pub status: Option<MailStatus>,
    /// Only mails about this order.
    pub order_id: Option<i64>,
    /// Ids below this one (keyset paging, newest first).
    pub before: Option<i64>,
}

/// How many mails failed (given up), and the newest of them: for the dashboard's notice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailedMails {
    /// How many.
    pub count: i64,
    /// The newest one's id.
    pub latest: Option<i64>,
}
