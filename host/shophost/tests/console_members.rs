//! The console's 会員 and 継続課金 pages through the real router: the member list and its search find
//! the demo member and one who registered; a member's page shows the card Remise keeps for them (made
//! by a real notification of a member's recurring card payment); ペイクイックを解除する asks first,
//! then forgets the card, and the member's next card payment form carries no kept card; the contracts
//! list filters by state, member and product, a contract's page shows the gateway's id and the next
//! charge, 停止 asks first, stops it with the reminder for the gateway, and a second 停止 is refused
//! with the reason; forms without the session's token and requests without a session change nothing.

#[macro_use]
mod common;

use axum::http::StatusCode;
use common::{
    api, assert_redirect, confirm_order, console_browser, customer_with, hidden, method_id,
    Backend, Browser,
};
use serde_json::{json, Value};
use shophost::domain::CustomerDetails;
use shophost::AppState;

const ACK: &str = "<SDBKDATA>STATUS=800</SDBKDATA>";
const DEMO_MEMBER: (&str, &str) = ("demo@example.invalid", "demo");

/// A monthly product (on the 10th), added through the admin API: its id.
async fn subscription(state: &AppState) -> i64 {
    let (status, product) = api(
        state,
        "POST",
        "/admin/api/products",
        Some(json!({"sku": "LESSON", "name": "オンライン茶道教室 月謝", "price": 3300})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{product}");
    let (status, answer) = api(
        state,
        "PUT",
        "/admin/api/products/LESSON/recurrence",
        Some(json!({"interval_months": 1, "charging_day": 10})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    product["id"].as_i64().expect("product id")
}

/// The demo member subscribes by card through the checkout API, and Remise's notification says the
/// card is kept (PayQuick) and the recurring charge registered: the contract's id.
async fn subscribe(state: &AppState) -> i64 {
    let product = subscription(state).await;
    let customer: serde_json::Map<String, Value> = customer_with(&[
        ("email", "demo@example.invalid"),
        ("family_name", "会員"),
        ("given_name", "花子"),
    ])
    .iter()
    .map(|(name, value)| (name.to_string(), json!(value)))
    .collect();
    let (status, answer) = api(
        state,
        "POST",
        "/api/checkout",
        Some(json!({
            "lines": [{"product_id": product, "quantity": 1}],
            "customer": customer,
            "payment_method_id": method_id(state, "acting_remise_card").await,
            "member": {"email": DEMO_MEMBER.0, "password": DEMO_MEMBER.1},
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let link_key = answer["link_key"].as_str().expect("link key");
    let total = answer["total"].as_i64().expect("total").to_string();
    let body = common::form_body(&[
        ("X-TRANID", "T-LESSON-1"),
        ("X-S_TORIHIKI_NO", link_key),
        ("X-AMOUNT", &total),
        ("X-TAX", "0"),
        ("X-TOTAL", &total),
        ("X-REFAPPROVED", "1234567"),
        ("X-REFFORWARDED", "UFJ"),
        ("X-REFGATEWAYNO", "01"),
        ("X-ERRCODE", "   "),
        ("X-ERRINFO", "000000000"),
        ("X-ERRLEVEL", "0"),
        ("X-R_CODE", "0:0000"),
        ("X-PARTOFCARD", "4242"),
        ("X-EXPIRE", "1230"),
        ("X-CARDBRAND", "VISA"),
        ("X-NAME", "HANAKO KAIIN"),
        ("X-PAYQUICKID", "PQ0000000001"),
        ("X-AC_MEMBERID", "AC0000000077"),
        ("REC_TYPE", "RET"),
    ]);
    let answer = common::notify(state, "remise_card", body).await;
    assert!(answer.contains(ACK), "{answer}");
    let contracts = state.store.contracts(None, 10).await.expect("contracts");
    assert_eq!(contracts.len(), 1, "{contracts:?}");
    contracts[0].id
}

/// Another member, registered with their own details: their id.
async fn register_other(state: &AppState) -> i64 {
    let details = CustomerDetails {
        email: "suzuki@example.jp".to_owned(),
        family_name: "鈴木".to_owned(),
        given_name: "一郎".to_owned(),
        family_kana: "スズキ".to_owned(),
        given_kana: "イチロウ".to_owned(),
        ..CustomerDetails::default()
    };
    let hash = shophost::members::hash_password("suzuki-password");
    state
        .store
        .create_member("suzuki@example.jp", &hash, &details)
        .await
        .expect("member")
        .id
}

async fn demo_member_id(state: &AppState) -> i64 {
    let (member, _) = state
        .store
        .member_by_email(DEMO_MEMBER.0)
        .await
        .expect("members")
        .expect("the demo member");
    member.id
}

/// The `<tbody>` of the table with id `table`.
fn table<'a>(html: &'a str, table: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"{table}\""))
        .unwrap_or_else(|| panic!("no table {table}: {html}"));
    let body = start + html[start..].find("<tbody>").expect("tbody");
    &html[body..body + html[body..].find("</tbody>").expect("tbody end")]
}

async fn the_list_and_its_search_find_the_demo_member_and_one_who_registered(backend: Backend) {
    let (state, _dir) = backend.shop("console-members-list").await;
    let other = register_other(&state).await;
    let demo = demo_member_id(&state).await;
    let (mut browser, _csrf) = console_browser(&state).await;

    let page = browser.get("/admin/members").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(
        html.contains("href=\"/admin/members\" aria-current=\"page\">会員"),
        "{html}"
    );
    assert!(
        html.contains("href=\"/admin/contracts\">継続課金"),
        "{html}"
    );
    let rows = table(&html, "members");
    assert!(rows.contains("demo@example.invalid"), "{rows}");
    assert!(rows.contains("suzuki@example.jp"), "{rows}");
    // Newest first.
    assert!(rows.find("suzuki@example.jp") < rows.find("demo@example.invalid"));

    for (query, finds_other, finds_demo) in [
        ("SUZUKI@example", true, false),
        ("鈴木一郎", true, false),
        ("鈴木 一郎", true, false),
        ("イチロウ", true, false),
        ("demo@", false, true),
        ("%", false, false),
        ("nobody", false, false),
    ] {
        let uri = format!(
            "/admin/members?q={}",
            percent_encoding::utf8_percent_encode(query, percent_encoding::NON_ALPHANUMERIC)
        );
        let html = browser.get(&uri).await.text();
        let rows = table(&html, "members");
        assert_eq!(
            rows.contains(&format!("href=\"/admin/members/{other}\"")),
            finds_other,
            "{query}: {rows}"
        );
        assert_eq!(
            rows.contains(&format!("href=\"/admin/members/{demo}\"")),
            finds_demo,
            "{query}: {rows}"
        );
        if !finds_other && !finds_demo {
            assert!(rows.contains("見つかりませんでした"), "{rows}");
        }
    }

    // Keyset pages: more members than a page, each once across the pages.
    for n in 0..55 {
        let email = format!("m{n}@example.jp");
        let details = CustomerDetails {
            email: email.clone(),
            family_name: "多数".to_owned(),
            given_name: format!("{n}"),
            ..CustomerDetails::default()
        };
        state
            .store
            .create_member(&email, "x", &details)
            .await
            .expect("member");
    }
    let first = browser.get("/admin/members").await.text();
    let next = first
        .split("<p class=\"pager\"><a href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a next page")
        .replace("&amp;", "&");
    let second = browser.get(&next).await.text();
    let count = |html: &str| table(html, "members").matches("<tr>").count();
    assert_eq!(count(&first), 50);
    assert_eq!(count(&second), 57 - 50);
    assert!(table(&second, "members").contains("demo@example.invalid"));
    assert!(!second.contains("class=\"pager\""));

    let page = browser.get("/admin/members/99999").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
}

async fn a_members_card_is_shown_and_released_after_a_confirmation(backend: Backend) {
    let (state, _dir) = backend.shop("console-members-card").await;
    let contract = subscribe(&state).await;
    let demo = demo_member_id(&state).await;
    let (mut browser, csrf) = console_browser(&state).await;

    let list = browser.get("/admin/members?q=demo").await.text();
    assert!(table(&list, "members").contains("登録あり"), "{list}");

    let html = browser.get(&format!("/admin/members/{demo}")).await.text();
    assert!(html.contains("demo@example.invalid"), "{html}");
    let cards = table(&html, "cards");
    assert!(
        cards.contains("<td data-label=\"下4桁\">4242</td>"),
        "{cards}"
    );
    assert!(
        cards.contains("<td data-label=\"有効期限\">12/30</td>"),
        "{cards}"
    );
    assert!(cards.contains("登録あり"), "{cards}");
    assert!(cards.contains("data-confirm="), "{cards}");
    let contracts = table(&html, "member-contracts");
    assert!(contracts.contains(&format!("href=\"/admin/contracts/{contract}\"")));
    assert!(contracts.contains("オンライン茶道教室 月謝"), "{contracts}");
    assert!(table(&html, "member-orders").contains("仮売上"), "{html}");

    // The first post asks; nothing is released yet.
    let release = format!("/admin/members/{demo}/cards/remise/release");
    let page = browser.post(&release, &[("csrf", &csrf)]).await;
    assert_eq!(page.status, StatusCode::OK);
    let confirm = page.text();
    assert!(confirm.contains("id=\"confirmation\""), "{confirm}");
    assert!(
        confirm.contains("次回の購入でカード番号を入力します"),
        "{confirm}"
    );
    assert_eq!(hidden(&confirm, "confirm").as_deref(), Some("1"));
    assert!(state
        .store
        .member_card(demo, "remise")
        .await
        .unwrap()
        .is_some());

    // Before the release, the member's card checkout names the kept card.
    let form_before = member_card_checkout(&state).await;
    assert_eq!(
        hidden(&form_before, "PAYQUICKID").as_deref(),
        Some("PQ0000000001")
    );

    let done = browser
        .post(&release, &[("csrf", &csrf), ("confirm", "1")])
        .await;
    assert_redirect(
        &done,
        &format!("/admin/members/{demo}?done=released&module=remise"),
    );
    let html = browser
        .get(&format!(
            "/admin/members/{demo}?done=released&module=remise"
        ))
        .await
        .text();
    assert!(html.contains("ペイクイックの登録を解除しました"), "{html}");
    assert!(
        table(&html, "cards").contains("ペイクイック：登録なし"),
        "{html}"
    );
    assert!(state
        .store
        .member_card(demo, "remise")
        .await
        .unwrap()
        .is_none());

    // The next purchase asks for the card again: PayQuick on, no kept card named.
    let form_after = member_card_checkout(&state).await;
    assert_eq!(hidden(&form_after, "PAYQUICK").as_deref(), Some("1"));
    assert_eq!(hidden(&form_after, "PAYQUICKID"), None, "{form_after}");

    // Released again: refused with the reason.
    let again = browser
        .post(&release, &[("csrf", &csrf), ("confirm", "1")])
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.text().contains("ペイクイックの登録はありません"));
    let unknown = browser
        .post(
            "/admin/members/99999/cards/remise/release",
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

/// The demo member logs in on the storefront and goes to the card payment's form: its HTML.
async fn member_card_checkout(state: &AppState) -> String {
    let mut shopper = Browser::new(state);
    let login = shopper
        .post(
            "/login",
            &[
                ("email", DEMO_MEMBER.0),
                ("password", DEMO_MEMBER.1),
                ("next", "/mypage"),
            ],
        )
        .await;
    assert_redirect(&login, "/mypage");
    let mug = common::product_id(state, "有田焼 マグカップ")
        .await
        .to_string();
    shopper
        .post("/cart/add", &[("product_id", &mug), ("quantity", "1")])
        .await;
    assert_redirect(
        &shopper
            .post(
                "/checkout/customer",
                &customer_with(&[("family_name", "会員"), ("given_name", "花子")]),
            )
            .await,
        "/checkout/delivery",
    );
    let card = method_id(state, "acting_remise_card").await.to_string();
    let div = format!("opt_{card}_div");
    shopper
        .post(
            "/checkout/delivery",
            &[("payment_method", &card), (&div, "0")],
        )
        .await;
    confirm_order(&mut shopper).await.text()
}

async fn contracts_are_filtered_shown_and_stopped_once_after_a_confirmation(backend: Backend) {
    let (state, _dir) = backend.shop("console-members-contracts").await;
    let contract = subscribe(&state).await;
    let demo = demo_member_id(&state).await;
    let other = register_other(&state).await;
    let (mut browser, csrf) = console_browser(&state).await;

    let row = format!("href=\"/admin/contracts/{contract}\"");
    let html = browser.get("/admin/contracts").await.text();
    assert!(html.contains("href=\"/admin/contracts\" aria-current=\"page\">継続課金"));
    let rows = table(&html, "contracts");
    assert!(rows.contains(&row), "{rows}");
    assert!(rows.contains("毎月・10日"), "{rows}");
    assert!(rows.contains("継続中"), "{rows}");
    assert!(rows.contains("demo@example.invalid"), "{rows}");
    for (query, found) in [
        ("status=continuation".to_owned(), true),
        ("status=stopped".to_owned(), false),
        (format!("member={demo}"), true),
        (format!("member={other}"), false),
        ("member=abc".to_owned(), false),
        ("product=%E8%8C%B6%E9%81%93".to_owned(), true), // 茶道
        ("product=%E3%83%9E%E3%82%B0".to_owned(), false), // マグ
    ] {
        let html = browser
            .get(&format!("/admin/contracts?{query}"))
            .await
            .text();
        assert_eq!(table(&html, "contracts").contains(&row), found, "{query}");
    }

    let page = browser.get(&format!("/admin/contracts/{contract}")).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("<code>AC0000000077</code>"), "{html}");
    assert!(html.contains("毎月・10日"), "{html}");
    assert!(
        html.contains("3,300円") || html.contains("¥3,300"),
        "{html}"
    );
    let next = html
        .split("<dd id=\"next-charge\">")
        .nth(1)
        .and_then(|rest| rest.split("</dd>").next())
        .expect("the next charge");
    assert!(next.ends_with("10日"), "{next}");
    assert!(html.contains("data-confirm="), "{html}");

    // The first post asks; nothing is stopped yet.
    let stop = format!("/admin/contracts/{contract}/stop");
    let page = browser.post(&stop, &[("csrf", &csrf)]).await;
    assert_eq!(page.status, StatusCode::OK);
    let confirm = page.text();
    assert!(confirm.contains("id=\"confirmation\""), "{confirm}");
    assert!(
        confirm.contains("管理画面でも自動継続課金を停止してください"),
        "{confirm}"
    );
    assert_eq!(
        state
            .store
            .contract(contract)
            .await
            .unwrap()
            .unwrap()
            .status,
        "continuation"
    );

    let done = browser
        .post(&stop, &[("csrf", &csrf), ("confirm", "1")])
        .await;
    assert_redirect(&done, &format!("/admin/contracts/{contract}?done=stopped"));
    let html = browser
        .get(&format!("/admin/contracts/{contract}?done=stopped"))
        .await
        .text();
    let reminder = shophost::notices::contract_stopped(&state, "remise");
    assert!(html.contains(&reminder), "{html}");
    assert!(!html.contains("data-confirm="), "{html}");
    assert_eq!(
        state
            .store
            .contract(contract)
            .await
            .unwrap()
            .unwrap()
            .status,
        "stopped"
    );
    let html = browser.get("/admin/contracts?status=stopped").await.text();
    assert!(table(&html, "contracts").contains(&row));

    // Stopped twice: refused with the reason, at the confirmation and at the change alike.
    for form in [
        vec![("csrf", csrf.as_str())],
        vec![("csrf", csrf.as_str()), ("confirm", "1")],
    ] {
        let again = browser.post(&stop, &form).await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        assert!(again.text().contains("この継続課金はすでに停止しています"));
    }
    let unknown = browser
        .post("/admin/contracts/99999/stop", &[("csrf", &csrf)])
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(
        browser.get("/admin/contracts/99999").await.status,
        StatusCode::NOT_FOUND
    );
}

async fn forms_without_the_sessions_token_change_nothing(backend: Backend) {
    let (state, _dir) = backend.shop("console-members-csrf").await;
    let contract = subscribe(&state).await;
    let demo = demo_member_id(&state).await;
    let (mut browser, _csrf) = console_browser(&state).await;
    let wrong = "0".repeat(64);
    for path in [
        format!("/admin/members/{demo}/cards/remise/release"),
        format!("/admin/contracts/{contract}/stop"),
    ] {
        for form in [
            vec![("csrf", wrong.as_str()), ("confirm", "1")],
            vec![("confirm", "1")],
        ] {
            let page = browser.post(&path, &form).await;
            assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        }
    }
    assert!(state
        .store
        .member_card(demo, "remise")
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        state
            .store
            .contract(contract)
            .await
            .unwrap()
            .unwrap()
            .status,
        "continuation"
    );
}

async fn without_a_session_the_pages_go_to_the_sign_in_page_with_nothing_of_them(backend: Backend) {
    let (state, _dir) = backend.shop("console-members-no-session").await;
    let contract = subscribe(&state).await;
    let demo = demo_member_id(&state).await;
    let mut browser = Browser::new(&state);
    for path in [
        "/admin/members".to_owned(),
        "/admin/members?q=demo".to_owned(),
        format!("/admin/members/{demo}"),
        "/admin/contracts".to_owned(),
        format!("/admin/contracts/{contract}"),
    ] {
        let page = browser.get(&path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert!(
            page.location
                .as_deref()
                .is_some_and(|to| to.starts_with("/admin/login?next=")),
            "{path}"
        );
        assert!(
            page.bytes.is_empty(),
            "{path} leaked {} bytes",
            page.bytes.len()
        );
    }
    for path in [
        format!("/admin/members/{demo}/cards/remise/release"),
        format!("/admin/contracts/{contract}/stop"),
    ] {
        let page = browser.post(&path, &[("confirm", "1")]).await;
        assert_redirect(&page, "/admin/login?next=%2Fadmin");
        assert!(page.bytes.is_empty());
    }
    assert!(state
        .store
        .member_card(demo, "remise")
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        state
            .store
            .contract(contract)
            .await
            .unwrap()
            .unwrap()
            .status,
        "continuation"
    );
}

// Each test above runs on SQLite, and on PostgreSQL when SHOPHOST_TEST_PG_URL names a server.
on_both_backends!(
    the_list_and_its_search_find_the_demo_member_and_one_who_registered,
    a_members_card_is_shown_and_released_after_a_confirmation,
    contracts_are_filtered_shown_and_stopped_once_after_a_confirmation,
    forms_without_the_sessions_token_change_nothing,
    without_a_session_the_pages_go_to_the_sign_in_page_with_nothing_of_them,
);
