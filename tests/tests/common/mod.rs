//! The end-to-end harness: a shop and a Remise sandbox on real sockets, and the few helpers every
//! test needs to play shopper, gateway and operator over HTTP.
//!
//! Each test starts its own shop (with its own database: a fresh SQLite file, or a fresh schema on the
//! PostgreSQL server named by `SHOPHOST_TEST_PG_URL`) and its own sandbox, both on `127.0.0.1:0`, so
//! tests run in parallel without sharing state. Everything goes through the wire the way Remise and a
//! browser would use it: Shift_JIS form bodies in and out, the sandbox's hidden inputs read back from
//! its HTML, and the shop's state read back through its admin API.

#![allow(dead_code)] // Each test binary uses a different subset.

pub mod host_process;
mod shop;
pub mod smtp;
mod wire;

// Not every test binary uses each of them.
#[allow(unused_imports)]
pub use shop::{OrderDetail, Shop};
#[allow(unused_imports)]
pub use wire::*;

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use encoding_rs::SHIFT_JIS;
use percent_encoding::{percent_decode, percent_encode, AsciiSet, NON_ALPHANUMERIC};
use remise_sandbox::{Sandbox, SandboxConfig, Transaction};
use serde_json::{json, Value};
use shophost::registry::{Origin, RegisteredModule, Registry};
use shophost::AppState;
use shophost_module_api::PaymentModule;

/// The admin API token of every test shop.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
/// Remise's acknowledgement, byte for byte.
pub const ACK: &str = "<SDBKDATA>STATUS=800</SDBKDATA>";
/// The acknowledgement for a notification carrying `CARIER_TYPE`.
pub const ACK_MOBILE: &str = "<SDBKDATA>STATUS=900</SDBKDATA>";
/// The card settlement type.
pub const CARD: &str = "acting_remise_card";
/// The multi-payment settlement type.
pub const CONV: &str = "acting_remise_conv";
/// A card the sandbox approves.
pub const CARD_OK: &str = remise_sandbox::TEST_CARD_VISA;
/// A card the sandbox declines with `G12`.
pub const CARD_NG: &str = remise_sandbox::TEST_CARD_DECLINED;
/// The demo member.
pub const MEMBER: (&str, &str) = ("demo@example.invalid", "demo");
/// The expiry typed for every test card, `MM/YY`: December two years from now (in Asia/Tokyo, where
/// the sandbox decides whether a card has expired), so the tests never run into a card that the sandbox
/// declines as expired, whatever year they run in.
pub fn card_expiry() -> String {
    let (month, year) = card_expiry_month_year();
    format!("{month:02}/{:02}", year % 100)
}

/// [`card_expiry`] as Remise's `X-EXPIRE` spells it, `MMYY`.
pub fn card_expiry_mmyy() -> String {
    card_expiry().replace('/', "")
}

fn card_expiry_month_year() -> (u8, i32) {
    let tokyo = time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+9));
    (12, tokyo.year() + 2)
}

/// Product 1 of the demo catalogue (有田焼 マグカップ) costs this much; the default cart is one of it.
pub const MUG_PRICE: i64 = 3990;

/// Where the shop keeps its data.
#[derive(Debug, Clone)]
pub enum Database {
    /// A fresh SQLite file in a temporary directory.
    Sqlite,
    /// A fresh schema on this PostgreSQL server.
    Postgres(String),
}

impl Database {
    /// `sqlite` or `postgres`, as the store names itself.
    pub fn name(&self) -> &'static str {
        match self {
            Database::Sqlite => "sqlite",
            Database::Postgres(_) => "postgres",
        }
    }
}

