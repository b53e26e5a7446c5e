//! The console's 受注リスト, an order's page and the 受注リスト出力 through the real router: filters
//! and search find the right orders, keyset pages walk every order exactly once either way, the page
//! shows the history and the journal of a real notification, clearing 要確認 needs a note and records
//! it, a status set by hand refuses what is not possible and records its note (console and admin API
//! alike), the CSV comes in UTF-8 and CP932, and nothing goes without the form token or a session.

#[macro_use]
mod common;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::{
    card_result, console_browser, notify_from, send, Backend, Browser, ADMIN_TOKEN, SANDBOX,
};
use serde_json::{json, Value};
use shophost::domain::{CustomerDetails, PaymentStatus};
use shophost::AppState;

/// Orders made straight in the store (an attempt, then its order by the operator's recovery): fast
/// enough for a few hundred. Order `i`: 佐藤 when `i % 3 == 0`, else 山田; e-mail `user{i}@example.jp`;
/// card when even (captured), コンビニ when odd (unpaid).
async fn seed(state: &AppState, count: usize) -> Vec<String> {
    seed_range(state, 0..count).await
}

/// [`seed`]'s orders numbered `range`.
async fn seed_range(state: &AppState, range: std::ops::Range<usize>) -> Vec<String> {
    let mut numbers = Vec::new();
    for i in range {
        let customer = CustomerDetails {
            email: format!("User{i}@Example.jp"),
            family_name: if i % 3 == 0 { "佐藤" } else { "山田" }.to_owned(),
            given_name: format!("花子{i}"),
            phone: "03-1234-5678".to_owned(),
            ..Default::default()
        };
        let order = common::recovered_order(state, &format!("9{i:08}"), customer, i % 2 == 0).await;
        numbers.push(order.order_number);
    }
    numbers
}

async fn filters_and_search_find_the_right_orders(backend: Backend) {
    let (state, db) = backend.shop("orders-filters").await;
    let numbers = seed(&state, 12).await;
    db.sql(&format!(
        "UPDATE orders SET attention = '通知が届いていません' WHERE order_number = '{}'",
        numbers[4]
    ))
    .await;
    // Order 0 was made on 2024-04-01 shop time (10:00 +09:00).
    db.sql(&format!(
        "UPDATE orders SET created_at = 1711933200000 WHERE order_number = '{}'",
        numbers[0]
    ))
    .await;
    let (mut browser, _) = console_browser(&state).await;
    let set = |uri: &str| uri.to_owned();
    let mut check = async |uri: String, expect: Vec<&String>| {
        let page = browser.get(&uri).await;
        assert_eq!(page.status, StatusCode::OK, "{uri}");
        let found: BTreeSet<String> = common::listed_orders(&page.text()).into_iter().collect();
        let expect: BTreeSet<String> = expect.into_iter().cloned().collect();
        assert_eq!(found, expect, "{uri}");
    };
    let odd: Vec<&String> = numbers.iter().skip(1).step_by(2).collect();
    check(set("/admin/orders?status=unpaid"), odd.clone()).await;
    check(set("/admin/orders?type=acting_remise_conv"), odd).await;
    check(set("/admin/orders?attention=true"), vec![&numbers[4]]).await;
    check(
        set("/admin/orders?from=2024-04-01&until=2024-04-01"),
        vec![&numbers[0]],
    )
    .await;
    check(set("/admin/orders?q=900000007"), vec![&numbers[7]]).await;
    check(format!("/admin/orders?q={}", numbers[5]), vec![&numbers[5]]).await;
    // E-mail by prefix in any case; the name from the family name, spaces left out.
    check(set("/admin/orders?q=user11%40"), vec![&numbers[11]]).await;
    let sato: Vec<&String> = numbers.iter().step_by(3).collect();
    check(set("/admin/orders?q=%E4%BD%90%E8%97%A4"), sato).await; // 佐藤
    check(
        set("/admin/orders?q=%E5%B1%B1%E7%94%B0%20%E8%8A%B1%E5%AD%9010"), // 山田 花子10
        vec![&numbers[10]],
    )
    .await;
    check(
        set("/admin/orders?status=captured&q=%E4%BD%90%E8%97%A4"),
        vec![&numbers[0], &numbers[6]],
    )
    .await;
    let wrong = browser.get("/admin/orders?from=4%2F1").await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(wrong.text().contains("YYYY-MM-DD"));
    // The dashboard's notice leads here.
    let dashboard = browser.get("/admin").await.text();
    assert!(
        dashboard.contains("href=\"/admin/orders?attention=true\""),
        "{dashboard}"
    );
}

