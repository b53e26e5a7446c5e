//! Configuration: `shophost.toml`, read in two stages.
//!
//! Precedence: built-in defaults < `shophost.toml` < environment (`SHOPHOST_DATABASE_URL`,
//! `SHOPHOST_ADMIN_TOKEN`, `SHOPHOST_LISTEN`, `SHOPHOST_PUBLIC_URL`).
//!
//! Stage one is [`RawConfig`], a serde struct that refuses unknown keys and wrong types. Stage two,
//! [`Config::from_raw`], checks everything that needs the module registry (module ids, setting keys and
//! their types) and builds the validated [`Config`]. Every error names the file, the key and the reason,
//! and start-up stops on it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use shophost_module_api::{FieldKind, IpRange, SettingsValues};

use crate::registry::{Origin, Registry};

mod demo;
mod example;

use demo::check_demo_safety;
pub use demo::{DEMO_ADMIN_TOKEN, DEMO_CONFIG, DEMO_SOURCE, EXAMPLE_ADMIN_TOKEN};
pub use example::example;

/// A configuration error, naming the file, the key and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {key}: {reason}")]
pub struct ConfigError {
    /// The file (or `<built-in demo config>`).
    pub file: String,
    /// The dotted key path, e.g. `modules.settings.<module id>.<setting>`.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The shop's public base URL, used in return URLs sent to gateways.
    pub public_url: Option<String>,
    /// Proxies whose `X-Forwarded-For` is believed.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Largest notification body accepted, in bytes.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// A separate address serving `/metrics` without the admin token (for a scraper on a private
    /// network); on the shop's own address `/metrics` needs the admin token.
    pub metrics_listen: Option<String>,
}

/// `[database]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDatabase {
    /// `sqlite:PATH` or `postgres://…`.
    #[serde(default = "default_database_url")]
    pub url: String,
}

/// `[admin]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// Token for the admin API.
    pub token: Option<String>,
}

/// `[shop]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawShop {
    /// Shop name.
    #[serde(default = "default_shop_name")]
    pub name: String,
    /// Seed demo products, payment methods and a demo member on start-up.
    #[serde(default)]
    pub demo_data: bool,
    /// Shipping fee in yen added to every order.
    #[serde(default)]
    pub shipping: i64,
    /// Minutes after a success return without a notification before the attempt is flagged 要確認.
    #[serde(default = "default_unconfirmed_minutes")]
    pub unconfirmed_return_minutes: i64,
    /// Days after the payment deadline before an unpaid order is expired.
    #[serde(default)]
    pub expiry_grace_days: i64,
    /// Seconds between runs of the scheduled jobs.
    #[serde(default = "default_job_interval")]
    pub job_interval_seconds: u64,
}

/// `[sandbox]`: the bundled Remise sandbox, for demos and connection tests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSandbox {
    /// Start the sandbox with the shop.
    #[serde(default)]
    pub enabled: bool,
    /// Where it listens.
    #[serde(default = "default_sandbox_listen")]
    pub listen: String,
}

/// `[notifications]`: the gateway routes (`/index.php`, `/notify/*`) under abuse.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotifications {
    /// Requests per minute one source address may make to the gateway routes, sustained. Addresses a
    /// module allows for the endpoint are never limited.
    #[serde(default = "default_rate_per_minute")]
    pub rate_per_minute: u32,
    /// Requests one source address may make at once beyond that rate.
    #[serde(default = "default_rate_burst")]
    pub rate_burst: u32,
    /// Requests refused for their source address kept for a replay, per source address per hour
    /// (those naming a link key of an open checkout attempt are not counted against it).
    #[serde(default = "default_refused_per_source_per_hour")]
    pub refused_per_source_per_hour: u32,
    /// Bytes all kept refused requests may take; beyond it they are only counted.
    #[serde(default = "default_refused_max_bytes")]
    pub refused_max_bytes: u64,
}

