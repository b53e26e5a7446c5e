//! The 受注リスト's SQL, written once for both backends: one page of orders by keyset on
//! `(created_at, id)` (never OFFSET), the payment events of a link key, and the operator's changes to
//! an order (要確認 cleared, a status set by hand), each recorded in the order's append-only history.
//!
//! The WHERE clause holds only the filters given, so each backend's planner sees a plain predicate and
//! picks the index of `0010_order_list.sql` that yields the rows in page order: a page reads about one
//! page of index entries however many orders there are. A search is the exception: its matches' ids are
//! read from the unique and name/e-mail indexes alone and sorted, and only the page's rows read whole
//! (`page_statement`).

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

/// The conditions of `filter` and `cursor`, with their arguments numbered from `$1`: the clauses every
/// row must meet, and a search's alternatives (any one of them), each of which one index serves.
struct Conditions {
    all: Vec<String>,
    any: Vec<String>,
    args: Vec<Value>,
}

impl Conditions {
    fn arg(&mut self, value: Value) -> String {
        self.args.push(value);
        format!("${}", self.args.len())
    }

    /// `WHERE` and `clauses` joined by AND, or nothing.
    fn clause(clauses: &[String]) -> String {
        if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        }
    }
}

fn conditions(filter: &OrderListFilter, cursor: Option<PageCursor>) -> Conditions {
    let mut c = Conditions {
        all: Vec::new(),
        any: Vec::new(),
        args: Vec::new(),
    };
    if let Some(status) = filter.status {
        let n = c.arg(status.as_str().into());
        c.all.push(format!("payment_status = {n}"));
    }
    if let Some(settlement_type) = &filter.settlement_type {
        let n = c.arg(settlement_type.into());
        c.all.push(format!("settlement_type = {n}"));
    }
    if let Some(from) = filter.created_from {
        let n = c.arg(from.into());
        c.all.push(format!("created_at >= {n}"));
    }
    if let Some(until) = filter.created_until {
        let n = c.arg(until.into());
        c.all.push(format!("created_at < {n}"));
    }
    if filter.attention {
        // Literally the partial index's predicate, so both planners use orders_attention_created.
        c.all.push("attention IS NOT NULL".to_owned());
    }
    match cursor {
        // `created_at <= t` is the range the index reads; the OR only settles ties at t.
        Some(PageCursor::Older(at, id)) => {
            let t = c.arg(at.into());
            let i = c.arg(id.into());
            c.all.push(format!(
                "created_at <= {t} AND (created_at < {t} OR id < {i})"
            ));
        }
        Some(PageCursor::Newer(at, id)) => {
            let t = c.arg(at.into());
            let i = c.arg(id.into());
            c.all.push(format!(
                "created_at >= {t} AND (created_at > {t} OR id > {i})"
            ));
        }
        None => {}
    }
    if let Some(search) = &filter.search {
        let exact = c.arg(search.into());
        let name: String = search.chars().filter(|c| !c.is_whitespace()).collect();
        let name_from = c.arg(name.clone().into());
        let name_to = c.arg(format!("{name}{LAST_CHAR}").into());
        let last = c.arg(LAST_CHAR.to_string().into());
        // The e-mail column holds the address as the database's lower() folds it (SQLite: ASCII
        // letters only; PostgreSQL: by its locale), so the typed text is folded by the same lower().
        c.any = vec![
            format!("order_number = {exact}"),
            format!("link_key = {exact}"),
            format!("customer_name >= {name_from} AND customer_name < {name_to}"),
            format!(
                "customer_email >= lower({exact}) AND customer_email < (lower({exact}) || {last})"
            ),
        ];
    }
    c
}

