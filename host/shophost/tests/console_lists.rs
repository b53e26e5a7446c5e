//! The console's other list queries on SQLite and on PostgreSQL, each checked against what it should
//! find, worked out here in plain Rust from every row: the 会員 search (parts of e-mail and names, any
//! case, wildcards literal) and its pages; the notification journal's filters alone and together and
//! its pages; the 決済直前ログ by shop day (+09:00), name and link key, through the page; and the
//! 継続課金 contracts by state, member and product (any case, wildcards literal) and their pages.

#[macro_use]
mod common;

use std::collections::BTreeSet;

use axum::http::StatusCode;
use common::{api, card_result, console_browser, method_id, product_id, Backend};
use serde_json::{json, Value};
use shophost::db::{ContractFilter, JournalFilter, MemberSearch, NewAttempt};
use shophost::domain::{AttemptKind, AttemptSnapshot, CustomerDetails, JournalEntry, Member};
use shophost::AppState;

/// 2024-04-01 00:00 in shop time (2024-03-31 15:00 UTC).
const APRIL_1: i64 = 1_711_897_200_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

// -- 会員 --------------------------------------------------------------------------------------------

/// Member `i`: Smith or 鈴木 (even / odd), e-mail `Member{i}@Example.jp` except a few with `_` and `%`.
fn member_details(i: usize) -> CustomerDetails {
    let email = match i {
        3 => "m_x@example.jp".to_owned(),
        4 => "myx@example.jp".to_owned(),
        5 => "50%off@example.jp".to_owned(),
        6 => "500ff@example.jp".to_owned(),
        _ => format!("Member{i}@Example.jp"),
    };
    let (family, given, family_kana, given_kana) = if i % 2 == 0 {
        ("Smith", format!("John{i}"), "スミス", "ジョン")
    } else {
        ("鈴木", format!("一郎{i}"), "スズキ", "イチロウ")
    };
    CustomerDetails {
        email,
        family_name: family.to_owned(),
        given_name: given,
        family_kana: family_kana.to_owned(),
        given_kana: given_kana.to_owned(),
        postcode: "100-0001".to_owned(),
        prefecture: "東京都".to_owned(),
        address1: "千代田区千代田".to_owned(),
        address2: "1-1".to_owned(),
        phone: "03-1234-5678".to_owned(),
        ..Default::default()
    }
}

/// Whether the 会員 search `text` finds `member`: part of the e-mail or of 姓名 (any case), or part of
/// セイメイ, spaces in the text left out.
fn member_found(text: &str, member: &Member) -> bool {
    let text = text.trim();
    let d = &member.details;
    let words: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    text.is_empty()
        || member.email.to_lowercase().contains(&text.to_lowercase())
        || format!("{}{}", d.family_name, d.given_name)
            .to_lowercase()
            .contains(&words.to_lowercase())
        || format!("{}{}", d.family_kana, d.given_kana).contains(&words)
}

/// The member ids of `text`'s pages of `size`, each page below the last id of the one before.
async fn member_pages(state: &AppState, text: &str, size: i64) -> Vec<Vec<i64>> {
    let mut pages = Vec::new();
    let mut before = None;
    loop {
        let search = MemberSearch {
            text: text.to_owned(),
            before,
        };
        let page = state.store.members(&search, size).await.expect("members");
        let ids: Vec<i64> = page.iter().map(|m| m.member.id).collect();
        before = ids.last().copied();
        let full = ids.len() as i64 == size;
        if !ids.is_empty() {
            pages.push(ids);
        }
        if !full {
            return pages;
        }
    }
}

