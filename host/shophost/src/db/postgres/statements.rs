//! The PostgreSQL statements for a decided request (see `decide.rs`): one request per transaction, the
//! attempt row locked before it is read, each change one statement (a CTE where it writes several
//! tables), so a notification is six round trips: lock, read, claim, order, journal, commit. The
//! writer (`writer.rs`) commits requests in groups; this is the way each request of a failed group
//! goes through again, the one that decides again when another host claimed its event key first, and
//! the cold path's single changes (`Dialect::write_change`).
//!
//! The rows inserted are the same [`NewRow`]s SQLite's rounds insert (`columns.rs`); only the ids
//! differ, which PostgreSQL takes from an earlier part of the same statement ([`Value::Expression`]).

use shophost_module_api::Notification;

use crate::db::columns::{
    card_row, contract_row, error_row, event_row, history_row, journal_row, json, order_row,
    NewRow, Value, ATTEMPTS, JOURNAL, ORDERS,
};
use crate::db::decide::{Change, Entry};
use crate::db::{ApplyContext, InboundRecord};
use crate::domain::Attempt;

/// One statement with its arguments, numbered `$1…$n` as the text is built.
#[derive(Debug, Default)]
pub(super) struct Statement {
    pub sql: String,
    pub args: Vec<Value>,
}

impl Statement {
    /// Adds an argument and returns its placeholder.
    fn p(&mut self, value: impl Into<Value>) -> String {
        self.args.push(value.into());
        format!("${}", self.args.len())
    }

    /// A new row's values: a placeholder for each, or the expression that stands for it.
    fn values(&mut self, row: NewRow) -> String {
        let values: Vec<String> = row
            .into_values()
            .into_iter()
            .map(|value| match value {
                Value::Expression(sql) => sql.to_owned(),
                value => self.p(value),
            })
            .collect();
        values.join(", ")
    }

    /// `INSERT INTO table (columns) VALUES (…)`.
    fn insert(&mut self, row: NewRow) -> String {
        let table = row.table();
        let values = self.values(row);
        format!(
            "INSERT INTO {} ({}) VALUES ({values})",
            table.name,
            table.insert()
        )
    }

    /// `INSERT INTO table (columns) SELECT … FROM from`: the row's expressions read `from`.
    fn insert_from(&mut self, row: NewRow, from: &str) -> String {
        let table = row.table();
        let values = self.values(row);
        format!(
            "INSERT INTO {} ({}) SELECT {values} FROM {from}",
            table.name,
            table.insert()
        )
    }

    fn done(mut self, sql: String) -> Self {
        self.sql = sql;
        self
    }
}

/// The read that `decide` needs for one signal: the attempt's columns, `recorded_for` (the link key
/// the signal's dedup key was recorded for, if it was), the attempt's order's `order_status`,
/// `order_number` and `order_transaction_id`, and `succeeded_before`. The caller locks the attempt row in a statement before this one, so that this one's
/// snapshot holds everything committed before the lock was granted.
pub(super) fn load(notification: &Notification) -> Statement {
    let mut statement = Statement::default();
    let key = statement.p(notification.link_key.as_str());
    let dedup = statement.p(notification.dedup_key.as_str());
    statement.done(format!(
        "SELECT {}, \
         (SELECT link_key FROM payment_events WHERE dedup_key = {dedup}) AS recorded_for, \
         (SELECT payment_status FROM orders WHERE orders.id = checkout_attempts.order_id) AS order_status, \
         (SELECT order_number FROM orders WHERE orders.id = checkout_attempts.order_id) AS order_number, \
         (SELECT transaction_id FROM orders WHERE orders.id = checkout_attempts.order_id) AS order_transaction_id, \
         (SELECT COUNT(*) FROM payment_events p WHERE p.link_key = checkout_attempts.link_key \
          AND p.kind = 'payment_succeeded') AS succeeded_before \
         FROM checkout_attempts WHERE link_key = {key}",
        ATTEMPTS.select()
    ))
}

/// The claim of a signal's event key. Another host may have claimed it since the read; the caller
/// learns that from the row count (0) and answers by deciding again. The journal entry and the order
/// are set on the event by [`journal`].
pub(super) fn claim(
    notification: &Notification,
    context: &ApplyContext,
    kind: &str,
    at: i64,
) -> Statement {
    let mut statement = Statement::default();
    let row = event_row(
        context,
        &notification.dedup_key,
        &notification.link_key,
        kind,
        at,
        None,
        None,
    );
    let insert = statement.insert(row);
    statement.done(format!("{insert} ON CONFLICT (dedup_key) DO NOTHING"))
}

