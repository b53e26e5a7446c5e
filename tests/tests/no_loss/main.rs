//! "No loss, no double-apply": the notification path under the three things that break naive shops.
//!
//! - A duplicate storm: every notification arrives many times at once (Remise resends until it reads
//!   the acknowledgement, and a slow answer means overlapping copies). Every copy must be acknowledged
//!   and the order changed exactly once.
//! - A race between the 収納情報通知 (receipt) and the shopper's browser coming back with the slip,
//!   for one multi-payment order: whichever lands first, there is one order and it ends 入金済み.
//! - A crash: the real `shophost` binary, killed with SIGKILL while notifications stream in, then
//!   restarted on the same database. Whatever was acknowledged is in the database; whatever is in the
//!   database is whole (attempt, order, payment event and journal entry together, or none of them).
//!
//! Each runs on SQLite always, and on PostgreSQL too where `SHOPHOST_TEST_PG_URL` names a server (the
//! harness's rule: in CI a missing URL is a failure; elsewhere the PostgreSQL variant says on stderr
//! that it did not run). The crash is in `crash.rs`.

#[path = "../common/mod.rs"]
mod common;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::host_process::HostProcess;
use common::*;
use serde_json::json;
use sqlx::Row;
use tokio::sync::Semaphore;

// -- duplicate storm --------------------------------------------------------------------------------

