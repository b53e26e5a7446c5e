//! The 決済直前ログ (checkout attempts) for the operator: its search, and 受注データ登録, the order an
//! operator makes of an attempt whose payment the gateway's backyard shows but whose notification
//! never made an order (the manual's 受注の取りこぼし). The console and the JSON admin API both call
//! these functions; the HTTP handlers only translate.
//!
//! The registered order's payment status is not the operator's to type: an immediate payment's is the
//! state the settlement type's module says an accepted payment is in as it is configured
//! (`SettlementType::capture`: a module configured to authorise only gives 仮売上, to capture 売上), a deferred payment's
//! is 未入金 until its receipt arrives. A deferred payment's receipt that comes before the registration
//! finds no order and makes one itself (入金済み), so the registration is then refused with the order
//! named: the manual's caveat (a shopper who paid before the recovery left 未入金) cannot happen. The
//! first verified success notification for a registered card order confirms it (`db/decide.rs`).
//! No thank-you mail goes by itself: the order's 注文確認メール is held (in the registration's
//! transaction, `db/queries/attempts.rs`) until the operator presses the order page's button.

use ::time::macros::format_description;
use ::time::Date;
use shophost_module_api::{Capture, SettlementKind};

use crate::db::{AttemptFilter, DbError, OrderFilter, RegisteredOrder};
use crate::domain::{now_millis, Attempt, AttemptKind, Order, PaymentStatus, SHOP_UTC_OFFSET};
use crate::AppState;

/// Attempts on one page of the console's list.
pub const PAGE_SIZE: i64 = 50;
/// Longest transaction id (請求番号) the operator may give, in characters.
pub const TRANSACTION_ID_MAX: usize = 64;
/// The first line of a registered order's history.
pub const REGISTERED_REASON: &str = "決済直前ログより受注データ登録（管理者）";

/// The 決済直前ログ's search as typed: every field optional, dates `YYYY-MM-DD` in shop time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Search {
    /// Part of the link key.
    pub link_key: String,
    /// Part of the customer's name or kana.
    pub customer_name: String,
    /// First day registered (登録日), inclusive.
    pub from: String,
    /// Last day registered, inclusive.
    pub to: String,
    /// Only attempts flagged 要確認.
    pub attention: bool,
    /// The id the page starts below (keyset paging).
    pub before: Option<i64>,
}

/// A problem with what was typed: the field and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The field's name.
    pub field: &'static str,
    /// The message, in Japanese.
    pub message: String,
}

/// One page of the search: the attempts and the id the next page starts below, if there is one.
#[derive(Debug, Clone)]
pub struct Found {
    /// The attempts, newest first.
    pub attempts: Vec<Attempt>,
    /// `before` of the next page.
    pub next: Option<i64>,
}

/// The start (Unix ms) of a shop-local day typed as `YYYY-MM-DD`.
fn day_start(text: &str) -> Option<Date> {
    Date::parse(text.trim(), format_description!("[year]-[month]-[day]")).ok()
}

fn millis(date: Date) -> i64 {
    date.midnight()
        .assume_offset(SHOP_UTC_OFFSET)
        .unix_timestamp()
        * 1000
}

/// Removes every space (half- and full-width): names are stored without one between 姓 and 名.
fn without_spaces(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && *c != '|')
        .collect()
}

impl Search {
    /// The filter for the store, or each problem of what was typed.
    pub fn filter(&self) -> Result<AttemptFilter, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut date = |field, text: &str| {
            if text.trim().is_empty() {
                return None;
            }
            let date = day_start(text);
            if date.is_none() {
                problems.push(Problem {
                    field,
                    message: "日付は 2026-01-31 のように入力してください".to_owned(),
                });
            }
            date
        };
        let from = date("from", &self.from);
        let to = date("to", &self.to);
        if let (Some(from), Some(to)) = (from, to) {
            if to < from {
                problems.push(Problem {
                    field: "to",
                    message: "終了日は開始日以降の日付にしてください".to_owned(),
                });
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let text = |value: String| (!value.is_empty()).then_some(value);
        Ok(AttemptFilter {
            link_key: text(self.link_key.trim().to_owned()),
            customer_name: text(without_spaces(&self.customer_name)),
            from: from.map(millis),
            until: to.and_then(|to| to.next_day()).map(millis),
            attention: self.attention,
            before_id: self.before,
        })
    }
}

/// One page of the 決済直前ログ, newest first.
pub async fn search(state: &AppState, filter: &AttemptFilter) -> Result<Found, DbError> {
    let mut attempts = state.store.search_attempts(filter, PAGE_SIZE + 1).await?;
    let next = if attempts.len() > PAGE_SIZE as usize {
        attempts.truncate(PAGE_SIZE as usize);
        attempts.last().map(|attempt| attempt.id)
    } else {
        None
    };
    Ok(Found { attempts, next })
}

/// Which time becomes the registered order's 受注日時.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisteredAt {
    /// 受注日時に登録日を設定: when the attempt was stored.
    Attempt,
    /// 受注日時に現在の時刻を設定.
    Now,
}

