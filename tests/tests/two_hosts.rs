//! Two hosts on one PostgreSQL database, as in a deployment with two web servers behind a load
//! balancer. Both run inside this one test process, as two `AppState`s: each has its own state, its own
//! connection pool, its own write engine and its own HTTP listener, and they share only the database
//! (the host keeps no process-wide state that bears on this: only SQL text and the list of loaded
//! libraries). So this stands for two host processes where the database is concerned, not for anything
//! process-level; `no_loss.rs` runs the real binary as a separate process. The same notifications
//! reach both at once, and both run the deadline-expiry job at once; the row locks and guarded updates
//! in the schema must make every effect happen exactly once.
//!
//! PostgreSQL only (SQLite is one file on one machine). The test follows the harness's rule: it runs
//! wherever `SHOPHOST_TEST_PG_URL` is set, and in CI a missing URL is a failure, not a skip.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use common::*;
use shophost::AppState;
use tokio::sync::Semaphore;

/// Card notifications sent to both hosts.
const CARD_ORDERS: usize = 100;
/// Unpaid multi-payment orders past their deadline.
const OVERDUE_ORDERS: usize = 20;
/// Rounds of the expiry job, each run on both hosts at once.
const JOB_ROUNDS: usize = 4;

/// The second host: its own state (own pool, own engine) on the first shop's database, serving HTTP
/// on its own port.
struct SecondHost {
    state: AppState,
    base: String,
}

async fn second_host(shop: &Shop) -> SecondHost {
    let registry = shophost::bundled::registry(vec![]).expect("registry");
    let config = shop.state.config.as_ref().clone();
    let state = shophost::serve::build_state(config, registry)
        .await
        .expect("the second host starts on the same database");
    assert_eq!(state.store.backend(), "postgres");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    shophost::serve::spawn_server(state.clone(), listener);
    SecondHost { state, base }
}

