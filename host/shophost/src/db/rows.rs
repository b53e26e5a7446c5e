//! Rows read back into domain types, once for both backends.
//!
//! Every reader selects a table's columns from `columns.rs` and reads them here by name. [`Columns`]
//! is the little a row must do for that (an integer, a text, a flag, bytes, each possibly NULL); it is
//! implemented once for every sqlx row whose backend decodes those types, which SQLite's and
//! PostgreSQL's do, so these functions are plain generic functions of one bound.

use shophost_module_api::SettingsValues;
use sqlx::{ColumnIndex, Decode, Type};

use super::decide::Loaded;
use super::{DbError, StoredSettings};
use crate::domain::{
    Attempt, AttemptKind, AttemptState, JournalEntry, Member, MemberCard, Order, OrderHistoryEntry,
    PaymentMethod, PaymentStatus, Product, ProductRecurrence, RecurringContract, RefusedRequest,
    SettlementError, TaxClass,
};

/// A row read by column name.
pub(super) trait Columns {
    /// An integer.
    fn int(&self, column: &str) -> Result<i64, DbError>;
    /// An integer or NULL.
    fn int_or_null(&self, column: &str) -> Result<Option<i64>, DbError>;
    /// A text.
    fn text(&self, column: &str) -> Result<String, DbError>;
    /// A text or NULL.
    fn text_or_null(&self, column: &str) -> Result<Option<String>, DbError>;
    /// A boolean.
    fn flag(&self, column: &str) -> Result<bool, DbError>;
    /// Bytes.
    fn bytes(&self, column: &str) -> Result<Vec<u8>, DbError>;
    /// Bytes or NULL.
    fn bytes_or_null(&self, column: &str) -> Result<Option<Vec<u8>>, DbError>;
}

impl<R> Columns for R
where
    R: sqlx::Row,
    for<'c> &'c str: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
{
    fn int(&self, column: &str) -> Result<i64, DbError> {
        Ok(self.try_get(column)?)
    }
    fn int_or_null(&self, column: &str) -> Result<Option<i64>, DbError> {
        Ok(self.try_get(column)?)
    }
    fn text(&self, column: &str) -> Result<String, DbError> {
        Ok(self.try_get(column)?)
    }
    fn text_or_null(&self, column: &str) -> Result<Option<String>, DbError> {
        Ok(self.try_get(column)?)
    }
    fn flag(&self, column: &str) -> Result<bool, DbError> {
        Ok(self.try_get(column)?)
    }
    fn bytes(&self, column: &str) -> Result<Vec<u8>, DbError> {
        Ok(self.try_get(column)?)
    }
    fn bytes_or_null(&self, column: &str) -> Result<Option<Vec<u8>>, DbError> {
        Ok(self.try_get(column)?)
    }
}

/// A stored value that is not one the host writes.
pub(super) fn corrupt(what: &str, value: &str) -> DbError {
    DbError::Corrupt(format!("{what} `{value}`"))
}

fn status(text: &str) -> Result<PaymentStatus, DbError> {
    PaymentStatus::parse(text).ok_or_else(|| corrupt("payment status", text))
}

fn from_json<T: serde::de::DeserializeOwned>(
    row: &impl Columns,
    column: &str,
) -> Result<T, DbError> {
    Ok(serde_json::from_str(&row.text(column)?)?)
}

pub(super) fn attempt(row: &impl Columns) -> Result<Attempt, DbError> {
    let kind = row.text("kind")?;
    let state = row.text("state")?;
    Ok(Attempt {
        id: row.int("id")?,
        link_key: row.text("link_key")?,
        kind: AttemptKind::parse(&kind).ok_or_else(|| corrupt("attempt kind", &kind))?,
        module_id: row.text("module_id")?,
        settlement_type: row.text("settlement_type")?,
        payment_method_id: row.int_or_null("payment_method_id")?,
        payment_method_name: row.text("payment_method_name")?,
        member_id: row.int_or_null("member_id")?,
        snapshot: from_json(row, "snapshot_json")?,
        total: row.int("total")?,
        state: AttemptState::parse(&state).ok_or_else(|| corrupt("attempt state", &state))?,
        returned_at: row.int_or_null("returned_at")?,
        attention: row.text_or_null("attention")?,
        order_id: row.int_or_null("order_id")?,
        created_at: row.int("created_at")?,
    })
}