/// The statement of one page and its arguments. Without a search, one SELECT whose plain predicate
/// lets the planner walk the index that yields the rows in page order. With one, the matches' ids
/// first: one SELECT of `(id, created_at)` per alternative, each read from its own index alone (a
/// SQLite index holds the rowid, so the name and e-mail indexes cover these), united, sorted and cut
/// to the page; only the page's rows are then read whole. A common surname prefix matches thousands of
/// orders, and sorting them whole was the slow part.
fn page_statement(
    filter: &OrderListFilter,
    cursor: Option<PageCursor>,
    limit: i64,
) -> (String, Vec<Value>) {
    let mut c = conditions(filter, cursor);
    let direction = match cursor {
        Some(PageCursor::Newer(..)) => "ASC",
        _ => "DESC",
    };
    let order = format!("ORDER BY created_at {direction}, id {direction}");
    let limit = c.arg(limit.into());
    let columns = ORDERS.select();
    if c.any.is_empty() {
        let clause = Conditions::clause(&c.all);
        return (
            format!("SELECT {columns} FROM orders {clause} {order} LIMIT {limit}"),
            c.args,
        );
    }
    let matches = c
        .any
        .iter()
        .map(|alternative| {
            let mut clauses = vec![alternative.clone()];
            clauses.extend(c.all.iter().cloned());
            format!(
                "SELECT id, created_at FROM orders {}",
                Conditions::clause(&clauses)
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ");
    (
        format!(
            "SELECT {columns} FROM orders WHERE id IN \
             (SELECT id FROM ({matches}) AS matches {order} LIMIT {limit}) {order}"
        ),
        c.args,
    )
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
        let (sql, args) = page_statement(filter, cursor, limit);
        let rows = self.read_rows(&sql, args).await?;
        let mut orders = rows
            .iter()
            .map(rows::order)
            .collect::<Result<Vec<_>, _>>()?;
        if matches!(cursor, Some(PageCursor::Newer(..))) {
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
    fn only_the_filters_given_are_in_the_statement() {
        let (sql, args) = page_statement(&OrderListFilter::default(), None, 51);
        assert!(
            sql.ends_with("FROM orders  ORDER BY created_at DESC, id DESC LIMIT $1"),
            "{sql}"
        );
        assert_eq!(args.len(), 1);
        let filter = OrderListFilter {
            status: Some(PaymentStatus::Unpaid),
            attention: true,
            ..Default::default()
        };
        let (sql, args) = page_statement(&filter, Some(PageCursor::Older(5, 7)), 51);
        assert!(
            sql.ends_with(
                "FROM orders WHERE payment_status = $1 AND attention IS NOT NULL \
                 AND created_at <= $2 AND (created_at < $2 OR id < $3) \
                 ORDER BY created_at DESC, id DESC LIMIT $4"
            ),
            "{sql}"
        );
        assert_eq!(args.len(), 4);
    }

    #[test]
    fn a_search_reads_each_alternative_from_its_own_index_then_the_page_whole() {
        let filter = OrderListFilter {
            status: Some(PaymentStatus::Paid),
            search: Some("山田 太".into()),
            ..Default::default()
        };
        let (sql, args) = page_statement(&filter, Some(PageCursor::Newer(5, 7)), 51);
        // status $1, cursor $2 $3, search $4..$7, limit $8.
        assert_eq!(args.len(), 8);
        let (outer, inner) = sql.split_once(" WHERE id IN (").unwrap();
        assert!(outer.starts_with("SELECT "), "{outer}");
        assert!(!outer.contains("WHERE"), "{outer}");
        let alternatives: Vec<&str> = inner.split(" UNION ").collect();
        assert_eq!(alternatives.len(), 4, "{inner}");
        for alternative in &alternatives {
            assert!(alternative.contains("payment_status = $1"), "{alternative}");
            assert!(
                alternative.contains("(created_at > $2 OR id > $3)"),
                "{alternative}"
            );
        }
        assert!(alternatives[0].contains("order_number = $4"));
        assert!(alternatives[1].contains("link_key = $4"));
        assert!(alternatives[2].contains("customer_name >= $5 AND customer_name < $6"));
        assert!(alternatives[3]
            .contains("customer_email >= lower($4) AND customer_email < (lower($4) || $7)"));
        assert!(sql.ends_with(
            "AS matches ORDER BY created_at ASC, id ASC LIMIT $8) ORDER BY created_at ASC, id ASC"
        ));
    }
}