/// A shop on a fresh PostgreSQL schema and a second host on it; `None` (said on stderr) where no
/// PostgreSQL is configured, which CI does not allow.
async fn two_hosts(test: &str) -> Option<(Shop, SecondHost)> {
    let Some(server_url) = postgres_url() else {
        eprintln!("SHOPHOST_TEST_PG_URL is not set: {test} did not run");
        return None;
    };
    let shop = Shop::start_with(Options {
        database: Database::Postgres(server_url),
        ..Options::default()
    })
    .await;
    let second = second_host(&shop).await;
    Some((shop, second))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_on_one_postgres_apply_each_notification_and_each_expiry_once() {
    let Some((shop, second)) = two_hosts("the two-host test").await else {
        return;
    };
    let hosts = [
        shop.notify_url("remise_card"),
        format!("{}/index.php?acting=remise_card", second.base),
    ];

    // -- the same card notification to both hosts at once --------------------------------------
    let card = shop.method_id(CARD).await;
    let mut card_keys = Vec::with_capacity(CARD_ORDERS);
    for _ in 0..CARD_ORDERS {
        card_keys.push(shop.checkout_with_method(card, &[], None).await);
    }
    let gate = Arc::new(Semaphore::new(32));
    let mut sends = tokio::task::JoinSet::new();
    for (index, link_key) in card_keys.iter().enumerate() {
        let body = sjis_form(&card_success(link_key, &format!("TH{index:06}"), MUG_PRICE));
        let (gate, http, hosts, link_key) = (
            gate.clone(),
            shop.http.clone(),
            hosts.clone(),
            link_key.clone(),
        );
        sends.spawn(async move {
            let _permit = gate.acquire_owned().await.expect("gate");
            let send = |url: String| {
                let request = http
                    .post(url)
                    .header(
                        "content-type",
                        "application/x-www-form-urlencoded; charset=Shift_JIS",
                    )
                    .body(body.clone());
                async move {
                    let response = request.send().await.expect("send");
                    let status = response.status().as_u16();
                    (status, response.text().await.expect("body"))
                }
            };
            let [first, second] = hosts;
            let (first, second) = tokio::join!(send(first), send(second));
            (link_key, first, second)
        });
    }
    while let Some(sent) = sends.join_next().await {
        let (link_key, first, second) = sent.expect("sender");
        let ack = (200, ACK.to_owned());
        assert_eq!(first, ack, "host 1 acknowledges {link_key}");
        assert_eq!(second, ack, "host 2 acknowledges {link_key}");
    }
    for (index, link_key) in card_keys.iter().enumerate() {
        let order = shop.order_detail(link_key).await;
        assert_eq!(
            (order.status.as_str(), order.history.len(), order.events),
            ("captured", 1, 1),
            "{link_key}"
        );
        assert_eq!(order.order["transaction_id"], format!("TH{index:06}"));
        assert_eq!(
            journal_verdicts(&shop.state, link_key).await,
            verdicts(&[("accepted", 1), ("duplicate", 1)]),
            "{link_key}"
        );
    }

    // -- unpaid multi-payment orders whose deadline has passed ----------------------------------
    let conv = shop.method_id(CONV).await;
    let mut overdue = Vec::with_capacity(OVERDUE_ORDERS);
    for index in 0..OVERDUE_ORDERS {
        let link_key = shop.checkout_with_method(conv, &[], None).await;
        // A slip issued with a deadline long gone, and no receipt: half through each host.
        let fields = conv_issued(
            &link_key,
            &format!("2020010100{index:07}"),
            MUG_PRICE,
            "20200101",
        );
        let url = if index % 2 == 0 {
            shop.notify_url("remise_conv")
        } else {
            format!("{}/index.php?acting=remise_conv", second.base)
        };
        let answer = shop.post_sjis(&url, &fields).await;
        assert_eq!((answer.status, answer.text().as_str()), (200, ACK));
        let order = shop.order_detail(&link_key).await;
        assert_eq!(order.status, "unpaid");
        overdue.push((link_key, order.number));
    }
    // One whose deadline is still ahead must be left alone.
    let current = shop.checkout_with_method(conv, &[], None).await;
    let answer = shop
        .notify(
            "remise_conv",
            &conv_issued(&current, "20991231000000001", MUG_PRICE, "20991231"),
        )
        .await;
    assert_eq!(answer.text(), ACK);

    let mut expired_by: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for _ in 0..JOB_ROUNDS {
        let now = shophost::domain::now_millis();
        let (first, second) = tokio::join!(
            shophost::jobs::run_once(&shop.state, now),
            shophost::jobs::run_once(&second.state, now),
        );
        for (host, report) in [("host 1", first), ("host 2", second)] {
            let report = report.unwrap_or_else(|e| panic!("{host}'s job failed: {e}"));
            for number in report.expired {
                expired_by.entry(number).or_default().push(host);
            }
        }
    }
    let expected: BTreeSet<String> = overdue.iter().map(|(_, number)| number.clone()).collect();
    assert_eq!(
        expired_by.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "exactly the overdue orders expired"
    );
    for (number, hosts) in &expired_by {
        assert_eq!(hosts.len(), 1, "{number} expired once, not by {hosts:?}");
    }
    for (link_key, _) in &overdue {
        let order = shop.order_detail(link_key).await;
        assert_eq!(
            (order.status.as_str(), order.label.as_str()),
            ("expired", "期限切れ"),
            "{link_key}"
        );
        let statuses: Vec<&str> = order.history.iter().map(|(to, _)| to.as_str()).collect();
        assert_eq!(
            statuses,
            ["unpaid", "expired"],
            "{link_key}: one expiry entry"
        );
        assert_eq!(order.events, 1, "{link_key}");
    }
    assert_eq!(shop.order_detail(&current).await.status, "unpaid");
    for link_key in &card_keys {
        assert_eq!(shop.order_detail(link_key).await.history.len(), 1);
    }
    shop.finish().await;
}

/// A shopper whose requests a load balancer spreads over both hosts keeps one cart and one login:
/// storefront sessions live in the database, not in one host's memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_moves_between_hosts_and_keeps_cart_and_login() {
    let Some((shop, second)) = two_hosts("the two-host session test").await else {
        return;
    };
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let first_base = shop.absolute("");
    let mut cookie: Option<String> = None;
    // One request of the shopper to `base`, carrying the session cookie; returns the status, the cookie
    // set (if any) and the page.
    async fn send(
        http: &reqwest::Client,
        cookie: &Option<String>,
        base: &str,
        method: &str,
        path: &str,
        form: &[(&str, &str)],
    ) -> (u16, Option<String>, String) {
        let mut request = match method {
            "POST" => http.post(format!("{base}{path}")).form(form),
            _ => http.get(format!("{base}{path}")),
        };
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie.as_str());
        }
        let response = request.send().await.expect("the host answers");
        let set = response
            .headers()
            .get("set-cookie")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .map(str::to_owned);
        let status = response.status().as_u16();
        (status, set, response.text().await.unwrap_or_default())
    }
    let (status, set, _) = send(
        &http,
        &cookie,
        &first_base,
        "POST",
        "/cart/add",
        &[("product_id", "2"), ("quantity", "3")],
    )
    .await;
    assert_eq!(status, 303);
    cookie = set;
    assert!(cookie.is_some(), "the first host started a session");
    let (status, _, page) = send(&http, &cookie, &second.base, "GET", "/cart", &[]).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("今治タオル ハンカチ"),
        "the second host sees the cart: {page}"
    );

    // Log in on the second host (the id rotates), then the first host knows the member.
    let (status, set, _) = send(
        &http,
        &cookie,
        &second.base,
        "POST",
        "/login",
        &[
            ("email", MEMBER.0),
            ("password", MEMBER.1),
            ("next", "/mypage"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let rotated = set.expect("login rotates the session id");
    assert_ne!(Some(&rotated), cookie.as_ref());
    cookie = Some(rotated);
    let (status, _, page) = send(&http, &cookie, &first_base, "GET", "/mypage", &[]).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("demo@example.invalid"), "{page}");
    let (_, _, page) = send(&http, &cookie, &first_base, "GET", "/cart", &[]).await;
    assert!(
        page.contains("今治タオル ハンカチ"),
        "the cart survived the login: {page}"
    );

    // Logging out on one host ends the session on both.
    let (status, _, _) = send(&http, &cookie, &first_base, "POST", "/logout", &[]).await;
    assert_eq!(status, 303);
    let (status, _, _) = send(&http, &cookie, &second.base, "GET", "/mypage", &[]).await;
    assert_eq!(status, 303, "the second host forgot the login too");
    drop(second);
    shop.finish().await;
}
