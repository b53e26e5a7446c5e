//! The host the checks run against, and the tools they use on it.
//!
//! [`Kit`] is a real host state built the way production builds it: the module registered (wrapped
//! in a `Spy` that counts calls into its payment methods), the author's valid settings in a
//! configuration, SQLite in a scratch directory that is removed afterwards, one product and one
//! payment method. Requests go through the host's HTTP router in-process, from 127.0.0.1, and the
//! expected answers are computed by asking the module itself about the request as the host decodes it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request};
use shophost::checkout::{self, CartInputLine, CheckoutInput};
use shophost::db::{NewPaymentMethod, OrderFilter};
use shophost::domain::{CustomerDetails, Order, PaymentStatus};
use shophost::inbound::{decode_for, RawInbound};
use shophost::registry::{Origin, RegisteredModule, Registry};
use shophost::AppState;
use shophost_module_api::{
    Answer, FieldError, PaymentModule, Refusal, SettlementKind, WireResponse,
};
use tower::ServiceExt;

use crate::spy::Spy;
use crate::wire_format::{TestRequest, WireFormat};

/// Fails the check with a formatted reason unless the condition holds. Shared by the harness and
/// the checks.
macro_rules! ensure {
    ($condition:expr, $($reason:tt)+) => {
        if !$condition {
            return Err(format!($($reason)+));
        }
    };
}
pub(crate) use ensure;

/// A temporary directory, removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A response from the router.
pub(crate) struct Sent {
    pub(crate) status: u16,
    pub(crate) location: Option<String>,
    pub(crate) body: Vec<u8>,
}

impl Sent {
    pub(crate) fn is(&self, expected: &WireResponse) -> bool {
        self.status == expected.status && self.body == expected.body
    }

    pub(crate) fn describe(&self) -> String {
        format!(
            "HTTP {} `{}`",
            self.status,
            String::from_utf8_lossy(&self.body[..self.body.len().min(200)])
        )
    }
}

/// The host the checks run against.
pub(crate) struct Kit<'a> {
    pub(crate) state: AppState,
    router: axum::Router,
    database_url: String,
    pub(crate) spy: Arc<Spy>,
    pub(crate) wire: &'a dyn WireFormat,
    pub(crate) module_id: String,
    pub(crate) settlement_type: String,
    endpoint: String,
    pub(crate) method_id: i64,
    pub(crate) method_name: String,
    product_id: i64,
    _scratch: Scratch,
}

/// The price of the one product the kit sells, yen; every attempt is one of it, no shipping.
pub(crate) const PRICE: i64 = 1980;
/// Where the kit's requests come from: loopback, as from a gateway simulator on the same machine.
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