async fn the_member_search_finds_parts_of_e_mail_and_names_page_by_page(backend: Backend) {
    let (state, _db) = backend.shop("lists-members").await;
    for i in 0..23 {
        let details = member_details(i);
        state
            .store
            .create_member(&details.email, "not-a-hash", &details)
            .await
            .expect("member");
    }
    let everyone: Vec<Member> = state
        .store
        .members(&MemberSearch::default(), 1000)
        .await
        .expect("members")
        .into_iter()
        .map(|listing| listing.member)
        .collect();
    assert_eq!(everyone.len(), 24, "the 23 and the demo member");
    let id_of = |email: &str| everyone.iter().find(|m| m.email == email).unwrap().id;
    for text in [
        "",
        "member1",
        "MEMBER1",
        "@example.jp",
        "m_x",
        "_",
        "%",
        "50%",
        "鈴木",
        "鈴木 一郎1",
        "一郎",
        "スズキ イチロウ",
        "スミス",
        "Smith",
        "smith",
        "SMITH j",
        "John2",
        "john2",
        "花子",
        "nobody",
    ] {
        let mut want: Vec<i64> = everyone
            .iter()
            .filter(|m| member_found(text, m))
            .map(|m| m.id)
            .collect();
        want.sort_by(|a, b| b.cmp(a));
        for size in [3, 10] {
            let pages = member_pages(&state, text, size).await;
            assert_eq!(pages.concat(), want, "{text:?}, pages of {size}");
        }
    }
    // The wildcards are literal: `m_x` is not `myx`, `50%` is not `500ff`.
    let found = async |text: &str| {
        let search = MemberSearch {
            text: text.to_owned(),
            before: None,
        };
        let listed = state.store.members(&search, 100).await.expect("members");
        listed.iter().map(|m| m.member.id).collect::<Vec<_>>()
    };
    assert_eq!(found("m_x").await, vec![id_of("m_x@example.jp")]);
    assert_eq!(found("50%").await, vec![id_of("50%off@example.jp")]);
    assert!(found("_").await.contains(&id_of("m_x@example.jp")));
    assert_eq!(found("_").await.len(), 1);
    assert_eq!(
        found("会員 花子").await,
        vec![id_of("demo@example.invalid")]
    );
}

// -- 通知ジャーナル -------------------------------------------------------------------------------

/// Posts a notification to `acting`'s notification URL from the demo's allowed source, answered.
async fn notify(state: &AppState, acting: &str, body: String) {
    let answer = common::notify_from(state, acting, body, common::SANDBOX).await;
    assert_eq!(answer.status, StatusCode::OK);
}

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

/// Whether the journal filter (without its page) takes `entry`.
fn journal_takes(filter: &JournalFilter, entry: &JournalEntry) -> bool {
    filter
        .module_id
        .as_ref()
        .is_none_or(|m| entry.module_id.as_ref() == Some(m))
        && filter
            .endpoint
            .as_ref()
            .is_none_or(|e| &entry.endpoint == e)
        && filter.verdict.as_ref().is_none_or(|v| &entry.verdict == v)
        && filter
            .link_key
            .as_ref()
            .is_none_or(|k| entry.link_key.as_ref() == Some(k))
        && filter.from.is_none_or(|from| entry.received_at >= from)
        && filter.until.is_none_or(|until| entry.received_at < until)
        && filter
            .replay_of
            .is_none_or(|id| entry.replay_of == Some(id))
}

