//! The SQLite writer's rounds: many decided requests (see `plan.rs`) read and written in two round
//! trips of fixed text.
//!
//! sqlx runs SQLite statements on a worker thread, and each round trip to it is a pair of thread
//! wake-ups; a prepared statement is cached by its exact text. So a round sends its reads as [`READ`]
//! and its writes as [`WRITE`], one multi-statement string each whose text never changes: the rows go
//! as JSON arrays, one argument per table, unpacked by `json_each`. SQLite has one writer, so what a
//! round reads stays true until it writes, and the ids of the new journal entries and orders can be
//! given out in advance (the highest id read plus one, two, …), which lets an event carry its journal
//! entry and order ids in the same statement that inserts it.

use std::sync::LazyLock;

use serde_json::{json, Value};

use super::plan::{self, Entry, Write, ATTEMPT_COLUMNS};
use super::{ApplyContext, InboundRecord};
use crate::domain::{hex, Attempt};

/// A round's reads. `$1`: `[[link key, event key], …]`. The first row holds the highest journal and
/// order ids; every other row is one attempt with `recorded_for` (the link key its request's event
/// key is recorded for), `order_status` and `order_number`.
pub(super) static READ: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT (SELECT COALESCE(MAX(id), 0) FROM notification_journal) AS journal_base, \
         (SELECT COALESCE(MAX(id), 0) FROM orders) AS order_base;
         SELECT {ATTEMPT_COLUMNS}, \
         (SELECT e.link_key FROM payment_events e WHERE e.dedup_key = \
          (SELECT k.value ->> 1 FROM json_each($1) k WHERE k.value ->> 0 = checkout_attempts.link_key)) \
          AS recorded_for, \
         (SELECT payment_status FROM orders WHERE orders.id = checkout_attempts.order_id) AS order_status, \
         (SELECT order_number FROM orders WHERE orders.id = checkout_attempts.order_id) AS order_number \
         FROM checkout_attempts WHERE link_key IN (SELECT value ->> 0 FROM json_each($1))"
    )
});

/// [`READ`] opening the batch's transaction (with the write lock, so nothing changes what it reads).
pub(super) static BEGIN_AND_READ: LazyLock<String> =
    LazyLock::new(|| format!("BEGIN IMMEDIATE;\n{}", *READ));

/// [`WRITE`] committing the batch's transaction.
pub(super) static WRITE_AND_COMMIT: LazyLock<String> =
    LazyLock::new(|| format!("{WRITE};\nCOMMIT"));

/// A round's writes, in an order the foreign keys accept. Arguments `$1`–`$9` are the JSON arrays of
/// [`Round`]. A transition's history line is written only if the order still has the status it moves
/// from, and the move itself is guarded the same way. The `+` before a guarded column keeps SQLite from
/// driving an update by that column's index (every open attempt) instead of by the round's rows.
pub(super) const WRITE: &str = "\
INSERT INTO notification_journal (id, module_id, endpoint, method, query, content_type, charset, source, \
 headers_json, body, received_at, verdict, reason, link_key, response_status, response_body, replay_of) \
 SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, \
 value ->> 7, value ->> 8, unhex(value ->> 9), value ->> 10, value ->> 11, value ->> 12, value ->> 13, \
 value ->> 14, unhex(value ->> 15), value ->> 16 FROM json_each($1) ORDER BY key;
INSERT INTO orders (id, order_number, attempt_id, link_key, member_id, customer_json, lines_json, total, \
 payment_method_id, payment_method_name, settlement_type, settlement_label, module_id, payment_status, \
 transaction_id, slip_json, deadline, attention, created_at, updated_at) \
 SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, \
 value ->> 7, value ->> 8, value ->> 9, value ->> 10, value ->> 11, value ->> 12, value ->> 13, \
 value ->> 14, value ->> 15, value ->> 16, value ->> 18, value ->> 17, value ->> 17 FROM json_each($2) ORDER BY key;
