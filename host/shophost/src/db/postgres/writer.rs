//! PostgreSQL's group-commit writers: every inbound request of this host goes into one queue, and a
//! writer task commits the requests that wait together in one transaction, in rounds (`round.rs`).
//!
//! A transaction costs PostgreSQL a WAL flush and the host a handful of round trips whatever it holds,
//! so many requests per transaction is what makes concurrency pay. A batch's round trips come one
//! after the other, so a store runs a few writers ([`WRITERS`](super::WRITERS)), each on a connection
//! of its own: while one waits for the server, the next takes what has queued. A batch is: `BEGIN`; its attempts
//! locked in id order ([`round::LOCK`]); then per round a read that also reserves the round's ids
//! ([`round::READ`]), the decisions in memory and one write ([`round::WRITE`]); `COMMIT`. Several
//! writers and hosts may share the database: the locks make requests about one attempt wait for each
//! other across writers and hosts, and a claim decides under them. The one thing a lock does not cover is an event key another
//! host records for *another* link key after the round read; the write then claims fewer events than
//! decided, and the batch is rolled back and its requests go through again one transaction each
//! (`PgStore::record_in_tx`, which decides again on a lost claim).
//!
//! As on SQLite: a request is answered only after the commit that holds it; a batch that fails is
//! rolled back and its requests retried one transaction each, so one bad request cannot sink the
//! others (unless no transaction could even be begun: the database is away, and a retry would only
//! wait for it again); a panic in the writer's own code fails only its batch; the writer stops only
//! when the store is closed, after committing what was queued. Each writer keeps one connection from
//! the pool between batches (no ping before each), and gives it up after any failure.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnection, PgPool};
use sqlx::{Executor, Postgres, Row};
use tokio::sync::{mpsc, Notify};

use super::round;
use super::PgStore;
use crate::db::batch::{self, take_fitting, take_waiting, WriteJob};
use crate::db::round::{Ids, Round};
use crate::db::{rows, DbError, Intent, Recorded, WriterStats};

/// How a batch's transaction failed.
enum Failed {
    /// No transaction could be begun: nothing was tried, and trying each request alone would only
    /// wait for the database again.
    NotBegun(DbError),
    /// The transaction failed and was rolled back (or its connection given up).
    RolledBack(DbError),
    /// Another host recorded one of the round's event keys for another link key after the round
    /// read it; rolled back, so that each request decides again alone.
    LostClaim,
}

impl From<DbError> for Failed {
    fn from(error: DbError) -> Self {
        Failed::RolledBack(error)
    }
}

impl From<sqlx::Error> for Failed {
    fn from(error: sqlx::Error) -> Self {
        Failed::RolledBack(error.into())
    }
}

/// The queue the writers of one store take their batches from.
pub(super) type Jobs = Arc<tokio::sync::Mutex<mpsc::Receiver<WriteJob>>>;

/// A PostgreSQL writer, one of [`WRITERS`](super::WRITERS) taking from one queue: every request
/// waiting when a batch starts goes into it (up to [`MAX_BATCH`](batch::MAX_BATCH)), and every request
/// that arrives while it commits goes into the next batch (another writer's, if one is free). When
/// `closing` is notified, the writers take no more requests, commit those queued, and end.
pub(super) async fn group_commit(
    pool: PgPool,
    jobs: Jobs,
    stats: Arc<WriterStats>,
    closing: Arc<Notify>,
) {
    let mut connection: Option<PoolConnection<Postgres>> = None;
    loop {
        // One writer waits for the queue at a time; the others wait for it to take its batch.
        let mut queue = jobs.lock().await;
        let first = tokio::select! {
            job = queue.recv() => match job {
                Some(job) => job,
                None => break,
            },
            () = closing.notified() => {
                queue.close();
                continue;
            }
        };
        let mut batch = vec![first];
        take_waiting(&mut queue, &mut batch);
        drop(queue);
        let committed =
            crate::guard::catch_async(commit_batch(&pool, &mut connection, &batch, &stats));
        let results = match committed.await {
            Ok(results) => results,
            Err(panicked) => {
                tracing::error!(
                    requests = batch.len(),
                    "the PostgreSQL writer {panicked}; the batch's requests are answered unavailable and the writer goes on"
                );
                // The transaction the panic left open ends with the connection, which is not used
                // again.
                if let Some(mut open) = connection.take() {
                    open.close_on_drop();
                }
                let failed = || DbError::Unavailable(format!("the PostgreSQL writer {panicked}"));
                batch.iter().map(|_| Err(failed())).collect()
            }
        };
        for (job, result) in batch.into_iter().zip(results) {
            let _ = job.reply.send(result);
        }
    }
}