/// `[retention]`: days after which the scheduled jobs remove what the shop no longer needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetention {
    /// Checkout attempts (決済直前ログ) that never became an order.
    #[serde(default = "default_attempts_days")]
    pub attempts_without_order_days: u32,
    /// 決済エラーログ lines.
    #[serde(default = "default_settlement_errors_days")]
    pub settlement_errors_days: u32,
    /// Storefront sessions after their last change.
    #[serde(default = "default_sessions_days")]
    pub sessions_days: u32,
    /// Notification journal bodies (the entry stays, its body is emptied and the time noted).
    #[serde(default = "default_journal_bodies_days")]
    pub journal_bodies_days: u32,
    /// Requests refused for their source address.
    #[serde(default = "default_refused_requests_days")]
    pub refused_requests_days: u32,
    /// Mail that was sent, failed or had no recipient (送信メール), by when it was queued; the message
    /// holds the shopper's details.
    #[serde(default = "default_mail_days")]
    pub mail_days: u32,
}

/// A dynamic module entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDynamicModule {
    /// Path of the shared library.
    pub path: PathBuf,
}

/// `[modules]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModules {
    /// Module ids in use, in order.
    #[serde(default)]
    pub in_use: Vec<String>,
    /// Each module's settings.
    #[serde(default)]
    pub settings: BTreeMap<String, toml::Table>,
    /// Modules loaded from shared libraries.
    #[serde(default)]
    pub dynamic: Vec<RawDynamicModule>,
}

/// The file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// `[server]`.
    #[serde(default = "default_server")]
    pub server: RawServer,
    /// `[database]`.
    #[serde(default = "default_database")]
    pub database: RawDatabase,
    /// `[admin]`.
    #[serde(default)]
    pub admin: RawAdmin,
    /// `[shop]`.
    #[serde(default = "default_shop")]
    pub shop: RawShop,
    /// `[sandbox]`.
    #[serde(default = "default_sandbox")]
    pub sandbox: RawSandbox,
    /// `[notifications]`.
    #[serde(default = "default_notifications")]
    pub notifications: RawNotifications,
    /// `[retention]`.
    #[serde(default = "default_retention")]
    pub retention: RawRetention,
    /// `[modules]`.
    #[serde(default)]
    pub modules: RawModules,
    /// `[mail]`.
    #[serde(default)]
    pub mail: crate::mail::settings::RawMail,
}

fn default_listen() -> String {
    "127.0.0.1:8080".to_owned()
}
fn default_max_body() -> usize {
    64 * 1024
}
fn default_database_url() -> String {
    "sqlite:shophost-data/shophost.db".to_owned()
}
fn default_shop_name() -> String {
    "shophost デモショップ".to_owned()
}
fn default_unconfirmed_minutes() -> i64 {
    10
}
fn default_job_interval() -> u64 {
    60
}
fn default_sandbox_listen() -> String {
    "127.0.0.1:8081".to_owned()
}
fn default_rate_per_minute() -> u32 {
    600
}
fn default_rate_burst() -> u32 {
    100
}
fn default_refused_per_source_per_hour() -> u32 {
    20
}
fn default_refused_max_bytes() -> u64 {
    16 * 1024 * 1024
}
fn default_attempts_days() -> u32 {
    90
}
fn default_settlement_errors_days() -> u32 {
    180
}
fn default_sessions_days() -> u32 {
    1
}
fn default_journal_bodies_days() -> u32 {
    365
}
fn default_refused_requests_days() -> u32 {
    30
}
fn default_mail_days() -> u32 {
    365
}
fn default_notifications() -> RawNotifications {
    RawNotifications {
        rate_per_minute: default_rate_per_minute(),
        rate_burst: default_rate_burst(),
        refused_per_source_per_hour: default_refused_per_source_per_hour(),
        refused_max_bytes: default_refused_max_bytes(),
    }
}
fn default_retention() -> RawRetention {
    RawRetention {
        attempts_without_order_days: default_attempts_days(),
        settlement_errors_days: default_settlement_errors_days(),
        sessions_days: default_sessions_days(),
        journal_bodies_days: default_journal_bodies_days(),
        refused_requests_days: default_refused_requests_days(),
        mail_days: default_mail_days(),
    }
}
fn default_server() -> RawServer {
    RawServer {
        listen: default_listen(),
        public_url: None,
        trusted_proxies: Vec::new(),
        max_body_bytes: default_max_body(),
        metrics_listen: None,
    }
}
fn default_database() -> RawDatabase {
    RawDatabase {
        url: default_database_url(),
    }
}
fn default_shop() -> RawShop {
    RawShop {
        name: default_shop_name(),
        demo_data: false,
        shipping: 0,
        unconfirmed_return_minutes: default_unconfirmed_minutes(),
        expiry_grace_days: 0,
        job_interval_seconds: default_job_interval(),
    }
}
fn default_sandbox() -> RawSandbox {
    RawSandbox {
        enabled: false,
        listen: default_sandbox_listen(),
    }
}

