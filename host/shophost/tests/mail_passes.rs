//! The mail worker's passes and their batches. A pass claims what is due and ends at the first claim
//! that finds fewer mails than it asked for; a mail queued while it sends waits for the next pass
//! (the worker's poll). Claiming again at once made the worker chase steady notifications one order
//! at a time: a claim and a record, two commits, for every order's mails. Within a pass, a batch's
//! mails are claimed, rendered, stored and recorded together, each with its own outcome, and only
//! under the claim's lease.

#[macro_use]
mod common;

use std::sync::Arc;

use common::mail::{card_paid, card_paid_as, checkout, mail_shop, mails};
use common::Backend;
use shophost::mail::{MailFilter, MailStatus, Outcome, Tls, Transport};
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

/// Test mails to `to`, queued due at `now` and claimed at once under the lease "the holder": their
/// ids, in the order queued (which is the order the claim gives them), and the claimed mails.
async fn queued_and_claimed(
    state: &AppState,
    to: &[&str],
    now: i64,
) -> (Vec<i64>, Vec<shophost::mail::OutboxMail>) {
    let mut ids = Vec::new();
    for to in to {
        ids.push(state.store.queue_test_mail(to, now).await.expect("queued"));
    }
    let claimed = state
        .store
        .claim_mail(now, 60_000, "the holder", 10)
        .await
        .expect("claimed");
    assert_eq!(claimed.iter().map(|mail| mail.id).collect::<Vec<_>>(), ids);
    (ids, claimed)
}

/// One pass claims, renders and records mails in batches: each mail ends with its own outcome and
/// its own attempt, a mail that cannot be rendered fails alone, and an outcome is recorded only under
/// the claim's lease.
async fn a_pass_records_each_mail_of_its_batch_alone(backend: Backend) {
    let (state, _dir) = mail_shop(backend, "console-mail-batch").await;
    for transaction_id in ["TS000001", "TS000002", "TS000003"] {
        let link_key = checkout(&state, "acting_remise_card").await;
        card_paid_as(&state, &link_key, transaction_id).await;
    }
    let now = shophost::domain::now_millis();
    let unsendable = state
        .store
        .queue_test_mail("no address here", now)
        .await
        .expect("queued");
    assert_eq!(mails(&state).await.len(), 7);

    let handled = shophost::mail::worker::run_once(&state)
        .await
        .expect("a pass");
    assert_eq!(handled, 7);
    for mail in mails(&state).await {
        let deliveries = state
            .store
            .mail_deliveries(mail.id)
            .await
            .expect("attempts");
        assert_eq!(
            deliveries.len(),
            1,
            "one attempt recorded for mail {}",
            mail.id
        );
        if mail.id == unsendable {
            assert_eq!(mail.status, MailStatus::Failed);
            assert_eq!(deliveries[0].outcome, "error");
            assert!(mail.message.is_none());
        } else {
            assert_eq!(mail.status, MailStatus::Sent, "mail {}", mail.id);
            assert_eq!(deliveries[0].outcome, "sent");
            assert_eq!(deliveries[0].transport, "capture");
            assert!(mail.message.is_some() && mail.sent_at.is_some() && mail.attempts == 1);
        }
    }
    // Nothing is due any more, and nothing is sent twice.
    assert_eq!(
        shophost::mail::worker::run_once(&state)
            .await
            .expect("a pass"),
        0
    );

    // An outcome under a lease that is not the claim's changes nothing.
    let [id] = queued_and_claimed(&state, &["owner@example.jp"], now)
        .await
        .0[..]
    else {
        panic!("one mail queued and claimed");
    };
    let finished = [shophost::mail::Finished {
        id,
        transport: "capture",
        outcome: Outcome::Sent("250 ok".to_owned()),
    }];
    let kept = state
        .store
        .finish_mails("another host", &finished, now)
        .await
        .expect("recorded");
    assert_eq!(kept, [false]);
    assert!(state
        .store
        .mail_deliveries(id)
        .await
        .expect("attempts")
        .is_empty());
    let kept = state
        .store
        .finish_mails("the holder", &finished, now)
        .await
        .expect("recorded");
    assert_eq!(kept, [true]);
    let mail = state.store.mail(id).await.expect("read").expect("the mail");
    assert_eq!(mail.status, MailStatus::Sent);
}

