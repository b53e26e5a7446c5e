//! The mail settings: `[mail]` in the config file, and what the operator saves in the console's メール設定
//! (stored in `mail_settings`), which wins once saved. Every check lives here, for both: an address
//! that is not one, a port of 0, an SMTP server without TLS that is not on this machine.

use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How mail leaves the shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// Kept on the machine: stored in the outbox (readable in the console's 送信メール), and written as
    /// `.eml` files when `capture_dir` is set. Never sent out. The default, and the demo's.
    #[default]
    Capture,
    /// Sent to the SMTP server of `[mail.smtp]`.
    Smtp,
}

impl Transport {
    /// The config's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Capture => "capture",
            Transport::Smtp => "smtp",
        }
    }
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Tls {
    /// Plain connection upgraded with STARTTLS, which the server must offer (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// No TLS: only for a server on this machine (a local relay), never across a network.
    None,
}

impl Tls {
    /// The config's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Tls::Starttls => "starttls",
            Tls::Implicit => "implicit",
            Tls::None => "none",
        }
    }

    /// From the config's word.
    pub fn parse(text: &str) -> Option<Tls> {
        [Tls::Starttls, Tls::Implicit, Tls::None]
            .into_iter()
            .find(|tls| tls.as_str() == text)
    }
}

/// `[mail.smtp]`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    /// The server's host name (checked against its certificate).
    #[serde(default)]
    pub host: String,
    /// Its port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// STARTTLS, implicit TLS, or none (loopback only).
    #[serde(default)]
    pub tls: Tls,
    /// AUTH user; empty: no AUTH.
    #[serde(default)]
    pub user: String,
    /// AUTH password. Never rendered back, never logged.
    #[serde(default)]
    pub password: String,
    /// Seconds for connecting and for each answer.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// A PEM file of the CA that signed the server's certificate, for a server with a private CA; by
    /// default the Mozilla roots are trusted. From the config file only.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.user)
            .field(
                "password",
                &(!self.password.is_empty()).then_some("********"),
            )
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl Default for SmtpSettings {
    fn default() -> Self {
        SmtpSettings {
            host: String::new(),
            port: default_port(),
            tls: Tls::default(),
            user: String::new(),
            password: String::new(),
            timeout_seconds: default_timeout(),
            ca_file: None,
        }
    }
}

fn default_port() -> u16 {
    587
}
fn default_timeout() -> u64 {
    30
}
fn default_give_up_hours() -> u64 {
    72
}
fn default_retry_first_seconds() -> u64 {
    60
}
fn default_retry_max_seconds() -> u64 {
    3600
}
fn default_poll_seconds() -> u64 {
    5
}

/// `[mail]` as written in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMail {
    /// `capture` (default) or `smtp`.
    #[serde(default)]
    pub transport: Transport,
    /// Where captured mail is also written as `.eml` files (none: only in the database).
    pub capture_dir: Option<PathBuf>,
    /// The sender's address (From).
    pub from: Option<String>,
    /// The sender's display name (default: the shop's name).
    pub from_name: Option<String>,
    /// Reply-To, if any.
    #[serde(default)]
    pub reply_to: String,
    /// Where the shop's notices (new orders, 決済エラー) go.
    #[serde(default)]
    pub notice_to: Vec<String>,
    /// Text above every mail.
    #[serde(default)]
    pub header: String,
    /// Text below every mail, before the signature.
    #[serde(default)]
    pub footer: String,
    /// The shop's signature.
    #[serde(default)]
    pub signature: String,
    /// Hours after which a mail that could not be sent is given up (失敗).
    #[serde(default = "default_give_up_hours")]
    pub give_up_hours: u64,
    /// Seconds before the first retry; each retry waits twice as long, up to `retry_max_seconds`.
    #[serde(default = "default_retry_first_seconds")]
    pub retry_first_seconds: u64,
    /// The longest wait between retries.
    #[serde(default = "default_retry_max_seconds")]
    pub retry_max_seconds: u64,
    /// Seconds between looks at the outbox.
    #[serde(default = "default_poll_seconds")]
    pub poll_seconds: u64,
    /// `[mail.smtp]`.
    #[serde(default)]
    pub smtp: SmtpSettings,
}

impl Default for RawMail {
    fn default() -> Self {
        RawMail {
            transport: Transport::default(),
            capture_dir: None,
            from: None,
            from_name: None,
            reply_to: String::new(),
            notice_to: Vec::new(),
            header: String::new(),
            footer: String::new(),
            signature: String::new(),
            give_up_hours: default_give_up_hours(),
            retry_first_seconds: default_retry_first_seconds(),
            retry_max_seconds: default_retry_max_seconds(),
            poll_seconds: default_poll_seconds(),
            smtp: SmtpSettings::default(),
        }
    }
}

