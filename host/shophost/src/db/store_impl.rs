//! The SQL behind [`Store`], written once and expanded for SQLite and PostgreSQL, and the two ways the
//! backends apply gateway signals.
//!
//! `store_impl!` takes the backend's database type and the one clause that differs in its queries
//! (`FOR UPDATE`, which SQLite neither needs nor parses: its single writer connection already serialises
//! write transactions). Placeholders are `$1, $2, …`: PostgreSQL reads them natively, and sqlx's SQLite
//! driver binds a `$N` parameter to argument N.
//!
//! Inbound requests are decided in `plan.rs` and written per backend: SQLite's group-commit writer
//! ([`group_commit`]) applies a batch in rounds of two round trips each (`sqlite_round.rs`);
//! PostgreSQL runs one transaction per request ([`PgStore::record_in_tx`], `pg_statements.rs`).

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use shophost_module_api::SettingsValues;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Row;
use tokio::sync::{mpsc, oneshot};

use super::pg_statements as pg;
use super::plan::{self, json, ATTEMPT_COLUMNS};
use super::sqlite_round::{self, Round};
use super::{
    ApplyContext, DbError, InboundRecord, Intent, NewAttempt, NewPaymentMethod, OrderFilter,
    Recorded, Responses, Store, StoreCounts, StoredSettings, WriterStats,
};
use crate::domain::{
    now_millis, Attempt, AttemptKind, AttemptSnapshot, AttemptState, CartLine, CustomerDetails,
    JournalEntry, Member, MemberCard, Order, OrderHistoryEntry, PaymentMethod, PaymentStatus,
    Product, ProductRecurrence, RecurringContract, SettlementError, StoredSlip,
};

/// The SQLite store: one writer connection (SQLite has one writer at a time anyway, and a single
/// connection makes write transactions queue in the pool instead of failing with `SQLITE_BUSY`) and a
/// small pool of readers. WAL journal, `synchronous = FULL`: a commit is on disk before we acknowledge.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    write: SqlitePool,
    read: SqlitePool,
    writer: mpsc::Sender<WriteJob>,
    stats: std::sync::Arc<WriterStats>,
}

/// One inbound request waiting for the SQLite group-commit writer.
struct WriteJob {
    record: InboundRecord,
    intent: Intent,
    context: ApplyContext,
    responses: Responses,
    reply: oneshot::Sender<Result<Recorded, DbError>>,
}

/// The most inbound requests one SQLite commit carries.
const MAX_BATCH: usize = 64;

impl SqliteStore {
    /// Opens (creating if missing) the database at a `sqlite:` URL and migrates it.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
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
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&write)
            .await
            .map_err(|e| DbError::Unavailable(format!("migration failed: {e}")))?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone().read_only(true))
            .await?;
        let (writer, jobs) = mpsc::channel(1024);
        let stats = std::sync::Arc::new(WriterStats::default());
        tokio::spawn(group_commit(write.clone(), jobs, stats.clone()));
        tokio::spawn(checkpoint_wal(options, writer.downgrade()));
        Ok(SqliteStore {
            write,
            read,
            writer,
            stats,
        })
    }

    /// Hands the request to the group-commit writer and waits for its commit.
    async fn record(
        &self,
        record: InboundRecord,
        intent: Intent,
        context: ApplyContext,
        responses: Responses,
    ) -> Result<Recorded, DbError> {
        let stopped = || DbError::Unavailable("the SQLite writer has stopped".to_owned());
        let (reply, answer) = oneshot::channel();
        let job = WriteJob {
            record,
            intent,
            context,
            responses,
            reply,
        };
        self.writer.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// The SQLite writer: a commit is the expensive part (an fsync), so every request that arrived while
/// the previous commit was on disk goes into the next one, and so does every request that arrives
/// while that one is being written (up to [`MAX_BATCH`]). Every request is answered only after the
/// commit that holds it.
async fn group_commit(
    pool: SqlitePool,
    mut jobs: mpsc::Receiver<WriteJob>,
    stats: std::sync::Arc<WriterStats>,
) {
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        take_waiting(&mut jobs, &mut batch);
        let results = commit_batch(&pool, &mut batch, &mut jobs, &stats).await;
        for (job, result) in batch.into_iter().zip(results) {
            let _ = job.reply.send(result);
        }
    }
}

/// Copies the write-ahead log into the database every second from a connection of its own. A passive
/// checkpoint neither waits for nor blocks the writer, so commits (which requests wait for) never
/// carry one; it ends when the store is dropped.
async fn checkpoint_wal(options: SqliteConnectOptions, store: mpsc::WeakSender<WriteJob>) {
    use sqlx::Connection;
    let mut connection = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if store.upgrade().is_none() {
            break;
        }
        if connection.is_none() {
            connection = sqlx::SqliteConnection::connect_with(&options).await.ok();
        }
        if let Some(open) = connection.as_mut() {
            if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&mut *open)
                .await
            {
                tracing::debug!(%error, "background WAL checkpoint failed; retrying with a new connection");
                connection = None;
            }
        }
    }
}

