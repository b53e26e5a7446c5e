//! Requests refused for their source address: kept within a budget, listed for the operator, claimed
//! and settled by a replay, and counted for the dashboard's `trusted_proxies` notice; and the retention
//! purges, which remove what the shop no longer needs a bounded batch at a time.

use super::{insert, Dialect, Pools};
use crate::db::columns::{json, NewRow, REFUSED};
use crate::db::rows::{self, Columns};
use crate::db::{DbError, NewRefused, Purge, RefusedForOpenAttempts};
use crate::domain::RefusedRequest;

impl<DB: Dialect> Pools<DB> {
    pub async fn keep_refused(&self, refused: &NewRefused) -> Result<i64, DbError> {
        let row = NewRow::new(&REFUSED)
            .set("module_id", &refused.module_id)
            .set("endpoint", &refused.endpoint)
            .set("method", &refused.method)
            .set("query", &refused.query)
            .set("content_type", refused.content_type.clone())
            .set("peer", &refused.peer)
            .set("source", &refused.source)
            .set("headers_json", json(&refused.headers))
            .set("body", refused.body.as_slice())
            .set("size", refused.size)
            .set("received_at", refused.received_at)
            .set("link_key", refused.link_key.clone())
            .set("replayed_at", None::<i64>)
            .set("replay_journal_id", None::<i64>);
        let sql = insert(&row, "RETURNING id");
        let rows = self.write_rows(&sql, row.into_values()).await?;
        rows.first().ok_or(DbError::NotFound)?.int("id")
    }

    pub async fn refused_requests(
        &self,
        pending_only: bool,
        limit: i64,
    ) -> Result<Vec<RefusedRequest>, DbError> {
        let sql = format!(
            "SELECT {} FROM refused_requests WHERE ($1 = FALSE OR replayed_at IS NULL) \
             ORDER BY id DESC LIMIT $2",
            REFUSED.select()
        );
        let rows = self
            .read_rows(&sql, vec![pending_only.into(), limit.into()])
            .await?;
        rows.iter().map(rows::refused_request).collect()
    }

    pub async fn refused_request(&self, id: i64) -> Result<Option<RefusedRequest>, DbError> {
        let sql = format!(
            "SELECT {} FROM refused_requests WHERE id = $1",
            REFUSED.select()
        );
        let row = self.read_row(&sql, vec![id.into()]).await?;
        row.as_ref().map(rows::refused_request).transpose()
    }

    pub async fn claim_refused_replay(&self, id: i64, at: i64) -> Result<bool, DbError> {
        let sql =
            "UPDATE refused_requests SET replayed_at = $2 WHERE id = $1 AND replayed_at IS NULL";
        Ok(self.write(sql, vec![id.into(), at.into()]).await? == 1)
    }

    pub async fn settle_refused_replay(
        &self,
        id: i64,
        journal_id: Option<i64>,
    ) -> Result<(), DbError> {
        let (sql, args) = match journal_id {
            Some(journal_id) => (
                "UPDATE refused_requests SET replay_journal_id = $2 WHERE id = $1",
                vec![id.into(), journal_id.into()],
            ),
            None => (
                "UPDATE refused_requests SET replayed_at = NULL \
                 WHERE id = $1 AND replay_journal_id IS NULL",
                vec![id.into()],
            ),
        };
        self.write(sql, args).await.map(drop)
    }

    pub async fn refused_bytes(&self) -> Result<i64, DbError> {
        // PostgreSQL sums BIGINTs as NUMERIC; the cast keeps both backends at one integer type.
        let sql = "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) AS n FROM refused_requests";
        let rows = self.read_rows(sql, Vec::new()).await?;
        rows.first().ok_or(DbError::NotFound)?.int("n")
    }

    pub async fn refused_for_open_attempts(&self) -> Result<RefusedForOpenAttempts, DbError> {
        let sql = "SELECT COUNT(DISTINCT r.link_key) AS n, MAX(r.received_at) AS latest \
                   FROM refused_requests r JOIN checkout_attempts a ON a.link_key = r.link_key \
                   WHERE r.replayed_at IS NULL AND a.state = 'open'";
        let rows = self.read_rows(sql, Vec::new()).await?;
        let row = rows.first().ok_or(DbError::NotFound)?;
        Ok(RefusedForOpenAttempts {
            link_keys: row.int("n")?,
            latest: row.int_or_null("latest")?,
        })
    }

    pub async fn purge(
        &self,
        what: Purge,
        before: i64,
        limit: i64,
        at: i64,
    ) -> Result<u64, DbError> {
        // Each statement picks its batch by the column the migrations index for it, oldest first.
        let batch = |table: &str, condition: &str, time: &str| {
            format!("SELECT id FROM {table} WHERE {condition} {time} < $1 ORDER BY {time} LIMIT $2")
        };
        let mut args = vec![before.into(), limit.into()];
        let sql = match what {
            Purge::AttemptsWithoutOrder => format!(
                "DELETE FROM checkout_attempts WHERE id IN ({})",
                batch("checkout_attempts", "order_id IS NULL AND", "created_at")
            ),
            Purge::SettlementErrors => format!(
                "DELETE FROM settlement_errors WHERE id IN ({})",
                batch("settlement_errors", "", "at")
            ),
            Purge::Sessions => format!(
                "DELETE FROM storefront_sessions WHERE id IN ({})",
                batch("storefront_sessions", "", "touched_at")
            ),
            Purge::JournalBodies => {
                args.push(Vec::<u8>::new().as_slice().into());
                args.push(at.into());
                format!(
                    "UPDATE notification_journal SET body = $3, body_purged_at = $4 WHERE id IN ({})",
                    batch("notification_journal", "body_purged_at IS NULL AND", "received_at")
                )
            }
            Purge::RefusedRequests => format!(
                "DELETE FROM refused_requests WHERE id IN ({})",
                batch("refused_requests", "", "received_at")
            ),
            Purge::Mail => return self.purge_mail(before, limit).await,
        };
        self.write(&sql, args).await
    }
}