/// Distinct notifications in the storm.
const STORM_NOTIFICATIONS: usize = 200;
/// Copies of each, all sent at once.
const STORM_COPIES: usize = 20;
/// Requests in flight at a time. The 20 copies of a notification are queued next to each other, so
/// they are in flight together; the cap keeps the wait for the PostgreSQL pool (16 connections, 5 s
/// acquire timeout) short on a busy two-core CI machine, so the pool is not the thing under test.
const STORM_IN_FLIGHT: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_storm_on_sqlite() {
    duplicate_storm(Database::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_storm_on_postgres() {
    let Some(url) = postgres_url() else {
        eprintln!("SHOPHOST_TEST_PG_URL is not set: the PostgreSQL storm did not run");
        return;
    };
    duplicate_storm(Database::Postgres(url)).await;
}

/// 200 card notifications, each sent 20 times concurrently over real HTTP.
async fn duplicate_storm(database: Database) {
    let shop = Shop::start_with(Options {
        database,
        ..Options::default()
    })
    .await;
    let method = shop.method_id(CARD).await;
    let mut link_keys = Vec::with_capacity(STORM_NOTIFICATIONS);
    for _ in 0..STORM_NOTIFICATIONS {
        link_keys.push(shop.checkout_with_method(method, &[], None).await);
    }

    let shop = Arc::new(shop);
    let gate = Arc::new(Semaphore::new(STORM_IN_FLIGHT));
    let mut sends = tokio::task::JoinSet::new();
    for (index, link_key) in link_keys.iter().enumerate() {
        let body = sjis_form(&card_success(link_key, &format!("TS{index:06}"), MUG_PRICE));
        for _ in 0..STORM_COPIES {
            let (shop, gate, body, link_key) =
                (shop.clone(), gate.clone(), body.clone(), link_key.clone());
            sends.spawn(async move {
                let _permit = gate.acquire_owned().await.expect("the gate stays open");
                let answer = shop
                    .post_raw(
                        &shop.notify_url("remise_card"),
                        "application/x-www-form-urlencoded; charset=Shift_JIS",
                        body,
                    )
                    .await;
                (link_key, answer.status, answer.text())
            });
        }
    }
    let mut answers: HashMap<String, usize> = HashMap::new();
    while let Some(sent) = sends.join_next().await {
        let (link_key, status, body) = sent.expect("a sender task panicked");
        assert_eq!(
            (status, body.as_str()),
            (200, ACK),
            "every copy for {link_key} is acknowledged"
        );
        *answers.entry(link_key).or_default() += 1;
    }
    assert_eq!(answers.len(), STORM_NOTIFICATIONS);
    assert!(answers.values().all(|&n| n == STORM_COPIES), "{answers:?}");

    // Each order changed exactly once: created captured, one history line, one payment event, and
    // one accepted journal entry next to the duplicates.
    for (index, link_key) in link_keys.iter().enumerate() {
        let order = shop.order_detail(link_key).await;
        assert_eq!(order.status, "captured", "{link_key}");
        assert_eq!(order.history.len(), 1, "{link_key}: {:?}", order.history);
        assert_eq!(order.events, 1, "{link_key}");
        assert_eq!(
            order.order["transaction_id"],
            json!(format!("TS{index:06}"))
        );
        assert_eq!(
            journal_verdicts(&shop.state, link_key).await,
            verdicts(&[("accepted", 1), ("duplicate", STORM_COPIES - 1)]),
            "{link_key}"
        );
    }
    let orders = shop.admin_get("/orders?limit=1000").await;
    assert_eq!(
        orders["orders"].as_array().expect("orders").len(),
        STORM_NOTIFICATIONS
    );
    let mut totals: BTreeMap<String, usize> = BTreeMap::new();
    for entry in shop
        .state
        .store
        .journal(None, 1_000_000)
        .await
        .expect("journal")
    {
        *totals.entry(entry.verdict).or_default() += 1;
    }
    assert_eq!(
        totals,
        verdicts(&[
            ("accepted", STORM_NOTIFICATIONS),
            ("duplicate", STORM_NOTIFICATIONS * (STORM_COPIES - 1)),
        ])
    );
    // Every copy was committed exactly once, and never with a retry. Group commit (either backend's)
    // puts copies that wait together into one commit, and with 50 requests in flight for one writer
    // some always do (how many depends on timing).
    let writer = shop.state.store.writer_counts();
    assert_eq!(
        writer.requests as usize,
        STORM_NOTIFICATIONS * STORM_COPIES,
        "{writer:?}"
    );
    assert_eq!(writer.retries, 0, "{writer:?}");
    assert!(
        writer.commits < writer.requests,
        "no two of the concurrent copies shared a commit: {writer:?}"
    );
    let metrics = shop.metrics().await;
    for line in [
        format!("shophost_db_committed_requests_total {}", writer.requests),
        format!("shophost_db_commits_total {}", writer.commits),
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
    }
    let shop = Arc::into_inner(shop).expect("every sender has finished");
    shop.finish().await;
}

// -- receipt and browser return racing ------------------------------------------------------------

/// Concurrent attempts at the race, per backend.
const RACE_ATTEMPTS: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipt_and_browser_return_race_on_sqlite() {
    receipt_and_return_race(Database::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipt_and_browser_return_race_on_postgres() {
    let Some(url) = postgres_url() else {
        eprintln!("SHOPHOST_TEST_PG_URL is not set: the PostgreSQL race did not run");
        return;
    };
    receipt_and_return_race(Database::Postgres(url)).await;
}

/// Which of the two arrives first, or both at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arrival {
    ReceiptFirst,
    ReturnFirst,
    Together,
}

async fn receipt_and_return_race(database: Database) {
    let shop = Shop::start_with(Options {
        database,
        ..Options::default()
    })
    .await;
    let method = shop.method_id(CONV).await;
    let mut arrivals = vec![Arrival::ReceiptFirst, Arrival::ReturnFirst];
    arrivals.extend(std::iter::repeat_n(Arrival::Together, RACE_ATTEMPTS));
    for (attempt, arrival) in arrivals.into_iter().enumerate() {
        let link_key = shop.checkout_with_method(method, &[], None).await;
        // The shopper is sent to Remise, chooses a store and pays there at once; Remise sends the
        // receipt while the browser is on its way back with the slip.
        shop.confirm(&link_key).await;
        let job_id = format!("2026010112{attempt:07}");
        let mut slip = conv_issued(&link_key, &job_id, MUG_PRICE, "20991231");
        slip.retain(|(name, _)| name != "REC_TYPE");
        let receipt = conv_receipt(&link_key, "1", MUG_PRICE);
        let return_url = format!("{}/return/{CONV}/ok", shop.base);
        let receipt_answer = shop.notify("remise_conv", &receipt);
        let browser = shop.post_sjis(&return_url, &slip);
        let (receipt_answer, browser) = match arrival {
            Arrival::ReceiptFirst => {
                let receipt_answer = receipt_answer.await;
                (receipt_answer, browser.await)
            }
            Arrival::ReturnFirst => {
                let browser = browser.await;
                (receipt_answer.await, browser)
            }
            // `join!` polls in order; alternate which one starts first.
            Arrival::Together if attempt % 2 == 0 => tokio::join!(receipt_answer, browser),
            Arrival::Together => {
                let (browser, receipt_answer) = tokio::join!(browser, receipt_answer);
                (receipt_answer, browser)
            }
        };
        let case = format!("attempt {attempt} ({arrival:?}), link key {link_key}");
        assert_eq!(
            (receipt_answer.status, receipt_answer.text().as_str()),
            (200, ACK),
            "{case}"
        );
        assert_eq!(browser.status, 303, "{case}: {}", browser.text());
        assert_eq!(
            browser.location.as_deref(),
            Some(format!("/checkout/complete/{link_key}").as_str()),
            "{case}"
        );

        let order = shop.order_detail(&link_key).await;
        assert_eq!(
            (order.status.as_str(), order.label.as_str()),
            ("paid", "入金済み"),
            "{case}"
        );
        assert_eq!(order.order["slip"]["place"], "セブン-イレブン", "{case}");
        assert_eq!(order.order["deadline"], "20991231", "{case}");
        assert_eq!(
            order.events, 2,
            "{case}: the slip and the receipt, once each"
        );
        let statuses: Vec<&str> = order.history.iter().map(|(to, _)| to.as_str()).collect();
        // Receipt first makes the order paid at once; the slip first makes it unpaid, then paid.
        match arrival {
            Arrival::ReceiptFirst => assert_eq!(statuses, ["paid"], "{case}"),
            Arrival::ReturnFirst => assert_eq!(statuses, ["unpaid", "paid"], "{case}"),
            Arrival::Together => assert!(
                statuses == ["paid"] || statuses == ["unpaid", "paid"],
                "{case}: {statuses:?}"
            ),
        }
        assert!(
            order.order["attention"].is_null(),
            "{case}: {}",
            order.order
        );
        assert_eq!(
            journal_verdicts(&shop.state, &link_key).await,
            verdicts(&[("accepted", 2)]),
            "{case}"
        );
        let orders = shop.admin_get("/orders?limit=1000").await;
        assert_eq!(
            orders["orders"].as_array().expect("orders").len(),
            attempt + 1,
            "{case}: one order per attempt"
        );
    }
    shop.finish().await;
}

mod crash;
