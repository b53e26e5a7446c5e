//! Mail, end to end: the shop's outbox delivered over SMTP to a real SMTP server process
//! (`smtp-sink`, this crate's binary) on a loopback port, and each delivered message read back as a
//! mail reader would (`mail-parser`).
//!
//! - The コンビニ order's 注文確認メール carries the slip's 払込番号, URL and deadline, its subject decodes
//!   to Japanese, and From, Reply-To, Date and Message-ID are there; the shop's notice goes to the notice
//!   address; the 収納情報通知 sends the 入金確認メール. A storm of duplicate notifications sends one
//!   mail per order.
//! - With the SMTP server down, nothing is lost: the mail waits (再送待ち, each attempt recorded) and
//!   is delivered once the server is back.
//! - An order registered from the 決済直前ログ sends nothing until the operator's button, then once.
//!
//! `mail_flows.rs` has the rest: several workers, the shop's 決済エラー notice, the 継続課金 mail, and the
//! host killed with SIGKILL before sending.
//!
//! Each runs on SQLite, and on PostgreSQL by the harness's rule (`SHOPHOST_TEST_PG_URL`; in CI a
//! missing URL is a failure).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::smtp::*;
use common::*;
use serde_json::json;
use shophost::mail::{MailFilter, MailKind, MailStatus};

/// The mails of one kind in the outbox.
async fn outbox(shop: &Shop, kind: MailKind) -> Vec<shophost::mail::OutboxMail> {
    let mails = shop
        .state
        .store
        .mails(&MailFilter::default(), 10_000)
        .await
        .expect("the outbox");
    mails.into_iter().filter(|m| m.kind == kind).collect()
}

// -- the コンビニ order, duplicates and the receipt ------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conv_order_mails_arrive_once_with_the_slip_on_sqlite() {
    conv_order_mails(Database::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conv_order_mails_arrive_once_with_the_slip_on_postgres() {
    let Some(url) = postgres_url() else { return };
    conv_order_mails(Database::Postgres(url)).await;
}

async fn conv_order_mails(database: Database) {
    let dir = scratch();
    let sink = SmtpSink::start(&dir, "127.0.0.1:0");
    let shop = Arc::new(shop_sending_to(database, sink.address.port()).await);
    let worker = shophost::mail::worker::spawn(shop.state.clone());

    let link_key = shop.checkout(CONV, &[], None).await;
    let issued = conv_issued(&link_key, "20261201000000001", MUG_PRICE, "20261214");
    // Remise resends until it reads the acknowledgement: ten copies at once.
    let mut copies = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (shop, issued) = (shop.clone(), issued.clone());
        copies.spawn(async move { shop.notify("remise_conv", &issued).await.text() });
    }
    while let Some(answer) = copies.join_next().await {
        assert_eq!(answer.expect("a sender"), ACK);
    }
    let order = shop.order_detail(&link_key).await;
    let number = order.order["order_number"]
        .as_str()
        .expect("number")
        .to_owned();

    let messages = wait_for_messages(&dir, 2).await;
    let confirmation = messages
        .iter()
        .find(|m| m.recipients == ["taro@example.jp"])
        .expect("the shopper's mail");
    assert_eq!(
        confirmation.subject(),
        format!("【テストショップ】ご注文内容のご確認（注文番号 {number}）")
    );
    let raw_subject = confirmation.header("Subject").expect("Subject");
    assert!(raw_subject.contains("=?utf-8?"), "RFC 2047: {raw_subject}");
    let body = confirmation.body();
    for expected in [
        "山田 太郎 様",
        &format!("ご注文番号: {number}"),
        "有田焼 マグカップ",
        "お支払い金額: 3,990円（うち消費税 362円）",
        "10%対象 3,990円（うち消費税 362円）",
        "1234567890123",
        "http://sandbox.invalid/slip/1",
        "お支払期限: 2026年12月14日",
        "※このメールは送信専用アドレスから送信しています",
        "テストショップ\nhttps://shop.example.jp/",
    ] {
        assert!(body.contains(expected), "{expected:?} in\n{body}");
    }
    let from = confirmation.header("From").expect("From");
    assert!(from.contains("<shop@example.jp>"), "{from}");
    assert_eq!(
        confirmation.header("Reply-To").as_deref(),
        Some("support@example.jp")
    );
    assert!(confirmation.header("Date").is_some());
    let message_id = confirmation.header("Message-ID").expect("Message-ID");
    assert!(message_id.ends_with("@example.jp>"), "{message_id}");

    let notice = messages
        .iter()
        .find(|m| m.recipients == ["owner@example.jp"])
        .expect("the shop's notice");
    assert_eq!(
        notice.subject(),
        format!("【テストショップ】新規注文がありました（注文番号 {number}）")
    );
    assert!(notice.body().contains("taro@example.jp"));

    // The receipt, three times: one 入金確認メール.
    for _ in 0..3 {
        let answer = shop
            .notify("remise_conv", &conv_receipt(&link_key, "1", MUG_PRICE))
            .await;
        assert_eq!(answer.text(), ACK);
    }
    let messages = wait_for_messages(&dir, 3).await;
    let paid = messages
        .iter()
        .find(|m| m.subject().contains("ご入金を確認しました"))
        .expect("the 入金確認メール");
    assert_eq!(paid.recipients, ["taro@example.jp"]);
    assert!(paid.body().contains("ご入金額: 3,990円"), "{}", paid.body());

    // Nothing more comes: one mail per cause however many copies arrived.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(delivered(&dir).len(), 3);
    for kind in [
        MailKind::OrderConfirmation,
        MailKind::OrderNotice,
        MailKind::PaymentReceived,
    ] {
        let mails = outbox(&shop, kind).await;
        assert_eq!(mails.len(), 1, "{kind:?}");
        assert_eq!(mails[0].status, MailStatus::Sent);
        assert_eq!(mails[0].attempts, 1);
    }
    worker.abort();
    let shop = Arc::into_inner(shop).expect("no sender left");
    shop.finish().await;
    let _ = std::fs::remove_dir_all(dir);
}

