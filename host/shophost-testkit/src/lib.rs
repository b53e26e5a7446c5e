//! The conformance kit for shophost gateway modules: runs a module through a real host and checks the
//! behaviours every gateway must get right.
//!
//! # The key design decision: test the module *through the host*
//!
//! A module's own unit tests (see `shophost_module_api::testing`) show that it reads and writes its wire
//! format. What goes wrong in production is the seam: a duplicate notification that makes a second
//! order, a browser return that marks an order paid, a refusal that the gateway reads as "received", a
//! notification acknowledged although the database refused it. Those depend on what the module returns
//! *and* on what the host does with it, so the kit builds a real host state (SQLite in a temporary
//! directory, the module registered as it would be in production), creates checkout attempts through
//! the host's checkout code, and sends every request through the host's HTTP router in-process, from
//! 127.0.0.1.
//!
//! The module author describes the wire format once, by implementing [`WireFormat`]: settings that
//! validate (and allow notifications from 127.0.0.1), settings that do not, and how to make a successful
//! notification, a failed one, one that cannot be decoded, and a browser return. Then:
//!
//! ```text
//! #[tokio::test]
//! async fn my_module_conforms() {
//!     let report = shophost_testkit::run_conformance(Arc::new(MyModule), &MyWire).await;
//!     report.assert_passed();
//! }
//! ```
//!
//! # The checks
//!
//! See [`CHECKS`]; each is one entry in the [`Report`], passed or failed with the reason.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request};
use shophost::checkout::{self, CartInputLine, CheckoutInput, Confirmed, ReturnView};
use shophost::db::{NewPaymentMethod, OrderFilter};
use shophost::domain::{AttemptState, CustomerDetails, Order, PaymentStatus};
use shophost::inbound::{decode, RawInbound};
use shophost::registry::{Origin, RegisteredModule, Registry};
use shophost::AppState;
use shophost_module_api::{
    async_trait, Answer, BrowserReturn, CardUpdateRequest, FieldError, InboundRequest, LinkKeySpec,
    ModuleConfig, Notification, NotificationEndpoint, PaymentModule, PaymentStart,
    PaymentStartError, PaymentStartRequest, Rejection, ReturnKind, SettingsSchema, SettingsValues,
    SettlementKind, SettlementType, WireCharset, WireResponse,
};
use tower::ServiceExt;

/// The checks, in the order they run.
pub const CHECKS: &[(&str, &str)] = &[
    (
        "settings_validation",
        "the valid settings validate; the invalid ones fail with errors naming fields of the schema",
    ),
    (
        "payment_start",
        "the confirm step builds a redirect form carrying the link key and the amount, the same every time",
    ),
    (
        "notification_before_return",
        "a success notification alone creates the paid order and is acknowledged; the browser return after it creates nothing more",
    ),
    (
        "duplicate_notification",
        "the same notification twice is acknowledged twice with the same bytes and makes one order and one payment event",
    ),
    (
        "return_without_notification",
        "a success browser return alone creates no order and leaves the attempt open; the notification after it completes the order",
    ),
    (
        "wrong_amount",
        "a notification for another amount is not acknowledged and changes nothing; the right one after it is accepted",
    ),
    (
        "failed_payment",
        "a failure notification is acknowledged, creates no order and is logged in the 決済エラーログ",
    ),
    (
        "undecodable_charset",
        "a notification whose bytes are not valid in the module's charset is refused and changes nothing",
    ),
    (
        "retry_after_refused_acknowledgement",
        "when the host cannot store a notification the module answers \"unavailable\", not an acknowledgement; the gateway's retry is then acknowledged and makes one order",
    ),
    (
        "invalid_settings_stop_module",
        "settings that fail validation stop the module's payment methods, and none of its start, notification or return methods is called until they are fixed",
    ),
];

/// An HTTP request as a gateway (or the shopper's browser) would send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRequest {
    /// `GET`, `POST`.
    pub method: String,
    /// Query string, without `?`, already percent-encoded.
    pub query: String,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// Other headers.
    pub headers: Vec<(String, String)>,
    /// Body bytes exactly as sent.
    pub body: Vec<u8>,
}

