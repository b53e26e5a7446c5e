//! The SQLite writer's fsync, off the writer's path. The writer commits its batches with
//! `synchronous = NORMAL`: SQLite writes the batch to the write-ahead log (the OS has it, so a crashed
//! process loses nothing) but does not wait for the disk. The batch's requests are answered here, on a
//! thread of their own, only after an fsync of the log that began after their commit returned. The
//! writer meanwhile reads, decides and writes its next batch, so the disk's flush and the next batch's
//! work overlap, and one flush covers every batch committed while the previous one was on its way.
//!
//! What a committed batch wrote is visible to other connections before it is on disk (for as long as
//! one flush takes); nothing is acknowledged before. Every other write on the store's one write
//! connection (the console, the mail worker) keeps `synchronous = FULL`, so its commit flushes the log
//! with everything before it: a mail is never sent for an order a power cut could still take back.
//!
//! A failed fsync leaves what the log holds on disk unknown, and a later fsync that succeeds says
//! nothing about the pages the failed one did not write. So one failure is final: the requests waiting
//! for it, and every request after it, are answered unavailable (Remise sends them again), and the
//! writer stops until the host is restarted and SQLite recovers the log from the disk.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::db::{DbError, Recorded};

/// A committed request's answer, sent once the commit is on disk.
pub(super) type Answer = (oneshot::Sender<Result<Recorded, DbError>>, Recorded);

/// The thread that flushes the log and answers the requests whose commit it holds.
pub(super) struct Durable {
    batches: mpsc::Sender<Vec<Answer>>,
    /// Why the first failed fsync failed; set once, never cleared.
    failed: Arc<OnceLock<String>>,
    thread: JoinHandle<()>,
}

impl Durable {
    /// Flushes the write-ahead log of the database file `database`.
    pub(super) fn start(database: PathBuf) -> std::io::Result<Self> {
        Self::with(move || sync_log(&database))
    }

    /// Flushes with `sync` (the tests give one that counts, or fails).
    pub(super) fn with(
        sync: impl FnMut() -> std::io::Result<()> + Send + 'static,
    ) -> std::io::Result<Self> {
        let (batches, received) = mpsc::channel();
        let failed = Arc::new(OnceLock::new());
        let thread = std::thread::Builder::new()
            .name("sqlite-fsync".to_owned())
            .spawn({
                let failed = failed.clone();
                move || flush(&received, sync, &failed)
            })?;
        Ok(Durable {
            batches,
            failed,
            thread,
        })
    }

    /// Answers a committed batch's requests once an fsync that begins now has ended.
    pub(super) fn answer(&self, answers: Vec<Answer>) {
        if answers.is_empty() {
            return;
        }
        // The thread is gone only if it panicked: nobody flushed these, so they are not acknowledged.
        if let Err(mpsc::SendError(answers)) = self.batches.send(answers) {
            for (reply, _) in answers {
                let _ = reply.send(Err(DbError::Unavailable(
                    "the SQLite fsync thread has stopped".to_owned(),
                )));
            }
        }
    }

    /// Why an fsync failed, once one has: the writer then stops taking requests.
    pub(super) fn failed(&self) -> Option<String> {
        self.failed.get().cloned()
    }

    /// Waits until every batch handed over is answered, then ends the thread.
    pub(super) async fn finish(self) {
        let Durable {
            batches, thread, ..
        } = self;
        // The thread ends when the queue it takes batches from is closed and empty.
        drop(batches);
        let joined = tokio::task::spawn_blocking(move || thread.join()).await;
        if !matches!(joined, Ok(Ok(()))) {
            tracing::error!("the SQLite fsync thread did not end cleanly");
        }
    }
}

/// The thread: takes every batch handed over since the last flush, flushes once, answers them all.
fn flush(
    received: &mpsc::Receiver<Vec<Answer>>,
    mut sync: impl FnMut() -> std::io::Result<()>,
    failed: &OnceLock<String>,
) {
    while let Ok(mut answers) = received.recv() {
        while let Ok(more) = received.try_recv() {
            answers.extend(more);
        }
        let flushed = match failed.get() {
            Some(reason) => Err(reason.clone()),
            None => sync().map_err(|error| {
                let reason = format!("the write-ahead log could not be flushed to disk: {error}");
                tracing::error!(
                    requests = answers.len(),
                    "{reason}; the requests it holds and every request after it are answered unavailable until the host is restarted"
                );
                failed.get_or_init(|| reason).clone()
            }),
        };
        for (reply, recorded) in answers {
            let _ = reply.send(match &flushed {
                Ok(()) => Ok(recorded),
                Err(reason) => Err(DbError::Unavailable(reason.clone())),
            });
        }
    }
}