/// What the operator sets (in the file's `[mail]`, or the console, whose saved copy wins).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailSettings {
    /// `capture` or `smtp`.
    pub transport: Transport,
    /// From.
    pub from: String,
    /// From's display name.
    pub from_name: String,
    /// Reply-To (empty: none).
    pub reply_to: String,
    /// The shop's notice addresses.
    pub notice_to: Vec<String>,
    /// Text above every mail.
    pub header: String,
    /// Text below every mail.
    pub footer: String,
    /// The signature.
    pub signature: String,
    /// The SMTP server.
    pub smtp: SmtpSettings,
}

/// How the worker runs: from the file only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Give up after (ms).
    pub give_up_ms: i64,
    /// First retry after (ms).
    pub retry_first_ms: i64,
    /// Longest retry wait (ms).
    pub retry_max_ms: i64,
    /// Between looks at the outbox (ms).
    pub poll_ms: u64,
    /// Where captured mail is written as `.eml`, if anywhere.
    pub capture_dir: Option<PathBuf>,
}

/// The validated `[mail]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailConfig {
    /// The settings until the operator saves others.
    pub settings: MailSettings,
    /// The worker's timing.
    pub delivery: Delivery,
}

/// A problem with a setting: its key and what is wrong (in Japanese, for the console and the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingProblem {
    /// The key (`from`, `smtp.host`, …).
    pub key: &'static str,
    /// What is wrong.
    pub message: String,
}

/// Whether `text` is a plain mailbox address (`local@domain`, no name, no spaces).
pub fn is_address(text: &str) -> bool {
    text.parse::<lettre::Address>().is_ok()
}

impl MailSettings {
    /// Every problem of the settings; empty when they can be used.
    pub fn problems(&self) -> Vec<SettingProblem> {
        let mut problems = Vec::new();
        let mut problem = |key, message: &str| {
            problems.push(SettingProblem {
                key,
                message: message.to_owned(),
            })
        };
        if !is_address(&self.from) {
            problem("from", "送信元メールアドレスを正しく入力してください");
        }
        if !self.reply_to.is_empty() && !is_address(&self.reply_to) {
            problem("reply_to", "返信先メールアドレスを正しく入力してください");
        }
        if self.notice_to.iter().any(|a| !is_address(a)) {
            problem(
                "notice_to",
                "通知先メールアドレスを正しく入力してください（1行に1件）",
            );
        }
        for (key, text) in [
            ("header", &self.header),
            ("footer", &self.footer),
            ("signature", &self.signature),
        ] {
            if text.chars().count() > 2000 {
                problem(key, "2000文字以内で入力してください");
            }
        }
        if self.from_name.contains(['\r', '\n']) {
            problem("from_name", "送信者名に改行は使えません");
        }
        if self.transport == Transport::Smtp {
            let smtp = &self.smtp;
            if smtp.host.trim().is_empty() || smtp.host.contains(char::is_whitespace) {
                problem("smtp.host", "SMTPサーバーを入力してください");
            }
            if smtp.port == 0 {
                problem("smtp.port", "ポート番号は1〜65535で入力してください");
            }
            if smtp.tls == Tls::None && !is_loopback(&smtp.host) {
                problem(
                    "smtp.tls",
                    "暗号化なしはこのマシン上のSMTPサーバー（127.0.0.1 など）にだけ使えます",
                );
            }
            if smtp.user.is_empty() != smtp.password.is_empty() {
                problem(
                    "smtp.user",
                    "SMTP認証のユーザー名とパスワードは両方入力してください",
                );
            }
            if smtp.timeout_seconds == 0 || smtp.timeout_seconds > 600 {
                problem("smtp.timeout_seconds", "タイムアウトは1〜600秒です");
            }
            #[cfg(feature = "smtp")]
            if let Some(path) = &smtp.ca_file {
                if let Err(reason) = read_ca(path) {
                    problem("smtp.ca_file", &reason);
                }
            }
            #[cfg(not(feature = "smtp"))]
            problem("transport", NO_SMTP);
        }
        problems
    }
}

/// Why a build without the cargo feature `smtp` refuses `transport = "smtp"`.
#[cfg(not(feature = "smtp"))]
pub const NO_SMTP: &str =
    "このビルドにはSMTP送信がありません（cargo の feature `smtp` なしでビルドされています）。\
    「保存のみ」を選ぶか、smtp 付きでビルドしたホストを使ってください";

/// The CA certificate of `[mail.smtp] ca_file`, or why it cannot be used.
#[cfg(feature = "smtp")]
pub fn read_ca(
    path: &std::path::Path,
) -> Result<lettre::transport::smtp::client::Certificate, String> {
    let pem =
        std::fs::read(path).map_err(|error| format!("{} を読めません: {error}", path.display()))?;
    lettre::transport::smtp::client::Certificate::from_pem(&pem).map_err(|error| {
        format!(
            "{} はPEM形式の証明書ではありません: {error}",
            path.display()
        )
    })
}

