//! `shophost backup FILE`: a consistent copy of the SQLite database while the shop has it open (the
//! newest commits still in the write-ahead log), never over an existing file; for PostgreSQL the
//! command names `pg_dump` and fails. SQLite only, and meant so: the copy is SQLite's own (`VACUUM
//! INTO` on a read-only connection); a PostgreSQL database is backed up with `pg_dump`, not the shop.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Row};

/// A directory of its own under the system's temporary directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "shophost-backup-test-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn shophost(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shophost"))
        .args(args)
        .env_remove("SHOPHOST_DATABASE_URL")
        .env_remove("SHOPHOST_CONFIG")
        .output()
        .expect("shophost runs")
}

fn config(dir: &Path, database_url: &str) -> PathBuf {
    let path = dir.join("shophost.toml");
    std::fs::write(&path, format!("[database]\nurl = \"{database_url}\"\n")).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_sqlite_database_is_copied_and_no_file_is_overwritten() {
    let scratch = Scratch::new();
    let url = format!("sqlite:{}", scratch.0.join("shop.db").display());
    // The shop's store has the database open and has just written to it.
    let store = shophost::db::connect(&url).await.expect("the store opens");
    store
        .ensure_product("SKU-BACKUP", "バックアップ確認用", 1200, "")
        .await
        .unwrap();
    let config = config(&scratch.0, &url);
    let copy = scratch.0.join("copy.db");
    let done = shophost(&[
        "backup",
        copy.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(
        done.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(stdout.contains("copied to"), "{stdout}");

    // The copy is a database of its own with what was committed, the shop's store still at work.
    let mut copied = SqliteConnectOptions::new()
        .filename(&copy)
        .read_only(true)
        .connect()
        .await
        .expect("the copy opens");
    let name: String = sqlx::query("SELECT name FROM products WHERE sku = 'SKU-BACKUP'")
        .fetch_one(&mut copied)
        .await
        .expect("the product is in the copy")
        .get(0);
    assert_eq!(name, "バックアップ確認用");
    let migrations: i64 = sqlx::query("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&mut copied)
        .await
        .unwrap()
        .get(0);
    assert!(migrations >= 4, "{migrations}");
    store
        .ensure_product("SKU-AFTER", "後", 1, "")
        .await
        .unwrap();

    // An existing file is never overwritten, and nothing is left behind.
    let size = std::fs::metadata(&copy).unwrap().len();
    let again = shophost(&[
        "backup",
        copy.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("exists"), "{stderr}");
    assert!(stderr.contains("never overwrites"), "{stderr}");
    assert_eq!(std::fs::metadata(&copy).unwrap().len(), size);
    let mut names: Vec<String> = std::fs::read_dir(&scratch.0)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("partial"))
        .collect();
    names.sort();
    assert!(names.is_empty(), "{names:?}");
}

#[test]
fn postgresql_is_backed_up_with_pg_dump() {
    let scratch = Scratch::new();
    let config = config(
        &scratch.0,
        "postgres://shophost@db.example.invalid/shophost",
    );
    let copy = scratch.0.join("copy.dump");
    let done = shophost(&[
        "backup",
        copy.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(done.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(stderr.contains("pg_dump --format=custom"), "{stderr}");
    assert!(!copy.exists());
}

#[test]
fn a_missing_database_is_not_created_by_a_backup() {
    let scratch = Scratch::new();
    let database = scratch.0.join("nothing.db");
    let config = config(&scratch.0, &format!("sqlite:{}", database.display()));
    let copy = scratch.0.join("copy.db");
    let done = shophost(&[
        "backup",
        copy.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(!done.status.success());
    assert!(!database.exists());
    assert!(!copy.exists());
}
