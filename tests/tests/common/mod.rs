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
pub mod smtp;

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

/// A running shop, its sandbox and an HTTP client that does not follow redirects (so tests see where
/// the shop sends the browser).
pub struct Shop {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The shop's state, for the few checks the HTTP API does not expose (a member's stored card).
    pub state: AppState,
    /// The sandbox.
    pub sandbox: Sandbox,
    /// `http://127.0.0.1:<port>` of the sandbox.
    pub sandbox_base: String,
    /// The client.
    pub http: reqwest::Client,
    scratch: Scratch,
    options: Options,
    sandbox_addr: SocketAddr,
    database_url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Shop {
    fn drop(&mut self) {
        if let Scratch::Directory(dir) = &self.scratch {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Serves the shop until the sender is used (or dropped): then its requests in flight finish and its
/// keep-alive connections close.
fn serve_until_stopped(
    state: AppState,
    listener: tokio::net::TcpListener,
) -> tokio::sync::oneshot::Sender<()> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(shophost::http::server::serve(
        listener,
        shophost::http::router(state),
        async move {
            let _ = stopped.await;
        },
        Duration::from_secs(5),
    ));
    stop
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

/// The shop's config file for a test.
fn config_text(
    options: &Options,
    shop: SocketAddr,
    sandbox: SocketAddr,
    database_url: &str,
) -> String {
    let sources: Vec<String> = options
        .notify_sources
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect();
    format!(
        r#"[server]
listen = "{shop}"
public_url = "http://{shop}"
max_body_bytes = {max_body}

[database]
url = "{database_url}"

[admin]
token = "{ADMIN_TOKEN}"

[shop]
name = "テストショップ"
demo_data = {demo}
job_interval_seconds = 3600

[sandbox]
enabled = false

[modules]
in_use = {in_use}

[modules.settings.remise]
SHOPCO = "TESTSHOP"
HOSTID = "12345678"
card_activate = true
card_jb = "{job}"
payquick = true
howpay = "on"
continuation = true
card_pc_ope = "test"
send_url_pc_test = "http://{sandbox}/rpgw2/pc/card/paycard.aspx"
conv_activate = true
S_PAYDATE = 14
conv_pc_ope = "test"
send_url_cvs_pc_test = "http://{sandbox}/rpgw2/pc/cvs/paycvs.aspx"
notify_sources_test = [{sources}]

{extra}
"#,
        max_body = options.max_body_bytes,
        demo = options.demo_data,
        job = options.card_job,
        sources = sources.join(", "),
        extra = options.extra_config,
        in_use = options.in_use,
    )
}

impl Shop {
    /// A shop with the default options (SQLite, CAPTURE, demo data).
    pub async fn start() -> Shop {
        Shop::start_with(Options::default()).await
    }

    /// A shop with these options; panics with the cause when it cannot start.
    pub async fn start_with(options: Options) -> Shop {
        match Shop::try_start(options).await {
            Ok(shop) => shop,
            Err(error) => panic!("the test shop did not start: {error:#}"),
        }
    }

    async fn try_start(options: Options) -> anyhow::Result<Shop> {
        let shop_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let sandbox_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let shop_addr = shop_listener.local_addr()?;
        let sandbox_addr = sandbox_listener.local_addr()?;
        let base = format!("http://{shop_addr}");

        let (database_url, scratch) = match &options.database {
            Database::Sqlite => {
                let dir = std::env::temp_dir().join(format!("shophost-test-{}", unique_name()));
                std::fs::create_dir_all(&dir)?;
                let url = format!("sqlite:{}", dir.join("shop.db").display());
                (url, Scratch::Directory(dir))
            }
            Database::Postgres(server_url) => {
                let (url, schema) = fresh_postgres_schema(server_url).await?;
                let scratch = Scratch::Schema {
                    server_url: server_url.clone(),
                    schema,
                };
                (url, scratch)
            }
        };

        let registry = match options.stand_in {
            None => shophost::bundled::registry(vec![])?,
            Some(build) => {
                let module: Arc<dyn PaymentModule> = Arc::from(build());
                let stand_in = RegisteredModule {
                    id: module.id().to_owned(),
                    display_name: module.display_name().to_owned(),
                    origin: Origin::CompiledIn,
                    module,
                };
                Registry::build(std::iter::empty(), vec![stand_in])?
            }
        };
        let text = config_text(&options, shop_addr, sandbox_addr, &database_url);
        let config = shophost::serve::config_from_toml(&text, &registry)?;
        let state = shophost::serve::build_state(config, registry).await?;
        if state.store.backend() != options.database.name() {
            bail!(
                "asked for {} but the shop runs on {}",
                options.database.name(),
                state.store.backend()
            );
        }
        if !options.demo_data {
            for (sku, name, price) in [
                ("SKU001", "有田焼 マグカップ", 3990),
                ("SKU002", "今治タオル ハンカチ", 1100),
                ("SKU003", "南部鉄器 急須", 12800),
                ("SKU004", "京都 宇治抹茶 30g", 1620),
            ] {
                state.store.ensure_product(sku, name, price, "").await?;
            }
        }
        let stop = serve_until_stopped(state.clone(), shop_listener);

        let sandbox = Sandbox::new(SandboxConfig {
            card_notify_url: format!("{base}/index.php?acting=remise_card"),
            conv_notify_url: format!("{base}/index.php?acting=remise_conv"),
            shops: Vec::new(),
            inline_attempts: options.inline_attempts,
            max_attempts: options.max_attempts,
            retry_base: Duration::from_millis(20),
        });
        tokio::spawn(sandbox.clone().serve(sandbox_listener));

        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Shop {
            base,
            state,
            sandbox,
            sandbox_base: format!("http://{sandbox_addr}"),
            http,
            scratch,
            options,
            sandbox_addr,
            database_url,
            stop: Some(stop),
        })
    }

    /// Stops the shop (its requests in flight finish, its database is closed) and starts it again on
    /// the same database with the config file's `modules.in_use` set to `in_use` (TOML), on a new port
    /// the sandbox's notifications are pointed at.
    pub async fn restart_with_in_use(&mut self, in_use: &'static str) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.state.store.close().await;
        self.options.in_use = in_use;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let registry = shophost::bundled::registry(vec![]).expect("registry");
        let text = config_text(&self.options, addr, self.sandbox_addr, &self.database_url);
        let config = shophost::serve::config_from_toml(&text, &registry).expect("config");
        let state = match shophost::serve::build_state(config, registry).await {
            Ok(state) => state,
            Err(error) => panic!("the test shop did not start again: {error:#}"),
        };
        self.stop = Some(serve_until_stopped(state.clone(), listener));
        self.state = state;
        self.base = format!("http://{addr}");
        self.restore_notify_urls();
    }

    /// Drops the PostgreSQL schema (a SQLite directory goes on drop).
    pub async fn finish(self) {
        if let Scratch::Schema { server_url, schema } = &self.scratch {
            drop_postgres_schema(server_url, schema).await;
        }
    }

    /// The shop's notification URL for `acting`.
    pub fn notify_url(&self, acting: &str) -> String {
        format!("{}/index.php?acting={acting}", self.base)
    }

    /// Points the sandbox's notifications at the shop again.
    pub fn restore_notify_urls(&self) {
        self.sandbox.set_notify_urls(
            self.notify_url("remise_card"),
            self.notify_url("remise_conv"),
        );
    }

    // -- plain HTTP -----------------------------------------------------------------------------

    /// GET a URL (absolute, or a path on the shop).
    pub async fn get(&self, url: &str) -> Page {
        let url = self.absolute(url);
        Page::read(self.http.get(&url).send().await, &url).await
    }

    /// POST a JSON body.
    pub async fn post_json(&self, url: &str, body: &Value) -> Page {
        let url = self.absolute(url);
        let request = self
            .http
            .post(&url)
            .header("content-type", "application/json")
            .body(body.to_string());
        Page::read(request.send().await, &url).await
    }

    /// POST a form encoded in Shift_JIS, as Remise and a browser on a Shift_JIS page do.
    pub async fn post_sjis<K: AsRef<str>, V: AsRef<str>>(
        &self,
        url: &str,
        fields: &[(K, V)],
    ) -> Page {
        self.post_raw(
            url,
            "application/x-www-form-urlencoded; charset=Shift_JIS",
            sjis_form(fields),
        )
        .await
    }

    /// POST these bytes with this content type.
    pub async fn post_raw(&self, url: &str, content_type: &str, body: Vec<u8>) -> Page {
        let url = self.absolute(url);
        let request = self
            .http
            .post(&url)
            .header("content-type", content_type)
            .body(body);
        Page::read(request.send().await, &url).await
    }

    pub fn absolute(&self, url: &str) -> String {
        if url.starts_with("http://") {
            url.to_owned()
        } else {
            format!("{}{url}", self.base)
        }
    }

    // -- the admin API ----------------------------------------------------------------------------

    /// An admin API call; returns the status and the JSON body (null when empty).
    pub async fn admin(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let url = format!("{}/admin/api{path}", self.base);
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .http
            .request(method, &url)
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let page = Page::read(request.send().await, &url).await;
        let value = if page.bytes.is_empty() {
            Value::Null
        } else {
            page.json()
        };
        (page.status, value)
    }

    /// `/metrics` as the operator's scraper reads it (with the admin token).
    pub async fn metrics(&self) -> String {
        let url = format!("{}/metrics", self.base);
        let request = self
            .http
            .get(&url)
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"));
        let page = Page::read(request.send().await, &url).await;
        assert_eq!(page.status, 200, "GET /metrics: {}", page.text());
        page.text()
    }

    /// An admin GET that must succeed.
    pub async fn admin_get(&self, path: &str) -> Value {
        let (status, value) = self.admin("GET", path, None).await;
        assert_eq!(status, 200, "GET /admin/api{path}: {value}");
        value
    }

    /// The order for a link key, if there is one.
    pub async fn order(&self, link_key: &str) -> Option<Value> {
        let list = self
            .admin_get(&format!("/orders?link_key={link_key}"))
            .await;
        let orders = list["orders"].as_array().expect("orders").clone();
        assert!(orders.len() <= 1, "one order per link key: {list}");
        orders.into_iter().next()
    }

    /// The order for a link key with its history and payment-event count; panics when there is none.
    pub async fn order_detail(&self, link_key: &str) -> OrderDetail {
        let order = self
            .order(link_key)
            .await
            .unwrap_or_else(|| panic!("no order for link key {link_key}"));
        let number = order["order_number"]
            .as_str()
            .expect("order number")
            .to_owned();
        let detail = self.admin_get(&format!("/orders/{number}")).await;
        OrderDetail {
            status: detail["order"]["payment_status"]
                .as_str()
                .expect("status")
                .to_owned(),
            label: detail["order"]["payment_status_label"]
                .as_str()
                .expect("label")
                .to_owned(),
            history: detail["history"]
                .as_array()
                .expect("history")
                .iter()
                .map(|entry| {
                    (
                        entry["to_status"].as_str().unwrap_or("").to_owned(),
                        entry["reason"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect(),
            events: detail["payment_events"].as_i64().expect("events"),
            number,
            order: detail["order"].clone(),
        }
    }

    /// The journal entries for a link key, oldest first.
    pub async fn journal(&self, link_key: &str) -> Vec<Value> {
        let list = self
            .admin_get(&format!("/journal?link_key={link_key}"))
            .await;
        let mut entries = list["entries"].as_array().expect("entries").clone();
        entries.reverse();
        entries
    }

    /// The 決済エラーログ entries for a link key, oldest first.
    pub async fn settlement_errors(&self, link_key: &str) -> Vec<Value> {
        let list = self.admin_get("/settlement-errors").await;
        let mut errors: Vec<Value> = list["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .filter(|e| e["link_key"].as_str() == Some(link_key))
            .cloned()
            .collect();
        errors.reverse();
        errors
    }

    /// The stored attempt (決済直前ログ) for a link key.
    pub async fn attempt(&self, link_key: &str) -> Value {
        self.admin_get(&format!("/attempts/{link_key}")).await["attempt"].clone()
    }

    // -- checkout ----------------------------------------------------------------------------------

    /// The id of the active payment method of a settlement type, as the checkout API lists it.
    pub async fn method_id(&self, settlement_type: &str) -> i64 {
        let page = self.get("/api/payment-methods").await;
        let list = page.json();
        list["payment_methods"]
            .as_array()
            .expect("methods")
            .iter()
            .find(|m| m["settlement_type"] == settlement_type)
            .and_then(|m| m["id"].as_i64())
            .unwrap_or_else(|| panic!("no active method for {settlement_type}: {list}"))
    }

    /// Stores a checkout attempt for one mug, paid by `settlement_type`; returns its link key.
    pub async fn checkout(
        &self,
        settlement_type: &str,
        options: &[(&str, &str)],
        member: Option<(&str, &str)>,
    ) -> String {
        let method = self.method_id(settlement_type).await;
        self.checkout_with_method(method, options, member).await
    }

    /// Stores a checkout attempt for one mug with the method `method`; returns its link key.
    pub async fn checkout_with_method(
        &self,
        method: i64,
        options: &[(&str, &str)],
        member: Option<(&str, &str)>,
    ) -> String {
        let options: serde_json::Map<String, Value> = options
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        let mut body = json!({
            "lines": [{"product_id": 1, "quantity": 1}],
            "customer": customer(),
            "payment_method_id": method,
            "note": "",
            "options": options,
        });
        if let Some((email, password)) = member {
            body["member"] = json!({"email": email, "password": password});
        }
        let page = self.post_json("/api/checkout", &body).await;
        assert_eq!(page.status, 201, "POST /api/checkout: {}", page.text());
        let created = page.json();
        assert_eq!(created["total"], MUG_PRICE);
        created["link_key"].as_str().expect("link key").to_owned()
    }

    /// The confirm step: the form the browser would post to Remise.
    pub async fn confirm(&self, link_key: &str) -> GatewayForm {
        let page = self
            .post_json(&format!("/api/checkout/{link_key}/confirm"), &json!({}))
            .await;
        assert_eq!(page.status, 200, "confirm: {}", page.text());
        let value = page.json();
        assert_eq!(value["kind"], "redirect", "{value}");
        assert_eq!(value["form"]["charset"], "Shift_JIS");
        assert_eq!(value["form"]["method"], "POST");
        GatewayForm {
            url: value["form"]["url"].as_str().expect("url").to_owned(),
            fields: value["form"]["fields"]
                .as_array()
                .expect("fields")
                .iter()
                .map(|pair| {
                    (
                        pair[0].as_str().expect("name").to_owned(),
                        pair[1].as_str().expect("value").to_owned(),
                    )
                })
                .collect(),
        }
    }

    /// Posts the shop's form to the sandbox (as the browser does) and returns the sandbox's page,
    /// which must be its card or payment-place page with a `SESSION`.
    pub async fn open_gateway(&self, form: &GatewayForm) -> Page {
        assert!(
            form.url.starts_with(&self.sandbox_base),
            "the form posts to the sandbox: {}",
            form.url
        );
        let page = self.post_sjis(&form.url, &form.fields).await;
        assert_eq!(
            page.status,
            200,
            "sandbox refused the form: {}",
            page.text()
        );
        page
    }

    /// Enters a card on the sandbox's card page; returns the page that sends the browser back.
    pub async fn submit_card(&self, session: &str, card: CardEntry<'_>) -> ReturnForm {
        let mut fields = vec![("SESSION".to_owned(), session.to_owned())];
        match card {
            CardEntry::Number(number) => {
                fields.push(("CARDNO".to_owned(), number.to_owned()));
                fields.push(("EXPIRE".to_owned(), card_expiry()));
                fields.push(("NAME".to_owned(), "TARO YAMADA".to_owned()));
            }
            CardEntry::Saved => fields.push(("USE_PAYQUICK".to_owned(), "1".to_owned())),
        }
        let page = self
            .post_sjis(
                &format!("{}{}", self.sandbox_base, remise_sandbox::CARD_SUBMIT_PATH),
                &fields,
            )
            .await;
        ReturnForm::from_page(&page)
    }

    /// Confirm, open the sandbox's card page and pay with `card`.
    pub async fn pay_by_card(&self, link_key: &str, card: CardEntry<'_>) -> ReturnForm {
        let form = self.confirm(link_key).await;
        let page = self.open_gateway(&form).await;
        self.submit_card(&session_of(&page), card).await
    }

    /// Confirm, open the sandbox's payment-place page and choose セブン-イレブン (`D001`).
    pub async fn issue_conv(&self, link_key: &str) -> ReturnForm {
        let form = self.confirm(link_key).await;
        let page = self.open_gateway(&form).await;
        let fields = [
            ("SESSION", session_of(&page)),
            ("PAY_CSV", "D001".to_owned()),
        ];
        let page = self
            .post_sjis(
                &format!("{}/rpgw2/pc/cvs/submit", self.sandbox_base),
                &fields,
            )
            .await;
        ReturnForm::from_page(&page)
    }

    /// The browser coming back to the shop with the sandbox's return form.
    pub async fn browser_return(&self, form: &ReturnForm) -> Page {
        assert!(
            form.action.starts_with(&self.base),
            "the return goes to the shop: {}",
            form.action
        );
        self.post_sjis(&form.action, &form.fields).await
    }

    /// Follows a redirect the shop answered with.
    pub async fn follow(&self, page: &Page) -> Page {
        let location = page
            .location
            .as_deref()
            .unwrap_or_else(|| panic!("expected a redirect, got {}: {}", page.status, page.text()));
        self.get(location).await
    }

    /// `GET /api/checkout/{link_key}`.
    pub async fn checkout_state(&self, link_key: &str) -> Value {
        let page = self.get(&format!("/api/checkout/{link_key}")).await;
        assert_eq!(page.status, 200, "{}", page.text());
        page.json()
    }

    // -- gateway side --------------------------------------------------------------------------------

    /// Posts a notification to `/index.php?acting=<acting>`, Shift_JIS, from 127.0.0.1.
    pub async fn notify<K: AsRef<str>, V: AsRef<str>>(
        &self,
        acting: &str,
        fields: &[(K, V)],
    ) -> Page {
        self.post_sjis(&self.notify_url(acting), fields).await
    }

    /// The sandbox's transaction for a link key (the last one, if several).
    pub fn transaction(&self, link_key: &str) -> Transaction {
        self.sandbox
            .transactions()
            .into_iter()
            .rev()
            .find(|t| t.torihiki_no == link_key)
            .unwrap_or_else(|| panic!("the sandbox has no transaction for {link_key}"))
    }

    /// Presses a button in the sandbox's backyard (`paid`, `resend`, …) for a transaction.
    pub async fn backyard(&self, remise_id: &str, action: &str) {
        let url = format!("{}/backyard/tx/{remise_id}/{action}", self.sandbox_base);
        let page = self
            .post_raw(&url, "application/x-www-form-urlencoded", Vec::new())
            .await;
        assert_eq!(page.status, 303, "backyard {action}: {}", page.text());
    }
}

/// An order as the admin API shows it.
#[derive(Debug, Clone)]
pub struct OrderDetail {
    /// The order number.
    pub number: String,
    /// `payment_status`.
    pub status: String,
    /// `payment_status_label`.
    pub label: String,
    /// `(to_status, reason)` oldest first.
    pub history: Vec<(String, String)>,
    /// Payment events recorded for the link key.
    pub events: i64,
    /// The whole order.
    pub order: Value,
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

// -- wire formats ---------------------------------------------------------------------------------

/// The bytes left alone by the WHATWG form serializer.
const FORM_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'*')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_');

/// Encodes fields as a Shift_JIS `application/x-www-form-urlencoded` body.
pub fn sjis_form<K: AsRef<str>, V: AsRef<str>>(fields: &[(K, V)]) -> Vec<u8> {
    let encode = |text: &str| {
        let (bytes, _, unmappable) = SHIFT_JIS.encode(text);
        assert!(!unmappable, "{text:?} has no Shift_JIS form");
        percent_encode(&bytes, FORM_VALUE).to_string()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k.as_ref()), encode(v.as_ref())))
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

/// Decodes a Shift_JIS `application/x-www-form-urlencoded` body (as the journal keeps it).
pub fn parse_sjis_form(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |part: &str| {
                let spaced = part.replace('+', " ");
                let bytes: Vec<u8> = percent_decode(spaced.as_bytes()).collect();
                SHIFT_JIS.decode(&bytes).0.into_owned()
            };
            (decode(name), decode(value))
        })
        .collect()
}

/// Undoes the five escapes the shop and the sandbox use in HTML.
fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The attributes of the tag starting at `html` (just after its name), up to its `>`.
fn attributes(tag: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = tag;
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq]
            .rsplit(|c: char| c.is_whitespace())
            .next()
            .unwrap_or("")
            .to_owned();
        let after = &rest[eq + 2..];
        let Some(end) = after.find('"') else { break };
        out.push((name, unescape(&after[..end])));
        rest = &after[end + 1..];
    }
    out
}

/// Every tag called `name` in `html`, as its attributes.
fn tags(html: &str, name: &str) -> Vec<Vec<(String, String)>> {
    let open = format!("<{name} ");
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let end = after.find('>').unwrap_or(after.len());
        out.push(attributes(&after[..end]));
        rest = &after[end..];
    }
    out
}

fn attribute<'a>(attributes: &'a [(String, String)], name: &str) -> Option<&'a str> {
    field(attributes, name)
}

