//! The database going away under a running shop: PostgreSQL cut off behind a TCP proxy, and SQLite
//! refusing writes. Notifications must then be answered with Remise's "unavailable" (HTTP 503,
//! `error2`, so Remise retries), nothing may be acknowledged that was not stored, nothing may change,
//! and when the database is back the shop must work again by itself: the same notifications are then
//! acknowledged and applied exactly once.

mod common;

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use common::*;
use sqlx::Connection;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Remise's "unavailable" answer.
const UNAVAILABLE: (u16, &str) = (503, "error2");

/// Asserts that nothing happened for `link_key`: no order, no payment event, no journal entry, and
/// the attempt still open.
async fn assert_untouched(shop: &Shop, link_key: &str) {
    assert!(
        shop.order(link_key).await.is_none(),
        "no order for {link_key}"
    );
    assert_eq!(
        shop.state
            .store
            .payment_event_count(link_key)
            .await
            .expect("events"),
        0,
        "no payment event for {link_key}"
    );
    assert!(
        shop.journal(link_key).await.is_empty(),
        "nothing journaled for {link_key}"
    );
    assert_eq!(shop.attempt(link_key).await["state"], "open", "{link_key}");
}

/// Asserts that `link_key`'s card payment was applied once: captured, one history line, one event,
/// and exactly one accepted journal entry beside `duplicates` duplicates.
async fn assert_applied_once(shop: &Shop, link_key: &str, duplicates: usize) {
    let order = shop.order_detail(link_key).await;
    assert_eq!(
        (order.status.as_str(), order.history.len(), order.events),
        ("captured", 1, 1),
        "{link_key}"
    );
    assert_eq!(
        journal_verdicts(&shop.state, link_key).await,
        verdicts(&[("accepted", 1), ("duplicate", duplicates)]),
        "{link_key}"
    );
}

async fn answer(page: Page) -> (u16, String) {
    (page.status, page.text())
}

// -- PostgreSQL behind a proxy we can cut -----------------------------------------------------------

/// A TCP proxy to the PostgreSQL server. Cutting it drops every live connection and hangs up on new
/// ones at once; restoring it forwards new connections again. The real server is never touched (other
/// tests share it).
struct PgProxy {
    address: SocketAddr,
    cut: watch::Sender<bool>,
}

impl PgProxy {
    async fn start(upstream: SocketAddr) -> PgProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let (cut, is_cut) = watch::channel(false);
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if *is_cut.borrow() {
                    drop(client);
                    continue;
                }
                let mut is_cut = is_cut.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        // Dropping both ends is what a dead server or a pulled cable looks like.
                        _ = is_cut.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        PgProxy { address, cut }
    }

    fn cut(&self) {
        self.cut.send_replace(true);
    }

    fn restore(&self) {
        self.cut.send_replace(false);
    }
}