async fn pages_walk_every_order_exactly_once_both_ways(backend: Backend) {
    let (state, db) = backend.shop("orders-pages").await;
    let numbers = seed(&state, 123).await;
    // Ties on created_at are settled by id.
    db.sql("UPDATE orders SET created_at = 1711933200000 WHERE id % 4 = 0")
        .await;
    let (mut browser, _) = console_browser(&state).await;
    let mut pages = Vec::new();
    let mut uri = "/admin/orders".to_owned();
    loop {
        let html = browser.get(&uri).await.text();
        pages.push(common::listed_orders(&html));
        match common::pager(&html, "next") {
            Some(next) => uri = next,
            None => break,
        }
    }
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [50, 50, 23]);
    let forward: Vec<String> = pages.concat();
    let distinct: BTreeSet<&String> = forward.iter().collect();
    assert_eq!(distinct.len(), numbers.len());
    // And back from the last page: the same pages, newest first within each.
    let mut back = vec![pages.last().cloned().expect("a page")];
    loop {
        let html = browser.get(&uri).await.text();
        match common::pager(&html, "prev") {
            Some(previous) => {
                uri = previous;
                back.push(common::listed_orders(&browser.get(&uri).await.text()));
            }
            None => break,
        }
    }
    back.reverse();
    assert_eq!(back, pages);
    assert!(common::pager(&browser.get(&uri).await.text(), "prev").is_none());
}

/// A JSON request to the admin API: status and body.
async fn api(state: &AppState, uri: &str, body: Value) -> (StatusCode, Value) {
    let request = Request::builder()
        .method("POST")
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
        .body(Body::from(body.to_string()))
        .expect("request");
    let page = send(&shophost::http::router(state.clone()), request).await;
    (
        page.status,
        serde_json::from_slice(&page.bytes).unwrap_or(Value::Null),
    )
}

async fn the_order_page_shows_history_and_journal_and_records_the_operators_changes(
    backend: Backend,
) {
    let (state, _dir) = backend.shop("orders-detail").await;
    // A card order recovered by hand, then the card notification of its link key.
    let numbers = seed(&state, 1).await;
    let attempt_key = "900000000";
    let order = shophost::orders::order(&state, &numbers[0])
        .await
        .expect("order");
    assert_eq!(order.link_key, attempt_key);
    // Remise's notification for the recovered order confirms it; a second payment on the same link key
    // (another transaction) is journaled and flags the order 要確認.
    for transaction in ["T0001", "T0002"] {
        let body = card_result(attempt_key, transaction, order.total, false);
        let answer = notify_from(&state, "remise_card", body, SANDBOX).await;
        assert_eq!(answer.status, StatusCode::OK);
    }

    let (mut browser, csrf) = console_browser(&state).await;
    let path = format!("/admin/orders/{}", numbers[0]);
    let html = browser.get(&path).await.text();
    for text in [
        "入金状況の履歴",
        "テスト",
        "売上",
        "900000000",
        "有田焼 マグカップ",
        "消費税",
        "カード決済",
        "remise_card",
    ] {
        assert!(html.contains(text), "{text}: {html}");
    }
    // The notification names another transaction than the recovered order's: 要確認, with its reason.
    assert!(
        html.contains("同じリンクキーで別の決済（取引ID T0002）"),
        "{html}"
    );
    assert!(html.contains("要確認を解除する"));
    assert!(
        html.contains("<td data-label=\"判定\">accepted</td>"),
        "{html}"
    );
    let clear = format!("{path}/clear-attention");
    let refused = browser
        .post(&clear, &[("csrf", &csrf), ("note", " ")])
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text().contains("メモを入力してください"));
    let done = browser
        .post(
            &clear,
            &[("csrf", &csrf), ("note", "バックヤードで売上を確認")],
        )
        .await;
    common::assert_redirect(&done, &format!("{path}?done=cleared"));
    let html = browser.get(&format!("{path}?done=cleared")).await.text();
    assert!(html.contains("要確認を解除しました"));
    assert!(
        html.contains("要確認を解除（tester）: バックヤードで売上を確認"),
        "{html}"
    );
    let again = browser
        .post(&clear, &[("csrf", &csrf), ("note", "もう一度")])
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);

    // A status by hand: 売上 → 返品 is possible, then nothing more.
    let status = format!("{path}/status");
    let no_note = browser
        .post(
            &status,
            &[("csrf", &csrf), ("status", "returned"), ("note", "")],
        )
        .await;
    assert_eq!(no_note.status, StatusCode::UNPROCESSABLE_ENTITY);
    let impossible = browser
        .post(
            &status,
            &[("csrf", &csrf), ("status", "paid"), ("note", "入金")],
        )
        .await;
    assert_eq!(impossible.status, StatusCode::CONFLICT);
    assert!(impossible
        .text()
        .contains("「売上」の注文を「入金済み」にはできません"));
    let returned = browser
        .post(
            &status,
            &[
                ("csrf", &csrf),
                ("status", "returned"),
                ("note", "加盟店バックヤードで返品"),
            ],
        )
        .await;
    common::assert_redirect(&returned, &format!("{path}?done=status"));
    let html = browser.get(&path).await.text();
    assert!(
        html.contains("手動で返品に変更（tester）: 加盟店バックヤードで返品"),
        "{html}"
    );
    assert!(html.contains("入金状況「返品」の注文は変更できません"));
    let after = browser
        .post(
            &status,
            &[("csrf", &csrf), ("status", "cancelled"), ("note", "取消")],
        )
        .await;
    assert_eq!(after.status, StatusCode::CONFLICT);

    // The admin API does the same, on the same functions.
    let more = seed_range(&state, 1..2).await.remove(0);
    let uri = format!("/admin/api/orders/{more}/status");
    let (code, _) = api(&state, &uri, json!({"status": "returned", "note": "x"})).await;
    assert_eq!(code, StatusCode::CONFLICT, "未入金 cannot be 返品");
    let (code, body) = api(&state, &uri, json!({"status": "cancelled"})).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (code, body) = api(&state, &uri, json!({"status": "cancelled", "note": "取消"})).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["order"]["payment_status"], "cancelled");
    let uri = format!("/admin/api/orders/{more}/clear-attention");
    let (code, _) = api(&state, &uri, json!({"note": "確認"})).await;
    assert_eq!(code, StatusCode::CONFLICT, "not flagged");
    let missing = browser.get("/admin/orders/NO-SUCH").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

