//! Server-to-server notifications: posting them to the shop, judging the answer, retrying.
//!
//! The delivery rule: an answer counts only if it is a 2xx whose body is exactly
//! `<SDBKDATA>STATUS=800</SDBKDATA>` (or `STATUS=900`, the mobile variant). Anything else,
//! including a connection error or Welcart's `SESSION TIME OUT`, is "undelivered". The first
//! `inline_attempts` are made while the shopper waits (as Remise holds the browser until the
//! shop has answered), the rest in a background task up to `max_attempts`, waiting
//! `retry_base`, then twice that, and so on, at most 30 s. The exact-match is deliberately
//! strict: a shop that adds a newline or an XML declaration should find out here.

use std::time::Duration;

use axum::http::header;

use crate::model::{NotificationDelivery, NotificationKind, Transaction, TransactionStatus};
use crate::wire::{decode_sjis, encode_sjis_form};
use crate::Sandbox;

const ACK_PC: &str = "<SDBKDATA>STATUS=800</SDBKDATA>";
const ACK_MOBILE: &str = "<SDBKDATA>STATUS=900</SDBKDATA>";
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Long answers (an HTML page instead of the acknowledgement) are cut for the backyard.
const ANSWER_LIMIT: usize = 300;

/// Where a delivery lives in the store: transaction index, delivery index.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeliveryKey {
    pub(crate) transaction: usize,
    pub(crate) delivery: usize,
}

/// A fresh, not yet attempted delivery.
pub(crate) fn new_delivery(
    kind: NotificationKind,
    url: String,
    fields: Vec<(String, String)>,
) -> NotificationDelivery {
    NotificationDelivery {
        kind,
        url,
        fields,
        attempts: 0,
        last_status: None,
        last_answer: None,
        delivered: false,
    }
}

impl Sandbox {
    /// Records a new transaction, delivers its first notification (inline attempts, then background
    /// retries) and returns the fields the browser carries back to the shop: the notification's, less
    /// `REC_TYPE`, as Remise's return does.
    pub(crate) async fn record_and_notify(
        &self,
        transaction: Transaction,
        kind: NotificationKind,
        url: String,
        fields: Vec<(String, String)>,
    ) -> Vec<(String, String)> {
        let index = {
            let mut store = self.store();
            store.transactions.push(transaction);
            store.transactions.len() - 1
        };
        let key = self.add_delivery(index, new_delivery(kind, url, fields.clone()));
        self.deliver(key).await;
        fields
            .into_iter()
            .filter(|(name, _)| name != "REC_TYPE")
            .collect()
    }

    /// Appends `delivery` to the transaction at `transaction` and returns its key.
    pub(crate) fn add_delivery(
        &self,
        transaction: usize,
        delivery: NotificationDelivery,
    ) -> DeliveryKey {
        let mut store = self.store();
        let notifications = &mut store.transactions[transaction].notifications;
        notifications.push(delivery);
        DeliveryKey {
            transaction,
            delivery: notifications.len() - 1,
        }
    }

    /// Makes the inline attempts, then leaves any remaining ones to a background task.
    /// Returns whether the notification was delivered before returning.
    pub(crate) async fn deliver(&self, key: DeliveryKey) -> bool {
        let config = self.config();
        if self.run_attempts(key, config.inline_attempts).await {
            return true;
        }
        if config.max_attempts > config.inline_attempts {
            let sandbox = self.clone();
            let max_attempts = config.max_attempts;
            tokio::spawn(async move {
                sandbox.run_attempts(key, max_attempts).await;
            });
        }
        false
    }

    /// Attempts until delivered or until `limit` attempts have been made in total.
    async fn run_attempts(&self, key: DeliveryKey, limit: u32) -> bool {
        loop {
            let (attempts, delivered) = {
                let store = self.store();
                let delivery = &store.transactions[key.transaction].notifications[key.delivery];
                (delivery.attempts, delivery.delivered)
            };
            if delivered {
                return true;
            }
            if attempts >= limit {
                return false;
            }
            if attempts > 0 {
                tokio::time::sleep(backoff(self.config().retry_base, attempts)).await;
            }
            if self.attempt(key).await {
                return true;
            }
        }
    }

    /// One POST of the notification, recorded in the store.
    async fn attempt(&self, key: DeliveryKey) -> bool {
        let (url, fields, kind) = {
            let store = self.store();
            let delivery = &store.transactions[key.transaction].notifications[key.delivery];
            (delivery.url.clone(), delivery.fields.clone(), delivery.kind)
        };
        let (status, answer, delivered) = if url.is_empty() {
            (None, "通知URLが設定されていません".to_string(), false)
        } else {
            let result = self
                .client()
                .post(&url)
                .header(
                    header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded; charset=Shift_JIS",
                )
                .body(encode_sjis_form(&fields))
                .send()
                .await;
            match result {
                Ok(response) => {
                    let status = response.status();
                    match response.bytes().await {
                        Ok(bytes) => {
                            let answer = decode_sjis(&bytes);
                            let acknowledged =
                                status.is_success() && (answer == ACK_PC || answer == ACK_MOBILE);
                            (Some(status.as_u16()), answer, acknowledged)
                        }
                        Err(error) => (
                            Some(status.as_u16()),
                            format!("応答の受信に失敗しました: {error}"),
                            false,
                        ),
                    }
                }
                Err(error) => (None, format!("接続エラー: {}", error_chain(&error)), false),
            }
        };
        tracing::info!(
            %url,
            kind = kind.label(),
            status = status.unwrap_or_default(),
            delivered,
            "notification attempt"
        );
        let mut store = self.store();
        let transaction = &mut store.transactions[key.transaction];
        let delivery = &mut transaction.notifications[key.delivery];
        delivery.attempts += 1;
        delivery.last_status = status;
        delivery.last_answer = Some(truncate(&answer, ANSWER_LIMIT));
        delivery.delivered |= delivered;
        // The shop learns of a payment only through this notification, so the sandbox calls a
        // convenience-store payment 入金済み only once the shop has acknowledged it.
        if delivered && kind == NotificationKind::ConvPaid {
            transaction.status = TransactionStatus::Paid;
        }
        delivered
    }
}

/// The wait before the attempt after `attempts_made` attempts: base, 2×base, 4×base, ...
fn backoff(base: Duration, attempts_made: u32) -> Duration {
    let doublings = attempts_made.saturating_sub(1).min(16);
    base.saturating_mul(1 << doublings).min(MAX_BACKOFF)
}

/// reqwest's own message ("error sending request") hides the cause, such as "Connection
/// refused", in its source chain; the operator needs the cause.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn truncate(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(limit).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let base = Duration::from_millis(200);
        assert_eq!(backoff(base, 1), Duration::from_millis(200));
        assert_eq!(backoff(base, 2), Duration::from_millis(400));
        assert_eq!(backoff(base, 3), Duration::from_millis(800));
        assert_eq!(backoff(base, 12), MAX_BACKOFF);
        assert_eq!(backoff(base, u32::MAX), MAX_BACKOFF);
    }
}
