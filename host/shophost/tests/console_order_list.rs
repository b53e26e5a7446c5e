//! The 受注リスト's queries on SQLite and on PostgreSQL, each checked against what it should find,
//! worked out here in plain Rust from every order: keyset pages across page boundaries inside runs of
//! equal `created_at`, walked both ways under every filter alone and with the search; the search by
//! name or e-mail prefix (a prefix many names share; `%` and `_` taken literally), or exactly by order
//! number or link key; and the days typed in the list read as shop days (+09:00), through the page.

#[macro_use]
mod common;

use axum::http::StatusCode;
use common::{console_browser, recovered_order, Backend};
use serde_json::{json, Value};
use shophost::db::{OrderListFilter, PageCursor};
use shophost::domain::{CustomerDetails, Order};
use shophost::AppState;

/// 2024-04-01 10:00 in shop time (01:00 UTC), in Unix ms.
const APRIL_1_10AM: i64 = 1_711_933_200_000;
/// 2024-04-01 00:00 in shop time (2024-03-31 15:00 UTC).
const APRIL_1: i64 = 1_711_897_200_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

// -- 受注リスト ------------------------------------------------------------------------------------

/// Order `i`'s customer: 佐藤 (`i % 3 == 0`), 佐々木 (1) or 山田 (2), given name 花子`i`; an e-mail
/// `user{i}@example.jp` in mixed case, except a few whose addresses hold `_`, `%` and capitals.
fn order_customer(i: usize) -> CustomerDetails {
    let email = match i {
        5 => "a_b@example.jp".to_owned(),
        6 => "axb@example.jp".to_owned(),
        7 => "100%@example.jp".to_owned(),
        8 => "1000@example.jp".to_owned(),
        9 => "AXB2@Example.JP".to_owned(),
        10 => "Ärger@Example.jp".to_owned(),
        _ => format!("User{i}@Example.jp"),
    };
    CustomerDetails {
        email,
        family_name: ["佐藤", "佐々木", "山田"][i % 3].to_owned(),
        given_name: format!("花子{i}"),
        phone: "03-1234-5678".to_owned(),
        ..Default::default()
    }
}

/// 45 orders (card when `i` is even) whose `created_at` come in runs of equal instants that do not
/// follow the ids: 9 instants 6 hours apart from 2024-04-01 10:00 shop time, about 5 orders each;
/// every fourth flagged 要確認. Returns them as the store reads them back, by `i`.
async fn seed_orders(state: &AppState, db: &common::Scratch) -> Vec<Order> {
    let mut made = Vec::new();
    for i in 0..45 {
        let order =
            recovered_order(state, &format!("8{i:08}"), order_customer(i), i % 2 == 0).await;
        made.push(order);
    }
    db.sql(&format!(
        "UPDATE orders SET created_at = {APRIL_1_10AM} + ((id * 7) % 9) * {}",
        6 * HOUR
    ))
    .await;
    db.sql("UPDATE orders SET attention = '通知が届いていません' WHERE id % 4 = 1")
        .await;
    let all = state
        .store
        .order_page(&OrderListFilter::default(), None, 1000)
        .await
        .expect("orders");
    assert_eq!(all.len(), made.len());
    made.iter()
        .map(|m| {
            all.iter()
                .find(|o| o.id == m.id)
                .cloned()
                .expect("every order read back")
        })
        .collect()
}

/// Whether the list's search `q` finds `order`: its number or link key exactly, or the start of its
/// 姓名 (spaces left out) or e-mail (any case).
fn search_finds(q: &str, order: &Order) -> bool {
    let name = format!(
        "{}{}",
        order.customer.family_name, order.customer.given_name
    );
    let prefix: String = q.chars().filter(|c| !c.is_whitespace()).collect();
    order.order_number == q
        || order.link_key == q
        || name.starts_with(&prefix)
        || order
            .customer
            .email
            .to_lowercase()
            .starts_with(&q.to_lowercase())
}