/// The validated configuration. Its `Debug` hides the secrets (admin token, the database URL's
/// password, module settings), so no log line can leak them.
#[derive(Clone)]
pub struct Config {
    /// Where it came from.
    pub source: String,
    /// Listen address.
    pub listen: SocketAddr,
    /// Public base URL without a trailing slash.
    pub public_url: String,
    /// Trusted proxies.
    pub trusted_proxies: Vec<IpRange>,
    /// Largest notification body.
    pub max_body_bytes: usize,
    /// Where `/metrics` is served without the admin token, if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    /// Database URL.
    pub database_url: String,
    /// Admin token (None: the admin API is closed).
    pub admin_token: Option<String>,
    /// Shop settings.
    pub shop: RawShop,
    /// Sandbox listen address, when enabled.
    pub sandbox: Option<SocketAddr>,
    /// Modules in use, in order.
    pub in_use: Vec<String>,
    /// Settings from the file, per module, as strings.
    pub module_settings: BTreeMap<String, SettingsValues>,
    /// Dynamic module paths.
    pub dynamic_modules: Vec<PathBuf>,
    /// Running the built-in demo configuration (loopback only; see [`DEMO_CONFIG`]).
    pub demo: bool,
    /// Rate limit and refused-request budget of the gateway routes.
    pub notifications: RawNotifications,
    /// Retention of what the jobs purge.
    pub retention: RawRetention,
    /// `[mail]`: the settings until the operator saves others, and the delivery worker's timing.
    pub mail: crate::mail::settings::MailConfig,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("source", &self.source)
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("trusted_proxies", &self.trusted_proxies)
            .field(
                "database_url",
                &crate::serve::redact_url(&self.database_url),
            )
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "********"),
            )
            .field("in_use", &self.in_use)
            .field("module_settings", &"(not shown)")
            .field("demo", &self.demo)
            .field("mail", &self.mail)
            .finish_non_exhaustive()
    }
}

impl RawConfig {
    /// Parses TOML text; errors name `file`.
    pub fn parse(text: &str, file: &str) -> Result<RawConfig, ConfigError> {
        toml::from_str(text).map_err(|error| {
            let key = error_key(text, &error);
            ConfigError {
                file: file.to_owned(),
                key,
                reason: error.message().trim().to_owned(),
            }
        })
    }

    /// Reads and parses a file.
    pub fn read(path: &Path) -> Result<RawConfig, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError {
            file: file.clone(),
            key: "(file)".to_owned(),
            reason: format!("cannot read the file: {error}"),
        })?;
        RawConfig::parse(&text, &file)
    }
}

/// The dotted key a TOML error is about, from its span (the line's key, or the table header above it).
fn error_key(text: &str, error: &toml::de::Error) -> String {
    let Some(span) = error.span() else {
        return "(document)".to_owned();
    };
    let before = &text[..span.start.min(text.len())];
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line_end = text[line_start..]
        .find('\n')
        .map(|i| line_start + i)
        .unwrap_or(text.len());
    let line = text[line_start..line_end].trim();
    let header = |l: &str| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned();
    let table = if line.starts_with('[') {
        Some(header(line))
    } else {
        text[..line_start]
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.starts_with('['))
            .map(header)
    };
    let line_key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_owned())
        .filter(|k| !k.is_empty() && !line.starts_with('['));
    let line_number = before.matches('\n').count() + 1;
    match (table, line_key) {
        (Some(table), Some(key)) => format!("{table}.{key} (line {line_number})"),
        (None, Some(key)) => format!("{key} (line {line_number})"),
        (Some(table), None) => format!("{table} (line {line_number})"),
        (None, None) => format!("line {line_number}"),
    }
}

