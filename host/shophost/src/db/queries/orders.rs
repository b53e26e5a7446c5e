//! Checkout attempts, orders and the notification journal, as the checkout, the jobs and the admin
//! API read and change them; applying a gateway signal is the hot path, in each backend's folder.

use super::{insert, Dialect, Pools};
use crate::db::columns::{
    history_row, json, NewRow, ATTEMPTS, JOURNAL, ORDERS, ORDER_HISTORY, SETTLEMENT_ERRORS,
};
use crate::db::decide::{self, Change, NewOrder};
use crate::db::rows::{self, Columns};
use crate::db::{AttentionCounts, DbError, NewAttempt, OrderFilter, StoreCounts};
use crate::domain::{
    now_millis, Attempt, AttemptKind, AttemptState, JournalEntry, Order, OrderHistoryEntry,
    PaymentStatus, SettlementError,
};

/// The orders by settlement type and payment status, in that order: on both backends a pass over
/// `orders_type_status` alone (its entries come in the groups' order), never the orders' rows.
pub(crate) const ORDER_COUNTS: &str = "SELECT settlement_type, payment_status, COUNT(*) AS n \
     FROM orders GROUP BY settlement_type, payment_status ORDER BY settlement_type, payment_status";

impl<DB: Dialect> Pools<DB> {
    pub async fn create_attempt(&self, attempt: &NewAttempt) -> Result<Attempt, DbError> {
        let now = now_millis();
        let row = NewRow::new(&ATTEMPTS)
            .set("link_key", &attempt.link_key)
            .set("kind", attempt.kind.as_str())
            .set("module_id", &attempt.module_id)
            .set("settlement_type", &attempt.settlement_type)
            .set("payment_method_id", attempt.payment_method_id)
            .set("payment_method_name", &attempt.payment_method_name)
            .set("member_id", attempt.member_id)
            .set("snapshot_json", json(&attempt.snapshot))
            .set("total", attempt.snapshot.total)
            .set("state", AttemptState::Open.as_str())
            .set("returned_at", None::<i64>)
            .set("attention", None::<String>)
            .set("order_id", None::<i64>)
            .set("created_at", now)
            .set("updated_at", now);
        let sql = insert(&row, &format!("RETURNING {}", ATTEMPTS.select()));
        let rows = self.write_rows(&sql, row.into_values()).await?;
        rows::attempt(rows.first().ok_or(DbError::NotFound)?)
    }

    pub async fn attempt_by_link_key(&self, link_key: &str) -> Result<Option<Attempt>, DbError> {
        let sql = format!(
            "SELECT {} FROM checkout_attempts WHERE link_key = $1",
            ATTEMPTS.select()
        );
        let row = self.read_row(&sql, vec![link_key.into()]).await?;
        row.as_ref().map(rows::attempt).transpose()
    }

    pub async fn attempts(&self, open_only: bool, limit: i64) -> Result<Vec<Attempt>, DbError> {
        let sql = format!(
            "SELECT {} FROM checkout_attempts WHERE ($1 = FALSE OR order_id IS NULL) \
             ORDER BY id DESC LIMIT $2",
            ATTEMPTS.select()
        );
        let rows = self
            .read_rows(&sql, vec![open_only.into(), limit.into()])
            .await?;
        rows.iter().map(rows::attempt).collect()
    }

    pub async fn mark_returned(&self, link_key: &str, at: i64) -> Result<(), DbError> {
        let sql = "UPDATE checkout_attempts SET returned_at = $1, updated_at = $1 \
                   WHERE link_key = $2 AND returned_at IS NULL";
        self.write(sql, vec![at.into(), link_key.into()])
            .await
            .map(drop)
    }

    pub async fn flag_unconfirmed_returns(
        &self,
        module_id: &str,
        returned_before: i64,
        reason: &str,
    ) -> Result<Vec<String>, DbError> {
        let sql = "UPDATE checkout_attempts SET attention = $1, updated_at = $2 \
                   WHERE state = 'open' AND kind = 'order' AND attention IS NULL \
                   AND returned_at IS NOT NULL AND returned_at < $3 AND module_id = $4 \
                   RETURNING link_key";
        let args = vec![
            reason.into(),
            now_millis().into(),
            returned_before.into(),
            module_id.into(),
        ];
        let rows = self.write_rows(sql, args).await?;
        rows.iter().map(|row| row.text("link_key")).collect()
    }