/// The orders `filter` should list, newest first (ties by id, highest first).
fn expected(orders: &[Order], filter: &OrderListFilter) -> Vec<i64> {
    let mut found: Vec<&Order> = orders
        .iter()
        .filter(|o| filter.status.is_none_or(|s| o.payment_status == s))
        .filter(|o| {
            filter
                .settlement_type
                .as_ref()
                .is_none_or(|t| &o.settlement_type == t)
        })
        .filter(|o| filter.created_from.is_none_or(|from| o.created_at >= from))
        .filter(|o| {
            filter
                .created_until
                .is_none_or(|until| o.created_at < until)
        })
        .filter(|o| !filter.attention || o.attention.is_some())
        .filter(|o| filter.search.as_ref().is_none_or(|q| search_finds(q, o)))
        .collect();
    found.sort_by_key(|o| std::cmp::Reverse((o.created_at, o.id)));
    found.iter().map(|o| o.id).collect()
}

/// The ids of `filter`'s pages of `size`, walked forward (older) from the first page to the last and
/// then back (newer) from the last to the first; asserts that both walks give the same pages.
async fn walk(state: &AppState, filter: &OrderListFilter, size: i64) -> Vec<Vec<i64>> {
    let ids = |orders: &[Order]| orders.iter().map(|o| o.id).collect::<Vec<_>>();
    let mut pages = Vec::new();
    let mut page = shophost::orders::page(state, filter, None, size)
        .await
        .expect("first page");
    assert!(!page.has_newer, "{filter:?}");
    loop {
        pages.push(ids(&page.orders));
        if !page.has_older {
            break;
        }
        let last = page.orders.last().expect("a page before an older one");
        let cursor = PageCursor::Older(last.created_at, last.id);
        page = shophost::orders::page(state, filter, Some(cursor), size)
            .await
            .expect("next page");
        assert!(!page.orders.is_empty(), "{filter:?}: an empty page follows");
    }
    let mut back = vec![ids(&page.orders)];
    while let Some(first) = page.orders.first().filter(|_| back.len() < pages.len()) {
        let cursor = PageCursor::Newer(first.created_at, first.id);
        page = shophost::orders::page(state, filter, Some(cursor), size)
            .await
            .expect("previous page");
        back.push(ids(&page.orders));
    }
    assert!(!page.has_newer, "{filter:?}: the first page again");
    back.reverse();
    assert_eq!(back, pages, "{filter:?}: back and forth");
    pages
}

/// A filter as the list reads it from its query string (dates as shop days).
fn list_filter(query: &str) -> OrderListFilter {
    let parsed: shophost::orders::ListQuery =
        serde_json::from_value(serde_json::to_value(query_pairs(query)).unwrap()).unwrap();
    parsed.filter().expect("a valid filter")
}

/// `a=1&b=2` as a JSON object of strings.
fn query_pairs(query: &str) -> serde_json::Map<String, Value> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (name.to_owned(), json!(value))
        })
        .collect()
}