/// Commits a batch in one transaction; if that fails, each request in a transaction of its own.
async fn commit_batch(
    pool: &PgPool,
    connection: &mut Option<PoolConnection<Postgres>>,
    batch: &[WriteJob],
    stats: &WriterStats,
) -> Vec<Result<Recorded, DbError>> {
    let error = match in_one_transaction(pool, connection, batch).await {
        Ok(recorded) => {
            stats.committed(recorded.len());
            return recorded.into_iter().map(Ok).collect();
        }
        Err(Failed::NotBegun(error)) => {
            let message = error.to_string();
            return batch
                .iter()
                .map(|_| Err(DbError::Unavailable(message.clone())))
                .collect();
        }
        // A broken unique rule is another host's row too (an order with the same transaction id, for
        // the event key it claimed): alone, the request claims first and decides again.
        Err(Failed::RolledBack(error))
            if batch.len() == 1 && !matches!(error, DbError::Conflict(_)) =>
        {
            return vec![Err(error)]
        }
        Err(Failed::RolledBack(error)) => error.to_string(),
        Err(Failed::LostClaim) => "an event key was recorded by another host meanwhile".to_owned(),
    };
    tracing::warn!(%error, requests = batch.len(), "a batched commit failed; retrying one transaction per request");
    stats.retried();
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        let result = PgStore::record_alone(pool, job).await;
        if result.is_ok() {
            stats.committed(1);
        }
        results.push(result);
    }
    results
}

/// Runs the batch in one transaction on the writer's connection (a new one from the pool when it has
/// none), and commits it. After a failure the transaction is rolled back, and the connection given up
/// if even that fails.
async fn in_one_transaction(
    pool: &PgPool,
    held: &mut Option<PoolConnection<Postgres>>,
    batch: &[WriteJob],
) -> Result<Vec<Recorded>, Failed> {
    let connection = begin(pool, held).await.map_err(Failed::NotBegun)?;
    let result = match rounds(connection, batch).await {
        Ok(recorded) => match sqlx::query("COMMIT").execute(&mut *connection).await {
            Ok(_) => return Ok(recorded),
            Err(error) => Err(Failed::from(error)),
        },
        Err(failed) => Err(failed),
    };
    if sqlx::query("ROLLBACK")
        .execute(&mut *connection)
        .await
        .is_err()
    {
        if let Some(mut broken) = held.take() {
            broken.close_on_drop();
        }
    }
    result
}

/// A writer's `BEGIN`, in the same round trip as the transaction's plan mode. The writer's statements
/// are few and fixed, and their arguments (arrays and JSON of a round's rows) tell the planner nothing a
/// generic plan does not know, yet by default PostgreSQL planned the round's read again for every
/// batch (a custom plan each time: its `Bind` took 540 µs of the server's time, its run 140 µs, at
/// concurrency 8). With `force_generic_plan`, each connection plans each statement once.
/// Two statements, so sent as text (a simple query), not prepared.
const BEGIN: &str = "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan";

