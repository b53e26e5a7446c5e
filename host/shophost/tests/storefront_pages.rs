//! The storefront's pages before the checkout's confirm step, through the real router: the catalogue,
//! the cart's quantities, the customer form (every problem next to its field, what was typed kept and
//! escaped), and the stylesheet every page links.

#[macro_use]
mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::{assert_redirect, customer_with, product_id, Backend, Browser};
use tower::ServiceExt;

async fn bad_customer_details_are_shown_again_with_messages(backend: Backend) {
    let (state, _dir) = backend.shop("input").await;
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

async fn the_catalogue_marks_the_recurring_product(backend: Backend) {
    let (state, _dir) = backend.shop("recurring").await;
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

async fn customer_problems_sit_next_to_their_fields(backend: Backend) {
    let (state, _dir) = backend.shop("fields").await;
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

async fn the_stylesheet_is_a_cached_file_that_every_page_links(backend: Backend) {
    let (state, _dir) = backend.shop("assets").await;
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

// Each test above runs on SQLite, and on PostgreSQL when SHOPHOST_TEST_PG_URL names a server.
on_both_backends!(
    bad_customer_details_are_shown_again_with_messages,
    the_catalogue_marks_the_recurring_product,
    customer_problems_sit_next_to_their_fields,
    the_stylesheet_is_a_cached_file_that_every_page_links,
);
