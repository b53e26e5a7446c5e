//! Retention: the scheduled jobs remove what is past its days (`[retention]`): checkout attempts that
//! never became an order, 決済エラーログ lines, storefront sessions, refused requests, and the bodies
//! of journal entries (the entries stay, with a note), oldest first in bounded batches. Runs on SQLite
//! always and on PostgreSQL where `SHOPHOST_TEST_PG_URL` names a server.

mod common;

use common::*;
use serde_json::json;
use shophost::db::{NewRefused, Purge};

const DAY: i64 = 24 * 60 * 60 * 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_past_its_days_is_purged_on_sqlite() {
    purges(Database::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_past_its_days_is_purged_on_postgres() {
    match postgres_url() {
        Some(url) => purges(Database::Postgres(url)).await,
        None => println!("retention did not run on postgres: SHOPHOST_TEST_PG_URL is not set"),
    }
}

fn refused(received_at: i64) -> NewRefused {
    NewRefused {
        module_id: "remise".into(),
        endpoint: "remise_card".into(),
        method: "POST".into(),
        query: "acting=remise_card".into(),
        content_type: Some("application/x-www-form-urlencoded".into()),
        peer: "198.51.100.1".into(),
        source: "198.51.100.1".into(),
        headers: vec![],
        body: b"X-JUNK=1".to_vec(),
        size: 300,
        received_at,
        link_key: None,
    }
}

async fn purges(database: Database) {
    let shop = Shop::start_with(Options {
        database,
        ..Options::default()
    })
    .await;
    let store = &shop.state.store;
    let now = shophost::domain::now_millis();
    // An order (its attempt stays), an attempt that never became one, a 決済エラーログ line, a
    // session, a refused request.
    let ordered = shop.checkout(CARD, &[], None).await;
    let answer = shop
        .notify("remise_card", &card_success(&ordered, "T0001", MUG_PRICE))
        .await;
    assert_eq!(answer.text(), ACK);
    let abandoned = shop.checkout(CARD, &[], None).await;
    let unknown = "12345678901234567";
    shop.notify("remise_card", &card_success(unknown, "T0002", MUG_PRICE))
        .await;
    assert_eq!(shop.settlement_errors(unknown).await.len(), 1);
    store
        .modify_session("session-1", 0, now, Box::new(|_| "{}".to_owned()))
        .await
        .unwrap();
    store.keep_refused(&refused(now)).await.unwrap();
    let journal_id = shop.journal(&ordered).await[0]["id"].as_i64().unwrap();

    // Two days on, only the session (a day) is over.
    let report = shophost::jobs::run_once(&shop.state, now + 2 * DAY)
        .await
        .unwrap();
    assert_eq!(report.purged.sessions, 1, "{:?}", report.purged);
    assert_eq!(report.purged.attempts_without_order, 0);
    assert_eq!(report.purged.journal_bodies, 0);
    assert!(store.session("session-1", 0).await.unwrap().is_none());
    assert_eq!(shop.attempt(&abandoned).await["state"], "open");

    // A month and a bit on, the refused request (30 days) is gone too.
    let report = shophost::jobs::run_once(&shop.state, now + 31 * DAY)
        .await
        .unwrap();
    assert_eq!(report.purged.refused_requests, 1);
    assert_eq!(shop.admin_get("/refused").await["refused"], json!([]));

    // Over a year on, everything else past its days has gone; orders and journal entries stay.
    let (status, report) = shop.admin("POST", "/jobs/run", None).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        report["purged"]["journal_bodies"], 0,
        "nothing is a year old yet"
    );
    let report = shophost::jobs::run_once(&shop.state, now + 400 * DAY)
        .await
        .unwrap();
    assert_eq!(
        report.purged.attempts_without_order, 1,
        "{:?}",
        report.purged
    );
    assert_eq!(report.purged.settlement_errors, 1);
    assert!(report.purged.journal_bodies >= 2, "{:?}", report.purged);
    let (status, _) = shop
        .admin("GET", &format!("/attempts/{abandoned}"), None)
        .await;
    assert_eq!(status, 404);
    assert_eq!(shop.attempt(&ordered).await["state"], "ordered");
    assert_eq!(shop.order_detail(&ordered).await.status, "captured");
    assert_eq!(
        shop.admin_get("/settlement-errors").await["errors"],
        json!([])
    );
    let entry = shop.admin_get(&format!("/journal/{journal_id}")).await;
    assert_eq!(entry["verdict"], "accepted");
    assert_eq!(entry["body"], "");
    assert!(
        entry["body_purged_at"]
            .as_str()
            .is_some_and(|at| at.ends_with("+09:00")),
        "{entry}"
    );
    assert!(
        entry["body_note"]
            .as_str()
            .unwrap()
            .contains("保存期間（retention.journal_bodies_days）を過ぎたため削除"),
        "{entry}"
    );
    // A journal entry without its body cannot be replayed (it would only be refused as malformed).
    let (status, answer) = shop
        .admin("POST", &format!("/journal/{journal_id}/replay"), None)
        .await;
    assert_eq!(status, 409, "{answer}");
    // A second run finds nothing more.
    let report = shophost::jobs::run_once(&shop.state, now + 400 * DAY)
        .await
        .unwrap();
    assert_eq!(report.purged, shophost::retention::Purged::default());
    shop.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_takes_a_bounded_batch_oldest_first() {
    let shop = Shop::start().await;
    let store = &shop.state.store;
    let now = shophost::domain::now_millis();
    for age in [3, 1, 2] {
        store.keep_refused(&refused(now - age * DAY)).await.unwrap();
    }
    let removed = store
        .purge(Purge::RefusedRequests, now, 2, now)
        .await
        .unwrap();
    assert_eq!(removed, 2);
    let left = store.refused_requests(false, 10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].received_at, now - DAY, "the newest is left");
    assert_eq!(store.refused_bytes().await.unwrap(), 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_days_come_from_the_config() {
    let shop = Shop::start_with(Options {
        extra_config: "[retention]\nattempts_without_order_days = 2\n",
        ..Options::default()
    })
    .await;
    let abandoned = shop.checkout(CARD, &[], None).await;
    let now = shophost::domain::now_millis();
    let report = shophost::jobs::run_once(&shop.state, now + DAY)
        .await
        .unwrap();
    assert_eq!(report.purged.attempts_without_order, 0);
    let report = shophost::jobs::run_once(&shop.state, now + 3 * DAY)
        .await
        .unwrap();
    assert_eq!(report.purged.attempts_without_order, 1);
    let (status, _) = shop
        .admin("GET", &format!("/attempts/{abandoned}"), None)
        .await;
    assert_eq!(status, 404);
}