/// How to start a test shop.
#[derive(Debug, Clone)]
pub struct Options {
    /// `card_jb`: `CAPTURE` or `AUTH`.
    pub card_job: &'static str,
    /// `notify_sources_test`.
    pub notify_sources: Vec<&'static str>,
    /// `shop.demo_data`: products, the two payment methods and the demo member. Without it only the
    /// products are put in (through the store), so payment methods start empty.
    pub demo_data: bool,
    /// The database.
    pub database: Database,
    /// The sandbox's delivery attempts made while the shopper waits.
    pub inline_attempts: u32,
    /// The sandbox's delivery attempts in all.
    pub max_attempts: u32,
    /// `server.max_body_bytes`.
    pub max_body_bytes: usize,
    /// Builds a module that stands in for Remise under its id (Remise with a fault put in); `None`
    /// for Remise itself.
    pub stand_in: Option<fn() -> Box<dyn PaymentModule>>,
    /// More of the config file, appended as it is (e.g. a `[notifications]` table).
    pub extra_config: &'static str,
    /// The config file's `modules.in_use`, as TOML.
    pub in_use: &'static str,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            card_job: "CAPTURE",
            notify_sources: vec!["127.0.0.1/32"],
            demo_data: true,
            database: Database::Sqlite,
            inline_attempts: 3,
            max_attempts: 5,
            max_body_bytes: 64 * 1024,
            stand_in: None,
            extra_config: "",
            in_use: r#"["remise"]"#,
        }
    }
}

/// What to clean up after a test.
enum Scratch {
    Directory(PathBuf),
    Schema { server_url: String, schema: String },
}

/// A name nobody else uses: random bits, the process id and a counter.
pub fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let random = RandomState::new().hash_one(count);
    format!("{random:016x}{}{count}", std::process::id())
}

/// The PostgreSQL server to run the backend-generic tests on, by the rule CI relies on: the URL in
/// `SHOPHOST_TEST_PG_URL`; none outside CI; and in CI (`CI` set) a missing URL is an error, so a
/// misconfigured pipeline cannot pass by running SQLite only.
///
/// A test that gets `None` returns early and is reported as passed, so the skip is made visible: it is
/// said on stderr, and the test's name is added to the file named by `SHOPHOST_TEST_PG_SKIPPED`
/// (`scripts/test` sets it and sums the skips up at the end).
pub fn postgres_url() -> Option<String> {
    match std::env::var("SHOPHOST_TEST_PG_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => panic!(
            "CI is set but SHOPHOST_TEST_PG_URL is not: the PostgreSQL tests must run in CI \
             (e.g. SHOPHOST_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/test)"
        ),
        _ => {
            note_postgres_skip();
            None
        }
    }
}

/// Says that the current PostgreSQL test did not run, on stderr and in `SHOPHOST_TEST_PG_SKIPPED`.
fn note_postgres_skip() {
    // The test harness names each test's thread after the test.
    let thread = std::thread::current();
    let name = format!(
        "{}::{}",
        env!("CARGO_CRATE_NAME"),
        thread.name().unwrap_or("?")
    );
    eprintln!("PostgreSQL SKIPPED: {name} did not run (SHOPHOST_TEST_PG_URL is not set)");
    if let Some(path) = std::env::var_os("SHOPHOST_TEST_PG_SKIPPED") {
        use std::io::Write;
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut file| file.write_all(format!("{name}\n").as_bytes()));
        if let Err(error) = written {
            panic!("cannot note the PostgreSQL skip in {path:?}: {error}");
        }
    }
}

/// Creates a fresh schema on the PostgreSQL server at `server_url`; returns a database URL whose
/// connections work in it (`search_path`), and the schema's name.
pub async fn fresh_postgres_schema(server_url: &str) -> anyhow::Result<(String, String)> {
    let schema = format!("t_{}", unique_name());
    let pool = sqlx::PgPool::connect(server_url)
        .await
        .with_context(|| format!("cannot connect to {server_url}"))?;
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&pool)
        .await?;
    pool.close().await;
    let separator = if server_url.contains('?') { '&' } else { '?' };
    let url = format!("{server_url}{separator}options=-csearch_path%3D{schema}");
    Ok((url, schema))
}

/// Drops a schema made by [`fresh_postgres_schema`] (best effort: it is only clean-up).
pub async fn drop_postgres_schema(server_url: &str, schema: &str) {
    if let Ok(pool) = sqlx::PgPool::connect(server_url).await {
        let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .execute(&pool)
            .await;
        pool.close().await;
    }
}

