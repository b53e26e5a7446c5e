//! Each table's column list, once, and the new rows written in that order.
//!
//! Every statement that names a table's columns takes them from here: the readers select
//! [`Table::select`], the cold-path inserts and both hot-path writers insert [`Table::insert`], and
//! SQLite's rounds derive their `json_each` positions from the same list (`sqlite/round.rs`). A new row
//! is a [`NewRow`]: its values are given column by column, by name, and each name is checked against
//! the list as it is given (in debug builds, so in every test), so a value cannot land in the wrong
//! column. The rows both writers insert on the hot path are built once, below, for both backends.

use serde::Serialize;
use shophost_module_api::CardOnFile;

use super::decide::{Entry, NewContract, NewOrder};
use super::{ApplyContext, InboundRecord};
use crate::domain::{Attempt, PaymentStatus};

/// A table and its columns.
#[derive(Debug)]
pub(super) struct Table {
    /// The table's name.
    pub name: &'static str,
    /// The id the database gives out, when the table has one: read with every row, and written only
    /// by SQLite's rounds, which give ids out in advance.
    pub key: Option<&'static str>,
    /// The other columns, in the order a [`NewRow`] gives them.
    pub columns: &'static [&'static str],
    /// Those of `columns` that hold bytes (BLOB, BYTEA).
    pub bytes: &'static [&'static str],
}