async fn the_journal_filters_alone_and_together_page_by_id(backend: Backend) {
    let (state, db) = backend.shop("lists-journal").await;
    // Three paid checkouts (each notified twice: accepted, then a duplicate), two declined, and two
    // notifications naming no checkout (rejected).
    let mut keys = Vec::new();
    for round in 0..5 {
        let (link_key, total) = card_checkout(&state).await;
        let declined = round >= 3;
        for _ in 0..if declined { 1 } else { 2 } {
            let transaction = format!("T{round}");
            notify(
                &state,
                "remise_card",
                card_result(&link_key, &transaction, total, declined),
            )
            .await;
        }
        keys.push(link_key);
    }
    for unknown in ["999999990", "999999991"] {
        notify(
            &state,
            "remise_card",
            card_result(unknown, "TX", 1100, false),
        )
        .await;
    }
    // Spread over three shop days: ids 1–4 on 2024-03-31, 5–8 on 04-01 (one at its first and one at
    // its last millisecond), the rest on 04-02.
    db.sql(&format!(
        "UPDATE notification_journal SET received_at = CASE \
         WHEN id <= 4 THEN {} WHEN id = 5 THEN {APRIL_1} WHEN id = 8 THEN {} \
         WHEN id <= 8 THEN {} ELSE {} END",
        APRIL_1 - 1,
        APRIL_1 + DAY - 1,
        APRIL_1 + 12 * HOUR,
        APRIL_1 + DAY
    ))
    .await;
    let everything = state
        .store
        .journal_page(&JournalFilter::default(), 1000)
        .await
        .expect("journal");
    assert_eq!(
        everything.iter().map(|e| e.id).collect::<Vec<_>>(),
        (1..=10).rev().collect::<Vec<i64>>(),
        "{everything:?}"
    );
    let verdicts: BTreeSet<&str> = everything.iter().map(|e| e.verdict.as_str()).collect();
    assert_eq!(
        verdicts,
        BTreeSet::from(["accepted", "duplicate", "rejected"])
    );
    let endpoint = everything[0].endpoint.clone();
    let filter = |f: &dyn Fn(&mut JournalFilter)| {
        let mut filter = JournalFilter::default();
        f(&mut filter);
        filter
    };
    let filters = [
        filter(&|_| {}),
        filter(&|f| f.verdict = Some("accepted".into())),
        filter(&|f| f.verdict = Some("duplicate".into())),
        filter(&|f| f.verdict = Some("rejected".into())),
        filter(&|f| f.link_key = Some(keys[0].clone())),
        filter(&|f| f.module_id = Some("remise".into())),
        filter(&|f| f.endpoint = Some(endpoint.clone())),
        filter(&|f| f.from = Some(APRIL_1)),
        filter(&|f| {
            f.from = Some(APRIL_1);
            f.until = Some(APRIL_1 + DAY);
        }),
        filter(&|f| {
            f.module_id = Some("remise".into());
            f.endpoint = Some(endpoint.clone());
            f.verdict = Some("accepted".into());
            f.from = Some(APRIL_1 - DAY);
            f.until = Some(APRIL_1 + 2 * DAY);
        }),
        filter(&|f| {
            f.link_key = Some(keys[1].clone());
            f.verdict = Some("duplicate".into());
        }),
        filter(&|f| f.module_id = Some("no-such-module".into())),
    ];
    for filter in filters {
        let want: Vec<i64> = everything
            .iter()
            .filter(|e| journal_takes(&filter, e))
            .map(|e| e.id)
            .collect();
        // Pages of 3, each below the last id of the one before.
        let mut walked = Vec::new();
        let mut page_filter = filter.clone();
        loop {
            let page = state
                .store
                .journal_page(&page_filter, 3)
                .await
                .expect("page");
            walked.extend(page.iter().map(|e| e.id));
            match page.last() {
                Some(last) if page.len() == 3 => page_filter.before_id = Some(last.id),
                _ => break,
            }
        }
        assert_eq!(walked, want, "{filter:?}");
    }

    // The console reads the days typed as shop days.
    let (mut browser, _) = console_browser(&state).await;
    let listed = async |browser: &mut common::Browser, query: &str| {
        let page = browser.get(&format!("/admin/journal?{query}")).await;
        assert_eq!(page.status, StatusCode::OK, "{query}");
        let html = page.text();
        everything
            .iter()
            .map(|e| e.id)
            .filter(|id| html.contains(&format!("href=\"/admin/journal/{id}\"")))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        listed(&mut browser, "from=2024-04-01&to=2024-04-01").await,
        vec![8, 7, 6, 5]
    );
    assert_eq!(
        listed(&mut browser, "to=2024-03-31").await,
        vec![4, 3, 2, 1]
    );
    assert_eq!(
        listed(&mut browser, "from=2024-04-02&verdict=rejected").await,
        vec![10, 9]
    );
}

// -- 決済直前ログ -------------------------------------------------------------------------------------

/// An open attempt (no order) for `customer` under `link_key`, registered now.
async fn open_attempt(state: &AppState, link_key: &str, customer: CustomerDetails) {
    let snapshot = AttemptSnapshot {
        lines: Vec::new(),
        customer,
        items_total: 1100,
        shipping: 0,
        total: 1100,
        tax: 100,
        note: String::new(),
        options: Default::default(),
    };
    state
        .store
        .create_attempt(&NewAttempt {
            link_key: link_key.to_owned(),
            kind: AttemptKind::Order,
            module_id: "remise".to_owned(),
            settlement_type: "acting_remise_card".to_owned(),
            payment_method_id: None,
            payment_method_name: "カード決済".to_owned(),
            member_id: None,
            snapshot,
        })
        .await
        .expect("attempt");
}