/// The customer every test checks out as.
pub fn customer() -> Value {
    json!({
        "email": "taro@example.jp",
        "family_name": "山田",
        "given_name": "太郎",
        "family_kana": "ヤマダ",
        "given_kana": "タロウ",
        "postcode": "100-0001",
        "prefecture": "東京都",
        "address1": "千代田区千代田",
        "address2": "1-1",
        "address3": "",
        "phone": "03-1234-5678",
    })
}

/// What the shopper does on the card page.
#[derive(Debug, Clone, Copy)]
pub enum CardEntry<'a> {
    /// Types this card number (expiry [`card_expiry`]).
    Number(&'a str),
    /// Pays with the card PayQuick keeps.
    Saved,
}

/// The form the shop hands the browser for Remise.
#[derive(Debug, Clone)]
pub struct GatewayForm {
    /// Where it posts.
    pub url: String,
    /// The fields, in order.
    pub fields: Vec<(String, String)>,
}

impl GatewayForm {
    /// The value of a field.
    pub fn field(&self, name: &str) -> Option<&str> {
        field(&self.fields, name)
    }
}

/// The sandbox's page that sends the browser back to the shop (`<form id="return">`).
#[derive(Debug, Clone)]
pub struct ReturnForm {
    /// `RETURL` or `NG_RETURL`.
    pub action: String,
    /// The hidden `X-` fields.
    pub fields: Vec<(String, String)>,
    /// The page's text.
    pub page: String,
}

impl ReturnForm {
    /// Reads the return form from a sandbox page; panics when there is none.
    pub fn from_page(page: &Page) -> ReturnForm {
        let text = page.text();
        assert_eq!(page.status, 200, "sandbox page: {text}");
        let (action, fields) =
            form_by_id(&text, "return").unwrap_or_else(|| panic!("no return form in {text}"));
        ReturnForm {
            action,
            fields,
            page: text,
        }
    }

    /// The value of a field.
    pub fn field(&self, name: &str) -> Option<&str> {
        field(&self.fields, name)
    }
}

/// The value of the first field called `name`.
pub fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct Page {
    /// Status.
    pub status: u16,
    /// `Location`, for redirects.
    pub location: Option<String>,
    /// `Content-Type`.
    pub content_type: String,
    /// Body.
    pub bytes: Vec<u8>,
}

impl Page {
    async fn read(response: reqwest::Result<reqwest::Response>, url: &str) -> Page {
        let response = match response {
            Ok(response) => response,
            Err(error) => panic!("request to {url} failed: {error:?}"),
        };
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let status = response.status().as_u16();
        let location = header("location");
        let content_type = header("content-type").unwrap_or_default();
        let bytes = response
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("reading {url}: {e}"))
            .to_vec();
        Page {
            status,
            location,
            content_type,
            bytes,
        }
    }

    /// The body as text, decoded in the charset the response declares (Shift_JIS or UTF-8).
    pub fn text(&self) -> String {
        if self.content_type.to_ascii_lowercase().contains("shift_jis") {
            SHIFT_JIS.decode(&self.bytes).0.into_owned()
        } else {
            String::from_utf8_lossy(&self.bytes).into_owned()
        }
    }

    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

// -- crafted gateway messages -----------------------------------------------------------------------

/// The fields of a card result notification for an approved payment, as the sandbox sends them.
pub fn card_success(link_key: &str, transaction_id: &str, total: i64) -> Vec<(String, String)> {
    let total = total.to_string();
    let expiry = card_expiry_mmyy();
    pairs(&[
        ("X-TRANID", transaction_id),
        ("X-S_TORIHIKI_NO", link_key),
        ("X-AMOUNT", &total),
        ("X-TAX", "0"),
        ("X-TOTAL", &total),
        ("X-REFAPPROVED", "1234567"),
        ("X-REFFORWARDED", "UFJ"),
        ("X-REFGATEWAYNO", "01"),
        ("X-ERRCODE", "   "),
        ("X-ERRINFO", "000000000"),
        ("X-ERRLEVEL", "0"),
        ("X-R_CODE", "0:0000"),
        ("X-PARTOFCARD", "1111"),
        ("X-EXPIRE", &expiry),
        ("X-CARDBRAND", "VISA"),
        ("X-NAME", "TARO YAMADA"),
        ("REC_TYPE", "RET"),
    ])
}