/// A batch's messages are stored in one statement, and the first rendering stored wins: a mail whose
/// message another host stored since the claim keeps that message (every attempt sends the same
/// bytes). The orders a batch renders from are read together, each with its checkout attempt.
async fn a_stored_message_is_never_replaced(backend: Backend) {
    let (state, _dir) = mail_shop(backend, "console-mail-first-rendering").await;
    let link_key = checkout(&state, "acting_remise_card").await;
    card_paid(&state, &link_key).await;
    let now = shophost::domain::now_millis();
    let claimed = state
        .store
        .claim_mail(now, 60_000, "a holder", 10)
        .await
        .expect("claimed");
    assert_eq!(claimed.len(), 2, "the confirmation and the shop's notice");
    let order_id = claimed[0].order_id.expect("about an order");

    let read = state
        .store
        .orders_for_mail(&[order_id, order_id + 1000])
        .await
        .expect("read");
    assert_eq!(read.len(), 1, "only the order that exists");
    let (order, attempt) = &read[0];
    assert_eq!(order.id, order_id);
    assert_eq!(
        attempt.as_ref().map(|attempt| attempt.link_key.as_str()),
        Some(link_key.as_str())
    );

    let rendered = |text: &str| shophost::mail::render::Rendered {
        recipients: vec!["shopper@example.jp".to_owned(), "cc@example.jp".to_owned()],
        subject: format!("件名 {text}"),
        message: format!("Subject: {text}\r\n\r\n本文 {text}\r\n").into_bytes(),
    };
    let first = state
        .store
        .store_rendered_mails(vec![(claimed[0].clone(), rendered("first"))], now)
        .await
        .expect("stored");
    assert_eq!(
        first[0].message.as_deref(),
        Some(rendered("first").message.as_slice())
    );
    // The same mail again (another host's rendering) and the second mail, in one batch.
    let both = state
        .store
        .store_rendered_mails(
            vec![
                (claimed[0].clone(), rendered("second")),
                (claimed[1].clone(), rendered("third")),
            ],
            now,
        )
        .await
        .expect("stored");
    assert_eq!(
        both.iter().map(|mail| mail.id).collect::<Vec<_>>(),
        [claimed[0].id, claimed[1].id],
        "in the order given"
    );
    assert_eq!(
        both[0].message.as_deref(),
        Some(rendered("first").message.as_slice())
    );
    assert_eq!(both[0].subject.as_deref(), Some("件名 first"));
    assert_eq!(both[0].lease_token.as_deref(), Some("a holder"));
    assert_eq!(
        both[1].message.as_deref(),
        Some(rendered("third").message.as_slice())
    );
    for (id, text) in [(claimed[0].id, "first"), (claimed[1].id, "third")] {
        let mail = state.store.mail(id).await.expect("read").expect("the mail");
        assert_eq!(
            mail.message.as_deref(),
            Some(rendered(text).message.as_slice())
        );
        assert_eq!(mail.subject, Some(format!("件名 {text}")));
        assert_eq!(
            mail.recipients.as_deref(),
            Some("shopper@example.jp, cc@example.jp")
        );
    }
}

/// A captured mail's message is stored with its outcome, in one statement: stored where none was,
/// the first rendering kept where one was, and nothing of either under a lease that is not the
/// claim's.
async fn a_captured_rendering_is_stored_with_its_outcome(backend: Backend) {
    let (state, _dir) = mail_shop(backend, "console-mail-captured").await;
    let now = shophost::domain::now_millis();
    let (ids, claimed) = queued_and_claimed(&state, &["a@example.jp", "b@example.jp"], now).await;
    let rendered = |text: &str| shophost::mail::render::Rendered {
        recipients: vec![format!("{text}@example.jp")],
        subject: format!("件名 {text}"),
        message: format!("Subject: {text}\r\n\r\n本文 {text}\r\n").into_bytes(),
    };
    // The second mail's message was stored before (another host's rendering, say).
    state
        .store
        .store_rendered_mails(vec![(claimed[1].clone(), rendered("first"))], now)
        .await
        .expect("stored");
    let finished: Vec<_> = ids
        .iter()
        .map(|&id| shophost::mail::Finished {
            id,
            transport: "capture",
            outcome: Outcome::Sent("保存のみ（送信しません）".to_owned()),
        })
        .collect();
    let renderings: std::collections::HashMap<_, _> =
        [(ids[0], rendered("mine")), (ids[1], rendered("second"))].into();

    let kept = state
        .store
        .finish_rendered_mails("another host", &finished, &renderings, now + 1)
        .await
        .expect("recorded");
    assert_eq!(kept, [false, false]);
    let untouched = state
        .store
        .mail(ids[0])
        .await
        .expect("read")
        .expect("the mail");
    assert_eq!(
        (untouched.status, untouched.message),
        (MailStatus::Pending, None)
    );

    let kept = state
        .store
        .finish_rendered_mails("the holder", &finished, &renderings, now + 2)
        .await
        .expect("recorded");
    assert_eq!(kept, [true, true]);
    for (id, text) in [(ids[0], "mine"), (ids[1], "first")] {
        let mail = state.store.mail(id).await.expect("read").expect("the mail");
        assert_eq!(mail.status, MailStatus::Sent);
        assert_eq!(mail.sent_at, Some(now + 2));
        assert_eq!(
            mail.message.as_deref(),
            Some(rendered(text).message.as_slice())
        );
        assert_eq!(mail.subject, Some(format!("件名 {text}")));
        assert_eq!(mail.recipients, Some(format!("{text}@example.jp")));
    }
}

