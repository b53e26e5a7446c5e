//! The PostgreSQL store: its connection, how the shared queries run on it, and its hot path, the
//! group-commit writer (`writer.rs`) and its rounds (`round.rs`), with one transaction per request
//! ([`PgStore::record_in_tx`], statements in `statements.rs`) for a batch that failed.
//!
//! [`PgStore`] implements `HotPath`; the rest of `Store` is the shared queries (`queries/`).

mod round;
mod statements;
mod writer;

#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::Postgres;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

use self::statements::Statement;
use super::batch::WriteJob;
use super::columns::Value;
use super::decide::{self, Change};
use super::queries::{bind, Dialect, HotPath, Pools};
use super::rows::{self, Columns};
use super::{
    ApplyContext, DbError, InboundRecord, Intent, Recorded, Responses, WriterCounts, WriterStats,
};
use crate::domain::Attempt;

/// Writer tasks per store, each with a connection of its own: while one waits for its commit, the
/// next batch is written by another.
const WRITERS: usize = 2;

/// The PostgreSQL store: one pool, and writer tasks that commit inbound requests in groups; row locks
/// (`FOR UPDATE`) serialise signals about the same attempt across writers and host processes.
#[derive(Debug, Clone)]
pub struct PgStore {
    pools: Pools<Postgres>,
    writer: mpsc::Sender<WriteJob>,
    stats: Arc<WriterStats>,
    /// Tells the writer to commit what is queued and stop ([`Store::close`](super::Store::close)).
    closing: Arc<Notify>,
    /// The writer tasks, until the store is closed.
    writer_tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl PgStore {
    /// Connects to a `postgres://` URL and migrates the database.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        // No ping before every query: it was a round trip of its own (through TLS when the server
        // offers it) in front of each cold-path read, and measured a seventh of the server's CPU at
        // concurrency 1 (the mail worker's reads). A connection that broke while idle fails its next
        // query instead, is closed by the pool, and the caller's error is the one a database outage
        // gives anyway (the gateway's retry, the operator's reload).
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;
        crate::db::migrations::migrator(crate::db::migrations::POSTGRES)
            .run(&pool)
            .await
            .map_err(|e| DbError::Unavailable(format!("migration failed: {e}")))?;
        let (writer, jobs) = mpsc::channel(1024);
        let stats = Arc::new(WriterStats::default());
        let closing = Arc::new(Notify::new());
        let jobs: writer::Jobs = Arc::new(tokio::sync::Mutex::new(jobs));
        let writer_tasks = (0..WRITERS)
            .map(|_| {
                tokio::spawn(writer::group_commit(
                    pool.clone(),
                    jobs.clone(),
                    stats.clone(),
                    closing.clone(),
                ))
            })
            .collect();
        Ok(PgStore {
            pools: Pools {
                write: pool.clone(),
                read: pool,
            },
            writer,
            stats,
            closing,
            writer_tasks: Arc::new(Mutex::new(writer_tasks)),
        })
    }

    /// Journals and applies one request in a transaction of its own: the way back for the requests
    /// of a batch that failed.
    async fn record_alone(pool: &PgPool, job: &WriteJob) -> Result<Recorded, DbError> {
        let mut tx = pool.begin().await?;
        let recorded = Self::record_in_tx(
            &mut tx,
            &job.record,
            &job.intent,
            &job.context,
            &job.responses,
        )
        .await?;
        tx.commit().await?;
        Ok(recorded)
    }

    /// Runs one statement; returns its rows.
    async fn run(
        connection: &mut PgConnection,
        statement: Statement,
    ) -> Result<Vec<PgRow>, DbError> {
        Postgres::fetch(connection, &statement.sql, statement.args).await
    }

    /// Journals and applies one inbound request inside a transaction (the caller commits): lock the
    /// attempt, read, decide, claim the event, write the changes and the journal entry.
    async fn record_in_tx(
        tx: &mut PgConnection,
        record: &InboundRecord,
        intent: &Intent,
        context: &ApplyContext,
        responses: &Responses,
    ) -> Result<Recorded, DbError> {
        let at = record.received_at;
        let mut attempt = None;
        let decision = match intent {
            Intent::Refuse {
                refusal,
                reason,
                link_key,
            } => decide::Decision::for_refusal(*refusal, reason, link_key.as_deref()),
            Intent::Apply(notification) => {
                // Lock first: the read below then sees everything committed before the lock was
                // granted (a read that locks keeps its older snapshot for its subqueries).
                let lock = "SELECT id FROM checkout_attempts WHERE link_key = $1 FOR UPDATE";
                Postgres::execute(tx, lock, vec![notification.link_key.as_str().into()]).await?;
                let mut loaded = Self::run(tx, statements::load(notification))
                    .await?
                    .first()
                    .map(rows::loaded)
                    .transpose()?;
                let mut decision = decide::decide(loaded.as_ref(), notification, context, at);
                if let Some(kind) = decision.claim {
                    let claim = statements::claim(notification, context, kind, at);
                    let claimed = Postgres::execute(tx, &claim.sql, claim.args).await? == 1;
                    if !claimed {
                        // Another host recorded the event after our read: decide again knowing it.
                        let sql = "SELECT link_key FROM payment_events WHERE dedup_key = $1";
                        let args = vec![Value::from(notification.dedup_key.as_str())];
                        let found = Postgres::fetch(tx, sql, args).await?;
                        let recorded_for =
                            found.first().ok_or(DbError::NotFound)?.text("link_key")?;
                        if let Some(loaded) = loaded.as_mut() {
                            loaded.recorded_for = Some(recorded_for);
                        }
                        decision = decide::decide(loaded.as_ref(), notification, context, at);
                        if decision.claim.is_some() {
                            return Err(DbError::Corrupt(format!(
                                "event {} could be neither claimed nor found",
                                notification.dedup_key
                            )));
                        }
                    }
                }
                attempt = loaded.map(|loaded| loaded.attempt);
                decision
            }
        };
        for change in &decision.writes {
            let attempt = attempt
                .as_ref()
                .ok_or_else(|| DbError::Corrupt("a change without an attempt".to_owned()))?;
            Self::run(tx, statements::write(attempt, change, at)).await?;
        }
        let (entry, journaled) = decide::entry(record, intent, decision, responses);
        let attempt_id = attempt.as_ref().map(|attempt| attempt.id);
        let journal = statements::journal(record, &entry, attempt_id);
        let journal_id = Self::run(tx, journal)
            .await?
            .last()
            .ok_or_else(|| DbError::Corrupt("journal insert returned no id".to_owned()))?
            .int("journal_id")?;
        Ok(journaled.recorded(journal_id))
    }
}