/// One change to `attempt`: one statement (a CTE where it writes several tables), so each change is
/// one round trip.
pub(super) fn write(attempt: &Attempt, change: &Change, at: i64) -> Statement {
    let mut statement = Statement::default();
    let sql = match change {
        Change::CreateOrder(order) => {
            let insert = statement.insert(order_row(NewRow::new(&ORDERS), attempt, order, at));
            let history = history_row(
                Value::Expression("id"),
                None,
                order.status,
                &order.reason,
                at,
            );
            let history = statement.insert_from(history, "o");
            let (at, id) = (statement.p(at), statement.p(attempt.id));
            format!(
                "WITH o AS ({insert} RETURNING id), h AS ({history}) \
                 UPDATE checkout_attempts SET state = 'ordered', order_id = (SELECT id FROM o), \
                 attention = NULL, updated_at = {at} WHERE id = {id} AND state = 'open'"
            )
        }
        Change::FlagOrder {
            order_id,
            attention,
        } => {
            let (attention, at, id) = (
                statement.p(attention.as_str()),
                statement.p(at),
                statement.p(*order_id),
            );
            format!("UPDATE orders SET attention = {attention}, updated_at = {at} WHERE id = {id}")
        }
        Change::AddSlip {
            order_id,
            slip,
            transaction_id,
        } => {
            let (slip_json, deadline, transaction, at, id) = (
                statement.p(json(slip)),
                statement.p(slip.deadline.clone()),
                statement.p(transaction_id.as_str()),
                statement.p(at),
                statement.p(*order_id),
            );
            format!(
                "UPDATE orders SET slip_json = {slip_json}, deadline = COALESCE(deadline, {deadline}), \
                 transaction_id = COALESCE(transaction_id, {transaction}), updated_at = {at} WHERE id = {id}"
            )
        }
        Change::Transition {
            order_id,
            from,
            to,
            attention,
            reason,
        } => {
            let history = history_row(Value::Expression("id"), Some(*from), *to, reason, at);
            // The history entry is written only when the guarded update moved the order.
            let history = statement.insert_from(history, "moved");
            let (to, attention, at, id, from) = (
                statement.p(to.as_str()),
                statement.p(*attention),
                statement.p(at),
                statement.p(*order_id),
                statement.p(from.as_str()),
            );
            format!(
                "WITH moved AS (UPDATE orders SET payment_status = {to}, \
                 attention = COALESCE({attention}, attention), updated_at = {at} \
                 WHERE id = {id} AND payment_status = {from} RETURNING id) {history}"
            )
        }
        Change::ConfirmRegistered {
            order_id,
            from,
            to,
            transaction_id,
            reason,
        } => {
            let history = history_row(Value::Expression("id"), Some(*from), *to, reason, at);
            let history = statement.insert_from(history, "confirmed");
            let (to, transaction, at, id, from) = (
                statement.p(to.as_str()),
                statement.p(transaction_id.as_str()),
                statement.p(at),
                statement.p(*order_id),
                statement.p(from.as_str()),
            );
            format!(
                "WITH confirmed AS (UPDATE orders SET payment_status = {to}, \
                 transaction_id = COALESCE(transaction_id, {transaction}), updated_at = {at} \
                 WHERE id = {id} AND payment_status = {from} RETURNING id) {history}"
            )
        }
        Change::UpsertCard { member_id, card } => {
            let insert = statement.insert(card_row(*member_id, &attempt.module_id, card, at));
            format!(
                "{insert} ON CONFLICT (member_id, module_id) DO UPDATE SET token = excluded.token, \
                 last4 = excluded.last4, expiry = excluded.expiry, updated_at = excluded.updated_at"
            )
        }
        Change::CreateContract(contract) => {
            // The order the CreateOrder before it created for this attempt.
            let row = contract_row(Value::Expression("id"), attempt, contract, at);
            let insert = statement.insert_from(row, "orders");
            let attempt_id = statement.p(attempt.id);
            format!("{insert} WHERE attempt_id = {attempt_id}")
        }
        Change::CardUpdated => {
            let (at, id) = (statement.p(at), statement.p(attempt.id));
            format!(
                "UPDATE checkout_attempts SET state = 'card_updated', updated_at = {at} \
                 WHERE id = {id} AND state = 'open'"
            )
        }
    };
    statement.done(sql)
}

/// The journal entry for a request (one statement returning `journal_id`), with the link from the
/// accepted event to it and to the attempt's order, and the 決済エラーログ line.
pub(super) fn journal(
    record: &InboundRecord,
    entry: &Entry<'_>,
    attempt_id: Option<i64>,
) -> Statement {
    let mut statement = Statement::default();
    let insert = statement.insert(journal_row(NewRow::new(&JOURNAL), record, entry));
    let mut sql = format!("WITH j AS ({insert} RETURNING id)");
    if let Some((dedup_key, _)) = entry.event {
        let (attempt, dedup) = (statement.p(attempt_id), statement.p(dedup_key));
        sql.push_str(&format!(
            ", e AS (UPDATE payment_events SET journal_id = (SELECT id FROM j), \
             order_id = (SELECT id FROM orders WHERE attempt_id = {attempt}) WHERE dedup_key = {dedup})"
        ));
    }
    if let Some((result, key)) = &entry.error_log {
        let row = error_row(record, result, key.as_deref(), Value::Expression("id"));
        let insert = statement.insert_from(row, "j");
        sql.push_str(&format!(", s AS ({insert})"));
    }
    sql.push_str(" SELECT id AS journal_id FROM j");
    statement.done(sql)
}