    /// Creates the order for an open attempt by the operator's decision, written as the backend's
    /// hot path writes an order.
    pub async fn recover_attempt(
        &self,
        link_key: &str,
        status: PaymentStatus,
        settlement_label: &str,
        reason: &str,
    ) -> Result<Order, DbError> {
        let mut tx = self.write.begin().await?;
        let sql = format!(
            "SELECT {} FROM checkout_attempts WHERE link_key = $1 {}",
            ATTEMPTS.select(),
            DB::FOR_UPDATE
        );
        let found = DB::fetch(&mut tx, &sql, vec![link_key.into()]).await?;
        let attempt = rows::attempt(found.first().ok_or(DbError::NotFound)?)?;
        if attempt.state != AttemptState::Open || attempt.kind != AttemptKind::Order {
            return Err(DbError::Conflict("attempt_not_open"));
        }
        let at = now_millis();
        let change = Change::CreateOrder(NewOrder {
            status,
            label: settlement_label.to_owned(),
            transaction_id: None,
            slip: None,
            reason: reason.to_owned(),
            number: decide::order_number(attempt.id, at),
            attention: None,
        });
        DB::write_change(&mut tx, &attempt, &change, at).await?;
        let sql = format!(
            "SELECT {} FROM orders WHERE attempt_id = $1",
            ORDERS.select()
        );
        let created = DB::fetch(&mut tx, &sql, vec![attempt.id.into()]).await?;
        let order = rows::order(created.first().ok_or(DbError::NotFound)?)?;
        tx.commit().await?;
        Ok(order)
    }

    pub async fn orders(&self, filter: &OrderFilter, limit: i64) -> Result<Vec<Order>, DbError> {
        let sql = format!(
            "SELECT {} FROM orders WHERE ($1 IS NULL OR link_key = $1) \
             AND ($2 IS NULL OR order_number = $2) AND ($3 IS NULL OR payment_status = $3) \
             AND ($4 IS NULL OR member_id = $4) AND ($5 = FALSE OR attention IS NOT NULL) \
             ORDER BY id DESC LIMIT $6",
            ORDERS.select()
        );
        let args = vec![
            filter.link_key.as_deref().into(),
            filter.order_number.as_deref().into(),
            filter.status.map(PaymentStatus::as_str).into(),
            filter.member_id.into(),
            filter.attention.into(),
            limit.into(),
        ];
        let rows = self.read_rows(&sql, args).await?;
        rows.iter().map(rows::order).collect()
    }

    pub async fn order_history(&self, order_id: i64) -> Result<Vec<OrderHistoryEntry>, DbError> {
        let sql = format!(
            "SELECT {} FROM order_history WHERE order_id = $1 ORDER BY id",
            ORDER_HISTORY.select()
        );
        let rows = self.read_rows(&sql, vec![order_id.into()]).await?;
        rows.iter().map(rows::history_entry).collect()
    }

    pub async fn payment_event_count(&self, link_key: &str) -> Result<i64, DbError> {
        let sql = "SELECT COUNT(*) AS n FROM payment_events WHERE link_key = $1";
        let rows = self.read_rows(sql, vec![link_key.into()]).await?;
        rows.first().ok_or(DbError::NotFound)?.int("n")
    }

    pub async fn last_payment_event(&self, link_key: &str) -> Result<Option<String>, DbError> {
        let sql = "SELECT kind FROM payment_events WHERE link_key = $1 ORDER BY id DESC LIMIT 1";
        let row = self.read_row(sql, vec![link_key.into()]).await?;
        row.map(|row| row.text("kind")).transpose()
    }

    pub async fn expire_unpaid(&self, cutoff: &str, reason: &str) -> Result<Vec<String>, DbError> {
        let mut tx = self.write.begin().await?;
        let now = now_millis();
        // The guarded UPDATE makes the job safe to run from several host processes at once: only one
        // of them moves a given order, and only that one writes its history.
        let rows = DB::fetch(
            &mut tx,
            "UPDATE orders SET payment_status = 'expired', updated_at = $1 \
             WHERE payment_status = 'unpaid' AND deadline IS NOT NULL AND deadline < $2 \
             RETURNING id, order_number",
            vec![now.into(), cutoff.into()],
        )
        .await?;
        let mut numbers = Vec::new();
        for row in &rows {
            let history = history_row(
                row.int("id")?.into(),
                Some(PaymentStatus::Unpaid),
                PaymentStatus::Expired,
                reason,
                now,
            );
            DB::execute(&mut tx, &insert(&history, ""), history.into_values()).await?;
            numbers.push(row.text("order_number")?);
        }
        tx.commit().await?;
        Ok(numbers)
    }