impl Config {
    /// Builds the validated config from the raw file, the module registry and the environment.
    pub fn from_raw(
        raw: RawConfig,
        source: &str,
        registry: &Registry,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let err = |key: &str, reason: String| ConfigError {
            file: source.to_owned(),
            key: key.to_owned(),
            reason,
        };
        let listen_text = env("SHOPHOST_LISTEN").unwrap_or(raw.server.listen.clone());
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            err(
                "server.listen",
                format!("`{listen_text}` is not an address like 127.0.0.1:8080"),
            )
        })?;
        let public_url = env("SHOPHOST_PUBLIC_URL")
            .or(raw.server.public_url.clone())
            .unwrap_or_else(|| format!("http://{listen}"));
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(err(
                "server.public_url",
                format!("`{public_url}` must start with http:// or https://"),
            ));
        }
        let public_url = public_url.trim_end_matches('/').to_owned();
        let trusted_proxies = raw
            .server
            .trusted_proxies
            .iter()
            .map(|p| p.parse::<IpRange>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|reason| err("server.trusted_proxies", reason))?;
        if raw.server.max_body_bytes < 1024 {
            return Err(err(
                "server.max_body_bytes",
                "must be at least 1024".to_owned(),
            ));
        }
        let metrics_listen = raw
            .server
            .metrics_listen
            .as_deref()
            .map(|text| {
                text.parse::<SocketAddr>().map_err(|_| {
                    err(
                        "server.metrics_listen",
                        format!("`{text}` is not an address like 127.0.0.1:9100"),
                    )
                })
            })
            .transpose()?;
        let database_url = env("SHOPHOST_DATABASE_URL").unwrap_or(raw.database.url.clone());
        crate::db::Backend::for_url(&database_url).map_err(|reason| err("database.url", reason))?;
        let admin_token = env("SHOPHOST_ADMIN_TOKEN")
            .or(raw.admin.token.clone())
            .filter(|t| !t.is_empty());
        if let Some(token) = &admin_token {
            if token.len() < 12 {
                return Err(err(
                    "admin.token",
                    "must be at least 12 characters".to_owned(),
                ));
            }
        }
        if raw.shop.shipping < 0 {
            return Err(err("shop.shipping", "must not be negative".to_owned()));
        }
        if raw.shop.unconfirmed_return_minutes < 1 {
            return Err(err(
                "shop.unconfirmed_return_minutes",
                "must be at least 1".to_owned(),
            ));
        }
        if raw.shop.expiry_grace_days < 0 {
            return Err(err(
                "shop.expiry_grace_days",
                "must not be negative".to_owned(),
            ));
        }
        if raw.notifications.rate_per_minute < 1 {
            return Err(err(
                "notifications.rate_per_minute",
                "must be at least 1".to_owned(),
            ));
        }
        if raw.notifications.rate_burst < 1 {
            return Err(err(
                "notifications.rate_burst",
                "must be at least 1".to_owned(),
            ));
        }
        let retention = &raw.retention;
        for (key, days) in [
            (
                "retention.attempts_without_order_days",
                retention.attempts_without_order_days,
            ),
            (
                "retention.settlement_errors_days",
                retention.settlement_errors_days,
            ),
            ("retention.sessions_days", retention.sessions_days),
            (
                "retention.journal_bodies_days",
                retention.journal_bodies_days,
            ),
            (
                "retention.refused_requests_days",
                retention.refused_requests_days,
            ),
            ("retention.mail_days", retention.mail_days),
        ] {
            if days < 1 {
                return Err(err(
                    key,
                    "must be at least 1 (to keep longer, give more days)".to_owned(),
                ));
            }
        }
        let sandbox = if raw.sandbox.enabled {
            Some(raw.sandbox.listen.parse::<SocketAddr>().map_err(|_| {
                err(
                    "sandbox.listen",
                    format!(
                        "`{}` is not an address like 127.0.0.1:8081",
                        raw.sandbox.listen
                    ),
                )
            })?)
        } else {
            None
        };
        let demo = source == DEMO_SOURCE;
        check_demo_safety(
            demo,
            listen,
            sandbox,
            raw.shop.demo_data,
            admin_token.as_deref(),
        )
        .map_err(|(key, reason)| err(key, reason))?;
        let mut seen = Vec::new();
        for (index, id) in raw.modules.in_use.iter().enumerate() {
            if registry.get(id).is_none() {
                return Err(err(
                    &format!("modules.in_use[{index}]"),
                    format!(
                        "unknown module `{id}` (registered: {})",
                        registry.ids().join(", ")
                    ),
                ));
            }
            if seen.contains(id) {
                return Err(err(
                    &format!("modules.in_use[{index}]"),
                    format!("module `{id}` is listed twice"),
                ));
            }
            seen.push(id.clone());
        }
        let mut module_settings = BTreeMap::new();
        for (id, table) in &raw.modules.settings {
            let key = format!("modules.settings.{id}");
            let module = registry.get(id).ok_or_else(|| {
                err(
                    &key,
                    format!(
                        "unknown module `{id}` (registered: {})",
                        registry.ids().join(", ")
                    ),
                )
            })?;
            let schema = module.module.settings_schema();
            let mut values = SettingsValues::new();
            for (name, value) in table {
                let key = format!("{key}.{name}");
                let field = schema.field(name).ok_or_else(|| {
                    let known: Vec<&str> = schema.fields.iter().map(|f| f.key.as_str()).collect();
                    err(
                        &key,
                        format!("unknown setting (known: {})", known.join(", ")),
                    )
                })?;
                let text = setting_text(&field.kind, value).map_err(|reason| err(&key, reason))?;
                values.insert(name.clone(), text);
            }
            module_settings.insert(id.clone(), values);
        }
        let mail = raw
            .mail
            .validate(&raw.shop.name)
            .map_err(|problem| err(&format!("mail.{}", problem.key), problem.message))?;
        Ok(Config {
            mail,
            source: source.to_owned(),
            listen,
            public_url,
            trusted_proxies,
            max_body_bytes: raw.server.max_body_bytes,
            metrics_listen,
            database_url,
            admin_token,
            shop: raw.shop,
            sandbox,
            in_use: raw.modules.in_use,
            module_settings,
            dynamic_modules: raw.modules.dynamic.into_iter().map(|d| d.path).collect(),
            demo,
            notifications: raw.notifications,
            retention: raw.retention,
        })
    }
}

/// A TOML value as the string a settings field holds, checking its type against the field's kind.
pub fn setting_text(kind: &FieldKind, value: &toml::Value) -> Result<String, String> {
    match (kind, value) {
        (FieldKind::OnOff, toml::Value::Boolean(b)) => Ok(if *b { "on" } else { "off" }.to_owned()),
        (FieldKind::OnOff, toml::Value::String(s)) if s == "on" || s == "off" => Ok(s.clone()),
        (FieldKind::OnOff, other) => Err(format!(
            "expected true/false (or \"on\"/\"off\"), found {}",
            other.type_str()
        )),
        (FieldKind::Digits, toml::Value::Integer(i)) if *i >= 0 => Ok(i.to_string()),
        (FieldKind::Digits, toml::Value::String(s)) => Ok(s.clone()),
        (FieldKind::Digits, other) => Err(format!(
            "expected a non-negative integer or a string of digits, found {}",
            other.type_str()
        )),
        (_, toml::Value::String(s)) => Ok(s.clone()),
        (FieldKind::Text, toml::Value::Array(items))
        | (FieldKind::Url, toml::Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| "expected a list of strings".to_owned())
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|parts| parts.join(" ")),
        (_, other) => Err(format!("expected a string, found {}", other.type_str())),
    }
}