/// The hidden inputs of an HTML fragment, as `(name, value)`.
pub fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    tags(html, "input")
        .into_iter()
        .filter(|a| attribute(a, "type") == Some("hidden"))
        .filter_map(|a| {
            Some((
                attribute(&a, "name")?.to_owned(),
                attribute(&a, "value").unwrap_or("").to_owned(),
            ))
        })
        .collect()
}

/// The action and hidden inputs of `<form id="…">`.
pub fn form_by_id(html: &str, id: &str) -> Option<(String, Vec<(String, String)>)> {
    let marker = format!("<form id=\"{id}\"");
    let start = html.find(&marker)?;
    let form = &html[start..];
    let end = form.find("</form>").unwrap_or(form.len());
    let form = &form[..end];
    let action = attribute(tags(form, "form").first()?, "action")?.to_owned();
    Some((action, hidden_inputs(form)))
}

/// The hidden inputs of the first `<form>` that posts to `action`.
pub fn form_posting_to(html: &str, action: &str) -> Option<Vec<(String, String)>> {
    let mut rest = html;
    while let Some(start) = rest.find("<form ") {
        let form = &rest[start..];
        let end = form.find("</form>").unwrap_or(form.len());
        let tag = tags(form, "form");
        if tag.first().and_then(|a| attribute(a, "action")) == Some(action) {
            return Some(hidden_inputs(&form[..end]));
        }
        rest = &form[end..];
    }
    None
}

/// The `SESSION` of a sandbox page; panics when there is none.
pub fn session_of(page: &Page) -> String {
    let text = page.text();
    hidden_inputs(&text)
        .into_iter()
        .find(|(name, _)| name == "SESSION")
        .map(|(_, value)| value)
        .unwrap_or_else(|| panic!("no SESSION in {text}"))
}

/// The `href` of the link whose text starts with `text`.
pub fn link_with_text(html: &str, text: &str) -> Option<String> {
    let mut rest = html;
    while let Some(start) = rest.find("<a ") {
        let after = &rest[start + 3..];
        let end = after.find('>')?;
        let href = attribute(&attributes(&after[..end]), "href").map(str::to_owned);
        let label = &after[end + 1..];
        if label.starts_with(text) {
            return href;
        }
        rest = &after[end..];
    }
    None
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
    config_text(options, shop, nowhere, database_url)
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
