//! The PostgreSQL writer against a real server: requests share transactions, an event key another host
//! claims meanwhile sends the batch back one request at a time, and a panic fails only its batch.
//!
//! They run where `SHOPHOST_TEST_PG_URL` names a server, each on a fresh schema (the harness's rule: in
//! CI a missing URL is a failure; elsewhere each test says on stderr that it did not run).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shophost_module_api::{
    Answer, Capture, Notification, Refusal, SettlementKind, Signal, WireResponse,
};
use sqlx::{Connection, Row};

use super::PgStore;
use crate::db::batch::{refuse_through, test_record, PANICS_HERE};
use crate::db::{ApplyContext, DbError, Intent, NewAttempt, Recorded, Responses, Store, Verdict};
use crate::domain::{AttemptKind, AttemptSnapshot};

/// The module the attempts are for.
const MODULE: &str = "gateway";
/// Its card settlement type.
const CARD: &str = "acting_gateway_card";
/// Every attempt's total.
const TOTAL: i64 = 1000;

/// A fresh schema on the test server: its URL (`search_path` set to it), and the server's URL and
/// the schema's name to drop it with.
struct Schema {
    url: String,
    server: String,
    name: String,
}

impl Schema {
    /// A fresh schema, or `None` (said on stderr) where no server is configured, which CI forbids.
    async fn new(test: &str) -> Option<Schema> {
        let server = match std::env::var("SHOPHOST_TEST_PG_URL") {
            Ok(url) if !url.trim().is_empty() => url,
            _ if std::env::var_os("CI").is_some() => {
                panic!("CI is set but SHOPHOST_TEST_PG_URL is not: {test} must run in CI")
            }
            _ => {
                eprintln!(
                    "PostgreSQL SKIPPED: {test} did not run (SHOPHOST_TEST_PG_URL is not set)"
                );
                return None;
            }
        };
        static SCHEMAS: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "t_writer_{}_{}_{}",
            std::process::id(),
            crate::domain::now_millis(),
            SCHEMAS.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = sqlx::PgConnection::connect(&server).await.expect("connect");
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&mut admin)
            .await
            .expect("create the test's schema");
        let separator = if server.contains('?') { '&' } else { '?' };
        let url = format!("{server}{separator}options=-csearch_path%3D{name}");
        Some(Schema { url, server, name })
    }

    /// Drops the schema.
    async fn drop(self) {
        if let Ok(mut admin) = sqlx::PgConnection::connect(&self.server).await {
            let drop = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name);
            let _ = sqlx::query(&drop).execute(&mut admin).await;
        }
    }
}

/// An open card attempt under `link_key`.
async fn attempt(store: &PgStore, link_key: &str) {
    let attempt = NewAttempt {
        link_key: link_key.to_owned(),
        kind: AttemptKind::Order,
        module_id: MODULE.to_owned(),
        settlement_type: CARD.to_owned(),
        payment_method_id: None,
        payment_method_name: "カード".to_owned(),
        member_id: None,
        snapshot: AttemptSnapshot {
            lines: Vec::new(),
            customer: Default::default(),
            items_total: TOTAL,
            shipping: 0,
            total: TOTAL,
            tax: 0,
            note: String::new(),
            options: BTreeMap::new(),
        },
    };
    store.create_attempt(&attempt).await.expect("an attempt");
}

/// A card success for `link_key`, the gateway event `dedup_key`, recorded by `store`.
async fn card_success(
    store: &PgStore,
    link_key: &str,
    dedup_key: &str,
) -> Result<Recorded, DbError> {
    let signal = Signal::PaymentSucceeded {
        transaction_id: dedup_key.to_owned(),
        amount: TOTAL,
        capture: Capture::Captured,
        card: None,
        recurring_id: None,
    };
    let context = ApplyContext {
        module_id: MODULE.to_owned(),
        settlement_labels: Default::default(),
        settlement_kinds: BTreeMap::from([(CARD.to_owned(), SettlementKind::Immediate)]),
        channel: "notification",
    };
    let responses = Responses::ask(|answer| match answer {
        Answer::Acknowledge => WireResponse::text(200, "text/plain", "OK"),
        _ => WireResponse::text(400, "text/plain", "NG"),
    });
    let intent = Intent::Apply(Notification::new(link_key, dedup_key, signal));
    store
        .record_inbound(
            test_record(Some(MODULE), "gateway_card"),
            intent,
            context,
            responses,
        )
        .await
}

