//! End-to-end tests of the Remise sandbox over real sockets: a sandbox and a tiny fake shop,
//! both on 127.0.0.1:0, talking Shift_JIS to each other the way Remise and a shop do.
//!
//! The helpers here stand in for the browser: they post Shift_JIS forms, read the hidden
//! fields of the pages the sandbox returns and post them on, as a browser's auto-submit would.
//! The tests are in `card.rs` (the card gateway, PayQuick, the backyard and notification retries)
//! and `conv.rs` (コンビニ・電子マネー), each seeing these helpers as their parent's.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::routing::post;
use axum::Router;
use encoding_rs::SHIFT_JIS;
use percent_encoding::{percent_decode, percent_encode, NON_ALPHANUMERIC};
use remise_sandbox::{
    spawn, NotificationKind, PaymentMethod, Sandbox, SandboxConfig, Transaction, TransactionKind,
    TransactionStatus, CARD_SUBMIT_PATH, TEST_CARD_DECLINED, TEST_CARD_MASTERCARD, TEST_CARD_VISA,
};
use tower::ServiceExt;

const ACK: &str = "<SDBKDATA>STATUS=800</SDBKDATA>";

// ---------------------------------------------------------------- Shift_JIS form helpers

/// Encodes fields as a browser would post them from an `accept-charset="Shift_JIS"` form.
fn sjis_form(fields: &[(String, String)]) -> Vec<u8> {
    let encode = |text: &str| {
        let (bytes, _, _) = SHIFT_JIS.encode(text);
        percent_encode(&bytes, NON_ALPHANUMERIC).to_string()
    };
    fields
        .iter()
        .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

/// Decodes a Shift_JIS form body (what a shop must do with Remise's notifications).
fn decode_sjis_form(body: &[u8]) -> Vec<(String, String)> {
    let decode = |raw: &[u8]| {
        let spaced: Vec<u8> = raw
            .iter()
            .map(|&byte| if byte == b'+' { b' ' } else { byte })
            .collect();
        let bytes: Vec<u8> = percent_decode(&spaced).collect();
        SHIFT_JIS.decode(&bytes).0.into_owned()
    };
    body.split(|&byte| byte == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let mut parts = pair.splitn(2, |&byte| byte == b'=');
            let name = decode(parts.next().unwrap_or_default());
            let value = decode(parts.next().unwrap_or_default());
            (name, value)
        })
        .collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(field, _)| field == name)
        .map(|(_, value)| value.as_str())
}

fn set(fields: &mut Vec<(String, String)>, name: &str, value: &str) {
    fields.retain(|(field, _)| field != name);
    fields.push((name.to_string(), value.to_string()));
}

fn unset(fields: &mut Vec<(String, String)>, name: &str) {
    fields.retain(|(field, _)| field != name);
}

fn owned(fields: &[(&str, &str)]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The hidden inputs of a page, as `name="..." value="..."` pairs, in order.
fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    let mut inputs = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<input type=\"hidden\" name=\"") {
        rest = &rest[start + "<input type=\"hidden\" name=\"".len()..];
        let name_end = rest.find('"').expect("name ends");
        let name = unescape(&rest[..name_end]);
        rest = &rest[name_end..];
        let value_start = rest.find("value=\"").expect("value") + "value=\"".len();
        rest = &rest[value_start..];
        let value_end = rest.find('"').expect("value ends");
        inputs.push((name, unescape(&rest[..value_end])));
        rest = &rest[value_end..];
    }
    inputs
}

/// The `action` of the auto-submitting return form.
fn return_action(html: &str) -> String {
    let marker = "<form id=\"return\" method=\"post\" action=\"";
    let start = html.find(marker).expect("a return form") + marker.len();
    let end = html[start..].find('"').expect("action ends");
    unescape(&html[start..start + end])
}

fn session_of(html: &str) -> String {
    field(&hidden_inputs(html), "SESSION")
        .expect("a SESSION field")
        .to_string()
}

// ---------------------------------------------------------------- the fake shop

/// A request the fake shop received.
#[derive(Debug, Clone)]
struct Received {
    query: String,
    content_type: String,
    raw: Vec<u8>,
    fields: Vec<(String, String)>,
}

impl Received {
    fn get(&self, name: &str) -> Option<&str> {
        field(&self.fields, name)
    }
}

#[derive(Clone, Default)]
struct ShopState {
    notifications: Arc<Mutex<Vec<Received>>>,
    returns: Arc<Mutex<Vec<Received>>>,
    /// While set, notifications get Welcart's `SESSION TIME OUT` instead of the acknowledgement.
    refuse: Arc<AtomicBool>,
}

struct FakeShop {
    address: SocketAddr,
    state: ShopState,
}