/// The field errors of a validation, on one line.
pub(crate) fn list(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl<'a> Kit<'a> {
    /// Builds the host from the author's valid settings; `Err` says why it cannot be built.
    pub(crate) async fn start(
        module: Arc<dyn PaymentModule>,
        wire: &'a dyn WireFormat,
    ) -> Result<Kit<'a>, String> {
        let dir = scratch_dir()?;
        let scratch = Scratch(dir.clone());
        let module_id = module.id().to_owned();
        let spy = Arc::new(Spy::new(module.clone()));
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
    pub(crate) async fn attempt(&self) -> Result<String, String> {
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

    /// A fresh checkout attempt whose link key contains none of `digits` (a few tries; link keys are
    /// random).
    pub(crate) async fn attempt_avoiding(&self, digits: &[&str]) -> Result<String, String> {
        let mut link_key = self.attempt().await?;
        for _ in 0..20 {
            if !digits.iter().any(|d| link_key.contains(d)) {
                break;
            }
            link_key = self.attempt().await?;
        }
        Ok(link_key)
    }

    /// The notification endpoint under test.
    pub(crate) fn endpoint_name(&self) -> &str {
        &self.endpoint
    }

    async fn send(&self, path: &str, request: &TestRequest) -> Result<Sent, String> {
        self.send_from(PEER, path, request).await
    }

    async fn send_from(
        &self,
        peer: SocketAddr,
        path: &str,
        request: &TestRequest,
    ) -> Result<Sent, String> {
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
        // The source checks see `peer`: loopback, as from a gateway simulator on the same machine,
        // unless a check sends from elsewhere.
        http.extensions_mut().insert(ConnectInfo(peer));
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

    pub(crate) async fn notify(&self, request: &TestRequest) -> Result<Sent, String> {
        self.send(&format!("/notify/{}", self.endpoint), request)
            .await
    }

    /// Sends a notification from another address than loopback.
    pub(crate) async fn notify_from(
        &self,
        source: IpAddr,
        request: &TestRequest,
    ) -> Result<Sent, String> {
        let path = format!("/notify/{}", self.endpoint);
        self.send_from(SocketAddr::new(source, PEER.port()), &path, request)
            .await
    }

    pub(crate) async fn browser_return(&self, request: &TestRequest) -> Result<Sent, String> {
        self.send(&format!("/return/{}/ok", self.settlement_type), request)
            .await
    }

    /// The bytes the module answers `request` with for `answer`, computed from the module itself on the
    /// request as the host decodes it.
    pub(crate) fn expected(&self, request: &TestRequest, answer: &Answer) -> WireResponse {
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
        let decoded = decode_for(&raw, self.spy.wire_charset(), self.spy.as_ref(), &[]);
        self.spy.respond(&self.endpoint, &decoded.request, answer)
    }

    pub(crate) fn acknowledgement(&self, request: &TestRequest) -> WireResponse {
        self.expected(request, &Answer::Acknowledge)
    }

    pub(crate) async fn orders(&self, link_key: &str) -> Result<Vec<Order>, String> {
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

    pub(crate) async fn events(&self, link_key: &str) -> Result<i64, String> {
        self.state
            .store
            .payment_event_count(link_key)
            .await
            .map_err(|e| format!("payment events: {e}"))
    }

    pub(crate) async fn expect_no_order(&self, link_key: &str, after: &str) -> Result<(), String> {
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

    pub(crate) async fn expect_one_paid_order(
        &self,
        link_key: &str,
        after: &str,
    ) -> Result<Order, String> {
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

    pub(crate) async fn expect_acknowledged(
        &self,
        request: &TestRequest,
        what: &str,
    ) -> Result<(), String> {
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

    /// Sends a notification and checks only that it is not acknowledged: for a request no module
    /// answers (with the module's settings invalid, the host answers for itself). Where the module
    /// answers, use [`Kit::expect_refused`].
    pub(crate) async fn expect_not_acknowledged(
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

    /// Sends a notification the host must refuse, and checks that the answer is the module's own
    /// refusal: not the acknowledgement (the gateway would think it was received), not a server error
    /// nor the module's "unavailable" (the gateway would resend it again and again), but what the
    /// module's `respond` gives for a refusal of this request. `likely` is the refusal the host
    /// usually gives here; any kind is accepted, since a module may reject the request itself.
    pub(crate) async fn expect_refused(
        &self,
        request: &TestRequest,
        likely: Refusal,
        what: &str,
    ) -> Result<(), String> {
        let sent = self.expect_not_acknowledged(request, what).await?;
        self.check_refusal(request, &sent, likely, what)
    }

    /// Checks that `sent`, the answer to `request`, is one of the module's own refusal answers (see
    /// [`Kit::expect_refused`]).
    pub(crate) fn check_refusal(
        &self,
        request: &TestRequest,
        sent: &Sent,
        likely: Refusal,
        what: &str,
    ) -> Result<(), String> {
        let unavailable = self.expected(request, &Answer::Unavailable);
        ensure!(
            sent.status < 500 && !sent.is(&unavailable),
            "{what} was answered {}; a refusal must be answered below HTTP 500 and unlike \"unavailable\", or the gateway resends it",
            sent.describe()
        );
        let refusal_answer = |refusal| self.expected(request, &Answer::Refuse(refusal));
        let example = refusal_answer(likely);
        ensure!(
            Refusal::ALL.into_iter().any(|refusal| sent.is(&refusal_answer(refusal))),
            "{what} was answered {}, none of the module's refusal answers (for {likely:?}: HTTP {} `{}`)",
            sent.describe(),
            example.status,
            String::from_utf8_lossy(&example.body)
        );
        Ok(())
    }

    /// Makes the journal refuse inserts (a trigger, from a separate connection) until dropped again.
    pub(crate) async fn refuse_writes(&self, refuse: bool) -> Result<(), String> {
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
}