#[async_trait]
impl HotPath for PgStore {
    type Db = Postgres;

    fn pools(&self) -> &Pools<Postgres> {
        &self.pools
    }

    fn writer_counts(&self) -> WriterCounts {
        self.stats.read()
    }

    /// The writers' queue is open while they run: it closes when the store is closed, and when the
    /// writer tasks end any other way (its receiving end is dropped with the last).
    fn writer_running(&self) -> bool {
        !self.writer.is_closed()
    }

    /// Lets the writer commit what is queued and stop, then closes the pools.
    async fn close(&self) {
        // The writer waiting for the queue closes it; each writer ends once it is empty.
        self.closing.notify_one();
        let tasks = std::mem::take(
            &mut *self
                .writer_tasks
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        for task in tasks {
            if let Err(error) = task.await {
                tracing::error!(%error, "a PostgreSQL writer did not end cleanly");
            }
        }
        self.pools.write.close().await;
        self.pools.read.close().await;
    }

    /// Hands the request to the group-commit writers and waits for its commit: one transaction (one
    /// WAL flush, a few round trips) for every request that waits together, row locks ordering the
    /// requests about one attempt across writers and host processes.
    async fn record(
        &self,
        record: InboundRecord,
        intent: Intent,
        context: ApplyContext,
        responses: Responses,
    ) -> Result<Recorded, DbError> {
        super::batch::submit(
            &self.writer,
            "PostgreSQL",
            record,
            intent,
            context,
            responses,
        )
        .await
    }
}

#[async_trait]
impl Dialect for Postgres {
    const BACKEND: &'static str = "postgres";
    const SKIP_LOCKED: &'static str = "FOR UPDATE SKIP LOCKED";
    const MAIL_DUE: &'static str = "mail_outbox";
    const FOR_UPDATE: &'static str = "FOR UPDATE";
    const PRODUCT_IN_LINES: &'static str = "SELECT CASE WHEN \
         EXISTS (SELECT 1 FROM checkout_attempts a, \
                 jsonb_array_elements(a.snapshot_json::jsonb -> 'lines') l \
                 WHERE (l ->> 'product_id')::bigint = $1) \
         OR EXISTS (SELECT 1 FROM orders o, jsonb_array_elements(o.lines_json::jsonb) l \
                 WHERE (l ->> 'product_id')::bigint = $1) \
         THEN 1::bigint ELSE 0::bigint END AS used";
    const MEMBER_NAMES: &'static str = "(details_json::jsonb ->> 'family_name') \
         || (details_json::jsonb ->> 'given_name') || ' ' \
         || coalesce(details_json::jsonb ->> 'family_kana', '') \
         || coalesce(details_json::jsonb ->> 'given_kana', '')";

    const ATTEMPT_CUSTOMER_NAMES: &'static str =
        "((snapshot_json::jsonb -> 'customer' ->> 'family_name') \
         || (snapshot_json::jsonb -> 'customer' ->> 'given_name') || '|' \
         || (snapshot_json::jsonb -> 'customer' ->> 'family_kana') \
         || (snapshot_json::jsonb -> 'customer' ->> 'given_kana'))";

    async fn fetch(
        connection: &mut PgConnection,
        sql: &str,
        args: Vec<Value>,
    ) -> Result<Vec<PgRow>, DbError> {
        Ok(bind(sqlx::query(sql), args).fetch_all(connection).await?)
    }

    async fn execute(
        connection: &mut PgConnection,
        sql: &str,
        args: Vec<Value>,
    ) -> Result<u64, DbError> {
        let done = bind(sqlx::query(sql), args).execute(connection).await?;
        Ok(done.rows_affected())
    }

    async fn write_change(
        connection: &mut PgConnection,
        attempt: &Attempt,
        change: &Change,
        at: i64,
    ) -> Result<(), DbError> {
        PgStore::run(connection, statements::write(attempt, change, at))
            .await
            .map(drop)
    }
}
