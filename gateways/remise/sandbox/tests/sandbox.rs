//! End-to-end tests of the Remise sandbox over real sockets: a sandbox and a tiny fake shop,
//! both on 127.0.0.1:0, talking Shift_JIS to each other the way Remise and a shop do.
//!
//! The helpers here stand in for the browser: they post Shift_JIS forms, read the hidden
//! fields of the pages the sandbox returns and post them on, as a browser's auto-submit would.

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

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn malformed_card_form_gets_an_error_page_naming_each_field() {
    let sandbox = Sandbox::new(SandboxConfig {
        shops: vec![("TESTSHOP".to_string(), "12345678".to_string())],
        ..SandboxConfig::default()
    });
    let form = owned(&[
        ("SHOPCO", "TESTSHOP"),
        ("HOSTID", "12345678"),
        ("S_TORIHIKI_NO", "12ab"),
        ("JOB", "SELL"),
        ("TOTAL", "3990"),
        ("AMOUNT", "3000"),
        ("METHOD", "61"),
        ("NG_RETURL", "javascript:alert(1)"),
    ]);
    let request = Request::post("/rpgw2/pc/card/paycard.aspx")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(sjis_form(&form)))
        .unwrap();
    let response = sandbox.router().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=Shift_JIS"
    );
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let html = SHIFT_JIS.decode(&bytes).0.into_owned();
    for expected in [
        "S_TORIHIKI_NO が不正です",
        "JOB が不正です",
        "TOTAL と AMOUNT が一致しません",
        "PTIMES が指定されていません",
        "RETURL が指定されていません",
        "NG_RETURL が不正です",
    ] {
        assert!(html.contains(expected), "missing {expected:?} in {html}");
    }
    assert!(sandbox.transactions().is_empty());

    // An unregistered shop is refused when shops are configured.
    let mut form = owned(&[
        ("SHOPCO", "OTHER"),
        ("HOSTID", "1"),
        ("S_TORIHIKI_NO", "1"),
        ("JOB", "CHECK"),
        ("RETURL", "http://127.0.0.1/ok"),
        ("NG_RETURL", "http://127.0.0.1/ng"),
    ]);
    let request = |form: &[(String, String)]| {
        Request::post("/rpgw2/pc/card/paycard.aspx")
            .body(Body::from(sjis_form(form)))
            .unwrap()
    };
    let response = sandbox.router().oneshot(request(&form)).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    assert!(SHIFT_JIS
        .decode(&bytes)
        .0
        .contains("SHOPCO と HOSTID の組み合わせ（OTHER / 1）が登録されていません"));
    set(&mut form, "SHOPCO", "TESTSHOP");
    set(&mut form, "HOSTID", "12345678");
    let response = sandbox.router().oneshot(request(&form)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn card_success_notifies_in_shift_jis_and_returns_the_browser_by_post() {
    let setup = setup().await;
    let page = setup.open_card_page(&setup.card_form("5366113344")).await;
    assert!(page.contains("accept-charset=\"Shift_JIS\""));
    assert!(page.contains("3,990円"));
    assert!(
        page.contains(TEST_CARD_VISA),
        "test cards are documented on the page"
    );

    let (status, return_page) = setup
        .pay(&page, "4111 1111 1111 1111", "12/99", "山田 太郎")
        .await;
    assert_eq!(status, StatusCode::OK);

    // The 結果通知.
    let notifications = setup.notifications_for("5366113344");
    assert_eq!(notifications.len(), 1);
    let notification = &notifications[0];
    assert_eq!(notification.query, "acting=remise_card");
    assert_eq!(
        notification.content_type,
        "application/x-www-form-urlencoded; charset=Shift_JIS"
    );
    assert!(notification.raw.is_ascii(), "the body is percent-encoded");
    let tran_id = notification.get("X-TRANID").unwrap().to_string();
    assert_eq!(tran_id.len(), 28);
    assert!(tran_id.bytes().all(|byte| byte.is_ascii_digit()));
    for (name, value) in [
        ("X-ERRCODE", "   "),
        ("X-ERRINFO", "000000000"),
        ("X-ERRLEVEL", "0"),
        ("X-R_CODE", "0:0000"),
        ("X-AMOUNT", "3990"),
        ("X-TAX", "0"),
        ("X-TOTAL", "3990"),
        ("X-PARTOFCARD", "1111"),
        ("X-EXPIRE", "1299"),
        ("X-CARDBRAND", "VISA"),
        ("X-NAME", "山田 太郎"),
        ("REC_TYPE", "RET"),
    ] {
        assert_eq!(notification.get(name), Some(value), "{name}");
    }
    assert_eq!(notification.get("X-REFAPPROVED").map(str::len), Some(7));
    for absent in ["OPT", "SHOPCO", "X-PAYQUICKID", "X-AC_MEMBERID"] {
        assert_eq!(notification.get(absent), None, "{absent}");
    }

    // The sandbox's record.
    let transaction = setup.transaction("5366113344");
    assert_eq!(transaction.kind, TransactionKind::Card);
    assert_eq!(transaction.status, TransactionStatus::Sales);
    assert_eq!(transaction.tran_id.as_deref(), Some(tran_id.as_str()));
    assert_eq!(transaction.holder_name, "山田 太郎");
    assert_eq!(transaction.amount, 3990);
    assert_eq!(transaction.payment_method, Some(PaymentMethod::Lump));
    assert_eq!(transaction.notifications.len(), 1);
    assert!(transaction.notifications[0].delivered);
    assert_eq!(transaction.notifications[0].attempts, 1);
    assert_eq!(
        transaction.notifications[0].last_answer.as_deref(),
        Some(ACK)
    );

    // The browser return: an auto-submitting Shift_JIS form to RETURL with the X- fields.
    assert!(return_page.contains("ショップに戻る"));
    assert!(return_page.contains("accept-charset=\"Shift_JIS\""));
    let action = return_action(&return_page);
    assert_eq!(
        action,
        setup
            .shop
            .url("/return?page_id=4&acting=remise_card&acting_return=1")
    );
    let carried = hidden_inputs(&return_page);
    assert_eq!(field(&carried, "X-TRANID"), Some(tran_id.as_str()));
    assert_eq!(field(&carried, "REC_TYPE"), None);
    let (status, _, _) = setup.post(&action, &carried).await;
    assert_eq!(status, StatusCode::OK);
    let returns = setup.shop.returns();
    assert_eq!(returns.len(), 1);
    assert_eq!(
        returns[0].query,
        "page_id=4&acting=remise_card&acting_return=1"
    );
    assert_eq!(returns[0].get("X-ERRCODE"), Some("   "));
    assert_eq!(returns[0].get("X-S_TORIHIKI_NO"), Some("5366113344"));
    assert_eq!(returns[0].get("X-NAME"), Some("山田 太郎"));

    // The session is single-use: submitting the page again charges nothing.
    let (status, html) = setup.pay(&page, TEST_CARD_VISA, "12/99", "TARO").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("セッションエラー"));
    assert_eq!(setup.sandbox.transactions().len(), 1);
}

