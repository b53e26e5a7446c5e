//! The SQLite writer's rounds: many decided requests (see `decide.rs`) read and written in two round
//! trips of fixed text. The rows a round writes are built for both backends by `db/round.rs`; this is
//! SQLite's text for reading and writing them.
//!
//! sqlx runs SQLite statements on a worker thread, and each round trip to it is a pair of thread
//! wake-ups; a prepared statement is cached by its exact text. So a round sends its reads as [`READ`]
//! and its writes as [`WRITE`], one multi-statement string each whose text never changes: the rows go
//! as JSON arrays, one argument per table, unpacked by `json_each`. Each array holds a [`NewRow`]'s
//! values in its table's column order, and the `value ->> N` positions that unpack it are derived from
//! the same column list (`columns.rs`), so the two cannot drift apart. SQLite has one writer, so what
//! a round reads stays true until it writes, and the ids of the new journal entries and orders can be
//! given out in advance (the highest id read plus one, two, …: [`Ids::after`](crate::db::round::Ids)),
//! which lets an event carry its journal entry and order ids in the same statement that inserts it.

use std::sync::LazyLock;

use serde::ser::{Serialize, SerializeSeq, Serializer};
use serde_json::json;

use crate::db::columns::{
    NewRow, Table, Value, ATTEMPTS, CONTRACTS, JOURNAL, MEMBER_CARDS, ORDERS, ORDER_HISTORY,
    PAYMENT_EVENTS, SETTLEMENT_ERRORS,
};
use crate::db::round::{Round, ATTEMPT_UPDATE, ORDER_UPDATE};

/// A round's reads. `$1`: `[[link key, event key], …]`, unpacked once into a table of the statement's
/// own (each attempt found looked its event key up in `json_each` again, every pair turned back into
/// text and parsed: a round of 60 did 3,600 of them). The first row holds the highest journal and
/// order ids; every other row is one attempt with `recorded_for` (the link key its request's event
/// key is recorded for), `order_status`, `order_number`, `order_transaction_id` and `succeeded_before`.
pub(super) static READ: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT (SELECT COALESCE(MAX(id), 0) FROM notification_journal) AS journal_base, \
         (SELECT COALESCE(MAX(id), 0) FROM orders) AS order_base;
         WITH k AS MATERIALIZED (SELECT value ->> 0 AS link, value ->> 1 AS dedup FROM json_each($1)) \
         SELECT {}, \
         (SELECT e.link_key FROM payment_events e WHERE e.dedup_key = k.dedup) AS recorded_for, \
         (SELECT payment_status FROM orders WHERE orders.id = checkout_attempts.order_id) AS order_status, \
         (SELECT order_number FROM orders WHERE orders.id = checkout_attempts.order_id) AS order_number, \
         (SELECT transaction_id FROM orders WHERE orders.id = checkout_attempts.order_id) AS order_transaction_id, \
         (SELECT COUNT(*) FROM payment_events p WHERE p.link_key = checkout_attempts.link_key \
          AND p.kind = 'payment_succeeded') AS succeeded_before \
         FROM k JOIN checkout_attempts ON checkout_attempts.link_key = k.link",
        ATTEMPTS.select()
    )
});

/// The write connection's own setting, which every write but the writer's batches commits with: the
/// commit waits for the disk.
pub(super) const FULL: &str = "PRAGMA synchronous = FULL";

/// [`READ`] opening the batch's transaction (with the write lock, so nothing changes what it reads).
/// The batch commits with `synchronous = NORMAL`: its commit does not wait for the disk, and its
/// requests are answered after the writer's own flush (`durable.rs`).
pub(super) static BEGIN_AND_READ: LazyLock<String> =
    LazyLock::new(|| format!("PRAGMA synchronous = NORMAL;\nBEGIN IMMEDIATE;\n{}", *READ));

/// [`WRITE`] committing the batch's transaction, then [`FULL`] again for the connection's other
/// writes.
pub(super) static WRITE_AND_COMMIT: LazyLock<String> =
    LazyLock::new(|| format!("{};\nCOMMIT;\n{FULL}", *WRITE));

/// Where `column` of `table`'s rows is in the JSON array `alias.value` (after the key, if `keyed`).
fn at(alias: &str, table: &Table, keyed: bool, column: &str) -> String {
    let index = table
        .columns
        .iter()
        .position(|name| *name == column)
        .unwrap_or_else(|| panic!("{} has no column `{column}`", table.name));
    format!("{alias}value ->> {}", index + usize::from(keyed))
}

/// `WITH alias AS MATERIALIZED (…)`: the rows of argument `arg` unpacked once, each row's array kept
/// as text in a table of the statement's own. Read from `json_each` directly, every `value ->> N`
/// would have `json_each` turn the row back into text and `->>` parse it again, once per column
/// (about 20 µs a row of 20 columns, against 4 µs for the insert itself); read from the
/// materialized rows, the row's text is parsed once and each column found in that parse.
fn rows(alias: &str, arg: usize) -> String {
    format!("WITH {alias} AS MATERIALIZED (SELECT key, value FROM json_each(${arg}))")
}

