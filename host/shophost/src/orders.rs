//! 受注: what the operator reads and does to orders, called alike by the console's 受注リスト and
//! order page and by the JSON admin API: the list's filters read from a query string (shop-local
//! dates), one keyset page, an order with its history, journal and payment events, clearing 要確認
//! with a note, and a status set by hand for what the operator did in the gateway's backyard (取消,
//! 返品). Nothing here talks to the gateway: the shop records what was done there.

use serde::Deserialize;
use time::macros::format_description;
use time::Date;

use crate::db::{DbError, OrderFilter, OrderListFilter, PageCursor, PaymentEvent};
use crate::domain::{JournalEntry, Order, OrderHistoryEntry, PaymentStatus, SHOP_UTC_OFFSET};
use crate::AppState;

/// Orders per page of the 受注リスト.
pub const PAGE_SIZE: i64 = 50;

/// The longest note an operator may write with a change.
const NOTE_MAX_CHARS: usize = 500;

/// Why an operator's request about orders was not done.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// No order has this number.
    #[error("order not found")]
    NotFound,
    /// A field is wrong: its name and what is wrong, in Japanese.
    #[error("invalid {field}: {message}")]
    Invalid {
        /// The field (`note`, `status`, `from`, …).
        field: &'static str,
        /// The message.
        message: String,
    },
    /// Not possible in the order's state, in Japanese.
    #[error("refused: {0}")]
    Refused(String),
    /// Storage failed.
    #[error(transparent)]
    Unavailable(DbError),
}

impl From<DbError> for OrderError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::NotFound => OrderError::NotFound,
            other => OrderError::Unavailable(other),
        }
    }
}

/// The 受注リスト's query string as typed: every field optional, empty meaning "any".
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListQuery {
    /// 入金状況 (a status slug).
    #[serde(default)]
    pub status: String,
    /// 決済種別 (a settlement type slug).
    #[serde(default, rename = "type")]
    pub settlement_type: String,
    /// From this shop-local date (`YYYY-MM-DD`).
    #[serde(default)]
    pub from: String,
    /// Up to and including this shop-local date.
    #[serde(default)]
    pub until: String,
    /// `true`: 要確認 only.
    #[serde(default)]
    pub attention: String,
    /// Order number, link key, name or e-mail.
    #[serde(default)]
    pub q: String,
    /// The next page: older than this `created_at.id`.
    #[serde(default)]
    pub after: String,
    /// The previous page: newer than this `created_at.id`.
    #[serde(default)]
    pub before: String,
}

impl ListQuery {
    /// The filter it asks for; a wrong value is an [`OrderError::Invalid`] naming its field.
    pub fn filter(&self) -> Result<OrderListFilter, OrderError> {
        let status = match self.status.trim() {
            "" => None,
            slug => Some(
                PaymentStatus::parse(slug).ok_or_else(|| OrderError::Invalid {
                    field: "status",
                    message: format!("入金状況「{slug}」はありません。"),
                })?,
            ),
        };
        let text = |value: &str| Some(value.trim().to_owned()).filter(|v| !v.is_empty());
        let from = shop_date(&self.from, "from")?;
        let until = shop_date(&self.until, "until")?;
        if let (Some(from), Some(until)) = (from, until) {
            if until < from {
                return Err(OrderError::Invalid {
                    field: "until",
                    message: "終了日は開始日より後の日付を入力してください。".to_owned(),
                });
            }
        }
        Ok(OrderListFilter {
            status,
            settlement_type: text(&self.settlement_type),
            created_from: from.map(start_of_day),
            created_until: until.map(|day| start_of_day(day.next_day().unwrap_or(day))),
            attention: matches!(self.attention.trim(), "true" | "on" | "1"),
            search: text(&self.q),
        })
    }