impl Table {
    /// Every column, the key first: what a reader selects.
    pub fn select(&self) -> String {
        self.key
            .iter()
            .chain(self.columns)
            .copied()
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The columns a new row gives: what an insert names.
    pub fn insert(&self) -> String {
        self.columns.join(", ")
    }
}

pub(super) const ATTEMPTS: Table = Table {
    name: "checkout_attempts",
    key: Some("id"),
    columns: &[
        "link_key",
        "kind",
        "module_id",
        "settlement_type",
        "payment_method_id",
        "payment_method_name",
        "member_id",
        "snapshot_json",
        "total",
        "state",
        "returned_at",
        "attention",
        "order_id",
        "created_at",
        "updated_at",
    ],
    bytes: &[],
};

pub(super) const ORDERS: Table = Table {
    name: "orders",
    key: Some("id"),
    columns: &[
        "order_number",
        "attempt_id",
        "link_key",
        "member_id",
        "customer_json",
        "lines_json",
        "total",
        "payment_method_id",
        "payment_method_name",
        "settlement_type",
        "settlement_label",
        "module_id",
        "payment_status",
        "transaction_id",
        "slip_json",
        "deadline",
        "attention",
        "created_at",
        "updated_at",
    ],
    bytes: &[],
};

pub(super) const ORDER_HISTORY: Table = Table {
    name: "order_history",
    key: Some("id"),
    columns: &["order_id", "from_status", "to_status", "reason", "at"],
    bytes: &[],
};

pub(super) const JOURNAL: Table = Table {
    name: "notification_journal",
    key: Some("id"),
    columns: &[
        "module_id",
        "endpoint",
        "method",
        "query",
        "content_type",
        "charset",
        "source",
        "headers_json",
        "body",
        "received_at",
        "verdict",
        "reason",
        "link_key",
        "response_status",
        "response_body",
        "replay_of",
        "replay_of_refused",
        "replay_note",
        "body_purged_at",
        "answered_at",
        "refusal",
    ],
    bytes: &["body", "response_body"],
};

pub(super) const REFUSED: Table = Table {
    name: "refused_requests",
    key: Some("id"),
    columns: &[
        "module_id",
        "endpoint",
        "method",
        "query",
        "content_type",
        "peer",
        "source",
        "headers_json",
        "body",
        "size",
        "received_at",
        "link_key",
        "replayed_at",
        "replay_journal_id",
    ],
    bytes: &["body"],
};

pub(super) const PAYMENT_EVENTS: Table = Table {
    name: "payment_events",
    key: Some("id"),
    columns: &[
        "dedup_key",
        "module_id",
        "link_key",
        "kind",
        "source",
        "at",
        "order_id",
        "journal_id",
    ],
    bytes: &[],
};

pub(super) const SETTLEMENT_ERRORS: Table = Table {
    name: "settlement_errors",
    key: Some("id"),
    columns: &[
        "module_id",
        "acting",
        "link_key",
        "result",
        "fields_json",
        "journal_id",
        "at",
    ],
    bytes: &[],
};

pub(super) const CONTRACTS: Table = Table {
    name: "recurring_contracts",
    key: Some("id"),
    columns: &[
        "order_id",
        "member_id",
        "module_id",
        "settlement_type",
        "gateway_id",
        "product_name",
        "amount",
        "interval_months",
        "charging_day",
        "next_charge",
        "status",
        "created_at",
        "updated_at",
    ],
    bytes: &[],
};

pub(super) const MEMBER_CARDS: Table = Table {
    name: "member_cards",
    key: None,
    columns: &[
        "member_id",
        "module_id",
        "token",
        "last4",
        "expiry",
        "updated_at",
    ],
    bytes: &[],
};

pub(super) const PAYMENT_METHODS: Table = Table {
    name: "payment_methods",
    key: Some("id"),
    columns: &[
        "name",
        "explanation",
        "settlement_type",
        "module",
        "active",
        "position",
    ],
    bytes: &[],
};

pub(super) const MEMBERS: Table = Table {
    name: "members",
    key: Some("id"),
    columns: &["email", "password_hash", "details_json", "created_at"],
    bytes: &[],
};

pub(super) const PRODUCTS: Table = Table {
    name: "products",
    key: Some("id"),
    columns: &[
        "sku",
        "name",
        "price",
        "description",
        "recurring_months",
        "charging_day",
        "tax_class",
        "active",
    ],
    bytes: &[],
};

pub(super) const MODULE_SETTINGS: Table = Table {
    name: "module_settings",
    key: None,
    columns: &["module_id", "values_json", "source", "valid", "updated_at"],
    bytes: &[],
};

pub(super) const SESSIONS: Table = Table {
    name: "storefront_sessions",
    key: None,
    columns: &["id", "data", "touched_at"],
    bytes: &[],
};

pub(super) const OPERATORS: Table = Table {
    name: "operators",
    key: Some("id"),
    columns: &[
        "login",
        "password_hash",
        "disabled",
        "created_at",
        "last_login_at",
    ],
    bytes: &[],
};

pub(super) const OPERATOR_SESSIONS: Table = Table {
    name: "operator_sessions",
    key: None,
    columns: &[
        "token_hash",
        "operator_id",
        "csrf_token",
        "created_at",
        "touched_at",
    ],
    bytes: &[],
};

/// One value of a new row (or a statement argument), as either backend binds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Bytes(Vec<u8>),
    Bool(bool),
    /// SQL text standing for the value, for PostgreSQL statements that take an id from an earlier
    /// part of the same statement (`id` of the order a CTE has just inserted). Never bound; SQLite's
    /// rounds give ids out in advance and never use it.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Expression(&'static str),
}

impl From<i64> for Value {
    fn from(value: i64) -> Self {
        Value::Int(Some(value))
    }
}
impl From<Option<i64>> for Value {
    fn from(value: Option<i64>) -> Self {
        Value::Int(value)
    }
}
impl From<&str> for Value {
    fn from(value: &str) -> Self {
        Value::Text(Some(value.to_owned()))
    }
}
impl From<&String> for Value {
    fn from(value: &String) -> Self {
        Value::Text(Some(value.clone()))
    }
}
impl From<String> for Value {
    fn from(value: String) -> Self {
        Value::Text(Some(value))
    }
}
impl From<Option<&str>> for Value {
    fn from(value: Option<&str>) -> Self {
        Value::Text(value.map(str::to_owned))
    }
}
impl From<Option<String>> for Value {
    fn from(value: Option<String>) -> Self {
        Value::Text(value)
    }
}
impl From<&[u8]> for Value {
    fn from(value: &[u8]) -> Self {
        Value::Bytes(value.to_vec())
    }
}
impl From<bool> for Value {
    fn from(value: bool) -> Self {
        Value::Bool(value)
    }
}

