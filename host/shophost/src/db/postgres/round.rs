//! The PostgreSQL writer's rounds: the statements of fixed text that lock, read, number and write many
//! decided requests (see `decide.rs`) in one transaction. The rows are built for both backends by
//! `db/round.rs`; this is PostgreSQL's text for them.
//!
//! Several hosts may write at once, so a round's decisions are made under row locks: the batch's
//! attempts are locked in one statement in id order ([`LOCK`]; the same order on every host, so two
//! hosts cannot deadlock on them), and read in the next ([`READ`]; under READ COMMITTED each statement
//! takes a fresh snapshot, so the read sees everything committed before the lock was granted). Ids
//! cannot be the highest read plus one: the round's read also reserves those it may need from the
//! tables' sequences. The rows then go to one statement of data-modifying CTEs
//! ([`WRITE`]) as JSON, one argument per table, unpacked by `json_populate_recordset` into the table's
//! own row type (PostgreSQL converts each JSON value to its column's type; bytes travel as `\x` hex),
//! so the column names come from `columns.rs` and cannot drift apart from the rows.

use std::sync::LazyLock;

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::db::columns::{
    NewRow, Table, Value, ATTEMPTS, CONTRACTS, JOURNAL, MEMBER_CARDS, ORDERS, ORDER_HISTORY,
    PAYMENT_EVENTS, SETTLEMENT_ERRORS,
};
use crate::db::round::{Round, ATTEMPT_UPDATE, ORDER_UPDATE};

/// Locks the attempts of a batch, `$1` their link keys, in id order. A batch locks all its attempts
/// at once, before its first read, so that every host takes its locks in one order.
pub(super) const LOCK: &str =
    "SELECT id FROM checkout_attempts WHERE link_key = ANY($1::text[]) ORDER BY id FOR UPDATE";

/// A round's reads, `$1` and `$2` its link keys and the event keys beside them: one row per attempt
/// found, with `recorded_for` (the link key its request's event key is recorded for),
/// `order_status`, `order_number`, `order_transaction_id` and `succeeded_before`, as
/// `statements::load` reads one. The same statement reserves the round's ids from the tables'
/// identity sequences, and every row carries them: `journal_ids`, `$3` of them (one per request),
/// and `order_ids`, one per attempt found without an order (no request orders more than its
/// attempt, and only an attempt without an order can be ordered). When no attempt is found, the
/// one row holds the ids and nothing else (its `id` is NULL).
///
/// An order id reserved and not used (a failed payment, a duplicate) is a gap in `orders.id`, as
/// after a rolled-back insert; order numbers do not come from ids. Reserving them here, before the
/// decisions, saves the round trip a reservation after them took.
pub(super) static READ: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH found AS (SELECT {}, \
         (SELECT e.link_key FROM payment_events e WHERE e.dedup_key = k.dedup) AS recorded_for, \
         (SELECT payment_status FROM orders WHERE orders.id = checkout_attempts.order_id) AS order_status, \
         (SELECT order_number FROM orders WHERE orders.id = checkout_attempts.order_id) AS order_number, \
         (SELECT transaction_id FROM orders WHERE orders.id = checkout_attempts.order_id) AS order_transaction_id, \
         (SELECT COUNT(*) FROM payment_events p WHERE p.link_key = checkout_attempts.link_key \
          AND p.kind = 'payment_succeeded') AS succeeded_before \
         FROM unnest($1::text[], $2::text[]) AS k(link, dedup) \
         JOIN checkout_attempts ON checkout_attempts.link_key = k.link), \
         reserved AS (SELECT \
         ARRAY(SELECT nextval(pg_get_serial_sequence('notification_journal', 'id')::regclass) \
               FROM generate_series(1, $3::bigint)) AS journal_ids, \
         ARRAY(SELECT nextval(pg_get_serial_sequence('orders', 'id')::regclass) \
               FROM found WHERE found.order_id IS NULL) AS order_ids) \
         SELECT found.*, reserved.journal_ids, reserved.order_ids FROM reserved LEFT JOIN found ON true",
        ATTEMPTS.select()
    )
});