/// [`open_attempt`], registered at `at`.
async fn attempt_at(
    state: &AppState,
    db: &common::Scratch,
    link_key: &str,
    customer: CustomerDetails,
    at: i64,
) {
    open_attempt(state, link_key, customer).await;
    db.sql(&format!(
        "UPDATE checkout_attempts SET created_at = {at} WHERE link_key = '{link_key}'"
    ))
    .await;
}

async fn the_attempt_log_searches_shop_days_names_and_link_keys(backend: Backend) {
    let (state, db) = backend.shop("lists-attempts").await;
    let times = [
        APRIL_1 - 1,
        APRIL_1,
        APRIL_1 + 9 * HOUR,
        APRIL_1 + DAY - 1,
        APRIL_1 + DAY,
    ];
    let keys: Vec<String> = (0..times.len()).map(|i| format!("60000000{i}")).collect();
    for (i, at) in times.iter().enumerate() {
        let customer = if i % 2 == 0 {
            member_details(0)
        } else {
            member_details(1)
        };
        attempt_at(&state, &db, &keys[i], customer, *at).await;
    }
    let (mut browser, _) = console_browser(&state).await;
    let listed = async |browser: &mut common::Browser, query: &str| {
        let page = browser.get(&format!("/admin/attempts?{query}")).await;
        assert_eq!(page.status, StatusCode::OK, "{query}");
        let html = page.text();
        keys.iter()
            .filter(|k| html.contains(&format!("<code>{k}</code>")))
            .cloned()
            .collect::<Vec<_>>()
    };
    // 2024-04-01 in shop time: from its first millisecond to its last.
    assert_eq!(
        listed(&mut browser, "from=2024-04-01&to=2024-04-01").await,
        keys[1..4]
    );
    assert_eq!(listed(&mut browser, "to=2024-03-31").await, keys[..1]);
    assert_eq!(listed(&mut browser, "from=2024-04-02").await, keys[4..]);
    // By name (漢字 or カナ, spaces left out), combined with the days.
    let suzuki = "customer_name=%E9%88%B4%E6%9C%A8%20%E4%B8%80%E9%83%8E"; // 鈴木 一郎
    assert_eq!(
        listed(&mut browser, suzuki).await,
        vec![keys[1].clone(), keys[3].clone()]
    );
    assert_eq!(
        listed(
            &mut browser,
            &format!("{suzuki}&from=2024-04-01&to=2024-04-01")
        )
        .await,
        vec![keys[1].clone(), keys[3].clone()]
    );
    let smith_kana = "customer_name=%E3%82%B9%E3%83%9F%E3%82%B9"; // スミス
    assert_eq!(
        listed(&mut browser, &format!("{smith_kana}&from=2024-04-01")).await,
        vec![keys[2].clone(), keys[4].clone()]
    );
    for smith in ["Smith", "smith", "SMITHJOHN0"] {
        assert_eq!(
            listed(&mut browser, &format!("customer_name={smith}")).await,
            vec![keys[0].clone(), keys[2].clone(), keys[4].clone()],
            "{smith}: a name in Latin letters in any case"
        );
    }
    // By part of the link key, its wildcards literal.
    assert_eq!(listed(&mut browser, "link_key=0000003").await, keys[3..4]);
    assert_eq!(listed(&mut browser, "link_key=600").await, keys);
    assert!(listed(&mut browser, "link_key=%25").await.is_empty());
    assert!(listed(&mut browser, "link_key=6_0").await.is_empty());
}

// -- 継続課金 -------------------------------------------------------------------------------------------

/// Contract `i`'s product: a few names with Latin letters in both cases, `%` and `_`.
const PRODUCTS: [&str; 4] = [
    "Premium 抹茶 定期便",
    "premium ほうじ茶 100%",
    "お茶 1000g",
    "お茶_定期",
];