/// Whether a host names this machine.
fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl RawMail {
    /// Validates `[mail]`; `shop_name` is the default sender name. Errors name the key.
    pub fn validate(self, shop_name: &str) -> Result<MailConfig, SettingProblem> {
        let settings = MailSettings {
            transport: self.transport,
            from: self
                .from
                .unwrap_or_else(|| "shop@example.invalid".to_owned()),
            from_name: self.from_name.unwrap_or_else(|| shop_name.to_owned()),
            reply_to: self.reply_to,
            notice_to: self.notice_to,
            header: self.header,
            footer: self.footer,
            signature: self.signature,
            smtp: self.smtp,
        };
        if let Some(problem) = settings.problems().into_iter().next() {
            return Err(problem);
        }
        let positive = |key, value: u64| {
            if value == 0 {
                Err(SettingProblem {
                    key,
                    message: "must be at least 1".to_owned(),
                })
            } else {
                Ok(i64::try_from(value).unwrap_or(i64::MAX / 2_000_000))
            }
        };
        let give_up_hours = positive("give_up_hours", self.give_up_hours)?;
        let retry_first = positive("retry_first_seconds", self.retry_first_seconds)?;
        let retry_max = positive("retry_max_seconds", self.retry_max_seconds)?;
        let poll = positive("poll_seconds", self.poll_seconds)?;
        if retry_max < retry_first {
            return Err(SettingProblem {
                key: "retry_max_seconds",
                message: "must be at least retry_first_seconds".to_owned(),
            });
        }
        Ok(MailConfig {
            settings,
            delivery: Delivery {
                give_up_ms: give_up_hours.saturating_mul(3_600_000),
                retry_first_ms: retry_first.saturating_mul(1000),
                retry_max_ms: retry_max.saturating_mul(1000),
                poll_ms: u64::try_from(poll).unwrap_or(5).saturating_mul(1000),
                capture_dir: self.capture_dir,
            },
        })
    }
}

/// The settings in force: the operator's, once saved in the console, else the config file's.
pub async fn current(state: &crate::AppState) -> Result<MailSettings, crate::db::DbError> {
    let saved = state.store.mail_settings().await?;
    Ok(match saved {
        Some(json) => match serde_json::from_str(&json) {
            Ok(settings) => settings,
            Err(error) => {
                tracing::warn!(%error, "mail: the saved mail settings are unreadable; using the config file's");
                state.config.mail.settings.clone()
            }
        },
        None => state.config.mail.settings.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smtp(host: &str, tls: Tls) -> MailSettings {
        let mut config = RawMail {
            from: Some("shop@example.jp".to_owned()),
            ..RawMail::default()
        }
        .validate("店")
        .expect("valid")
        .settings;
        config.transport = Transport::Smtp;
        config.smtp = SmtpSettings {
            host: host.to_owned(),
            tls,
            ..SmtpSettings::default()
        };
        config
    }

    #[cfg(feature = "smtp")]
    #[test]
    fn no_tls_only_on_this_machine() {
        assert!(smtp("127.0.0.1", Tls::None).problems().is_empty());
        assert!(smtp("localhost", Tls::None).problems().is_empty());
        let problems = smtp("mail.example.jp", Tls::None).problems();
        assert_eq!(problems[0].key, "smtp.tls");
        assert!(smtp("mail.example.jp", Tls::Starttls).problems().is_empty());
    }

    #[test]
    fn addresses_are_checked() {
        let mut settings = smtp("127.0.0.1", Tls::None);
        settings.transport = Transport::Capture;
        settings.notice_to = vec!["owner@example.jp".to_owned(), "not an address".to_owned()];
        settings.from = "shop".to_owned();
        let keys: Vec<_> = settings.problems().iter().map(|p| p.key).collect();
        assert_eq!(keys, ["from", "notice_to"]);
    }

    #[cfg(not(feature = "smtp"))]
    #[test]
    fn a_build_without_smtp_refuses_to_send_over_it() {
        let problems = smtp("127.0.0.1", Tls::None).problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].key, "transport");
        assert!(problems[0].message.contains("feature `smtp`"));
    }

    #[test]
    fn the_password_is_not_in_debug_output() {
        let mut settings = smtp("127.0.0.1", Tls::None);
        settings.smtp.user = "shop".to_owned();
        settings.smtp.password = "hunter2-secret".to_owned();
        assert!(!format!("{settings:?}").contains("hunter2"));
    }

    #[test]
    fn retry_waits_must_make_sense() {
        let raw = RawMail {
            retry_first_seconds: 100,
            retry_max_seconds: 10,
            ..RawMail::default()
        };
        assert_eq!(
            raw.validate("店").expect_err("refused").key,
            "retry_max_seconds"
        );
    }
}