/// How many rows `sql` counts.
async fn count(store: &PgStore, sql: &str) -> i64 {
    let row = sqlx::query(sql)
        .fetch_one(&store.pools.read)
        .await
        .expect("a count");
    row.try_get(0).expect("the count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_notifications_share_transactions_and_copies_wait_for_the_next_round() {
    let Some(schema) = Schema::new("the PostgreSQL group-commit test").await else {
        return;
    };
    let store = Arc::new(PgStore::connect(&schema.url).await.expect("a store"));
    const ATTEMPTS: usize = 40;
    for i in 0..ATTEMPTS {
        attempt(&store, &format!("L{i:04}")).await;
    }
    // Each notification twice, all at once: the copy of one is in the same batch as the first, and in
    // the next round, which reads what the first wrote.
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..ATTEMPTS * 2 {
        let store = store.clone();
        sends.spawn(async move {
            let link_key = format!("L{:04}", i % ATTEMPTS);
            let recorded = card_success(&store, &link_key, &format!("card:{}", i % ATTEMPTS)).await;
            (link_key, recorded.expect("recorded"))
        });
    }
    let mut verdicts: BTreeMap<String, Vec<Verdict>> = BTreeMap::new();
    while let Some(sent) = sends.join_next().await {
        let (link_key, recorded) = sent.expect("a sender");
        assert_eq!(recorded.response.status, 200, "{link_key}: {recorded:?}");
        verdicts.entry(link_key).or_default().push(recorded.verdict);
    }
    for (link_key, mut verdicts) in verdicts {
        verdicts.sort_by_key(|verdict| verdict.as_str());
        assert_eq!(
            verdicts,
            [Verdict::Accepted, Verdict::Duplicate],
            "{link_key}"
        );
    }
    let counts = store.writer_counts();
    assert_eq!(counts.requests, (ATTEMPTS * 2) as u64, "{counts:?}");
    assert_eq!(counts.retries, 0, "{counts:?}");
    assert!(
        counts.commits < counts.requests,
        "no two of the concurrent requests shared a transaction: {counts:?}"
    );
    for (table, expected) in [
        ("orders", ATTEMPTS),
        ("order_history", ATTEMPTS),
        ("payment_events", ATTEMPTS),
        ("notification_journal", ATTEMPTS * 2),
        // The mail triggers fired once per order: a confirmation and the shop's notice.
        ("mail_outbox", ATTEMPTS * 2),
    ] {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        assert_eq!(count(&store, &sql).await, expected as i64, "{table}");
    }
    // Every event names its journal entry and its order, given out before the write.
    let linked = "SELECT COUNT(*) FROM payment_events e \
         JOIN notification_journal j ON j.id = e.journal_id AND j.verdict = 'accepted' \
         JOIN orders o ON o.id = e.order_id AND o.link_key = e.link_key \
         JOIN checkout_attempts a ON a.order_id = o.id AND a.state = 'ordered'";
    assert_eq!(count(&store, linked).await, ATTEMPTS as i64);
    store.close().await;
    schema.drop().await;
}

/// Waits until a session waits for the transaction `xid` to end (to know whether its insert of an
/// event key stands).
async fn until_someone_waits_for(store: &PgStore, xid: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let waiting = "SELECT COUNT(*) FROM pg_locks \
         WHERE NOT granted AND locktype = 'transactionid' AND transactionid::text = $1";
    loop {
        let row = sqlx::query(waiting)
            .bind(xid)
            .fetch_one(&store.pools.read)
            .await
            .expect("pg_locks");
        if row.try_get::<i64, _>(0).expect("a count") > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "the round's write never waited");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_key_another_host_claims_meanwhile_sends_the_batch_through_again_alone() {
    let Some(schema) = Schema::new("the PostgreSQL lost-claim test").await else {
        return;
    };
    let store = PgStore::connect(&schema.url).await.expect("a store");
    attempt(&store, "MINE").await;
    attempt(&store, "THEIRS").await;
    // Another host records the event `card:shared` for the other link key and has not committed when
    // this store reads: the round decides to claim it, and its write waits for the other host.
    let mut other_host = sqlx::PgConnection::connect(&schema.url)
        .await
        .expect("connect");
    let mut other = other_host.begin().await.expect("begin");
    sqlx::query(
        "INSERT INTO payment_events (dedup_key, module_id, link_key, kind, source, at) \
         VALUES ('card:shared', 'gateway', 'THEIRS', 'payment_succeeded', 'notification', 1)",
    )
    .execute(&mut *other)
    .await
    .expect("the other host's claim");
    let xid: String = sqlx::query("SELECT xid(pg_current_xact_id())::text")
        .fetch_one(&mut *other)
        .await
        .and_then(|row| row.try_get(0))
        .expect("the other host's transaction id");
    let store = Arc::new(store);
    let mine = tokio::spawn({
        let store = store.clone();
        async move { card_success(&store, "MINE", "card:shared").await }
    });
    until_someone_waits_for(&store, &xid).await;
    other.commit().await.expect("the other host commits");

    // The write claimed nothing: the batch was rolled back and the request decided again alone,
    // knowing the event is another link key's.
    let recorded = mine.await.expect("the sender").expect("recorded");
    match &recorded.verdict {
        Verdict::Refused { refusal, reason } => {
            assert_eq!(*refusal, Refusal::Mismatch, "{reason}");
            assert!(reason.contains("THEIRS"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(recorded.response.status, 400);
    let counts = store.writer_counts();
    assert_eq!((counts.retries, counts.requests), (1, 1), "{counts:?}");
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM payment_events").await,
        1
    );
    assert_eq!(count(&store, "SELECT COUNT(*) FROM orders").await, 0);
    let journal = store.journal(None, 10).await.expect("journal");
    assert_eq!(
        journal
            .iter()
            .map(|entry| (entry.verdict.as_str(), entry.link_key.as_deref()))
            .collect::<Vec<_>>(),
        [("rejected", Some("MINE"))],
        "one journal entry, from the retry alone"
    );
    store.close().await;
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_racing_for_one_event_key_record_it_once() {
    let Some(schema) = Schema::new("the PostgreSQL two-store race").await else {
        return;
    };
    let first = Arc::new(PgStore::connect(&schema.url).await.expect("a store"));
    let second = Arc::new(PgStore::connect(&schema.url).await.expect("a second store"));
    const PAIRS: usize = 30;
    for i in 0..PAIRS {
        attempt(&first, &format!("A{i:03}")).await;
        attempt(&first, &format!("B{i:03}")).await;
    }
    // The same event key for two link keys, one through each store, all at once.
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..PAIRS {
        for (store, link_key) in [(&first, format!("A{i:03}")), (&second, format!("B{i:03}"))] {
            let store = store.clone();
            sends.spawn(async move {
                let recorded = card_success(&store, &link_key, &format!("card:{i}")).await;
                (i, link_key, recorded.expect("recorded"))
            });
        }
    }
    let mut accepted: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    while let Some(sent) = sends.join_next().await {
        let (i, link_key, recorded) = sent.expect("a sender");
        match recorded.verdict {
            Verdict::Accepted => {
                assert_eq!(recorded.response.status, 200);
                accepted.entry(i).or_default().push(link_key);
            }
            Verdict::Refused {
                refusal: Refusal::Mismatch,
                ..
            } => assert_eq!(recorded.response.status, 400),
            other => panic!("{link_key}: {other:?}"),
        }
    }
    // How often a batch lost a claim (or an order's transaction id) to the other store depends on
    // timing; the outcome may not.
    let counts = (first.writer_counts(), second.writer_counts());
    eprintln!("two stores racing: {counts:?}");
    assert_eq!(accepted.len(), PAIRS, "{accepted:?}");
    assert!(accepted.values().all(|won| won.len() == 1), "{accepted:?}");
    let events = "SELECT COUNT(*) FROM payment_events";
    assert_eq!(count(&first, events).await, PAIRS as i64);
    // The winner's order, and nothing for the loser.
    let orders = "SELECT COUNT(*) FROM orders o JOIN payment_events e \
         ON e.link_key = o.link_key AND e.order_id = o.id";
    assert_eq!(count(&first, orders).await, PAIRS as i64);
    assert_eq!(
        count(&first, "SELECT COUNT(*) FROM orders").await,
        PAIRS as i64
    );
    first.close().await;
    second.close().await;
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failing_write_in_a_group_commit_fails_alone() {
    let Some(schema) = Schema::new("the PostgreSQL failing-write test").await else {
        return;
    };
    let store = Arc::new(PgStore::connect(&schema.url).await.expect("a store"));
    const REQUESTS: usize = 8;
    for i in 0..REQUESTS {
        attempt(&store, &format!("W{i}")).await;
    }
    // The journal refuses every entry about W3, in whatever transaction it comes.
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_w3() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         IF NEW.link_key = 'W3' THEN RAISE EXCEPTION 'the test refuses W3'; END IF; \
         RETURN NEW; END $$; \
         CREATE TRIGGER refuse_w3 BEFORE INSERT ON notification_journal \
         FOR EACH ROW EXECUTE FUNCTION refuse_w3()",
    )
    .execute(&store.pools.write)
    .await
    .expect("the trigger");
    // All at once, round after round, until W3 has shared a batch with others (the bound only keeps a
    // writer that never groups from looping for ever).
    let mut rounds = 0;
    while rounds < 3 || (store.writer_counts().retries == 0 && rounds < 50) {
        rounds += 1;
        let mut sends = tokio::task::JoinSet::new();
        for i in 0..REQUESTS {
            let store = store.clone();
            sends.spawn(async move {
                let event = format!("card:{i}");
                (i, card_success(&store, &format!("W{i}"), &event).await)
            });
        }
        while let Some(sent) = sends.join_next().await {
            match sent.expect("a sender") {
                (3, Err(DbError::Unavailable(message))) => {
                    assert!(message.contains("the test refuses W3"), "{message}")
                }
                (3, other) => panic!("W3 went through: {other:?}"),
                (i, Ok(recorded)) if rounds == 1 => {
                    assert_eq!(recorded.verdict, Verdict::Accepted, "W{i}")
                }
                (i, Ok(recorded)) => assert_eq!(recorded.verdict, Verdict::Duplicate, "W{i}"),
                (i, Err(error)) => panic!("W{i} failed with W3: {error}"),
            }
        }
    }
    let counts = store.writer_counts();
    assert!(
        (1..=rounds).contains(&counts.retries),
        "W3 shared a batch (which failed and was retried) in some of the {rounds} rounds: {counts:?}"
    );
    let w3 = "SELECT COUNT(*) FROM notification_journal WHERE link_key = 'W3'";
    assert_eq!(count(&store, w3).await, 0);
    let orders = "SELECT COUNT(*) FROM orders";
    assert_eq!(count(&store, orders).await, (REQUESTS - 1) as i64);
    store.close().await;
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_fails_its_batch_and_the_writer_goes_on_until_closed() {
    let Some(schema) = Schema::new("the PostgreSQL writer's panic test").await else {
        return;
    };
    let store = PgStore::connect(&schema.url).await.expect("a store");
    let refuse = |endpoint| refuse_through(&store, endpoint);
    match refuse(PANICS_HERE).await {
        Err(DbError::Unavailable(message)) => assert!(
            message.contains("a panic the writer's tests put in a round"),
            "{message}"
        ),
        other => panic!("expected the batch to fail as unavailable, got {other:?}"),
    }
    assert!(store.writer_running());
    // The next request commits: the panicked batch's transaction did not stay open.
    let journal_id = refuse("elsewhere").await.expect("recorded").journal_id;
    let journal = store.journal(None, 10).await.expect("journal");
    assert_eq!(
        journal.iter().map(|e| e.id).collect::<Vec<_>>(),
        [journal_id]
    );
    store.close().await;
    assert!(!store.writer_running());
    assert!(matches!(
        refuse("after closing").await,
        Err(DbError::Unavailable(_))
    ));
    schema.drop().await;
}