async fn order_pages_cross_runs_of_equal_times_both_ways_under_every_filter_and_search(
    backend: Backend,
) {
    let (state, db) = backend.shop("lists-order-pages").await;
    let orders = seed_orders(&state, &db).await;
    let filters = [
        "",
        "status=unpaid",
        "status=captured",
        "type=acting_remise_card",
        "attention=true",
        "from=2024-04-02&until=2024-04-02",
        "from=2024-04-02",
        "until=2024-04-01",
        "q=佐藤",
        "q=佐",
        "q=user1",
        "status=captured&q=佐",
        "status=unpaid&q=佐々木",
        "type=acting_remise_conv&q=佐",
        "attention=true&q=佐",
        "from=2024-04-02&until=2024-04-02&q=佐",
        "status=captured&type=acting_remise_card&attention=true&from=2024-04-01&until=2024-04-02&q=佐",
    ];
    for query in filters {
        let filter = list_filter(query);
        let want = expected(&orders, &filter);
        assert!(want.len() >= 2, "{query}: the data should give it pages");
        for size in [4, 7] {
            let pages = walk(&state, &filter, size).await;
            assert!(
                pages.iter().all(|p| p.len() as i64 <= size),
                "{query}: {pages:?}"
            );
            assert_eq!(pages.concat(), want, "{query}, pages of {size}");
        }
    }
    // The unfiltered walk crossed page boundaries inside runs of equal times.
    let pages = walk(&state, &OrderListFilter::default(), 7).await;
    let at = |id: i64| orders.iter().find(|o| o.id == id).unwrap().created_at;
    let ties = pages
        .windows(2)
        .filter(|w| at(*w[0].last().unwrap()) == at(w[1][0]))
        .count();
    assert!(ties >= 2, "{pages:?}");
    // A search matching nothing, and a filter matching nothing, list nothing.
    for query in [
        "q=鈴木",
        "status=paid",
        "q=zz",
        "status=captured&q=山田花子1",
    ] {
        let filter = list_filter(query);
        let page = shophost::orders::page(&state, &filter, None, 7)
            .await
            .unwrap();
        assert_eq!(
            page.orders.iter().map(|o| o.id).collect::<Vec<_>>(),
            expected(&orders, &filter),
            "{query}"
        );
    }
}

async fn the_search_matches_name_and_e_mail_prefixes_and_takes_wildcards_literally(
    backend: Backend,
) {
    let (state, db) = backend.shop("lists-order-search").await;
    let orders = seed_orders(&state, &db).await;
    let number = |i: usize| orders[i].id;
    let found = async |q: &str| {
        let filter = OrderListFilter {
            search: Some(q.to_owned()),
            ..Default::default()
        };
        let mut ids: Vec<i64> = state
            .store
            .order_page(&filter, None, 1000)
            .await
            .expect("search")
            .iter()
            .map(|o| o.id)
            .collect();
        ids.sort();
        ids
    };
    let sorted = |mut ids: Vec<i64>| {
        ids.sort();
        ids
    };
    // `_` and `%` are characters like any other.
    assert_eq!(found("a_b").await, vec![number(5)]);
    assert_eq!(found("A_B@").await, vec![number(5)]);
    assert_eq!(found("100%").await, vec![number(7)]);
    assert_eq!(found("100").await, sorted(vec![number(7), number(8)]));
    assert_eq!(found("%").await, Vec::<i64>::new());
    assert_eq!(found("_").await, Vec::<i64>::new());
    assert_eq!(found("%@example.jp").await, Vec::<i64>::new());
    // E-mail in any case; a prefix, not a part.
    assert_eq!(found("axb").await, sorted(vec![number(6), number(9)]));
    assert_eq!(found("AXB2@EXAMPLE.JP").await, vec![number(9)]);
    assert_eq!(found("example.jp").await, Vec::<i64>::new());
    // A capital beyond ASCII, typed as it is: each database folds the text as it folded the column.
    assert_eq!(found("Ärger@Example.jp").await, vec![number(10)]);
    assert_eq!(found("Ärger@EXAMPLE").await, vec![number(10)]);
    // A prefix many names share, the family name alone, the name with a space.
    let sato: Vec<i64> = (0..45).step_by(3).map(number).collect();
    let sasaki: Vec<i64> = (1..45).step_by(3).map(number).collect();
    assert_eq!(found("佐藤").await, sato);
    assert_eq!(found("佐").await, sorted([sato.clone(), sasaki].concat()));
    assert_eq!(
        found("佐藤 花子3").await,
        vec![number(3), number(30), number(33), number(36), number(39)]
    );
    assert_eq!(found("藤").await, Vec::<i64>::new());
    // Exactly the order number or the link key, not a prefix of them.
    assert_eq!(found(&orders[12].order_number).await, vec![number(12)]);
    assert_eq!(found("800000012").await, vec![number(12)]);
    assert_eq!(found("80000001").await, Vec::<i64>::new());
    for q in ["a_b", "佐", "axb", "100%", "user4"] {
        let filter = OrderListFilter {
            search: Some(q.to_owned()),
            ..Default::default()
        };
        assert_eq!(sorted(expected(&orders, &filter)), found(q).await, "{q}");
    }
}

