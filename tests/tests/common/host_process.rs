//! The real `shophost` binary as a child process, for the tests that kill it (`no_loss/`, `mail.rs`):
//! built once per run into the test's target directory, started on a config file, ready once
//! `/healthz` answers, and killed with SIGKILL.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

/// How often `/healthz` is asked, 25 ms apart, before a start of the host counts as failed.
const START_POLLS: usize = 2400;

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_owned()
}

/// The `shophost` binary of the current source, built into this test's target directory once per run
/// (as `dynamic.rs` does).
pub fn shophost_binary() -> &'static PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary's path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test binary lives in <target>/<profile>/deps")
            .to_owned();
        let target = profile_dir.parent().expect("<target>/<profile>");
        let profile = profile_dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a profile directory name");
        let profile = if profile == "debug" { "dev" } else { profile };
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = std::process::Command::new(&cargo)
            // The same packages as `dynamic.rs` builds, so that whichever test runs second finds
            // everything fresh (another package set can unify features differently and relink).
            .args(["build", "--quiet", "-p", "acme-gateway", "-p", "shophost"])
            .args(["--profile", profile, "--target-dir"])
            .arg(target)
            .current_dir(workspace())
            .status()
            .unwrap_or_else(|e| panic!("cannot run {cargo}: {e}"));
        assert!(status.success(), "building shophost failed: {status}");
        profile_dir.join(format!("shophost{}", std::env::consts::EXE_SUFFIX))
    })
}

/// A `shophost serve` child process and where its log goes.
pub struct HostProcess {
    /// The child.
    pub child: tokio::process::Child,
    /// Where its stderr goes.
    pub log: PathBuf,
}

impl HostProcess {
    /// Starts the binary on `config` and waits until `/healthz` answers 200.
    pub async fn start(
        config: &Path,
        log: &Path,
        base: &str,
        http: &reqwest::Client,
    ) -> HostProcess {
        let binary = tokio::task::spawn_blocking(shophost_binary)
            .await
            .expect("build the binary");
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("open the host's log");
        let mut command = tokio::process::Command::new(binary);
        command
            .arg("serve")
            .arg("--config")
            .arg(config)
            .env("SHOPHOST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true);
        // The config file is the whole truth for this host.
        for name in [
            "SHOPHOST_CONFIG",
            "SHOPHOST_DATABASE_URL",
            "SHOPHOST_LISTEN",
            "SHOPHOST_PUBLIC_URL",
            "SHOPHOST_ADMIN_TOKEN",
        ] {
            command.env_remove(name);
        }
        let child = command.spawn().expect("start shophost");
        let mut host = HostProcess {
            child,
            log: log.to_owned(),
        };
        for _ in 0..START_POLLS {
            if let Some(status) = host.child.try_wait().expect("poll the child") {
                panic!(
                    "shophost exited ({status}) before it was ready:\n{}",
                    host.log_text()
                );
            }
            if let Ok(response) = http.get(format!("{base}/healthz")).send().await {
                if response.status() == 200 {
                    return host;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "shophost did not answer /healthz after {START_POLLS} tries:\n{}",
            host.log_text()
        );
    }

    /// SIGKILL (what `Child::kill` sends on Unix), and wait until it is gone.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("kill shophost");
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