#[tokio::test]
async fn declined_cards_go_to_ng_returl_with_their_error_codes() {
    let setup = setup().await;
    let cases = [
        ("1000000001", TEST_CARD_DECLINED, "12/99", "G12", "1:0012"),
        ("1000000002", "4242424242424242", "12/99", "G65", "1:0065"),
        ("1000000003", TEST_CARD_MASTERCARD, "01/20", "G83", "1:0083"),
    ];
    for (torihiki_no, card, expire, code, r_code) in cases {
        let page = setup.open_card_page(&setup.card_form(torihiki_no)).await;
        let (status, return_page) = setup.pay(&page, card, expire, "TARO YAMADA").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            return_action(&return_page).ends_with("acting_return=0"),
            "{card}"
        );
        let notifications = setup.notifications_for(torihiki_no);
        assert_eq!(notifications.len(), 1);
        let notification = &notifications[0];
        assert_eq!(notification.get("X-ERRCODE"), Some(code));
        assert_eq!(notification.get("X-ERRLEVEL"), Some("1"));
        assert_eq!(notification.get("X-R_CODE"), Some(r_code));
        assert_eq!(notification.get("X-TRANID").map(str::len), Some(28));
        let transaction = setup.transaction(torihiki_no);
        assert_eq!(transaction.status, TransactionStatus::Declined);
        assert_eq!(transaction.error_code.as_deref(), Some(code));
    }

    // A typing mistake is not a decline: the page comes back with the problem.
    let page = setup.open_card_page(&setup.card_form("1000000004")).await;
    let (status, html) = setup.pay(&page, "41111", "13/99", "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("カード番号を半角数字で入力してください"));
    assert!(html.contains("有効期限を MM/YY の形で入力してください"));
    assert!(html.contains("カード名義人を入力してください"));
    let (status, _) = setup.pay(&html, TEST_CARD_VISA, "12/99", "TARO").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        setup.transaction("1000000004").status,
        TransactionStatus::Sales
    );
}

