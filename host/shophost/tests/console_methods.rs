//! The console's 支払方法 pages through the real router: the list in the operator's order (which the
//! storefront follows), adding with a sanitised preview, field errors, moving, deleting only what no
//! order uses, the session and form-token checks, and the admin API's move route.

#[macro_use]
mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::{
    assert_redirect, confirm_order, console_browser, fill_cart_and_customer, method_id, send,
    Backend, Browser, ADMIN_TOKEN, CUSTOMER,
};
use serde_json::{json, Value};
use shophost::AppState;

const CARD: &str = "acting_remise_card";
const CONV: &str = "acting_remise_conv";

/// Where `needle` is in `haystack` (the test fails when it is missing).
fn at(haystack: &str, needle: &str) -> usize {
    haystack
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` missing from:\n{haystack}"))
}

/// Adds a method through the console's form; returns its id.
async fn add(
    browser: &mut Browser,
    csrf: &str,
    state: &AppState,
    name: &str,
    settlement_type: &str,
) -> i64 {
    let page = browser
        .post(
            "/admin/methods/new",
            &[
                ("csrf", csrf),
                ("name", name),
                ("explanation", "説明"),
                ("settlement_type", settlement_type),
                ("active", "1"),
                ("action", "save"),
            ],
        )
        .await;
    let who = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
    assert_redirect(&page, &format!("/admin/methods?done=created&who={who}"));
    state
        .store
        .payment_methods()
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.name == name)
        .expect("the method added")
        .id
}

/// The storefront's delivery page for a shopper with a cart.
async fn delivery(state: &AppState) -> String {
    let mut shopper = Browser::new(state);
    fill_cart_and_customer(&mut shopper, state, CUSTOMER).await;
    let page = shopper.get("/checkout/delivery").await;
    assert_eq!(page.status, StatusCode::OK);
    page.text()
}

async fn the_list_shows_the_demo_methods_in_order(backend: Backend) {
    let (state, _dir) = backend.shop("console-methods-list").await;
    let (card, conv) = (method_id(&state, CARD).await, method_id(&state, CONV).await);
    let (mut browser, _) = console_browser(&state).await;
    let page = browser.get("/admin/methods").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("<h1>支払方法</h1>"), "{html}");
    assert!(html.contains("href=\"/admin/methods\" aria-current=\"page\""));
    let card_row = at(&html, &format!("<tr id=\"method-{card}\">"));
    let conv_row = at(&html, &format!("<tr id=\"method-{conv}\">"));
    assert!(card_row < conv_row, "the demo order");
    assert!(html[card_row..].contains("クレジットカード決済"));
    assert!(html[card_row..conv_row].contains("<span class=\"badge active\">使用</span>"));
    // The first cannot go up, the last cannot go down.
    assert!(
        html[card_row..conv_row].contains("disabled aria-label=\"「クレジットカード決済」を上へ\"")
    );
    assert!(html[conv_row..].contains("disabled aria-label=\"「コンビニ・電子マネー決済」を下へ\""));
    assert!(html.contains(&format!(
        "action=\"/admin/methods/{card}/delete\" data-confirm="
    )));
}

async fn a_method_added_and_moved_up_is_offered_in_that_order(backend: Backend) {
    let (state, _dir) = backend.shop("console-methods-add-move").await;
    let conv = method_id(&state, CONV).await;
    let (mut browser, csrf) = console_browser(&state).await;

    let form = browser.get("/admin/methods/new").await.text();
    assert!(
        form.contains("<option value=\"acting_remise_card\">"),
        "{form}"
    );
    assert!(
        form.contains("（ルミーズ"),
        "labelled with the module: {form}"
    );

    let added = add(&mut browser, &csrf, &state, "銀行振込（テスト）", CONV).await;
    let list = browser
        .get("/admin/methods?done=created&who=%E9%8A%80")
        .await
        .text();
    assert!(list.contains("<p class=\"done\" role=\"status\">支払方法「銀」を追加しました。</p>"));
    // A new method goes to the bottom, on the storefront too.
    let page = delivery(&state).await;
    assert!(
        at(&page, &format!("id=\"method-{conv}\"")) < at(&page, &format!("id=\"method-{added}\""))
    );

    let moved = browser
        .post(
            &format!("/admin/methods/{added}/move"),
            &[("csrf", &csrf), ("direction", "up")],
        )
        .await;
    assert!(moved.status.is_redirection());
    assert!(moved
        .location
        .unwrap()
        .starts_with("/admin/methods?done=moved&who="));
    let page = delivery(&state).await;
    assert!(
        at(&page, &format!("id=\"method-{added}\"")) < at(&page, &format!("id=\"method-{conv}\"")),
        "moved above the multi-payment"
    );
    let list = browser.get("/admin/methods").await.text();
    assert!(
        at(&list, &format!("<tr id=\"method-{added}\">"))
            < at(&list, &format!("<tr id=\"method-{conv}\">"))
    );
    // The checkout API follows the same order.
    let offered = shophost::checkout::methods_for_checkout(&state)
        .await
        .unwrap();
    let ids: Vec<i64> = offered.iter().map(|m| m.id).collect();
    assert_eq!(ids[1..], [added, conv]);

    // Editing keeps the place in the order.
    let edit = browser.get(&format!("/admin/methods/{added}")).await.text();
    assert!(edit.contains("value=\"銀行振込（テスト）\""), "{edit}");
    let saved = browser
        .post(
            &format!("/admin/methods/{added}"),
            &[
                ("csrf", &csrf),
                ("name", "銀行振込"),
                ("explanation", ""),
                ("settlement_type", CONV),
                ("active", "0"),
                ("action", "save"),
            ],
        )
        .await;
    assert!(saved
        .location
        .unwrap()
        .starts_with("/admin/methods?done=updated&who="));
    let method = state.store.payment_method(added).await.unwrap().unwrap();
    assert_eq!((method.name.as_str(), method.active), ("銀行振込", false));
    let list = browser.get("/admin/methods").await.text();
    let row = at(&list, &format!("<tr id=\"method-{added}\">"));
    assert!(row < at(&list, &format!("<tr id=\"method-{conv}\">")));
    assert!(list[row..].contains("<span class=\"badge stopped\">停止</span>"));
}

async fn a_duplicate_name_and_a_missing_type_are_shown_at_their_fields(backend: Backend) {
    let (state, _dir) = backend.shop("console-methods-errors").await;
    let (mut browser, csrf) = console_browser(&state).await;
    let page = browser
        .post(
            "/admin/methods/new",
            &[
                ("csrf", &csrf),
                ("name", "クレジットカード決済"),
                ("explanation", ""),
                ("settlement_type", CARD),
                ("active", "1"),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = page.text();
    let name_field = at(&html, "id=\"name\" name=\"name\"");
    let error = at(
        &html,
        "<p class=\"field-error\">同じ名前の支払方法がすでにあります</p>",
    );
    assert!(
        name_field < error && error < at(&html, "id=\"explanation\""),
        "{html}"
    );
    assert!(html.contains("aria-invalid=\"true\""));
    // What was typed stays in the form.
    assert!(html.contains("<option value=\"acting_remise_card\" selected>"));

    let page = browser
        .post(
            "/admin/methods/new",
            &[
                ("csrf", &csrf),
                ("name", " "),
                ("settlement_type", ""),
                ("active", "1"),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = page.text();
    assert!(html.contains("<p class=\"field-error\">支払方法名を入力してください</p>"));
    assert!(html.contains("<p class=\"field-error\">決済種別を選んでください</p>"));
    assert_eq!(state.store.payment_methods().await.unwrap().len(), 2);
}

async fn an_unsafe_explanation_is_sanitised_in_the_preview_and_when_stored(backend: Backend) {
    let (state, _dir) = backend.shop("console-methods-sanitise").await;
    let (mut browser, csrf) = console_browser(&state).await;
    let unsafe_html =
        "<p onclick=\"steal()\">お振込みは<strong>3日以内</strong><script>alert(1)</script></p>";
    let fields = |action: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("name", "銀行振込".to_owned()),
            ("explanation", unsafe_html.to_owned()),
            ("settlement_type", CONV.to_owned()),
            ("active", "1".to_owned()),
            ("action", action.to_owned()),
        ]
    };
    let preview_fields = fields("preview");
    let preview: Vec<(&str, &str)> = preview_fields
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    let page = browser.post("/admin/methods/new", &preview).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    // The preview shows the sanitised HTML as HTML; the script and the handler are gone, and the
    // textarea keeps what was typed, escaped.
    assert!(
        html.contains("<div class=\"explanation\"><p>お振込みは<strong>3日以内</strong></p></div>"),
        "{html}"
    );
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(!html.contains("onclick=\""), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    // A preview saves nothing.
    assert_eq!(state.store.payment_methods().await.unwrap().len(), 2);

    let save_fields = fields("save");
    let save: Vec<(&str, &str)> = save_fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let saved = browser.post("/admin/methods/new", &save).await;
    assert!(saved.status.is_redirection(), "{}", saved.text());
    let stored = state.store.payment_methods().await.unwrap();
    let method = stored.iter().find(|m| m.name == "銀行振込").expect("saved");
    assert_eq!(
        method.explanation,
        "<p>お振込みは<strong>3日以内</strong></p>"
    );
    assert!(delivery(&state)
        .await
        .contains("<div class=\"explanation\"><p>お振込みは<strong>3日以内</strong></p></div>"));
}

async fn a_method_an_order_uses_is_kept_and_one_without_is_deleted(backend: Backend) {
    let (state, _dir) = backend.shop("console-methods-delete").await;
    let (mut browser, csrf) = console_browser(&state).await;
    let used = add(&mut browser, &csrf, &state, "使われる支払方法", CONV).await;
    let unused = add(&mut browser, &csrf, &state, "使われない支払方法", CONV).await;

    // A shopper orders with the first (the attempt refers to it).
    let mut shopper = Browser::new(&state);
    fill_cart_and_customer(&mut shopper, &state, CUSTOMER).await;
    let chosen = shopper
        .post(
            "/checkout/delivery",
            &[("payment_method", &used.to_string()), ("note", "")],
        )
        .await;
    assert_redirect(&chosen, "/checkout/confirm");
    let confirmed = confirm_order(&mut shopper).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.text());

    let refused = browser
        .post(&format!("/admin/methods/{used}/delete"), &[("csrf", &csrf)])
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    let html = refused.text();
    assert!(
        html.contains("この支払方法を使った注文があるため削除できません。停止にしてください"),
        "{html}"
    );
    assert!(
        html.contains(&format!("<tr id=\"method-{used}\">")),
        "the list is shown again"
    );
    assert!(state.store.payment_method(used).await.unwrap().is_some());

    let deleted = browser
        .post(
            &format!("/admin/methods/{unused}/delete"),
            &[("csrf", &csrf)],
        )
        .await;
    assert!(deleted
        .location
        .unwrap()
        .starts_with("/admin/methods?done=deleted&who="));
    assert!(state.store.payment_method(unused).await.unwrap().is_none());
    let missing = browser
        .post(
            &format!("/admin/methods/{unused}/delete"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

async fn a_method_whose_module_settings_are_invalid_is_shown_stopped_for_that_reason(
    backend: Backend,
) {
    let (state, _dir) = backend.shop("console-methods-broken").await;
    let card = method_id(&state, CARD).await;
    let mut values = state.engine.states()["remise"].values.clone();
    values.insert("SHOPCO".into(), String::new());
    let report = state
        .engine
        .update_settings("remise", values, state.store.as_ref())
        .await
        .unwrap();
    assert!(!report.ok);
    let (mut browser, csrf) = console_browser(&state).await;
    let list = browser.get("/admin/methods").await.text();
    let row = at(&list, &format!("<tr id=\"method-{card}\">"));
    let row = &list[row..row + at(&list[row..], "</tr>")];
    assert!(
        row.contains("<span class=\"badge broken\">停止</span>"),
        "{row}"
    );
    assert!(row.contains("設定エラーのため停止中"), "{row}");
    assert!(row.contains("href=\"/admin/modules/remise\""), "{row}");

    // Its type is shown as not available, and it cannot be set to 使用.
    let edit = browser.get(&format!("/admin/methods/{card}")).await.text();
    assert!(edit.contains("<option value=\"acting_remise_card\" selected>acting_remise_card（現在利用できません）</option>"), "{edit}");
    let page = browser
        .post(
            &format!("/admin/methods/{card}"),
            &[
                ("csrf", &csrf),
                ("name", "クレジットカード決済"),
                ("settlement_type", CARD),
                ("active", "1"),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page
        .text()
        .contains("が提供されていないため「使用」にできません"));
}

async fn forms_without_the_session_token_change_nothing(backend: Backend) {
    let (state, _dir) = backend.shop("console-methods-csrf").await;
    let card = method_id(&state, CARD).await;
    let (mut browser, _) = console_browser(&state).await;
    for (path, fields) in [
        (
            "/admin/methods/new".to_owned(),
            vec![("name", "偽物"), ("settlement_type", CARD), ("active", "1")],
        ),
        (format!("/admin/methods/{card}/delete"), vec![]),
        (
            format!("/admin/methods/{card}/move"),
            vec![("direction", "down")],
        ),
    ] {
        for token in [None, Some("0".repeat(64))] {
            let mut fields = fields.clone();
            if let Some(token) = &token {
                fields.push(("csrf", token));
            }
            let page = browser.post(&path, &fields).await;
            assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        }
    }
    let methods = state.store.payment_methods().await.unwrap();
    assert_eq!(methods.len(), 2);
    assert_eq!(methods[0].id, card, "not moved");
}

async fn without_a_session_the_pages_redirect_and_show_nothing(backend: Backend) {
    let (state, _dir) = backend.shop("console-methods-no-session").await;
    let card = method_id(&state, CARD).await;
    let mut browser = Browser::new(&state);
    for path in [
        "/admin/methods".to_owned(),
        "/admin/methods/new".to_owned(),
        format!("/admin/methods/{card}"),
    ] {
        let page = browser.get(&path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        let next = percent_encoding::utf8_percent_encode(&path, percent_encoding::NON_ALPHANUMERIC);
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
    let page = browser
        .post(&format!("/admin/methods/{card}/delete"), &[("csrf", "x")])
        .await;
    assert_redirect(&page, "/admin/login?next=%2Fadmin");
    assert!(page.bytes.is_empty());
    assert!(state.store.payment_method(card).await.unwrap().is_some());
}

/// One admin API call.
async fn admin_api(
    state: &AppState,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"));
    if body.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let page = send(
        &shophost::http::router(state.clone()),
        request.body(Body::from(body)).unwrap(),
    )
    .await;
    let value = serde_json::from_slice(&page.bytes).unwrap_or(Value::Null);
    (page.status, value)
}

async fn the_admin_api_moves_a_method(backend: Backend) {
    let (state, _dir) = backend.shop("console-methods-api-move").await;
    let (card, conv) = (method_id(&state, CARD).await, method_id(&state, CONV).await);
    let path = format!("/admin/api/payment-methods/{conv}/move");
    let (status, answer) = admin_api(&state, "POST", &path, Some(json!({"direction": "up"}))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["order"], json!([conv, card]));
    assert_eq!(answer["payment_method"]["position"], 1);
    let (_, list) = admin_api(&state, "GET", "/admin/api/payment-methods", None).await;
    let ids: Vec<i64> = list["payment_methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [conv, card]);
    let api: Vec<i64> = shophost::checkout::methods_for_checkout(&state)
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(api, [conv, card], "the checkout API follows");

    // At the top already: nothing changes.
    let (status, answer) = admin_api(&state, "POST", &path, Some(json!({"direction": "up"}))).await;
    assert_eq!(
        (status, answer["order"].clone()),
        (StatusCode::OK, json!([conv, card]))
    );
    let (status, _) = admin_api(
        &state,
        "POST",
        &path,
        Some(json!({"direction": "sideways"})),
    )
    .await;
    // A body that is not the route's JSON is a 400, as on every JSON route.
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = admin_api(
        &state,
        "POST",
        "/admin/api/payment-methods/9999/move",
        Some(json!({"direction": "down"})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Without the token, refused.
    let request = Request::post(&path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"direction":"down"}"#))
        .unwrap();
    let page = send(&shophost::http::router(state.clone()), request).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);

    // A duplicate name through the API is the same rule, as a 409.
    let (status, answer) = admin_api(
        &state,
        "POST",
        "/admin/api/payment-methods",
        Some(json!({"name": "クレジットカード決済", "settlement_type": CARD})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["error"], "同じ名前の支払方法がすでにあります");
}

// Each test above runs on SQLite, and on PostgreSQL when SHOPHOST_TEST_PG_URL names a server.
on_both_backends!(
    the_list_shows_the_demo_methods_in_order,
    a_method_added_and_moved_up_is_offered_in_that_order,
    a_duplicate_name_and_a_missing_type_are_shown_at_their_fields,
    an_unsafe_explanation_is_sanitised_in_the_preview_and_when_stored,
    a_method_an_order_uses_is_kept_and_one_without_is_deleted,
    a_method_whose_module_settings_are_invalid_is_shown_stopped_for_that_reason,
    forms_without_the_session_token_change_nothing,
    without_a_session_the_pages_redirect_and_show_nothing,
    the_admin_api_moves_a_method,
);
