//! What the host's router-level tests share: a shop on the demo config on either backend (a fresh
//! SQLite file, or a fresh schema on the PostgreSQL server of `SHOPHOST_TEST_PG_URL`) and
//! `on_both_backends!`, which runs a test body on each; requests sent through the real router in
//! process (one answer, body read), a browser that carries the session cookie across requests and
//! posts forms as `application/x-www-form-urlencoded`, and the storefront's fixtures (a customer, the
//! demo products and methods, the steps up to the confirm page, orders made straight in the store).
//!
//! Each test builds its own state, so tests run in parallel without seeing each other's carts or
//! orders.

// Every test file compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::path::PathBuf;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use shophost::AppState;
use tower::ServiceExt;

pub mod mail;
mod notifications;
// Not every test file uses each of them.
#[allow(unused_imports)]
pub use notifications::{card_result, notify, notify_from, SANDBOX};

/// The admin token of the test shops (only the built-in demo may use the demo's published one).
pub const ADMIN_TOKEN: &str = "router-test-token";

/// The shop's public origin in the demo config.
pub const SHOP_ORIGIN: &str = "http://127.0.0.1:8080";

/// A temporary directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let path = std::env::temp_dir().join(format!(
            "shophost-router-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Where a test shop keeps its data: SQLite, or PostgreSQL in a schema of the test's own.
#[derive(Debug, Clone)]
pub enum Backend {
    /// A fresh SQLite file in a temporary directory.
    Sqlite,
    /// The database URL of a fresh schema made by [`on_postgresql`] (`search_path` set to it).
    #[cfg(feature = "postgres")]
    Postgres(String),
}

/// A test shop's database beside its state: runs SQL on it (to flag an order or move it in time, as
/// nothing in the shop does) and, for SQLite, keeps its directory until dropped.
pub struct Scratch {
    url: String,
    _dir: Option<TempDir>,
}

impl Backend {
    /// A shop on the demo config (sandbox off, admin token [`ADMIN_TOKEN`]) on this backend. Call it (or [`Backend::database`])
    /// once per backend value: on PostgreSQL the schema is the test's, and a second shop would share
    /// it.
    pub async fn shop(&self, name: &str) -> (AppState, Scratch) {
        let db = self.database(name);
        let state = shop_on(db.url()).await;
        let expected = match self {
            Backend::Sqlite => "sqlite",
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => "postgres",
        };
        assert_eq!(state.store.backend(), expected);
        (state, db)
    }

    /// The database a test shop on this backend keeps its data in, for a test that writes its own
    /// config (a fresh SQLite file, or the test's PostgreSQL schema).
    pub fn database(&self, name: &str) -> Scratch {
        match self {
            Backend::Sqlite => {
                let dir = TempDir::new(name);
                Scratch {
                    url: format!("sqlite:{}", dir.0.join("t.db").display()),
                    _dir: Some(dir),
                }
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres(url) => Scratch {
                url: url.clone(),
                _dir: None,
            },
        }
    }
}

impl Scratch {
    /// The database URL, for the config's `[database] url`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs one statement on the shop's database, outside the shop.
    pub async fn sql(&self, statement: &str) {
        #[cfg(feature = "postgres")]
        if self.url.starts_with("postgres") {
            let pool = sqlx::PgPool::connect(&self.url).await.expect("PostgreSQL");
            sqlx::query(statement)
                .execute(&pool)
                .await
                .unwrap_or_else(|e| panic!("{statement}: {e}"));
            pool.close().await;
            return;
        }
        let file = self.url.trim_start_matches("sqlite:");
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(file)
            .busy_timeout(std::time::Duration::from_secs(10));
        let pool = sqlx::SqlitePool::connect_with(options).await.expect("db");
        sqlx::query(statement)
            .execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
        pool.close().await;
    }
}

/// The PostgreSQL server of the PostgreSQL tests (`SHOPHOST_TEST_PG_URL`). Without it: a failure when
/// `CI` is set (the PostgreSQL tests must run there), else `None`, said on stderr, and the test's name
/// added to the file named by `SHOPHOST_TEST_PG_SKIPPED` (`scripts/test` sums the skips up).
#[cfg(feature = "postgres")]
pub fn postgres_url() -> Option<String> {
    match std::env::var("SHOPHOST_TEST_PG_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => panic!(
            "CI is set but SHOPHOST_TEST_PG_URL is not: the PostgreSQL tests must run in CI \
             (e.g. SHOPHOST_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/test)"
        ),
        _ => {
            // The test harness names each test's thread after the test.
            let name = format!(
                "{}::{}",
                env!("CARGO_CRATE_NAME"),
                std::thread::current().name().unwrap_or("?")
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
            None
        }
    }
}

/// Runs a test body on a fresh schema of the PostgreSQL server at `server` (its name unique to this
/// run), then drops the schema, whether the body passed or panicked.
#[cfg(feature = "postgres")]
pub async fn on_postgresql<F, Fut>(server: &str, body: F)
where
    F: FnOnce(Backend) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use futures_util::FutureExt;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    static SCHEMAS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let schema = format!(
        "t_router_{}_{nanos}_{}",
        std::process::id(),
        SCHEMAS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let admin = sqlx::PgPool::connect(server)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {server}: {e}"));
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .expect("create the test's schema");
    let separator = if server.contains('?') { '&' } else { '?' };
    let url = format!("{server}{separator}options=-csearch_path%3D{schema}");
    let outcome = std::panic::AssertUnwindSafe(body(Backend::Postgres(url)))
        .catch_unwind()
        .await;
    let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(&admin)
        .await;
    admin.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Makes each named `async fn NAME(backend: Backend)` two tests: `NAME::sqlite`, and `NAME::postgresql`
/// on a fresh PostgreSQL schema when `SHOPHOST_TEST_PG_URL` names a server (see [`postgres_url`] for
/// what happens without one).
#[allow(unused_macros)]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name($crate::common::Backend::Sqlite).await
            }