    pub async fn attention_counts(&self) -> Result<AttentionCounts, DbError> {
        let rows = self
            .read_rows(
                "SELECT (SELECT COUNT(*) FROM checkout_attempts \
                 WHERE state = 'open' AND attention IS NOT NULL) AS attempts, \
                 (SELECT COUNT(*) FROM orders WHERE attention IS NOT NULL) AS orders",
                Vec::new(),
            )
            .await?;
        let row = rows.first().ok_or(DbError::NotFound)?;
        Ok(AttentionCounts {
            attempts: row.int("attempts")?,
            orders: row.int("orders")?,
        })
    }

    /// [`attention_counts`](Self::attention_counts), the orders by settlement type and payment status
    /// (one pass over the index of those two columns, `orders_type_status`: never the orders' rows)
    /// and the contracts by module and status.
    pub async fn counts(&self) -> Result<StoreCounts, DbError> {
        let groups = |rows: Vec<DB::Row>, first: &str, second: &str| {
            rows.iter()
                .map(|row| Ok((row.text(first)?, row.text(second)?, row.int("n")?)))
                .collect::<Result<Vec<_>, DbError>>()
        };
        let orders = self.read_rows(ORDER_COUNTS, Vec::new()).await?;
        let contracts = self
            .read_rows(
                "SELECT module_id, status, COUNT(*) AS n FROM recurring_contracts \
                 GROUP BY module_id, status ORDER BY module_id, status",
                Vec::new(),
            )
            .await?;
        Ok(StoreCounts {
            attention: self.attention_counts().await?,
            orders: groups(orders, "settlement_type", "payment_status")?,
            contracts: groups(contracts, "module_id", "status")?,
        })
    }

    pub async fn journal(
        &self,
        link_key: Option<&str>,
        limit: i64,
    ) -> Result<Vec<JournalEntry>, DbError> {
        let sql = format!(
            "SELECT {} FROM notification_journal WHERE ($1 IS NULL OR link_key = $1) \
             ORDER BY id DESC LIMIT $2",
            JOURNAL.select()
        );
        let rows = self
            .read_rows(&sql, vec![link_key.into(), limit.into()])
            .await?;
        rows.iter().map(rows::journal_entry).collect()
    }

    pub async fn journal_entry(&self, id: i64) -> Result<Option<JournalEntry>, DbError> {
        let sql = format!(
            "SELECT {} FROM notification_journal WHERE id = $1",
            JOURNAL.select()
        );
        let row = self.read_row(&sql, vec![id.into()]).await?;
        row.as_ref().map(rows::journal_entry).transpose()
    }

    pub async fn settlement_errors(&self, limit: i64) -> Result<Vec<SettlementError>, DbError> {
        let sql = format!(
            "SELECT {} FROM settlement_errors ORDER BY id DESC LIMIT $1",
            SETTLEMENT_ERRORS.select()
        );
        let rows = self.read_rows(&sql, vec![limit.into()]).await?;
        rows.iter().map(rows::settlement_error).collect()
    }

    pub async fn delete_settlement_error(&self, id: i64) -> Result<bool, DbError> {
        let sql = "DELETE FROM settlement_errors WHERE id = $1";
        Ok(self.write(sql, vec![id.into()]).await? > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::ORDER_COUNTS;
    use crate::db::queries::HotPath;
    use crate::db::sqlite::scratch_database;
    use crate::db::SqliteStore;

    /// SQLite counts the orders from the index of the two columns, already in the groups' order: no
    /// row of the table read, no sort (which, with a million orders, took seconds and 200 MB).
    #[tokio::test]
    async fn sqlite_counts_orders_from_their_index_alone() {
        let (dir, url) = scratch_database("order-counts");
        let store = SqliteStore::connect(&url).await.unwrap();
        let plan: Vec<String> = sqlx::query(&format!("EXPLAIN QUERY PLAN {ORDER_COUNTS}"))
            .fetch_all(&store.pools().read)
            .await
            .unwrap()
            .iter()
            .map(|row| sqlx::Row::get(row, "detail"))
            .collect();
        assert_eq!(
            plan,
            ["SCAN orders USING COVERING INDEX orders_type_status"],
            "{plan:?}"
        );
        store.close().await;
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