/// Moves waiting requests into the batch, up to [`MAX_BATCH`]; returns how many.
fn take_waiting(jobs: &mut mpsc::Receiver<WriteJob>, batch: &mut Vec<WriteJob>) -> usize {
    let before = batch.len();
    while batch.len() < MAX_BATCH {
        match jobs.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    batch.len() - before
}

async fn commit_batch(
    pool: &SqlitePool,
    batch: &mut Vec<WriteJob>,
    jobs: &mut mpsc::Receiver<WriteJob>,
    stats: &WriterStats,
) -> Vec<Result<Recorded, DbError>> {
    // The fast path: every request in one transaction. A storage error in any of them rolls the whole
    // batch back (nothing was answered yet) and the requests are retried one transaction each, so one
    // failure cannot sink the others.
    let error = match commit_in_rounds(pool, batch, Some(jobs)).await {
        Ok(recorded) => {
            stats.committed(recorded.len());
            return recorded.into_iter().map(Ok).collect();
        }
        Err(error) => error,
    };
    if batch.len() == 1 {
        return vec![Err(error)];
    }
    tracing::warn!(%error, requests = batch.len(), "a batched commit failed; retrying one transaction per request");
    stats.retried();
    let mut results = Vec::with_capacity(batch.len());
    for job in std::mem::take(batch) {
        let mut one = vec![job];
        let result = commit_in_rounds(pool, &mut one, None).await;
        if result.is_ok() {
            stats.committed(1);
        }
        batch.extend(one);
        results.push(result.and_then(|mut recorded| {
            recorded
                .pop()
                .ok_or_else(|| DbError::Corrupt("a request was not applied".to_owned()))
        }));
    }
    results
}

/// Applies a batch in one transaction, in rounds. A round reads everything its requests need in one
/// round trip ([`sqlite_round::READ`]), decides each in memory and writes them all in a second
/// ([`sqlite_round::WRITE`]). Requests that arrive while a round is being read join it with one more
/// read before its write; a request about a link key or event key already in the round waits for the
/// next round, which reads what the earlier one wrote.
async fn commit_in_rounds(
    pool: &SqlitePool,
    batch: &mut Vec<WriteJob>,
    jobs: Option<&mut mpsc::Receiver<WriteJob>>,
) -> Result<Vec<Recorded>, DbError> {
    let mut conn = pool.acquire().await?;
    let result = rounds(&mut conn, batch, jobs).await;
    if result.is_err() {
        // The transaction is opened and committed inside the scripts; after a failure, end it. (SQLite
        // may have ended it already; "no transaction is active" is then the expected answer.) A
        // connection whose state is unknown is not given back to the pool.
        if let Err(error) = sqlx::query("ROLLBACK").execute(&mut *conn).await {
            if !error.to_string().contains("no transaction is active") {
                conn.close_on_drop();
            }
        }
    }
    result
}

async fn rounds(
    conn: &mut sqlx::SqliteConnection,
    batch: &mut Vec<WriteJob>,
    mut jobs: Option<&mut mpsc::Receiver<WriteJob>>,
) -> Result<Vec<Recorded>, DbError> {
    let mut first = true;
    let mut results: Vec<Option<Recorded>> = batch.iter().map(|_| None).collect();
    let mut waiting: Vec<usize> = (0..batch.len()).collect();
    while !waiting.is_empty() {
        let mut keys = std::collections::HashSet::new();
        let mut writes: Option<Round> = None;
        let mut recorded = Vec::new();
        let mut reading = take_fitting(batch, &mut waiting, &mut keys);
        while !reading.is_empty() {
            let signals = reading.iter().filter_map(|&i| match &batch[i].intent {
                Intent::Apply(notification) => Some((
                    notification.link_key.as_str(),
                    notification.dedup_key.as_str(),
                )),
                Intent::Refuse { .. } => None,
            });
            let read = if first {
                &sqlite_round::BEGIN_AND_READ
            } else {
                &sqlite_round::READ
            };
            first = false;
            let rows = sqlx::query(read)
                .bind(sqlite_round::read_arg(signals))
                .fetch_all(&mut *conn)
                .await?;
            let (bases, attempts) = rows
                .split_first()
                .ok_or_else(|| DbError::Corrupt("the round read returned nothing".to_owned()))?;
            let mut loaded = std::collections::HashMap::new();
            for row in attempts {
                let found = SqliteStore::loaded_from_row(row)?;
                loaded.insert(found.attempt.link_key.clone(), found);
            }
            // Ids are given out from the first read of the round: nothing is written before its write.
            let writes = match &mut writes {
                Some(writes) => writes,
                None => writes.insert(Round::new(
                    bases.try_get("journal_base")?,
                    bases.try_get("order_base")?,
                )),
            };
            for i in reading {
                recorded.push((i, decide_into(writes, &batch[i], &loaded)?));
            }
            if let Some(jobs) = jobs.as_mut() {
                // Requests that came while this round was read join it (or the next round).
                let before = batch.len();
                if take_waiting(jobs, batch) > 0 {
                    waiting.extend(before..batch.len());
                    results.resize_with(batch.len(), || None);
                }
            }
            reading = take_fitting(batch, &mut waiting, &mut keys);
        }
        let writes =
            writes.ok_or_else(|| DbError::Corrupt("a round without requests".to_owned()))?;
        let mut write = sqlx::query(if waiting.is_empty() {
            &sqlite_round::WRITE_AND_COMMIT
        } else {
            sqlite_round::WRITE
        });
        for arg in writes.args() {
            write = write.bind(arg);
        }
        write.execute(&mut *conn).await?;
        for (i, result) in recorded {
            results[i] = Some(result);
        }
    }
    results
        .into_iter()
        .map(|result| {
            result.ok_or_else(|| DbError::Corrupt("a request was not applied".to_owned()))
        })
        .collect()
}

/// Decides one request of a round from what the round read and adds its writes and journal entry.
fn decide_into(
    writes: &mut Round,
    job: &WriteJob,
    loaded: &std::collections::HashMap<String, plan::Loaded>,
) -> Result<Recorded, DbError> {
    let at = job.record.received_at;
    let (decision, found) = match &job.intent {
        Intent::Refuse {
            refusal,
            reason,
            link_key,
        } => (
            plan::Decision::for_refusal(*refusal, reason, link_key.as_deref()),
            None,
        ),
        Intent::Apply(notification) => {
            let found = loaded.get(&notification.link_key);
            (plan::decide(found, notification, &job.context, at), found)
        }
    };
    let mut order_id = found.and_then(|found| found.order.as_ref().map(|order| order.0));
    for change in &decision.writes {
        let attempt = &found
            .ok_or_else(|| DbError::Corrupt("a change without an attempt".to_owned()))?
            .attempt;
        order_id = writes.change(attempt, change, at).or(order_id);
    }
    let (entry, journaled) = plan::entry(&job.record, &job.intent, decision, &job.responses);
    let journal_id = writes.journal(&job.record, &entry, &job.context, order_id);
    Ok(journaled.recorded(journal_id))
}

/// Takes from `waiting` the requests that share no link key and no event key with `keys` (the keys of
/// the round so far) or with one another, adding theirs to `keys`.
fn take_fitting(
    batch: &[WriteJob],
    waiting: &mut Vec<usize>,
    keys: &mut std::collections::HashSet<(&'static str, String)>,
) -> Vec<usize> {
    let (fitting, later): (Vec<usize>, Vec<usize>) =
        waiting.iter().partition(|&&i| match &batch[i].intent {
            Intent::Refuse { .. } => true,
            Intent::Apply(notification) => {
                let link = ("link", notification.link_key.clone());
                let event = ("event", notification.dedup_key.clone());
                let free = !keys.contains(&link) && !keys.contains(&event);
                if free {
                    keys.insert(link);
                    keys.insert(event);
                }
                free
            }
        });
    *waiting = later;
    fitting
}

impl SqliteStore {
    async fn create_order_in_tx(
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        attempt: &Attempt,
        change: &plan::Write,
        at: i64,
    ) -> Result<(), DbError> {
        let base: i64 = sqlx::query("SELECT COALESCE(MAX(id), 0) AS base FROM orders")
            .fetch_one(&mut **tx)
            .await?
            .try_get("base")?;
        let mut round = Round::new(0, base);
        round.change(attempt, change, at);
        let mut write = sqlx::query(sqlite_round::WRITE);
        for arg in round.args() {
            write = write.bind(arg);
        }
        write.execute(&mut **tx).await?;
        Ok(())
    }
}

/// The PostgreSQL store: one pool; row locks (`FOR UPDATE`) serialise signals about the same attempt
/// across host processes.
#[derive(Debug, Clone)]
pub struct PgStore {
    write: PgPool,
    read: PgPool,
    stats: std::sync::Arc<WriterStats>,
}

impl PgStore {
    /// One transaction per request: PostgreSQL commits from many connections at once, and row locks
    /// order the requests about one attempt across host processes.
    async fn record(
        &self,
        record: InboundRecord,
        intent: Intent,
        context: ApplyContext,
        responses: Responses,
    ) -> Result<Recorded, DbError> {
        let mut tx = self.write.begin().await?;
        let recorded = Self::record_in_tx(&mut tx, &record, &intent, &context, &responses).await?;
        tx.commit().await?;
        self.stats.committed(1);
        Ok(recorded)
    }

    /// Connects to a `postgres://` URL and migrates the database.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| DbError::Unavailable(format!("migration failed: {e}")))?;
        Ok(PgStore {
            write: pool.clone(),
            read: pool,
            stats: Default::default(),
        })
    }
}

type PgTx<'c> = sqlx::Transaction<'c, sqlx::Postgres>;

impl PgStore {
    fn bind<'q>(
        mut query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
        args: &'q [pg::Arg],
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        for arg in args {
            query = match arg {
                pg::Arg::Int(v) => query.bind(*v),
                pg::Arg::Text(v) => query.bind(v.as_deref()),
                pg::Arg::Bytes(v) => query.bind(v.as_slice()),
            };
        }
        query
    }

    /// Runs one statement; returns its rows.
    async fn run(
        tx: &mut PgTx<'_>,
        script: &pg::Statement,
    ) -> Result<Vec<sqlx::postgres::PgRow>, DbError> {
        Ok(Self::bind(sqlx::query(&script.sql), &script.args)
            .fetch_all(&mut **tx)
            .await?)
    }

    async fn create_order_in_tx(
        tx: &mut PgTx<'_>,
        attempt: &Attempt,
        change: &plan::Write,
        at: i64,
    ) -> Result<(), DbError> {
        let mut script = pg::Statement::default();
        pg::write(&mut script, attempt, change, at);
        Self::run(tx, &script).await?;
        Ok(())
    }

    /// Journals and applies one inbound request inside `tx` (the caller commits): lock the attempt,
    /// read, decide, claim the event, write the changes and the journal entry.
    async fn record_in_tx(
        tx: &mut PgTx<'_>,
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
            } => plan::Decision::for_refusal(*refusal, reason, link_key.as_deref()),
            Intent::Apply(notification) => {
                // Lock first: the read below then sees everything committed before the lock was
                // granted (a read that locks keeps its older snapshot for its subqueries).
                sqlx::query("SELECT id FROM checkout_attempts WHERE link_key = $1 FOR UPDATE")
                    .bind(&notification.link_key)
                    .execute(&mut **tx)
                    .await?;
                let mut script = pg::Statement::default();
                pg::load(&mut script, notification);
                let mut loaded = Self::run(tx, &script)
                    .await?
                    .first()
                    .map(Self::loaded_from_row)
                    .transpose()?;
                let mut decision = plan::decide(loaded.as_ref(), notification, context, at);
                if let Some(kind) = decision.claim {
                    let mut script = pg::Statement::default();
                    pg::claim(&mut script, notification, context, kind, at);
                    let claimed = Self::bind(sqlx::query(&script.sql), &script.args)
                        .execute(&mut **tx)
                        .await?
                        .rows_affected()
                        == 1;
                    if !claimed {
                        // Another host recorded the event after our read: decide again knowing it.
                        let recorded_for: String =
                            sqlx::query("SELECT link_key FROM payment_events WHERE dedup_key = $1")
                                .bind(&notification.dedup_key)
                                .fetch_one(&mut **tx)
                                .await?
                                .try_get("link_key")?;
                        if let Some(loaded) = loaded.as_mut() {
                            loaded.recorded_for = Some(recorded_for);
                        }
                        decision = plan::decide(loaded.as_ref(), notification, context, at);
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
            let mut script = pg::Statement::default();
            pg::write(&mut script, attempt, change, at);
            Self::run(tx, &script).await?;
        }
        let (entry, journaled) = plan::entry(record, intent, decision, responses);
        let mut script = pg::Statement::default();
        pg::journal(
            &mut script,
            record,
            &entry,
            attempt.as_ref().map(|attempt| attempt.id),
        );
        let journal_id: i64 = Self::run(tx, &script)
            .await?
            .last()
            .ok_or_else(|| DbError::Corrupt("journal insert returned no id".to_owned()))?
            .try_get("journal_id")?;
        Ok(journaled.recorded(journal_id))
    }
}

fn corrupt(what: &str, value: &str) -> DbError {
    DbError::Corrupt(format!("{what} `{value}`"))
}

const ORDER_COLUMNS: &str =
    "id, order_number, attempt_id, link_key, member_id, customer_json, lines_json, \
     total, payment_method_id, payment_method_name, settlement_type, settlement_label, module_id, \
     payment_status, transaction_id, slip_json, deadline, attention, created_at";

const CONTRACT_COLUMNS: &str = "id, order_id, member_id, module_id, settlement_type, gateway_id, \
     product_name, amount, interval_months, charging_day, next_charge, status, created_at, updated_at";

const JOURNAL_COLUMNS: &str = "id, module_id, endpoint, method, query, content_type, charset, source, \
     headers_json, body, received_at, verdict, reason, link_key, response_status, response_body, replay_of";

macro_rules! store_impl {
    ($store:ident, $db:ty, $backend:literal, $for_update:literal) => {
        impl $store {
            fn attempt_from_row(row: &<$db as sqlx::Database>::Row) -> Result<Attempt, DbError> {
                let kind: String = row.try_get("kind")?;
                let state: String = row.try_get("state")?;
                let snapshot: String = row.try_get("snapshot_json")?;
                Ok(Attempt {
                    id: row.try_get("id")?,
                    link_key: row.try_get("link_key")?,
                    kind: AttemptKind::parse(&kind).ok_or_else(|| corrupt("attempt kind", &kind))?,
                    module_id: row.try_get("module_id")?,
                    settlement_type: row.try_get("settlement_type")?,
                    payment_method_id: row.try_get("payment_method_id")?,
                    payment_method_name: row.try_get("payment_method_name")?,
                    member_id: row.try_get("member_id")?,
                    snapshot: serde_json::from_str::<AttemptSnapshot>(&snapshot)?,
                    total: row.try_get("total")?,
                    state: AttemptState::parse(&state).ok_or_else(|| corrupt("attempt state", &state))?,
                    returned_at: row.try_get("returned_at")?,
                    attention: row.try_get("attention")?,
                    order_id: row.try_get("order_id")?,
                    created_at: row.try_get("created_at")?,
                })
            }

            fn order_from_row(row: &<$db as sqlx::Database>::Row) -> Result<Order, DbError> {
                let customer: String = row.try_get("customer_json")?;
                let lines: String = row.try_get("lines_json")?;
                let status: String = row.try_get("payment_status")?;
                let slip: Option<String> = row.try_get("slip_json")?;
                Ok(Order {
                    id: row.try_get("id")?,
                    order_number: row.try_get("order_number")?,
                    attempt_id: row.try_get("attempt_id")?,
                    link_key: row.try_get("link_key")?,
                    member_id: row.try_get("member_id")?,
                    customer: serde_json::from_str::<CustomerDetails>(&customer)?,
                    lines: serde_json::from_str::<Vec<CartLine>>(&lines)?,
                    total: row.try_get("total")?,
                    payment_method_id: row.try_get("payment_method_id")?,
                    payment_method_name: row.try_get("payment_method_name")?,
                    settlement_type: row.try_get("settlement_type")?,
                    settlement_label: row.try_get("settlement_label")?,
                    module_id: row.try_get("module_id")?,
                    payment_status: PaymentStatus::parse(&status)
                        .ok_or_else(|| corrupt("payment status", &status))?,
                    transaction_id: row.try_get("transaction_id")?,
                    slip: slip.map(|s| serde_json::from_str::<StoredSlip>(&s)).transpose()?,
                    deadline: row.try_get("deadline")?,
                    attention: row.try_get("attention")?,
                    created_at: row.try_get("created_at")?,
                })
            }

            fn method_from_row(row: &<$db as sqlx::Database>::Row) -> Result<PaymentMethod, DbError> {
                Ok(PaymentMethod {
                    id: row.try_get("id")?,
                    name: row.try_get("name")?,
                    explanation: row.try_get("explanation")?,
                    settlement_type: row.try_get("settlement_type")?,
                    module: row.try_get("module")?,
                    active: row.try_get("active")?,
                    sort: row.try_get("sort")?,
                })
            }

            fn contract_from_row(row: &<$db as sqlx::Database>::Row) -> Result<RecurringContract, DbError> {
                Ok(RecurringContract {
                    id: row.try_get("id")?,
                    order_id: row.try_get("order_id")?,
                    member_id: row.try_get("member_id")?,
                    module_id: row.try_get("module_id")?,
                    settlement_type: row.try_get("settlement_type")?,
                    gateway_id: row.try_get("gateway_id")?,
                    product_name: row.try_get("product_name")?,
                    amount: row.try_get("amount")?,
                    interval_months: row.try_get("interval_months")?,
                    charging_day: row.try_get("charging_day")?,
                    next_charge: row.try_get("next_charge")?,
                    status: row.try_get("status")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            }

            fn member_from_row(row: &<$db as sqlx::Database>::Row) -> Result<Member, DbError> {
                let details: String = row.try_get("details_json")?;
                Ok(Member {
                    id: row.try_get("id")?,
                    email: row.try_get("email")?,
                    details: serde_json::from_str(&details)?,
                })
            }

            fn journal_from_row(row: &<$db as sqlx::Database>::Row) -> Result<JournalEntry, DbError> {
                let headers: String = row.try_get("headers_json")?;
                Ok(JournalEntry {
                    id: row.try_get("id")?,
                    module_id: row.try_get("module_id")?,
                    endpoint: row.try_get("endpoint")?,
                    method: row.try_get("method")?,
                    query: row.try_get("query")?,
                    content_type: row.try_get("content_type")?,
                    charset: row.try_get("charset")?,
                    source: row.try_get("source")?,
                    headers: serde_json::from_str(&headers)?,
                    body: row.try_get("body")?,
                    received_at: row.try_get("received_at")?,
                    verdict: row.try_get("verdict")?,
                    reason: row.try_get("reason")?,
                    link_key: row.try_get("link_key")?,
                    response_status: row.try_get("response_status")?,
                    response_body: row.try_get("response_body")?,
                    replay_of: row.try_get("replay_of")?,
                })
            }

            async fn insert_history(
                tx: &mut sqlx::Transaction<'_, $db>,
                order_id: i64,
                from: Option<PaymentStatus>,
                to: PaymentStatus,
                reason: &str,
                at: i64,
            ) -> Result<(), DbError> {
                sqlx::query(
                    "INSERT INTO order_history (order_id, from_status, to_status, reason, at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(order_id)
                .bind(from.map(PaymentStatus::as_str))
                .bind(to.as_str())
                .bind(reason)
                .bind(at)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            fn loaded_from_row(row: &<$db as sqlx::Database>::Row) -> Result<plan::Loaded, DbError> {
                let attempt = Self::attempt_from_row(row)?;
                let status: Option<String> = row.try_get("order_status")?;
                let number: Option<String> = row.try_get("order_number")?;
                let order = match (attempt.order_id, status, number) {
                    (Some(id), Some(status), Some(number)) => Some((
                        id,
                        PaymentStatus::parse(&status).ok_or_else(|| corrupt("payment status", &status))?,
                        number,
                    )),
                    _ => None,
                };
                Ok(plan::Loaded { attempt, recorded_for: row.try_get("recorded_for")?, order })
            }

        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            fn writer_counts(&self) -> super::WriterCounts {
                self.stats.read()
            }

            async fn ping(&self) -> Result<(), DbError> {
                sqlx::query("SELECT 1").execute(&self.write).await?;
                Ok(())
            }

            async fn module_settings(&self, module_id: &str) -> Result<Option<StoredSettings>, DbError> {
                let row = sqlx::query(
                    "SELECT values_json, source, valid, updated_at FROM module_settings WHERE module_id = $1",
                )
                .bind(module_id)
                .fetch_optional(&self.read)
                .await?;
                row.map(|row| {
                    let values: String = row.try_get("values_json")?;
                    Ok(StoredSettings {
                        values: serde_json::from_str(&values)?,
                        source: row.try_get("source")?,
                        valid: row.try_get("valid")?,
                        updated_at: row.try_get("updated_at")?,
                    })
                })
                .transpose()
            }

            async fn save_module_settings(
                &self,
                module_id: &str,
                values: &SettingsValues,
                source: &str,
                valid: bool,
            ) -> Result<(), DbError> {
                sqlx::query(
                    "INSERT INTO module_settings (module_id, values_json, source, valid, updated_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (module_id) DO UPDATE SET \
                     values_json = excluded.values_json, source = excluded.source, valid = excluded.valid, \
                     updated_at = excluded.updated_at",
                )
                .bind(module_id)
                .bind(json(values))
                .bind(source)
                .bind(valid)
                .bind(now_millis())
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn payment_methods(&self) -> Result<Vec<PaymentMethod>, DbError> {
                let rows = sqlx::query(
                    "SELECT id, name, explanation, settlement_type, module, active, sort \
                     FROM payment_methods ORDER BY sort, id",
                )
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(Self::method_from_row).collect()
            }

            async fn payment_method(&self, id: i64) -> Result<Option<PaymentMethod>, DbError> {
                let row = sqlx::query(
                    "SELECT id, name, explanation, settlement_type, module, active, sort \
                     FROM payment_methods WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.read)
                .await?;
                row.as_ref().map(Self::method_from_row).transpose()
            }

            async fn create_payment_method(&self, method: &NewPaymentMethod) -> Result<PaymentMethod, DbError> {
                let row = sqlx::query(
                    "INSERT INTO payment_methods (name, explanation, settlement_type, module, active, sort) \
                     VALUES ($1, $2, $3, '', $4, $5) \
                     RETURNING id, name, explanation, settlement_type, module, active, sort",
                )
                .bind(&method.name)
                .bind(&method.explanation)
                .bind(&method.settlement_type)
                .bind(method.active)
                .bind(method.sort)
                .fetch_one(&self.write)
                .await?;
                Self::method_from_row(&row)
            }

            async fn update_payment_method(
                &self,
                id: i64,
                method: &NewPaymentMethod,
            ) -> Result<PaymentMethod, DbError> {
                let row = sqlx::query(
                    "UPDATE payment_methods SET name = $1, explanation = $2, settlement_type = $3, \
                     active = $4, sort = $5 WHERE id = $6 \
                     RETURNING id, name, explanation, settlement_type, module, active, sort",
                )
                .bind(&method.name)
                .bind(&method.explanation)
                .bind(&method.settlement_type)
                .bind(method.active)
                .bind(method.sort)
                .bind(id)
                .fetch_optional(&self.write)
                .await?;
                row.as_ref().map(Self::method_from_row).transpose()?.ok_or(DbError::NotFound)
            }

            async fn delete_payment_method(&self, id: i64) -> Result<(), DbError> {
                let mut tx = self.write.begin().await?;
                let used: i64 = sqlx::query(
                    "SELECT (SELECT COUNT(*) FROM orders WHERE payment_method_id = $1) + \
                     (SELECT COUNT(*) FROM checkout_attempts WHERE payment_method_id = $1) AS used",
                )
                .bind(id)
                .fetch_one(&mut *tx)
                .await?
                .try_get("used")?;
                if used > 0 {
                    return Err(DbError::Conflict("orders"));
                }
                let deleted = sqlx::query("DELETE FROM payment_methods WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if deleted == 0 {
                    return Err(DbError::NotFound);
                }
                tx.commit().await?;
                Ok(())
            }

            async fn stop_methods_of_types(&self, types: &[String]) -> Result<Vec<String>, DbError> {
                let mut stopped = Vec::new();
                let mut tx = self.write.begin().await?;
                for settlement_type in types {
                    let rows = sqlx::query(
                        "UPDATE payment_methods SET active = FALSE WHERE settlement_type = $1 AND active \
                         RETURNING name",
                    )
                    .bind(settlement_type)
                    .fetch_all(&mut *tx)
                    .await?;
                    for row in rows {
                        stopped.push(row.try_get("name")?);
                    }
                }
                tx.commit().await?;
                stopped.sort();
                Ok(stopped)
            }

            async fn stop_methods_not_provided(&self, provided: &[String]) -> Result<Vec<String>, DbError> {
                let methods = self.payment_methods().await?;
                let missing: Vec<String> = methods
                    .iter()
                    .filter(|m| m.active && !provided.contains(&m.settlement_type))
                    .map(|m| m.settlement_type.clone())
                    .collect();
                self.stop_methods_of_types(&missing).await
            }

            async fn products(&self) -> Result<Vec<Product>, DbError> {
                let rows = sqlx::query(
                    "SELECT id, sku, name, price, description, recurring_months, charging_day \
                     FROM products ORDER BY id",
                )
                .fetch_all(&self.read)
                .await?;
                rows.iter()
                    .map(|row| {
                        let months: Option<i64> = row.try_get("recurring_months")?;
                        let day: Option<i64> = row.try_get("charging_day")?;
                        Ok(Product {
                            id: row.try_get("id")?,
                            sku: row.try_get("sku")?,
                            name: row.try_get("name")?,
                            price: row.try_get("price")?,
                            description: row.try_get("description")?,
                            recurrence: months.zip(day).map(|(months, day)| ProductRecurrence {
                                interval_months: months as u32,
                                charging_day: day as u32,
                            }),
                        })
                    })
                    .collect()
            }

            async fn product(&self, id: i64) -> Result<Option<Product>, DbError> {
                Ok(self.products().await?.into_iter().find(|p| p.id == id))
            }

            async fn ensure_product(&self, sku: &str, name: &str, price: i64, description: &str) -> Result<(), DbError> {
                sqlx::query(
                    "INSERT INTO products (sku, name, price, description) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (sku) DO NOTHING",
                )
                .bind(sku)
                .bind(name)
                .bind(price)
                .bind(description)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn set_product_recurrence(
                &self,
                sku: &str,
                recurrence: Option<ProductRecurrence>,
            ) -> Result<(), DbError> {
                let changed = sqlx::query(
                    "UPDATE products SET recurring_months = $1, charging_day = $2 WHERE sku = $3",
                )
                .bind(recurrence.map(|r| i64::from(r.interval_months)))
                .bind(recurrence.map(|r| i64::from(r.charging_day)))
                .bind(sku)
                .execute(&self.write)
                .await?
                .rows_affected();
                if changed == 0 {
                    return Err(DbError::NotFound);
                }
                Ok(())
            }

            async fn contracts(&self, member_id: Option<i64>, limit: i64) -> Result<Vec<RecurringContract>, DbError> {
                let sql = format!(
                    "SELECT {CONTRACT_COLUMNS} FROM recurring_contracts WHERE ($1 IS NULL OR member_id = $1) \
                     ORDER BY id DESC LIMIT $2"
                );
                let rows = sqlx::query(&sql).bind(member_id).bind(limit).fetch_all(&self.read).await?;
                rows.iter().map(Self::contract_from_row).collect()
            }

            async fn stop_contract(&self, id: i64) -> Result<RecurringContract, DbError> {
                let sql = format!(
                    "UPDATE recurring_contracts SET status = 'stopped', updated_at = $1 \
                     WHERE id = $2 AND status = 'continuation' RETURNING {CONTRACT_COLUMNS}"
                );
                let row = sqlx::query(&sql).bind(now_millis()).bind(id).fetch_optional(&self.write).await?;
                match row {
                    Some(row) => Self::contract_from_row(&row),
                    None => {
                        let exists = sqlx::query("SELECT id FROM recurring_contracts WHERE id = $1")
                            .bind(id)
                            .fetch_optional(&self.write)
                            .await?;
                        Err(if exists.is_some() { DbError::Conflict("contract_stopped") } else { DbError::NotFound })
                    }
                }
            }

            async fn session(&self, id: &str, fresh_after: i64) -> Result<Option<String>, DbError> {
                let row = sqlx::query(
                    "SELECT data FROM storefront_sessions WHERE id = $1 AND touched_at >= $2",
                )
                .bind(id)
                .bind(fresh_after)
                .fetch_optional(&self.read)
                .await?;
                row.map(|row| Ok(row.try_get("data")?)).transpose()
            }

            async fn modify_session(
                &self,
                id: &str,
                fresh_after: i64,
                at: i64,
                change: super::SessionChange<'_>,
            ) -> Result<(), DbError> {
                let mut tx = self.write.begin().await?;
                let sql = concat!(
                    "SELECT data, touched_at FROM storefront_sessions WHERE id = $1 ",
                    $for_update
                );
                let current = sqlx::query(sql).bind(id).fetch_optional(&mut *tx).await?;
                let current = match current {
                    Some(row) if row.try_get::<i64, _>("touched_at")? >= fresh_after => {
                        Some(row.try_get::<String, _>("data")?)
                    }
                    _ => None,
                };
                let data = change(current);
                sqlx::query(
                    "INSERT INTO storefront_sessions (id, data, touched_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (id) DO UPDATE SET data = excluded.data, touched_at = excluded.touched_at",
                )
                .bind(id)
                .bind(&data)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn delete_session(&self, id: &str) -> Result<(), DbError> {
                sqlx::query("DELETE FROM storefront_sessions WHERE id = $1")
                    .bind(id)
                    .execute(&self.write)
                    .await?;
                Ok(())
            }

            async fn sweep_sessions(&self, before: i64) -> Result<u64, DbError> {
                Ok(sqlx::query("DELETE FROM storefront_sessions WHERE touched_at < $1")
                    .bind(before)
                    .execute(&self.write)
                    .await?
                    .rows_affected())
            }

            async fn create_member(
                &self,
                email: &str,
                password_hash: &str,
                details: &CustomerDetails,
            ) -> Result<Member, DbError> {
                let row = sqlx::query(
                    "INSERT INTO members (email, password_hash, details_json, created_at) \
                     VALUES ($1, $2, $3, $4) RETURNING id, email, details_json",
                )
                .bind(email)
                .bind(password_hash)
                .bind(json(details))
                .bind(now_millis())
                .fetch_one(&self.write)
                .await?;
                Self::member_from_row(&row)
            }

            async fn member_by_email(&self, email: &str) -> Result<Option<(Member, String)>, DbError> {
                let row = sqlx::query("SELECT id, email, details_json, password_hash FROM members WHERE email = $1")
                    .bind(email)
                    .fetch_optional(&self.read)
                    .await?;
                row.map(|row| Ok((Self::member_from_row(&row)?, row.try_get("password_hash")?)))
                    .transpose()
            }

            async fn member(&self, id: i64) -> Result<Option<Member>, DbError> {
                let row = sqlx::query("SELECT id, email, details_json FROM members WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?;
                row.as_ref().map(Self::member_from_row).transpose()
            }

            async fn member_card(&self, member_id: i64, module_id: &str) -> Result<Option<MemberCard>, DbError> {
                let row = sqlx::query(
                    "SELECT module_id, token, last4, expiry FROM member_cards WHERE member_id = $1 AND module_id = $2",
                )
                .bind(member_id)
                .bind(module_id)
                .fetch_optional(&self.read)
                .await?;
                row.map(|row| {
                    Ok(MemberCard {
                        module_id: row.try_get("module_id")?,
                        token: row.try_get("token")?,
                        last4: row.try_get("last4")?,
                        expiry: row.try_get("expiry")?,
                    })
                })
                .transpose()
            }

            async fn delete_member_card(&self, member_id: i64, module_id: &str) -> Result<bool, DbError> {
                let deleted = sqlx::query("DELETE FROM member_cards WHERE member_id = $1 AND module_id = $2")
                    .bind(member_id)
                    .bind(module_id)
                    .execute(&self.write)
                    .await?
                    .rows_affected();
                Ok(deleted > 0)
            }

            async fn create_attempt(&self, attempt: &NewAttempt) -> Result<Attempt, DbError> {
                let now = now_millis();
                let sql = format!(
                    "INSERT INTO checkout_attempts (link_key, kind, module_id, settlement_type, \
                     payment_method_id, payment_method_name, member_id, snapshot_json, total, state, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'open', $10, $10) \
                     RETURNING {ATTEMPT_COLUMNS}"
                );
                let row = sqlx::query(&sql)
                    .bind(&attempt.link_key)
                    .bind(attempt.kind.as_str())
                    .bind(&attempt.module_id)
                    .bind(&attempt.settlement_type)
                    .bind(attempt.payment_method_id)
                    .bind(&attempt.payment_method_name)
                    .bind(attempt.member_id)
                    .bind(json(&attempt.snapshot))
                    .bind(attempt.snapshot.total)
                    .bind(now)
                    .fetch_one(&self.write)
                    .await?;
                Self::attempt_from_row(&row)
            }

            async fn attempt_by_link_key(&self, link_key: &str) -> Result<Option<Attempt>, DbError> {
                let sql = format!("SELECT {ATTEMPT_COLUMNS} FROM checkout_attempts WHERE link_key = $1");
                let row = sqlx::query(&sql).bind(link_key).fetch_optional(&self.read).await?;
                row.as_ref().map(Self::attempt_from_row).transpose()
            }

            async fn attempts(&self, open_only: bool, limit: i64) -> Result<Vec<Attempt>, DbError> {
                let sql = format!(
                    "SELECT {ATTEMPT_COLUMNS} FROM checkout_attempts WHERE ($1 = FALSE OR order_id IS NULL) \
                     ORDER BY id DESC LIMIT $2"
                );
                let rows = sqlx::query(&sql).bind(open_only).bind(limit).fetch_all(&self.read).await?;
                rows.iter().map(Self::attempt_from_row).collect()
            }

            async fn mark_returned(&self, link_key: &str, at: i64) -> Result<(), DbError> {
                sqlx::query(
                    "UPDATE checkout_attempts SET returned_at = $1, updated_at = $1 \
                     WHERE link_key = $2 AND returned_at IS NULL",
                )
                .bind(at)
                .bind(link_key)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn flag_unconfirmed_returns(&self, returned_before: i64, reason: &str) -> Result<Vec<String>, DbError> {
                let rows = sqlx::query(
                    "UPDATE checkout_attempts SET attention = $1, updated_at = $2 \
                     WHERE state = 'open' AND kind = 'order' AND attention IS NULL \
                     AND returned_at IS NOT NULL AND returned_at < $3 RETURNING link_key",
                )
                .bind(reason)
                .bind(now_millis())
                .bind(returned_before)
                .fetch_all(&self.write)
                .await?;
                rows.iter().map(|row| Ok(row.try_get("link_key")?)).collect()
            }

            async fn recover_attempt(
                &self,
                link_key: &str,
                status: PaymentStatus,
                settlement_label: &str,
                reason: &str,
            ) -> Result<Order, DbError> {
                let mut tx = self.write.begin().await?;
                let sql = format!(
                    "SELECT {ATTEMPT_COLUMNS} FROM checkout_attempts WHERE link_key = $1 {}",
                    $for_update
                );
                let row = sqlx::query(&sql).bind(link_key).fetch_optional(&mut *tx).await?;
                let attempt = row.as_ref().map(Self::attempt_from_row).transpose()?.ok_or(DbError::NotFound)?;
                if attempt.state != AttemptState::Open || attempt.kind != AttemptKind::Order {
                    return Err(DbError::Conflict("attempt_not_open"));
                }
                let at = now_millis();
                let change = plan::Write::CreateOrder {
                    status,
                    label: settlement_label.to_owned(),
                    transaction_id: None,
                    slip: None,
                    reason: reason.to_owned(),
                    number: plan::order_number(attempt.id, at),
                    attention: None,
                };
                Self::create_order_in_tx(&mut tx, &attempt, &change, at).await?;
                let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE attempt_id = $1");
                let row = sqlx::query(&sql).bind(attempt.id).fetch_one(&mut *tx).await?;
                let order = Self::order_from_row(&row)?;
                tx.commit().await?;
                Ok(order)
            }

            async fn orders(&self, filter: &OrderFilter, limit: i64) -> Result<Vec<Order>, DbError> {
                let sql = format!(
                    "SELECT {ORDER_COLUMNS} FROM orders WHERE ($1 IS NULL OR link_key = $1) \
                     AND ($2 IS NULL OR order_number = $2) AND ($3 IS NULL OR payment_status = $3) \
                     AND ($4 IS NULL OR member_id = $4) AND ($5 = FALSE OR attention IS NOT NULL) \
                     ORDER BY id DESC LIMIT $6"
                );
                let rows = sqlx::query(&sql)
                    .bind(filter.link_key.as_deref())
                    .bind(filter.order_number.as_deref())
                    .bind(filter.status.map(PaymentStatus::as_str))
                    .bind(filter.member_id)
                    .bind(filter.attention)
                    .bind(limit)
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(Self::order_from_row).collect()
            }

            async fn order_history(&self, order_id: i64) -> Result<Vec<OrderHistoryEntry>, DbError> {
                let rows = sqlx::query(
                    "SELECT from_status, to_status, reason, at FROM order_history WHERE order_id = $1 ORDER BY id",
                )
                .bind(order_id)
                .fetch_all(&self.read)
                .await?;
                rows.iter()
                    .map(|row| {
                        let from: Option<String> = row.try_get("from_status")?;
                        let to: String = row.try_get("to_status")?;
                        Ok(OrderHistoryEntry {
                            from_status: from.as_deref().and_then(PaymentStatus::parse),
                            to_status: PaymentStatus::parse(&to).ok_or_else(|| corrupt("payment status", &to))?,
                            reason: row.try_get("reason")?,
                            at: row.try_get("at")?,
                        })
                    })
                    .collect()
            }

            async fn payment_event_count(&self, link_key: &str) -> Result<i64, DbError> {
                let row = sqlx::query("SELECT COUNT(*) AS n FROM payment_events WHERE link_key = $1")
                    .bind(link_key)
                    .fetch_one(&self.read)
                    .await?;
                Ok(row.try_get("n")?)
            }

            async fn last_payment_event(&self, link_key: &str) -> Result<Option<String>, DbError> {
                let row = sqlx::query("SELECT kind FROM payment_events WHERE link_key = $1 ORDER BY id DESC LIMIT 1")
                    .bind(link_key)
                    .fetch_optional(&self.read)
                    .await?;
                row.map(|row| Ok(row.try_get("kind")?)).transpose()
            }

            async fn expire_unpaid(&self, cutoff: &str, reason: &str) -> Result<Vec<String>, DbError> {
                let mut tx = self.write.begin().await?;
                let now = now_millis();
                // The guarded UPDATE makes the job safe to run from several host processes at once:
                // only one of them moves a given order, and only that one writes its history.
                let rows = sqlx::query(
                    "UPDATE orders SET payment_status = 'expired', updated_at = $1 \
                     WHERE payment_status = 'unpaid' AND deadline IS NOT NULL AND deadline < $2 \
                     RETURNING id, order_number",
                )
                .bind(now)
                .bind(cutoff)
                .fetch_all(&mut *tx)
                .await?;
                let mut numbers = Vec::new();
                for row in &rows {
                    let id: i64 = row.try_get("id")?;
                    Self::insert_history(&mut tx, id, Some(PaymentStatus::Unpaid), PaymentStatus::Expired, reason, now)
                        .await?;
                    numbers.push(row.try_get("order_number")?);
                }
                tx.commit().await?;
                Ok(numbers)
            }

            async fn counts(&self) -> Result<StoreCounts, DbError> {
                let attention = sqlx::query(
                    "SELECT (SELECT COUNT(*) FROM checkout_attempts WHERE state = 'open' AND attention IS NOT NULL) AS attempts, \
                     (SELECT COUNT(*) FROM orders WHERE attention IS NOT NULL) AS orders",
                )
                .fetch_one(&self.read)
                .await?;
                let rows = sqlx::query(
                    "SELECT settlement_type, payment_status, COUNT(*) AS n FROM orders \
                     GROUP BY settlement_type, payment_status ORDER BY settlement_type, payment_status",
                )
                .fetch_all(&self.read)
                .await?;
                let orders = rows
                    .iter()
                    .map(|row| Ok((row.try_get("settlement_type")?, row.try_get("payment_status")?, row.try_get("n")?)))
                    .collect::<Result<Vec<_>, DbError>>()?;
                let rows = sqlx::query(
                    "SELECT module_id, status, COUNT(*) AS n FROM recurring_contracts \
                     GROUP BY module_id, status ORDER BY module_id, status",
                )
                .fetch_all(&self.read)
                .await?;
                let contracts = rows
                    .iter()
                    .map(|row| Ok((row.try_get("module_id")?, row.try_get("status")?, row.try_get("n")?)))
                    .collect::<Result<Vec<_>, DbError>>()?;
                Ok(StoreCounts {
                    attempts_attention: attention.try_get("attempts")?,
                    orders_attention: attention.try_get("orders")?,
                    orders,
                    contracts,
                })
            }

            async fn record_inbound(
                &self,
                record: InboundRecord,
                intent: Intent,
                context: ApplyContext,
                responses: Responses,
            ) -> Result<Recorded, DbError> {
                self.record(record, intent, context, responses).await
            }

            async fn journal(&self, link_key: Option<&str>, limit: i64) -> Result<Vec<JournalEntry>, DbError> {
                let sql = format!(
                    "SELECT {JOURNAL_COLUMNS} FROM notification_journal WHERE ($1 IS NULL OR link_key = $1) \
                     ORDER BY id DESC LIMIT $2"
                );
                let rows = sqlx::query(&sql).bind(link_key).bind(limit).fetch_all(&self.read).await?;
                rows.iter().map(Self::journal_from_row).collect()
            }

            async fn journal_entry(&self, id: i64) -> Result<Option<JournalEntry>, DbError> {
                let sql = format!("SELECT {JOURNAL_COLUMNS} FROM notification_journal WHERE id = $1");
                let row = sqlx::query(&sql).bind(id).fetch_optional(&self.read).await?;
                row.as_ref().map(Self::journal_from_row).transpose()
            }

            async fn settlement_errors(&self, limit: i64) -> Result<Vec<SettlementError>, DbError> {
                let rows = sqlx::query(
                    "SELECT id, module_id, acting, link_key, result, fields_json, journal_id, at \
                     FROM settlement_errors ORDER BY id DESC LIMIT $1",
                )
                .bind(limit)
                .fetch_all(&self.read)
                .await?;
                rows.iter()
                    .map(|row| {
                        let fields: String = row.try_get("fields_json")?;
                        Ok(SettlementError {
                            id: row.try_get("id")?,
                            module_id: row.try_get("module_id")?,
                            acting: row.try_get("acting")?,
                            link_key: row.try_get("link_key")?,
                            result: row.try_get("result")?,
                            fields: serde_json::from_str(&fields)?,
                            journal_id: row.try_get("journal_id")?,
                            at: row.try_get("at")?,
                        })
                    })
                    .collect()
            }

            async fn delete_settlement_error(&self, id: i64) -> Result<bool, DbError> {
                let deleted = sqlx::query("DELETE FROM settlement_errors WHERE id = $1")
                    .bind(id)
                    .execute(&self.write)
                    .await?
                    .rows_affected();
                Ok(deleted > 0)
            }
        }
    };
}

store_impl!(SqliteStore, sqlx::Sqlite, "sqlite", "");
store_impl!(PgStore, sqlx::Postgres, "postgres", "FOR UPDATE");