/// `INSERT INTO table (columns) SELECT value ->> 0, … FROM` the rows of `$arg`, the positions taken
/// from the table's column list (bytes travel as hex); `filter` goes before the `ORDER BY`.
fn insert(table: &Table, keyed: bool, arg: usize, filter: &str) -> String {
    let key = table.key.filter(|_| keyed);
    let columns: Vec<&str> = key.iter().chain(table.columns).copied().collect();
    let values: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(index, column)| {
            if table.bytes.contains(column) {
                format!("unhex(value ->> {index})")
            } else {
                format!("value ->> {index}")
            }
        })
        .collect();
    format!(
        "{} INSERT INTO {} ({}) SELECT {} FROM r {filter} ORDER BY key",
        rows("r", arg),
        table.name,
        columns.join(", "),
        values.join(", ")
    )
}

/// A round's writes, in an order the foreign keys accept. Arguments `$1`–`$9` are the JSON arrays of
/// [`Round`]. A transition's history line is written only if the order still has the status it moves
/// from, and the move itself is guarded the same way. The `+` before a guarded column keeps SQLite from
/// driving an update by that column's index (every open attempt) instead of by the round's rows.
pub(super) static WRITE: LazyLock<String> = LazyLock::new(|| {
    let history = |column| at("", &ORDER_HISTORY, false, column);
    let order = |column| at("u.", &ORDER_UPDATE, false, column);
    let attempt = |column| at("u.", &ATTEMPT_UPDATE, false, column);
    let guarded_history = format!(
        "WHERE {from} IS NULL OR EXISTS (SELECT 1 FROM orders o WHERE o.id = {id} \
         AND o.payment_status = {from})",
        from = history("from_status"),
        id = history("order_id"),
    );
    [
        insert(&JOURNAL, true, 1, ""),
        insert(&ORDERS, true, 2, ""),
        insert(&CONTRACTS, false, 9, ""),
        insert(&PAYMENT_EVENTS, false, 3, ""),
        insert(&ORDER_HISTORY, false, 4, &guarded_history),
        format!(
            "{rows} UPDATE orders SET payment_status = COALESCE({to}, payment_status), \
             attention = COALESCE({attention}, attention), slip_json = COALESCE({slip}, slip_json), \
             deadline = COALESCE(deadline, {deadline}), \
             transaction_id = COALESCE(transaction_id, {transaction}), updated_at = {at} \
             FROM u WHERE orders.id = {id} \
             AND ({from} IS NULL OR +orders.payment_status = {from})",
            rows = rows("u", 5),
            to = order("payment_status"),
            attention = order("attention"),
            slip = order("slip_json"),
            deadline = order("deadline"),
            transaction = order("transaction_id"),
            at = order("updated_at"),
            id = order("id"),
            from = order("from_status"),
        ),
        format!(
            "{rows} UPDATE checkout_attempts SET state = {state}, order_id = COALESCE({order}, order_id), \
             attention = CASE WHEN {state} = 'ordered' THEN NULL ELSE attention END, updated_at = {at} \
             FROM u WHERE checkout_attempts.id = {id} \
             AND +checkout_attempts.state = 'open'",
            rows = rows("u", 6),
            state = attempt("state"),
            order = attempt("order_id"),
            at = attempt("updated_at"),
            id = attempt("id"),
        ),
        // `WHERE true` tells SQLite's parser that `ON CONFLICT` belongs to the insert, not to a join.
        insert(&MEMBER_CARDS, false, 7, "WHERE true")
            + " ON CONFLICT (member_id, module_id) DO UPDATE SET token = excluded.token, \
               last4 = excluded.last4, expiry = excluded.expiry, updated_at = excluded.updated_at",
        insert(&SETTLEMENT_ERRORS, false, 8, ""),
    ]
    .join(";\n")
});

/// A new row as `json_each` unpacks it: an array of its values in column order, bytes as hex.
impl Serialize for NewRow {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let values = self.values();
        let mut array = serializer.serialize_seq(Some(values.len()))?;
        for value in values {
            match value {
                Value::Int(int) => array.serialize_element(int)?,
                Value::Text(text) => array.serialize_element(text)?,
                Value::Bytes(bytes) => array.serialize_element(&hex::encode(bytes))?,
                Value::Bool(flag) => array.serialize_element(flag)?,
                // Rounds give ids out in advance; an expression is PostgreSQL's.
                Value::Expression(_) => array.serialize_element(&None::<()>)?,
            }
        }
        array.end()
    }
}

/// The arguments of [`WRITE`]: each table's rows of `round` as a JSON array of arrays.
pub(super) fn args(round: &Round) -> [String; 9] {
    round
        .tables()
        .map(|rows| serde_json::to_string(rows).unwrap_or_else(|_| "[]".to_owned()))
}

/// The argument of [`READ`] for a round's signals: `[[link key, event key], …]`.
pub(super) fn read_arg<'a>(keys: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    serde_json::Value::Array(keys.map(|(link, event)| json!([link, event])).collect()).to_string()
}
