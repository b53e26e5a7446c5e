//! `shophost backup FILE`: an online, consistent copy of a SQLite database while the shop runs.
//!
//! The copy is made with SQLite's `VACUUM INTO` on a read-only connection of its own: it reads one
//! snapshot of the write-ahead-logged database (the running writer is neither blocked nor seen half
//! way through a commit) and writes a compact database file. It runs no migrations and starts no
//! writer, because a backup must not change what it copies (a newer binary would otherwise migrate the
//! live database of an older, running host). The copy is written beside the target under a temporary
//! name, flushed to disk (SQLite does not sync a `VACUUM INTO` file), checked, and only then linked to
//! the target's name, which fails if that name exists: an existing file is never overwritten.
//!
//! PostgreSQL has its own tool for this, `pg_dump`; the command says so instead of copying.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Row};

use super::Backend;

/// Why a backup was not made.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The database is PostgreSQL, which `pg_dump` backs up.
    #[error(
        "the database is PostgreSQL: back it up with pg_dump, e.g. \
         `pg_dump --format=custom --file={file} <database>` (see docs/deploying.md)"
    )]
    Postgres {
        /// The file asked for.
        file: String,
    },
    /// The target exists; it is never overwritten.
    #[error("{0} exists; a backup never overwrites a file (choose a new name)")]
    Exists(PathBuf),
    /// The database URL is not one the host knows.
    #[error("{0}")]
    BadUrl(String),
    /// SQLite or the file system failed.
    #[error("backup failed: {0}")]
    Failed(String),
}

/// Copies the database at `url` to a new file `into`; returns the copy's size in bytes.
pub async fn backup(url: &str, into: &Path) -> Result<u64, BackupError> {
    match Backend::for_url(url).map_err(BackupError::BadUrl)? {
        Backend::Postgres => Err(BackupError::Postgres {
            file: into.display().to_string(),
        }),
        Backend::Sqlite => backup_sqlite(url, into).await,
    }
}

async fn backup_sqlite(url: &str, into: &Path) -> Result<u64, BackupError> {
    let failed =
        |what: &str, error: &dyn std::fmt::Display| BackupError::Failed(format!("{what}: {error}"));
    if into.symlink_metadata().is_ok() {
        return Err(BackupError::Exists(into.to_owned()));
    }
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| BackupError::BadUrl(format!("bad SQLite URL: {e}")))?
        .create_if_missing(false)
        .read_only(true);
    let mut source = options
        .connect()
        .await
        .map_err(|e| failed("cannot open the database", &e))?;
    let partial = partial_name(into);
    let _ = std::fs::remove_file(&partial);
    let copied = sqlx::query("VACUUM INTO $1")
        .bind(partial.to_string_lossy().into_owned())
        .execute(&mut source)
        .await;
    let _ = source.close().await;
    let result = match copied {
        Ok(_) => finish(&partial, into).await,
        Err(error) => Err(failed("VACUUM INTO", &error)),
    };
    let _ = std::fs::remove_file(&partial);
    result
}

/// Syncs and checks the copy at `partial`, then gives it the name `into` unless that exists.
async fn finish(partial: &Path, into: &Path) -> Result<u64, BackupError> {
    let failed =
        |what: &str, error: &dyn std::fmt::Display| BackupError::Failed(format!("{what}: {error}"));
    std::fs::File::open(partial)
        .and_then(|file| file.sync_all())
        .map_err(|e| failed("cannot flush the copy to disk", &e))?;
    let check_options = SqliteConnectOptions::new()
        .filename(partial)
        .read_only(true);
    let mut copy = check_options
        .connect()
        .await
        .map_err(|e| failed("cannot open the copy", &e))?;
    let verdict: String = sqlx::query("PRAGMA quick_check")
        .fetch_one(&mut copy)
        .await
        .and_then(|row| row.try_get(0))
        .map_err(|e| failed("cannot check the copy", &e))?;
    let _ = copy.close().await;
    if verdict != "ok" {
        return Err(BackupError::Failed(format!(
            "the copy is damaged: {verdict}"
        )));
    }
    // A hard link fails when the name exists, so a file that appeared meanwhile is kept as it is.
    match std::fs::hard_link(partial, into) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(BackupError::Exists(into.to_owned()))
        }
        Err(error) => return Err(failed("cannot name the copy", &error)),
    }
    if let Some(parent) = into.parent().filter(|p| !p.as_os_str().is_empty()) {
        // The new name is durable once its directory is (best effort: not every system allows it).
        let _ = std::fs::File::open(parent).and_then(|dir| dir.sync_all());
    }
    std::fs::metadata(into)
        .map(|meta| meta.len())
        .map_err(|e| failed("cannot read the copy", &e))
}

/// The temporary name the copy is written under, beside the target.
fn partial_name(into: &Path) -> PathBuf {
    let mut name = into.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".partial-{}", std::process::id()));
    into.with_file_name(name)
}
