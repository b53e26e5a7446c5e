//! The mail tests' SMTP side: `smtp-sink` (this crate's binary, a real SMTP server process on a
//! loopback port) started and stopped, the messages it stored read back as a mail reader would
//! (`mail-parser`), and the `[mail]` config of a shop that sends to it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mail_parser::MessageParser;

use super::{unique_name, Database, Options, Shop};

/// The SMTP AUTH the tests' shops use.
pub const SMTP_USER: &str = "shop";
pub const SMTP_PASSWORD: &str = "smtp-secret-pw";

/// A running `smtp-sink` and where it keeps what it received.
pub struct SmtpSink {
    child: Child,
    /// Where it listens.
    pub address: SocketAddr,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpSink {
    /// Starts the sink on `listen` (port 0: any), storing into `dir`, with AUTH PLAIN.
    pub fn start(dir: &Path, listen: &str) -> SmtpSink {
        SmtpSink::start_with(dir, listen, &[])
    }

    /// Starts the sink with TLS (`starttls` or `implicit`), serving the fixture certificate
    /// (`tests/fixtures/smtp-tls`) for 127.0.0.1.
    pub fn start_tls(dir: &Path, mode: &str) -> SmtpSink {
        SmtpSink::start_with(
            dir,
            "127.0.0.1:0",
            &[
                "--tls",
                mode,
                "--cert",
                &fixture("server.pem"),
                "--key",
                &fixture("server-key.pem"),
            ],
        )
    }

    fn start_with(dir: &Path, listen: &str, more: &[&str]) -> SmtpSink {
        let mut child = Command::new(env!("CARGO_BIN_EXE_smtp-sink"))
            .args(["--listen", listen, "--dir"])
            .arg(dir)
            .args(["--auth", &format!("{SMTP_USER}:{SMTP_PASSWORD}")])
            .args(more)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start smtp-sink");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("smtp-sink's first line");
        let address = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("smtp-sink said {line:?}"));
        SmtpSink { child, address }
    }
}

/// A delivered message: the envelope's recipients and the bytes.
pub struct Delivered {
    /// The envelope's recipients.
    pub recipients: Vec<String>,
    /// The message as received.
    pub raw: Vec<u8>,
    /// The number of the connection it came over (the sink counts them from 1).
    pub connection: u64,
}

impl Delivered {
    pub fn subject(&self) -> String {
        let message = MessageParser::default().parse(&self.raw).expect("a mail");
        message.subject().expect("a subject").to_owned()
    }

    pub fn body(&self) -> String {
        let message = MessageParser::default().parse(&self.raw).expect("a mail");
        message
            .body_text(0)
            .expect("a text body")
            .replace("\r\n", "\n")
    }

    pub fn header(&self, name: &str) -> Option<String> {
        let message = MessageParser::default().parse(&self.raw).expect("a mail");
        message.header_raw(name).map(|h| h.trim().to_owned())
    }
}

/// Every message the sink in `dir` stored, in the order received.
pub fn delivered(dir: &Path) -> Vec<Delivered> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "eml"))
                .collect()
        })
        .unwrap_or_default();
    names.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    names
        .into_iter()
        .map(|path| Delivered {
            recipients: std::fs::read_to_string(path.with_extension("rcpt"))
                .unwrap_or_default()
                .lines()
                .map(str::to_owned)
                .collect(),
            raw: std::fs::read(&path).expect("read a message"),
            connection: std::fs::read_to_string(path.with_extension("conn"))
                .ok()
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or_default(),
        })
        .collect()
}

/// Waits (at most 30 s) until the sink in `dir` holds `count` messages; returns them.
pub async fn wait_for_messages(dir: &Path, count: usize) -> Vec<Delivered> {
    wait_for_messages_within(dir, count, Duration::from_secs(30)).await
}

/// Waits (at most `bound`) until the sink in `dir` holds `count` messages; returns them.
pub async fn wait_for_messages_within(dir: &Path, count: usize, bound: Duration) -> Vec<Delivered> {
    let start = Instant::now();
    loop {
        let found = delivered(dir);
        if found.len() >= count {
            return found;
        }
        assert!(
            start.elapsed() < bound,
            "{} of {count} messages arrived: {:?}",
            found.len(),
            found.iter().map(Delivered::subject).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A file of `tests/fixtures/smtp-tls`.
pub fn fixture(name: &str) -> String {
    format!("{}/fixtures/smtp-tls/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A fresh directory for one mail test (the sink's messages, TLS files).
pub fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shophost-mail-{}", unique_name()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// A test shop on `database` whose mail goes to the SMTP server on `port`.
pub async fn shop_sending_to(database: Database, port: u16) -> Shop {
    Shop::start_with(Options {
        database,
        extra_config: mail_config(port),
        ..Options::default()
    })
    .await
}

/// The `[mail]` of a test shop sending to `port`.
pub fn mail_config(port: u16) -> &'static str {
    mail_config_tls(port, "none", None)
}

/// The `[mail]` of a test shop sending to `port` with `tls`, trusting the CA file `ca_file`.
pub fn mail_config_tls(port: u16, tls: &str, ca_file: Option<&str>) -> &'static str {
    let ca_file = ca_file
        .map(|path| format!("ca_file = \"{path}\"\n"))
        .unwrap_or_default();
    let text = format!(
        r#"[mail]
transport = "smtp"
from = "shop@example.jp"
from_name = "テストショップ"
reply_to = "support@example.jp"
notice_to = ["owner@example.jp"]
header = "※このメールは送信専用アドレスから送信しています"
signature = "テストショップ\nhttps://shop.example.jp/"
retry_first_seconds = 1
retry_max_seconds = 2
poll_seconds = 1

[mail.smtp]
host = "127.0.0.1"
port = {port}
tls = "{tls}"
{ca_file}user = "{SMTP_USER}"
password = "{SMTP_PASSWORD}"
timeout_seconds = 2
"#
    );
    Box::leak(text.into_boxed_str())
}
