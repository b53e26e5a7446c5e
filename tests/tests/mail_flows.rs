//! Mail, end to end (continued from `mail.rs`): several delivery workers on one outbox (on PostgreSQL
//! two hosts' workers) send each mail once; the shop's notice of a 決済エラー and the member's 継続課金
//! confirmation arrive with what they are about; STARTTLS and implicit TLS with AUTH reach a server a
//! private CA vouches for, and nothing is sent without TLS or to an untrusted certificate; and the real
//! `shophost` binary killed with SIGKILL after committing an order but before sending its mails sends
//! each of them once after a restart. Every message goes over SMTP to `smtp-sink` on a loopback port
//! and is read back with `mail-parser`.
//!
//! Each runs on SQLite, and on PostgreSQL by the harness's rule (`SHOPHOST_TEST_PG_URL`; in CI a
//! missing URL is a failure); TLS, which no database touches, on SQLite.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::host_process::HostProcess;
use common::smtp::*;
use common::*;
use serde_json::json;
use shophost::mail::{MailFilter, MailStatus};

// -- several workers ------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_send_each_mail_once_on_sqlite() {
    three_workers(Database::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_send_each_mail_once_on_postgres() {
    let Some(url) = postgres_url() else { return };
    three_workers(Database::Postgres(url)).await;
}

const ORDERS: usize = 20;

/// Three workers claim from one outbox at once (on PostgreSQL with `FOR UPDATE SKIP LOCKED`, one of
/// them a second host's): every mail goes once.
async fn three_workers(database: Database) {
    let dir = scratch();
    let sink = SmtpSink::start(&dir, "127.0.0.1:0");
    let shop = Arc::new(shop_sending_to(database, sink.address.port()).await);
    let mut link_keys = Vec::new();
    for _ in 0..ORDERS {
        link_keys.push(shop.checkout(CARD, &[], None).await);
    }
    let mut sends = tokio::task::JoinSet::new();
    for (index, link_key) in link_keys.iter().enumerate() {
        let (shop, body) = (
            shop.clone(),
            card_success(link_key, &format!("TS{index:06}"), MUG_PRICE),
        );
        sends.spawn(async move { shop.notify("remise_card", &body).await.text() });
    }
    while let Some(answer) = sends.join_next().await {
        assert_eq!(answer.expect("a sender"), ACK);
    }
    // On PostgreSQL the third worker is a second host's: its own state and pool on the same database,
    // as two web servers behind a load balancer (`two_hosts.rs`).
    let other = match shop.state.store.backend() {
        "postgres" => {
            let registry = shophost::bundled::registry(vec![]).expect("registry");
            shophost::serve::build_state(shop.state.config.as_ref().clone(), registry)
                .await
                .expect("a second host on the same database")
        }
        _ => shop.state.clone(),
    };
    let workers = [
        shophost::mail::worker::spawn(shop.state.clone()),
        shophost::mail::worker::spawn(shop.state.clone()),
        shophost::mail::worker::spawn(other),
    ];
    wait_for_messages(&dir, 2 * ORDERS).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let messages = delivered(&dir);
    assert_eq!(messages.len(), 2 * ORDERS, "each mail once");
    let mut subjects: Vec<String> = messages.iter().map(Delivered::subject).collect();
    subjects.sort();
    subjects.dedup();
    assert_eq!(subjects.len(), 2 * ORDERS, "no mail twice");
    let outbox = shop
        .state
        .store
        .mails(&MailFilter::default(), 1000)
        .await
        .expect("the outbox");
    assert_eq!(outbox.len(), 2 * ORDERS);
    for mail in &outbox {
        assert_eq!(
            (mail.status, mail.attempts),
            (MailStatus::Sent, 1),
            "{mail:?}"
        );
    }
    for worker in workers {
        worker.abort();
    }
    let shop = Arc::into_inner(shop).expect("no sender left");
    shop.finish().await;
    let _ = std::fs::remove_dir_all(dir);
}

// -- the shop's 決済エラー notice and the 継続課金 confirmation --------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_notice_and_contract_mail_on_sqlite() {
    error_notice_and_contract(Database::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_notice_and_contract_mail_on_postgres() {
    let Some(url) = postgres_url() else { return };
    error_notice_and_contract(Database::Postgres(url)).await;
}

async fn error_notice_and_contract(database: Database) {
    let dir = scratch();
    let sink = SmtpSink::start(&dir, "127.0.0.1:0");
    let shop = shop_sending_to(database, sink.address.port()).await;
    let worker = shophost::mail::worker::spawn(shop.state.clone());

    // A declined card: a 決済エラーログ line, and the shop hears of it.
    let declined = shop.checkout(CARD, &[], None).await;
    let decline = with(
        with(
            with(
                card_success(&declined, "TS000009", MUG_PRICE),
                "X-ERRCODE",
                "G12",
            ),
            "X-ERRLEVEL",
            "1",
        ),
        "X-R_CODE",
        "1:0012",
    );
    assert_eq!(shop.notify("remise_card", &decline).await.text(), ACK);
    let messages = wait_for_messages(&dir, 1).await;
    let notice = &messages[0];
    assert_eq!(notice.recipients, ["owner@example.jp"]);
    assert_eq!(
        notice.subject(),
        "【テストショップ】決済エラーが発生しました"
    );
    let body = notice.body();
    assert!(body.contains(&format!("リンクキー: {declined}")), "{body}");
    assert!(body.contains("/admin/settlement-errors"), "{body}");

    // The demo member subscribes to the monthly product: order, contract and its confirmation.
    let product = shop
        .state
        .store
        .product_by_sku("SKU005")
        .await
        .expect("products")
        .expect("the demo's recurring product");
    let method = shop.method_id(CARD).await;
    let page = shop
        .post_json(
            "/api/checkout",
            &json!({
                "lines": [{"product_id": product.id, "quantity": 1}],
                "customer": customer(),
                "payment_method_id": method,
                "member": {"email": MEMBER.0, "password": MEMBER.1},
            }),
        )
        .await;
    assert_eq!(page.status, 201, "{}", page.text());
    let link_key = page.json()["link_key"]
        .as_str()
        .expect("link key")
        .to_owned();
    let back = shop
        .pay_by_card(&link_key, CardEntry::Number(CARD_OK))
        .await;
    assert!(back.action.ends_with("/ok"), "{}", back.page);
    let messages = wait_for_messages(&dir, 4).await;
    let contract_mail = messages
        .iter()
        .find(|m| m.subject().contains("継続課金のお申し込みを承りました"))
        .expect("the contract's mail");
    assert_eq!(contract_mail.recipients, ["taro@example.jp"]);
    let body = contract_mail.body();
    for expected in [
        format!("商品: {}", product.name),
        format!("金額: {}（毎回）", shophost::http::html::yen(product.price)),
        "課金間隔: 毎月".to_owned(),
        "次回課金予定日: ".to_owned(),
    ] {
        assert!(body.contains(&expected), "{expected:?} in\n{body}");
    }
    worker.abort();
    shop.finish().await;
    let _ = std::fs::remove_dir_all(dir);
}

// -- TLS -------------------------------------------------------------------------------------------

/// A shop on SQLite sending to `port` with `tls`, trusting `ca_file`, and its worker.
async fn tls_shop(
    port: u16,
    tls: &str,
    ca_file: Option<&str>,
) -> (Shop, tokio::task::JoinHandle<()>) {
    let shop = Shop::start_with(Options {
        extra_config: mail_config_tls(port, tls, ca_file),
        ..Options::default()
    })
    .await;
    let worker = shophost::mail::worker::spawn(shop.state.clone());
    (shop, worker)
}

/// A paid card order; returns when its notification was acknowledged.
async fn card_order(shop: &Shop) {
    let link_key = shop.checkout(CARD, &[], None).await;
    let answer = shop
        .notify(
            "remise_card",
            &card_success(&link_key, "TS000001", MUG_PRICE),
        )
        .await;
    assert_eq!(answer.text(), ACK);
}

/// The first mail of the outbox tried at least twice (waiting for its next try).
async fn refused_twice(shop: &Shop) -> shophost::mail::OutboxMail {
    let start = std::time::Instant::now();
    loop {
        let mails = shop
            .state
            .store
            .mails(&MailFilter::default(), 10)
            .await
            .expect("the outbox");
        if let Some(mail) = mails.iter().find(|m| m.attempts >= 2) {
            return mail.clone();
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{mails:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// STARTTLS and implicit TLS (rustls) with AUTH PLAIN deliver to a server whose certificate a private CA
/// signed, trusted through `ca_file`; a server that offers no STARTTLS, or a certificate not trusted,
/// gets nothing (no credentials, no message) and the mail says why and waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_and_implicit_tls_with_auth() {
    let ca = fixture("ca.pem");
    for mode in ["starttls", "implicit"] {
        let dir = scratch();
        let sink = SmtpSink::start_tls(&dir, mode);
        let (shop, worker) = tls_shop(sink.address.port(), mode, Some(&ca)).await;
        card_order(&shop).await;
        let messages = wait_for_messages(&dir, 2).await;
        assert!(
            messages
                .iter()
                .any(|m| m.subject().contains("ご注文内容のご確認")),
            "{mode}"
        );
        worker.abort();
        shop.finish().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    // STARTTLS is required: a server that does not offer it gets nothing.
    let dir = scratch();
    let sink = SmtpSink::start(&dir, "127.0.0.1:0");
    let (shop, worker) = tls_shop(sink.address.port(), "starttls", Some(&ca)).await;
    card_order(&shop).await;
    let mail = refused_twice(&shop).await;
    assert_eq!(mail.status, MailStatus::Retry);
    assert!(
        mail.last_error
            .as_deref()
            .unwrap_or("")
            .contains("STARTTLS")
            || mail.last_error.as_deref().unwrap_or("").contains("TLS"),
        "{:?}",
        mail.last_error
    );
    assert!(delivered(&dir).is_empty());
    worker.abort();
    shop.finish().await;
    drop(sink);
    let _ = std::fs::remove_dir_all(dir);

    // A certificate no trusted CA signed: nothing is sent.
    let dir = scratch();
    let sink = SmtpSink::start_tls(&dir, "implicit");
    let (shop, worker) = tls_shop(sink.address.port(), "implicit", None).await;
    card_order(&shop).await;
    let mail = refused_twice(&shop).await;
    assert_eq!(mail.status, MailStatus::Retry);
    assert!(
        mail.last_error
            .as_deref()
            .unwrap_or("")
            .contains("certificate"),
        "{:?}",
        mail.last_error
    );
    assert!(delivered(&dir).is_empty());
    worker.abort();
    shop.finish().await;
    let _ = std::fs::remove_dir_all(dir);
}

// -- SIGKILL between the order's commit and the send ---------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_killed_before_sending_sends_once_after_restart_on_sqlite() {
    killed_before_sending(Database::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_killed_before_sending_sends_once_after_restart_on_postgres() {
    let Some(url) = postgres_url() else { return };
    killed_before_sending(Database::Postgres(url)).await;
}

/// The real `shophost` binary takes a card notification while its SMTP server is down, acknowledges
/// it (the order and its mails committed) and is killed with SIGKILL before any mail could go; the
/// SMTP server comes up and the host is started again on the same database: each mail arrives once.
async fn killed_before_sending(database: Database) {
    let dir = scratch();
    let (database_url, schema) = match &database {
        Database::Sqlite => (format!("sqlite:{}", dir.join("shop.db").display()), None),
        Database::Postgres(server) => {
            let (url, schema) = fresh_postgres_schema(server).await.expect("a schema");
            (url, Some((server.clone(), schema)))
        }
    };
    let smtp_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let shop_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let address: SocketAddr = ([127, 0, 0, 1], shop_port).into();
    let base = format!("http://{address}");
    let config = dir.join("shophost.toml");
    let options = Options {
        extra_config: mail_config(smtp_port),
        ..Options::default()
    };
    std::fs::write(&config, child_config_text(&options, address, &database_url))
        .expect("write the config");
    let log = dir.join("shophost.log");
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let host = HostProcess::start(&config, &log, &base, &http).await;

    let methods: serde_json::Value = serde_json::from_slice(
        &http
            .get(format!("{base}/api/payment-methods"))
            .send()
            .await
            .expect("payment methods")
            .bytes()
            .await
            .expect("payment methods"),
    )
    .expect("JSON");
    let method = methods["payment_methods"]
        .as_array()
        .expect("methods")
        .iter()
        .find(|m| m["settlement_type"] == CARD)
        .and_then(|m| m["id"].as_i64())
        .expect("a card method");
    let checkout = json!({
        "lines": [{"product_id": 1, "quantity": 1}],
        "customer": customer(),
        "payment_method_id": method,
        "options": {},
    });
    let created: serde_json::Value = serde_json::from_slice(
        &http
            .post(format!("{base}/api/checkout"))
            .header("content-type", "application/json")
            .body(checkout.to_string())
            .send()
            .await
            .expect("checkout")
            .bytes()
            .await
            .expect("body"),
    )
    .expect("JSON");
    let link_key = created["link_key"].as_str().expect("link key").to_owned();
    let answer = http
        .post(format!("{base}/index.php?acting=remise_card"))
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=Shift_JIS",
        )
        .body(sjis_form(&card_success(&link_key, "TS000001", MUG_PRICE)))
        .send()
        .await
        .expect("the notification")
        .text()
        .await
        .expect("the answer");
    assert_eq!(answer, ACK);
    // Acknowledged, so committed: the order and its two mails. Killed before anything was sent.
    host.kill().await;

    let sink_dir = dir.join("sink");
    let _sink = SmtpSink::start(&sink_dir, &format!("127.0.0.1:{smtp_port}"));
    assert!(delivered(&sink_dir).is_empty());
    let host = HostProcess::start(&config, &log, &base, &http).await;
    // A claim the killed host held runs out after its lease (three SMTP timeouts and ten seconds).
    let messages = wait_for_messages_within(&sink_dir, 2, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let messages_later = delivered(&sink_dir);
    assert_eq!(messages_later.len(), 2, "each mail once");
    let mut recipients: Vec<_> = messages.iter().map(|m| m.recipients.join(",")).collect();
    recipients.sort();
    assert_eq!(recipients, ["owner@example.jp", "taro@example.jp"]);
    assert!(messages
        .iter()
        .any(|m| m.subject().contains("ご注文内容のご確認")));
    host.kill().await;
    if let Some((server, schema)) = schema {
        drop_postgres_schema(&server, &schema).await;
    }
    let _ = std::fs::remove_dir_all(dir);
}
