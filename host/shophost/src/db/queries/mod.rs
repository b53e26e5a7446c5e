//! The cold-path SQL, written once for both backends, and the one [`Store`](super::Store) impl (`store.rs`).
//!
//! The queries are plain generic functions over a backend's `sqlx::Database` (methods of
//! [`Pools`], by topic: `catalogue.rs`, `shoppers.rs`, `orders.rs`, and `refused.rs` for the
//! requests refused for their source and the retention purges), so go-to-definition reaches the
//! SQL and each query is read once. Their one bound is [`Dialect`]: how a backend runs a statement
//! with [`Value`] arguments, and the one clause whose text differs (`FOR UPDATE`). Each backend
//! implements it in a few lines (`sqlite/mod.rs`, `postgres/mod.rs`); spelling sqlx's own bounds
//! (executor, encode, decode) on every generic function instead would repeat a dozen lines each time.
//! Placeholders are `$1, $2, …`: PostgreSQL reads them natively, and sqlx's SQLite driver binds a `$N`
//! parameter to argument N.
//!
//! A store implements [`HotPath`], the part each backend does its own way (recording inbound requests),
//! and gets [`Store`](super::Store) from the impl in `store.rs`, which hands every other method to the shared queries.

mod attempts;
mod catalogue;
pub(super) mod dashboard;
mod logs;
pub(super) mod mail;
pub(super) mod members;
mod operators;
pub(super) mod order_list;
mod orders;
mod refused;
mod selection;
mod shoppers;
mod store;

use async_trait::async_trait;
use sqlx::query::Query;
use sqlx::{Database, Encode, Pool, Type};

use super::columns::{NewRow, Value};
use super::decide::Change;
use super::rows::Columns;
use super::{ApplyContext, DbError, InboundRecord, Intent, Recorded, Responses, WriterCounts};
use crate::domain::Attempt;

/// What the shared queries need of a backend's database type.
#[async_trait]
pub(super) trait Dialect: Database<Row: Columns> {
    /// The backend's name, as [`Store::backend`] gives it.
    const BACKEND: &'static str;
    /// The clause that locks the rows a transaction reads (`FOR UPDATE`). Empty for SQLite, which
    /// neither needs nor parses it: its single writer connection already serialises write
    /// transactions.
    const FOR_UPDATE: &'static str;
    /// The clause that locks the rows a claim reads and passes over those another transaction holds
    /// (`FOR UPDATE SKIP LOCKED`): several hosts claiming mail on one PostgreSQL database each get
    /// other rows. Empty for SQLite, whose single writer claims one batch at a time.
    const SKIP_LOCKED: &'static str;
    /// The outbox as a claim reads it, by `mail_outbox_due` (in the order mails are due, so a claim
    /// stops at its limit). SQLite's planner, which has no statistics here, took `mail_outbox_status`
    /// for the `status IN` instead and sorted every mail due: a claim of 50 from a backlog of 4,000
    /// took 2 ms, not 0.1. PostgreSQL's planner takes the index by itself.
    const MAIL_DUE: &'static str;
    /// A query whose one row's `used` is 1 when any checkout attempt's or order's lines name the
    /// product `$1`, else 0. The lines are JSON text, which each backend reads with its own functions.
    const PRODUCT_IN_LINES: &'static str;
    /// An expression of a `checkout_attempts` row: its customer's 姓名 and セイメイ, each without a
    /// space between, joined by `|` (what the 決済直前ログ's name search looks in).
    const ATTEMPT_CUSTOMER_NAMES: &'static str;
    /// An expression of a member's names with no spaces (`details_json`'s 姓名, a space, セイメイ), which
    /// the console's member search matches. The details are JSON text, read with each backend's functions.
    const MEMBER_NAMES: &'static str;

    /// Runs a statement; returns its rows.
    async fn fetch(
        connection: &mut Self::Connection,
        sql: &str,
        args: Vec<Value>,
    ) -> Result<Vec<Self::Row>, DbError>;

    /// Runs a statement; returns how many rows it changed.
    async fn execute(
        connection: &mut Self::Connection,
        sql: &str,
        args: Vec<Value>,
    ) -> Result<u64, DbError>;