INSERT INTO recurring_contracts (order_id, member_id, module_id, settlement_type, gateway_id, product_name, \
 amount, interval_months, charging_day, next_charge, status, created_at, updated_at) \
 SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, \
 value ->> 7, value ->> 8, value ->> 9, 'continuation', value ->> 10, value ->> 10 FROM json_each($9) ORDER BY key;
INSERT INTO payment_events (dedup_key, module_id, link_key, kind, source, at, order_id, journal_id) \
 SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, \
 value ->> 7 FROM json_each($3) ORDER BY key;
INSERT INTO order_history (order_id, from_status, to_status, reason, at) \
 SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 FROM json_each($4) \
 WHERE value ->> 1 IS NULL OR EXISTS (SELECT 1 FROM orders o WHERE o.id = value ->> 0 \
 AND o.payment_status = value ->> 1) ORDER BY key;
UPDATE orders SET payment_status = COALESCE(u.value ->> 2, payment_status), \
 attention = COALESCE(u.value ->> 3, attention), slip_json = COALESCE(u.value ->> 4, slip_json), \
 deadline = COALESCE(deadline, u.value ->> 5), transaction_id = COALESCE(transaction_id, u.value ->> 6), \
 updated_at = u.value ->> 7 FROM json_each($5) AS u \
 WHERE orders.id = u.value ->> 0 AND (u.value ->> 1 IS NULL OR +orders.payment_status = u.value ->> 1);
UPDATE checkout_attempts SET state = u.value ->> 1, order_id = COALESCE(u.value ->> 2, order_id), \
 attention = CASE WHEN u.value ->> 1 = 'ordered' THEN NULL ELSE attention END, updated_at = u.value ->> 3 \
 FROM json_each($6) AS u WHERE checkout_attempts.id = u.value ->> 0 AND +checkout_attempts.state = 'open';
INSERT INTO member_cards (member_id, module_id, token, last4, expiry, updated_at) \
 SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5 FROM json_each($7) \
 WHERE true ORDER BY key ON CONFLICT (member_id, module_id) DO UPDATE SET token = excluded.token, \
 last4 = excluded.last4, expiry = excluded.expiry, updated_at = excluded.updated_at;
INSERT INTO settlement_errors (module_id, acting, link_key, result, fields_json, journal_id, at) \
 SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6 \
 FROM json_each($8) ORDER BY key";

/// The rows one round writes, table by table.
#[derive(Debug)]
pub(super) struct Round {
    journal: Vec<Value>,
    orders: Vec<Value>,
    events: Vec<Value>,
    history: Vec<Value>,
    order_updates: Vec<Value>,
    attempts: Vec<Value>,
    cards: Vec<Value>,
    errors: Vec<Value>,
    contracts: Vec<Value>,
    next_journal_id: i64,
    next_order_id: i64,
}

impl Round {
    /// A round whose new journal entries and orders get ids above the highest ones read.
    pub fn new(journal_base: i64, order_base: i64) -> Self {
        Round {
            journal: Vec::new(),
            orders: Vec::new(),
            events: Vec::new(),
            history: Vec::new(),
            order_updates: Vec::new(),
            attempts: Vec::new(),
            cards: Vec::new(),
            errors: Vec::new(),
            contracts: Vec::new(),
            next_journal_id: journal_base + 1,
            next_order_id: order_base + 1,
        }
    }