            #[cfg(feature = "postgres")]
            #[tokio::test]
            async fn postgresql() {
                if let Some(server) = $crate::common::postgres_url() {
                    $crate::common::on_postgresql(&server, super::$name).await
                }
            }
        }
    )*};
}

/// A shop on the demo config (sandbox off, admin token [`ADMIN_TOKEN`]) on the database at `url`.
pub async fn shop_on(url: &str) -> AppState {
    let text = shophost::config::DEMO_CONFIG
        .replace("sqlite:shophost-data/shophost.db", url)
        .replace("[sandbox]\nenabled = true", "[sandbox]\nenabled = false")
        .replace("demo-admin-token-change-me", ADMIN_TOKEN);
    assert!(
        text.contains("enabled = false") && text.contains(ADMIN_TOKEN),
        "the demo config changed shape"
    );
    let registry = shophost::bundled::registry(vec![]).expect("registry");
    let config = shophost::serve::config_from_toml(&text, &registry).expect("config");
    shophost::serve::build_state(config, registry)
        .await
        .expect("state")
}

/// One response, body read.
pub struct Page {
    pub status: StatusCode,
    pub content_type: String,
    pub location: Option<String>,
    pub set_cookie: Option<String>,
    pub bytes: Vec<u8>,
}

impl Page {
    /// The body as text: UTF-8, or Shift_JIS when the response says so.
    pub fn text(&self) -> String {
        if self.content_type.to_ascii_lowercase().contains("shift_jis") {
            let (text, _, errors) = encoding_rs::SHIFT_JIS.decode(&self.bytes);
            assert!(!errors, "the page is not valid Shift_JIS");
            text.into_owned()
        } else {
            String::from_utf8(self.bytes.clone()).expect("UTF-8 page")
        }
    }
}

/// Sends one request through the router and reads the answer.
pub async fn send(app: &Router, request: Request<Body>) -> Page {
    let response = app.clone().oneshot(request).await.expect("response");
    let header_text = |name: header::HeaderName| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let page = Page {
        status: response.status(),
        content_type: header_text(header::CONTENT_TYPE).unwrap_or_default(),
        location: header_text(header::LOCATION),
        set_cookie: header_text(header::SET_COOKIE),
        bytes: Vec::new(),
    };
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body")
        .to_vec();
    Page { bytes, ..page }
}

