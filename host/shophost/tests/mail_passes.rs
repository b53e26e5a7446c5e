//! The mail worker's passes. A pass claims what is due and ends at the first claim that finds fewer
//! mails than it asked for; a mail queued while it sends waits for the next pass (the worker's poll).
//! Claiming again at once made the worker chase steady notifications one order at a time: a claim
//! and a record, two commits, for every order's mails.

#[macro_use]
mod common;

use std::sync::Arc;

use common::Backend;
use shophost::mail::{MailFilter, MailStatus, Tls, Transport};
use shophost::AppState;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// An SMTP server on loopback that accepts every mail. While it receives the first, before it
/// answers, it queues one more test mail in `state`'s outbox, as a notification committed during the
/// exchange would queue its order's. Returns its port.
async fn smtp_that_queues_one_more(state: AppState) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let port = listener.local_addr().expect("its address").port();
    let queued = Arc::new(std::sync::atomic::AtomicBool::new(false));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (state, queued) = (state.clone(), queued.clone());
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 test ESMTP\r\n").await?;
                while let Some(line) = lines.next_line().await? {
                    let verb = line.get(..4).unwrap_or(&line).to_ascii_uppercase();
                    let answer = match verb.as_str() {
                        "DATA" => {
                            write.write_all(b"354 go on\r\n").await?;
                            while let Some(body) = lines.next_line().await? {
                                if body == "." {
                                    break;
                                }
                            }
                            if !queued.swap(true, std::sync::atomic::Ordering::SeqCst) {
                                state
                                    .store
                                    .queue_test_mail(
                                        "second@example.jp",
                                        shophost::domain::now_millis(),
                                    )
                                    .await
                                    .expect("queued during the exchange");
                            }
                            "250 queued"
                        }
                        "QUIT" => {
                            write.write_all(b"221 bye\r\n").await?;
                            break;
                        }
                        _ => "250 ok",
                    };
                    write.write_all(format!("{answer}\r\n").as_bytes()).await?;
                }
                Ok::<_, std::io::Error>(())
            });
        }
    });
    port
}

async fn a_pass_leaves_what_is_queued_while_it_sends_to_the_next(backend: Backend) {
    let (state, _db) = backend.shop("mail-pass-ends").await;
    let port = smtp_that_queues_one_more(state.clone()).await;
    let mut config = (*state.config).clone();
    let settings = &mut config.mail.settings;
    settings.transport = Transport::Smtp;
    settings.from = "shop@example.jp".to_owned();
    settings.smtp.host = "127.0.0.1".to_owned();
    settings.smtp.port = port;
    settings.smtp.tls = Tls::None;
    settings.smtp.timeout_seconds = 10;
    let state = AppState {
        config: Arc::new(config),
        ..state
    };
    let first = state
        .store
        .queue_test_mail("first@example.jp", shophost::domain::now_millis())
        .await
        .expect("queued");

    // The claim asked for 10 and found 1: the pass sends it and ends, though a second mail was
    // queued (and due) before the first's exchange ended.
    let handled = shophost::mail::worker::run_once(&state)
        .await
        .expect("a pass");
    assert_eq!(handled, 1);
    let outbox = state
        .store
        .mails(&MailFilter::default(), 10)
        .await
        .expect("the outbox");
    assert_eq!(outbox.len(), 2, "{outbox:?}");
    assert_eq!(
        outbox
            .iter()
            .find(|mail| mail.id == first)
            .map(|mail| mail.status),
        Some(MailStatus::Sent)
    );
    let second = outbox
        .iter()
        .find(|mail| mail.id != first)
        .expect("the mail queued during the exchange");
    assert_eq!(second.status, MailStatus::Pending);

    // The next pass takes it.
    let handled = shophost::mail::worker::run_once(&state)
        .await
        .expect("a pass");
    assert_eq!(handled, 1);
    let sent = state
        .store
        .mail(second.id)
        .await
        .expect("read")
        .expect("the mail");
    assert_eq!(sent.status, MailStatus::Sent);
}

on_both_backends!(a_pass_leaves_what_is_queued_while_it_sends_to_the_next);
