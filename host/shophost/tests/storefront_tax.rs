//! The consumption tax per rate on the storefront's pages, as a qualified invoice (適格請求書) shows it:
//! the cart, 内容確認, ご注文完了 and マイページ each show, for each rate, the items' total and the tax
//! in it, with 8 % items marked ※; the admin API's order says the same. The rate is the one recorded
//! when the order was priced, whatever the product's class later becomes.

#[macro_use]
mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::{
    assert_redirect, confirm_order, method_id, product_id, send, Backend, Browser, ADMIN_TOKEN,
    CUSTOMER,
};
use shophost::catalogue::{self, ProductForm};
use shophost::domain::PaymentStatus;
use shophost::AppState;

const MUG: &str = "有田焼 マグカップ";
const TEA: &str = "静岡 深蒸し煎茶 100g";
/// 3,990円 at 10 %: ⌊39,900 / 110⌋ = 362円.
const STANDARD_ROW: &str = "10%対象</th><td colspan=\"1\">3,990円（うち消費税 362円）";
/// 540円 at 8 %: ⌊4,320 / 108⌋ = 40円.
const REDUCED_ROW: &str = "8%対象</th><td colspan=\"1\">540円（うち消費税 40円）";
const NOTE: &str = "※は軽減税率対象商品です";

/// Puts `products` (name, quantity) in the cart and goes on to the confirm page with the card.
async fn to_confirm(browser: &mut Browser, state: &AppState, products: &[(&str, &str)]) {
    for (name, quantity) in products {
        let id = product_id(state, name).await.to_string();
        let added = browser
            .post("/cart/add", &[("product_id", &id), ("quantity", quantity)])
            .await;
        assert_redirect(&added, "/cart");
    }
    let details = browser.post("/checkout/customer", CUSTOMER).await;
    assert_redirect(&details, "/checkout/delivery");
    let card = method_id(state, "acting_remise_card").await.to_string();
    let div = format!("opt_{card}_div");
    let chosen = browser
        .post(
            "/checkout/delivery",
            &[("payment_method", &card), (&div, "1")],
        )
        .await;
    assert_redirect(&chosen, "/checkout/confirm");
}

/// Confirms the order on the confirm page and makes its order (as a paid notification would); returns
/// the link key.
async fn order_it(browser: &mut Browser, state: &AppState) -> String {
    let confirmed = confirm_order(browser).await;
    assert_eq!(confirmed.status, StatusCode::OK);
    let link_key = state.store.attempts(false, 1).await.unwrap()[0]
        .link_key
        .clone();
    state
        .store
        .recover_attempt(&link_key, PaymentStatus::Captured, "カード", "テスト")
        .await
        .expect("order");
    link_key
}

async fn the_cart_and_the_confirm_page_show_each_rate(backend: Backend) {
    let (state, _dir) = backend.shop("tax-mixed").await;
    let mut browser = Browser::new(&state);
    let index = browser.get("/").await.text();
    assert!(index.contains("※は軽減税率（8%）対象商品です"), "{index}");

    to_confirm(&mut browser, &state, &[(MUG, "1"), (TEA, "1")]).await;
    let cart = browser.get("/cart").await.text();
    // The cart's amounts take two columns.
    assert!(
        cart.contains("10%対象</th><td colspan=\"2\">3,990円（うち消費税 362円）"),
        "{cart}"
    );
    assert!(
        cart.contains("8%対象</th><td colspan=\"2\">540円（うち消費税 40円）"),
        "{cart}"
    );
    assert!(cart.contains(NOTE), "{cart}");
    assert!(
        cart.contains(&format!("{TEA} <span class=\"reduced-mark\">※</span>")),
        "{cart}"
    );
    assert!(!cart.contains(&format!("{MUG} <span")), "{cart}");
    assert!(
        cart.contains("4,530円</strong>（うち消費税 402円）"),
        "{cart}"
    );

    let review = browser.get("/checkout/confirm").await.text();
    assert!(review.contains(STANDARD_ROW), "{review}");
    assert!(review.contains(REDUCED_ROW), "{review}");
    assert!(review.contains(NOTE), "{review}");
    // The rate standard comes first.
    assert!(review.find(STANDARD_ROW) < review.find(REDUCED_ROW));

    // The page that carries the gateway form (Shift_JIS) shows the same.
    let purchase = confirm_order(&mut browser).await;
    let purchase = purchase.text();
    assert!(purchase.contains(STANDARD_ROW), "{purchase}");
    assert!(purchase.contains(REDUCED_ROW), "{purchase}");
}

async fn an_order_keeps_the_rates_it_was_priced_with(backend: Backend) {
    let (state, _dir) = backend.shop("tax-kept").await;
    let mut browser = Browser::new(&state);
    to_confirm(&mut browser, &state, &[(MUG, "1"), (TEA, "1")]).await;
    let link_key = order_it(&mut browser, &state).await;

    // The tea becomes standard-rated afterwards: the order does not change.
    let form = ProductForm {
        tax_class: Some("standard".into()),
        ..ProductForm::default()
    };
    let tea = catalogue::edit(&state, "SKU006", &form).await.unwrap();
    assert_eq!(tea.tax_class.rate(), 10);

    let done = browser
        .get(&format!("/checkout/complete/{link_key}"))
        .await
        .text();
    assert!(done.contains(STANDARD_ROW), "{done}");
    assert!(done.contains(REDUCED_ROW), "{done}");
    assert!(done.contains(NOTE), "{done}");

    let request = Request::get(format!("/admin/api/orders?link_key={link_key}"))
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let page = send(&shophost::http::router(state.clone()), request).await;
    let answer: serde_json::Value = serde_json::from_slice(&page.bytes).unwrap();
    let order = &answer["orders"][0];
    assert_eq!(
        order["totals"]["rates"],
        serde_json::json!([
            {"rate": 10, "reduced": false, "total": 3990, "tax": 362},
            {"rate": 8, "reduced": true, "total": 540, "tax": 40},
        ]),
        "{order}"
    );
    assert_eq!(order["totals"]["tax"], 402);
    assert_eq!(order["lines"][1]["tax_rate"], 8, "{order}");

    // A new cart takes the new class.
    let mut next = Browser::new(&state);
    to_confirm(&mut next, &state, &[(TEA, "1")]).await;
    let review = next.get("/checkout/confirm").await.text();
    assert!(
        review.contains("10%対象</th><td colspan=\"1\">540円（うち消費税 49円）"),
        "{review}"
    );
    assert!(!review.contains(NOTE), "{review}");
}

async fn mypage_shows_each_order_with_its_rates(backend: Backend) {
    let (state, _dir) = backend.shop("tax-mypage").await;
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
    to_confirm(&mut browser, &state, &[(TEA, "1")]).await;
    order_it(&mut browser, &state).await;
    let mypage = browser.get("/mypage").await.text();
    assert!(mypage.contains(REDUCED_ROW), "{mypage}");
    assert!(!mypage.contains("10%対象"), "8 % only: {mypage}");
    assert!(mypage.contains(NOTE), "{mypage}");
}

// Each test above runs on SQLite, and on PostgreSQL when SHOPHOST_TEST_PG_URL names a server.
on_both_backends!(
    the_cart_and_the_confirm_page_show_each_rate,
    an_order_keeps_the_rates_it_was_priced_with,
    mypage_shows_each_order_with_its_rates,
);