#[tokio::test]
async fn installments_and_authorisation_are_recorded_and_operable_in_the_backyard() {
    let setup = setup().await;
    let mut form = setup.card_form("2000000001");
    set(&mut form, "JOB", "AUTH");
    set(&mut form, "div", "1");
    set(&mut form, "METHOD", "61");
    set(&mut form, "PTIMES", "2");
    let page = setup.open_card_page(&form).await;
    assert!(page.contains("分割（2回）"));
    setup
        .pay(&page, TEST_CARD_MASTERCARD, "0699", "HANAKO")
        .await;
    let transaction = setup.transaction("2000000001");
    assert_eq!(transaction.status, TransactionStatus::Authorized);
    assert_eq!(
        transaction.payment_method,
        Some(PaymentMethod::TwoInstallments)
    );
    assert_eq!(transaction.card_brand.as_deref(), Some("MASTER"));

    let (_, backyard) = setup.get(&format!("{}/backyard", setup.base)).await;
    assert!(backyard.contains("2000000001"));
    assert!(backyard.contains("分割（2回）"));
    assert!(backyard.contains("仮売上"));
    assert!(backyard.contains("3,990"));

    // 仮売上 → 売上 → 返品, and a refused transition.
    let tran_id = transaction.tran_id.unwrap();
    let action = |name: &str| format!("{}/backyard/tx/{tran_id}/{name}", setup.base);
    let (status, _, _) = setup.post(&action("capture"), &[]).await;
    assert_eq!(status, StatusCode::OK, "redirected back to the list");
    assert_eq!(
        setup.transaction("2000000001").status,
        TransactionStatus::Sales
    );
    let (status, _, _) = setup.post(&action("refund"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        setup.transaction("2000000001").status,
        TransactionStatus::Returned
    );
    let (status, _, html) = setup.post(&action("capture"), &[]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(html.contains("集計区分が「返品」の取引は「売上」にできません"));
    // Backyard actions are not notified to the shop.
    assert_eq!(setup.notifications_for("2000000001").len(), 1);

    // Revolving, and an installment form without PTIMES.
    let mut form = setup.card_form("2000000002");
    set(&mut form, "METHOD", "80");
    let page = setup.open_card_page(&form).await;
    setup.pay(&page, TEST_CARD_VISA, "0699", "HANAKO").await;
    assert_eq!(
        setup.transaction("2000000002").payment_method,
        Some(PaymentMethod::Revolving)
    );
    let mut form = setup.card_form("2000000003");
    set(&mut form, "METHOD", "61");
    let (status, _, html) = setup
        .post(&format!("{}/rpgw2/pc/card/paycard.aspx", setup.base), &form)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("PTIMES が指定されていません"));
}

#[tokio::test]
async fn payquick_is_issued_then_reused_without_a_card_number() {
    let setup = setup().await;
    let mut form = setup.card_form("3000000001");
    set(&mut form, "PAYQUICK", "1");
    let page = setup.open_card_page(&form).await;
    assert!(!page.contains("このカードで支払う"));
    setup
        .pay(&page, TEST_CARD_VISA, "08/99", "KAIIN HANAKO")
        .await;
    let first = &setup.notifications_for("3000000001")[0];
    let payquick_id = first
        .get("X-PAYQUICKID")
        .expect("a PayQuick id")
        .to_string();
    assert_eq!(payquick_id.len(), 20);
    assert!(payquick_id.bytes().all(|byte| byte.is_ascii_alphanumeric()));

    // The member's next checkout sends the id: the page offers the saved card.
    let mut form = setup.card_form("3000000002");
    set(&mut form, "PAYQUICK", "1");
    set(&mut form, "PAYQUICKID", &payquick_id);
    let page = setup.open_card_page(&form).await;
    assert!(page.contains("このカードで支払う"));
    assert!(page.contains("1111"));
    assert!(page.contains("08/99"));
    let fields = owned(&[("SESSION", &session_of(&page)), ("USE_PAYQUICK", "1")]);
    let (status, _, return_page) = setup
        .post(&format!("{}{CARD_SUBMIT_PATH}", setup.base), &fields)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(return_action(&return_page).ends_with("acting_return=1"));
    let second = &setup.notifications_for("3000000002")[0];
    assert_eq!(second.get("X-ERRCODE"), Some("   "));
    assert_eq!(second.get("X-PAYQUICKID"), Some(payquick_id.as_str()));
    assert_eq!(second.get("X-PARTOFCARD"), Some("1111"));
    assert_eq!(second.get("X-EXPIRE"), Some("0899"));
    assert_eq!(second.get("X-NAME"), Some("KAIIN HANAKO"));
    let transaction = setup.transaction("3000000002");
    assert_eq!(transaction.status, TransactionStatus::Sales);
    assert_eq!(
        transaction.payquick_id.as_deref(),
        Some(payquick_id.as_str())
    );

    // Another shop cannot use the id.
    let mut form = setup.card_form("3000000003");
    set(&mut form, "SHOPCO", "OTHER");
    set(&mut form, "PAYQUICK", "1");
    set(&mut form, "PAYQUICKID", &payquick_id);
    let page = setup.open_card_page(&form).await;
    assert!(!page.contains("このカードで支払う"));
}

#[tokio::test]
async fn job_check_registers_the_card_without_charging() {
    let setup = setup().await;
    // Welcart's My Page card update form (§7).
    let url = setup
        .shop
        .url("/return?usces_page=member_update_settlement&settlement=1&re-enter=1");
    let form = owned(&[
        ("SHOPCO", "TESTSHOP"),
        ("HOSTID", "12345678"),
        ("REMARKS3", "A0000875"),
        ("S_TORIHIKI_NO", "00000001000"),
        ("JOB", "CHECK"),
        ("MAIL", "member@example.invalid"),
        ("ITEM", "0000990"),
        ("RETURL", &url),
        ("NG_RETURL", &url),
        ("EXITURL", &url),
        ("OPT", "welcart_card_update"),
        ("PAYQUICK", "1"),
        ("dummy", "&#65533;"),
    ]);
    let page = setup.open_card_page(&form).await;
    assert!(page.contains("カードを登録する"));
    let (status, return_page) = setup
        .pay(&page, TEST_CARD_MASTERCARD, "1199", "HANAKO")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(return_page.contains("カードを登録しました"));
    let transaction = setup.transaction("00000001000");
    assert_eq!(transaction.kind, TransactionKind::CardCheck);
    assert_eq!(transaction.status, TransactionStatus::CardChecked);
    assert_eq!(transaction.amount, 0);
    let notification = &setup.notifications_for("00000001000")[0];
    assert_eq!(notification.get("X-TOTAL"), Some("0"));
    assert_eq!(notification.get("X-ERRLEVEL"), Some("0"));
    assert_eq!(notification.get("X-PARTOFCARD"), Some("4444"));
    assert_eq!(notification.get("X-EXPIRE"), Some("1199"));
    assert_eq!(notification.get("X-PAYQUICKID").map(str::len), Some(20));
    assert_eq!(
        notification.get("OPT"),
        None,
        "Remise does not echo OPT for cards"
    );
}

#[tokio::test]
async fn refused_notification_is_retried_shown_undelivered_then_delivered() {
    let setup = setup().await;
    setup.shop.state.refuse.store(true, Ordering::SeqCst);
    let page = setup.open_card_page(&setup.card_form("4000000001")).await;
    let (status, return_page) = setup.pay(&page, TEST_CARD_VISA, "12/99", "TARO").await;
    // The browser is sent back even though the shop did not acknowledge.
    assert_eq!(status, StatusCode::OK);
    assert!(return_action(&return_page).ends_with("acting_return=1"));
    let delivery = setup.transaction("4000000001").notifications[0].clone();
    assert!(!delivery.delivered);
    assert!(delivery.attempts >= 3, "inline attempts were made");
    assert_eq!(delivery.last_answer.as_deref(), Some("SESSION TIME OUT"));
    assert_eq!(delivery.last_status, Some(200));
    let (_, backyard) = setup.get(&format!("{}/backyard", setup.base)).await;
    assert!(backyard.contains("未配信"));
    assert!(backyard.contains("SESSION TIME OUT"));

    // The background retries deliver it once the shop answers properly.
    setup.shop.state.refuse.store(false, Ordering::SeqCst);
    wait_until("background delivery", || {
        setup.transaction("4000000001").notifications[0].delivered
    })
    .await;
    let delivery = setup.transaction("4000000001").notifications[0].clone();
    assert!(delivery.attempts > 3);
    let received = setup.notifications_for("4000000001");
    assert_eq!(received.len() as u32, delivery.attempts);
    assert!(received
        .iter()
        .all(|notification| notification.fields == received[0].fields));
    let (_, backyard) = setup.get(&format!("{}/backyard", setup.base)).await;
    assert!(backyard.contains("配信済み"));

    // 再送 repeats the notification as a new delivery.
    let tran_id = delivery.field("X-TRANID").unwrap().to_string();
    let (status, _, _) = setup
        .post(&format!("{}/backyard/tx/{tran_id}/resend", setup.base), &[])
        .await;
    assert_eq!(status, StatusCode::OK);
    let transaction = setup.transaction("4000000001");
    assert_eq!(transaction.notifications.len(), 2);
    assert!(transaction.notifications[1].delivered);
    assert_eq!(transaction.notifications[1].attempts, 1);
    assert_eq!(
        transaction.notifications[1].fields,
        transaction.notifications[0].fields
    );
}

#[tokio::test]
async fn notifications_give_up_after_max_attempts() {
    let setup = setup_with(SandboxConfig {
        inline_attempts: 2,
        max_attempts: 4,
        retry_base: Duration::from_millis(5),
        ..SandboxConfig::default()
    })
    .await;
    // Nothing listens on the notification URL's port any more.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_url = format!("http://{}/notify", closed.local_addr().unwrap());
    drop(closed);
    setup
        .sandbox
        .set_notify_urls(closed_url.clone(), closed_url);
    let page = setup.open_card_page(&setup.card_form("4100000001")).await;
    setup.pay(&page, TEST_CARD_VISA, "12/99", "TARO").await;
    wait_until("all attempts", || {
        setup.transaction("4100000001").notifications[0].attempts == 4
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let delivery = setup.transaction("4100000001").notifications[0].clone();
    assert_eq!(delivery.attempts, 4);
    assert!(!delivery.delivered);
    assert_eq!(delivery.last_status, None);
    assert!(delivery.last_answer.unwrap().starts_with("接続エラー"));
}

#[tokio::test]
async fn conv_issue_then_payment_notice_with_rec_flg() {
    let setup = setup().await;
    let ret = setup
        .shop
        .url("/return?page_id=4&acting=remise_conv&acting_return=1");
    let ng = setup
        .shop
        .url("/return?page_id=4&acting=remise_conv&acting_return=0");
    let exit = setup.shop.url("/?page_id=4&confirm=1");
    // Welcart's マルチ決済 form (form_conv_guest), with S_PAYDATE left to the default.
    let form = owned(&[
        ("SHOPCO", "TESTSHOP"),
        ("HOSTID", "12345678"),
        ("REMARKS3", "A0000875"),
        ("S_TORIHIKI_NO", "1681574275"),
        ("NAME1", "山田"),
        ("NAME2", "太郎"),
        ("KANA1", "ヤマダ"),
        ("KANA2", "タロウ"),
        ("YUBIN1", "150"),
        ("YUBIN2", "0001"),
        ("ADD1", "東京都渋谷区神宮前"),
        ("ADD2", "1-2-3"),
        ("ADD3", "テストビル101"),
        ("TEL", "0311112222"),
        ("MAIL", "guest@example.invalid"),
        ("TOTAL", "3990"),
        ("TAX", ""),
        ("S_PAYDATE", ""),
        ("BIKO", "備考テスト"),
        ("MNAME_01", "商品総額"),
        ("MSUM_01", "3990"),
        ("RETURL", &ret),
        ("NG_RETURL", &ng),
        ("OPT", "1"),
        ("EXITURL", &exit),
        ("dummy", "&#65533;"),
    ]);
    let (status, content_type, page) = setup
        .post(&format!("{}/rpgw2/pc/cvs/paycvs.aspx", setup.base), &form)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(content_type, "text/html; charset=Shift_JIS");
    assert!(page.contains("山田 太郎 様"));
    assert!(page.contains("3,990円"));
    for place in ["D001", "D002", "D030", "D405", "D451"] {
        assert!(page.contains(place), "{place}");
    }

    let fields = owned(&[("SESSION", &session_of(&page)), ("PAY_CSV", "D001")]);
    let (status, _, return_page) = setup
        .post(&format!("{}/rpgw2/pc/cvs/submit", setup.base), &fields)
        .await;
    assert_eq!(status, StatusCode::OK);

    let issued = &setup.notifications_for("1681574275")[0];
    assert_eq!(issued.query, "acting=remise_conv");
    let job_id = issued.get("X-JOB_ID").unwrap().to_string();
    assert_eq!(job_id.len(), 17);
    assert!(job_id.bytes().all(|byte| byte.is_ascii_digit()));
    assert_eq!(issued.get("X-R_CODE"), Some("0:0000"));
    assert_eq!(issued.get("X-TOTAL"), Some("3990"));
    assert_eq!(issued.get("X-TAX"), Some("0"));
    assert_eq!(issued.get("X-PAY_CSV"), Some("D001"));
    assert_eq!(issued.get("X-PAY_WAY").map(str::len), Some(3));
    assert_eq!(issued.get("X-PAY_NO1").map(str::len), Some(13));
    assert_eq!(issued.get("X-PAYDATE").map(str::len), Some(8));
    assert_eq!(issued.get("OPT"), Some("1"));
    assert_eq!(issued.get("REC_TYPE"), Some("RET"));
    let slip_url = issued.get("X-PAY_NO2").unwrap().to_string();
    assert_eq!(slip_url, format!("{}/slip/{job_id}", setup.base));

    let transaction = setup.transaction("1681574275");
    assert_eq!(transaction.kind, TransactionKind::Conv);
    assert_eq!(transaction.status, TransactionStatus::Unpaid);
    assert_eq!(transaction.holder_name, "山田 太郎");
    assert!(transaction.notifications[0].delivered);

    // The browser goes back to RETURL with the same fields.
    assert_eq!(return_action(&return_page), ret);
    let carried = hidden_inputs(&return_page);
    assert_eq!(field(&carried, "X-JOB_ID"), Some(job_id.as_str()));
    assert_eq!(field(&carried, "X-PAY_NO2"), Some(slip_url.as_str()));
    setup.post(&ret, &carried).await;
    assert_eq!(setup.shop.returns()[0].get("X-R_CODE"), Some("0:0000"));

    // The slip shows the payment number.
    let (status, slip) = setup.get(&slip_url).await;
    assert_eq!(status, StatusCode::OK);
    assert!(slip.contains(issued.get("X-PAY_NO1").unwrap()));
    assert!(slip.contains("セブン-イレブン"));

    // 入金通知 from the backyard.
    let (status, _, backyard) = setup
        .post(&format!("{}/backyard/tx/{job_id}/paid", setup.base), &[])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(backyard.contains("入金済み"));
    let received = setup.notifications_for("1681574275");
    assert_eq!(received.len(), 2);
    let paid = &received[1];
    assert_eq!(paid.query, "acting=remise_conv");
    assert_eq!(paid.get("S_TORIHIKI_NO"), Some("1681574275"));
    assert_eq!(paid.get("REC_FLG"), Some("1"));
    assert_eq!(paid.get("JOB_ID"), Some(job_id.as_str()));
    assert_eq!(paid.get("TOTAL"), Some("3990"));
    assert_eq!(paid.get("REC_CVSCODE"), Some("D001"));
    assert_eq!(paid.get("REC_CVSNAME"), Some("セブン-イレブン"));
    assert_eq!(paid.get("RECDATE").map(str::len), Some(14));
    assert_eq!(
        paid.get("X-JOB_ID"),
        None,
        "the receipt fields have no X- prefix"
    );
    let transaction = setup.transaction("1681574275");
    assert_eq!(transaction.status, TransactionStatus::Paid);
    assert_eq!(
        transaction.notifications[1].kind,
        NotificationKind::ConvPaid
    );

    // The JSON view for tests.
    let response = setup
        .client
        .get(format!("{}/backyard/api/transactions", setup.base))
        .send()
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(json[0]["status"], "入金済み");
    assert_eq!(json[0]["job_id"], job_id.as_str());
    assert_eq!(json[0]["notifications"][1]["kind"], "ConvPaid");
}

#[tokio::test]
async fn conv_places_have_their_own_numbers_and_deadlines() {
    let setup = setup().await;
    let ret = setup.shop.url("/return?acting=remise_conv&acting_return=1");
    let base_form = |torihiki_no: &str, paydate: &str| {
        owned(&[
            ("SHOPCO", "TESTSHOP"),
            ("HOSTID", "12345678"),
            ("S_TORIHIKI_NO", torihiki_no),
            ("NAME1", "髙橋"),
            ("NAME2", "花子"),
            ("TOTAL", "500"),
            ("TAX", ""),
            ("S_PAYDATE", paydate),
            ("RETURL", &ret),
            ("NG_RETURL", &ret),
        ])
    };
    let issue = |torihiki_no: &'static str, place: &'static str| {
        let form = base_form(torihiki_no, "20991231");
        let setup = &setup;
        async move {
            let (status, _, page) = setup
                .post(&format!("{}/rpgw2/pc/cvs/paycvs.aspx", setup.base), &form)
                .await;
            assert_eq!(status, StatusCode::OK, "{page}");
            // 髙 is a Windows-31J (CP932) character: it must survive the round trip.
            assert!(page.contains("髙橋 花子 様"));
            let fields = owned(&[("SESSION", &session_of(&page)), ("PAY_CSV", place)]);
            setup
                .post(&format!("{}/rpgw2/pc/cvs/submit", setup.base), &fields)
                .await;
            setup.notifications_for(torihiki_no)[0].clone()
        }
    };
    let family_mart = issue("5000000001", "D030").await;
    assert_eq!(family_mart.get("X-PAY_NO1").map(str::len), Some(5));
    let order_number = family_mart.get("X-PAY_NO2").unwrap();
    assert_eq!(order_number.len(), 12);
    assert!(order_number.bytes().all(|byte| byte.is_ascii_digit()));
    assert_eq!(family_mart.get("X-PAYDATE"), Some("20991231"));
    assert_eq!(family_mart.get("OPT"), None, "OPT is echoed only when sent");

    let webmoney = issue("5000000002", "D451").await;
    let paydate = webmoney.get("X-PAYDATE").unwrap();
    assert_ne!(paydate, "20991231", "e-money is due the day after issue");
    assert!(paydate.starts_with("20") && paydate.len() == 8);

    // A bad S_PAYDATE and a zero TOTAL are refused.
    let mut form = base_form("5000000003", "20260230");
    set(&mut form, "TOTAL", "0");
    unset(&mut form, "RETURL");
    let (status, _, html) = setup
        .post(&format!("{}/rpgw2/pc/cvs/paycvs.aspx", setup.base), &form)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("S_PAYDATE が不正です"));
    assert!(html.contains("TOTAL が不正です"));
    assert!(html.contains("RETURL が指定されていません"));
}

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
