//! The PostgreSQL statements for a decided request (see `plan.rs`): one request per transaction, the
//! attempt row locked before it is read, each change one statement (a CTE where it writes several
//! tables), so a notification is six round trips: lock, read, claim, order, journal, commit.

use shophost_module_api::Notification;

use super::plan::{json, Entry, Write, ATTEMPT_COLUMNS};
use super::{ApplyContext, InboundRecord};
use crate::domain::Attempt;

/// One bound value.
#[derive(Debug, Clone)]
pub(super) enum Arg {
    Int(Option<i64>),
    Text(Option<String>),
    Bytes(Vec<u8>),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(Some(v.to_owned()))
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(Some(v))
    }
}
impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Self {
        Arg::Text(v.map(str::to_owned))
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::Text(v)
    }
}
impl From<&[u8]> for Arg {
    fn from(v: &[u8]) -> Self {
        Arg::Bytes(v.to_vec())
    }
}

/// One statement with its arguments, numbered `$1…$n` as the text is built.
#[derive(Debug, Default)]
pub(super) struct Statement {
    pub sql: String,
    pub args: Vec<Arg>,
}

impl Statement {
    /// Adds an argument and returns its placeholder.
    fn p(&mut self, value: impl Into<Arg>) -> String {
        self.args.push(value.into());
        format!("${}", self.args.len())
    }

    /// Sets the text, once its arguments are in.
    fn text(&mut self, sql: &str) {
        self.sql = sql.to_owned();
    }
}

/// Appends the read that [`decide`] needs for one signal: the attempt's columns, `recorded_for` (the
/// link key the signal's dedup key was recorded for, if it was), and the attempt's order's
/// `order_status` and `order_number`. On PostgreSQL the caller locks the attempt row in a statement
/// before this one, so that this one's snapshot holds everything committed before the lock was granted.
pub(super) fn load(script: &mut Statement, notification: &Notification) {
    let key = script.p(notification.link_key.as_str());
    let dedup = script.p(notification.dedup_key.as_str());
    script.text(&format!(
        "SELECT {ATTEMPT_COLUMNS}, \
         (SELECT link_key FROM payment_events WHERE dedup_key = {dedup}) AS recorded_for, \
         (SELECT payment_status FROM orders WHERE orders.id = checkout_attempts.order_id) AS order_status, \
         (SELECT order_number FROM orders WHERE orders.id = checkout_attempts.order_id) AS order_number \
         FROM checkout_attempts WHERE link_key = {key}"
    ));
}

/// Appends the claim of a signal's event key. Another host may have claimed it since the read; the
/// caller learns that from the row count (0) and answers by deciding again.
pub(super) fn claim(
    script: &mut Statement,
    notification: &Notification,
    context: &ApplyContext,
    kind: &str,
    at: i64,
) {
    let values = [
        script.p(notification.dedup_key.as_str()),
        script.p(context.module_id.as_str()),
        script.p(notification.link_key.as_str()),
        script.p(kind),
        script.p(context.channel),
        script.p(at),
    ]
    .join(", ");
    script.text(&format!(
        "INSERT INTO payment_events (dedup_key, module_id, link_key, kind, source, at) VALUES ({values}) \
         ON CONFLICT (dedup_key) DO NOTHING"
    ));
}

