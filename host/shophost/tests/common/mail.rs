//! A shop whose mail the worker captures to files, and what the mail tests do to it: pay an order
//! by card (which queues its 注文確認メール and the shop's notice) and read the outbox.

use std::sync::Arc;

use shophost::mail::{MailFilter, OutboxMail};
use shophost::AppState;

use super::{card_result, notify, Backend, Scratch, TempDir};

/// Remise's answer to a notification it may stop sending.
pub const ACK: &str = "<SDBKDATA>STATUS=800</SDBKDATA>";

/// What a mail test shop keeps while it runs: its database and the capture directory.
pub struct MailShop {
    _db: Scratch,
    pub dir: TempDir,
}

/// A test shop on `backend` whose captured mail goes to the returned directory's `mail`.
pub async fn mail_shop(backend: Backend, name: &str) -> (AppState, MailShop) {
    let (state, db) = backend.shop(name).await;
    let dir = TempDir::new(name);
    let mut config = (*state.config).clone();
    config.mail.delivery.capture_dir = Some(dir.0.join("mail"));
    let state = AppState {
        config: Arc::new(config),
        ..state
    };
    (state, MailShop { _db: db, dir })
}

/// A checkout for one mug paid with `settlement_type`: its link key.
pub async fn checkout(state: &AppState, settlement_type: &str) -> String {
    super::mug_checkout(state, settlement_type).await.0
}

/// Remise's card success notification for a link key, from the sandbox's address.
pub async fn card_paid(state: &AppState, link_key: &str) {
    card_paid_as(state, link_key, "TS000001").await;
}

/// Remise's card success notification for a link key with its own transaction id.
pub async fn card_paid_as(state: &AppState, link_key: &str, transaction_id: &str) {
    let body = card_result(link_key, transaction_id, 3990, false);
    assert_eq!(notify(state, "remise_card", body).await, ACK);
}

/// The outbox's mails (up to 100), as the console lists them.
pub async fn mails(state: &AppState) -> Vec<OutboxMail> {
    state
        .store
        .mails(&MailFilter::default(), 100)
        .await
        .expect("the outbox")
}