    /// Adds one change to `attempt`; returns the id of the order it creates, if it creates one.
    pub fn change(&mut self, attempt: &Attempt, change: &Write, at: i64) -> Option<i64> {
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
                let id = self.next_order_id;
                self.next_order_id += 1;
                self.orders.push(json!([
                    id,
                    number,
                    attempt.id,
                    attempt.link_key,
                    attempt.member_id,
                    plan::json(&attempt.snapshot.customer),
                    plan::json(&attempt.snapshot.lines),
                    attempt.total,
                    attempt.payment_method_id,
                    attempt.payment_method_name,
                    attempt.settlement_type,
                    label,
                    attempt.module_id,
                    status.as_str(),
                    transaction_id,
                    slip.as_ref().map(plan::json),
                    slip.as_ref().and_then(|s| s.deadline.clone()),
                    at,
                    attention,
                ]));
                self.history
                    .push(json!([id, null, status.as_str(), reason, at]));
                self.attempts.push(json!([attempt.id, "ordered", id, at]));
                return Some(id);
            }
            Write::FlagOrder {
                order_id,
                attention,
            } => self.order_updates.push(json!([
                order_id, null, null, attention, null, null, null, at
            ])),
            Write::AddSlip {
                order_id,
                slip,
                transaction_id,
            } => self.order_updates.push(json!([
                order_id,
                null,
                null,
                null,
                plan::json(slip),
                slip.deadline,
                transaction_id,
                at
            ])),
            Write::Transition {
                order_id,
                from,
                to,
                attention,
                reason,
            } => {
                self.history
                    .push(json!([order_id, from.as_str(), to.as_str(), reason, at]));
                self.order_updates.push(json!([
                    order_id,
                    from.as_str(),
                    to.as_str(),
                    attention,
                    null,
                    null,
                    null,
                    at
                ]));
            }
            Write::UpsertCard { member_id, card } => self.cards.push(json!([
                member_id,
                attempt.module_id,
                card.token,
                card.last4,
                card.expiry,
                at
            ])),
            Write::CardUpdated => self
                .attempts
                .push(json!([attempt.id, "card_updated", null, at])),
            Write::CreateContract {
                gateway_id,
                member_id,
                product_name,
                amount,
                recurrence,
            } => self.contracts.push(json!([
                // The order created just before it, by this attempt's CreateOrder.
                self.next_order_id - 1,
                member_id,
                attempt.module_id,
                attempt.settlement_type,
                gateway_id,
                product_name,
                amount,
                recurrence.product.interval_months,
                recurrence.product.charging_day,
                format!("{:08}", recurrence.next_charge),
                at
            ])),
        }
        None
    }

    /// Adds a request's journal entry, with its accepted event (about `order_id`, the attempt's order)
    /// and its error-log line; returns the entry's id.
    pub fn journal(
        &mut self,
        record: &InboundRecord,
        entry: &Entry<'_>,
        context: &ApplyContext,
        order_id: Option<i64>,
    ) -> i64 {
        let id = self.next_journal_id;
        self.next_journal_id += 1;
        let at = record.received_at;
        self.journal.push(json!([
            id,
            record.module_id,
            record.endpoint,
            record.method,
            record.query,
            record.content_type,
            record.charset,
            record.source,
            plan::json(&record.headers),
            hex(&record.body),
            at,
            entry.verdict,
            entry.reason,
            entry.link_key,
            entry.response_status,
            hex(&entry.response_body),
            record.replay_of,
        ]));
        if let (Some((dedup_key, kind)), Some(link_key)) = (entry.event, &entry.link_key) {
            self.events.push(json!([
                dedup_key,
                context.module_id,
                link_key,
                kind,
                context.channel,
                at,
                order_id,
                id
            ]));
        }
        if let Some((result, key)) = &entry.error_log {
            self.errors.push(json!([
                record.module_id.as_deref().unwrap_or(""),
                record.endpoint,
                key,
                result,
                plan::json(&record.fields),
                id,
                at
            ]));
        }
        id
    }

    /// The arguments of [`WRITE`].
    pub fn args(&self) -> [String; 9] {
        [
            &self.journal,
            &self.orders,
            &self.events,
            &self.history,
            &self.order_updates,
            &self.attempts,
            &self.cards,
            &self.errors,
            &self.contracts,
        ]
        .map(|rows| serde_json::to_string(rows).unwrap_or_else(|_| "[]".to_owned()))
    }
}

/// The argument of [`READ`] for a round's signals: `[[link key, event key], …]`.
pub(super) fn read_arg<'a>(keys: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    Value::Array(keys.map(|(link, event)| json!([link, event])).collect()).to_string()
}
