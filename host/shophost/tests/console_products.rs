//! The console's 商品 pages through the real router: the list with each product's tax rate, status and
//! 継続課金; adding (then offered in the storefront), a SKU that exists refused at its field; each
//! problem next to its field; stopping (then gone from the storefront); deleting, refused while an order
//! names the product and allowed otherwise; and the session and CSRF checks.

#[macro_use]
mod common;

use axum::http::StatusCode;
use common::{
    assert_redirect, confirm_order, console_browser, fill_cart_and_customer, method_id, Backend,
    Browser,
};
use shophost::domain::{PaymentStatus, TaxClass};
use shophost::AppState;

/// The list's row of a SKU.
fn row<'a>(html: &'a str, sku: &str) -> &'a str {
    let at = html
        .find(&format!("<code>{sku}</code>"))
        .unwrap_or_else(|| panic!("no row for {sku}: {html}"));
    let start = html[..at].rfind("<tr>").expect("the row's start");
    let end = html[at..].find("</tr>").expect("the row's end") + at;
    &html[start..end]
}

/// The part of a form around the control with id `id`: up to the next field, group or button, where
/// its problems are shown.
fn near<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no control {id}: {html}"));
    let rest = &html[start + 1..];
    let end = ["<div class=\"field\">", "<fieldset", "<button"]
        .iter()
        .filter_map(|marker| rest.find(marker))
        .min()
        .unwrap_or(rest.len());
    &rest[..end]
}

/// The fields of the product form as a person fills it in.
fn product_fields<'a>(csrf: &'a str, changes: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![
        ("csrf", csrf),
        ("sku", "TEA10"),
        ("name", "狭山茶 ティーバッグ"),
        ("price", "1,080"),
        ("description", "水出しにも。"),
        ("tax_class", "reduced"),
        ("active", "true"),
        ("recurring", "no"),
        ("interval_months", "1"),
        ("charging_day", "99"),
    ];
    for (name, value) in changes {
        match fields.iter_mut().find(|(n, _)| n == name) {
            Some(field) => field.1 = value,
            None => fields.push((name, value)),
        }
    }
    fields
}

/// The edit form of a product, without the SKU (which is not posted when changing).
fn edit_fields<'a>(csrf: &'a str, changes: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    product_fields(csrf, changes)
        .into_iter()
        .filter(|(name, _)| *name != "sku")
        .collect()
}

/// Buys the demo mug through the storefront and records its order.
async fn order_the_mug(state: &AppState) {
    let mut browser = Browser::new(state);
    fill_cart_and_customer(&mut browser, state, common::CUSTOMER).await;
    let card = method_id(state, "acting_remise_card").await.to_string();
    let div = format!("opt_{card}_div");
    browser
        .post(
            "/checkout/delivery",
            &[("payment_method", &card), (&div, "1")],
        )
        .await;
    assert_eq!(confirm_order(&mut browser).await.status, StatusCode::OK);
    let attempts = state.store.attempts(false, 10).await.expect("attempts");
    let link_key = &attempts.first().expect("the stored attempt").link_key;
    state
        .store
        .recover_attempt(link_key, PaymentStatus::Captured, "カード", "テスト")
        .await
        .expect("the order");
}

async fn storefront(state: &AppState) -> String {
    Browser::new(state).get("/").await.text()
}

async fn the_list_shows_every_product_with_its_tax_rate_status_and_recurrence(backend: Backend) {
    let (state, _dir) = backend.shop("console-products-list").await;
    let (mut browser, _csrf) = console_browser(&state).await;
    let page = browser.get("/admin/products").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("href=\"/admin/products/new\""), "{html}");
    assert!(html.contains("aria-current=\"page\""), "{html}");

    let mug = row(&html, "SKU001");
    assert!(mug.contains("href=\"/admin/products/SKU001\""), "{mug}");
    assert!(
        mug.contains("有田焼 マグカップ") && mug.contains("3,990円"),
        "{mug}"
    );
    assert!(mug.contains("10%") && !mug.contains('※'), "{mug}");
    assert!(mug.contains("badge active\">販売中"), "{mug}");
    let tea = row(&html, "SKU006");
    assert!(tea.contains("8%") && tea.contains('※'), "{tea}");
    let matcha = row(&html, "SKU004");
    assert!(matcha.contains("8%") && matcha.contains('※'), "{matcha}");
    let lessons = row(&html, "SKU005");
    assert!(lessons.contains("毎月・注文日と同じ日"), "{lessons}");
    assert!(html.contains("※は軽減税率（8%）の商品です"), "{html}");
}

