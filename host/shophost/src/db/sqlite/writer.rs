//! SQLite's group-commit writer: every inbound request goes through one task, which commits the
//! requests that wait together, in rounds (`round.rs`). The fsync is not in the commit: a committed
//! batch is handed to `durable.rs`, which answers its requests after a flush of the write-ahead log,
//! while this task goes on to the next batch.
//!
//! A request is answered only after the commit that holds it is on disk. If a batch fails, nothing of it was
//! answered yet: it is rolled back and its requests are retried one transaction each, so one bad
//! request cannot sink the others. A panic in the writer's own code fails only the batch it happened
//! in: its requests are answered with an error (so gateways get "unavailable" and retry), the
//! transaction it left open is rolled back, and the writer goes on. It stops only when the store is
//! closed, after committing what was queued. A background task checkpoints the write-ahead log so that
//! no commit a request waits for carries a checkpoint.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use sqlx::{Row, Sqlite};
use tokio::sync::{mpsc, Notify};

use super::durable::Durable;
use super::round;
use crate::db::batch::{self, take_fitting, take_waiting, WriteJob};
use crate::db::decide;
use crate::db::round::{Ids, Round};
use crate::db::rows;
use crate::db::{DbError, Recorded, WriterStats};

/// The SQLite writer: every request that arrived while the previous batch was being applied goes into
/// the next one, and so does every request that arrives while that one is being read (up to
/// [`MAX_BATCH`](batch::MAX_BATCH)). Every request is answered only after the commit that holds it is
/// on disk (`durable`). When `closing` is notified, it takes no more requests, commits those queued,
/// waits for their flush, and ends; after a failed flush it answers every request unavailable and ends.
pub(super) async fn group_commit(
    pool: SqlitePool,
    mut jobs: mpsc::Receiver<WriteJob>,
    stats: Arc<WriterStats>,
    closing: Arc<Notify>,
    durable: Durable,
) {
    loop {
        let first = tokio::select! {
            job = jobs.recv() => match job {
                Some(job) => job,
                None => break,
            },
            () = closing.notified() => {
                jobs.close();
                continue;
            }
        };
        let mut batch = vec![first];
        take_waiting(&mut jobs, &mut batch);
        if let Some(reason) = durable.failed() {
            // What this writer commits can no longer be made durable: nothing more is taken.
            jobs.close();
            for job in batch {
                let _ = job.reply.send(Err(DbError::Unavailable(reason.clone())));
            }
            continue;
        }
        let committed =
            crate::guard::catch_async(commit_batch(&pool, &mut batch, &mut jobs, &stats));
        let results = match committed.await {
            Ok(results) => results,
            Err(panicked) => {
                tracing::error!(
                    requests = batch.len(),
                    "the SQLite writer {panicked}; the batch's requests are answered unavailable and the writer goes on"
                );
                if let Ok(mut connection) = pool.acquire().await {
                    end_transaction(&mut connection).await;
                }
                // Requests the batch had already taken apart were dropped with the panic; their
                // callers get the same error from their dropped reply channel.
                let failed = || DbError::Unavailable(format!("the SQLite writer {panicked}"));
                batch.iter().map(|_| Err(failed())).collect()
            }
        };
        // A failure is answered at once (nothing of it was committed); a commit once it is on disk.
        let mut answers = Vec::with_capacity(batch.len());
        for (job, result) in batch.into_iter().zip(results) {
            match result {
                Ok(recorded) => answers.push((job.reply, recorded)),
                Err(error) => {
                    let _ = job.reply.send(Err(error));
                }
            }
        }
        durable.answer(answers);
    }
    durable.finish().await;
}

/// Copies the write-ahead log into the database every second from a connection of its own. A passive
/// checkpoint neither waits for nor blocks the writer, so commits (which requests wait for) never
/// carry one. It ends when `stop` is notified (the store's `close`, which waits for it), closing its
/// connection before it returns, or within a second of the store being dropped.
pub(super) async fn checkpoint_wal(
    options: SqliteConnectOptions,
    store: mpsc::WeakSender<WriteJob>,
    stop: Arc<Notify>,
) {
    use sqlx::Connection;
    let mut connection: Option<sqlx::SqliteConnection> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.notified() => break,
        }
        if store.upgrade().is_none_or(|writer| writer.is_closed()) {
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
    if let Some(open) = connection {
        if let Err(error) = open.close().await {
            tracing::debug!(%error, "closing the checkpoint connection failed");
        }
    }
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
/// round trip ([`round::READ`]), decides each in memory and writes them all in a second
/// ([`round::WRITE`]). Requests that arrive while a round is being read join it with one more
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
        end_transaction(&mut conn).await;
    }
    result
}