// -- a storm of card notifications ----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_storm_sends_one_mail_per_order_on_sqlite() {
    duplicate_storm(Database::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_storm_sends_one_mail_per_order_on_postgres() {
    let Some(url) = postgres_url() else { return };
    duplicate_storm(Database::Postgres(url)).await;
}

const STORM_ORDERS: usize = 15;
const STORM_COPIES: usize = 8;

async fn duplicate_storm(database: Database) {
    let dir = scratch();
    let sink = SmtpSink::start(&dir, "127.0.0.1:0");
    let shop = Arc::new(shop_sending_to(database, sink.address.port()).await);
    let worker = shophost::mail::worker::spawn(shop.state.clone());
    let mut link_keys = Vec::new();
    for _ in 0..STORM_ORDERS {
        link_keys.push(shop.checkout(CARD, &[("div", "2")], None).await);
    }
    let mut sends = tokio::task::JoinSet::new();
    for (index, link_key) in link_keys.iter().enumerate() {
        let body = card_success(link_key, &format!("TS{index:06}"), MUG_PRICE);
        for _ in 0..STORM_COPIES {
            let (shop, body) = (shop.clone(), body.clone());
            sends.spawn(async move { shop.notify("remise_card", &body).await.text() });
        }
    }
    while let Some(answer) = sends.join_next().await {
        assert_eq!(answer.expect("a sender"), ACK);
    }
    let messages = wait_for_messages(&dir, 2 * STORM_ORDERS).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let messages_later = delivered(&dir);
    assert_eq!(messages_later.len(), 2 * STORM_ORDERS);
    let shopper: Vec<_> = messages
        .iter()
        .filter(|m| m.recipients == ["taro@example.jp"])
        .collect();
    assert_eq!(shopper.len(), STORM_ORDERS);
    let mut numbers: Vec<String> = shopper
        .iter()
        .map(|m| {
            let subject = m.subject();
            subject
                .rsplit("注文番号 ")
                .next()
                .unwrap_or("")
                .trim_end_matches('）')
                .to_owned()
        })
        .collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), STORM_ORDERS, "one mail per order");
    // The worker keeps its SMTP connection from mail to mail (and pass to pass): the 30 mails do not
    // each open one (and do its TLS handshake, on a server that has TLS).
    let mut connections: Vec<u64> = messages_later.iter().map(|m| m.connection).collect();
    connections.sort_unstable();
    connections.dedup();
    assert!(
        !connections.contains(&0) && connections.len() <= STORM_ORDERS / 3,
        "{} mails over the connections {connections:?}",
        messages_later.len()
    );
    // The card's installments as the shopper chose them.
    assert!(
        shopper[0].body().contains("お支払回数: リボ払い"),
        "{}",
        shopper[0].body()
    );
    worker.abort();
    let shop = Arc::into_inner(shop).expect("no sender left");
    shop.finish().await;
    let _ = std::fs::remove_dir_all(dir);
}