async fn the_order_list_reads_its_days_in_shop_time(backend: Backend) {
    let (state, db) = backend.shop("lists-order-days").await;
    // Around the start of 2024-04-01 shop time and its end.
    let times = [APRIL_1 - 1, APRIL_1, APRIL_1 + DAY - 1, APRIL_1 + DAY];
    let mut numbers = Vec::new();
    for (i, at) in times.iter().enumerate() {
        let order = recovered_order(&state, &format!("7{i:08}"), order_customer(i), true).await;
        db.sql(&format!(
            "UPDATE orders SET created_at = {at} WHERE id = {}",
            order.id
        ))
        .await;
        numbers.push(order.order_number);
    }
    let (mut browser, _) = console_browser(&state).await;
    let listed = async |browser: &mut common::Browser, query: &str| {
        let page = browser.get(&format!("/admin/orders?{query}")).await;
        assert_eq!(page.status, StatusCode::OK, "{query}");
        let html = page.text();
        numbers
            .iter()
            .filter(|n| html.contains(&format!("<code>{n}</code>")))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        listed(&mut browser, "from=2024-04-01&until=2024-04-01").await,
        numbers[1..3]
    );
    assert_eq!(listed(&mut browser, "until=2024-03-31").await, numbers[..1]);
    assert_eq!(listed(&mut browser, "from=2024-04-02").await, numbers[3..]);
}

async fn the_lists_pager_keeps_the_filters_and_the_search_both_ways(backend: Backend) {
    let (state, db) = backend.shop("lists-order-pager").await;
    let mut orders = Vec::new();
    for i in 0..160 {
        orders.push(
            recovered_order(&state, &format!("3{i:08}"), order_customer(i), i % 2 == 0).await,
        );
    }
    // Runs of equal times again, so the 50-order pages end inside them.
    db.sql(&format!(
        "UPDATE orders SET created_at = {APRIL_1_10AM} + (id % 7) * {HOUR}"
    ))
    .await;
    let orders = state
        .store
        .order_page(&OrderListFilter::default(), None, 1000)
        .await
        .expect("orders");
    let (mut browser, _) = console_browser(&state).await;
    // 佐 (佐藤 and 佐々木): 107 orders; コンビニ among them: 53.
    for (query, pages) in [
        ("q=%E4%BD%90", 3),
        ("type=acting_remise_conv&q=%E4%BD%90", 2),
    ] {
        let typed = query.replace("%E4%BD%90", "佐");
        let want: Vec<String> = expected(&orders, &list_filter(&typed))
            .iter()
            .map(|id| {
                orders
                    .iter()
                    .find(|o| o.id == *id)
                    .unwrap()
                    .order_number
                    .clone()
            })
            .collect();
        let mut forward = Vec::new();
        let mut uri = format!("/admin/orders?{query}");
        loop {
            let html = browser.get(&uri).await.text();
            forward.push(common::listed_orders(&html));
            match common::pager(&html, "next") {
                Some(next) => uri = next,
                None => break,
            }
        }
        assert_eq!(forward.len(), pages, "{query}");
        assert_eq!(forward.concat(), want, "{query}");
        let mut back = vec![forward.last().cloned().unwrap()];
        while let Some(previous) = common::pager(&browser.get(&uri).await.text(), "prev") {
            uri = previous;
            back.push(common::listed_orders(&browser.get(&uri).await.text()));
        }
        back.reverse();
        assert_eq!(back, forward, "{query}: back");
    }
}

// Each test above runs on SQLite, and on PostgreSQL when SHOPHOST_TEST_PG_URL names a server.
on_both_backends!(
    the_lists_pager_keeps_the_filters_and_the_search_both_ways,
    order_pages_cross_runs_of_equal_times_both_ways_under_every_filter_and_search,
    the_search_matches_name_and_e_mail_prefixes_and_takes_wildcards_literally,
    the_order_list_reads_its_days_in_shop_time,
);
