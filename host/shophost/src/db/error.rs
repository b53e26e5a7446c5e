//! Storage errors, and the one place a database's error becomes one of ours.
//!
//! A broken uniqueness rule is told by its exact name, the same on both backends: PostgreSQL names
//! the constraint ([`sqlx::error::DatabaseError::constraint`]); SQLite names none and says
//! `UNIQUE constraint failed: table.column, …` instead, so [`UNIQUE`] lists that text beside each
//! name. Both come from the migrations; nothing is guessed from a part of a message.

/// Storage errors.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database could not be reached or failed; the detail is for logs only.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The row does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness or reference rule was broken; names which (a constraint's name, or a rule the
    /// store checks itself, such as `orders` for a payment method still in use).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// Stored data could not be read back (a bug or a manual edit).
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// Every unique constraint of the schema: its PostgreSQL name, and what SQLite says when it is
/// broken. PostgreSQL names those the migrations leave unnamed `table_column_key` and primary keys
/// `table_pkey`.
const UNIQUE: &[(&str, &str)] = &[
    ("payment_methods_name_key", "payment_methods.name"),
    (
        "checkout_attempts_link_key_key",
        "checkout_attempts.link_key",
    ),
    ("members_email_key", "members.email"),
    ("products_sku_key", "products.sku"),
    ("orders_order_number_key", "orders.order_number"),
    ("orders_attempt_id_key", "orders.attempt_id"),
    ("orders_link_key_key", "orders.link_key"),
    (
        "orders_transaction_key",
        "orders.module_id, orders.transaction_id",
    ),
    ("payment_events_dedup_key", "payment_events.dedup_key"),
    (
        "recurring_contracts_order_id_key",
        "recurring_contracts.order_id",
    ),
    ("module_settings_pkey", "module_settings.module_id"),
    (
        "member_cards_pkey",
        "member_cards.member_id, member_cards.module_id",
    ),
    ("storefront_sessions_pkey", "storefront_sessions.id"),
    ("checkout_attempts_pkey", "checkout_attempts.id"),
    ("orders_pkey", "orders.id"),
    ("notification_journal_pkey", "notification_journal.id"),
    ("operators_login_key", "operators.login"),
    ("operator_sessions_pkey", "operator_sessions.token_hash"),
    (
        "mail_outbox_event_key",
        "mail_outbox.kind, mail_outbox.subject_id",
    ),
];

/// SQLite's message for a broken unique constraint, before the columns.
const SQLITE_UNIQUE: &str = "UNIQUE constraint failed: ";

/// The name of the unique constraint a violation reports: `constraint` as PostgreSQL gives it, or
/// SQLite's `message`. `None` for a constraint the schema does not have.
fn unique_constraint(constraint: Option<&str>, message: &str) -> Option<&'static str> {
    match constraint {
        Some(constraint) => UNIQUE
            .iter()
            .find(|(name, _)| *name == constraint)
            .map(|(name, _)| *name),
        None => {
            let columns = message.strip_prefix(SQLITE_UNIQUE)?;
            UNIQUE
                .iter()
                .find(|(_, sqlite)| *sqlite == columns)
                .map(|(name, _)| *name)
        }
    }
}

impl From<sqlx::Error> for DbError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::RowNotFound => DbError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                match unique_constraint(db.constraint(), db.message()) {
                    Some(name) => DbError::Conflict(name),
                    None => {
                        tracing::warn!(%error, "a unique constraint the schema does not name");
                        DbError::Conflict("unique")
                    }
                }
            }
            _ => DbError::Unavailable(error.to_string()),
        }
    }
}