impl TestRequest {
    /// A `POST` with this content type and body.
    pub fn post(content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        TestRequest {
            method: "POST".to_owned(),
            query: String::new(),
            content_type: Some(content_type.to_owned()),
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// A `GET` with this (percent-encoded) query string.
    pub fn get(query: impl Into<String>) -> Self {
        TestRequest {
            method: "GET".to_owned(),
            query: query.into(),
            content_type: None,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// The same request with one more header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// What the kit needs to know about a module's wire format. Implement it in your module's tests.
pub trait WireFormat: Send + Sync {
    /// Settings that validate, with notifications allowed from 127.0.0.1.
    fn valid_settings(&self) -> SettingsValues;

    /// Settings that fail validation.
    fn invalid_settings(&self) -> SettingsValues;

    /// The notification endpoint the requests below are sent to (served at `/notify/{endpoint}`).
    fn endpoint(&self) -> String;

    /// The settlement type to check out with; by default the first `Immediate` one the valid settings
    /// provide.
    fn settlement_type(&self) -> Option<String> {
        None
    }

    /// A notification saying the payment for `link_key` succeeded for `amount` yen. Two calls with the
    /// same arguments must describe the same gateway event (a resend).
    fn success_notification(&self, link_key: &str, amount: i64) -> TestRequest;

    /// A notification saying the payment for `link_key` failed.
    fn failure_notification(&self, link_key: &str) -> TestRequest;

    /// A success notification for `link_key` and `amount` whose body contains bytes that are not valid
    /// in the module's wire charset (for UTF-8 modules: invalid UTF-8), but that is otherwise well
    /// formed (signed, if the gateway signs).
    fn undecodable_notification(&self, link_key: &str, amount: i64) -> TestRequest;

    /// The shopper's browser coming back to the success return URL after paying for `link_key`.
    fn success_return(&self, link_key: &str) -> TestRequest;
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// The check's name, one of [`CHECKS`] (or `setup`).
    pub name: &'static str,
    /// `Ok`, or why it failed.
    pub outcome: Result<(), String>,
}

/// What [`run_conformance`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The module's id.
    pub module_id: String,
    /// Every check, in the order run.
    pub checks: Vec<CheckResult>,
}

impl Report {
    /// Whether every check ran and passed.
    pub fn passed(&self) -> bool {
        self.checks.len() == CHECKS.len() && self.checks.iter().all(|c| c.outcome.is_ok())
    }

    /// The names of the checks that passed.
    pub fn passed_checks(&self) -> Vec<&'static str> {
        self.checks
            .iter()
            .filter(|c| c.outcome.is_ok())
            .map(|c| c.name)
            .collect()
    }

    /// Panics with the whole report unless every check passed.
    #[track_caller]
    pub fn assert_passed(&self) {
        assert!(self.passed(), "{self}");
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let passed = self.checks.iter().filter(|c| c.outcome.is_ok()).count();
        writeln!(
            f,
            "conformance of module `{}`: {passed} of {} checks passed",
            self.module_id,
            CHECKS.len()
        )?;
        for check in &self.checks {
            match &check.outcome {
                Ok(()) => writeln!(f, "  ok    {}", check.name)?,
                Err(reason) => writeln!(f, "  FAIL  {}: {reason}", check.name)?,
            }
        }
        for (name, _) in CHECKS {
            if !self.checks.iter().any(|c| c.name == *name) {
                writeln!(f, "  skip  {name} (not run)")?;
            }
        }
        Ok(())
    }
}

/// Runs every check in [`CHECKS`] against `module`, driven by `wire`. Never panics on a failed check:
/// the report says what failed (use [`Report::assert_passed`] in a test).
pub async fn run_conformance(module: Arc<dyn PaymentModule>, wire: &dyn WireFormat) -> Report {
    let mut report = Report {
        module_id: module.id().to_owned(),
        checks: Vec::new(),
    };
    let validation = check_settings(module.as_ref(), wire);
    let valid = validation.is_ok();
    report.checks.push(CheckResult {
        name: "settings_validation",
        outcome: validation,
    });
    if !valid {
        return report;
    }
    let kit = match Kit::start(module, wire).await {
        Ok(kit) => kit,
        Err(reason) => {
            report.checks.push(CheckResult {
                name: "setup",
                outcome: Err(reason),
            });
            return report;
        }
    };
    // Each check is the kit method of the same name.
    macro_rules! check {
        ($($name:ident),+) => {
            $(report.checks.push(CheckResult { name: stringify!($name), outcome: kit.$name().await });)+
        };
    }
    check!(
        payment_start,
        notification_before_return,
        duplicate_notification,
        return_without_notification,
        wrong_amount,
        failed_payment,
        undecodable_charset,
        retry_after_refused_acknowledgement
    );
    // Last: it leaves the module with invalid settings.
    check!(invalid_settings_stop_module);
    report
}

/// Fails the check with a formatted reason unless the condition holds.
macro_rules! ensure {
    ($condition:expr, $($reason:tt)+) => {
        if !$condition {
            return Err(format!($($reason)+));
        }
    };
}

fn check_settings(module: &dyn PaymentModule, wire: &dyn WireFormat) -> Result<(), String> {
    let schema = module.settings_schema();
    let with_defaults = |values: &SettingsValues| schema.with_defaults(values);
    if let Err(errors) = module.validate(&with_defaults(&wire.valid_settings())) {
        return Err(format!(
            "the valid settings do not validate: {}",
            list(&errors)
        ));
    }
    let invalid = wire.invalid_settings();
    match module.validate(&with_defaults(&invalid)) {
        Ok(_) => Err("the invalid settings validate".to_owned()),
        Err(errors) if errors.is_empty() => {
            Err("validation failed without naming any field".to_owned())
        }
        Err(errors) => {
            for error in &errors {
                ensure!(
                    schema.field(&error.key).is_some() || invalid.contains_key(&error.key),
                    "error `{error}` names no field of the schema"
                );
                ensure!(
                    !error.message.trim().is_empty(),
                    "the error for `{}` has no message",
                    error.key
                );
            }
            Ok(())
        }
    }
}

fn list(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Counts the calls the host makes into the module's payment methods, so the kit can tell that a
/// module with invalid settings is left alone.
struct Spy {
    inner: Arc<dyn PaymentModule>,
    calls: AtomicUsize,
}

impl Spy {
    fn counted(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl PaymentModule for Spy {
    fn id(&self) -> &str {
        self.inner.id()
    }
    fn display_name(&self) -> &str {
        self.inner.display_name()
    }
    fn settings_schema(&self) -> SettingsSchema {
        self.inner.settings_schema()
    }
    fn validate(&self, values: &SettingsValues) -> Result<ModuleConfig, Vec<FieldError>> {
        self.inner.validate(values)
    }
    fn settlement_types(&self, config: &ModuleConfig) -> Vec<SettlementType> {
        self.inner.settlement_types(config)
    }
    fn wire_charset(&self) -> WireCharset {
        self.inner.wire_charset()
    }
    fn link_key_spec(&self) -> LinkKeySpec {
        self.inner.link_key_spec()
    }
    async fn start_payment(
        &self,
        config: &ModuleConfig,
        request: &PaymentStartRequest,
    ) -> Result<PaymentStart, PaymentStartError> {
        self.counted();
        self.inner.start_payment(config, request).await
    }
    async fn start_card_update(
        &self,
        config: &ModuleConfig,
        request: &CardUpdateRequest,
    ) -> Result<PaymentStart, PaymentStartError> {
        self.counted();
        self.inner.start_card_update(config, request).await
    }
    fn notification_endpoints(&self, config: &ModuleConfig) -> Vec<NotificationEndpoint> {
        self.inner.notification_endpoints(config)
    }
    async fn parse_notification(
        &self,
        config: &ModuleConfig,
        endpoint: &str,
        request: &InboundRequest,
    ) -> Result<Notification, Rejection> {
        self.counted();
        self.inner
            .parse_notification(config, endpoint, request)
            .await
    }
    async fn parse_return(
        &self,
        config: &ModuleConfig,
        settlement_type: &str,
        kind: ReturnKind,
        request: &InboundRequest,
    ) -> BrowserReturn {
        self.counted();
        self.inner
            .parse_return(config, settlement_type, kind, request)
            .await
    }
    fn respond(&self, endpoint: &str, request: &InboundRequest, answer: &Answer) -> WireResponse {
        self.inner.respond(endpoint, request, answer)
    }
}

/// A temporary directory, removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A response from the router.
struct Sent {
    status: u16,
    location: Option<String>,
    body: Vec<u8>,
}

impl Sent {
    fn is(&self, expected: &WireResponse) -> bool {
        self.status == expected.status && self.body == expected.body
    }

    fn describe(&self) -> String {
        format!(
            "HTTP {} `{}`",
            self.status,
            String::from_utf8_lossy(&self.body[..self.body.len().min(200)])
        )
    }
}

/// The host the checks run against.
struct Kit<'a> {
    state: AppState,
    router: axum::Router,
    database_url: String,
    spy: Arc<Spy>,
    wire: &'a dyn WireFormat,
    module_id: String,
    settlement_type: String,
    endpoint: String,
    method_id: i64,
    method_name: String,
    product_id: i64,
    _scratch: Scratch,
}

/// The price of the one product the kit sells, yen; every attempt is one of it, no shipping.
const PRICE: i64 = 1980;
const PEER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 45678);

fn scratch_dir() -> Result<PathBuf, String> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "shophost-testkit-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

impl<'a> Kit<'a> {
    async fn start(
        module: Arc<dyn PaymentModule>,
        wire: &'a dyn WireFormat,
    ) -> Result<Kit<'a>, String> {
        let dir = scratch_dir()?;
        let scratch = Scratch(dir.clone());
        let module_id = module.id().to_owned();
        let spy = Arc::new(Spy {
            inner: module.clone(),
            calls: AtomicUsize::new(0),
        });
        let registered = RegisteredModule {
            id: module_id.clone(),
            display_name: module.display_name().to_owned(),
            origin: Origin::CompiledIn,
            module: spy.clone(),
        };
        let registry = Registry::build(std::iter::empty(), vec![registered])
            .map_err(|e| format!("registry: {e}"))?;
        let database_url = format!("sqlite:{}", dir.join("kit.db").display());
        let mut settings = toml::Table::new();
        for (key, value) in wire.valid_settings() {
            settings.insert(key, toml::Value::String(value));
        }
        let mut module_settings = toml::Table::new();
        module_settings.insert(module_id.clone(), toml::Value::Table(settings));
        let mut modules = toml::Table::new();
        modules.insert(
            "in_use".to_owned(),
            toml::Value::Array(vec![toml::Value::String(module_id.clone())]),
        );
        modules.insert("settings".to_owned(), toml::Value::Table(module_settings));
        let mut database = toml::Table::new();
        database.insert("url".to_owned(), toml::Value::String(database_url.clone()));
        let mut root = toml::Table::new();
        root.insert("database".to_owned(), toml::Value::Table(database));
        root.insert("modules".to_owned(), toml::Value::Table(modules));
        let text = toml::to_string(&root).map_err(|e| format!("config: {e}"))?;
        let config = shophost::serve::config_from_toml(&text, &registry)
            .map_err(|e| format!("the host refuses the valid settings: {e}"))?;
        let state = shophost::serve::build_state(config, registry)
            .await
            .map_err(|e| format!("the host does not start: {e:#}"))?;
        let states = state.engine.states();
        let module_state = states
            .get(&module_id)
            .ok_or_else(|| format!("module `{module_id}` is not in use"))?;
        ensure!(
            module_state.errors.is_empty(),
            "the host finds the valid settings invalid: {}",
            list(&module_state.errors)
        );
        let settlement_type = match wire.settlement_type() {
            Some(id) => id,
            None => module_state
                .settlement_types
                .iter()
                .find(|t| t.kind == SettlementKind::Immediate)
                .map(|t| t.id.clone())
                .ok_or("the valid settings provide no Immediate settlement type; name one in WireFormat::settlement_type")?,
        };
        ensure!(
            state.engine.provided(&settlement_type).is_some(),
            "settlement type `{settlement_type}` is not provided by the valid settings"
        );
        let endpoint = wire.endpoint();
        ensure!(
            state.engine.endpoint(&endpoint).is_some(),
            "the valid settings do not listen on notification endpoint `{endpoint}`"
        );
        let store = state.store.clone();
        store
            .ensure_product("KIT-1", "適合性テスト商品", PRICE, "")
            .await
            .map_err(|e| format!("product: {e}"))?;
        let product_id = store
            .products()
            .await
            .map_err(|e| format!("products: {e}"))?
            .into_iter()
            .find(|p| p.sku == "KIT-1")
            .map(|p| p.id)
            .ok_or("the product was not stored")?;
        let method_name = "適合性テスト".to_owned();
        let method = store
            .create_payment_method(&NewPaymentMethod {
                name: method_name.clone(),
                explanation: String::new(),
                settlement_type: settlement_type.clone(),
                active: true,
                sort: 0,
            })
            .await
            .map_err(|e| format!("payment method: {e}"))?;
        Ok(Kit {
            router: shophost::http::router(state.clone()),
            state,
            database_url,
            spy,
            wire,
            module_id,
            settlement_type,
            endpoint,
            method_id: method.id,
            method_name,
            product_id,
            _scratch: scratch,
        })
    }

    /// A fresh checkout attempt through the host's checkout code; its link key.
    async fn attempt(&self) -> Result<String, String> {
        let input = CheckoutInput {
            lines: vec![CartInputLine {
                product_id: self.product_id,
                quantity: 1,
            }],
            customer: CustomerDetails {
                email: "shopper@example.com".into(),
                family_name: "山田".into(),
                given_name: "太郎".into(),
                family_kana: "ヤマダ".into(),
                given_kana: "タロウ".into(),
                postcode: "150-0001".into(),
                prefecture: "東京都".into(),
                address1: "渋谷区神宮前".into(),
                address2: "1-2-3".into(),
                address3: String::new(),
                phone: "03-1234-5678".into(),
            },
            payment_method_id: self.method_id,
            note: String::new(),
            options: Default::default(),
        };
        let attempt = checkout::create_attempt(&self.state, &input, None)
            .await
            .map_err(|e| format!("the host could not create a checkout attempt: {e}"))?;
        ensure!(
            attempt.total == PRICE,
            "the attempt's total is {}, expected {PRICE}",
            attempt.total
        );
        Ok(attempt.link_key)
    }

    async fn send(&self, path: &str, request: &TestRequest) -> Result<Sent, String> {
        let uri = if request.query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", request.query)
        };
        let mut builder = Request::builder().method(request.method.as_str()).uri(&uri);
        if let Some(content_type) = &request.content_type {
            builder = builder.header(header::CONTENT_TYPE, content_type);
        }
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let mut http = builder
            .body(Body::from(request.body.clone()))
            .map_err(|e| format!("cannot build the request to {uri}: {e}"))?;
        // The source checks see loopback, as from a gateway simulator on the same machine.
        http.extensions_mut().insert(ConnectInfo(PEER));
        let response = self
            .router
            .clone()
            .oneshot(http)
            .await
            .map_err(|e| format!("router: {e}"))?;
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = axum::body::to_bytes(response.into_body(), 1024 * 1024)
            .await
            .map_err(|e| format!("response body: {e}"))?
            .to_vec();
        Ok(Sent {
            status,
            location,
            body,
        })
    }

    async fn notify(&self, request: &TestRequest) -> Result<Sent, String> {
        self.send(&format!("/notify/{}", self.endpoint), request)
            .await
    }

    async fn browser_return(&self, request: &TestRequest) -> Result<Sent, String> {
        self.send(&format!("/return/{}/ok", self.settlement_type), request)
            .await
    }

    /// The bytes the module answers `request` with for `answer`, computed from the module itself on the
    /// request as the host decodes it.
    fn expected(&self, request: &TestRequest, answer: &Answer) -> WireResponse {
        let mut headers: Vec<(String, String)> = request
            .headers
            .iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
            .collect();
        if let Some(content_type) = &request.content_type {
            headers.push(("content-type".to_owned(), content_type.clone()));
        }
        let raw = RawInbound {
            method: request.method.clone(),
            query: request.query.clone(),
            headers,
            body: request.body.clone(),
            peer: PEER.ip(),
        };
        let decoded = decode(&raw, self.spy.wire_charset(), &[]);
        self.spy.respond(&self.endpoint, &decoded.request, answer)
    }

    fn acknowledgement(&self, request: &TestRequest) -> WireResponse {
        self.expected(request, &Answer::Acknowledge)
    }

    async fn orders(&self, link_key: &str) -> Result<Vec<Order>, String> {
        let filter = OrderFilter {
            link_key: Some(link_key.to_owned()),
            ..OrderFilter::default()
        };
        self.state
            .store
            .orders(&filter, 10)
            .await
            .map_err(|e| format!("orders: {e}"))
    }

    async fn events(&self, link_key: &str) -> Result<i64, String> {
        self.state
            .store
            .payment_event_count(link_key)
            .await
            .map_err(|e| format!("payment events: {e}"))
    }

    async fn expect_no_order(&self, link_key: &str, after: &str) -> Result<(), String> {
        let orders = self.orders(link_key).await?;
        ensure!(
            orders.is_empty(),
            "{after}, an order exists: {} ({})",
            orders[0].order_number,
            orders[0].payment_status.as_str()
        );
        let events = self.events(link_key).await?;
        ensure!(
            events == 0,
            "{after}, {events} payment event(s) were recorded"
        );
        Ok(())
    }

    async fn expect_one_paid_order(&self, link_key: &str, after: &str) -> Result<Order, String> {
        let orders = self.orders(link_key).await?;
        ensure!(
            orders.len() == 1,
            "{after}, {} orders exist for the link key, expected 1",
            orders.len()
        );
        let order = orders.into_iter().next().expect("one order");
        ensure!(
            matches!(
                order.payment_status,
                PaymentStatus::Captured | PaymentStatus::Authorized | PaymentStatus::Paid
            ),
            "{after}, the order is {}, expected paid (captured or authorized)",
            order.payment_status.as_str()
        );
        ensure!(
            order.total == PRICE,
            "{after}, the order's total is {}, expected {PRICE}",
            order.total
        );
        ensure!(
            order.module_id == self.module_id,
            "{after}, the order belongs to module `{}`",
            order.module_id
        );
        Ok(order)
    }

    async fn expect_acknowledged(&self, request: &TestRequest, what: &str) -> Result<(), String> {
        let sent = self.notify(request).await?;
        let ack = self.acknowledgement(request);
        ensure!(
            sent.is(&ack),
            "{what} was answered {}, expected the module's acknowledgement (HTTP {} `{}`)",
            sent.describe(),
            ack.status,
            String::from_utf8_lossy(&ack.body)
        );
        Ok(())
    }

    async fn expect_not_acknowledged(
        &self,
        request: &TestRequest,
        what: &str,
    ) -> Result<Sent, String> {
        let sent = self.notify(request).await?;
        ensure!(
            !sent.is(&self.acknowledgement(request)),
            "{what} was acknowledged ({}); the gateway would think it was received",
            sent.describe()
        );
        Ok(sent)
    }

    async fn payment_start(&self) -> Result<(), String> {
        let link_key = self.attempt().await?;
        let form = match checkout::confirm(&self.state, &link_key).await {
            Ok(Confirmed::Redirect(form)) => form,
            Ok(Confirmed::Completed(_)) => {
                return Err("the confirm step completed a paid attempt without the gateway".into())
            }
            Err(error) => return Err(format!("the confirm step failed: {error}")),
        };
        ensure!(
            form.url.starts_with("http://") || form.url.starts_with("https://"),
            "the form posts to `{}`, not an http(s) URL",
            form.url
        );
        ensure!(
            form.fields.iter().any(|f| f.value == link_key),
            "no field of the form carries the link key {link_key}"
        );
        ensure!(
            form.fields.iter().any(|f| f.value == PRICE.to_string()),
            "no field of the form carries the amount {PRICE}"
        );
        let again = checkout::confirm(&self.state, &link_key)
            .await
            .map_err(|e| format!("the second confirm failed: {e}"))?;
        ensure!(
            again == Confirmed::Redirect(form),
            "the confirm step built a different form the second time; modules must be deterministic"
        );
        Ok(())
    }

    async fn notification_before_return(&self) -> Result<(), String> {
        let link_key = self.attempt().await?;
        let notification = self.wire.success_notification(&link_key, PRICE);
        self.expect_acknowledged(&notification, "the success notification")
            .await?;
        self.expect_one_paid_order(
            &link_key,
            "after the notification, before any browser return",
        )
        .await?;
        let sent = self
            .browser_return(&self.wire.success_return(&link_key))
            .await?;
        ensure!(
            sent.status < 500,
            "the browser return after the notification was answered {}",
            sent.describe()
        );
        self.expect_one_paid_order(&link_key, "after the browser return")
            .await?;
        let events = self.events(&link_key).await?;
        ensure!(
            events == 1,
            "{events} payment events were recorded, expected 1"
        );
        match checkout::view_for(&self.state, &link_key).await {
            Ok(ReturnView::Completed(_)) => Ok(()),
            Ok(other) => Err(format!(
                "the completion page shows {other:?}, not the order"
            )),
            Err(error) => Err(format!("the completion page failed: {error}")),
        }
    }

    async fn duplicate_notification(&self) -> Result<(), String> {
        let link_key = self.attempt().await?;
        let notification = self.wire.success_notification(&link_key, PRICE);
        self.expect_acknowledged(&notification, "the first copy")
            .await?;
        let resend = self.wire.success_notification(&link_key, PRICE);
        self.expect_acknowledged(&resend, "the second copy").await?;
        self.expect_one_paid_order(&link_key, "after two copies")
            .await?;
        let events = self.events(&link_key).await?;
        ensure!(
            events == 1,
            "two copies recorded {events} payment events, expected 1"
        );
        let journal = self
            .state
            .store
            .journal(Some(&link_key), 10)
            .await
            .map_err(|e| format!("journal: {e}"))?;
        let verdicts: Vec<&str> = journal.iter().rev().map(|e| e.verdict.as_str()).collect();
        ensure!(
            verdicts == ["accepted", "duplicate"],
            "the journal says {verdicts:?}, expected [\"accepted\", \"duplicate\"]"
        );
        Ok(())
    }

    async fn return_without_notification(&self) -> Result<(), String> {
        let link_key = self.attempt().await?;
        let sent = self
            .browser_return(&self.wire.success_return(&link_key))
            .await?;
        ensure!(
            sent.status < 500,
            "the browser return was answered {}",
            sent.describe()
        );
        if let Some(location) = &sent.location {
            ensure!(
                location == &format!("/checkout/complete/{link_key}"),
                "the browser return redirects to `{location}`, expected /checkout/complete/{link_key}"
            );
        }
        self.expect_no_order(&link_key, "after a browser return alone")
            .await?;
        let attempt = self
            .state
            .store
            .attempt_by_link_key(&link_key)
            .await
            .map_err(|e| format!("attempt: {e}"))?
            .ok_or("the attempt disappeared")?;
        ensure!(
            attempt.state == AttemptState::Open,
            "after a browser return alone the attempt is {:?}, expected open",
            attempt.state
        );
        match checkout::view_for(&self.state, &link_key).await {
            Ok(ReturnView::Confirming(_)) => {}
            Ok(other) => {
                return Err(format!(
                    "the completion page shows {other:?}, expected \"confirming\""
                ))
            }
            Err(error) => return Err(format!("the completion page failed: {error}")),
        }
        let notification = self.wire.success_notification(&link_key, PRICE);
        self.expect_acknowledged(&notification, "the notification after the return")
            .await?;
        self.expect_one_paid_order(&link_key, "after the late notification")
            .await?;
        Ok(())
    }

    async fn wrong_amount(&self) -> Result<(), String> {
        let link_key = self.attempt().await?;
        let wrong = self.wire.success_notification(&link_key, PRICE + 1);
        self.expect_not_acknowledged(&wrong, "a notification for the wrong amount")
            .await?;
        self.expect_no_order(&link_key, "after a notification for the wrong amount")
            .await?;
        let right = self.wire.success_notification(&link_key, PRICE);
        self.expect_acknowledged(&right, "the notification for the right amount after it")
            .await?;
        self.expect_one_paid_order(&link_key, "after the right amount")
            .await?;
        Ok(())
    }

    async fn failed_payment(&self) -> Result<(), String> {
        let link_key = self.attempt().await?;
        let failure = self.wire.failure_notification(&link_key);
        self.expect_acknowledged(&failure, "the failure notification")
            .await?;
        let orders = self.orders(&link_key).await?;
        ensure!(
            orders.is_empty(),
            "a failure notification created order {}",
            orders[0].order_number
        );
        let errors = self
            .state
            .store
            .settlement_errors(100)
            .await
            .map_err(|e| format!("settlement errors: {e}"))?;
        ensure!(
            errors
                .iter()
                .any(|e| e.link_key.as_deref() == Some(link_key.as_str())),
            "the failure is not in the 決済エラーログ"
        );
        Ok(())
    }

    async fn undecodable_charset(&self) -> Result<(), String> {
        let link_key = self.attempt().await?;
        let undecodable = self.wire.undecodable_notification(&link_key, PRICE);
        self.expect_not_acknowledged(&undecodable, "an undecodable notification")
            .await?;
        self.expect_no_order(&link_key, "after an undecodable notification")
            .await?;
        let journal = self
            .state
            .store
            .journal(None, 1)
            .await
            .map_err(|e| format!("journal: {e}"))?;
        ensure!(
            journal.first().is_some_and(|e| e.verdict == "rejected"),
            "the undecodable notification is not journaled as rejected"
        );
        let good = self.wire.success_notification(&link_key, PRICE);
        self.expect_acknowledged(&good, "a good notification after the undecodable one")
            .await?;
        self.expect_one_paid_order(&link_key, "after the good notification")
            .await?;
        Ok(())
    }

    /// Makes the journal refuse inserts (a trigger, from a separate connection) until dropped again.
    async fn refuse_writes(&self, refuse: bool) -> Result<(), String> {
        use sqlx::Connection;
        let mut connection = sqlx::SqliteConnection::connect(&self.database_url)
            .await
            .map_err(|e| format!("cannot open the kit's database: {e}"))?;
        let sql = if refuse {
            "CREATE TRIGGER conformance_kit_refuses_writes BEFORE INSERT ON notification_journal \
             BEGIN SELECT RAISE(ABORT, 'the conformance kit refuses writes'); END"
        } else {
            "DROP TRIGGER conformance_kit_refuses_writes"
        };
        sqlx::query(sql)
            .execute(&mut connection)
            .await
            .map_err(|e| format!("cannot change the kit's database: {e}"))?;
        connection
            .close()
            .await
            .map_err(|e| format!("cannot close the kit's database: {e}"))
    }

    async fn retry_after_refused_acknowledgement(&self) -> Result<(), String> {
        let link_key = self.attempt().await?;
        let notification = self.wire.success_notification(&link_key, PRICE);
        self.refuse_writes(true).await?;
        let refused = self.notify(&notification).await;
        self.refuse_writes(false).await?;
        let refused = refused?;
        let unavailable = self.expected(&notification, &Answer::Unavailable);
        ensure!(
            !refused.is(&self.acknowledgement(&notification)),
            "a notification the host could not store was acknowledged ({}); the gateway would never resend it",
            refused.describe()
        );
        ensure!(
            refused.is(&unavailable),
            "a notification the host could not store was answered {}, expected the module's \"unavailable\" (HTTP {} `{}`)",
            refused.describe(),
            unavailable.status,
            String::from_utf8_lossy(&unavailable.body)
        );
        self.expect_no_order(&link_key, "after a notification the host could not store")
            .await?;
        let retry = self.wire.success_notification(&link_key, PRICE);
        self.expect_acknowledged(&retry, "the gateway's retry")
            .await?;
        self.expect_one_paid_order(&link_key, "after the retry")
            .await?;
        let events = self.events(&link_key).await?;
        ensure!(
            events == 1,
            "the retry recorded {events} payment events, expected 1"
        );
        Ok(())
    }

    async fn invalid_settings_stop_module(&self) -> Result<(), String> {
        let link_key = self.attempt().await?;
        let report = self
            .state
            .engine
            .update_settings(
                &self.module_id,
                self.wire.invalid_settings(),
                self.state.store.as_ref(),
            )
            .await
            .map_err(|e| format!("the settings update failed outright: {e}"))?;
        ensure!(!report.ok, "the host accepted the invalid settings");
        ensure!(
            report.stopped_methods.contains(&self.method_name),
            "the payment method was not stopped (stopped: {:?})",
            report.stopped_methods
        );
        let method = self
            .state
            .store
            .payment_method(self.method_id)
            .await
            .map_err(|e| format!("payment method: {e}"))?
            .ok_or("the payment method disappeared")?;
        ensure!(!method.active, "the payment method is still in use (使用)");
        ensure!(
            self.state.engine.provided(&self.settlement_type).is_none(),
            "settlement type `{}` is still provided",
            self.settlement_type
        );
        let calls_before = self.spy.calls.load(Ordering::SeqCst);
        ensure!(
            checkout::confirm(&self.state, &link_key).await.is_err(),
            "an open attempt could still be sent to the gateway"
        );
        let notification = self.wire.success_notification(&link_key, PRICE);
        self.expect_not_acknowledged(
            &notification,
            "a notification while the settings are invalid",
        )
        .await?;
        let sent = self
            .browser_return(&self.wire.success_return(&link_key))
            .await?;
        ensure!(
            sent.status < 500,
            "a browser return while the settings are invalid was answered {}",
            sent.describe()
        );
        self.expect_no_order(&link_key, "while the settings are invalid")
            .await?;
        let calls = self.spy.calls.load(Ordering::SeqCst) - calls_before;
        ensure!(
            calls == 0,
            "the host called the module's payment methods {calls} time(s) while its settings were invalid"
        );
        let restored = self
            .state
            .engine
            .update_settings(
                &self.module_id,
                self.wire.valid_settings(),
                self.state.store.as_ref(),
            )
            .await
            .map_err(|e| format!("restoring the valid settings failed: {e}"))?;
        ensure!(restored.ok, "the valid settings no longer validate");
        Ok(())
    }
}