/// Every outcome of a batch is recorded in one go, each as its own: sent, to be retried (due again
/// when the backoff says), given up, and skipped (no attempt counted or recorded); the lease is
/// released, so only the one to retry is claimed again, and only once it is due.
async fn each_outcome_of_a_batch_is_recorded_as_its_own(backend: Backend) {
    let (state, _dir) = mail_shop(backend, "console-mail-outcomes").await;
    let now = shophost::domain::now_millis();
    let (ids, _) = queued_and_claimed(
        &state,
        &[
            "a@example.jp",
            "b@example.jp",
            "c@example.jp",
            "d@example.jp",
        ],
        now,
    )
    .await;
    let retry_at = now + 120_000;
    let outcomes = [
        Outcome::Sent("250 ok".to_owned()),
        Outcome::Retry {
            error: "421 try later".to_owned(),
            next_at: retry_at,
        },
        Outcome::Failed("550 no such user".to_owned()),
        Outcome::Skipped("送信先がありません".to_owned()),
    ];
    let finished: Vec<_> = ids
        .iter()
        .zip(outcomes)
        .map(|(&id, outcome)| shophost::mail::Finished {
            id,
            transport: "smtp",
            outcome,
        })
        .collect();
    let kept = state
        .store
        .finish_mails("the holder", &finished, now + 1)
        .await
        .expect("recorded");
    assert_eq!(kept, [true, true, true, true]);

    let read = |id| {
        let state = state.clone();
        async move { state.store.mail(id).await.expect("read").expect("the mail") }
    };
    let sent = read(ids[0]).await;
    assert_eq!(
        (sent.status, sent.attempts, sent.sent_at, sent.last_error),
        (MailStatus::Sent, 1, Some(now + 1), None)
    );
    let retry = read(ids[1]).await;
    assert_eq!(
        (
            retry.status,
            retry.attempts,
            retry.next_attempt_at,
            retry.sent_at
        ),
        (MailStatus::Retry, 1, retry_at, None)
    );
    assert_eq!(retry.last_error.as_deref(), Some("421 try later"));
    let failed = read(ids[2]).await;
    assert_eq!((failed.status, failed.attempts), (MailStatus::Failed, 1));
    assert_eq!(failed.last_error.as_deref(), Some("550 no such user"));
    let skipped = read(ids[3]).await;
    assert_eq!((skipped.status, skipped.attempts), (MailStatus::Skipped, 0));
    assert_eq!(skipped.last_error.as_deref(), Some("送信先がありません"));
    let mut attempts = Vec::new();
    for &id in &ids {
        let deliveries = state.store.mail_deliveries(id).await.expect("attempts");
        attempts.push(
            deliveries
                .iter()
                .map(|d| (d.outcome.clone(), d.detail.clone()))
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(
        attempts,
        [
            vec![("sent".to_owned(), "250 ok".to_owned())],
            vec![("error".to_owned(), "421 try later".to_owned())],
            vec![("error".to_owned(), "550 no such user".to_owned())],
            vec![],
        ]
    );
    // The leases are released: nothing is due before the retry's time, then only the retry is.
    let early = state
        .store
        .claim_mail(now + 2, 60_000, "next", 10)
        .await
        .expect("claimed");
    assert!(early.is_empty(), "{early:?}");
    let due = state
        .store
        .claim_mail(retry_at, 60_000, "next", 10)
        .await
        .expect("claimed");
    assert_eq!(due.iter().map(|mail| mail.id).collect::<Vec<_>>(), [ids[1]]);
}

on_both_backends!(
    a_pass_leaves_what_is_queued_while_it_sends_to_the_next,
    a_pass_records_each_mail_of_its_batch_alone,
    a_stored_message_is_never_replaced,
    a_captured_rendering_is_stored_with_its_outcome,
    each_outcome_of_a_batch_is_recorded_as_its_own,
);