/// `table`'s columns as an insert names them: the key first when the rows carry it.
fn columns(table: &Table, keyed: bool) -> String {
    let key = table.key.filter(|_| keyed);
    let columns: Vec<&str> = key.iter().chain(table.columns).copied().collect();
    columns.join(", ")
}

/// `INSERT INTO table (columns) SELECT columns FROM json_populate_recordset(NULL::table, $arg)`;
/// rows whose key was given out in advance override the identity.
fn insert(table: &Table, keyed: bool, arg: usize) -> String {
    let columns = columns(table, keyed);
    let overriding = if keyed {
        " OVERRIDING SYSTEM VALUE"
    } else {
        ""
    };
    format!(
        "INSERT INTO {name} ({columns}){overriding} SELECT {columns} \
         FROM json_populate_recordset(NULL::{name}, ${arg}::json)",
        name = table.name,
    )
}

/// The record type of an update's arguments ([`ORDER_UPDATE`], [`ATTEMPT_UPDATE`]), for
/// `json_to_recordset`: ids and times are `bigint`, the rest text.
fn update_type(table: &Table) -> String {
    let columns: Vec<String> = table
        .columns
        .iter()
        .map(|column| match *column {
            "id" | "order_id" | "updated_at" => format!("{column} bigint"),
            _ => format!("{column} text"),
        })
        .collect();
    columns.join(", ")
}

/// The ids of an update's rows (argument `arg`) as an array, for `id = ANY(…)` beside the join on
/// `id`: it gives the planner the primary key as the way in. Without it, as `json_to_recordset` is
/// guessed at 100 rows, the planner joined by hash and scanned another index: for the attempts, every
/// entry `checkout_attempts_open` still held for `open` (entries of attempts moved on stay until a
/// vacuum), 3,000 of them and 400 buffers per statement in a bench run, growing with the shop.
fn ids(arg: usize) -> String {
    format!("ARRAY(SELECT k.id FROM json_to_recordset(${arg}::json) AS k(id bigint))")
}

/// A round's writes in one statement; `$1`–`$9` are the JSON arrays of [`args`], in
/// [`Round::tables`]' order. Returns `claimed`, how many of the round's events it inserted.
///
/// Every part sees the snapshot the statement started with, and none sees another's rows but through
/// `RETURNING`; foreign keys between the parts are checked at the statement's end, when all its rows
/// are there. So the guards read what the round read: the order update moves an order only if it
/// still has the status it moves from (`moved`), and a transition's history line is written only for
/// an order `moved` returned (a round holds one request per attempt, so one update per order). The
/// attempt update needs no such guard (and must not have one on `state`, see [`ids`]): the batch
/// holds every attempt's row lock from [`LOCK`] on, and the round decided from the state it read
/// under that lock. The
/// mail triggers fire once per row inserted or moved, at the statement's end. An event key recorded
/// by another host since the round read (for another link key: the same link key is locked) is not
/// claimed (`ON CONFLICT DO NOTHING`), and the caller learns it from `claimed`.
pub(super) static WRITE: LazyLock<String> = LazyLock::new(|| {
    let history = |alias: &str| {
        format!(
            "INSERT INTO {name} ({columns}) SELECT {columns} \
             FROM json_populate_recordset(NULL::{name}, $4::json) AS {alias} \
             WHERE {alias}.from_status IS NULL OR {alias}.order_id IN (SELECT id FROM moved)",
            name = ORDER_HISTORY.name,
            columns = columns(&ORDER_HISTORY, false),
        )
    };
    let parts = [
        ("journal", insert(&JOURNAL, true, 1)),
        ("new_orders", insert(&ORDERS, true, 2)),
        (
            "claimed",
            insert(&PAYMENT_EVENTS, false, 3) + " ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
        ),
        (
            "moved",
            format!(
                "UPDATE orders SET payment_status = COALESCE(u.payment_status, orders.payment_status), \
                 attention = COALESCE(u.attention, orders.attention), \
                 slip_json = COALESCE(u.slip_json, orders.slip_json), \
                 deadline = COALESCE(orders.deadline, u.deadline), \
                 transaction_id = COALESCE(orders.transaction_id, u.transaction_id), \
                 updated_at = u.updated_at \
                 FROM json_to_recordset($5::json) AS u({}) WHERE orders.id = u.id \
                 AND orders.id = ANY({}) \
                 AND (u.from_status IS NULL OR orders.payment_status = u.from_status) \
                 RETURNING orders.id",
                update_type(&ORDER_UPDATE),
                ids(5)
            ),
        ),
        ("history", history("h")),
        (
            "attempts",
            format!(
                "UPDATE checkout_attempts SET state = u.state, \
                 order_id = COALESCE(u.order_id, checkout_attempts.order_id), \
                 attention = CASE WHEN u.state = 'ordered' THEN NULL ELSE checkout_attempts.attention END, \
                 updated_at = u.updated_at \
                 FROM json_to_recordset($6::json) AS u({}) WHERE checkout_attempts.id = u.id \
                 AND checkout_attempts.id = ANY({})",
                update_type(&ATTEMPT_UPDATE),
                ids(6)
            ),
        ),
        (
            "cards",
            insert(&MEMBER_CARDS, false, 7)
                + " ON CONFLICT (member_id, module_id) DO UPDATE SET token = excluded.token, \
                   last4 = excluded.last4, expiry = excluded.expiry, updated_at = excluded.updated_at",
        ),
        ("errors", insert(&SETTLEMENT_ERRORS, false, 8)),
        ("contracts", insert(&CONTRACTS, false, 9)),
    ];
    let parts: Vec<String> = parts
        .iter()
        .map(|(name, sql)| format!("{name} AS ({sql})"))
        .collect();
    format!(
        "WITH {} SELECT COUNT(*) AS claimed FROM claimed",
        parts.join(",\n")
    )
});