impl From<serde_json::Error> for DbError {
    fn from(error: serde_json::Error) -> Self {
        DbError::Corrupt(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::unique_constraint;

    fn check(constraint: Option<&str>, message: &str, expect: Option<&str>) {
        assert_eq!(
            unique_constraint(constraint, message),
            expect,
            "{constraint:?} {message}"
        );
    }

    #[test]
    fn postgresql_and_sqlite_name_a_broken_constraint_alike() {
        for name in [
            "payment_methods_name_key",
            "members_email_key",
            "checkout_attempts_link_key_key",
        ] {
            let pg = r#"duplicate key value violates unique constraint "…""#;
            check(Some(name), pg, Some(name));
        }
        check(
            None,
            "UNIQUE constraint failed: payment_methods.name",
            Some("payment_methods_name_key"),
        );
        check(
            None,
            "UNIQUE constraint failed: members.email",
            Some("members_email_key"),
        );
        check(
            None,
            "UNIQUE constraint failed: checkout_attempts.link_key",
            Some("checkout_attempts_link_key_key"),
        );
        check(
            None,
            "UNIQUE constraint failed: orders.module_id, orders.transaction_id",
            Some("orders_transaction_key"),
        );
    }

    #[test]
    fn a_name_is_never_guessed_from_part_of_one() {
        // An orders link key is not an attempt's link key, though both say `link_key`.
        check(
            None,
            "UNIQUE constraint failed: orders.link_key",
            Some("orders_link_key_key"),
        );
        check(Some("orders_link_key_key"), "", Some("orders_link_key_key"));
        // `payment_methods.name` is not `payment_methods.name_kana`.
        check(
            None,
            "UNIQUE constraint failed: payment_methods.name_kana",
            None,
        );
        check(Some("some_name_key"), "", None);
        check(None, "NOT NULL constraint failed: orders.total", None);
    }

    /// The unique constraints a migration declares, as (PostgreSQL's name, SQLite's columns text):
    /// `CONSTRAINT name UNIQUE (a, b)` and `column … UNIQUE` (named `table_column_key`).
    fn declared(sql: &str) -> Vec<(String, String)> {
        let mut table = "";
        let mut found = Vec::new();
        for line in sql.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("CREATE TABLE ") {
                table = rest.split_whitespace().next().unwrap_or("");
            } else if let Some(rest) = line.strip_prefix("CONSTRAINT ") {
                let (name, rest) = rest.split_once(' ').unwrap();
                if let Some(columns) = rest.strip_prefix("UNIQUE (") {
                    let columns: Vec<String> = columns
                        .trim_end_matches([')', ','])
                        .split(", ")
                        .map(|column| format!("{table}.{column}"))
                        .collect();
                    found.push((name.to_owned(), columns.join(", ")));
                }
            } else if line.contains(" UNIQUE") {
                let column = line.split_whitespace().next().unwrap();
                found.push((format!("{table}_{column}_key"), format!("{table}.{column}")));
            }
        }
        found
    }

    #[test]
    fn every_unique_constraint_of_the_migrations_has_its_name() {
        let migrations = [
            include_str!("../../migrations/sqlite/0001_init.sql"),
            include_str!("../../migrations/sqlite/0002_recurring.sql"),
            include_str!("../../migrations/sqlite/0003_sessions.sql"),
            include_str!("../../migrations/sqlite/0004_refused_and_retention.sql"),
            include_str!("../../migrations/sqlite/0005_module_selection.sql"),
            include_str!("../../migrations/sqlite/0007_console.sql"),
            include_str!("../../migrations/sqlite/0008_method_position.sql"),
            include_str!("../../migrations/sqlite/0011_mail.sql"),
            include_str!("../../migrations/postgres/0001_init.sql"),
            include_str!("../../migrations/postgres/0002_recurring.sql"),
            include_str!("../../migrations/postgres/0003_sessions.sql"),
            include_str!("../../migrations/postgres/0004_refused_and_retention.sql"),
            include_str!("../../migrations/postgres/0005_module_selection.sql"),
            include_str!("../../migrations/postgres/0007_console.sql"),
            include_str!("../../migrations/postgres/0008_method_position.sql"),
            include_str!("../../migrations/postgres/0011_mail.sql"),
        ];
        let declared: Vec<_> = migrations.iter().flat_map(|sql| declared(sql)).collect();
        assert!(declared.len() >= 20, "{declared:?}");
        for (name, columns) in declared {
            check(Some(&name), "", Some(&name));
            check(
                None,
                &format!("UNIQUE constraint failed: {columns}"),
                Some(&name),
            );
        }
    }
}