async fn a_product_is_added_and_offered_and_a_sku_that_exists_is_refused_at_its_field(
    backend: Backend,
) {
    let (state, _dir) = backend.shop("console-products-add").await;
    let (mut browser, csrf) = console_browser(&state).await;
    let form = browser.get("/admin/products/new").await;
    assert_eq!(form.status, StatusCode::OK);
    let html = form.text();
    for label in [
        "<label for=\"sku\">商品コード",
        "<label for=\"name\">商品名",
        "<label for=\"price\">価格（税込・円）",
        "<label for=\"description\">説明",
        "標準税率10%</label>",
        "軽減税率8%（食品など）</label>",
        "販売中</label>",
        "停止</label>",
        "<label for=\"interval_months\">課金間隔",
        "<label for=\"charging_day\">課金日",
    ] {
        assert!(html.contains(label), "{label}: {html}");
    }
    assert!(!storefront(&state).await.contains("狭山茶"));

    let page = browser
        .post("/admin/products/new", &product_fields(&csrf, &[]))
        .await;
    assert_redirect(&page, "/admin/products?done=created&sku=TEA10");
    let list = browser
        .get("/admin/products?done=created&sku=TEA10")
        .await
        .text();
    assert!(
        list.contains("商品コード「TEA10」の商品を追加しました。"),
        "{list}"
    );
    let added = row(&list, "TEA10");
    assert!(added.contains("1,080円") && added.contains("8%"), "{added}");
    let tea = state.store.product_by_sku("TEA10").await.unwrap().unwrap();
    assert_eq!(
        (tea.price, tea.tax_class, tea.active, tea.recurrence),
        (1080, TaxClass::Reduced, true, None)
    );
    assert!(storefront(&state).await.contains("狭山茶 ティーバッグ"));

    let before = state.store.products().await.unwrap();
    let page = browser
        .post(
            "/admin/products/new",
            &product_fields(&csrf, &[("sku", "SKU001"), ("name", "別の商品")]),
        )
        .await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    let html = page.text();
    let at_sku = near(&html, "sku");
    assert!(
        at_sku.contains("field-error")
            && at_sku.contains("SKU001")
            && at_sku.contains("すでにあります"),
        "{html}"
    );
    assert!(
        html.contains("value=\"別の商品\""),
        "what was typed stays: {html}"
    );
    assert_eq!(state.store.products().await.unwrap(), before);

    // A SKU spelled like the page that adds one still reaches its own product.
    let page = browser
        .post(
            "/admin/products/new",
            &product_fields(&csrf, &[("sku", "new")]),
        )
        .await;
    assert_redirect(&page, "/admin/products?done=created&sku=new");
    let list = browser.get("/admin/products").await.text();
    assert!(
        row(&list, "new").contains("href=\"/admin/products/%6Eew\""),
        "{list}"
    );
    let form = browser.get("/admin/products/%6Eew").await.text();
    assert!(form.contains("<code id=\"sku\">new</code>"), "{form}");
}