/// A new row as `json_populate_recordset` unpacks it: an object of its values by column name, bytes
/// as `\x` hex (`bytea`'s input form).
struct Record<'a>(&'a NewRow);

impl Serialize for Record<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let row = self.0;
        let table = row.table();
        let values = row.values();
        // A keyed row's first value is its key.
        let keyed = values.len() > table.columns.len();
        let names = table
            .key
            .filter(|_| keyed)
            .into_iter()
            .chain(table.columns.iter().copied());
        let mut object = serializer.serialize_map(Some(values.len()))?;
        for (name, value) in names.zip(values) {
            match value {
                Value::Int(int) => object.serialize_entry(name, int)?,
                Value::Text(text) => object.serialize_entry(name, text)?,
                Value::Bytes(bytes) => {
                    object.serialize_entry(name, &format!("\\x{}", hex::encode(bytes)))?
                }
                Value::Bool(flag) => object.serialize_entry(name, flag)?,
                Value::Expression(sql) => {
                    return Err(serde::ser::Error::custom(format!(
                        "{}.{name}: a round's row holds values, not `{sql}`",
                        table.name
                    )))
                }
            }
        }
        object.end()
    }
}

/// The arguments of [`WRITE`]: each table's rows of `round` as a JSON array of objects. The events
/// are sorted by event key and the cards by member and module: rows inserted in one order on every
/// host wait for one another (a key another transaction is inserting) without a cycle.
pub(super) fn args(round: &Round) -> Result<[String; 9], serde_json::Error> {
    let mut args: [String; 9] = Default::default();
    for (arg, rows) in args.iter_mut().zip(round.tables()) {
        let mut records: Vec<Record<'_>> = rows.iter().map(Record).collect();
        let sorted_by = match rows.first().map(NewRow::table) {
            // The event key, and the member and module: the first columns of those tables.
            Some(table) if table.name == PAYMENT_EVENTS.name => 1,
            Some(table) if table.name == MEMBER_CARDS.name => 2,
            _ => 0,
        };
        records.sort_by(|a, b| {
            let (a, b) = (&a.0.values()[..sorted_by], &b.0.values()[..sorted_by]);
            a.iter()
                .zip(b)
                .map(|(a, b)| compare(a, b))
                .find(|order| order.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        *arg = serde_json::to_string(&records)?;
    }
    Ok(args)
}

/// Orders two values of one column (ints or texts) for sorting rows by it.
fn compare(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::Int(a), Value::Int(b)) => a.cmp(b),
        (Value::Text(a), Value::Text(b)) => a.cmp(b),
        _ => std::cmp::Ordering::Equal,
    }
}