async fn contracts_are_found_by_state_member_and_product_page_by_page(backend: Backend) {
    let (state, db) = backend.shop("lists-contracts").await;
    let mut members = Vec::new();
    for i in 0..2 {
        let details = member_details(i + 10);
        let member = state
            .store
            .create_member(&details.email, "not-a-hash", &details)
            .await
            .expect("member");
        members.push(member.id);
    }
    // 14 contracts, each for an order of its own: member by `i % 2`, product by `i % 4`, every third
    // stopped.
    for i in 0..14usize {
        let order =
            common::recovered_order(&state, &format!("5{i:08}"), member_details(i), true).await;
        let status = if i % 3 == 0 {
            "stopped"
        } else {
            "continuation"
        };
        db.sql(&format!(
            "INSERT INTO recurring_contracts (order_id, member_id, module_id, settlement_type, \
             gateway_id, product_name, amount, interval_months, charging_day, next_charge, status, \
             created_at, updated_at) VALUES ({}, {}, 'remise', 'acting_remise_card', 'AC{i}', \
             '{}', 3300, 1, 10, '20990110', '{status}', {APRIL_1}, {APRIL_1})",
            order.id,
            members[i % 2],
            PRODUCTS[i % 4]
        ))
        .await;
    }
    let all = state
        .store
        .find_contracts(&ContractFilter::default(), 1000)
        .await
        .expect("contracts");
    assert_eq!(all.len(), 14);
    let filters = [
        ContractFilter::default(),
        ContractFilter {
            status: Some("stopped".into()),
            ..Default::default()
        },
        ContractFilter {
            member_id: Some(members[1]),
            ..Default::default()
        },
        ContractFilter {
            product: "premium".into(),
            ..Default::default()
        },
        ContractFilter {
            product: "PREMIUM".into(),
            ..Default::default()
        },
        ContractFilter {
            product: "100%".into(),
            ..Default::default()
        },
        ContractFilter {
            product: "_".into(),
            ..Default::default()
        },
        ContractFilter {
            product: "%".into(),
            ..Default::default()
        },
        ContractFilter {
            product: " 茶 ".into(),
            ..Default::default()
        },
        ContractFilter {
            status: Some("continuation".into()),
            member_id: Some(members[0]),
            product: "Premium".into(),
            before: None,
        },
    ];
    for filter in filters {
        let product = filter.product.trim().to_lowercase();
        let want: Vec<i64> = all
            .iter()
            .filter(|c| filter.status.as_ref().is_none_or(|s| &c.status == s))
            .filter(|c| filter.member_id.is_none_or(|m| c.member_id == m))
            .filter(|c| c.product_name.to_lowercase().contains(&product))
            .map(|c| c.id)
            .collect();
        let mut walked = Vec::new();
        let mut page_filter = filter.clone();
        loop {
            let page = state
                .store
                .find_contracts(&page_filter, 3)
                .await
                .expect("page");
            walked.extend(page.iter().map(|c| c.id));
            match page.last() {
                Some(last) if page.len() == 3 => page_filter.before = Some(last.id),
                _ => break,
            }
        }
        assert_eq!(walked, want, "{filter:?}");
    }
    // The wildcards are literal; Latin letters in any case.
    let count = async |product: &str| {
        let filter = ContractFilter {
            product: product.into(),
            ..Default::default()
        };
        state
            .store
            .find_contracts(&filter, 100)
            .await
            .unwrap()
            .len()
    };
    assert_eq!(count("100%").await, 4, "not お茶 1000g");
    assert_eq!(count("_").await, 3, "only お茶_定期");
    assert_eq!(count("premium").await, 8, "Premium and premium");
}

// -- the pages' next links -------------------------------------------------------------------------

/// The pages of a console list from `uri` on, following each page's `rel="next"` link: what `found`
/// reads from each page.
async fn follow_next(
    browser: &mut common::Browser,
    uri: &str,
    found: impl Fn(&str) -> Vec<String>,
) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut uri = uri.to_owned();
    loop {
        let page = browser.get(&uri).await;
        assert_eq!(page.status, StatusCode::OK, "{uri}");
        let html = page.text();
        pages.push(found(&html));
        match common::pager(&html, "next") {
            Some(next) => uri = next,
            None => return pages,
        }
    }
}

