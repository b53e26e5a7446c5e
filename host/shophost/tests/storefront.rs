//! The storefront driven through the real router, in process, the way a browser would: one session
//! cookie carried across requests, forms posted as `application/x-www-form-urlencoded`.
//!
//! Each test builds its own state on a fresh SQLite file from the demo config (sandbox off), so tests
//! run in parallel without seeing each other's carts or orders.

use std::path::PathBuf;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use shophost::db::NewPaymentMethod;
use shophost::AppState;
use tower::ServiceExt;

/// A temporary directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let path = std::env::temp_dir().join(format!(
            "shophost-storefront-{name}-{}-{nanos}",
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

async fn shop(name: &str) -> (AppState, TempDir) {
    let dir = TempDir::new(name);
    let db = dir.0.join("t.db");
    let text = shophost::config::DEMO_CONFIG
        .replace(
            "sqlite:shophost-data/shophost.db",
            &format!("sqlite:{}", db.display()),
        )
        .replace("[sandbox]\nenabled = true", "[sandbox]\nenabled = false")
        // Only the built-in demo may use its published admin token.
        .replace("demo-admin-token-change-me", "storefront-test-token");
    assert!(
        text.contains("enabled = false"),
        "the demo config changed shape"
    );
    let registry = shophost::bundled::registry(vec![]).expect("registry");
    let config = shophost::serve::config_from_toml(&text, &registry).expect("config");
    let state = shophost::serve::build_state(config, registry)
        .await
        .expect("state");
    (state, dir)
}

/// One response, body read.
struct Page {
    status: StatusCode,
    content_type: String,
    location: Option<String>,
    set_cookie: Option<String>,
    bytes: Vec<u8>,
}

impl Page {
    /// The body as text: UTF-8, or Shift_JIS when the response says so.
    fn text(&self) -> String {
        if self.content_type.to_ascii_lowercase().contains("shift_jis") {
            let (text, _, errors) = encoding_rs::SHIFT_JIS.decode(&self.bytes);
            assert!(!errors, "the page is not valid Shift_JIS");
            text.into_owned()
        } else {
            String::from_utf8(self.bytes.clone()).expect("UTF-8 page")
        }
    }
}

/// A browser: the router plus the session cookie.
struct Browser {
    app: Router,
    cookie: Option<String>,
}

impl Browser {
    fn new(state: &AppState) -> Browser {
        Browser {
            app: shophost::http::router(state.clone()),
            cookie: None,
        }
    }