/// fsyncs the database's write-ahead log, opened afresh (so a log SQLite removed and made again is
/// the one flushed). Without a log, SQLite has checkpointed everything into the database file and
/// removed it; the file is flushed instead.
fn sync_log(database: &Path) -> std::io::Result<()> {
    let mut log = database.as_os_str().to_owned();
    log.push("-wal");
    match std::fs::File::open(&log) {
        Ok(file) => file.sync_all(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            std::fs::File::open(database)?.sync_all()
        }
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;

    use super::*;

    fn recorded(journal_id: i64) -> Recorded {
        Recorded {
            verdict: crate::db::Verdict::Accepted,
            settlement_type: None,
            journal_id,
            order_number: None,
            response: shophost_module_api::WireResponse {
                status: 200,
                content_type: "text/plain".to_owned(),
                body: Vec::new(),
            },
        }
    }

    #[tokio::test]
    async fn a_batch_is_answered_only_after_a_flush_that_began_after_it_was_handed_over() {
        // The flush waits until the test lets it go (drops `open`): an answer before that would
        // be an acknowledgement of a commit not yet on disk.
        let (open, gate) = mpsc::channel::<()>();
        let flushes = Arc::new(AtomicUsize::new(0));
        let durable = Durable::with({
            let flushes = flushes.clone();
            move || {
                let _ = gate.recv();
                flushes.fetch_add(1, SeqCst);
                Ok(())
            }
        })
        .unwrap();
        let (reply, mut answered) = oneshot::channel();
        durable.answer(vec![(reply, recorded(7))]);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(
            answered.try_recv().is_err(),
            "answered before its flush ended"
        );
        drop(open);
        assert_eq!(answered.await.unwrap().unwrap().journal_id, 7);
        assert_eq!(flushes.load(SeqCst), 1);
        durable.finish().await;
    }

    #[tokio::test]
    async fn batches_handed_over_during_a_flush_share_the_next_one() {
        let (open, gate) = mpsc::channel::<()>();
        let flushes = Arc::new(AtomicUsize::new(0));
        let durable = Durable::with({
            let flushes = flushes.clone();
            move || {
                flushes.fetch_add(1, SeqCst);
                let _ = gate.recv();
                Ok(())
            }
        })
        .unwrap();
        let (first, first_answer) = oneshot::channel();
        durable.answer(vec![(first, recorded(1))]);
        while flushes.load(SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // The first flush has begun and waits: these three come after it began, so it cannot
        // cover them; they wait for the next, which they share.
        let mut later = Vec::new();
        for id in 2..5 {
            let (reply, answer) = oneshot::channel();
            durable.answer(vec![(reply, recorded(id))]);
            later.push(answer);
        }
        drop(open);
        assert_eq!(first_answer.await.unwrap().unwrap().journal_id, 1);
        for (answer, id) in later.into_iter().zip(2..) {
            assert_eq!(answer.await.unwrap().unwrap().journal_id, id);
        }
        assert_eq!(flushes.load(SeqCst), 2);
        durable.finish().await;
    }

    #[tokio::test]
    async fn a_failed_flush_answers_unavailable_and_every_later_batch_too() {
        let flushes = Arc::new(AtomicUsize::new(0));
        let durable = Durable::with({
            let flushes = flushes.clone();
            move || {
                flushes.fetch_add(1, SeqCst);
                Err(std::io::Error::other("the disk is gone"))
            }
        })
        .unwrap();
        assert_eq!(durable.failed(), None);
        for _ in 0..2 {
            let (reply, answer) = oneshot::channel();
            durable.answer(vec![(reply, recorded(1))]);
            match answer.await.unwrap() {
                Err(DbError::Unavailable(reason)) => assert!(reason.contains("the disk is gone")),
                other => panic!("expected unavailable, got {other:?}"),
            }
        }
        assert!(durable.failed().unwrap().contains("could not be flushed"));
        // Once failed, it does not flush again: a later success would prove nothing.
        assert_eq!(flushes.load(SeqCst), 1);
        durable.finish().await;
    }

    #[test]
    fn the_log_is_flushed_and_without_one_the_database_file() {
        let dir = std::env::temp_dir().join(format!(
            "shophost-durable-{}-{}",
            std::process::id(),
            crate::domain::now_millis()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let database = dir.join("shop.db");
        assert!(sync_log(&database).is_err(), "neither file exists");
        std::fs::write(&database, b"").unwrap();
        sync_log(&database).unwrap();
        std::fs::write(dir.join("shop.db-wal"), b"").unwrap();
        sync_log(&database).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