async fn the_next_links_of_members_attempts_and_journal_keep_the_search(backend: Backend) {
    let (state, db) = backend.shop("lists-next-links").await;
    // 130 members: Smith (even) and 鈴木 (odd); 130 attempts for them, the first 110 on 2024-04-01
    // and the rest on 04-02 (shop time).
    let mut smiths = Vec::new();
    let mut keys = Vec::new();
    for i in 0..130 {
        let details = member_details(i + 100);
        let member = state
            .store
            .create_member(&details.email, "not-a-hash", &details)
            .await
            .expect("member");
        if i % 2 == 0 {
            smiths.push(member.id.to_string());
        }
        let key = format!("70000{i:04}");
        open_attempt(&state, &key, details).await;
        keys.push(key);
    }
    db.sql(&format!(
        "UPDATE checkout_attempts SET created_at = CASE WHEN link_key < '700000110' \
         THEN {APRIL_1} + id ELSE {} END",
        APRIL_1 + DAY
    ))
    .await;
    let (mut browser, _) = console_browser(&state).await;

    // 会員 (50 a page): the 65 Smiths, with the other members between them.
    let members = |html: &str| {
        html.split("<a href=\"/admin/members/")
            .skip(1)
            .filter_map(|rest| Some(rest.split('"').next()?.to_owned()))
            .collect::<Vec<_>>()
    };
    let pages = follow_next(&mut browser, "/admin/members?q=smith", members).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [50, 15]);
    let mut want = smiths.clone();
    want.reverse();
    assert_eq!(pages.concat(), want);

    // 決済直前ログ (50 a page): 2024-04-01's 110, then 鈴木's 55 of them.
    let attempts = |html: &str| {
        keys.iter()
            .filter(|k| html.contains(&format!("<code>{k}</code>")))
            .cloned()
            .collect::<Vec<_>>()
    };
    let pages = follow_next(
        &mut browser,
        "/admin/attempts?from=2024-04-01&to=2024-04-01",
        attempts,
    )
    .await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [50, 50, 10]);
    let mut found = pages.concat();
    found.sort();
    assert_eq!(found, keys[..110]);
    let pages = follow_next(
        &mut browser,
        "/admin/attempts?customer_name=%E9%88%B4%E6%9C%A8&to=2024-04-01", // 鈴木
        attempts,
    )
    .await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [50, 5]);
    let mut found = pages.concat();
    found.sort();
    let suzuki: Vec<String> = keys[..110].iter().skip(1).step_by(2).cloned().collect();
    assert_eq!(found, suzuki);

    // 通知ジャーナル (50 a page): 55 rejected notifications and one accepted; the rejected alone.
    let (link_key, total) = card_checkout(&state).await;
    notify(
        &state,
        "remise_card",
        card_result(&link_key, "T1", total, false),
    )
    .await;
    for i in 0..55 {
        let unknown = format!("99999{i:04}");
        notify(
            &state,
            "remise_card",
            card_result(&unknown, "TX", 1100, false),
        )
        .await;
    }
    let entries = |html: &str| {
        html.split("href=\"/admin/journal/")
            .skip(1)
            .filter_map(|rest| {
                let id = rest.split('"').next()?;
                id.parse::<i64>().ok().map(|_| id.to_owned())
            })
            .collect::<Vec<_>>()
    };
    let pages = follow_next(&mut browser, "/admin/journal?verdict=rejected", entries).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [50, 5]);
    let ids: BTreeSet<String> = pages.concat().into_iter().collect();
    assert_eq!(ids.len(), 55);
    assert!(!ids.contains("1"), "the accepted entry is not rejected");
}

// Each test above runs on SQLite, and on PostgreSQL when SHOPHOST_TEST_PG_URL names a server.
on_both_backends!(
    the_member_search_finds_parts_of_e_mail_and_names_page_by_page,
    the_journal_filters_alone_and_together_page_by_id,
    the_attempt_log_searches_shop_days_names_and_link_keys,
    contracts_are_found_by_state_member_and_product_page_by_page,
    the_next_links_of_members_attempts_and_journal_keep_the_search,
);