async fn each_problem_is_shown_next_to_its_field_and_nothing_is_added(backend: Backend) {
    let (state, _dir) = backend.shop("console-products-invalid").await;
    let (mut browser, csrf) = console_browser(&state).await;
    let before = state.store.products().await.unwrap();

    let page = browser
        .post(
            "/admin/products/new",
            &product_fields(&csrf, &[("name", " "), ("price", "0")]),
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = page.text();
    assert!(html.contains("id=\"form-errors\""), "{html}");
    assert!(
        near(&html, "name").contains("商品名を入力してください"),
        "{html}"
    );
    assert!(near(&html, "price").contains("1円から"), "{html}");
    assert!(!near(&html, "sku").contains("field-error"), "{html}");
    assert!(html.contains("value=\"TEA10\""), "the SKU stays: {html}");

    let page = browser
        .post(
            "/admin/products/new",
            &product_fields(&csrf, &[("price", "千円")]),
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = page.text();
    assert!(
        near(&html, "price").contains("価格は数字で入力してください"),
        "{html}"
    );
    assert!(html.contains("value=\"千円\""), "{html}");

    // What the selects cannot offer is refused by the same rules as the API's.
    let page = browser
        .post(
            "/admin/products/new",
            &product_fields(
                &csrf,
                &[
                    ("recurring", "yes"),
                    ("interval_months", "3"),
                    ("charging_day", "31"),
                ],
            ),
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = page.text();
    assert!(
        near(&html, "interval_months").contains("課金間隔は"),
        "{html}"
    );
    assert!(near(&html, "charging_day").contains("課金日は"), "{html}");
    assert_eq!(state.store.products().await.unwrap(), before);

    // Changing: the SKU is not a field, the problems are the same.
    let page = browser
        .post(
            "/admin/products/SKU002",
            &edit_fields(&csrf, &[("price", "")]),
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(near(&page.text(), "price").contains("価格（税込）を入力してください"));
    assert_eq!(state.store.products().await.unwrap(), before);
}

async fn a_product_changed_to_stopped_leaves_the_storefront_and_recurrence_is_set(
    backend: Backend,
) {
    let (state, _dir) = backend.shop("console-products-edit").await;
    let (mut browser, csrf) = console_browser(&state).await;
    let form = browser.get("/admin/products/SKU006").await;
    assert_eq!(form.status, StatusCode::OK);
    let html = form.text();
    assert!(html.contains("<code id=\"sku\">SKU006</code>"), "{html}");
    assert!(
        !html.contains("name=\"sku\""),
        "the SKU is not changed: {html}"
    );
    assert!(html.contains("value=\"reduced\" checked"), "{html}");
    assert!(html.contains("value=\"true\" checked"), "{html}");
    assert!(html.contains("value=\"no\" checked"), "{html}");
    assert!(storefront(&state).await.contains("静岡 深蒸し煎茶"));

    let page = browser
        .post(
            "/admin/products/SKU006",
            &edit_fields(
                &csrf,
                &[
                    ("name", "静岡 深蒸し煎茶 100g"),
                    ("price", "540"),
                    ("active", "false"),
                ],
            ),
        )
        .await;
    assert_redirect(&page, "/admin/products?done=saved&sku=SKU006");
    let tea = state.store.product_by_sku("SKU006").await.unwrap().unwrap();
    assert!(!tea.active);
    assert!(!storefront(&state).await.contains("静岡 深蒸し煎茶"));
    let list = browser.get("/admin/products").await.text();
    assert!(
        row(&list, "SKU006").contains("badge stopped\">停止"),
        "{list}"
    );

    // 継続課金 every six months on the 10th, then one-off again.
    let recurring = edit_fields(
        &csrf,
        &[
            ("name", "今治タオル ハンカチ"),
            ("price", "1100"),
            ("tax_class", "standard"),
            ("recurring", "yes"),
            ("interval_months", "6"),
            ("charging_day", "10"),
        ],
    );
    let page = browser.post("/admin/products/SKU002", &recurring).await;
    assert_redirect(&page, "/admin/products?done=saved&sku=SKU002");
    let list = browser.get("/admin/products").await.text();
    assert!(row(&list, "SKU002").contains("6か月ごと・10日"), "{list}");
    let html = browser.get("/admin/products/SKU002").await.text();
    assert!(html.contains("value=\"6\" selected") && html.contains("value=\"10\" selected"));
    let one_off: Vec<_> = recurring
        .into_iter()
        .map(|(n, v)| if n == "recurring" { (n, "no") } else { (n, v) })
        .collect();
    browser.post("/admin/products/SKU002", &one_off).await;
    let towel = state.store.product_by_sku("SKU002").await.unwrap().unwrap();
    assert_eq!(towel.recurrence, None);

    assert_eq!(
        browser.get("/admin/products/NOSUCH").await.status,
        StatusCode::NOT_FOUND
    );
}

async fn deleting_is_refused_while_an_order_names_the_product_and_allowed_otherwise(
    backend: Backend,
) {
    let (state, _dir) = backend.shop("console-products-delete").await;
    order_the_mug(&state).await;
    let (mut browser, csrf) = console_browser(&state).await;
    let form = browser.get("/admin/products/SKU001").await.text();
    assert!(
        form.contains("action=\"/admin/products/SKU001/delete\"")
            && form.contains("data-confirm=\""),
        "{form}"
    );

    let page = browser
        .post("/admin/products/SKU001/delete", &[("csrf", &csrf)])
        .await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    let html = page.text();
    assert!(html.contains("削除できません"), "{html}");
    assert!(html.contains("id=\"delete-refused\""), "{html}");
    assert!(html.contains("この商品を停止にする"), "{html}");
    let mug = state.store.product_by_sku("SKU001").await.unwrap();
    assert!(mug.is_some_and(|mug| mug.active), "kept, still on sale");

    // The offered button stops it and changes nothing else.
    let page = browser
        .post(
            "/admin/products/SKU001",
            &[("csrf", csrf.as_str()), ("active", "false")],
        )
        .await;
    assert_redirect(&page, "/admin/products?done=saved&sku=SKU001");
    let mug = state.store.product_by_sku("SKU001").await.unwrap().unwrap();
    assert_eq!(
        (mug.active, mug.price, mug.name.as_str()),
        (false, 3990, "有田焼 マグカップ")
    );

    // A fresh product, named by nothing, goes.
    let page = browser
        .post("/admin/products/new", &product_fields(&csrf, &[]))
        .await;
    assert_redirect(&page, "/admin/products?done=created&sku=TEA10");
    let page = browser
        .post("/admin/products/TEA10/delete", &[("csrf", &csrf)])
        .await;
    assert_redirect(&page, "/admin/products?done=deleted&sku=TEA10");
    assert!(state.store.product_by_sku("TEA10").await.unwrap().is_none());
    let list = browser
        .get("/admin/products?done=deleted&sku=TEA10")
        .await
        .text();
    assert!(
        list.contains("商品コード「TEA10」の商品を削除しました。"),
        "{list}"
    );
    assert!(!list.contains("<code>TEA10</code>"), "{list}");
    let page = browser
        .post("/admin/products/TEA10/delete", &[("csrf", &csrf)])
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
}

async fn forms_without_the_sessions_token_change_nothing(backend: Backend) {
    let (state, _dir) = backend.shop("console-products-csrf").await;
    let (mut browser, _csrf) = console_browser(&state).await;
    let before = state.store.products().await.unwrap();
    let wrong = "0".repeat(64);
    let page = browser
        .post("/admin/products/new", &product_fields(&wrong, &[]))
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let without: Vec<_> = product_fields("", &[])
        .into_iter()
        .filter(|(name, _)| *name != "csrf")
        .collect();
    let page = browser.post("/admin/products/new", &without).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let page = browser
        .post(
            "/admin/products/SKU002",
            &edit_fields(&wrong, &[("active", "false")]),
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let page = browser
        .post("/admin/products/SKU002/delete", &[("csrf", &wrong)])
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(state.store.products().await.unwrap(), before);
}

async fn without_a_session_the_pages_go_to_the_sign_in_page_with_nothing_of_them(backend: Backend) {
    let (state, _dir) = backend.shop("console-products-no-session").await;
    let mut browser = Browser::new(&state);
    for path in [
        "/admin/products",
        "/admin/products/new",
        "/admin/products/SKU001",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        let next = percent_encoding::utf8_percent_encode(path, percent_encoding::NON_ALPHANUMERIC);
        assert_eq!(
            page.location.as_deref(),
            Some(format!("/admin/login?next={next}").as_str())
        );
        assert!(
            page.bytes.is_empty(),
            "{path} leaked {} bytes",
            page.bytes.len()
        );
    }
    let before = state.store.products().await.unwrap();
    let page = browser.post("/admin/products/SKU002/delete", &[]).await;
    assert_redirect(&page, "/admin/login?next=%2Fadmin");
    assert!(page.bytes.is_empty());
    let page = browser
        .post("/admin/products/new", &product_fields("", &[]))
        .await;
    assert_redirect(&page, "/admin/login?next=%2Fadmin");
    assert_eq!(state.store.products().await.unwrap(), before);
}

// Each test above runs on SQLite, and on PostgreSQL when SHOPHOST_TEST_PG_URL names a server.
on_both_backends!(
    the_list_shows_every_product_with_its_tax_rate_status_and_recurrence,
    a_product_is_added_and_offered_and_a_sku_that_exists_is_refused_at_its_field,
    each_problem_is_shown_next_to_its_field_and_nothing_is_added,
    a_product_changed_to_stopped_leaves_the_storefront_and_recurrence_is_set,
    deleting_is_refused_while_an_order_names_the_product_and_allowed_otherwise,
    forms_without_the_sessions_token_change_nothing,
    without_a_session_the_pages_go_to_the_sign_in_page_with_nothing_of_them,
);