    async fn send(&mut self, method: &str, uri: &str, form: Option<&[(&str, &str)]>) -> Page {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(cookie) = &self.cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let body = match form {
            Some(fields) => {
                request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
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
            None => String::new(),
        };
        let response = self
            .app
            .clone()
            .oneshot(request.body(Body::from(body)).expect("request"))
            .await
            .expect("response");
        let header_text = |name: header::HeaderName| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let set_cookie = header_text(header::SET_COOKIE);
        if let Some(set) = &set_cookie {
            let pair = set.split(';').next().unwrap_or_default().to_owned();
            self.cookie = if pair.ends_with('=') {
                None
            } else {
                Some(pair)
            };
        }
        let page = Page {
            status: response.status(),
            content_type: header_text(header::CONTENT_TYPE).unwrap_or_default(),
            location: header_text(header::LOCATION),
            set_cookie,
            bytes: Vec::new(),
        };
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body")
            .to_vec();
        Page { bytes, ..page }
    }

    async fn get(&mut self, uri: &str) -> Page {
        self.send("GET", uri, None).await
    }

    async fn post(&mut self, uri: &str, form: &[(&str, &str)]) -> Page {
        self.send("POST", uri, Some(form)).await
    }
}

fn assert_redirect(page: &Page, to: &str) {
    assert!(
        page.status.is_redirection(),
        "expected a redirect to {to}, got {}: {}",
        page.status,
        String::from_utf8_lossy(&page.bytes)
    );
    assert_eq!(page.location.as_deref(), Some(to));
}

/// The value of a hidden field in a page.
fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

const CUSTOMER: &[(&str, &str)] = &[
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

fn customer_with(changes: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    CUSTOMER
        .iter()
        .map(|(name, value)| {
            let changed = changes.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
            (*name, changed.unwrap_or(value))
        })
        .collect()
}

async fn method_id(state: &AppState, settlement_type: &str) -> i64 {
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

async fn product_id(state: &AppState, name: &str) -> i64 {
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
async fn fill_cart_and_customer(
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
async fn confirm_order(browser: &mut Browser) -> Page {
    let review = browser.get("/checkout/confirm").await;
    assert_eq!(review.status, StatusCode::OK);
    let html = review.text();
    assert!(html.contains("<form id=\"confirm_form\""), "{html}");
    let revision = hidden(&html, "revision").expect("the confirm form's revision");
    browser
        .post("/checkout/confirm", &[("revision", &revision)])
        .await
}

#[tokio::test]
async fn card_purchase_confirm_page_is_shift_jis_and_keeps_its_link_key() {
    let (state, _dir) = shop("card").await;
    let mut browser = Browser::new(&state);

    let index = browser.get("/").await;
    assert_eq!(index.status, StatusCode::OK);
    let index_html = index.text();
    assert!(index_html.contains("有田焼 マグカップ"));
    assert!(index_html.contains("3,990円"));
    assert!(index_html.contains("カートに入れる"));
    assert!(browser.cookie.is_none(), "looking does not start a session");

    let mug = product_id(&state, "有田焼 マグカップ").await.to_string();
    let added = browser
        .post("/cart/add", &[("product_id", &mug), ("quantity", "2")])
        .await;
    assert_redirect(&added, "/cart");
    let cookie = added.set_cookie.expect("session cookie");
    assert!(cookie.starts_with("shophost_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );

    let cart = browser.get("/cart").await.text();
    assert!(cart.contains("7,980円"), "{cart}");
    assert!(cart.contains("次へ"));

    // The delivery page needs the customer first.
    assert_redirect(
        &browser.get("/checkout/delivery").await,
        "/checkout/customer",
    );
    let details = browser.post("/checkout/customer", CUSTOMER).await;
    assert_redirect(&details, "/checkout/delivery");

    let card = method_id(&state, "acting_remise_card").await;
    let delivery = browser.get("/checkout/delivery").await.text();
    assert!(delivery.contains("クレジットカード決済"));
    assert!(delivery.contains("コンビニ・電子マネー決済"));
    assert!(delivery.contains("お支払回数"));
    assert!(delivery.contains(&format!("name=\"opt_{card}_div\"")));
    assert!(delivery.contains("（お支払いの有効期限はご注文日から14日間となっております。）"));
    assert!(delivery.contains("備考"));

    let card_text = card.to_string();
    let div_field = format!("opt_{card}_div");
    let chosen = browser
        .post(
            "/checkout/delivery",
            &[
                ("payment_method", &card_text),
                (&div_field, "1"),
                ("note", "午前中に届けてください"),
            ],
        )
        .await;
    assert_redirect(&chosen, "/checkout/confirm");

    // The confirm page shows the order and a button that confirms it; no gateway form yet.
    let review = browser.get("/checkout/confirm").await;
    assert_eq!(review.status, StatusCode::OK);
    assert_eq!(review.content_type, "text/html; charset=UTF-8");
    let html = review.text();
    assert!(html.contains("山田 太郎"), "{html}");
    assert!(html.contains("2回払い"));
    assert!(html.contains("午前中に届けてください"));
    assert!(html.contains("7,980円"));
    assert!(html.contains("注文内容を確定して支払いへ進む"));
    assert!(html.contains("action=\"/checkout/confirm\" method=\"post\""));
    assert!(!html.contains("purchase_form"), "{html}");
    assert!(!html.contains("S_TORIHIKI_NO"));

    let confirm = confirm_order(&mut browser).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert_eq!(confirm.content_type, "text/html; charset=Shift_JIS");
    let html = confirm.text();
    assert!(html.contains("<meta charset=\"Shift_JIS\">"));
    assert!(html.contains("accept-charset=\"Shift_JIS\""), "{html}");
    assert!(html.contains("action=\"http://127.0.0.1:8081/rpgw2/pc/card/paycard.aspx\""));
    assert!(html.contains("上記内容で注文する"));
    assert!(html.contains("山田 太郎"));
    assert!(html.contains("2回払い"));
    assert!(html.contains("午前中に届けてください"));
    assert_eq!(hidden(&html, "METHOD").as_deref(), Some("61"));
    assert_eq!(hidden(&html, "PTIMES").as_deref(), Some("2"));
    assert_eq!(hidden(&html, "TOTAL").as_deref(), Some("7980"));
    let link_key = hidden(&html, "S_TORIHIKI_NO").expect("S_TORIHIKI_NO");

    // Confirming again is the same attempt.
    let again = confirm_order(&mut browser).await.text();
    assert_eq!(hidden(&again, "S_TORIHIKI_NO"), Some(link_key.clone()));
    // So is sending the same choices again (which must be accepted, not refused).
    let resent = browser
        .post(
            "/checkout/delivery",
            &[
                ("payment_method", &card_text),
                (&div_field, "1"),
                ("note", "午前中に届けてください"),
            ],
        )
        .await;
    assert_redirect(&resent, "/checkout/confirm");
    let same = confirm_order(&mut browser).await.text();
    assert_eq!(hidden(&same, "S_TORIHIKI_NO"), Some(link_key.clone()));

    // Changing the cart makes a new attempt with the new total.
    let towel = product_id(&state, "今治タオル ハンカチ").await.to_string();
    browser
        .post("/cart/add", &[("product_id", &towel), ("quantity", "1")])
        .await;
    assert!(browser
        .get("/checkout/confirm")
        .await
        .text()
        .contains("9,080円"));
    let changed = confirm_order(&mut browser).await.text();
    let new_key = hidden(&changed, "S_TORIHIKI_NO").expect("S_TORIHIKI_NO");
    assert_ne!(new_key, link_key);
    assert_eq!(hidden(&changed, "TOTAL").as_deref(), Some("9080"));

    // The attempt is stored with what the page showed.
    let attempt = state
        .store
        .attempt_by_link_key(&new_key)
        .await
        .expect("db")
        .expect("attempt stored");
    assert_eq!(attempt.total, 9080);
    assert_eq!(
        attempt.snapshot.options.get("div").map(String::as_str),
        Some("1")
    );
    assert_eq!(attempt.snapshot.customer.family_name, "山田");
}

/// The 決済直前ログ through the admin API: each attempt's link key.
async fn admin_attempt_keys(state: &AppState) -> Vec<String> {
    let request = Request::get("/admin/api/attempts")
        .header(header::AUTHORIZATION, "Bearer storefront-test-token")
        .body(Body::empty())
        .expect("request");
    let response = shophost::http::router(state.clone())
        .oneshot(request)
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    let answer: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
    answer["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|attempt| attempt["link_key"].as_str().expect("link key").to_owned())
        .collect()
}

#[tokio::test]
async fn only_confirming_stores_the_attempt_and_confirming_again_reuses_it() {
    let (state, _dir) = shop("confirm-post").await;
    let mut browser = Browser::new(&state);
    fill_cart_and_customer(&mut browser, &state, CUSTOMER).await;
    let conv = method_id(&state, "acting_remise_conv").await.to_string();
    browser
        .post(
            "/checkout/delivery",
            &[("payment_method", &conv), ("note", "")],
        )
        .await;

    // Looking, twice, stores nothing.
    for _ in 0..2 {
        let review = browser.get("/checkout/confirm").await;
        assert_eq!(review.status, StatusCode::OK);
        assert!(review.text().contains("id=\"confirm_button\""));
    }
    assert!(admin_attempt_keys(&state).await.is_empty());

    // The button stores one attempt and answers with its gateway form.
    let html = confirm_order(&mut browser).await.text();
    let link_key = hidden(&html, "S_TORIHIKI_NO").expect("the gateway form");
    assert_eq!(admin_attempt_keys(&state).await, [link_key.clone()]);

    // Pressing it again (a reload, a second click, the way back from the gateway) reuses that attempt.
    let again = confirm_order(&mut browser).await.text();
    assert_eq!(hidden(&again, "S_TORIHIKI_NO"), Some(link_key.clone()));
    assert_eq!(admin_attempt_keys(&state).await, [link_key.clone()]);

    // A button from before a change confirms nothing: the shopper sees the order as it is now.
    let stale = hidden(&browser.get("/checkout/confirm").await.text(), "revision").unwrap();
    let towel = product_id(&state, "今治タオル ハンカチ").await.to_string();
    browser
        .post("/cart/add", &[("product_id", &towel), ("quantity", "1")])
        .await;
    let refused = browser
        .post("/checkout/confirm", &[("revision", &stale)])
        .await;
    assert_redirect(&refused, "/checkout/confirm?changed=1");
    assert_eq!(admin_attempt_keys(&state).await, [link_key.clone()]);
    let review = browser.get("/checkout/confirm?changed=1").await.text();
    assert!(review.contains("id=\"order-changed\""), "{review}");
    assert!(review.contains("今治タオル ハンカチ"));
}

#[tokio::test]
async fn delivery_lists_only_active_methods_in_operator_order_and_conv_shows_its_deadline() {
    let (state, _dir) = shop("conv").await;
    let card = method_id(&state, "acting_remise_card").await;
    let conv = method_id(&state, "acting_remise_conv").await;
    // The operator puts the multi-payment first and adds a stopped method.
    let conv_method = state.store.payment_method(conv).await.unwrap().unwrap();
    state
        .store
        .update_payment_method(
            conv,
            &NewPaymentMethod {
                name: conv_method.name.clone(),
                explanation: "<strong>コンビニ</strong>でお支払いいただけます".to_owned(),
                settlement_type: conv_method.settlement_type.clone(),
                active: true,
                sort: -1,
            },
        )
        .await
        .unwrap();
    state
        .store
        .create_payment_method(&NewPaymentMethod {
            name: "停止中の支払方法".to_owned(),
            explanation: "表示されない".to_owned(),
            settlement_type: "acting_remise_card".to_owned(),
            active: false,
            sort: 5,
        })
        .await
        .unwrap();

    let mut browser = Browser::new(&state);
    fill_cart_and_customer(&mut browser, &state, CUSTOMER).await;
    let delivery = browser.get("/checkout/delivery").await.text();
    assert!(!delivery.contains("停止中の支払方法"));
    let conv_at = delivery
        .find(&format!("id=\"method-{conv}\""))
        .expect("conv");
    let card_at = delivery
        .find(&format!("id=\"method-{card}\""))
        .expect("card");
    assert!(conv_at < card_at, "operator order");
    // The operator's explanation is sanitised HTML, shown as HTML.
    assert!(delivery.contains("<strong>コンビニ</strong>でお支払いいただけます"));
    // Only the card method has options.
    assert!(!delivery.contains(&format!("opt_{conv}_")));

    // Choosing nothing is refused with a message.
    let nothing = browser.post("/checkout/delivery", &[("note", "")]).await;
    assert_eq!(nothing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(nothing.text().contains("お支払方法を選んでください"));

    let conv_text = conv.to_string();
    let chosen = browser
        .post(
            "/checkout/delivery",
            &[("payment_method", &conv_text), ("note", "")],
        )
        .await;
    assert_redirect(&chosen, "/checkout/confirm");
    let review = browser.get("/checkout/confirm").await.text();
    assert!(review.contains("（お支払いの有効期限はご注文日から14日間となっております。）"));
    let confirm = confirm_order(&mut browser).await;
    assert_eq!(confirm.content_type, "text/html; charset=Shift_JIS");
    let html = confirm.text();
    assert!(html.contains("コンビニ・電子マネー決済"));
    assert!(html.contains("（お支払いの有効期限はご注文日から14日間となっております。）"));
    assert!(html.contains("action=\"http://127.0.0.1:8081/rpgw2/pc/cvs/paycvs.aspx\""));
    assert!(hidden(&html, "S_TORIHIKI_NO").is_some());
}

#[tokio::test]
async fn a_name_outside_shift_jis_gets_a_message_instead_of_a_form() {
    let (state, _dir) = shop("sjis").await;
    let mut browser = Browser::new(&state);
    fill_cart_and_customer(
        &mut browser,
        &state,
        &customer_with(&[("family_name", "𠮷田")]),
    )
    .await;
    let conv = method_id(&state, "acting_remise_conv").await.to_string();
    browser
        .post(
            "/checkout/delivery",
            &[("payment_method", &conv), ("note", "")],
        )
        .await;
    let confirm = browser.get("/checkout/confirm").await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(
        confirm.content_type.contains("UTF-8"),
        "{}",
        confirm.content_type
    );
    let html = confirm.text();
    assert!(html.contains("id=\"checkout-error\""), "{html}");
    assert!(
        html.contains("お名前（姓）に決済会社へ送れない文字（𠮷）が含まれています"),
        "{html}"
    );
    assert!(html.contains("href=\"/checkout/customer\""));
    assert!(
        !html.contains("<form id=\"purchase_form\""),
        "no form goes to the gateway"
    );
    assert!(!html.contains("S_TORIHIKI_NO"));

    assert!(
        !html.contains("id=\"confirm_form\""),
        "nothing to confirm: {html}"
    );
    let attempts = state.store.attempts(false, 10).await.unwrap();
    assert!(attempts.is_empty(), "a refused page stores nothing");

    // Fixing the name gives the button, and the button the form.
    let fixed = browser.post("/checkout/customer", CUSTOMER).await;
    assert_redirect(&fixed, "/checkout/delivery");
    let html = confirm_order(&mut browser).await.text();
    assert!(html.contains("<form id=\"purchase_form\""));
    assert!(html.contains("山田 太郎"));
}

#[tokio::test]
async fn the_preview_is_the_attempt_that_confirming_stores() {
    let (state, _dir) = shop("preview").await;
    let card = method_id(&state, "acting_remise_card").await;
    let mug = product_id(&state, "有田焼 マグカップ").await;
    let customer: serde_json::Map<String, serde_json::Value> = CUSTOMER
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::json!(v)))
        .collect();
    let input = shophost::checkout::CheckoutInput {
        lines: vec![shophost::checkout::CartInputLine {
            product_id: mug,
            quantity: 3,
        }],
        customer: serde_json::from_value(serde_json::Value::Object(customer)).unwrap(),
        payment_method_id: card,
        note: "不在時は宅配ボックスへ".to_owned(),
        options: [("div".to_owned(), "2".to_owned())].into(),
    };
    let draft = shophost::checkout::preview(&state, &input, None)
        .await
        .unwrap();
    shophost::checkout::check_payment_start(&state, &draft)
        .await
        .unwrap();
    assert!(state.store.attempts(false, 10).await.unwrap().is_empty());
    assert_eq!(draft.snapshot.total, 3 * 3990 + draft.snapshot.shipping);

    let attempt = shophost::checkout::create_attempt(&state, &input, None)
        .await
        .unwrap();
    let stored = shophost::checkout::AttemptDraft::from(&attempt);
    assert_eq!(
        shophost::checkout::AttemptDraft {
            priced_at: attempt.created_at,
            ..draft
        },
        stored
    );
}

#[tokio::test]
async fn what_the_attempt_would_refuse_is_shown_before_anything_is_stored() {
    let (state, _dir) = shop("refusals").await;
    let card = method_id(&state, "acting_remise_card").await;
    let card_text = card.to_string();
    let div = format!("opt_{card}_div");

    // 継続課金 needs a member: a guest is told so on the confirm page.
    let mut guest = Browser::new(&state);
    let lesson = product_id(&state, "オンライン茶道教室 月謝")
        .await
        .to_string();
    guest
        .post("/cart/add", &[("product_id", &lesson), ("quantity", "1")])
        .await;
    assert_redirect(
        &guest.post("/checkout/customer", CUSTOMER).await,
        "/checkout/delivery",
    );
    guest
        .post(
            "/checkout/delivery",
            &[("payment_method", &card_text), (&div, "0")],
        )
        .await;
    let html = guest.get("/checkout/confirm").await.text();
    assert!(html.contains("id=\"checkout-error\""), "{html}");
    assert!(html.contains("継続課金の商品のご購入には会員ログインが必要です"));
    assert!(!html.contains("id=\"confirm_form\""));

    // A method the operator stops after the shopper chose it.
    let mut shopper = Browser::new(&state);
    fill_cart_and_customer(&mut shopper, &state, CUSTOMER).await;
    shopper
        .post(
            "/checkout/delivery",
            &[("payment_method", &card_text), (&div, "0")],
        )
        .await;
    assert!(shopper
        .get("/checkout/confirm")
        .await
        .text()
        .contains("id=\"confirm_form\""));
    let method = state.store.payment_method(card).await.unwrap().unwrap();
    state
        .store
        .update_payment_method(
            card,
            &NewPaymentMethod {
                name: method.name,
                explanation: method.explanation,
                settlement_type: method.settlement_type,
                active: false,
                sort: method.sort,
            },
        )
        .await
        .unwrap();
    let html = shopper.get("/checkout/confirm").await.text();
    assert!(html.contains("id=\"checkout-error\""), "{html}");
    assert!(html.contains("お支払方法を選んでください"), "{html}");
    assert!(!html.contains("id=\"confirm_form\""));

    assert!(state.store.attempts(false, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn bad_customer_details_are_shown_again_with_messages() {
    let (state, _dir) = shop("input").await;
    let mut browser = Browser::new(&state);
    // No cart: the customer step sends the shopper back to the cart.
    assert_redirect(&browser.get("/checkout/customer").await, "/cart");
    let mug = product_id(&state, "有田焼 マグカップ").await.to_string();
    browser
        .post("/cart/add", &[("product_id", &mug), ("quantity", "1")])
        .await;
    let bad = customer_with(&[
        ("family_name", ""),
        ("postcode", "12"),
        ("given_name", "<b>太郎</b>"),
    ]);
    let page = browser.post("/checkout/customer", &bad).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = page.text();
    assert!(html.contains("お名前（姓）を入力してください"));
    assert!(html.contains("郵便番号は7桁の数字で入力してください"));
    // What was typed is kept, escaped.
    assert!(html.contains("value=\"&lt;b&gt;太郎&lt;/b&gt;\""));
    assert!(html.contains("value=\"taro@example.jp\""));
    assert!(!html.contains("<b>太郎</b>"));

    // Full-width digits are accepted for the postcode and phone.
    let wide = customer_with(&[
        ("postcode", "１００－０００１"),
        ("phone", "０３１２３４５６７８"),
    ]);
    assert_redirect(
        &browser.post("/checkout/customer", &wide).await,
        "/checkout/delivery",
    );

    // Quantities: a nonsense quantity is refused, zero removes the line.
    let qty = format!("qty_{mug}");
    let refused = browser.post("/cart/update", &[(&qty, "abc")]).await;
    assert_eq!(refused.status, StatusCode::OK);
    assert!(refused
        .text()
        .contains("数量は0から99までの数字で入力してください"));
    assert_redirect(&browser.post("/cart/update", &[(&qty, "0")]).await, "/cart");
    assert!(browser
        .get("/cart")
        .await
        .text()
        .contains("カートに商品はありません"));
}

#[tokio::test]
async fn a_zero_total_order_completes_at_once_and_empties_the_cart() {
    let (state, _dir) = shop("free").await;
    state
        .store
        .ensure_product("FREE01", "無料サンプル", 0, "お試し用")
        .await
        .unwrap();
    let free = product_id(&state, "無料サンプル").await.to_string();
    let mut browser = Browser::new(&state);
    browser
        .post("/cart/add", &[("product_id", &free), ("quantity", "1")])
        .await;
    assert_redirect(
        &browser.post("/checkout/customer", CUSTOMER).await,
        "/checkout/delivery",
    );
    let card = method_id(&state, "acting_remise_card").await.to_string();
    let div = format!("opt_{card}_div");
    browser
        .post(
            "/checkout/delivery",
            &[("payment_method", &card), (&div, "0")],
        )
        .await;
    let review = browser.get("/checkout/confirm").await.text();
    assert!(review.contains("注文を確定する"), "{review}");
    assert!(!review.contains("支払いへ進む"), "nothing to pay: {review}");
    let confirm = confirm_order(&mut browser).await;
    let location = confirm
        .location
        .clone()
        .expect("redirect to the completion page");
    assert!(location.starts_with("/checkout/complete/"), "{location}");
    let done = browser.get(&location).await.text();
    assert!(done.contains("id=\"order-number\""), "{done}");
    assert!(done.contains("id=\"payment-status\""));
    assert!(browser
        .get("/cart")
        .await
        .text()
        .contains("カートに商品はありません"));
}

#[tokio::test]
async fn members_log_in_see_mypage_and_log_out() {
    let (state, _dir) = shop("member").await;
    let mut browser = Browser::new(&state);
    assert_redirect(&browser.get("/mypage").await, "/login?next=/mypage");

    let wrong = browser
        .post(
            "/login",
            &[
                ("email", "demo@example.invalid"),
                ("password", "nope"),
                ("next", "/mypage"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let wrong_html = wrong.text();
    assert!(wrong_html.contains("メールアドレスまたはパスワードが違います"));
    assert!(wrong_html.contains("value=\"demo@example.invalid\""));

    // A cart made before login survives it, under a new session id.
    let mug = product_id(&state, "有田焼 マグカップ").await.to_string();
    browser
        .post("/cart/add", &[("product_id", &mug), ("quantity", "1")])
        .await;
    let before = browser.cookie.clone().expect("session");
    let login = browser
        .post(
            "/login",
            &[
                ("email", "demo@example.invalid"),
                ("password", "demo"),
                ("next", "https://evil.example/"),
            ],
        )
        .await;
    assert_redirect(&login, "/mypage");
    assert_ne!(
        browser.cookie.as_ref(),
        Some(&before),
        "the session id changes at login"
    );

    let mypage = browser.get("/mypage").await.text();
    assert!(mypage.contains("会員 花子 様"), "{mypage}");
    assert!(mypage.contains("ご注文はまだありません"));
    assert!(mypage.contains("ログアウト"));

    // The customer form is prefilled from the member's details.
    let customer = browser.get("/checkout/customer").await.text();
    assert!(customer.contains("value=\"会員\""), "{customer}");
    assert!(customer.contains("value=\"demo@example.invalid\""));

    // A member's card checkout asks Remise to keep the card (PayQuick).
    assert_redirect(
        &browser
            .post(
                "/checkout/customer",
                &customer_with(&[("family_name", "会員"), ("given_name", "花子")]),
            )
            .await,
        "/checkout/delivery",
    );
    let card = method_id(&state, "acting_remise_card").await.to_string();
    let div = format!("opt_{card}_div");
    browser
        .post(
            "/checkout/delivery",
            &[("payment_method", &card), (&div, "0")],
        )
        .await;
    let html = confirm_order(&mut browser).await.text();
    assert_eq!(hidden(&html, "PAYQUICK").as_deref(), Some("1"));
    let link_key = hidden(&html, "S_TORIHIKI_NO").unwrap();
    let attempt = state
        .store
        .attempt_by_link_key(&link_key)
        .await
        .unwrap()
        .unwrap();
    assert!(attempt.member_id.is_some());

    let logout = browser.post("/logout", &[]).await;
    assert_redirect(&logout, "/");
    assert!(browser.cookie.is_none());
    assert_redirect(&browser.get("/mypage").await, "/login?next=/mypage");
}

#[tokio::test]
async fn registering_makes_a_member_once_per_email() {
    let (state, _dir) = shop("register").await;
    let mut browser = Browser::new(&state);
    let mut form = customer_with(&[("email", "new@example.jp")]);
    form.push(("password", "secret123"));
    form.push(("password_confirm", "secret123"));
    form.push(("next", "/mypage"));
    let registered = browser.post("/register", &form).await;
    assert_redirect(&registered, "/mypage");
    let mypage = browser.get("/mypage").await.text();
    assert!(mypage.contains("山田 太郎 様"));
    assert!(mypage.contains("new@example.jp"));

    let mut other = Browser::new(&state);
    let again = other.post("/register", &form).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again
        .text()
        .contains("このメールアドレスはすでに登録されています"));

    let mut short = customer_with(&[("email", "short@example.jp")]);
    short.push(("password", "abc"));
    short.push(("password_confirm", "abc"));
    let refused = other.post("/register", &short).await;
    assert!(refused
        .text()
        .contains("パスワードは6文字以上で入力してください"));

    // The new member can log in.
    let mut third = Browser::new(&state);
    let login = third
        .post(
            "/login",
            &[
                ("email", "new@example.jp"),
                ("password", "secret123"),
                ("next", "/mypage"),
            ],
        )
        .await;
    assert_redirect(&login, "/mypage");
}

#[tokio::test]
async fn the_catalogue_marks_the_recurring_product() {
    let (state, _dir) = shop("recurring").await;
    let mut browser = Browser::new(&state);
    let page = browser.get("/").await.text();
    assert!(page.contains("オンライン茶道教室 月謝"), "{page}");
    assert!(
        page.contains("毎月（ご注文日と同じ日）（継続課金・会員のみ・カード決済）"),
        "{page}"
    );
    // Only that one: the other demo products are bought once.
    assert_eq!(page.matches("class=\"recurring\"").count(), 1, "{page}");
}

#[tokio::test]
async fn customer_problems_sit_next_to_their_fields() {
    let (state, _dir) = shop("fields").await;
    let mut browser = Browser::new(&state);
    let mug = product_id(&state, "有田焼 マグカップ").await.to_string();
    browser
        .post("/cart/add", &[("product_id", &mug), ("quantity", "1")])
        .await;
    let page = browser
        .post("/checkout/customer", &customer_with(&[("postcode", "12")]))
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = page.text();
    let message = "郵便番号は7桁の数字で入力してください（例: 100-0001）";
    // Listed above the form, and again right after the postcode's input.
    assert!(html.contains("id=\"form-errors\""), "{html}");
    let input = html.find("id=\"postcode\"").expect("postcode input");
    let next_label = html[input..].find("<label").expect("the next field") + input;
    assert!(
        html[input..next_label].contains(&format!("<p class=\"field-error\">{message}</p>")),
        "{html}"
    );
    assert_eq!(html.matches("class=\"field-error\"").count(), 1, "{html}");
}

#[tokio::test]
async fn the_stylesheet_is_a_cached_file_that_every_page_links() {
    let (state, _dir) = shop("assets").await;
    let mut browser = Browser::new(&state);
    let index = browser.get("/").await.text();
    assert!(!index.contains("<style"), "no inline styles: {index}");
    let start = index
        .find("href=\"/assets/shop.css?v=")
        .expect("the layout links the stylesheet")
        + "href=\"".len();
    let end = index[start..].find('"').expect("end of href") + start;
    let css = browser.get(&index[start..end]).await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.content_type, "text/css; charset=utf-8");
    assert!(String::from_utf8_lossy(&css.bytes).contains("#purchase_form"));
    let response = shophost::http::router(state.clone())
        .oneshot(
            Request::get("/assets/shop.css")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(
        response.headers()[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
}

/// Sends a JSON request through the router: status and body.
async fn json_request(
    state: &AppState,
    method: &str,
    uri: &str,
    body: Option<serde_json::Value>,
) -> (StatusCode, serde_json::Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.map(|b| b.to_string()).unwrap_or_default()))
        .expect("request");
    let response = shophost::http::router(state.clone())
        .oneshot(request)
        .await
        .expect("response");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    (status, serde_json::from_slice(&bytes).expect("JSON"))
}

#[tokio::test]
async fn the_checkout_api_checks_customers_with_the_storefronts_rules() {
    let (state, _dir) = shop("api-customer").await;
    let card = method_id(&state, "acting_remise_card").await;
    let mug = product_id(&state, "有田焼 マグカップ").await;
    let body = |customer: serde_json::Value| {
        serde_json::json!({
            "lines": [{"product_id": mug, "quantity": 1}],
            "customer": customer,
            "payment_method_id": card,
        })
    };
    // A name and an e-mail were once enough; now every problem the customer form names is named.
    let (status, answer) = json_request(
        &state,
        "POST",
        "/api/checkout",
        Some(body(serde_json::json!({
            "email": "taro@example.jp", "family_name": "山田", "given_name": "太郎",
            "family_kana": "yamada", "phone": "03",
        }))),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let error = answer["error"].as_str().expect("error");
    for message in [
        "郵便番号を入力してください",
        "市区町村・番地を入力してください",
        "フリガナ（セイ）はカタカナで入力してください",
        "都道府県を選んでください",
        "電話番号は10桁または11桁の数字で入力してください",
    ] {
        assert!(error.contains(message), "{message} missing from {error}");
    }

    // A complete customer, typed with full-width digits, is stored tidied.
    let customer: serde_json::Map<String, serde_json::Value> = CUSTOMER
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::json!(v)))
        .collect();
    let mut customer = serde_json::Value::Object(customer);
    customer["postcode"] = serde_json::json!("１００－０００１");
    let (status, answer) =
        json_request(&state, "POST", "/api/checkout", Some(body(customer))).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let link_key = answer["link_key"].as_str().expect("link key");
    let attempt = state
        .store
        .attempt_by_link_key(link_key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(attempt.snapshot.customer.postcode, "100-0001");
}

#[tokio::test]
async fn the_payment_methods_api_keeps_its_shape() {
    let (state, _dir) = shop("api-methods").await;
    let (status, answer) = json_request(&state, "GET", "/api/payment-methods", None).await;
    assert_eq!(status, StatusCode::OK);
    let methods = answer["payment_methods"].as_array().expect("methods");
    let card = methods
        .iter()
        .find(|m| m["settlement_type"] == "acting_remise_card")
        .expect("card");
    let mut keys: Vec<&str> = card
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "explanation",
            "id",
            "name",
            "notice",
            "options",
            "recurring",
            "settlement_label",
            "settlement_type"
        ]
    );
    assert_eq!(card["options"][0]["key"], "div");
    assert_eq!(
        card["options"][0]["choices"][0],
        serde_json::json!(["0", "一括払い"])
    );
    assert!(card["notice"].is_null() || card["notice"].is_string());
}

#[tokio::test]
async fn a_card_change_names_its_module_and_remembers_its_attempt() {
    let (state, _dir) = shop("card-change").await;
    let mut browser = Browser::new(&state);
    let login = browser
        .post(
            "/login",
            &[
                ("email", "demo@example.invalid"),
                ("password", "demo"),
                ("next", "/mypage"),
            ],
        )
        .await;
    assert_redirect(&login, "/mypage");

    // Without a module the host does not guess a gateway: nothing is started.
    let refused = browser.post("/mypage/card", &[("module", "")]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused
        .text()
        .contains("変更するクレジットカードを選んでください"));
    let unknown = browser.post("/mypage/card", &[("module", "nope")]).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    let page = browser.post("/mypage/card", &[("module", "remise")]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.content_type, "text/html; charset=Shift_JIS");
    let html = page.text();
    assert!(html.contains("<meta charset=\"Shift_JIS\">"), "{html}");
    assert!(html.contains("<form id=\"purchase_form\""), "{html}");
    let link_key = hidden(&html, "S_TORIHIKI_NO").expect("the card-update link key");
    let attempt = state
        .store
        .attempt_by_link_key(&link_key)
        .await
        .unwrap()
        .expect("a card-update attempt");
    assert_eq!(attempt.kind, shophost::domain::AttemptKind::CardUpdate);
    assert!(attempt.member_id.is_some());

    // The result page follows that attempt: no notification yet, so it looks again.
    let done = browser.get("/mypage/card/done").await.text();
    assert!(done.contains("id=\"card-result\">確認中"), "{done}");
    assert!(
        done.contains("<meta http-equiv=\"refresh\" content=\"2;url=/mypage/card/done?n=1\">"),
        "{done}"
    );
}
