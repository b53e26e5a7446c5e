//! TLS to PostgreSQL: a throwaway cluster with `ssl = on` (initdb on a free loopback port, a CA and a
//! server certificate made with openssl), the store connecting with `sslmode=verify-full`, and the
//! refusals that make verification real: a certificate from another CA, and `sslmode=require` against a
//! server without TLS.
//!
//! It needs PostgreSQL's server binaries, openssl and root (to run the server as `postgres`). Outside
//! CI a machine without them skips it and says so; in CI (`CI` set) their absence fails the test.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use sqlx::Connection;

/// The directory holding `initdb` and `pg_ctl`, if PostgreSQL's server is installed.
fn server_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn run(command: &mut Command) {
    let output = command.output().expect("command runs");
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn as_postgres(bin: &Path, tool: &str) -> Command {
    let mut command = Command::new("runuser");
    command.args(["-u", "postgres", "--"]).arg(bin.join(tool));
    command
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A CA and a certificate signed by it for `localhost` and 127.0.0.1, in `dir`: `<name>-ca.pem`,
/// `<name>.pem`, `<name>.key`.
fn make_certificates(dir: &Path, name: &str) {
    let path = |file: &str| dir.join(format!("{name}{file}"));
    run(Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", &format!("/CN={name} test CA")])
        .arg("-keyout")
        .arg(path("-ca.key"))
        .arg("-out")
        .arg(path("-ca.pem")));
    run(Command::new("openssl")
        .args([
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(path(".key"))
        .arg("-out")
        .arg(path(".csr")));
    std::fs::write(path(".ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").unwrap();
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
        .arg("-in")
        .arg(path(".csr"))
        .arg("-CA")
        .arg(path("-ca.pem"))
        .arg("-CAkey")
        .arg(path("-ca.key"))
        .arg("-extfile")
        .arg(path(".ext"))
        .arg("-out")
        .arg(path(".pem")));
}

/// A cluster of its own, stopped and removed on drop.
struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

impl Cluster {
    fn start(bin: PathBuf, ssl: bool) -> Cluster {
        let dir = std::env::temp_dir()
            .join(format!("shophost-pg-tls-{}", std::process::id()))
            .join(if ssl { "ssl" } else { "plain" });
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        let data = dir.join("data");
        if ssl {
            make_certificates(&dir, "server");
            make_certificates(&dir, "other");
        }
        run(Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir));
        run(as_postgres(&bin, "initdb")
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data));
        let mut conf = format!(
            "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nfsync = off\n",
            dir.display()
        );
        if ssl {
            conf.push_str(&format!(
                "ssl = on\nssl_cert_file = '{0}/server.pem'\nssl_key_file = '{0}/server.key'\n",
                dir.display()
            ));
        }
        let conf_file = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf_file).unwrap();
        text.push_str(&conf);
        std::fs::write(&conf_file, text).unwrap();
        run(as_postgres(&bin, "pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("server.log"))
            .args(["-w", "-t", "60", "start"]));
        Cluster { bin, dir, port }
    }

    fn url(&self, query: &str) -> String {
        format!(
            "postgres://postgres@localhost:{}/postgres?{query}",
            self.port
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin, "pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
        // The per-process parent goes once both clusters are gone (`remove_dir` refuses a full one).
        if let Some(parent) = self.dir.parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }
}

/// The server binaries, or `None` (with a visible note) where this test cannot run outside CI.
fn prerequisites() -> Option<PathBuf> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let openssl = Command::new("openssl").arg("version").output().is_ok();
    match server_bin() {
        Some(bin) if root && openssl => Some(bin),
        _ if std::env::var_os("CI").is_some() => panic!(
            "CI is set but the PostgreSQL TLS test cannot run: it needs PostgreSQL's server binaries \
             under /usr/lib/postgresql, openssl, and root"
        ),
        _ => {
            eprintln!("SKIPPED: PostgreSQL TLS test (needs PostgreSQL's server binaries, openssl and root)");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_talks_to_postgresql_over_verified_tls() {
    let Some(bin) = prerequisites() else { return };
    let cluster = Cluster::start(bin, true);
    let ca = cluster.dir.join("server-ca.pem");

    // The store connects, migrates and answers with the server's certificate verified.
    let url = cluster.url(&format!("sslmode=verify-full&sslrootcert={}", ca.display()));
    let store = shophost::db::connect(&url)
        .await
        .expect("the store connects over TLS");
    store.ping().await.expect("the database answers");
    assert_eq!(store.backend(), "postgres");

    // The connection really is encrypted.
    let mut connection = sqlx::PgConnection::connect(&url).await.unwrap();
    let ssl: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert!(ssl, "pg_stat_ssl says the connection is not encrypted");

    // A certificate from another CA is refused: verification is not a formality.
    let other_ca = cluster.dir.join("other-ca.pem");
    let wrong = cluster.url(&format!(
        "sslmode=verify-full&sslrootcert={}",
        other_ca.display()
    ));
    let error = shophost::db::connect(&wrong)
        .await
        .err()
        .expect("a server certificate from an unknown CA is refused");
    assert!(
        error.to_string().to_lowercase().contains("certificate")
            || error.to_string().to_lowercase().contains("tls"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_refuses_a_server_without_tls() {
    let Some(bin) = prerequisites() else { return };
    let cluster = Cluster::start(bin, false);
    let error = shophost::db::connect(&cluster.url("sslmode=require"))
        .await
        .err()
        .expect("sslmode=require never falls back to plain text");
    assert!(!error.to_string().is_empty());
    // Without a requirement the same server is reachable (so the refusal above was about TLS).
    shophost::db::connect(&cluster.url("sslmode=disable"))
        .await
        .expect("plain connection to the plain server");
}