/// An attempt read for a signal, with `recorded_for`, `order_status`, `order_number`,
/// `order_transaction_id` and `succeeded_before`.
pub(super) fn loaded(row: &impl Columns) -> Result<Loaded, DbError> {
    let attempt = attempt(row)?;
    let order = match (
        attempt.order_id,
        row.text_or_null("order_status")?,
        row.text_or_null("order_number")?,
    ) {
        (Some(id), Some(order_status), Some(number)) => Some((id, status(&order_status)?, number)),
        _ => None,
    };
    Ok(Loaded {
        attempt,
        recorded_for: row.text_or_null("recorded_for")?,
        order,
        order_transaction_id: row.text_or_null("order_transaction_id")?,
        succeeded_before: row.int("succeeded_before")? != 0,
    })
}

pub(super) fn order(row: &impl Columns) -> Result<Order, DbError> {
    let slip = row.text_or_null("slip_json")?;
    Ok(Order {
        id: row.int("id")?,
        order_number: row.text("order_number")?,
        attempt_id: row.int("attempt_id")?,
        link_key: row.text("link_key")?,
        member_id: row.int_or_null("member_id")?,
        customer: from_json(row, "customer_json")?,
        lines: from_json(row, "lines_json")?,
        total: row.int("total")?,
        payment_method_id: row.int_or_null("payment_method_id")?,
        payment_method_name: row.text("payment_method_name")?,
        settlement_type: row.text("settlement_type")?,
        settlement_label: row.text("settlement_label")?,
        module_id: row.text("module_id")?,
        payment_status: status(&row.text("payment_status")?)?,
        transaction_id: row.text_or_null("transaction_id")?,
        slip: slip.map(|slip| serde_json::from_str(&slip)).transpose()?,
        deadline: row.text_or_null("deadline")?,
        attention: row.text_or_null("attention")?,
        created_at: row.int("created_at")?,
    })
}

pub(super) fn history_entry(row: &impl Columns) -> Result<OrderHistoryEntry, DbError> {
    let from = row.text_or_null("from_status")?;
    Ok(OrderHistoryEntry {
        from_status: from.as_deref().and_then(PaymentStatus::parse),
        to_status: status(&row.text("to_status")?)?,
        reason: row.text("reason")?,
        at: row.int("at")?,
    })
}

pub(super) fn payment_method(row: &impl Columns) -> Result<PaymentMethod, DbError> {
    Ok(PaymentMethod {
        id: row.int("id")?,
        name: row.text("name")?,
        explanation: row.text("explanation")?,
        settlement_type: row.text("settlement_type")?,
        module: row.text("module")?,
        active: row.flag("active")?,
        position: row.int("position")?,
    })
}

pub(super) fn product(row: &impl Columns) -> Result<Product, DbError> {
    let months = row.int_or_null("recurring_months")?;
    let day = row.int_or_null("charging_day")?;
    Ok(Product {
        id: row.int("id")?,
        sku: row.text("sku")?,
        name: row.text("name")?,
        price: row.int("price")?,
        description: row.text("description")?,
        active: row.flag("active")?,
        tax_class: {
            let class = row.text("tax_class")?;
            TaxClass::parse(&class).ok_or_else(|| corrupt("tax class", &class))?
        },
        recurrence: months.zip(day).map(|(months, day)| ProductRecurrence {
            interval_months: months as u32,
            charging_day: day as u32,
        }),
    })
}

pub(super) fn contract(row: &impl Columns) -> Result<RecurringContract, DbError> {
    Ok(RecurringContract {
        id: row.int("id")?,
        order_id: row.int("order_id")?,
        member_id: row.int("member_id")?,
        module_id: row.text("module_id")?,
        settlement_type: row.text("settlement_type")?,
        gateway_id: row.text_or_null("gateway_id")?,
        product_name: row.text("product_name")?,
        amount: row.int("amount")?,
        interval_months: row.int("interval_months")?,
        charging_day: row.int("charging_day")?,
        next_charge: row.text("next_charge")?,
        status: row.text("status")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    })
}