/// Begins a transaction on the held connection. A held connection may have gone stale while it was
/// idle (a restarted server, a cut network), which only using it shows: then it is given up and the
/// transaction begun on a fresh connection from the pool (the pool pings none; if that one fails too,
/// the database is away and the batch is answered unavailable).
async fn begin<'c>(
    pool: &PgPool,
    held: &'c mut Option<PoolConnection<Postgres>>,
) -> Result<&'c mut PgConnection, DbError> {
    if let Some(connection) = held.as_mut() {
        if connection.execute(BEGIN).await.is_ok() {
            return held.as_deref_mut().ok_or(DbError::NotFound);
        }
        if let Some(mut stale) = held.take() {
            stale.close_on_drop();
        }
    }
    let connection = held.insert(pool.acquire().await?);
    connection.execute(BEGIN).await?;
    Ok(&mut **connection)
}

/// The batch's rounds, in the transaction `connection` has open: every attempt locked first, then a
/// round at a time, each request in the first round that holds none of its keys yet.
async fn rounds(
    connection: &mut PgConnection,
    batch: &[WriteJob],
) -> Result<Vec<Recorded>, Failed> {
    let mut link_keys: Vec<&str> = batch
        .iter()
        .filter_map(|job| match &job.intent {
            Intent::Apply(notification) => Some(notification.link_key.as_str()),
            Intent::Refuse { .. } => None,
        })
        .collect();
    link_keys.sort_unstable();
    link_keys.dedup();
    if !link_keys.is_empty() {
        sqlx::query(round::LOCK)
            .bind(&link_keys)
            .execute(&mut *connection)
            .await?;
    }
    let mut results: Vec<Option<Recorded>> = batch.iter().map(|_| None).collect();
    let mut waiting: Vec<usize> = (0..batch.len()).collect();
    while !waiting.is_empty() {
        let mut keys = HashSet::new();
        let requests = take_fitting(batch, &mut waiting, &mut keys);
        for (i, recorded) in one_round(connection, batch, &requests).await? {
            results[i] = Some(recorded);
        }
    }
    results
        .into_iter()
        .map(|result| {
            result.ok_or_else(|| {
                Failed::RolledBack(DbError::Corrupt("a request was not applied".to_owned()))
            })
        })
        .collect()
}

/// One round: read what its requests need (and reserve their ids), decide each, write. Returns each
/// request's result by its index in the batch.
async fn one_round(
    connection: &mut PgConnection,
    batch: &[WriteJob],
    requests: &[usize],
) -> Result<Vec<(usize, Recorded)>, Failed> {
    let (links, events): (Vec<&str>, Vec<&str>) = batch::signal_keys(batch, requests).unzip();
    let rows = sqlx::query(&round::READ)
        .bind(&links)
        .bind(&events)
        .bind(i64::try_from(requests.len()).unwrap_or(i64::MAX))
        .fetch_all(&mut *connection)
        .await?;
    let ids = rows
        .first()
        .ok_or_else(|| DbError::Corrupt("the round read returned nothing".to_owned()))?;
    let mut writes = Round::new(Ids::reserved(
        ids.try_get("journal_ids")?,
        ids.try_get("order_ids")?,
    ));
    let mut loaded = HashMap::new();
    for row in &rows {
        // The one row of a read that found no attempt holds the ids alone.
        if row.try_get::<Option<i64>, _>("id")?.is_some() {
            let found = rows::loaded(row)?;
            loaded.insert(found.attempt.link_key.clone(), found);
        }
    }
    let decided: Vec<_> = requests
        .iter()
        .map(|&i| (i, batch::decide(&batch[i], &loaded)))
        .collect();
    let mut recorded = Vec::with_capacity(decided.len());
    for (i, (decision, found)) in decided {
        recorded.push((
            i,
            batch::write_into(&mut writes, &batch[i], decision, found)?,
        ));
    }
    let mut write = sqlx::query(&round::WRITE);
    for arg in round::args(&writes).map_err(DbError::from)? {
        write = write.bind(arg);
    }
    let claimed: i64 = write
        .fetch_one(&mut *connection)
        .await?
        .try_get("claimed")?;
    if usize::try_from(claimed).ok() != Some(writes.events().len()) {
        return Err(Failed::LostClaim);
    }
    Ok(recorded)
}