/// A new row's values in its table's column order.
#[derive(Debug, Clone)]
pub(super) struct NewRow {
    table: &'static Table,
    /// Whether the first value is the key (SQLite's rounds only).
    keyed: bool,
    values: Vec<Value>,
}

impl NewRow {
    /// A row whose key the database gives out (or that has none).
    pub fn new(table: &'static Table) -> Self {
        NewRow {
            table,
            keyed: false,
            values: Vec::with_capacity(table.columns.len()),
        }
    }

    /// A row with its key given out in advance (SQLite's rounds).
    pub fn with_key(table: &'static Table, id: i64) -> Self {
        let mut values = Vec::with_capacity(table.columns.len() + 1);
        values.push(Value::from(id));
        NewRow {
            table,
            keyed: true,
            values,
        }
    }

    /// Gives the value of the next column, which must be `column`.
    pub fn set(mut self, column: &'static str, value: impl Into<Value>) -> Self {
        let given = self.values.len() - usize::from(self.keyed);
        debug_assert_eq!(
            self.table.columns.get(given).copied(),
            Some(column),
            "{}: column {given} is not `{column}`",
            self.table.name
        );
        self.values.push(value.into());
        self
    }

    /// The table.
    pub fn table(&self) -> &'static Table {
        self.table
    }

    /// The values, the key first when given; every column must have one.
    pub fn values(&self) -> &[Value] {
        debug_assert_eq!(
            self.values.len(),
            self.table.columns.len() + usize::from(self.keyed),
            "{}: a new row without all its columns",
            self.table.name
        );
        &self.values
    }

    /// The values, for binding.
    pub fn into_values(self) -> Vec<Value> {
        let _complete = self.values();
        self.values
    }
}

/// JSON text for a column.
pub(super) fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

/// The order a [`NewOrder`] creates for `attempt`.
pub(super) fn order_row(row: NewRow, attempt: &Attempt, order: &NewOrder, at: i64) -> NewRow {
    row.set("order_number", &order.number)
        .set("attempt_id", attempt.id)
        .set("link_key", &attempt.link_key)
        .set("member_id", attempt.member_id)
        .set("customer_json", json(&attempt.snapshot.customer))
        .set("lines_json", json(&attempt.snapshot.lines))
        .set("total", attempt.total)
        .set("payment_method_id", attempt.payment_method_id)
        .set("payment_method_name", &attempt.payment_method_name)
        .set("settlement_type", &attempt.settlement_type)
        .set("settlement_label", &order.label)
        .set("module_id", &attempt.module_id)
        .set("payment_status", order.status.as_str())
        .set("transaction_id", order.transaction_id.clone())
        .set("slip_json", order.slip.as_ref().map(json))
        .set(
            "deadline",
            order.slip.as_ref().and_then(|slip| slip.deadline.clone()),
        )
        .set("attention", order.attention.clone())
        .set("created_at", at)
        .set("updated_at", at)
}

/// A line of an order's status history.
pub(super) fn history_row(
    order_id: Value,
    from: Option<PaymentStatus>,
    to: PaymentStatus,
    reason: &str,
    at: i64,
) -> NewRow {
    NewRow::new(&ORDER_HISTORY)
        .set("order_id", order_id)
        .set("from_status", from.map(PaymentStatus::as_str))
        .set("to_status", to.as_str())
        .set("reason", reason)
        .set("at", at)
}

/// The recurring contract a [`NewContract`] registers for the order `order_id`.
pub(super) fn contract_row(
    order_id: Value,
    attempt: &Attempt,
    contract: &NewContract,
    at: i64,
) -> NewRow {
    NewRow::new(&CONTRACTS)
        .set("order_id", order_id)
        .set("member_id", contract.member_id)
        .set("module_id", &attempt.module_id)
        .set("settlement_type", &attempt.settlement_type)
        .set("gateway_id", contract.gateway_id.clone())
        .set("product_name", &contract.product_name)
        .set("amount", contract.amount)
        .set(
            "interval_months",
            i64::from(contract.recurrence.product.interval_months),
        )
        .set(
            "charging_day",
            i64::from(contract.recurrence.product.charging_day),
        )
        .set(
            "next_charge",
            format!("{:08}", contract.recurrence.next_charge),
        )
        .set("status", "continuation")
        .set("created_at", at)
        .set("updated_at", at)
}