    /// Where the page starts (`after` winning over `before`); a cursor that is not `at.id` is ignored.
    pub fn cursor(&self) -> Option<PageCursor> {
        let read = |text: &str| {
            let (at, id) = text.split_once('.')?;
            Some((at.parse().ok()?, id.parse().ok()?))
        };
        read(&self.after)
            .map(|(at, id)| PageCursor::Older(at, id))
            .or_else(|| read(&self.before).map(|(at, id)| PageCursor::Newer(at, id)))
    }
}

/// A shop-local date typed as `YYYY-MM-DD` (empty: none).
fn shop_date(text: &str, field: &'static str) -> Result<Option<Date>, OrderError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    Date::parse(text, format_description!("[year]-[month]-[day]"))
        .map(Some)
        .map_err(|_| OrderError::Invalid {
            field,
            message: format!("日付「{text}」は YYYY-MM-DD の形で入力してください。"),
        })
}

/// The instant (Unix ms) a shop-local day starts.
fn start_of_day(date: Date) -> i64 {
    date.midnight()
        .assume_offset(SHOP_UTC_OFFSET)
        .unix_timestamp()
        * 1000
}

/// A cursor as the list's links carry it.
pub fn cursor_text(order: &Order) -> String {
    format!("{}.{}", order.created_at, order.id)
}

/// One page of the list and whether there are pages either side.
#[derive(Debug, Clone)]
pub struct OrderPage {
    /// The orders, newest first.
    pub orders: Vec<Order>,
    /// Older orders follow (a next page, from the last order).
    pub has_older: bool,
    /// Newer orders precede (a previous page, from the first order).
    pub has_newer: bool,
}

/// One page of `size` orders matching `filter` from `cursor`. One more row than the page is read, to
/// know whether a page follows in that direction; the other direction has one when the page was
/// reached from it.
pub async fn page(
    state: &AppState,
    filter: &OrderListFilter,
    cursor: Option<PageCursor>,
    size: i64,
) -> Result<OrderPage, DbError> {
    let mut orders = state.store.order_page(filter, cursor, size + 1).await?;
    let more = orders.len() as i64 > size;
    let (has_older, has_newer) = match cursor {
        Some(PageCursor::Newer(..)) => {
            if more {
                // Newest first: the extra row is the newest, on the page before this one.
                orders.remove(0);
            }
            (true, more)
        }
        Some(PageCursor::Older(..)) => {
            orders.truncate(size as usize);
            (more, true)
        }
        None => {
            orders.truncate(size as usize);
            (more, false)
        }
    };
    Ok(OrderPage {
        orders,
        has_older,
        has_newer,
    })
}

/// An order with what the operator reads beside it.
#[derive(Debug, Clone)]
pub struct OrderDetail {
    /// The order.
    pub order: Order,
    /// Its status history, oldest first.
    pub history: Vec<OrderHistoryEntry>,
    /// The notification journal's entries of its link key, newest first.
    pub journal: Vec<JournalEntry>,
    /// The payment events of its link key, oldest first.
    pub events: Vec<PaymentEvent>,
}

/// The order numbered `number`.
pub async fn order(state: &AppState, number: &str) -> Result<Order, OrderError> {
    let filter = OrderFilter {
        order_number: Some(number.to_owned()),
        ..Default::default()
    };
    let found = state.store.orders(&filter, 1).await?;
    found.into_iter().next().ok_or(OrderError::NotFound)
}

/// The order numbered `number` with its history, journal entries and payment events.
pub async fn detail(state: &AppState, number: &str) -> Result<OrderDetail, OrderError> {
    let order = order(state, number).await?;
    let history = state.store.order_history(order.id).await?;
    let journal = state.store.journal(Some(&order.link_key), 100).await?;
    let events = state.store.payment_events(&order.link_key).await?;
    Ok(OrderDetail {
        order,
        history,
        journal,
        events,
    })
}

