//! The console's ダッシュボード through the real router: checkouts made by the checkout API and Remise
//! notifications posted to the shop's notification URL show up in the pictures' tables; the
//! 決済エラー発生告知 stays until the 決済エラーログ is emptied; an invalid module setting shows the
//! module and the payment methods it stopped; a 要確認 return lists the URLs to check with copy
//! buttons; nothing of it shows without a session; and the days counted are shop days, from
//! midnight to midnight in shop time.

#[macro_use]
mod common;

use axum::http::StatusCode;
use common::{api, card_result, console_browser, method_id, notify, product_id, Backend, Browser};
use serde_json::{json, Value};
use shophost::domain::{local_date, local_datetime, now_millis};
use shophost::AppState;

const ACK: &str = "<SDBKDATA>STATUS=800</SDBKDATA>";

/// A card checkout for one mug through the checkout API: its link key and total.
async fn card_checkout(state: &AppState) -> (String, i64) {
    let customer: serde_json::Map<String, Value> = common::CUSTOMER
        .iter()
        .map(|(name, value)| (name.to_string(), json!(value)))
        .collect();
    let (status, answer) = api(
        state,
        "POST",
        "/api/checkout",
        Some(json!({
            "lines": [{"product_id": product_id(state, "有田焼 マグカップ").await, "quantity": 1}],
            "customer": customer,
            "payment_method_id": method_id(state, "acting_remise_card").await,
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    (
        answer["link_key"].as_str().expect("link key").to_owned(),
        answer["total"].as_i64().expect("total"),
    )
}

/// The `<tr>` of a table (by its `id`) whose header cell is `first`, its cells' texts.
fn row(html: &str, table: &str, first: &str) -> Vec<String> {
    let start = html
        .find(&format!("<table class=\"list\" id=\"{table}\">"))
        .unwrap_or_else(|| panic!("no table {table}: {html}"));
    let table_html = &html[start..start + html[start..].find("</table>").expect("table end")];
    let head = format!("<tr><th scope=\"row\">{first}</th>");
    let at = table_html
        .find(&head)
        .unwrap_or_else(|| panic!("no row {first} in {table}: {table_html}"));
    let line = &table_html[at + head.len()..];
    let line = &line[..line.find("</tr>").expect("row end")];
    line.split("</td>")
        .filter_map(|cell| cell.rsplit_once('>').map(|(_, text)| text.to_owned()))
        .collect()
}

async fn the_pictures_count_orders_payments_and_notification_outcomes(backend: Backend) {
    let (state, _dir) = backend.shop("dashboard-counts").await;
    let (first, total) = card_checkout(&state).await;
    let (second, _) = card_checkout(&state).await;
    assert_eq!(
        notify(
            &state,
            "remise_card",
            card_result(&first, "T0001", total, false)
        )
        .await,
        ACK
    );
    assert_eq!(
        notify(
            &state,
            "remise_card",
            card_result(&second, "T0002", total, false)
        )
        .await,
        ACK
    );
    // The same notification again is a duplicate, acknowledged; one for no checkout is refused.
    assert_eq!(
        notify(
            &state,
            "remise_card",
            card_result(&first, "T0001", total, false)
        )
        .await,
        ACK
    );
    // A well-formed link key no checkout has: the first one's with its last digit changed.
    let mut no_checkout = first.clone();
    let last = no_checkout.pop().unwrap();
    no_checkout.push(if last == '0' { '1' } else { '0' });
    let unknown = notify(
        &state,
        "remise_card",
        card_result(&no_checkout, "T0003", total, false),
    )
    .await;
    assert_ne!(unknown, ACK);

    let (mut browser, _) = console_browser(&state).await;
    let page = browser.get("/admin").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    // Inline SVG with a title each, and no inline style (the CSP forbids it).
    for id in [
        "orders-chart",
        "amount-chart",
        "outcomes-chart",
        "latency-chart",
    ] {
        assert!(
            html.contains(&format!("role=\"img\" aria-labelledby=\"{id}-title\"")),
            "{id}: {html}"
        );
        assert!(html.contains(&format!("<title id=\"{id}-title\">")), "{id}");
    }
    assert!(!html.contains("style="), "{html}");
    assert!(!html.contains("<style"), "{html}");

    // Today's row: two orders, two payments of one mug's checkout each.
    let today = local_date(now_millis());
    let today = format!("{:04}-{:02}-{:02}", today.year, today.month, today.day);
    let yen = shophost::http::html::yen(2 * total);
    assert_eq!(row(&html, "daily-table", &today), ["2", "2", yen.as_str()]);
    assert_eq!(row(&html, "daily-table", "合計"), ["2", "2", yen.as_str()]);
    assert!(html.contains("30日間の合計 2件。"), "{html}");
    assert!(
        html.contains(&format!("30日間の合計 {yen}（2件）")),
        "{html}"
    );
    // The card notifications, by outcome: two accepted, one duplicate, one refused for its unknown
    // link key (a checkout the shop does not know, so no settlement type).
    let card = row(&html, "outcomes-table", "ルミーズ / カード決済（ルミーズ）");
    let header_at = html
        .find("<table class=\"list\" id=\"outcomes-table\">")
        .unwrap();
    let header = &html[header_at..header_at + html[header_at..].find("</thead>").unwrap()];
    assert!(
        header.contains("<th scope=\"col\">受付（確認応答）</th><th scope=\"col\">重複（確認応答）</th><th scope=\"col\">拒否: 不明な取引</th>"),
        "{header}"
    );
    assert_eq!(card, ["2", "1", "0", "3"]);
    assert_eq!(
        row(&html, "outcomes-table", "ルミーズ / 取引不明"),
        ["0", "0", "1", "1"]
    );
    // Every one of the four was answered, and the latencies say so.
    assert!(html.contains("応答 4件、中央値（p50） "), "{html}");
    let table = &html[html.find("id=\"latency-table\"").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    let counts: Vec<i64> = table
        .split("<td data-label=\"件数\">")
        .skip(1)
        .map(|cell| cell[..cell.find('<').unwrap()].parse().unwrap())
        .collect();
    assert_eq!(counts.len(), shophost::db::LATENCY_BOUNDS_MS.len() + 1);
    let answered: i64 = counts.iter().sum();
    assert_eq!(answered, 4);

    // The four are the journal's entries.
    let journal = state.store.journal(None, 10).await.unwrap();
    assert_eq!(journal.len(), 4);
}

async fn a_settlement_error_is_announced_with_its_time_until_the_log_is_emptied(backend: Backend) {
    let (state, _dir) = backend.shop("dashboard-settlement-error").await;
    let (link_key, total) = card_checkout(&state).await;
    assert_eq!(
        notify(
            &state,
            "remise_card",
            card_result(&link_key, "T0009", total, true)
        )
        .await,
        ACK
    );
    let errors = state.store.settlement_errors(10).await.unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let (mut browser, _) = console_browser(&state).await;
    let html = browser.get("/admin").await.text();
    let announced = format!(
        "決済エラーが発生しました。決済エラーログを確認してください。発生日時: [ {} ]",
        local_datetime(errors[0].at)
    );
    assert!(
        html.contains(&format!(
            "<li class=\"notice notice-settlement_errors\">{announced}"
        )),
        "{html}"
    );
    let (_, notices) = api(&state, "GET", "/admin/api/notices", None).await;
    assert_eq!(notices["notices"][0]["message"], announced.as_str());

    let (status, _) = api(
        &state,
        "DELETE",
        &format!("/admin/api/settlement-errors/{}", errors[0].id),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let html = browser.get("/admin").await.text();
    assert!(!html.contains("決済エラーが発生しました"), "{html}");
    assert!(
        html.contains("確認が必要なお知らせはありません。"),
        "{html}"
    );
}

async fn an_invalid_setting_shows_the_module_and_the_methods_it_stopped(backend: Backend) {
    let (state, _dir) = backend.shop("dashboard-invalid-module").await;
    let (status, report) = api(
        &state,
        "PATCH",
        "/admin/api/modules/remise/settings",
        Some(json!({ "HOSTID": "not-digits" })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{report}");
    let stopped: Vec<String> = report["stopped_methods"]
        .as_array()
        .expect("stopped methods")
        .iter()
        .map(|name| name.as_str().unwrap().to_owned())
        .collect();
    assert!(!stopped.is_empty(), "{report}");

    let (mut browser, _) = console_browser(&state).await;
    let html = browser.get("/admin").await.text();
    let module_notice = html
        .split("<li class=\"notice notice-invalid_module_settings\">")
        .nth(1)
        .unwrap_or_else(|| panic!("no module notice: {html}"));
    let module_notice = &module_notice[..module_notice.find("</li>").unwrap()];
    assert!(
        module_notice.starts_with("ルミーズの設定に不備があるため"),
        "{module_notice}"
    );
    assert!(module_notice.contains("HOSTID: "), "{module_notice}");
    assert!(module_notice.contains("<a href=\"/admin/modules/remise\">確認する</a>"));
    let methods_notice = html
        .split("<li class=\"notice notice-methods_stopped\">")
        .nth(1)
        .unwrap_or_else(|| panic!("no methods notice: {html}"));
    let methods_notice = &methods_notice[..methods_notice.find("</li>").unwrap()];
    assert!(
        methods_notice.contains(&format!(
            "支払方法の{}を「停止」しています",
            stopped.join("、")
        )),
        "{methods_notice}"
    );
    assert!(methods_notice.contains("<a href=\"/admin/methods\">確認する</a>"));

    // The admin API's notices are the same ones.
    let (_, notices) = api(&state, "GET", "/admin/api/notices", None).await;
    let kinds: Vec<&str> = notices["notices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["invalid_module_settings", "methods_stopped"]);
    assert_eq!(notices["notices"][0]["page"], "/admin/modules/remise");
    assert_eq!(notices["notices"][1]["page"], "/admin/methods");
}

async fn a_return_without_notification_lists_the_urls_to_check_with_copy_buttons(backend: Backend) {
    let (state, _dir) = backend.shop("dashboard-unconfirmed").await;
    let (link_key, _) = card_checkout(&state).await;
    let now = now_millis();
    state
        .store
        .mark_returned(&link_key, now - 3_600_000)
        .await
        .unwrap();
    let report = shophost::jobs::run_once(&state, now).await.unwrap();
    assert_eq!(report.flagged, [link_key]);

    let (mut browser, _) = console_browser(&state).await;
    let html = browser.get("/admin").await.text();
    let urls = shophost::notices::notification_urls(&state.engine, &state.config.public_url);
    assert_eq!(urls.len(), 2, "card and convenience-store URLs: {urls:?}");
    for url in &urls {
        assert!(
            html.contains(&format!(
                "{}の{}・{}: <code class=\"url\">{}</code><button type=\"button\" class=\"copy\" data-copy=\"{}\">コピー</button>",
                url.module, url.registered_at, url.setting_name, url.url, url.url
            )),
            "{url:?}: {html}"
        );
    }
    assert!(
        urls[0].url.ends_with("/index.php?acting=remise_card"),
        "{urls:?}"
    );
    let (_, notices) = api(&state, "GET", "/admin/api/notices", None).await;
    assert_eq!(notices["notices"][0]["kind"], "unconfirmed_returns");
    assert_eq!(
        notices["notices"][0]["urls"][0]["url"],
        urls[0].url.as_str()
    );
}

async fn without_a_session_the_dashboard_redirects_to_sign_in(backend: Backend) {
    let (state, _dir) = backend.shop("dashboard-no-session").await;
    let page = Browser::new(&state).get("/admin").await;
    common::assert_redirect(&page, "/admin/login?next=%2Fadmin");
    assert!(page.bytes.is_empty());
}

async fn the_days_are_shop_days_from_midnight_to_midnight(backend: Backend) {
    let (state, db) = backend.shop("dashboard-shop-days").await;
    // 2024-04-01 00:00 in shop time (2024-03-31 15:00 UTC): day 19814 since 1970-01-01.
    const APRIL_1: i64 = 1_711_897_200_000;
    const DAY: i64 = 86_400_000;
    let times = [
        APRIL_1 - DAY,
        APRIL_1 - 1,
        APRIL_1,
        APRIL_1 + DAY - 1,
        APRIL_1 + DAY,
    ];
    for (i, at) in times.iter().enumerate() {
        let customer = shophost::domain::CustomerDetails {
            email: format!("day{i}@example.jp"),
            family_name: "山田".to_owned(),
            given_name: "花子".to_owned(),
            ..Default::default()
        };
        let order = common::recovered_order(&state, &format!("2{i:08}"), customer, true).await;
        db.sql(&format!(
            "UPDATE orders SET created_at = {at} WHERE id = {}",
            order.id
        ))
        .await;
    }
    let days: Vec<(i64, i64)> = state
        .store
        .daily_totals(APRIL_1 - 1)
        .await
        .expect("totals")
        .iter()
        .map(|d| (d.day, d.orders))
        .collect();
    // From the last millisecond of 03-31 on: 1 that day, 2 on 04-01, 1 on 04-02.
    assert_eq!(days, [(19813, 1), (19814, 2), (19815, 1)]);
}

// Each test above runs on SQLite, and on PostgreSQL when SHOPHOST_TEST_PG_URL names a server.
on_both_backends!(
    the_days_are_shop_days_from_midnight_to_midnight,
    the_pictures_count_orders_payments_and_notification_outcomes,
    a_settlement_error_is_announced_with_its_time_until_the_log_is_emptied,
    an_invalid_setting_shows_the_module_and_the_methods_it_stopped,
    a_return_without_notification_lists_the_urls_to_check_with_copy_buttons,
    without_a_session_the_dashboard_redirects_to_sign_in,
);