/// The card a module keeps for a member.
pub(super) fn card_row(member_id: i64, module_id: &str, card: &CardOnFile, at: i64) -> NewRow {
    NewRow::new(&MEMBER_CARDS)
        .set("member_id", member_id)
        .set("module_id", module_id)
        .set("token", &card.token)
        .set("last4", &card.last4)
        .set("expiry", &card.expiry)
        .set("updated_at", at)
}

/// The journal entry for a request, its key given or not.
pub(super) fn journal_row(row: NewRow, record: &InboundRecord, entry: &Entry<'_>) -> NewRow {
    row.set("module_id", record.module_id.clone())
        .set("endpoint", &record.endpoint)
        .set("method", &record.method)
        .set("query", &record.query)
        .set("content_type", record.content_type.clone())
        .set("charset", &record.charset)
        .set("source", &record.source)
        .set("headers_json", json(&record.headers))
        .set("body", record.body.as_slice())
        .set("received_at", record.received_at)
        .set("verdict", entry.verdict)
        .set("reason", &entry.reason)
        .set("link_key", entry.link_key.clone())
        .set("response_status", entry.response_status)
        .set("response_body", entry.response_body.as_slice())
        .set("replay_of", record.replay_of)
        .set("replay_of_refused", record.replay_of_refused)
        .set("replay_note", record.replay_note.clone())
        .set("body_purged_at", None::<i64>)
        // The answer is decided now; both writers build the entry just before they commit it and
        // send that answer, so this against `received_at` is the acknowledgement latency.
        .set("answered_at", crate::domain::now_millis())
        .set("refusal", entry.refusal)
}

/// The payment event a signal records (its dedup key claimed); the order and journal entry when known.
pub(super) fn event_row(
    context: &ApplyContext,
    dedup_key: &str,
    link_key: &str,
    kind: &str,
    at: i64,
    order_id: Option<i64>,
    journal_id: Option<i64>,
) -> NewRow {
    NewRow::new(&PAYMENT_EVENTS)
        .set("dedup_key", dedup_key)
        .set("module_id", &context.module_id)
        .set("link_key", link_key)
        .set("kind", kind)
        .set("source", context.channel)
        .set("at", at)
        .set("order_id", order_id)
        .set("journal_id", journal_id)
}

/// A 決済エラーログ line for a request, about the journal entry `journal_id`.
pub(super) fn error_row(
    record: &InboundRecord,
    result: &str,
    link_key: Option<&str>,
    journal_id: Value,
) -> NewRow {
    NewRow::new(&SETTLEMENT_ERRORS)
        .set("module_id", record.module_id.as_deref().unwrap_or(""))
        .set("acting", &record.endpoint)
        .set("link_key", link_key)
        .set("result", result)
        .set("fields_json", json(&record.fields))
        .set("journal_id", journal_id)
        .set("at", record.received_at)
}

#[cfg(test)]
mod tests {
    use super::{NewRow, Value, ORDER_HISTORY};

    #[test]
    fn a_reader_selects_the_key_then_the_columns() {
        assert_eq!(
            ORDER_HISTORY.select(),
            "id, order_id, from_status, to_status, reason, at"
        );
        assert_eq!(
            ORDER_HISTORY.insert(),
            "order_id, from_status, to_status, reason, at"
        );
    }

    #[test]
    #[cfg(debug_assertions)]
    fn a_value_given_for_the_wrong_column_is_caught() {
        let wrong = std::panic::catch_unwind(|| {
            NewRow::new(&ORDER_HISTORY)
                .set("order_id", 1)
                .set("to_status", "paid")
        });
        assert!(wrong.is_err());
        let keyed = NewRow::with_key(&ORDER_HISTORY, 7)
            .set("order_id", 1)
            .set("from_status", None::<&str>)
            .set("to_status", "paid")
            .set("reason", "入金通知")
            .set("at", 5);
        assert_eq!(keyed.values()[0], Value::Int(Some(7)));
        assert_eq!(keyed.values().len(), 6);
    }
}