impl RegisteredAt {
    /// `attempt` or `now`.
    pub fn parse(text: &str) -> Option<RegisteredAt> {
        match text {
            "attempt" => Some(RegisteredAt::Attempt),
            "now" => Some(RegisteredAt::Now),
            _ => None,
        }
    }
}

/// What the operator chose for 受注データ登録.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The 受注日時.
    pub registered_at: RegisteredAt,
    /// The gateway's transaction id from its backyard (the 請求番号 its backyard shows), as typed; empty for none.
    pub transaction_id: String,
    /// For an attempt with a recurring item (継続課金): the gateway's id for the recurring registration
    /// from its backyard, as typed; empty for none (the contract is registered and the order 要確認).
    pub recurring_id: String,
}

/// Why 受注データ登録 was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// No attempt has this link key.
    #[error("no checkout attempt has this link key")]
    NotFound,
    /// The attempt has its order already.
    #[error("この決済直前ログの受注はすでにあります（注文番号 {order_number}、{status}）。受注データ登録はできません", status = .status.label())]
    OrderExists {
        /// Its order number.
        order_number: String,
        /// Its payment status.
        status: PaymentStatus,
    },
    /// A card change, not an order.
    #[error("カード情報の変更の記録からは受注データを登録できません")]
    NotAnOrder,
    /// No module in use provides the settlement type, so the payment's state is unknown.
    #[error("決済種別 {0} を提供する決済モジュールが利用されていないため、入金状況を決められません。決済モジュールの設定を確認してください")]
    NotProvided(String),
    /// A field as typed.
    #[error("{}", .0.message)]
    Invalid(Problem),
    /// Storage failed.
    #[error(transparent)]
    Unavailable(#[from] DbError),
}

/// The payment status 受注データ登録 gives an attempt's order: 未入金 for a deferred payment, else the
/// state the module's settlement type says an accepted payment is in. `None` when no module in use
/// provides the settlement type.
pub fn registered_status(state: &AppState, attempt: &Attempt) -> Option<PaymentStatus> {
    let settlement_type = state
        .engine
        .provided(&attempt.settlement_type)
        .map(|provided| provided.settlement_type)
        .or_else(|| {
            let owner = state.engine.owner_of(&attempt.settlement_type)?;
            owner
                .settlement_types
                .into_iter()
                .find(|t| t.id == attempt.settlement_type)
        })?;
    Some(match (settlement_type.kind, settlement_type.capture) {
        (SettlementKind::Deferred, _) => PaymentStatus::Unpaid,
        (SettlementKind::Immediate, Capture::Authorized) => PaymentStatus::Authorized,
        (SettlementKind::Immediate, Capture::Captured) => PaymentStatus::Captured,
    })
}

/// The transaction id as typed: trimmed, empty for none, printable ASCII of at most
/// [`TRANSACTION_ID_MAX`] characters.
fn transaction_id(typed: &str) -> Result<Option<String>, Problem> {
    gateway_id(typed, "transaction_id", "請求番号（取引ID）")
}

/// The recurring registration id as typed, by the same rules; only an attempt with a recurring item
/// takes one.
fn recurring_id(typed: &str, attempt: &Attempt) -> Result<Option<String>, Problem> {
    let id = gateway_id(typed, "recurring_id", "継続課金の登録番号")?;
    if id.is_some() && !is_recurring(attempt) {
        return Err(Problem {
            field: "recurring_id",
            message: "この注文に継続課金の商品はありません。継続課金の登録番号は空にしてください"
                .to_owned(),
        });
    }
    Ok(id)
}

