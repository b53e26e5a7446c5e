//! Remise sandbox: an offline stand-in for the test environment of the Japanese payment
//! gateway Remise (ルミーズ).
//!
//! Shop operators use it for the manual's 接続テスト (a test purchase followed by a look at the
//! 加盟店バックヤード), and end-to-end tests drive it over real HTTP. It serves:
//!
//! - `POST /rpgw2/pc/card/paycard.aspx`: the card page (カード決済); the test cards are
//!   [`TEST_CARD_VISA`], [`TEST_CARD_MASTERCARD`] and [`TEST_CARD_DECLINED`];
//! - `POST /rpgw2/pc/cvs/paycvs.aspx`: the multi-payment page (マルチ決済), and
//!   `GET /slip/{job_id}` for its 払込票;
//! - `GET /backyard`: the 売上集計データ一覧 with 売上 / 取消 / 返品 / 入金通知 / 再送 actions, and
//!   `GET /backyard/api/transactions` as JSON;
//! - `GET /`: a short explanation.
//!
//! The key design decision is that the sandbox behaves like Remise *on the wire* and nowhere
//! else: every form is decoded as Shift_JIS, every page and notification is encoded as
//! Shift_JIS, notifications count as delivered only on the exact `<SDBKDATA>STATUS=800</SDBKDATA>`
//! acknowledgement and are retried otherwise, and the browser comes back by an auto-submitting
//! POST. Its state is in memory behind one mutex, because a sandbox run is a rehearsal, not a
//! ledger.

mod backyard;
mod card;
mod conv;
mod fields;
mod model;
mod notify;
mod pages;
mod test_cards;
mod wire;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use rand::distributions::Alphanumeric;
use rand::Rng;
use time::{OffsetDateTime, UtcOffset};

pub use card::CARD_SUBMIT_PATH;
pub use model::{
    AutoChargeRecord, NotificationDelivery, NotificationKind, PaymentMethod, Transaction,
    TransactionKind, TransactionStatus,
};
pub use test_cards::{TEST_CARD_DECLINED, TEST_CARD_MASTERCARD, TEST_CARD_VISA};

/// How the sandbox is wired to the shop under test.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// 結果通知URL registered in the backyard, e.g.
    /// `http://127.0.0.1:8080/index.php?acting=remise_card`.
    pub card_notify_url: String,
    /// 収納情報通知URL, e.g. `http://127.0.0.1:8080/index.php?acting=remise_conv`.
    pub conv_notify_url: String,
    /// Accepted (`SHOPCO`, `HOSTID`) pairs; empty accepts any well-formed pair.
    pub shops: Vec<(String, String)>,
    /// Delivery attempts made before the shopper's browser is sent back to the shop.
    pub inline_attempts: u32,
    /// Total delivery attempts, including those retried in the background afterwards.
    pub max_attempts: u32,
    /// The wait before the second attempt; it doubles for each further attempt, up to 30 s.
    pub retry_base: Duration,
}

impl Default for SandboxConfig {
    fn default() -> SandboxConfig {
        SandboxConfig {
            card_notify_url: "http://127.0.0.1:8080/index.php?acting=remise_card".to_string(),
            conv_notify_url: "http://127.0.0.1:8080/index.php?acting=remise_conv".to_string(),
            shops: Vec::new(),
            inline_attempts: 3,
            max_attempts: 8,
            retry_base: Duration::from_millis(200),
        }
    }
}

/// The sandbox: shared state behind an `Arc`, cheap to clone into handlers and tests.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

struct Inner {
    config: SandboxConfig,
    notify_urls: Mutex<NotifyUrls>,
    store: Mutex<Store>,
    client: reqwest::Client,
}

#[derive(Clone)]
struct NotifyUrls {
    card: String,
    conv: String,
}

/// Everything the sandbox remembers. Transactions are only ever appended, so an index into
/// `transactions` stays valid for background deliveries.
#[derive(Default)]
pub(crate) struct Store {
    pub(crate) transactions: Vec<Transaction>,
    pub(crate) pending_cards: HashMap<String, card::PendingCard>,
    pub(crate) pending_convs: HashMap<String, conv::PendingConv>,
    pub(crate) saved_cards: HashMap<String, card::SavedCard>,
}

