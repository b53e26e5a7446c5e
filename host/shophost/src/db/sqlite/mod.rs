//! The SQLite store: its connection, how the shared queries run on it, and its hot path, the
//! group-commit writer (`writer.rs`) and its rounds (`round.rs`).
//!
//! [`SqliteStore`] implements `HotPath`; the rest of `Store` is the shared queries (`queries/`).

mod durable;
mod round;
mod writer;

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, SqliteConnection};
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

use self::writer::{checkpoint_wal, group_commit};
use super::batch::WriteJob;
use super::columns::Value;
use super::decide::Change;
use super::queries::{bind, Dialect, HotPath, Pools};
use super::round::{Ids, Round};
use super::{
    ApplyContext, DbError, InboundRecord, Intent, Recorded, Responses, WriterCounts, WriterStats,
};
use crate::domain::Attempt;

/// The SQLite store: one writer connection (SQLite has one writer at a time anyway, and a single
/// connection makes write transactions queue in the pool instead of failing with `SQLITE_BUSY`) and a
/// small pool of readers. WAL journal, `synchronous = FULL` but for the writer's batches, whose requests
/// are answered after the writer's own flush of the log (`durable.rs`): nothing is acknowledged before
/// it is on disk.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pools: Pools<Sqlite>,
    writer: mpsc::Sender<WriteJob>,
    stats: Arc<WriterStats>,
    /// Tells the writer to commit what is queued and stop ([`Store::close`](super::Store::close)).
    closing: Arc<Notify>,
    /// The writer task, until the store is closed.
    writer_task: Arc<Mutex<Option<JoinHandle<()>>>>,
    /// Tells the background checkpoint to close its connection and end.
    checkpoint_stop: Arc<Notify>,
    /// The background checkpoint task, until the store is closed.
    checkpoint_task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at a `sqlite:` URL and migrates it.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        Self::connect_flushing(url, durable::Durable::start).await
    }

    /// [`connect`](Self::connect), with the writer's flushes made by what `durable` starts for the
    /// database file (the tests give one that fails).
    async fn connect_flushing(
        url: &str,
        durable: impl FnOnce(std::path::PathBuf) -> std::io::Result<durable::Durable>,
    ) -> Result<Self, DbError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| DbError::Unavailable(format!("bad SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // Statement journals (for multi-row statements) in memory: no file create/unlink per request.
            .pragma("temp_store", "memory")
            // Checkpoints run in the background (`checkpoint_wal`), not inside a commit that a request
            // waits for; a committing writer checkpoints only if that has fallen far behind.
            .pragma("wal_autocheckpoint", "20000")
            .pragma("journal_size_limit", "67108864")
            .busy_timeout(Duration::from_secs(10));
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(10))
            // The writer's page cache: 16 MiB instead of SQLite's 2 MiB, so that the inner pages of
            // the indexes a notification inserts into (its event key, link key, order columns) stay
            // in memory as the shop grows; with 2 MiB, a database of a million orders read them
            // back from the file on every round. The readers keep the default (peak RSS).
            .connect_with(options.clone().pragma("cache_size", "-16384"))
            .await?;
        crate::db::migrations::migrator(crate::db::migrations::SQLITE)
            .run(&write)
            .await
            .map_err(|e| DbError::Unavailable(format!("migration failed: {e}")))?;
        // A connection to a local file does not go stale as a network one can: no ping (a round trip
        // through the connection's worker thread) before every read, as none before every write.
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone().read_only(true))
            .await?;
        let (writer, jobs) = mpsc::channel(1024);
        let stats = Arc::new(WriterStats::default());
        let closing = Arc::new(Notify::new());
        let durable = durable(options.get_filename().to_path_buf())
            .map_err(|e| DbError::Unavailable(format!("could not start the fsync thread: {e}")))?;
        let writer_task = tokio::spawn(group_commit(
            write.clone(),
            jobs,
            stats.clone(),
            closing.clone(),
            durable,
        ));
        let checkpoint_stop = Arc::new(Notify::new());
        let checkpoint_task = tokio::spawn(checkpoint_wal(
            options,
            writer.downgrade(),
            checkpoint_stop.clone(),
        ));
        Ok(SqliteStore {
            pools: Pools { write, read },
            writer,
            stats,
            closing,
            writer_task: Arc::new(Mutex::new(Some(writer_task))),
            checkpoint_stop,
            checkpoint_task: Arc::new(Mutex::new(Some(checkpoint_task))),
        })
    }
}