/// Ends the transaction a failed or panicked batch may have left open, and gives the connection back
/// its `synchronous = FULL` for the writes that are not the writer's. The transaction is opened and
/// committed inside the scripts, so sqlx does not know of it. (SQLite may have ended it already; "no
/// transaction is active" is then the expected answer.) A connection whose state is unknown is not
/// given back to the pool.
async fn end_transaction(conn: &mut PoolConnection<Sqlite>) {
    if let Err(error) = sqlx::query("ROLLBACK").execute(&mut **conn).await {
        if !error.to_string().contains("no transaction is active") {
            conn.close_on_drop();
        }
    }
    if sqlx::query(round::FULL).execute(&mut **conn).await.is_err() {
        conn.close_on_drop();
    }
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
        let mut keys = HashSet::new();
        let mut writes: Option<Round> = None;
        let mut recorded = Vec::new();
        let mut reading = take_fitting(batch, &mut waiting, &mut keys);
        while !reading.is_empty() {
            let signals = batch::signal_keys(batch, &reading);
            let read = if first {
                &round::BEGIN_AND_READ
            } else {
                &round::READ
            };
            first = false;
            let rows = sqlx::query(read)
                .bind(round::read_arg(signals))
                .fetch_all(&mut *conn)
                .await?;
            let (bases, attempts) = rows
                .split_first()
                .ok_or_else(|| DbError::Corrupt("the round read returned nothing".to_owned()))?;
            let mut loaded = HashMap::new();
            for row in attempts {
                let found = rows::loaded(row)?;
                loaded.insert(found.attempt.link_key.clone(), found);
            }
            // Ids are given out from the first read of the round: nothing is written before its write.
            let writes = match &mut writes {
                Some(writes) => writes,
                None => writes.insert(Round::new(Ids::after(
                    bases.try_get("journal_base")?,
                    bases.try_get("order_base")?,
                ))),
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
            &round::WRITE_AND_COMMIT
        } else {
            &round::WRITE
        });
        for arg in round::args(&writes) {
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
    loaded: &HashMap<String, decide::Loaded>,
) -> Result<Recorded, DbError> {
    let (decision, found) = batch::decide(job, loaded);
    batch::write_into(writes, job, decision, found)
}

#[cfg(test)]
mod tests {
    use super::Durable;
    use crate::db::batch::{refuse_through, PANICS_HERE};
    use crate::db::sqlite::scratch_database;
    use crate::db::{DbError, SqliteStore, Store};

    async fn refuse(store: &SqliteStore, endpoint: &str) -> Result<i64, DbError> {
        Ok(refuse_through(store, endpoint).await?.journal_id)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panic_fails_its_batch_and_the_writer_goes_on_until_closed() {
        let (dir, url) = scratch_database("panic");
        let store = SqliteStore::connect(&url).await.unwrap();

        let failed = refuse(&store, PANICS_HERE).await;
        match failed {
            Err(DbError::Unavailable(message)) => assert!(
                message.contains("a panic the writer's tests put in a round"),
                "{message}"
            ),
            other => panic!("expected the batch to fail as unavailable, got {other:?}"),
        }
        assert!(store.writer_running());
        // The next request commits: the panicked round's transaction was rolled back, not left open.
        let journal_id = refuse(&store, "elsewhere").await.unwrap();
        let journal = store.journal(None, 10).await.unwrap();
        assert_eq!(
            journal.iter().map(|e| e.id).collect::<Vec<_>>(),
            [journal_id]
        );

        store.close().await;
        assert!(!store.writer_running());
        assert!(matches!(
            refuse(&store, "after closing").await,
            Err(DbError::Unavailable(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn after_a_failed_flush_nothing_is_acknowledged_and_the_writer_stops() {
        let (dir, url) = scratch_database("flush");
        let store = SqliteStore::connect_flushing(&url, |_| {
            Durable::with(|| Err(std::io::Error::other("the disk went away")))
        })
        .await
        .unwrap();

        // The request was committed but never flushed: it is not acknowledged.
        match refuse(&store, "first").await {
            Err(DbError::Unavailable(message)) => {
                assert!(message.contains("the disk went away"), "{message}")
            }
            other => panic!("expected unavailable, got {other:?}"),
        }
        // Nor is anything after it, and the writer has stopped, which `/healthz` reports.
        assert!(matches!(
            refuse(&store, "second").await,
            Err(DbError::Unavailable(_))
        ));
        assert!(!store.writer_running());
        store.close().await;
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn once_closed_the_store_leaves_only_its_database_file() {
        let (dir, url) = scratch_database("close");
        let store = SqliteStore::connect(&url).await.unwrap();
        refuse(&store, "one").await.unwrap();
        // Long enough for the background checkpoint to have opened its connection.
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let journal_id = refuse(&store, "two").await.unwrap();
        store.close().await;

        // Nothing of the store holds the files any more: the log was checkpointed and removed by the
        // last connection, and nothing opens it again.
        let files = || {
            let mut names: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        assert_eq!(files(), ["shop.db"]);
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        assert_eq!(files(), ["shop.db"]);
        // What was acknowledged is in the database file itself.
        let reopened = SqliteStore::connect(&url).await.unwrap();
        let journal = reopened.journal(None, 10).await.unwrap();
        assert!(journal.iter().any(|entry| entry.id == journal_id));
        reopened.close().await;
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