// -- the SMTP server down -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_waits_while_smtp_is_down_and_goes_when_it_is_back_on_sqlite() {
    smtp_down(Database::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_waits_while_smtp_is_down_and_goes_when_it_is_back_on_postgres() {
    let Some(url) = postgres_url() else { return };
    smtp_down(Database::Postgres(url)).await;
}

async fn smtp_down(database: Database) {
    let dir = scratch();
    // A port nothing listens on (yet).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let shop = shop_sending_to(database, port).await;
    let worker = shophost::mail::worker::spawn(shop.state.clone());
    let link_key = shop.checkout(CARD, &[], None).await;
    let answer = shop
        .notify(
            "remise_card",
            &card_success(&link_key, "TS000001", MUG_PRICE),
        )
        .await;
    assert_eq!(answer.text(), ACK);

    // Tried, refused by the closed port, waiting for the next try; every attempt recorded.
    let start = Instant::now();
    let waiting = loop {
        let mails = outbox(&shop, MailKind::OrderConfirmation).await;
        if let Some(mail) = mails.first().filter(|m| m.attempts >= 2) {
            break mail.clone();
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{mails:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(waiting.status, MailStatus::Retry);
    assert!(
        waiting
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains(&port.to_string())),
        "{:?}",
        waiting.last_error
    );
    let attempts = shop
        .state
        .store
        .mail_deliveries(waiting.id)
        .await
        .expect("attempts");
    assert!(attempts.len() >= 2, "{attempts:?}");
    assert!(attempts
        .iter()
        .all(|a| a.outcome == "error" && a.transport == "smtp"));

    // The server comes back on that port: the same message, rendered once, is delivered.
    let sink = SmtpSink::start(&dir, &format!("127.0.0.1:{port}"));
    let messages = wait_for_messages(&dir, 2).await;
    let confirmation = messages
        .iter()
        .find(|m| m.recipients == ["taro@example.jp"])
        .expect("the shopper's mail");
    let stored = shop
        .state
        .store
        .mail(waiting.id)
        .await
        .expect("read")
        .expect("the mail");
    // Byte for byte what was stored (SMTP's DATA ends the message with a line break).
    let received = confirmation
        .raw
        .strip_suffix(b"\r\n")
        .unwrap_or(&confirmation.raw);
    assert_eq!(Some(received), stored.message.as_deref());
    let start = Instant::now();
    while shop
        .state
        .store
        .mail(waiting.id)
        .await
        .expect("read")
        .expect("mail")
        .status
        != MailStatus::Sent
    {
        assert!(start.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(sink);
    worker.abort();
    shop.finish().await;
    let _ = std::fs::remove_dir_all(dir);
}

// -- 受注データ登録 -------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_order_sends_nothing_until_the_button_on_sqlite() {
    registered_order(Database::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_order_sends_nothing_until_the_button_on_postgres() {
    let Some(url) = postgres_url() else { return };
    registered_order(Database::Postgres(url)).await;
}

async fn registered_order(database: Database) {
    let dir = scratch();
    let sink = SmtpSink::start(&dir, "127.0.0.1:0");
    let shop = shop_sending_to(database, sink.address.port()).await;
    let worker = shophost::mail::worker::spawn(shop.state.clone());
    let link_key = shop.checkout(CONV, &[], None).await;
    let (status, registered) = shop
        .admin(
            "POST",
            &format!("/attempts/{link_key}/recover"),
            Some(&json!({"registered_at": "now"})),
        )
        .await;
    assert_eq!(status, 201, "{registered}");
    let order = shop.order_detail(&link_key).await;
    let order_id = order.order["id"].as_i64().expect("id");

    // Several passes of the worker: nothing goes, to the shopper or the shop.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let early: Vec<_> = delivered(&dir)
        .iter()
        .map(|m| (m.recipients.clone(), m.subject()))
        .collect();
    assert!(early.is_empty(), "{early:?}");
    let held = outbox(&shop, MailKind::OrderConfirmation).await;
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].status, MailStatus::Held);
    assert!(outbox(&shop, MailKind::OrderNotice).await.is_empty());

    // The button: sent once.
    shophost::mail::actions::send_registered_confirmation(&shop.state, order_id)
        .await
        .expect("sent by hand");
    let messages = wait_for_messages(&dir, 1).await;
    assert_eq!(messages[0].recipients, ["taro@example.jp"]);
    assert!(messages[0].subject().contains("ご注文内容のご確認"));
    let again = shophost::mail::actions::send_registered_confirmation(&shop.state, order_id).await;
    match again {
        Err(shophost::mail::actions::MailActionError::Refused(reason)) => {
            assert!(reason.contains("手動で送信済み"), "{reason}")
        }
        other => panic!("a second press must be refused: {other:?}"),
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(delivered(&dir).len(), 1);
    worker.abort();
    shop.finish().await;
    let _ = std::fs::remove_dir_all(dir);
}