    /// Writes one decided change to `attempt`, the way the backend's hot path writes it (for an order
    /// an operator recovers by hand).
    async fn write_change(
        connection: &mut Self::Connection,
        attempt: &Attempt,
        change: &Change,
        at: i64,
    ) -> Result<(), DbError>;
}

/// A store's connection pools: writes go to `write`, reads to `read` (on PostgreSQL the same pool).
#[derive(Debug)]
pub(super) struct Pools<DB: Database> {
    pub write: Pool<DB>,
    pub read: Pool<DB>,
}

// Not derived: a derive would ask the database type to be `Clone` too.
impl<DB: Database> Clone for Pools<DB> {
    fn clone(&self) -> Self {
        Pools {
            write: self.write.clone(),
            read: self.read.clone(),
        }
    }
}

/// Binds [`Value`]s in order: for the backends' [`Dialect`] impls, whose drivers encode these types.
pub(super) fn bind<'q, DB>(
    mut query: Query<'q, DB, DB::Arguments<'q>>,
    args: Vec<Value>,
) -> Query<'q, DB, DB::Arguments<'q>>
where
    DB: Database,
    Option<i64>: Encode<'q, DB> + Type<DB>,
    Option<String>: Encode<'q, DB> + Type<DB>,
    Vec<u8>: Encode<'q, DB> + Type<DB>,
    bool: Encode<'q, DB> + Type<DB>,
{
    for arg in args {
        query = match arg {
            Value::Int(int) => query.bind(int),
            Value::Text(text) => query.bind(text),
            Value::Bytes(bytes) => query.bind(bytes),
            Value::Bool(flag) => query.bind(flag),
            Value::Expression(sql) => unreachable!("`{sql}` belongs in a statement's text"),
        };
    }
    query
}

/// `$first, $first+1, …`: `count` placeholders, for a list of values (`IN (…)`, a `VALUES` row).
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `INSERT INTO table (columns) VALUES ($1, …)` for a new row, then `tail`.
fn insert(row: &NewRow, tail: &str) -> String {
    format!(
        "INSERT INTO {} ({}) VALUES ({}) {tail}",
        row.table().name,
        row.table().insert(),
        placeholders(1, row.values().len())
    )
}

impl<DB: Dialect> Pools<DB> {
    /// Rows of a read.
    async fn read_rows(&self, sql: &str, args: Vec<Value>) -> Result<Vec<DB::Row>, DbError> {
        let mut connection = self.read.acquire().await?;
        DB::fetch(&mut connection, sql, args).await
    }

    /// The row of a read, if any.
    async fn read_row(&self, sql: &str, args: Vec<Value>) -> Result<Option<DB::Row>, DbError> {
        Ok(self.read_rows(sql, args).await?.into_iter().next())
    }

    /// Rows a write returns.
    async fn write_rows(&self, sql: &str, args: Vec<Value>) -> Result<Vec<DB::Row>, DbError> {
        let mut connection = self.write.acquire().await?;
        DB::fetch(&mut connection, sql, args).await
    }

    /// How many rows a write changed.
    async fn write(&self, sql: &str, args: Vec<Value>) -> Result<u64, DbError> {
        let mut connection = self.write.acquire().await?;
        DB::execute(&mut connection, sql, args).await
    }
}

/// The part of [`Store`](super::Store) each backend does its own way.
#[async_trait]
pub(super) trait HotPath: Send + Sync + 'static {
    /// The backend's database type.
    type Db: Dialect;
    /// The pools the shared queries use.
    fn pools(&self) -> &Pools<Self::Db>;
    /// See [`Store::writer_counts`].
    fn writer_counts(&self) -> WriterCounts;
    /// See [`Store::writer_running`]; a store without a writer task of its own always is.
    fn writer_running(&self) -> bool {
        true
    }
    /// See [`Store::close`]; by default, closes the pools.
    async fn close(&self) {
        self.pools().write.close().await;
        self.pools().read.close().await;
    }
    /// See [`Store::record_inbound`].
    async fn record(
        &self,
        record: InboundRecord,
        intent: Intent,
        context: ApplyContext,
        responses: Responses,
    ) -> Result<Recorded, DbError>;
}
