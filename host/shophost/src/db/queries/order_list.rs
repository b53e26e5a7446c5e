//! The 受注リスト's SQL, written once for both backends: one page of orders by keyset on
//! `(created_at, id)` (never OFFSET), the payment events of a link key, and the operator's changes to
//! an order (要確認 cleared, a status set by hand), each recorded in the order's append-only history.
//!
//! The WHERE clause holds only the filters given, so each backend's planner sees a plain predicate and
//! picks the index of `0010_order_list.sql` that yields the rows in page order: a page reads about one
//! page of index entries however many orders there are. A search is the exception: its few matches are
//! found by the unique and name/e-mail indexes and sorted (the `+created_at` in its ORDER BY keeps the
//! planner from walking the time index instead).

use super::{insert, Dialect, Pools};
use crate::db::columns::{history_row, Value, ORDERS};
use crate::db::rows::{self, Columns};
use crate::db::DbError;
use crate::domain::{now_millis, Order, PaymentStatus};

/// What the 受注リスト shows (all optional, combined with AND).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderListFilter {
    /// 入金状況.
    pub status: Option<PaymentStatus>,
    /// 決済種別 (settlement type slug).
    pub settlement_type: Option<String>,
    /// Created at or after (Unix ms).
    pub created_from: Option<i64>,
    /// Created before (Unix ms).
    pub created_until: Option<i64>,
    /// Only orders flagged 要確認.
    pub attention: bool,
    /// Order number or link key exactly, or the start of the customer's name (姓名, spaces left
    /// out) or e-mail (any case).
    pub search: Option<String>,
}

/// Where a page starts: the (created_at, id) of the row beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageCursor {
    /// The orders older than this one (the next page).
    Older(i64, i64),
    /// The orders newer than this one (the previous page).
    Newer(i64, i64),
}

/// One payment event of a link key, as the order's page shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PaymentEvent {
    /// What happened (`authorized`, `captured`, `paid`, `payment_failed`, …).
    pub kind: String,
    /// The event's dedup key.
    pub dedup_key: String,
    /// The journal entry that carried it.
    pub journal_id: Option<i64>,
    /// Where it came from.
    pub source: String,
    /// When (Unix ms).
    #[serde(serialize_with = "crate::domain::iso::serialize")]
    pub at: i64,
}

/// The highest code point: a prefix followed by it sorts after every string with that prefix.
const LAST_CHAR: char = '\u{10FFFF}';

/// The WHERE clause of `filter` and `cursor`, with its arguments numbered from `$1`.
fn conditions(filter: &OrderListFilter, cursor: Option<PageCursor>) -> (String, Vec<Value>) {
    let mut clauses: Vec<String> = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    let arg = |value: Value, args: &mut Vec<Value>| {
        args.push(value);
        format!("${}", args.len())
    };
    if let Some(status) = filter.status {
        let n = arg(status.as_str().into(), &mut args);
        clauses.push(format!("payment_status = {n}"));
    }
    if let Some(settlement_type) = &filter.settlement_type {
        let n = arg(settlement_type.into(), &mut args);
        clauses.push(format!("settlement_type = {n}"));
    }
    if let Some(from) = filter.created_from {
        let n = arg(from.into(), &mut args);
        clauses.push(format!("created_at >= {n}"));
    }
    if let Some(until) = filter.created_until {
        let n = arg(until.into(), &mut args);
        clauses.push(format!("created_at < {n}"));
    }
    if filter.attention {
        // Literally the partial index's predicate, so both planners use orders_attention_created.
        clauses.push("attention IS NOT NULL".to_owned());
    }
    if let Some(search) = &filter.search {
        let exact = arg(search.into(), &mut args);
        let name: String = search.chars().filter(|c| !c.is_whitespace()).collect();
        let email = search.to_lowercase();
        let name_from = arg(name.clone().into(), &mut args);
        let name_to = arg(format!("{name}{LAST_CHAR}").into(), &mut args);
        let email_from = arg(email.clone().into(), &mut args);
        let email_to = arg(format!("{email}{LAST_CHAR}").into(), &mut args);
        clauses.push(format!(
            "(order_number = {exact} OR link_key = {exact} \
             OR (customer_name >= {name_from} AND customer_name < {name_to}) \
             OR (customer_email >= {email_from} AND customer_email < {email_to}))"
        ));
    }
    match cursor {
        // `created_at <= t` is the range the index reads; the OR only settles ties at t.
        Some(PageCursor::Older(at, id)) => {
            let t = arg(at.into(), &mut args);
            let i = arg(id.into(), &mut args);
            clauses.push(format!(
                "created_at <= {t} AND (created_at < {t} OR id < {i})"
            ));
        }
        Some(PageCursor::Newer(at, id)) => {
            let t = arg(at.into(), &mut args);
            let i = arg(id.into(), &mut args);
            clauses.push(format!(
                "created_at >= {t} AND (created_at > {t} OR id > {i})"
            ));
        }
        None => {}
    }
    let clause = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    (clause, args)
}