/// Appends one change to `attempt`: one statement (a CTE where it writes several tables), so each change
/// is one round trip.
pub(super) fn write(script: &mut Statement, attempt: &Attempt, change: &Write, at: i64) {
    match change {
        Write::CreateOrder {
            status,
            label,
            transaction_id,
            slip,
            reason,
            number,
            attention,
        } => {
            let values = [
                script.p(number.as_str()),
                script.p(attempt.id),
                script.p(attempt.link_key.as_str()),
                script.p(attempt.member_id),
                script.p(json(&attempt.snapshot.customer)),
                script.p(json(&attempt.snapshot.lines)),
                script.p(attempt.total),
                script.p(attempt.payment_method_id),
                script.p(attempt.payment_method_name.as_str()),
                script.p(attempt.settlement_type.as_str()),
                script.p(label.as_str()),
                script.p(attempt.module_id.as_str()),
                script.p(status.as_str()),
                script.p(transaction_id.clone()),
                script.p(slip.as_ref().map(json)),
                script.p(slip.as_ref().and_then(|s| s.deadline.clone())),
                script.p(attention.clone()),
            ]
            .join(", ");
            let (at, id, status, reason) = (
                script.p(at),
                script.p(attempt.id),
                script.p(status.as_str()),
                script.p(reason.as_str()),
            );
            let insert = format!(
                "INSERT INTO orders (order_number, attempt_id, link_key, member_id, customer_json, \
                 lines_json, total, payment_method_id, payment_method_name, settlement_type, \
                 settlement_label, module_id, payment_status, transaction_id, slip_json, deadline, \
                 attention, created_at, updated_at) VALUES ({values}, {at}, {at})"
            );
            script.text(&format!(
                "WITH o AS ({insert} RETURNING id), \
                 h AS (INSERT INTO order_history (order_id, from_status, to_status, reason, at) \
                 SELECT id, NULL, {status}, {reason}, {at} FROM o) \
                 UPDATE checkout_attempts SET state = 'ordered', order_id = (SELECT id FROM o), \
                 attention = NULL, updated_at = {at} WHERE id = {id} AND state = 'open'"
            ));
        }
        Write::FlagOrder {
            order_id,
            attention,
        } => {
            let (attention, at, id) = (
                script.p(attention.as_str()),
                script.p(at),
                script.p(*order_id),
            );
            script.text(&format!(
                "UPDATE orders SET attention = {attention}, updated_at = {at} WHERE id = {id}"
            ));
        }
        Write::AddSlip {
            order_id,
            slip,
            transaction_id,
        } => {
            let (slip_json, deadline, transaction, at, id) = (
                script.p(json(slip)),
                script.p(slip.deadline.clone()),
                script.p(transaction_id.as_str()),
                script.p(at),
                script.p(*order_id),
            );
            script.text(&format!(
                "UPDATE orders SET slip_json = {slip_json}, deadline = COALESCE(deadline, {deadline}), \
                 transaction_id = COALESCE(transaction_id, {transaction}), updated_at = {at} WHERE id = {id}"
            ));
        }
        Write::Transition {
            order_id,
            from,
            to,
            attention,
            reason,
        } => {
            let (to, attention, at, id, from, reason) = (
                script.p(to.as_str()),
                script.p(*attention),
                script.p(at),
                script.p(*order_id),
                script.p(from.as_str()),
                script.p(*reason),
            );
            let update = format!(
                "UPDATE orders SET payment_status = {to}, attention = COALESCE({attention}, attention), \
                 updated_at = {at} WHERE id = {id} AND payment_status = {from}"
            );
            // The history entry is written only when the guarded update moved the order.
            script.text(&format!(
                "WITH moved AS ({update} RETURNING id) \
                 INSERT INTO order_history (order_id, from_status, to_status, reason, at) \
                 SELECT id, {from}, {to}, {reason}, {at} FROM moved"
            ));
        }
        Write::UpsertCard { member_id, card } => {
            let values = [
                script.p(*member_id),
                script.p(attempt.module_id.as_str()),
                script.p(card.token.as_str()),
                script.p(card.last4.as_str()),
                script.p(card.expiry.as_str()),
                script.p(at),
            ]
            .join(", ");
            script.text(&format!(
                "INSERT INTO member_cards (member_id, module_id, token, last4, expiry, updated_at) \
                 VALUES ({values}) \
                 ON CONFLICT (member_id, module_id) DO UPDATE SET token = excluded.token, \
                 last4 = excluded.last4, expiry = excluded.expiry, updated_at = excluded.updated_at"
            ));
        }
        Write::CreateContract {
            gateway_id,
            member_id,
            product_name,
            amount,
            recurrence,
        } => {
            let attempt_id = script.p(attempt.id);
            let values = [
                script.p(*member_id),
                script.p(attempt.module_id.as_str()),
                script.p(attempt.settlement_type.as_str()),
                script.p(gateway_id.clone()),
                script.p(product_name.as_str()),
                script.p(*amount),
                script.p(i64::from(recurrence.product.interval_months)),
                script.p(i64::from(recurrence.product.charging_day)),
                script.p(format!("{:08}", recurrence.next_charge)),
            ]
            .join(", ");
            let at = script.p(at);
            script.text(&format!(
                "INSERT INTO recurring_contracts (order_id, member_id, module_id, settlement_type, \
                 gateway_id, product_name, amount, interval_months, charging_day, next_charge, status, \
                 created_at, updated_at) VALUES ((SELECT id FROM orders WHERE attempt_id = {attempt_id}), \
                 {values}, 'continuation', {at}, {at})"
            ));
        }
        Write::CardUpdated => {
            let (at, id) = (script.p(at), script.p(attempt.id));
            script.text(&format!(
                "UPDATE checkout_attempts SET state = 'card_updated', updated_at = {at} \
                 WHERE id = {id} AND state = 'open'"
            ));
        }
    }
}

/// Appends the journal entry for a request (one statement returning `journal_id`), with the link from
/// the accepted event to it and to the attempt's order, and the 決済エラーログ line.
pub(super) fn journal(
    script: &mut Statement,
    record: &InboundRecord,
    entry: &Entry<'_>,
    attempt_id: Option<i64>,
) {
    let values = [
        script.p(record.module_id.clone()),
        script.p(record.endpoint.as_str()),
        script.p(record.method.as_str()),
        script.p(record.query.as_str()),
        script.p(record.content_type.clone()),
        script.p(record.charset.as_str()),
        script.p(record.source.as_str()),
        script.p(json(&record.headers)),
        script.p(record.body.as_slice()),
        script.p(record.received_at),
        script.p(entry.verdict),
        script.p(entry.reason.as_str()),
        script.p(entry.link_key.clone()),
        script.p(entry.response_status),
        script.p(entry.response_body.as_slice()),
        script.p(record.replay_of),
    ]
    .join(", ");
    let mut sql = format!(
        "WITH j AS (INSERT INTO notification_journal (module_id, endpoint, method, query, content_type, \
         charset, source, headers_json, body, received_at, verdict, reason, link_key, \
         response_status, response_body, replay_of) VALUES ({values}) RETURNING id)"
    );
    if let Some((dedup_key, _)) = entry.event {
        let (attempt, dedup) = (script.p(attempt_id), script.p(dedup_key));
        sql.push_str(&format!(
            ", e AS (UPDATE payment_events SET journal_id = (SELECT id FROM j), \
             order_id = (SELECT id FROM orders WHERE attempt_id = {attempt}) WHERE dedup_key = {dedup})"
        ));
    }
    if let Some((result, key)) = &entry.error_log {
        let [module, acting, key, result, fields, at] = [
            script.p(record.module_id.clone().unwrap_or_default()),
            script.p(record.endpoint.as_str()),
            script.p(key.clone()),
            script.p(result.as_str()),
            script.p(json(&record.fields)),
            script.p(record.received_at),
        ];
        sql.push_str(&format!(
            ", s AS (INSERT INTO settlement_errors (module_id, acting, link_key, result, fields_json, \
             journal_id, at) SELECT {module}, {acting}, {key}, {result}, {fields}, id, {at} FROM j)"
        ));
    }
    sql.push_str(" SELECT id AS journal_id FROM j");
    script.text(&sql);
}