/// A 収納情報通知 (receipt) for a link key.
pub fn conv_receipt(link_key: &str, flag: &str, total: i64) -> Vec<(String, String)> {
    pairs(&[
        ("S_TORIHIKI_NO", link_key),
        ("REC_FLG", flag),
        ("JOB_ID", "20260101123456789"),
        ("TOTAL", &total.to_string()),
        ("TAX", "0"),
        ("REC_CVSCODE", "D001"),
        ("REC_CVSNAME", "セブン-イレブン"),
        ("RECDATE", "20260101120000"),
    ])
}

/// An issuance result (番号発行) for a link key with this deadline (`YYYYMMDD`).
pub fn conv_issued(
    link_key: &str,
    job_id: &str,
    total: i64,
    deadline: &str,
) -> Vec<(String, String)> {
    pairs(&[
        ("X-JOB_ID", job_id),
        ("X-S_TORIHIKI_NO", link_key),
        ("X-R_CODE", "0:0000"),
        ("X-TOTAL", &total.to_string()),
        ("X-TAX", "0"),
        ("X-PAYDATE", deadline),
        ("X-PAY_WAY", "001"),
        ("X-PAY_CSV", "D001"),
        ("X-PAY_NO1", "1234567890123"),
        ("X-PAY_NO2", "http://sandbox.invalid/slip/1"),
        ("REC_TYPE", "RET"),
    ])
}

/// Owned pairs from borrowed ones.
pub fn pairs(fields: &[(&str, &str)]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Replaces (or adds) a field.
pub fn with(mut fields: Vec<(String, String)>, name: &str, value: &str) -> Vec<(String, String)> {
    match fields.iter_mut().find(|(k, _)| k == name) {
        Some(slot) => slot.1 = value.to_owned(),
        None => fields.push((name.to_owned(), value.to_owned())),
    }
    fields
}

/// A base URL (`http://127.0.0.1:<port>`) whose server hangs up on every connection without an
/// answer, standing in for a wrong notification URL. The port stays ours for the whole test, so no
/// other test's server can take it over.
pub async fn hang_up_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((connection, _)) = listener.accept().await {
            drop(connection);
        }
    });
    format!("http://{address}")
}

// -- helpers for the robustness tests (no_loss, db_down, two_hosts, malformed) ----------------------

/// The config file the harness gives its in-process shops, for a shop run as a separate `shophost`
/// process: listening on `shop`, with its data at `database_url`. Nothing listens at the sandbox
/// address the Remise settings name; these shops only receive crafted notifications.
pub fn child_config_text(options: &Options, shop: SocketAddr, database_url: &str) -> String {
    let nowhere: SocketAddr = ([127, 0, 0, 1], 9).into();
    shop::config_text(options, shop, nowhere, database_url)
}

/// How many journal entries for a link key have each verdict (`accepted`, `duplicate`, `rejected`).
pub async fn journal_verdicts(
    state: &AppState,
    link_key: &str,
) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for entry in state
        .store
        .journal(Some(link_key), 100_000)
        .await
        .expect("read the journal")
    {
        *counts.entry(entry.verdict).or_insert(0) += 1;
    }
    counts
}

/// `[(verdict, count), …]` as a map, for comparing with [`journal_verdicts`].
pub fn verdicts(expected: &[(&str, usize)]) -> std::collections::BTreeMap<String, usize> {
    expected
        .iter()
        .filter(|(_, count)| *count > 0)
        .map(|(verdict, count)| ((*verdict).to_owned(), *count))
        .collect()
}