impl<DB: Dialect> Pools<DB> {
    /// Up to `limit` orders matching `filter` from `cursor` on, newest first whichever way the page
    /// goes.
    pub async fn order_page(
        &self,
        filter: &OrderListFilter,
        cursor: Option<PageCursor>,
        limit: i64,
    ) -> Result<Vec<Order>, DbError> {
        let (clause, mut args) = conditions(filter, cursor);
        let newer = matches!(cursor, Some(PageCursor::Newer(..)));
        let direction = if newer { "ASC" } else { "DESC" };
        let sort = if filter.search.is_some() {
            "+created_at"
        } else {
            "created_at"
        };
        args.push(limit.into());
        let sql = format!(
            "SELECT {} FROM orders {clause} ORDER BY {sort} {direction}, id {direction} LIMIT ${}",
            ORDERS.select(),
            args.len()
        );
        let rows = self.read_rows(&sql, args).await?;
        let mut orders = rows
            .iter()
            .map(rows::order)
            .collect::<Result<Vec<_>, _>>()?;
        if newer {
            orders.reverse();
        }
        Ok(orders)
    }

    /// The payment events of a link key, oldest first.
    pub async fn payment_events(&self, link_key: &str) -> Result<Vec<PaymentEvent>, DbError> {
        let sql = "SELECT kind, dedup_key, journal_id, source, at FROM payment_events \
                   WHERE link_key = $1 ORDER BY id";
        let rows = self.read_rows(sql, vec![link_key.into()]).await?;
        rows.iter()
            .map(|row| {
                Ok(PaymentEvent {
                    kind: row.text("kind")?,
                    dedup_key: row.text("dedup_key")?,
                    journal_id: row.int_or_null("journal_id")?,
                    source: row.text("source")?,
                    at: row.int("at")?,
                })
            })
            .collect()
    }

    /// Clears an order's 要確認 and writes `reason` in its history (the status staying what it is).
    /// `Conflict("not_flagged")` when it is not flagged (any more).
    pub async fn clear_order_attention(
        &self,
        order_number: &str,
        reason: &str,
    ) -> Result<Order, DbError> {
        let mut tx = self.write.begin().await?;
        let at = now_millis();
        let rows = DB::fetch(
            &mut tx,
            "UPDATE orders SET attention = NULL, updated_at = $1 \
             WHERE order_number = $2 AND attention IS NOT NULL RETURNING id, payment_status",
            vec![at.into(), order_number.into()],
        )
        .await?;
        let Some(row) = rows.first() else {
            return Err(self.missing_or(order_number, "not_flagged").await);
        };
        let status = status(&row.text("payment_status")?)?;
        let history = history_row(row.int("id")?.into(), Some(status), status, reason, at);
        DB::execute(&mut tx, &insert(&history, ""), history.into_values()).await?;
        tx.commit().await?;
        self.order_by_number(order_number).await
    }

    /// Moves an order from `from` to `to` (a guarded UPDATE: `Conflict("status_changed")` when its
    /// status is no longer `from`) and writes `reason` in its history.
    pub async fn set_order_status(
        &self,
        order_number: &str,
        from: PaymentStatus,
        to: PaymentStatus,
        reason: &str,
    ) -> Result<Order, DbError> {
        let mut tx = self.write.begin().await?;
        let at = now_millis();
        let rows = DB::fetch(
            &mut tx,
            "UPDATE orders SET payment_status = $1, updated_at = $2 \
             WHERE order_number = $3 AND payment_status = $4 RETURNING id",
            vec![
                to.as_str().into(),
                at.into(),
                order_number.into(),
                from.as_str().into(),
            ],
        )
        .await?;
        let Some(row) = rows.first() else {
            return Err(self.missing_or(order_number, "status_changed").await);
        };
        let history = history_row(row.int("id")?.into(), Some(from), to, reason, at);
        DB::execute(&mut tx, &insert(&history, ""), history.into_values()).await?;
        tx.commit().await?;
        self.order_by_number(order_number).await
    }

    async fn order_by_number(&self, order_number: &str) -> Result<Order, DbError> {
        let sql = format!(
            "SELECT {} FROM orders WHERE order_number = $1",
            ORDERS.select()
        );
        let row = self.read_row(&sql, vec![order_number.into()]).await?;
        rows::order(&row.ok_or(DbError::NotFound)?)
    }

    /// Why a guarded change changed nothing: no such order, or `conflict`.
    async fn missing_or(&self, order_number: &str, conflict: &'static str) -> DbError {
        match self.order_by_number(order_number).await {
            Ok(_) => DbError::Conflict(conflict),
            Err(error) => error,
        }
    }
}

fn status(text: &str) -> Result<PaymentStatus, DbError> {
    PaymentStatus::parse(text).ok_or_else(|| DbError::Corrupt(format!("payment status {text}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_filters_given_are_in_the_clause() {
        let (clause, args) = conditions(&OrderListFilter::default(), None);
        assert_eq!((clause.as_str(), args.len()), ("", 0));
        let filter = OrderListFilter {
            status: Some(PaymentStatus::Unpaid),
            attention: true,
            ..Default::default()
        };
        let (clause, args) = conditions(&filter, Some(PageCursor::Older(5, 7)));
        assert_eq!(
            clause,
            "WHERE payment_status = $1 AND attention IS NOT NULL \
             AND created_at <= $2 AND (created_at < $2 OR id < $3)"
        );
        assert_eq!(args.len(), 3);
    }
}