impl Store {
    /// The index of the transaction whose `X-TRANID` or `X-JOB_ID` is `remise_id`.
    pub(crate) fn position(&self, remise_id: &str) -> Option<usize> {
        self.transactions
            .iter()
            .position(|transaction| transaction.remise_id() == remise_id)
    }
}

impl Sandbox {
    /// Creates a sandbox with no transactions.
    pub fn new(config: SandboxConfig) -> Sandbox {
        // Loopback only: never route the shop's notification URL through an environment proxy.
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .user_agent("remise-sandbox")
            .build()
            .unwrap_or_default();
        let notify_urls = NotifyUrls {
            card: config.card_notify_url.clone(),
            conv: config.conv_notify_url.clone(),
        };
        Sandbox {
            inner: Arc::new(Inner {
                config,
                notify_urls: Mutex::new(notify_urls),
                store: Mutex::new(Store::default()),
                client,
            }),
        }
    }

    /// Changes where notifications go; tests bind the sandbox and the shop first, then wire
    /// them together. Deliveries already under way keep their URL.
    pub fn set_notify_urls(&self, card: String, conv: String) {
        *lock(&self.inner.notify_urls) = NotifyUrls { card, conv };
    }

    /// The HTTP routes, with this sandbox as their state.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", get(pages::index))
            .route("/rpgw2/pc/card/paycard.aspx", post(card::start))
            .route(CARD_SUBMIT_PATH, post(card::submit))
            .route("/rpgw2/pc/cvs/paycvs.aspx", post(conv::start))
            .route(conv::SUBMIT_PATH, post(conv::submit))
            .route("/slip/{job_id}", get(conv::slip))
            .route("/backyard", get(backyard::page))
            .route("/backyard/api/transactions", get(backyard::api))
            .route("/backyard/tx/{remise_id}/{action}", post(backyard::action))
            .with_state(self.clone())
    }

    /// Serves the sandbox on `listener` until the task is dropped or the listener fails.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        let router = self.router();
        axum::serve(listener, router).await
    }

    /// A snapshot of every transaction, oldest first.
    pub fn transactions(&self) -> Vec<Transaction> {
        self.store().transactions.clone()
    }

    pub(crate) fn config(&self) -> &SandboxConfig {
        &self.inner.config
    }

    pub(crate) fn card_notify_url(&self) -> String {
        lock(&self.inner.notify_urls).card.clone()
    }

    pub(crate) fn conv_notify_url(&self) -> String {
        lock(&self.inner.notify_urls).conv.clone()
    }

    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.inner.client
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.inner.store)
    }
}

/// Binds 127.0.0.1 on a free port and serves the sandbox on a background task.
pub async fn spawn(config: SandboxConfig) -> anyhow::Result<(Sandbox, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
    let address = listener.local_addr()?;
    let sandbox = Sandbox::new(config);
    let server = sandbox.clone();
    tokio::spawn(async move {
        if let Err(error) = server.serve(listener).await {
            tracing::error!(%error, "remise sandbox stopped");
        }
    });
    Ok((sandbox, address))
}

/// Locks a mutex, carrying on after a panic elsewhere: the data is a test record, and a
/// poisoned lock would only turn one failure into many.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Asia/Tokyo has had no daylight saving time since 1951, so a fixed offset is exact.
pub(crate) const JST: UtcOffset = time::macros::offset!(+9);

/// The current time in Asia/Tokyo.
pub(crate) fn now_jst() -> OffsetDateTime {
    OffsetDateTime::now_utc().to_offset(JST)
}

/// `count` random decimal digits, the first one not zero (Remise's ids are fixed-width).
pub(crate) fn random_digits(count: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..count)
        .map(|index| {
            let low = if index == 0 { 1 } else { 0 };
            char::from(b'0' + rng.gen_range(low..10u8))
        })
        .collect()
}

/// `count` random ASCII letters and digits.
pub(crate) fn random_alphanumeric(count: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(count)
        .map(char::from)
        .collect()
}

/// YYYYMMDD.
pub(crate) fn format_date(date: time::Date) -> String {
    format!(
        "{:04}{:02}{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}
