//! The server under test: a child process (this same binary, re-executed with `--serve`) running the
//! real host from a config file, and what the bench reads of it: its CPU time and peak memory from
//! `/proc`, PostgreSQL's processes' CPU time, and the writer's commit counts from `/metrics`.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};

/// The child process: the real server, configured from a file.
pub(crate) fn serve(config_path: &str) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SHOPHOST_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let text = std::fs::read_to_string(config_path)?;
    let registry = shophost::bundled::registry(vec![]).map_err(|e| anyhow::anyhow!("{e}"))?;
    let config =
        shophost::serve::config_from_toml(&text, &registry).map_err(|e| anyhow::anyhow!("{e}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(shophost::serve::run(config, registry))
}

fn config_text(database_url: &str, port: u16) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:{port}"
[database]
url = "{database_url}"
[admin]
token = "{ADMIN_TOKEN}"
[shop]
demo_data = true
job_interval_seconds = 3600
[mail]
from = "shop@example.jp"
poll_seconds = 1
[modules]
in_use = ["remise"]
[modules.settings.remise]
SHOPCO = "TESTSHOP"
HOSTID = "12345678"
card_activate = true
card_jb = "CAPTURE"
payquick = false
howpay = "off"
card_pc_ope = "test"
conv_activate = true
S_PAYDATE = 14
conv_pc_ope = "test"
notify_sources_test = ["127.0.0.1/32"]
"#
    )
}

/// The admin token of the server's config: `/metrics` asks for it.
const ADMIN_TOKEN: &str = "bench-admin-token-123";

/// The writer's counters at one moment (see [`Server::writer_counts`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Commits {
    commits: f64,
    requests: f64,
}

impl Commits {
    /// The two counters in a `/metrics` text (Prometheus' text format).
    fn from_metrics(text: &str) -> anyhow::Result<Commits> {
        let counter = |name: &str| {
            text.lines()
                .find_map(|line| {
                    line.strip_prefix(name)?
                        .strip_prefix(' ')?
                        .trim()
                        .parse()
                        .ok()
                })
                .with_context(|| format!("/metrics has no {name}"))
        };
        Ok(Commits {
            commits: counter("shophost_db_commits_total")?,
            requests: counter("shophost_db_committed_requests_total")?,
        })
    }

    /// Requests per commit between `self` and a later reading; `None` if nothing was committed.
    pub(crate) fn per_commit_until(self, later: Commits) -> Option<f64> {
        let commits = later.commits - self.commits;
        (commits > 0.0).then(|| (later.requests - self.requests) / commits)
    }
}

pub(crate) struct Server {
    child: std::process::Child,
    pub(crate) base: String,
}

impl Server {
    /// The user + system CPU time the server process has used so far, in seconds (`/proc/PID/stat`
    /// fields 14 and 15, in the kernel's USER_HZ ticks, 100 a second on Linux): its own threads only,
    /// not the database's processes, not the bench's client.
    pub(crate) fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        stat_cpu_ticks(&stat) as f64 / 100.0
    }

    /// The user + system CPU time PostgreSQL's server processes serving the bench's database have
    /// used so far, in seconds: each connection is a process of its own, whose title names the
    /// database. `None` on SQLite, which runs inside the server process (and is in its figure).
    /// Processes that ended since the last reading take their time with them, and the server's own
    /// background processes (WAL writer, checkpointer, autovacuum) serve every database and are not
    /// counted: this is the time of the statements themselves, and of the commits each waited for.
    pub(crate) fn database_cpu_seconds(database_url: &str) -> Option<f64> {
        let name = database_url.strip_prefix("postgres")?.rsplit('/').next()?;
        let title = format!(" {name} ");
        let mut ticks = 0;
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let path = entry.path();
            let Ok(command) = std::fs::read(path.join("cmdline")) else {
                continue;
            };
            if !String::from_utf8_lossy(&command).contains(&title) {
                continue;
            }
            if let Ok(stat) = std::fs::read_to_string(path.join("stat")) {
                ticks += stat_cpu_ticks(&stat);
            }
        }
        Some(ticks as f64 / 100.0)
    }

    /// The host's group-commit counts so far, from its `/metrics` (with the admin token): commits
    /// that carried gateway requests, and the requests they carried. Their growth over a step is how
    /// many notifications one transaction held on average.
    pub(crate) async fn writer_counts(&self, client: &reqwest::Client) -> anyhow::Result<Commits> {
        let text = client
            .get(format!("{}/metrics", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        Commits::from_metrics(&text)
    }

    pub(crate) fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

/// utime + stime of a `/proc/PID/stat` line (fields 14 and 15), in the kernel's USER_HZ ticks.
pub(crate) fn stat_cpu_ticks(stat: &str) -> u64 {
    // The command name (field 2) may hold spaces; the fields after it are plain numbers.
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    ticks(11) + ticks(12)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub(crate) async fn start_server(
    dir: &std::path::Path,
    database_url: &str,
) -> anyhow::Result<Server> {
    let port = free_port()?;
    let config = dir.join("shophost.toml");
    std::fs::write(&config, config_text(database_url, port))?;
    let child = std::process::Command::new(std::env::current_exe()?)
        .arg("--serve")
        .arg(&config)
        .current_dir(dir)
        .env(
            "SHOPHOST_LOG",
            std::env::var("SHOPHOST_BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".to_owned()),
        )
        .stdout(Stdio::null())
        .spawn()
        .context("cannot start the server")?;
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(response) = client.get(format!("{}/healthz", server.base)).send().await {
            if response.status().is_success() {
                return Ok(server);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the server did not become healthy")
}

#[cfg(test)]
mod tests {
    use super::Commits;

    #[test]
    fn requests_per_commit_come_from_the_growth_of_the_two_counters() {
        let metrics = |commits: u64, requests: u64| {
            format!(
                "# HELP shophost_db_commits Commits that carried gateway requests\n\
                 # TYPE shophost_db_commits counter\n\
                 shophost_db_commits_total {commits}\n\
                 # HELP shophost_db_committed_requests Gateway requests those commits carried\n\
                 # TYPE shophost_db_committed_requests counter\n\
                 shophost_db_committed_requests_total {requests}\n\
                 shophost_db_group_commit_retries_total 0\n"
            )
        };
        let before = Commits::from_metrics(&metrics(10, 25)).unwrap();
        let after = Commits::from_metrics(&metrics(14, 57)).unwrap();
        assert_eq!(before.per_commit_until(after), Some(8.0));
        // Nothing committed in between: no figure rather than a division by zero.
        assert_eq!(after.per_commit_until(after), None);
        assert!(Commits::from_metrics("shophost_up 1\n").is_err());
    }
}
