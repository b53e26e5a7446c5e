//! The storefront's checkout driven through the real router, the way a browser would (one session
//! cookie, forms posted): 発送・支払方法, 内容確認 — whose GET shows the order and stores nothing, and
//! whose button's POST stores the attempt, or reuses it, and answers with the gateway form in Shift_JIS —
//! and the zero-total order that needs no gateway. Also the refusals the confirm page shows before
//! anything is stored.

#[macro_use]
mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::{
    assert_redirect, confirm_order, customer_with, fill_cart_and_customer, hidden, method_id,
    product_id, Backend, Browser, ADMIN_TOKEN, CUSTOMER,
};
use shophost::db::NewPaymentMethod;
use shophost::domain::MoveDirection;
use shophost::AppState;
use tower::ServiceExt;

async fn card_purchase_confirm_page_is_shift_jis_and_keeps_its_link_key(backend: Backend) {
    let (state, _dir) = backend.shop("card").await;
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
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
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

async fn only_confirming_stores_the_attempt_and_confirming_again_reuses_it(backend: Backend) {
    let (state, _dir) = backend.shop("confirm-post").await;
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
    assert_eq!(admin_attempt_keys(&state).await, [link_key.as_str()]);

    // Pressing it again (a reload, a second click, the way back from the gateway) reuses that attempt.
    let again = confirm_order(&mut browser).await.text();
    assert_eq!(hidden(&again, "S_TORIHIKI_NO"), Some(link_key.clone()));
    assert_eq!(admin_attempt_keys(&state).await, [link_key.as_str()]);

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
    assert_eq!(admin_attempt_keys(&state).await, [link_key.as_str()]);
    let review = browser.get("/checkout/confirm?changed=1").await.text();
    assert!(review.contains("id=\"order-changed\""), "{review}");
    assert!(review.contains("今治タオル ハンカチ"));
}

async fn delivery_lists_only_active_methods_in_operator_order_and_conv_shows_its_deadline(
    backend: Backend,
) {
    let (state, _dir) = backend.shop("conv").await;
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
            },
        )
        .await
        .unwrap();
    state
        .store
        .move_payment_method(conv, MoveDirection::Up)
        .await
        .unwrap();
    state
        .store
        .create_payment_method(&NewPaymentMethod {
            name: "停止中の支払方法".to_owned(),
            explanation: "表示されない".to_owned(),
            settlement_type: "acting_remise_card".to_owned(),
            active: false,
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

async fn a_name_outside_shift_jis_gets_a_message_instead_of_a_form(backend: Backend) {
    let (state, _dir) = backend.shop("sjis").await;
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

async fn the_preview_is_the_attempt_that_confirming_stores(backend: Backend) {
    let (state, _dir) = backend.shop("preview").await;
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

async fn what_the_attempt_would_refuse_is_shown_before_anything_is_stored(backend: Backend) {
    let (state, _dir) = backend.shop("refusals").await;
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

async fn a_zero_total_order_completes_at_once_and_empties_the_cart(backend: Backend) {
    let (state, _dir) = backend.shop("free").await;
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

// Each test above runs on SQLite, and on PostgreSQL when SHOPHOST_TEST_PG_URL names a server.
on_both_backends!(
    card_purchase_confirm_page_is_shift_jis_and_keeps_its_link_key,
    only_confirming_stores_the_attempt_and_confirming_again_reuses_it,
    delivery_lists_only_active_methods_in_operator_order_and_conv_shows_its_deadline,
    a_name_outside_shift_jis_gets_a_message_instead_of_a_form,
    the_preview_is_the_attempt_that_confirming_stores,
    what_the_attempt_would_refuse_is_shown_before_anything_is_stored,
    a_zero_total_order_completes_at_once_and_empties_the_cart,
);