async fn the_csv_comes_in_both_charsets_one_row_per_order(backend: Backend) {
    let (state, _dir) = backend.shop("orders-csv").await;
    let numbers = seed(&state, 7).await;
    let (mut browser, _) = console_browser(&state).await;
    let utf8 = browser.get("/admin/orders.csv?charset=utf8").await;
    assert_eq!(utf8.status, StatusCode::OK);
    assert!(utf8.content_type.starts_with("text/csv; charset=utf-8"));
    assert!(utf8.bytes.starts_with(b"\xEF\xBB\xBF"));
    let text = String::from_utf8(utf8.bytes[3..].to_vec()).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with(
        "注文番号,注文日時,入金状況,決済種別,支払方法,合計金額,お名前,メールアドレス"
    ));
    assert!(lines[0].contains("リンクキー"));
    assert_eq!(lines.len(), 1 + numbers.len());
    for number in &numbers {
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.starts_with(number.as_str()))
                .count(),
            1
        );
    }

    let sjis = browser
        .get("/admin/orders.csv?charset=sjis&status=unpaid")
        .await;
    assert_eq!(sjis.status, StatusCode::OK);
    assert!(sjis.content_type.contains("Shift_JIS"));
    let (text, _, errors) = encoding_rs::SHIFT_JIS.decode(&sjis.bytes);
    assert!(!errors);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("注文番号,注文日時,入金状況"));
    assert_eq!(lines.len(), 1 + 3, "{text}");
    assert!(
        lines[1].contains(",未入金,コンビニ決済（ルミーズ）,コンビニ決済,1100,山田 花子5,"),
        "{text}"
    );
    let disposition = browser.get("/admin/orders.csv").await;
    assert_eq!(disposition.status, StatusCode::OK);
    let wrong = browser.get("/admin/orders.csv?charset=latin1").await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
}

async fn nothing_without_a_session_or_the_form_token(backend: Backend) {
    let (state, _dir) = backend.shop("orders-guard").await;
    let numbers = seed(&state, 1).await;
    let path = format!("/admin/orders/{}", numbers[0]);
    let mut stranger = Browser::new(&state);
    for uri in ["/admin/orders", "/admin/orders.csv", &path] {
        let page = stranger.get(uri).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{uri}");
        assert!(page
            .location
            .as_deref()
            .unwrap_or_default()
            .starts_with("/admin/login"));
        assert!(page.bytes.is_empty());
    }
    let post = stranger
        .post(
            &format!("{path}/status"),
            &[("status", "cancelled"), ("note", "x")],
        )
        .await;
    assert_eq!(post.status, StatusCode::SEE_OTHER);
    assert!(post.bytes.is_empty());

    let (mut browser, _) = console_browser(&state).await;
    for action in ["status", "clear-attention"] {
        let page = browser
            .post(
                &format!("{path}/{action}"),
                &[("csrf", "wrong"), ("status", "cancelled"), ("note", "x")],
            )
            .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{action}");
    }
    let order = shophost::orders::order(&state, &numbers[0])
        .await
        .expect("order");
    assert_eq!(order.payment_status, PaymentStatus::Captured);
    let history = state.store.order_history(order.id).await.expect("history");
    assert_eq!(history.len(), 1);
}

// Each test above runs on SQLite, and on PostgreSQL when SHOPHOST_TEST_PG_URL names a server.
on_both_backends!(
    filters_and_search_find_the_right_orders,
    pages_walk_every_order_exactly_once_both_ways,
    the_order_page_shows_history_and_journal_and_records_the_operators_changes,
    the_csv_comes_in_both_charsets_one_row_per_order,
    nothing_without_a_session_or_the_form_token,
);