/// Whether the attempt's cart holds a recurring item (継続課金), whose order registers a contract.
pub fn is_recurring(attempt: &Attempt) -> bool {
    attempt
        .snapshot
        .lines
        .iter()
        .any(|line| line.recurring.is_some())
}

/// An id the operator copies from the gateway's backyard: trimmed, empty for none, printable ASCII of
/// at most [`TRANSACTION_ID_MAX`] characters.
fn gateway_id(typed: &str, field: &'static str, label: &str) -> Result<Option<String>, Problem> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Ok(None);
    }
    if typed.chars().count() > TRANSACTION_ID_MAX || !typed.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Problem {
            field,
            message: format!("{label}は{TRANSACTION_ID_MAX}文字以内の半角英数字で入力してください"),
        });
    }
    Ok(Some(typed.to_owned()))
}

/// The order of an attempt, when it has one.
pub async fn order_of(state: &AppState, attempt: &Attempt) -> Result<Option<Order>, DbError> {
    if attempt.order_id.is_none() {
        return Ok(None);
    }
    let filter = OrderFilter {
        link_key: Some(attempt.link_key.clone()),
        ..OrderFilter::default()
    };
    Ok(state.store.orders(&filter, 1).await?.into_iter().next())
}

/// Checks that 受注データ登録 may make the attempt's order, without making it (the confirmation
/// step): the attempt, and the status its order would get.
pub async fn check(
    state: &AppState,
    link_key: &str,
    registration: &Registration,
) -> Result<(Attempt, PaymentStatus), RegisterError> {
    let attempt = state
        .store
        .attempt_by_link_key(link_key)
        .await?
        .ok_or(RegisterError::NotFound)?;
    if attempt.kind != AttemptKind::Order {
        return Err(RegisterError::NotAnOrder);
    }
    if let Some(order) = order_of(state, &attempt).await? {
        return Err(RegisterError::OrderExists {
            order_number: order.order_number,
            status: order.payment_status,
        });
    }
    transaction_id(&registration.transaction_id).map_err(RegisterError::Invalid)?;
    recurring_id(&registration.recurring_id, &attempt).map_err(RegisterError::Invalid)?;
    let status = registered_status(state, &attempt)
        .ok_or_else(|| RegisterError::NotProvided(attempt.settlement_type.clone()))?;
    Ok((attempt, status))
}

/// 受注データ登録: makes the order of an open attempt with the status its module gives it, the 受注日時
/// and transaction id the operator chose. Its 注文確認メール waits for the order page's button.
pub async fn register(
    state: &AppState,
    link_key: &str,
    registration: &Registration,
) -> Result<Order, RegisterError> {
    let (attempt, status) = check(state, link_key, registration).await?;
    let settlement_label = state
        .engine
        .labels()
        .get(&attempt.settlement_type)
        .cloned()
        .unwrap_or_else(|| attempt.settlement_type.clone());
    let order = RegisteredOrder {
        status,
        settlement_label,
        reason: REGISTERED_REASON.to_owned(),
        created_at: match registration.registered_at {
            RegisteredAt::Attempt => attempt.created_at,
            RegisteredAt::Now => now_millis(),
        },
        transaction_id: transaction_id(&registration.transaction_id)
            .map_err(RegisterError::Invalid)?,
        recurring_id: recurring_id(&registration.recurring_id, &attempt)
            .map_err(RegisterError::Invalid)?,
    };
    match state.store.register_attempt_order(link_key, &order).await {
        Ok(order) => Ok(order),
        // Made by a notification (or another operator) since the check.
        Err(DbError::Conflict(_)) => {
            let attempt = state
                .store
                .attempt_by_link_key(link_key)
                .await?
                .ok_or(RegisterError::NotFound)?;
            match order_of(state, &attempt).await? {
                Some(order) => Err(RegisterError::OrderExists {
                    order_number: order.order_number,
                    status: order.payment_status,
                }),
                None => Err(RegisterError::NotAnOrder),
            }
        }
        Err(DbError::NotFound) => Err(RegisterError::NotFound),
        Err(other) => Err(other.into()),
    }
}