impl FakeShop {
    async fn start() -> FakeShop {
        let state = ShopState::default();
        let router = Router::new()
            .route("/notify", post(shop_notify))
            .route("/return", post(shop_return))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        FakeShop { address, state }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    fn notifications(&self) -> Vec<Received> {
        self.state.notifications.lock().unwrap().clone()
    }

    fn returns(&self) -> Vec<Received> {
        self.state.returns.lock().unwrap().clone()
    }
}

fn received(query: Option<String>, headers: &HeaderMap, body: &Bytes) -> Received {
    Received {
        query: query.unwrap_or_default(),
        content_type: headers
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        raw: body.to_vec(),
        fields: decode_sjis_form(body),
    }
}

async fn shop_notify(
    State(state): State<ShopState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> &'static str {
    state
        .notifications
        .lock()
        .unwrap()
        .push(received(query, &headers, &body));
    if state.refuse.load(Ordering::SeqCst) {
        "SESSION TIME OUT"
    } else {
        ACK
    }
}

async fn shop_return(
    State(state): State<ShopState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> &'static str {
    state
        .returns
        .lock()
        .unwrap()
        .push(received(query, &headers, &body));
    "thank you"
}

// ---------------------------------------------------------------- setup

struct Setup {
    sandbox: Sandbox,
    base: String,
    shop: FakeShop,
    client: reqwest::Client,
}

async fn setup_with(config: SandboxConfig) -> Setup {
    let (sandbox, address) = spawn(config).await.unwrap();
    let shop = FakeShop::start().await;
    sandbox.set_notify_urls(
        shop.url("/notify?acting=remise_card"),
        shop.url("/notify?acting=remise_conv"),
    );
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    Setup {
        sandbox,
        base: format!("http://{address}"),
        shop,
        client,
    }
}

async fn setup() -> Setup {
    setup_with(SandboxConfig {
        retry_base: Duration::from_millis(20),
        ..SandboxConfig::default()
    })
    .await
}

impl Setup {
    /// Posts a Shift_JIS form; returns the status, the Content-Type and the SJIS-decoded body.
    async fn post(&self, url: &str, fields: &[(String, String)]) -> (StatusCode, String, String) {
        let response = self
            .client
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(sjis_form(fields))
            .send()
            .await
            .unwrap();
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let bytes = response.bytes().await.unwrap();
        (
            status,
            content_type,
            SHIFT_JIS.decode(&bytes).0.into_owned(),
        )
    }

    async fn get(&self, url: &str) -> (StatusCode, String) {
        let response = self.client.get(url).send().await.unwrap();
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        let bytes = response.bytes().await.unwrap();
        (status, SHIFT_JIS.decode(&bytes).0.into_owned())
    }

    /// The card form Welcart's confirm page sends (form_card_guest).
    fn card_form(&self, torihiki_no: &str) -> Vec<(String, String)> {
        owned(&[
            ("SHOPCO", "TESTSHOP"),
            ("HOSTID", "12345678"),
            ("REMARKS3", "A0000875"),
            ("S_TORIHIKI_NO", torihiki_no),
            ("JOB", "CAPTURE"),
            ("MAIL", "guest@example.invalid"),
            ("ITEM", "0000120"),
            ("TOTAL", "3990"),
            ("AMOUNT", "3990"),
            (
                "RETURL",
                &self
                    .shop
                    .url("/return?page_id=4&acting=remise_card&acting_return=1"),
            ),
            (
                "NG_RETURL",
                &self
                    .shop
                    .url("/return?page_id=4&acting=remise_card&acting_return=0"),
            ),
            ("EXITURL", &self.shop.url("/?page_id=4&confirm=1")),
            ("div", "0"),
            ("METHOD", "10"),
            ("dummy", "&#65533;"),
        ])
    }

    /// Opens the card page; returns its HTML.
    async fn open_card_page(&self, form: &[(String, String)]) -> String {
        let (status, content_type, html) = self
            .post(&format!("{}/rpgw2/pc/card/paycard.aspx", self.base), form)
            .await;
        assert_eq!(status, StatusCode::OK, "{html}");
        assert_eq!(content_type, "text/html; charset=Shift_JIS");
        html
    }

    /// Submits the card page with a card; returns the status and the page.
    async fn pay(
        &self,
        card_page: &str,
        card: &str,
        expire: &str,
        name: &str,
    ) -> (StatusCode, String) {
        let fields = owned(&[
            ("SESSION", &session_of(card_page)),
            ("CARDNO", card),
            ("EXPIRE", expire),
            ("NAME", name),
        ]);
        let (status, _, html) = self
            .post(&format!("{}{CARD_SUBMIT_PATH}", self.base), &fields)
            .await;
        (status, html)
    }

    fn transaction(&self, torihiki_no: &str) -> Transaction {
        self.sandbox
            .transactions()
            .into_iter()
            .rev()
            .find(|transaction| transaction.torihiki_no == torihiki_no)
            .expect("a transaction")
    }

    /// The notifications the shop received for `torihiki_no`.
    fn notifications_for(&self, torihiki_no: &str) -> Vec<Received> {
        self.shop
            .notifications()
            .into_iter()
            .filter(|notification| {
                notification.get("X-S_TORIHIKI_NO") == Some(torihiki_no)
                    || notification.get("S_TORIHIKI_NO") == Some(torihiki_no)
            })
            .collect()
    }
}

async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..500 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

mod card;
mod conv;

// ---------------------------------------------------------------- the top page

#[tokio::test]
async fn top_page_explains_the_sandbox() {
    let setup = setup().await;
    let (status, html) = setup.get(&format!("{}/", setup.base)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("接続テスト"));
    assert!(html.contains(TEST_CARD_VISA));
    assert!(html.contains(TEST_CARD_DECLINED));
    assert!(html.contains("/backyard"));
    assert!(html.contains("/rpgw2/pc/card/paycard.aspx"));
}