/// The statuses an operator may set by hand from `from`: what the gateway's backyard can do to such a
/// payment (取消 of an unpaid slip or a card authorisation or sale, 返品 of a sale or a received
/// payment). A cancelled, expired or returned order stays so.
pub fn manual_targets(from: PaymentStatus) -> &'static [PaymentStatus] {
    match from {
        PaymentStatus::Unpaid | PaymentStatus::Authorized => &[PaymentStatus::Cancelled],
        PaymentStatus::Captured => &[PaymentStatus::Cancelled, PaymentStatus::Returned],
        PaymentStatus::Paid => &[PaymentStatus::Returned],
        PaymentStatus::Cancelled | PaymentStatus::Expired | PaymentStatus::Returned => &[],
    }
}

/// The operator's note: required, at most [`NOTE_MAX_CHARS`].
fn note(text: &str) -> Result<String, OrderError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(OrderError::Invalid {
            field: "note",
            message: "メモを入力してください（何を確認・操作したか）。".to_owned(),
        });
    }
    if text.chars().count() > NOTE_MAX_CHARS {
        return Err(OrderError::Invalid {
            field: "note",
            message: format!("メモは{NOTE_MAX_CHARS}文字以内で入力してください。"),
        });
    }
    Ok(text.to_owned())
}

/// Clears the order's 要確認; the note and who wrote it go into its history.
pub async fn clear_attention(
    state: &AppState,
    number: &str,
    note_text: &str,
    by: &str,
) -> Result<Order, OrderError> {
    let note = note(note_text)?;
    let reason = format!("要確認を解除（{by}）: {note}");
    match state.store.clear_order_attention(number, &reason).await {
        Ok(order) => Ok(order),
        Err(DbError::Conflict(_)) => Err(OrderError::Refused(
            "この注文は要確認ではありません。".to_owned(),
        )),
        Err(error) => Err(error.into()),
    }
}

/// Sets the order's status to `to` (a status slug) by hand, for what the operator did in the
/// gateway's backyard; refused unless [`manual_targets`] allows it. Never sent to the gateway.
pub async fn change_status(
    state: &AppState,
    number: &str,
    to: &str,
    note_text: &str,
    by: &str,
) -> Result<Order, OrderError> {
    let to = PaymentStatus::parse(to.trim()).ok_or_else(|| OrderError::Invalid {
        field: "status",
        message: "変更後の入金状況を選んでください。".to_owned(),
    })?;
    let note = note(note_text)?;
    let current = order(state, number).await?;
    let from = current.payment_status;
    if !manual_targets(from).contains(&to) {
        return Err(OrderError::Refused(format!(
            "入金状況「{}」の注文を「{}」にはできません。",
            from.label(),
            to.label()
        )));
    }
    let reason = format!("手動で{}に変更（{by}）: {note}", to.label());
    match state
        .store
        .set_order_status(number, from, to, &reason)
        .await
    {
        Ok(order) => Ok(order),
        Err(DbError::Conflict(_)) => Err(OrderError::Refused(
            "入金状況が先に変わりました。画面を開き直して確認してください。".to_owned(),
        )),
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_whole_shop_local_days() {
        let query = ListQuery {
            from: "2024-04-01".into(),
            until: "2024-04-01".into(),
            ..Default::default()
        };
        let filter = query.filter().unwrap();
        // 2024-04-01 00:00 +09:00 is 2024-03-31 15:00 UTC.
        assert_eq!(filter.created_from, Some(1_711_897_200_000));
        assert_eq!(filter.created_until, Some(1_711_897_200_000 + 86_400_000));
        let wrong = ListQuery {
            from: "4/1".into(),
            ..Default::default()
        };
        assert!(matches!(
            wrong.filter(),
            Err(OrderError::Invalid { field: "from", .. })
        ));
    }

    #[test]
    fn only_what_the_backyard_can_do_is_offered() {
        assert_eq!(
            manual_targets(PaymentStatus::Captured),
            &[PaymentStatus::Cancelled, PaymentStatus::Returned]
        );
        assert!(manual_targets(PaymentStatus::Cancelled).is_empty());
        assert!(manual_targets(PaymentStatus::Expired).is_empty());
    }
}