/// Splits `postgres://user@host:port/db?x` into the text before the host, `host:port` and the rest.
fn split_server_url(url: &str) -> (String, String, String) {
    let scheme_end = url.find("://").expect("a URL with a scheme") + 3;
    let authority_end = url[scheme_end..]
        .find(['/', '?'])
        .map_or(url.len(), |i| scheme_end + i);
    let host_start = url[scheme_end..authority_end]
        .rfind('@')
        .map_or(scheme_end, |i| scheme_end + i + 1);
    let mut host = url[host_start..authority_end].to_owned();
    if !host.contains(':') {
        host.push_str(":5432");
    }
    (
        url[..host_start].to_owned(),
        host,
        url[authority_end..].to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cut_off_gives_error2_and_the_shop_recovers_by_itself() {
    let Some(server_url) = postgres_url() else {
        eprintln!("SHOPHOST_TEST_PG_URL is not set: the PostgreSQL outage test did not run");
        return;
    };
    let (before, host, after) = split_server_url(&server_url);
    let upstream = tokio::net::lookup_host(&host)
        .await
        .expect("resolve the PostgreSQL server")
        .next()
        .expect("an address for the PostgreSQL server");
    let proxy = PgProxy::start(upstream).await;
    let shop = Shop::start_with(Options {
        database: Database::Postgres(format!("{before}{}{after}", proxy.address)),
        ..Options::default()
    })
    .await;
    let method = shop.method_id(CARD).await;
    let stored = shop.checkout_with_method(method, &[], None).await;
    let waiting = shop.checkout_with_method(method, &[], None).await;
    let stored_fields = card_success(&stored, "T0001", MUG_PRICE);
    let waiting_fields = card_success(&waiting, "T0002", MUG_PRICE);
    assert_eq!(
        answer(shop.notify("remise_card", &stored_fields).await).await,
        (200, ACK.to_owned())
    );
    assert_eq!(shop.get("/healthz").await.status, 200);

    // The database goes away. Every request waits for the pool (at most its 5 s acquire timeout) and
    // is then answered "unavailable": a new notification, a copy of one already stored (the shop
    // cannot know that without its database, so it must not claim it), and a malformed one (it cannot
    // even be journaled). Few requests, all at once, so the outage costs one timeout.
    proxy.cut();
    let garbage = pairs(&[("X-S_TORIHIKI_NO", waiting.as_str())]);
    let (health, new, copy, malformed) = tokio::join!(
        shop.get("/healthz"),
        shop.notify("remise_card", &waiting_fields),
        shop.notify("remise_card", &stored_fields),
        shop.notify("remise_card", &garbage),
    );
    assert_eq!(health.status, 503, "{}", health.text());
    assert_eq!(health.json()["status"], "unavailable");
    for (name, page) in [("new", new), ("copy", copy), ("malformed", malformed)] {
        assert_eq!(
            (page.status, page.text().as_str()),
            UNAVAILABLE,
            "the {name} notification during the outage"
        );
    }

    // The database is back; the shop needs no restart. The pool reconnects on the next request.
    proxy.restore();
    let mut health = shop.get("/healthz").await;
    for _ in 0..100 {
        if health.status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        health = shop.get("/healthz").await;
    }
    assert_eq!(health.status, 200, "{}", health.text());
    assert_eq!(health.json()["database"], "postgres");
    // Nothing the outage's requests carried was stored or changed.
    assert_untouched(&shop, &waiting).await;
    assert_applied_once(&shop, &stored, 0).await;
    assert_eq!(
        shop.state
            .store
            .journal(None, 100)
            .await
            .expect("journal")
            .len(),
        1,
        "only the notification before the outage is journaled"
    );

    // Remise retries: now acknowledged and applied once; later copies are duplicates.
    for _ in 0..2 {
        assert_eq!(
            answer(shop.notify("remise_card", &waiting_fields).await).await,
            (200, ACK.to_owned())
        );
    }
    assert_eq!(
        answer(shop.notify("remise_card", &stored_fields).await).await,
        (200, ACK.to_owned())
    );
    assert_applied_once(&shop, &waiting, 1).await;
    assert_applied_once(&shop, &stored, 1).await;
    shop.finish().await;
}

// -- SQLite refusing writes -------------------------------------------------------------------------

/// A connection of our own to the shop's SQLite file, to change its schema under it.
async fn sqlite_connection(shop: &Shop) -> sqlx::SqliteConnection {
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(&shop.state.config.database_url)
        .expect("the shop's SQLite URL")
        .busy_timeout(Duration::from_secs(30));
    sqlx::SqliteConnection::connect_with(&options)
        .await
        .expect("open the shop's database")
}

/// Makes inserts into the journal fail (all of them, or only those for `only`) until dropped: every
/// notification needs a journal entry in the same transaction as its effect, so this makes the
/// database unwritable for notifications.
async fn refuse_journal_writes(connection: &mut sqlx::SqliteConnection, only: Option<&str>) {
    let when = match only {
        Some(link_key) => format!("WHEN NEW.link_key = '{link_key}'"),
        None => String::new(),
    };
    sqlx::query(&format!(
        "CREATE TRIGGER db_down_refuses_writes BEFORE INSERT ON notification_journal {when} \
         BEGIN SELECT RAISE(ABORT, 'db_down refuses writes'); END"
    ))
    .execute(&mut *connection)
    .await
    .expect("create the trigger");
}

async fn allow_journal_writes(connection: &mut sqlx::SqliteConnection) {
    sqlx::query("DROP TRIGGER db_down_refuses_writes")
        .execute(&mut *connection)
        .await
        .expect("drop the trigger");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_refusing_writes_gives_error2_and_nothing_changes() {
    let shop = Shop::start().await;
    let method = shop.method_id(CARD).await;
    let link_key = shop.checkout_with_method(method, &[], None).await;
    let fields = card_success(&link_key, "T0001", MUG_PRICE);
    let mut connection = sqlite_connection(&shop).await;

    refuse_journal_writes(&mut connection, None).await;
    for _ in 0..2 {
        assert_eq!(
            answer(shop.notify("remise_card", &fields).await).await,
            (UNAVAILABLE.0, UNAVAILABLE.1.to_owned())
        );
    }
    // A refusal must be journaled too; when it cannot be, it is not answered as a refusal either.
    let malformed = shop
        .notify(
            "remise_card",
            &pairs(&[("X-S_TORIHIKI_NO", link_key.as_str())]),
        )
        .await;
    assert_eq!(
        answer(malformed).await,
        (UNAVAILABLE.0, UNAVAILABLE.1.to_owned())
    );
    // Several at once. Those that share a group commit make it fail; each is then retried in a
    // transaction of its own and fails alone, so every one is answered `error2`.
    let others: Vec<String> = {
        let mut keys = Vec::new();
        for _ in 0..6 {
            keys.push(shop.checkout_with_method(method, &[], None).await);
        }
        keys
    };
    let mut sends = tokio::task::JoinSet::new();
    for (index, other) in others.iter().enumerate() {
        let (url, http) = (shop.notify_url("remise_card"), shop.http.clone());
        let body = sjis_form(&card_success(other, &format!("T01{index:02}"), MUG_PRICE));
        sends.spawn(async move {
            let response = http
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .expect("send");
            let status = response.status().as_u16();
            (status, response.text().await.expect("body"))
        });
    }
    while let Some(sent) = sends.join_next().await {
        let (status, body) = sent.expect("sender");
        assert_eq!((status, body.as_str()), UNAVAILABLE);
    }
    assert_untouched(&shop, &link_key).await;
    for other in &others {
        assert_untouched(&shop, other).await;
    }
    assert!(shop
        .state
        .store
        .journal(None, 100)
        .await
        .expect("journal")
        .is_empty());

    // Writable again: no restart, the same notification is acknowledged and applied once.
    allow_journal_writes(&mut connection).await;
    for _ in 0..2 {
        assert_eq!(
            answer(shop.notify("remise_card", &fields).await).await,
            (200, ACK.to_owned())
        );
    }
    assert_applied_once(&shop, &link_key, 1).await;
    connection.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failing_write_in_a_group_commit_fails_alone() {
    let shop = Shop::start().await;
    let method = shop.method_id(CARD).await;
    let mut link_keys = Vec::new();
    for _ in 0..8 {
        link_keys.push(shop.checkout_with_method(method, &[], None).await);
    }
    let blocked = link_keys[3].clone();
    let mut connection = sqlite_connection(&shop).await;
    refuse_journal_writes(&mut connection, Some(&blocked)).await;

    // All at once, round after round, until the failing one has shared a group commit with others (at
    // least three rounds; the bound only keeps a writer that never groups from looping for ever). A
    // group commit that fails is what `retries` counts: its requests are then retried one each, and
    // only the blocked request can make one fail.
    let mut rounds: u64 = 0;
    while rounds < 3 || (shop.state.store.writer_counts().retries == 0 && rounds < 50) {
        let round = rounds;
        rounds += 1;
        let mut sends = tokio::task::JoinSet::new();
        for (index, link_key) in link_keys.iter().enumerate() {
            let (url, http) = (shop.notify_url("remise_card"), shop.http.clone());
            let body = sjis_form(&card_success(
                link_key,
                &format!("T02{index:02}"),
                MUG_PRICE,
            ));
            let link_key = link_key.clone();
            sends.spawn(async move {
                let response = http
                    .post(url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await
                    .expect("send");
                let status = response.status().as_u16();
                (link_key, status, response.text().await.expect("body"))
            });
        }
        while let Some(sent) = sends.join_next().await {
            let (link_key, status, body) = sent.expect("sender");
            let expected = if link_key == blocked {
                UNAVAILABLE
            } else {
                (200, ACK)
            };
            assert_eq!(
                (status, body.as_str()),
                expected,
                "round {round}, {link_key}"
            );
        }
    }
    let writer = shop.state.store.writer_counts();
    eprintln!("group commit with a failing write: {rounds} rounds, {writer:?}");
    assert!(
        (1..=rounds).contains(&writer.retries),
        "the failing write shared a group commit (which failed and was retried) in some of the \
         {rounds} rounds, at most once per round: {writer:?}"
    );
    let metrics = shop.metrics().await;
    let line = format!("shophost_db_group_commit_retries_total {}", writer.retries);
    assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
    assert_untouched(&shop, &blocked).await;
    for link_key in link_keys.iter().filter(|k| **k != blocked) {
        assert_applied_once(&shop, link_key, rounds as usize - 1).await;
    }

    allow_journal_writes(&mut connection).await;
    let index = 3;
    let answer = shop
        .notify(
            "remise_card",
            &card_success(&blocked, &format!("T02{index:02}"), MUG_PRICE),
        )
        .await;
    assert_eq!((answer.status, answer.text().as_str()), (200, ACK));
    assert_applied_once(&shop, &blocked, 0).await;
    connection.close().await.expect("close");
}

#[test]
fn server_urls_split_around_the_host() {
    assert_eq!(
        split_server_url("postgres://postgres@127.0.0.1:5432/test"),
        (
            "postgres://postgres@".to_owned(),
            "127.0.0.1:5432".to_owned(),
            "/test".to_owned()
        )
    );
    assert_eq!(
        split_server_url("postgresql://u:p@db/x?sslmode=disable"),
        (
            "postgresql://u:p@".to_owned(),
            "db:5432".to_owned(),
            "/x?sslmode=disable".to_owned()
        )
    );
}
