//! What the disk allows a notification on SQLite, whatever the host does around it: a notification's
//! commit writes one page to the write-ahead log for every b-tree page it changes (the journal entry,
//! the order and its indexes, the attempt, the event, the history line, the queued mails), so the raw
//! commit rate of one small insert is not its ceiling. This measures that footprint from the server's
//! own log and then the durable commit rate, and the CPU time, of bare transactions of the same size:
//! a floor for the notification steps' `cpu µs` at concurrency 1 and a ceiling for their rate.

use std::path::Path;
use std::time::Instant;

use sqlx::Connection;

/// The WAL frames of the server's log per commit, from the frame headers (a commit's last frame
/// carries the database's size in pages, the others 0): the frames of the current generation of the
/// log (their salts are the header's) up to its last commit, over the commits among them. Read right
/// after a step, the log holds that step's last commits (the server checkpoints every second, after
/// which the next commit starts the log again), and a mail pass's if one ran meanwhile. `None` without
/// a log or a commit in it.
pub(crate) fn wal_frames_per_commit(database: &Path) -> Option<f64> {
    let mut log = database.as_os_str().to_owned();
    log.push("-wal");
    let bytes = std::fs::read(log).ok()?;
    let word = |at: usize| {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let page_size = word(8)? as usize;
    let salts = (word(16)?, word(20)?);
    let (mut frames, mut commits, mut committed_frames) = (0usize, 0usize, 0usize);
    let mut at = 32;
    while at + 24 + page_size <= bytes.len() {
        if (word(at + 8)?, word(at + 12)?) != salts {
            break;
        }
        frames += 1;
        if word(at + 4)? != 0 {
            commits += 1;
            committed_frames = frames;
        }
        at += 24 + page_size;
    }
    (commits > 0).then(|| committed_frames as f64 / commits as f64)
}

/// Durable commits that each change `pages` pages, one statement each, on a database of their own
/// beside `path`, with the host's settings (WAL, `synchronous = FULL`): per second, and this
/// process's CPU time per commit (SQLite runs in it: the statement, the log writes, the fsync).
pub(crate) async fn footprint_commits(
    path: &str,
    pages: usize,
    n: usize,
) -> anyhow::Result<Footprint> {
    let file = format!("{path}.floor");
    let mut conn = durable_sqlite(&file).await?;
    // A row of 3,500 bytes fills a 4 KiB page of its own, so each row rewritten is one page changed.
    sqlx::query(
        "CREATE TABLE floor (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, filler BLOB NOT NULL)",
    )
    .execute(&mut conn)
    .await?;
    sqlx::query(
        "WITH RECURSIVE i(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM i WHERE id < $1) \
         INSERT INTO floor SELECT id, 0, zeroblob(3500) FROM i",
    )
    .bind(pages as i64)
    .execute(&mut conn)
    .await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await?;
    let cpu_before = own_cpu_seconds();
    let started = Instant::now();
    for _ in 0..n {
        sqlx::query("UPDATE floor SET n = n + 1")
            .execute(&mut conn)
            .await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = own_cpu_seconds() - cpu_before;
    let frames = wal_frames_per_commit(Path::new(&file));
    conn.close().await?;
    Ok(Footprint {
        pages,
        frames_per_commit: frames,
        commits_per_second: n as f64 / elapsed,
        cpu_us_per_commit: cpu * 1e6 / n.max(1) as f64,
    })
}

/// A new SQLite database at `file` with the host's durability settings: WAL, `synchronous = FULL`.
pub(crate) async fn durable_sqlite(file: &str) -> anyhow::Result<sqlx::SqliteConnection> {
    let options: sqlx::sqlite::SqliteConnectOptions = format!("sqlite:{file}").parse()?;
    Ok(sqlx::SqliteConnection::connect_with(
        &options
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Full),
    )
    .await?)
}

/// What [`footprint_commits`] measured.
#[derive(Debug)]
pub(crate) struct Footprint {
    pub(crate) pages: usize,
    /// The frames each commit wrote, read back from the log: `pages` if the measure is what it says.
    pub(crate) frames_per_commit: Option<f64>,
    pub(crate) commits_per_second: f64,
    pub(crate) cpu_us_per_commit: f64,
}

impl Footprint {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "pages": self.pages,
            "frames_per_commit": self.frames_per_commit,
            "commits_per_second": self.commits_per_second,
            "cpu_us_per_commit": self.cpu_us_per_commit,
        })
    }
}

/// This process's user + system CPU time so far, in seconds (`/proc/self/stat`).
pub(crate) fn own_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    crate::server::stat_cpu_ticks(&stat) as f64 / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_commit_of_n_pages_writes_n_frames_and_the_log_says_so() {
        let dir = std::env::temp_dir().join(format!("shophost-bench-floor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db").display().to_string();
        let measured = footprint_commits(&path, 7, 20).await.unwrap();
        assert_eq!(measured.frames_per_commit, Some(7.0), "{measured:?}");
        assert!(measured.commits_per_second > 0.0);
        // Without a log there is nothing to read.
        assert_eq!(wal_frames_per_commit(&dir.join("missing.db")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