/// A folder of its own for a unit test's database, and the database's URL in it.
#[cfg(test)]
pub(crate) fn scratch_database(test: &str) -> (std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!(
        "shophost-{test}-{}-{}",
        std::process::id(),
        crate::domain::now_millis()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite:{}", dir.join("shop.db").display());
    (dir, url)
}

/// The task a store still holds, taken out so that only the first `close` waits for it.
fn take(task: &Mutex<Option<JoinHandle<()>>>) -> Option<JoinHandle<()>> {
    task.lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .take()
}

#[async_trait]
impl HotPath for SqliteStore {
    type Db = Sqlite;

    fn pools(&self) -> &Pools<Sqlite> {
        &self.pools
    }

    fn writer_counts(&self) -> WriterCounts {
        self.stats.read()
    }

    /// The writer's queue is open while the writer task runs: it closes when the store is closed,
    /// and when the task ends any other way (its receiving end is dropped with it).
    fn writer_running(&self) -> bool {
        !self.writer.is_closed()
    }

    /// Lets the writer commit what is queued and stop, ends the background checkpoint, then closes
    /// the readers and last the writer's connection, which checkpoints the write-ahead log and
    /// removes it. Once this returns, no connection of the store touches the files.
    async fn close(&self) {
        self.closing.notify_one();
        if let Some(task) = take(&self.writer_task) {
            if let Err(error) = task.await {
                tracing::error!(%error, "the SQLite writer did not end cleanly");
            }
        }
        self.checkpoint_stop.notify_one();
        if let Some(task) = take(&self.checkpoint_task) {
            if let Err(error) = task.await {
                tracing::error!(%error, "the SQLite checkpoint task did not end cleanly");
            }
        }
        self.pools.read.close().await;
        self.pools.write.close().await;
    }

    /// Hands the request to the group-commit writer and waits for its commit.
    async fn record(
        &self,
        record: InboundRecord,
        intent: Intent,
        context: ApplyContext,
        responses: Responses,
    ) -> Result<Recorded, DbError> {
        super::batch::submit(&self.writer, "SQLite", record, intent, context, responses).await
    }
}

#[async_trait]
impl Dialect for Sqlite {
    const BACKEND: &'static str = "sqlite";
    const SKIP_LOCKED: &'static str = "";
    const MAIL_DUE: &'static str = "mail_outbox INDEXED BY mail_outbox_due";
    const FOR_UPDATE: &'static str = "";
    const PRODUCT_IN_LINES: &'static str = "SELECT CASE WHEN \
         EXISTS (SELECT 1 FROM checkout_attempts a, json_each(a.snapshot_json, '$.lines') l \
                 WHERE json_extract(l.value, '$.product_id') = $1) \
         OR EXISTS (SELECT 1 FROM orders o, json_each(o.lines_json) l \
                 WHERE json_extract(l.value, '$.product_id') = $1) \
         THEN 1 ELSE 0 END AS used";
    const MEMBER_NAMES: &'static str = "json_extract(details_json, '$.family_name') \
         || json_extract(details_json, '$.given_name') || ' ' \
         || ifnull(json_extract(details_json, '$.family_kana'), '') \
         || ifnull(json_extract(details_json, '$.given_kana'), '')";

    const ATTEMPT_CUSTOMER_NAMES: &'static str =
        "(json_extract(snapshot_json, '$.customer.family_name') \
         || json_extract(snapshot_json, '$.customer.given_name') || '|' \
         || json_extract(snapshot_json, '$.customer.family_kana') \
         || json_extract(snapshot_json, '$.customer.given_kana'))";

    async fn fetch(
        connection: &mut SqliteConnection,
        sql: &str,
        args: Vec<Value>,
    ) -> Result<Vec<SqliteRow>, DbError> {
        Ok(bind(sqlx::query(sql), args).fetch_all(connection).await?)
    }

    async fn execute(
        connection: &mut SqliteConnection,
        sql: &str,
        args: Vec<Value>,
    ) -> Result<u64, DbError> {
        let done = bind(sqlx::query(sql), args).execute(connection).await?;
        Ok(done.rows_affected())
    }

    /// One change in a round of its own, the order id given out as a round would.
    async fn write_change(
        connection: &mut SqliteConnection,
        attempt: &Attempt,
        change: &Change,
        at: i64,
    ) -> Result<(), DbError> {
        let base: i64 = sqlx::query("SELECT COALESCE(MAX(id), 0) AS base FROM orders")
            .fetch_one(&mut *connection)
            .await?
            .try_get("base")?;
        let mut round = Round::new(Ids::after(0, base));
        round.change(attempt, change, at)?;
        let mut write = sqlx::query(&round::WRITE);
        for arg in round::args(&round) {
            write = write.bind(arg);
        }
        write.execute(connection).await?;
        Ok(())
    }
}