/// Form fields as an `application/x-www-form-urlencoded` body.
pub fn form_body(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(name, value)| {
            format!(
                "{}={}",
                utf8_percent_encode(name, NON_ALPHANUMERIC),
                utf8_percent_encode(value, NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A browser: the router plus the session cookie.
pub struct Browser {
    pub app: Router,
    pub cookie: Option<String>,
}

impl Browser {
    pub fn new(state: &AppState) -> Browser {
        Browser {
            app: shophost::http::router(state.clone()),
            cookie: None,
        }
    }

    pub async fn send(&mut self, method: &str, uri: &str, form: Option<&[(&str, &str)]>) -> Page {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(cookie) = &self.cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let body = match form {
            Some(fields) => {
                request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                form_body(fields)
            }
            None => String::new(),
        };
        let page = send(&self.app, request.body(Body::from(body)).expect("request")).await;
        if let Some(set) = &page.set_cookie {
            let pair = set.split(';').next().unwrap_or_default().to_owned();
            self.cookie = if pair.ends_with('=') {
                None
            } else {
                Some(pair)
            };
        }
        page
    }

    pub async fn get(&mut self, uri: &str) -> Page {
        self.send("GET", uri, None).await
    }

    pub async fn post(&mut self, uri: &str, form: &[(&str, &str)]) -> Page {
        self.send("POST", uri, Some(form)).await
    }
}

pub fn assert_redirect(page: &Page, to: &str) {
    assert!(
        page.status.is_redirection(),
        "expected a redirect to {to}, got {}: {}",
        page.status,
        String::from_utf8_lossy(&page.bytes)
    );
    assert_eq!(page.location.as_deref(), Some(to));
}

/// The value of a hidden field in a page.
pub fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// A customer the storefront's form accepts, as its fields.
pub const CUSTOMER: &[(&str, &str)] = &[
    ("family_name", "山田"),
    ("given_name", "太郎"),
    ("family_kana", "ヤマダ"),
    ("given_kana", "タロウ"),
    ("email", "taro@example.jp"),
    ("postcode", "100-0001"),
    ("prefecture", "東京都"),
    ("address1", "千代田区千代田"),
    ("address2", "1-1"),
    ("address3", ""),
    ("phone", "03-1234-5678"),
];

/// [`CUSTOMER`] with some fields changed.
pub fn customer_with(
    changes: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    CUSTOMER
        .iter()
        .map(|(name, value)| {
            let changed = changes.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
            (*name, changed.unwrap_or(value))
        })
        .collect()
}

/// The demo payment method of a settlement type.
pub async fn method_id(state: &AppState, settlement_type: &str) -> i64 {
    state
        .store
        .payment_methods()
        .await
        .expect("methods")
        .into_iter()
        .find(|m| m.settlement_type == settlement_type)
        .expect("demo method")
        .id
}

/// A demo product by name.
pub async fn product_id(state: &AppState, name: &str) -> i64 {
    state
        .store
        .products()
        .await
        .expect("products")
        .into_iter()
        .find(|p| p.name == name)
        .expect("demo product")
        .id
}

/// Adds a product and enters the customer's details.
pub async fn fill_cart_and_customer(
    browser: &mut Browser,
    state: &AppState,
    customer: &[(&str, &str)],
) {
    let mug = product_id(state, "有田焼 マグカップ").await.to_string();
    let added = browser
        .post("/cart/add", &[("product_id", &mug), ("quantity", "2")])
        .await;
    assert_redirect(&added, "/cart");
    let details = browser.post("/checkout/customer", customer).await;
    assert_redirect(&details, "/checkout/delivery");
}

/// The confirm page's button, pressed: shows the confirm page (which stores nothing) and posts its form,
/// as a click does. Returns the POST's answer.
pub async fn confirm_order(browser: &mut Browser) -> Page {
    let review = browser.get("/checkout/confirm").await;
    assert_eq!(review.status, StatusCode::OK);
    let html = review.text();
    assert!(html.contains("<form id=\"confirm_form\""), "{html}");
    let revision = hidden(&html, "revision").expect("the confirm form's revision");
    browser
        .post("/checkout/confirm", &[("revision", &revision)])
        .await
}

/// The console operator the tests sign in as, and their password.
pub const OPERATOR: (&str, &str) = ("tester", "correct-horse-battery");

/// A browser signed in to the console as [`OPERATOR`] (made first), and the session's form token.
pub async fn console_browser(state: &AppState) -> (Browser, String) {
    if state
        .store
        .operator_by_login(OPERATOR.0)
        .await
        .expect("operators")
        .is_none()
    {
        shophost::operators::create(state.store.as_ref(), OPERATOR.0, OPERATOR.1)
            .await
            .expect("operator");
    }
    let mut browser = Browser::new(state);
    let page = browser
        .post(
            "/admin/login",
            &[
                ("login", OPERATOR.0),
                ("password", OPERATOR.1),
                ("next", "/admin"),
            ],
        )
        .await;
    assert_redirect(&page, "/admin");
    let dashboard = browser.get("/admin").await;
    assert_eq!(dashboard.status, StatusCode::OK, "{}", dashboard.text());
    let csrf = hidden(&dashboard.text(), "csrf").expect("the sign-out form's token");
    (browser, csrf)
}

/// A JSON request through the router (the admin API with its token): status and body.
pub async fn api(
    state: &AppState,
    method: &str,
    uri: &str,
    body: Option<serde_json::Value>,
) -> (StatusCode, serde_json::Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
        .body(Body::from(body.map(|b| b.to_string()).unwrap_or_default()))
        .expect("request");
    let page = send(&shophost::http::router(state.clone()), request).await;
    let value = serde_json::from_slice(&page.bytes).unwrap_or(serde_json::Value::Null);
    (page.status, value)
}

/// An order made straight in the store, fast enough for a few hundred: an attempt for one mug
/// (1,100 円) with `link_key` and `customer`, then its order by the operator's recovery: a card
/// payment (売上) when `card`, else a コンビニ one (未入金).
pub async fn recovered_order(
    state: &AppState,
    link_key: &str,
    customer: shophost::domain::CustomerDetails,
    card: bool,
) -> shophost::domain::Order {
    use shophost::domain::{AttemptKind, AttemptSnapshot, CartLine, PaymentStatus};
    let line = CartLine {
        product_id: 1,
        name: "有田焼 マグカップ".to_owned(),
        unit_price: 1100,
        quantity: 1,
        tax_rate: 10,
        recurring: None,
    };
    let snapshot = AttemptSnapshot {
        lines: vec![line],
        customer,
        items_total: 1100,
        shipping: 0,
        total: 1100,
        tax: 100,
        note: String::new(),
        options: Default::default(),
    };
    let (settlement_type, method, status, label) = if card {
        (
            "acting_remise_card",
            "カード決済",
            PaymentStatus::Captured,
            "カード決済（ルミーズ）",
        )
    } else {
        (
            "acting_remise_conv",
            "コンビニ決済",
            PaymentStatus::Unpaid,
            "コンビニ決済（ルミーズ）",
        )
    };
    state
        .store
        .create_attempt(&shophost::db::NewAttempt {
            link_key: link_key.to_owned(),
            kind: AttemptKind::Order,
            module_id: "remise".to_owned(),
            settlement_type: settlement_type.to_owned(),
            payment_method_id: None,
            payment_method_name: method.to_owned(),
            member_id: None,
            snapshot,
        })
        .await
        .expect("attempt");
    state
        .store
        .recover_attempt(link_key, status, label, "テスト")
        .await
        .expect("order")
}

/// The order numbers a 受注リスト page shows, in order.
pub fn listed_orders(html: &str) -> Vec<String> {
    html.split("<a href=\"/admin/orders/")
        .skip(1)
        .filter_map(|rest| {
            let code = rest.split("<code>").nth(1)?;
            Some(code.split("</code>").next()?.to_owned())
        })
        .collect()
}

/// The link with `rel` (`next`, `prev`) of a list page, unescaped.
pub fn pager(html: &str, rel: &str) -> Option<String> {
    let at = html.find(&format!("rel=\"{rel}\""))?;
    let start = html[..at].rfind("href=\"")? + 6;
    let end = start + html[start..].find('"')?;
    Some(html[start..end].replace("&amp;", "&").replace("&#38;", "&"))
}

/// A checkout for one mug through the checkout API with the settlement type's method, as the demo's
/// customer: its link key and total.
pub async fn mug_checkout(state: &AppState, settlement_type: &str) -> (String, i64) {
    let customer: serde_json::Map<String, serde_json::Value> = CUSTOMER
        .iter()
        .map(|(name, value)| (name.to_string(), serde_json::json!(value)))
        .collect();
    let (status, answer) = api(
        state,
        "POST",
        "/api/checkout",
        Some(serde_json::json!({
            "lines": [{"product_id": product_id(state, "有田焼 マグカップ").await, "quantity": 1}],
            "customer": customer,
            "payment_method_id": method_id(state, settlement_type).await,
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    (
        answer["link_key"].as_str().expect("link key").to_owned(),
        answer["total"].as_i64().expect("total"),
    )
}