pub(super) fn member(row: &impl Columns) -> Result<Member, DbError> {
    Ok(Member {
        id: row.int("id")?,
        email: row.text("email")?,
        details: from_json(row, "details_json")?,
    })
}

pub(super) fn member_card(row: &impl Columns) -> Result<MemberCard, DbError> {
    Ok(MemberCard {
        module_id: row.text("module_id")?,
        token: row.text("token")?,
        last4: row.text("last4")?,
        expiry: row.text("expiry")?,
    })
}

pub(super) fn settings(row: &impl Columns) -> Result<StoredSettings, DbError> {
    Ok(StoredSettings {
        values: from_json::<SettingsValues>(row, "values_json")?,
        source: row.text("source")?,
        valid: row.flag("valid")?,
        updated_at: row.int("updated_at")?,
    })
}

pub(super) fn journal_entry(row: &impl Columns) -> Result<JournalEntry, DbError> {
    Ok(JournalEntry {
        id: row.int("id")?,
        module_id: row.text_or_null("module_id")?,
        endpoint: row.text("endpoint")?,
        method: row.text("method")?,
        query: row.text("query")?,
        content_type: row.text_or_null("content_type")?,
        charset: row.text("charset")?,
        source: row.text("source")?,
        headers: from_json(row, "headers_json")?,
        body: row.bytes("body")?,
        received_at: row.int("received_at")?,
        verdict: row.text("verdict")?,
        reason: row.text("reason")?,
        link_key: row.text_or_null("link_key")?,
        response_status: row.int("response_status")?,
        response_body: row.bytes("response_body")?,
        replay_of: row.int_or_null("replay_of")?,
        replay_of_refused: row.int_or_null("replay_of_refused")?,
        replay_note: row.text_or_null("replay_note")?,
        body_purged_at: row.int_or_null("body_purged_at")?,
    })
}

pub(super) fn refused_request(row: &impl Columns) -> Result<RefusedRequest, DbError> {
    Ok(RefusedRequest {
        id: row.int("id")?,
        module_id: row.text("module_id")?,
        endpoint: row.text("endpoint")?,
        method: row.text("method")?,
        query: row.text("query")?,
        content_type: row.text_or_null("content_type")?,
        peer: row.text("peer")?,
        source: row.text("source")?,
        headers: from_json(row, "headers_json")?,
        body: row.bytes("body")?,
        size: row.int("size")?,
        received_at: row.int("received_at")?,
        link_key: row.text_or_null("link_key")?,
        replayed_at: row.int_or_null("replayed_at")?,
        replay_journal_id: row.int_or_null("replay_journal_id")?,
    })
}

pub(super) fn settlement_error(row: &impl Columns) -> Result<SettlementError, DbError> {
    Ok(SettlementError {
        id: row.int("id")?,
        module_id: row.text("module_id")?,
        acting: row.text("acting")?,
        link_key: row.text_or_null("link_key")?,
        result: row.text("result")?,
        fields: from_json(row, "fields_json")?,
        journal_id: row.int_or_null("journal_id")?,
        at: row.int("at")?,
    })
}

pub(super) fn operator(row: &impl Columns) -> Result<crate::domain::Operator, DbError> {
    Ok(crate::domain::Operator {
        id: row.int("id")?,
        login: row.text("login")?,
        disabled: row.flag("disabled")?,
        created_at: row.int("created_at")?,
        last_login_at: row.int_or_null("last_login_at")?,
    })
}

pub(super) fn operator_session(
    row: &impl Columns,
) -> Result<crate::domain::OperatorSession, DbError> {
    Ok(crate::domain::OperatorSession {
        token_hash: row.text("token_hash")?,
        operator_id: row.int("operator_id")?,
        csrf_token: row.text("csrf_token")?,
        created_at: row.int("created_at")?,
        touched_at: row.int("touched_at")?,
    })
}
