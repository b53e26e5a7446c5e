//! The SQL behind [`Store`], written once and expanded for SQLite and PostgreSQL.
//!
//! `store_impl!` takes the backend's database type, the one clause that differs in the queries
//! (`FOR UPDATE`, which SQLite neither needs nor parses: its single writer connection already serialises
//! write transactions), and whether several statements may share one round trip (SQLite: sqlx runs each
//! statement on a worker thread, so on the notification path the order with its history and attempt
//! update, and the journal entry with its event, are each sent as one multi-statement string).
//! Placeholders are `$1, $2, …`: PostgreSQL reads them natively, and sqlx's SQLite driver binds a
//! `$N` parameter to argument N, in every statement of a multi-statement string.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use shophost_module_api::{Refusal, SettingsValues, SettlementKind, Signal};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Row;
use tokio::sync::{mpsc, oneshot};

use super::{
    ApplyContext, DbError, InboundRecord, Intent, NewAttempt, NewPaymentMethod, OrderFilter,
    Recorded, Responder, Store, StoreCounts, StoredSettings, Verdict,
};
use crate::domain::{
    local_date, now_millis, Attempt, AttemptKind, AttemptSnapshot, AttemptState, CartLine,
    CustomerDetails, JournalEntry, Member, MemberCard, Order, OrderHistoryEntry, PaymentMethod,
    PaymentStatus, Product, SettlementError, StoredSlip,
};

/// The SQLite store: one writer connection (SQLite has one writer at a time anyway, and a single
/// connection makes write transactions queue in the pool instead of failing with `SQLITE_BUSY`) and a
/// small pool of readers. WAL journal, `synchronous = FULL`: a commit is on disk before we acknowledge.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    write: SqlitePool,
    read: SqlitePool,
    writer: mpsc::Sender<WriteJob>,
}

/// One inbound request waiting for the SQLite group-commit writer.
struct WriteJob {
    record: InboundRecord,
    intent: Intent,
    context: ApplyContext,
    respond: Responder,
    reply: oneshot::Sender<Result<Recorded, DbError>>,
}

/// The most inbound requests one SQLite commit carries.
const MAX_BATCH: usize = 64;

impl SqliteStore {
    /// Opens (creating if missing) the database at a `sqlite:` URL and migrates it.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| DbError::Unavailable(format!("bad SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // Statement journals (for multi-row statements) in memory: no file create/unlink per request.
            .pragma("temp_store", "memory")
            .busy_timeout(Duration::from_secs(10));
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&write)
            .await
            .map_err(|e| DbError::Unavailable(format!("migration failed: {e}")))?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.read_only(true))
            .await?;
        let (writer, jobs) = mpsc::channel(1024);
        tokio::spawn(group_commit(write.clone(), jobs));
        Ok(SqliteStore {
            write,
            read,
            writer,
        })
    }

    /// Hands the request to the group-commit writer and waits for its commit.
    async fn record(
        &self,
        record: &InboundRecord,
        intent: &Intent,
        context: &ApplyContext,
        respond: Responder,
    ) -> Result<Recorded, DbError> {
        let stopped = || DbError::Unavailable("the SQLite writer has stopped".to_owned());
        let (reply, answer) = oneshot::channel();
        let job = WriteJob {
            record: record.clone(),
            intent: intent.clone(),
            context: context.clone(),
            respond,
            reply,
        };
        self.writer.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// The SQLite writer: a commit is the expensive part (an fsync), so every request that arrived while
/// the previous commit was on disk goes into the next one. Every request is answered only after the
/// commit that holds it.
async fn group_commit(pool: SqlitePool, mut jobs: mpsc::Receiver<WriteJob>) {
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let results = commit_batch(&pool, &batch).await;
        for (job, result) in batch.into_iter().zip(results) {
            let _ = job.reply.send(result);
        }
    }
}

async fn commit_batch(pool: &SqlitePool, batch: &[WriteJob]) -> Vec<Result<Recorded, DbError>> {
    let all_failed = |error: &sqlx::Error| -> Vec<Result<Recorded, DbError>> {
        batch
            .iter()
            .map(|_| Err(DbError::Unavailable(error.to_string())))
            .collect()
    };
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(error) => return all_failed(&error),
    };
    // The fast path: every request in one transaction, no savepoints. A storage error in any of them
    // rolls the whole batch back (nothing was answered yet) and the requests are retried one
    // transaction each, so one failure cannot sink the others.
    let mut recorded = Vec::with_capacity(batch.len());
    for job in batch {
        match SqliteStore::record_in_tx(
            &mut tx,
            &job.record,
            &job.intent,
            &job.context,
            &job.respond,
        )
        .await
        {
            Ok(result) => recorded.push(result),
            Err(_) => break,
        }
    }
    if recorded.len() == batch.len() {
        return match tx.commit().await {
            Ok(()) => recorded.into_iter().map(Ok).collect(),
            Err(error) => all_failed(&error),
        };
    }
    let _ = tx.rollback().await;
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        let result = async {
            let mut tx = pool.begin().await?;
            match SqliteStore::record_in_tx(
                &mut tx,
                &job.record,
                &job.intent,
                &job.context,
                &job.respond,
            )
            .await
            {
                Ok(result) => {
                    tx.commit().await?;
                    Ok(result)
                }
                Err(error) => {
                    let _ = tx.rollback().await;
                    Err(error)
                }
            }
        }
        .await;
        results.push(result);
    }
    results
}

/// The PostgreSQL store: one pool; row locks (`FOR UPDATE`) serialise signals about the same attempt
/// across host processes.
#[derive(Debug, Clone)]
pub struct PgStore {
    write: PgPool,
    read: PgPool,
}

impl PgStore {
    /// One transaction per request: PostgreSQL commits from many connections at once, and row locks
    /// order the requests about one attempt across host processes.
    async fn record(
        &self,
        record: &InboundRecord,
        intent: &Intent,
        context: &ApplyContext,
        respond: Responder,
    ) -> Result<Recorded, DbError> {
        let mut tx = self.write.begin().await?;
        let recorded = Self::record_in_tx(&mut tx, record, intent, context, &respond).await?;
        tx.commit().await?;
        Ok(recorded)
    }

    /// Connects to a `postgres://` URL and migrates the database.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| DbError::Unavailable(format!("migration failed: {e}")))?;
        Ok(PgStore {
            write: pool.clone(),
            read: pool,
        })
    }
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

fn corrupt(what: &str, value: &str) -> DbError {
    DbError::Corrupt(format!("{what} `{value}`"))
}

/// The order number: the shop-local date and the attempt id, so it is unique without another query.
fn order_number(attempt_id: i64, at: i64) -> String {
    format!("{}-{:06}", local_date(at).yyyymmdd(), attempt_id)
}

const ATTEMPT_COLUMNS: &str = "id, link_key, kind, module_id, settlement_type, payment_method_id, \
     payment_method_name, member_id, snapshot_json, total, state, returned_at, attention, order_id, created_at";

const ORDER_COLUMNS: &str =
    "id, order_number, attempt_id, link_key, member_id, customer_json, lines_json, \
     total, payment_method_id, payment_method_name, settlement_type, settlement_label, module_id, \
     payment_status, transaction_id, slip_json, deadline, attention, created_at";

const JOURNAL_COLUMNS: &str = "id, module_id, endpoint, method, query, content_type, charset, source, \
     headers_json, body, received_at, verdict, reason, link_key, response_status, response_body, replay_of";

/// What applying a signal to an attempt came to, before journaling.
struct Applied {
    verdict: Verdict,
    settlement_type: Option<String>,
    order_number: Option<String>,
    order_id: Option<i64>,
    error_log: Option<(String, Option<String>)>,
}

impl Applied {
    fn refused(refusal: Refusal, reason: String) -> Self {
        Applied {
            verdict: Verdict::Refused { refusal, reason },
            settlement_type: None,
            order_number: None,
            order_id: None,
            error_log: None,
        }
    }
}

/// The order insert shared by both backends (`$1`–`$17`), as a literal for `concat!`.
macro_rules! order_insert {
    () => {
        "INSERT INTO orders (order_number, attempt_id, link_key, member_id, customer_json, \
         lines_json, total, payment_method_id, payment_method_name, settlement_type, \
         settlement_label, module_id, payment_status, transaction_id, slip_json, deadline, \
         attention, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, NULL, $17, $17)"
    };
}

/// The journal insert shared by both backends (`$1`–`$16`), as a literal for `concat!`.
macro_rules! journal_insert {
    () => {
        "INSERT INTO notification_journal (module_id, endpoint, method, query, content_type, \
         charset, source, headers_json, body, received_at, verdict, reason, link_key, \
         response_status, response_body, replay_of) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
    };
}

macro_rules! store_impl {
    ($store:ident, $db:ty, $backend:literal, $for_update:literal, $one_trip:literal) => {
        impl $store {
            fn attempt_from_row(row: &<$db as sqlx::Database>::Row) -> Result<Attempt, DbError> {
                let kind: String = row.try_get("kind")?;
                let state: String = row.try_get("state")?;
                let snapshot: String = row.try_get("snapshot_json")?;
                Ok(Attempt {
                    id: row.try_get("id")?,
                    link_key: row.try_get("link_key")?,
                    kind: AttemptKind::parse(&kind).ok_or_else(|| corrupt("attempt kind", &kind))?,
                    module_id: row.try_get("module_id")?,
                    settlement_type: row.try_get("settlement_type")?,
                    payment_method_id: row.try_get("payment_method_id")?,
                    payment_method_name: row.try_get("payment_method_name")?,
                    member_id: row.try_get("member_id")?,
                    snapshot: serde_json::from_str::<AttemptSnapshot>(&snapshot)?,
                    total: row.try_get("total")?,
                    state: AttemptState::parse(&state).ok_or_else(|| corrupt("attempt state", &state))?,
                    returned_at: row.try_get("returned_at")?,
                    attention: row.try_get("attention")?,
                    order_id: row.try_get("order_id")?,
                    created_at: row.try_get("created_at")?,
                })
            }

            fn order_from_row(row: &<$db as sqlx::Database>::Row) -> Result<Order, DbError> {
                let customer: String = row.try_get("customer_json")?;
                let lines: String = row.try_get("lines_json")?;
                let status: String = row.try_get("payment_status")?;
                let slip: Option<String> = row.try_get("slip_json")?;
                Ok(Order {
                    id: row.try_get("id")?,
                    order_number: row.try_get("order_number")?,
                    attempt_id: row.try_get("attempt_id")?,
                    link_key: row.try_get("link_key")?,
                    member_id: row.try_get("member_id")?,
                    customer: serde_json::from_str::<CustomerDetails>(&customer)?,
                    lines: serde_json::from_str::<Vec<CartLine>>(&lines)?,
                    total: row.try_get("total")?,
                    payment_method_id: row.try_get("payment_method_id")?,
                    payment_method_name: row.try_get("payment_method_name")?,
                    settlement_type: row.try_get("settlement_type")?,
                    settlement_label: row.try_get("settlement_label")?,
                    module_id: row.try_get("module_id")?,
                    payment_status: PaymentStatus::parse(&status)
                        .ok_or_else(|| corrupt("payment status", &status))?,
                    transaction_id: row.try_get("transaction_id")?,
                    slip: slip.map(|s| serde_json::from_str::<StoredSlip>(&s)).transpose()?,
                    deadline: row.try_get("deadline")?,
                    attention: row.try_get("attention")?,
                    created_at: row.try_get("created_at")?,
                })
            }

            fn method_from_row(row: &<$db as sqlx::Database>::Row) -> Result<PaymentMethod, DbError> {
                Ok(PaymentMethod {
                    id: row.try_get("id")?,
                    name: row.try_get("name")?,
                    explanation: row.try_get("explanation")?,
                    settlement_type: row.try_get("settlement_type")?,
                    module: row.try_get("module")?,
                    active: row.try_get("active")?,
                    sort: row.try_get("sort")?,
                })
            }

            fn member_from_row(row: &<$db as sqlx::Database>::Row) -> Result<Member, DbError> {
                let details: String = row.try_get("details_json")?;
                Ok(Member {
                    id: row.try_get("id")?,
                    email: row.try_get("email")?,
                    details: serde_json::from_str(&details)?,
                })
            }

            fn journal_from_row(row: &<$db as sqlx::Database>::Row) -> Result<JournalEntry, DbError> {
                let headers: String = row.try_get("headers_json")?;
                Ok(JournalEntry {
                    id: row.try_get("id")?,
                    module_id: row.try_get("module_id")?,
                    endpoint: row.try_get("endpoint")?,
                    method: row.try_get("method")?,
                    query: row.try_get("query")?,
                    content_type: row.try_get("content_type")?,
                    charset: row.try_get("charset")?,
                    source: row.try_get("source")?,
                    headers: serde_json::from_str(&headers)?,
                    body: row.try_get("body")?,
                    received_at: row.try_get("received_at")?,
                    verdict: row.try_get("verdict")?,
                    reason: row.try_get("reason")?,
                    link_key: row.try_get("link_key")?,
                    response_status: row.try_get("response_status")?,
                    response_body: row.try_get("response_body")?,
                    replay_of: row.try_get("replay_of")?,
                })
            }

            async fn insert_history(
                tx: &mut sqlx::Transaction<'_, $db>,
                order_id: i64,
                from: Option<PaymentStatus>,
                to: PaymentStatus,
                reason: &str,
                at: i64,
            ) -> Result<(), DbError> {
                sqlx::query(
                    "INSERT INTO order_history (order_id, from_status, to_status, reason, at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(order_id)
                .bind(from.map(PaymentStatus::as_str))
                .bind(to.as_str())
                .bind(reason)
                .bind(at)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            /// Creates the order for an open attempt and moves the attempt to `ordered`.
            #[allow(clippy::too_many_arguments)]
            async fn create_order(
                tx: &mut sqlx::Transaction<'_, $db>,
                attempt: &Attempt,
                status: PaymentStatus,
                settlement_label: &str,
                transaction_id: Option<&str>,
                slip: Option<&StoredSlip>,
                reason: &str,
                at: i64,
            ) -> Result<(i64, String), DbError> {
                let number = order_number(attempt.id, at);
                let sql = if $one_trip {
                    // SQLite: sqlx binds `$N` by number across the statements of one string, so the
                    // order, its first history entry and the attempt's move to `ordered` cost one round
                    // trip to SQLite's worker thread instead of three.
                    concat!(
                        order_insert!(),
                        "; INSERT INTO order_history (order_id, from_status, to_status, reason, at) \
                         VALUES (last_insert_rowid(), NULL, $13, $18, $17); \
                         UPDATE checkout_attempts SET state = 'ordered', \
                         order_id = (SELECT id FROM orders WHERE attempt_id = $2), attention = NULL, \
                         updated_at = $17 WHERE id = $2 AND state = 'open'; \
                         SELECT id FROM orders WHERE attempt_id = $2"
                    )
                } else {
                    concat!(order_insert!(), " RETURNING id")
                };
                let mut query = sqlx::query(sql)
                    .bind(&number)
                    .bind(attempt.id)
                    .bind(&attempt.link_key)
                    .bind(attempt.member_id)
                    .bind(json(&attempt.snapshot.customer))
                    .bind(json(&attempt.snapshot.lines))
                    .bind(attempt.total)
                    .bind(attempt.payment_method_id)
                    .bind(&attempt.payment_method_name)
                    .bind(&attempt.settlement_type)
                    .bind(settlement_label)
                    .bind(&attempt.module_id)
                    .bind(status.as_str())
                    .bind(transaction_id)
                    .bind(slip.map(json))
                    .bind(slip.and_then(|s| s.deadline.clone()))
                    .bind(at);
                if $one_trip {
                    query = query.bind(reason);
                    let rows = query.fetch_all(&mut **tx).await?;
                    let order_id: i64 = rows
                        .last()
                        .ok_or_else(|| DbError::Corrupt("order insert returned no id".to_owned()))?
                        .try_get("id")?;
                    return Ok((order_id, number));
                }
                let order_id: i64 = query.fetch_one(&mut **tx).await?.try_get("id")?;
                Self::insert_history(tx, order_id, None, status, reason, at).await?;
                sqlx::query(
                    "UPDATE checkout_attempts SET state = 'ordered', order_id = $1, attention = NULL, updated_at = $2 \
                     WHERE id = $3 AND state = 'open'",
                )
                .bind(order_id)
                .bind(at)
                .bind(attempt.id)
                .execute(&mut **tx)
                .await?;
                Ok((order_id, number))
            }

            /// Moves an order from one status to another, guarded by the status it must have now.
            async fn transition(
                tx: &mut sqlx::Transaction<'_, $db>,
                order_id: i64,
                from: PaymentStatus,
                to: PaymentStatus,
                attention: Option<&str>,
                reason: &str,
                at: i64,
            ) -> Result<bool, DbError> {
                let changed = sqlx::query(
                    "UPDATE orders SET payment_status = $1, attention = COALESCE($2, attention), updated_at = $3 \
                     WHERE id = $4 AND payment_status = $5",
                )
                .bind(to.as_str())
                .bind(attention)
                .bind(at)
                .bind(order_id)
                .bind(from.as_str())
                .execute(&mut **tx)
                .await?
                .rows_affected()
                    == 1;
                if changed {
                    Self::insert_history(tx, order_id, Some(from), to, reason, at).await?;
                }
                Ok(changed)
            }

            async fn order_in_tx(
                tx: &mut sqlx::Transaction<'_, $db>,
                order_id: i64,
            ) -> Result<Order, DbError> {
                let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1");
                let row = sqlx::query(&sql).bind(order_id).fetch_one(&mut **tx).await?;
                Self::order_from_row(&row)
            }

            /// Records the event's dedup key; false when it was recorded before (a duplicate).
            async fn claim_event(
                tx: &mut sqlx::Transaction<'_, $db>,
                dedup_key: &str,
                module_id: &str,
                link_key: &str,
                kind: &str,
                channel: &str,
                at: i64,
            ) -> Result<bool, DbError> {
                let inserted = sqlx::query(
                    "INSERT INTO payment_events (dedup_key, module_id, link_key, kind, source, at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (dedup_key) DO NOTHING",
                )
                .bind(dedup_key)
                .bind(module_id)
                .bind(link_key)
                .bind(kind)
                .bind(channel)
                .bind(at)
                .execute(&mut **tx)
                .await?
                .rows_affected();
                Ok(inserted == 1)
            }

            async fn upsert_card(
                tx: &mut sqlx::Transaction<'_, $db>,
                member_id: i64,
                module_id: &str,
                card: &shophost_module_api::CardOnFile,
                at: i64,
            ) -> Result<(), DbError> {
                sqlx::query(
                    "INSERT INTO member_cards (member_id, module_id, token, last4, expiry, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (member_id, module_id) DO UPDATE SET token = excluded.token, \
                     last4 = excluded.last4, expiry = excluded.expiry, updated_at = excluded.updated_at",
                )
                .bind(member_id)
                .bind(module_id)
                .bind(&card.token)
                .bind(&card.last4)
                .bind(&card.expiry)
                .bind(at)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            /// Checks a signal against its attempt and applies it. Refusals change nothing.
            async fn apply(
                tx: &mut sqlx::Transaction<'_, $db>,
                notification: &shophost_module_api::Notification,
                context: &ApplyContext,
                at: i64,
            ) -> Result<Applied, DbError> {
                let link_key = notification.link_key.as_str();
                let sql = format!(
                    "SELECT {ATTEMPT_COLUMNS} FROM checkout_attempts WHERE link_key = $1 {}",
                    $for_update
                );
                let row = sqlx::query(&sql).bind(link_key).fetch_optional(&mut **tx).await?;
                let attempt = match row {
                    Some(row) => Self::attempt_from_row(&row)?,
                    None => {
                        return Ok(Applied::refused(
                            Refusal::UnknownLinkKey,
                            format!("unknown link key {link_key}"),
                        ))
                    }
                };
                let settlement_type = attempt.settlement_type.clone();
                let mut applied = Self::apply_to_attempt(tx, attempt, notification, context, at).await?;
                applied.settlement_type = Some(settlement_type);
                Ok(applied)
            }

            /// Applies a signal to its (locked) attempt.
            async fn apply_to_attempt(
                tx: &mut sqlx::Transaction<'_, $db>,
                attempt: Attempt,
                notification: &shophost_module_api::Notification,
                context: &ApplyContext,
                at: i64,
            ) -> Result<Applied, DbError> {
                let link_key = notification.link_key.as_str();
                if attempt.module_id != context.module_id {
                    return Ok(Applied::refused(
                        Refusal::UnknownLinkKey,
                        format!("link key {link_key} belongs to module {}", attempt.module_id),
                    ));
                }
                let fits = match (context.settlement_kinds.get(&attempt.settlement_type), &notification.signal) {
                    (
                        Some(SettlementKind::Immediate),
                        Signal::PaymentIssued { .. } | Signal::PaymentReceived { .. } | Signal::NotPaid { .. },
                    ) => false,
                    (Some(SettlementKind::Deferred), Signal::PaymentSucceeded { .. } | Signal::CardRegistered { .. }) => {
                        false
                    }
                    _ => true,
                };
                if !fits {
                    return Ok(Applied::refused(
                        Refusal::Mismatch,
                        format!(
                            "this signal does not fit link key {link_key}'s settlement type {}",
                            attempt.settlement_type
                        ),
                    ));
                }
                let label = context
                    .settlement_labels
                    .get(&attempt.settlement_type)
                    .cloned()
                    .unwrap_or_else(|| attempt.settlement_type.clone());
                let amount_mismatch = |amount: i64| {
                    Applied::refused(
                        Refusal::Mismatch,
                        format!("amount {amount} does not match the attempt's total {}", attempt.total),
                    )
                };
                let kind = match &notification.signal {
                    Signal::PaymentSucceeded { .. } => "payment_succeeded",
                    Signal::PaymentFailed { .. } => "payment_failed",
                    Signal::PaymentIssued { .. } => "payment_issued",
                    Signal::PaymentReceived { .. } => "payment_received",
                    Signal::NotPaid { .. } => "not_paid",
                    Signal::CardRegistered { .. } => "card_registered",
                };
                let is_card_update = attempt.kind == AttemptKind::CardUpdate;
                let wants_card_update = matches!(notification.signal, Signal::CardRegistered { .. });
                if is_card_update != wants_card_update
                    && !matches!(notification.signal, Signal::PaymentFailed { .. })
                {
                    return Ok(Applied::refused(
                        Refusal::WrongState,
                        format!("{kind} does not apply to a {} attempt", attempt.kind.as_str()),
                    ));
                }
                // Amount checks come before the dedup claim so a refused copy never blocks a good one.
                match &notification.signal {
                    Signal::PaymentSucceeded { amount, .. } if *amount != attempt.total => {
                        return Ok(amount_mismatch(*amount))
                    }
                    Signal::PaymentIssued { amount: Some(amount), .. }
                    | Signal::PaymentReceived { amount: Some(amount), .. }
                        if *amount != attempt.total =>
                    {
                        return Ok(amount_mismatch(*amount))
                    }
                    _ => {}
                }
                if let Signal::CardRegistered { .. } = &notification.signal {
                    if attempt.member_id.is_none() || attempt.state != AttemptState::Open {
                        return Ok(Applied::refused(
                            Refusal::WrongState,
                            format!("card update {link_key} is not open for a member"),
                        ));
                    }
                }
                if !Self::claim_event(
                    tx,
                    &notification.dedup_key,
                    &context.module_id,
                    link_key,
                    kind,
                    context.channel,
                    at,
                )
                .await?
                {
                    // A copy of one gateway event is about the same link key. The same key for another
                    // link key is not a copy: acknowledging it as one would tell the gateway that a
                    // payment for this attempt is stored when nothing was applied to it.
                    let recorded_for: String = sqlx::query(
                        "SELECT link_key FROM payment_events WHERE dedup_key = $1",
                    )
                    .bind(&notification.dedup_key)
                    .fetch_one(&mut **tx)
                    .await?
                    .try_get("link_key")?;
                    if recorded_for != link_key {
                        return Ok(Applied::refused(
                            Refusal::Mismatch,
                            format!(
                                "event {} was already recorded for link key {recorded_for}, not {link_key}",
                                notification.dedup_key
                            ),
                        ));
                    }
                    return Ok(Applied {
                        verdict: Verdict::Duplicate,
                        settlement_type: None,
                        order_number: None,
                        order_id: attempt.order_id,
                        error_log: None,
                    });
                }
                let mut error_log = None;
                let mut order = attempt.order_id;
                let mut number = None;
                match &notification.signal {
                    Signal::PaymentSucceeded { transaction_id, capture, card, .. } => {
                        let status = match capture {
                            shophost_module_api::Capture::Authorized => PaymentStatus::Authorized,
                            shophost_module_api::Capture::Captured => PaymentStatus::Captured,
                        };
                        match attempt.order_id {
                            None => {
                                let (id, n) = Self::create_order(
                                    tx,
                                    &attempt,
                                    status,
                                    &label,
                                    Some(transaction_id),
                                    None,
                                    "決済結果通知（成功）",
                                    at,
                                )
                                .await?;
                                order = Some(id);
                                number = Some(n);
                            }
                            Some(order_id) => {
                                // A second successful payment for one checkout: money was taken twice.
                                // Keep it (acknowledged, recorded) and make the operator look.
                                sqlx::query("UPDATE orders SET attention = $1, updated_at = $2 WHERE id = $3")
                                    .bind(format!("同じリンクキーで別の決済（取引ID {transaction_id}）が通知されました。ルミーズの管理画面で確認してください"))
                                    .bind(at)
                                    .bind(order_id)
                                    .execute(&mut **tx)
                                    .await?;
                            }
                        }
                        if let (Some(card), Some(member_id)) = (card, attempt.member_id) {
                            Self::upsert_card(tx, member_id, &context.module_id, card, at).await?;
                        }
                    }
                    Signal::PaymentFailed { code, detail } => {
                        let result = if detail.is_empty() { code.clone() } else { format!("{code} {detail}") };
                        error_log = Some((result, Some(link_key.to_owned())));
                    }
                    Signal::PaymentIssued { transaction_id, slip, .. } => {
                        let stored = StoredSlip::from(slip);
                        match attempt.order_id {
                            None => {
                                let (id, n) = Self::create_order(
                                    tx,
                                    &attempt,
                                    PaymentStatus::Unpaid,
                                    &label,
                                    Some(transaction_id),
                                    Some(&stored),
                                    "支払番号発行",
                                    at,
                                )
                                .await?;
                                order = Some(id);
                                number = Some(n);
                            }
                            Some(order_id) => {
                                // The receipt came first and made the order; add the slip now.
                                sqlx::query(
                                    "UPDATE orders SET slip_json = $1, deadline = COALESCE(deadline, $2), \
                                     transaction_id = COALESCE(transaction_id, $3), updated_at = $4 WHERE id = $5",
                                )
                                .bind(json(&stored))
                                .bind(stored.deadline.clone())
                                .bind(transaction_id)
                                .bind(at)
                                .bind(order_id)
                                .execute(&mut **tx)
                                .await?;
                            }
                        }
                    }
                    Signal::PaymentReceived { .. } => match attempt.order_id {
                        None => {
                            let (id, n) = Self::create_order(
                                tx,
                                &attempt,
                                PaymentStatus::Paid,
                                &label,
                                None,
                                None,
                                "入金通知（支払番号発行の通知より先に到着）",
                                at,
                            )
                            .await?;
                            order = Some(id);
                            number = Some(n);
                        }
                        Some(order_id) => {
                            let current = Self::order_in_tx(tx, order_id).await?;
                            match current.payment_status {
                                PaymentStatus::Unpaid => {
                                    Self::transition(tx, order_id, PaymentStatus::Unpaid, PaymentStatus::Paid, None, "入金通知", at).await?;
                                }
                                PaymentStatus::Expired => {
                                    Self::transition(
                                        tx,
                                        order_id,
                                        PaymentStatus::Expired,
                                        PaymentStatus::Paid,
                                        Some("期限後入金: 支払期限を過ぎてから入金されました"),
                                        "入金通知（期限後入金）",
                                        at,
                                    )
                                    .await?;
                                }
                                other => {
                                    sqlx::query("UPDATE orders SET attention = $1, updated_at = $2 WHERE id = $3")
                                        .bind(format!("入金状況が{}の注文に入金通知が届きました", other.label()))
                                        .bind(at)
                                        .bind(order_id)
                                        .execute(&mut **tx)
                                        .await?;
                                }
                            }
                        }
                    },
                    Signal::NotPaid { detail } => {
                        error_log = Some((format!("NOT PAID: {detail}"), Some(link_key.to_owned())));
                    }
                    Signal::CardRegistered { card } => {
                        if let Some(member_id) = attempt.member_id {
                            Self::upsert_card(tx, member_id, &context.module_id, card, at).await?;
                        }
                        sqlx::query(
                            "UPDATE checkout_attempts SET state = 'card_updated', updated_at = $1 \
                             WHERE id = $2 AND state = 'open'",
                        )
                        .bind(at)
                        .bind(attempt.id)
                        .execute(&mut **tx)
                        .await?;
                    }
                }
                if let Some(order_id) = order {
                    if number.is_none() {
                        number = Some(Self::order_in_tx(tx, order_id).await?.order_number);
                    }
                }
                Ok(Applied {
                    verdict: Verdict::Accepted,
                    settlement_type: None,
                    order_number: number,
                    order_id: order,
                    error_log,
                })
            }

            /// Journals and applies one inbound request inside `tx` (the caller commits).
            async fn record_in_tx(
                tx: &mut sqlx::Transaction<'_, $db>,
                record: &InboundRecord,
                intent: &Intent,
                context: &ApplyContext,
                respond: &Responder,
            ) -> Result<Recorded, DbError> {
                let at = record.received_at;
                let (applied, link_key) = match intent {
                    Intent::Refuse { refusal, reason, link_key } => {
                        let mut applied = Applied::refused(*refusal, reason.clone());
                        applied.error_log = Some((reason.clone(), link_key.clone()));
                        (applied, link_key.clone())
                    }
                    Intent::Apply(notification) => {
                        let mut applied = Self::apply(tx, notification, context, at).await?;
                        if let Verdict::Refused { reason, .. } = &applied.verdict {
                            applied.error_log = Some((reason.clone(), Some(notification.link_key.clone())));
                        }
                        (applied, Some(notification.link_key.clone()))
                    }
                };
                let response = respond(&applied.verdict);
                let reason = match &applied.verdict {
                    Verdict::Refused { reason, .. } => reason.clone(),
                    Verdict::Accepted => applied
                        .order_number
                        .as_ref()
                        .map(|n| format!("order {n}"))
                        .unwrap_or_default(),
                    Verdict::Duplicate => "already applied".to_owned(),
                };
                // The event applied (if any) gets the journal entry's id; on SQLite in the same round trip.
                let accepted_event = match intent {
                    Intent::Apply(notification) if applied.verdict == Verdict::Accepted => {
                        Some(notification.dedup_key.as_str())
                    }
                    _ => None,
                };
                let one_trip = $one_trip && accepted_event.is_some();
                let sql = if one_trip {
                    concat!(
                        journal_insert!(),
                        "; UPDATE payment_events SET journal_id = last_insert_rowid(), order_id = $17 \
                         WHERE dedup_key = $18; SELECT last_insert_rowid() AS id"
                    )
                } else {
                    concat!(journal_insert!(), " RETURNING id")
                };
                let mut query = sqlx::query(sql)
                    .bind(&record.module_id)
                    .bind(&record.endpoint)
                    .bind(&record.method)
                    .bind(&record.query)
                    .bind(&record.content_type)
                    .bind(&record.charset)
                    .bind(&record.source)
                    .bind(json(&record.headers))
                    .bind(&record.body)
                    .bind(at)
                    .bind(applied.verdict.as_str())
                    .bind(&reason)
                    .bind(&link_key)
                    .bind(i64::from(response.status))
                    .bind(&response.body)
                    .bind(record.replay_of);
                let journal_id: i64 = if one_trip {
                    query = query.bind(applied.order_id).bind(accepted_event);
                    query
                        .fetch_all(&mut **tx)
                        .await?
                        .last()
                        .ok_or_else(|| DbError::Corrupt("journal insert returned no id".to_owned()))?
                        .try_get("id")?
                } else {
                    let journal_id: i64 = query.fetch_one(&mut **tx).await?.try_get("id")?;
                    if let Some(dedup_key) = accepted_event {
                        sqlx::query("UPDATE payment_events SET journal_id = $1, order_id = $2 WHERE dedup_key = $3")
                            .bind(journal_id)
                            .bind(applied.order_id)
                            .bind(dedup_key)
                            .execute(&mut **tx)
                            .await?;
                    }
                    journal_id
                };
                if let Some((result, key)) = &applied.error_log {
                    // A replay of a refused request does not add a second error-log line.
                    if record.replay_of.is_none() || applied.verdict == Verdict::Accepted {
                        sqlx::query(
                            "INSERT INTO settlement_errors (module_id, acting, link_key, result, fields_json, \
                             journal_id, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        )
                        .bind(record.module_id.as_deref().unwrap_or(""))
                        .bind(&record.endpoint)
                        .bind(key)
                        .bind(result)
                        .bind(json(&record.fields))
                        .bind(journal_id)
                        .bind(at)
                        .execute(&mut **tx)
                        .await?;
                    }
                }
                Ok(Recorded {
                    verdict: applied.verdict,
                    settlement_type: applied.settlement_type,
                    journal_id,
                    order_number: applied.order_number,
                    response,
                })
            }

        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            async fn ping(&self) -> Result<(), DbError> {
                sqlx::query("SELECT 1").execute(&self.write).await?;
                Ok(())
            }

            async fn module_settings(&self, module_id: &str) -> Result<Option<StoredSettings>, DbError> {
                let row = sqlx::query(
                    "SELECT values_json, source, valid, updated_at FROM module_settings WHERE module_id = $1",
                )
                .bind(module_id)
                .fetch_optional(&self.read)
                .await?;
                row.map(|row| {
                    let values: String = row.try_get("values_json")?;
                    Ok(StoredSettings {
                        values: serde_json::from_str(&values)?,
                        source: row.try_get("source")?,
                        valid: row.try_get("valid")?,
                        updated_at: row.try_get("updated_at")?,
                    })
                })
                .transpose()
            }

            async fn save_module_settings(
                &self,
                module_id: &str,
                values: &SettingsValues,
                source: &str,
                valid: bool,
            ) -> Result<(), DbError> {
                sqlx::query(
                    "INSERT INTO module_settings (module_id, values_json, source, valid, updated_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (module_id) DO UPDATE SET \
                     values_json = excluded.values_json, source = excluded.source, valid = excluded.valid, \
                     updated_at = excluded.updated_at",
                )
                .bind(module_id)
                .bind(json(values))
                .bind(source)
                .bind(valid)
                .bind(now_millis())
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn payment_methods(&self) -> Result<Vec<PaymentMethod>, DbError> {
                let rows = sqlx::query(
                    "SELECT id, name, explanation, settlement_type, module, active, sort \
                     FROM payment_methods ORDER BY sort, id",
                )
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(Self::method_from_row).collect()
            }

            async fn payment_method(&self, id: i64) -> Result<Option<PaymentMethod>, DbError> {
                let row = sqlx::query(
                    "SELECT id, name, explanation, settlement_type, module, active, sort \
                     FROM payment_methods WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.read)
                .await?;
                row.as_ref().map(Self::method_from_row).transpose()
            }

            async fn create_payment_method(&self, method: &NewPaymentMethod) -> Result<PaymentMethod, DbError> {
                let row = sqlx::query(
                    "INSERT INTO payment_methods (name, explanation, settlement_type, module, active, sort) \
                     VALUES ($1, $2, $3, '', $4, $5) \
                     RETURNING id, name, explanation, settlement_type, module, active, sort",
                )
                .bind(&method.name)
                .bind(&method.explanation)
                .bind(&method.settlement_type)
                .bind(method.active)
                .bind(method.sort)
                .fetch_one(&self.write)
                .await?;
                Self::method_from_row(&row)
            }

            async fn update_payment_method(
                &self,
                id: i64,
                method: &NewPaymentMethod,
            ) -> Result<PaymentMethod, DbError> {
                let row = sqlx::query(
                    "UPDATE payment_methods SET name = $1, explanation = $2, settlement_type = $3, \
                     active = $4, sort = $5 WHERE id = $6 \
                     RETURNING id, name, explanation, settlement_type, module, active, sort",
                )
                .bind(&method.name)
                .bind(&method.explanation)
                .bind(&method.settlement_type)
                .bind(method.active)
                .bind(method.sort)
                .bind(id)
                .fetch_optional(&self.write)
                .await?;
                row.as_ref().map(Self::method_from_row).transpose()?.ok_or(DbError::NotFound)
            }

            async fn delete_payment_method(&self, id: i64) -> Result<(), DbError> {
                let mut tx = self.write.begin().await?;
                let used: i64 = sqlx::query(
                    "SELECT (SELECT COUNT(*) FROM orders WHERE payment_method_id = $1) + \
                     (SELECT COUNT(*) FROM checkout_attempts WHERE payment_method_id = $1) AS used",
                )
                .bind(id)
                .fetch_one(&mut *tx)
                .await?
                .try_get("used")?;
                if used > 0 {
                    return Err(DbError::Conflict("orders"));
                }
                let deleted = sqlx::query("DELETE FROM payment_methods WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if deleted == 0 {
                    return Err(DbError::NotFound);
                }
                tx.commit().await?;
                Ok(())
            }

            async fn stop_methods_of_types(&self, types: &[String]) -> Result<Vec<String>, DbError> {
                let mut stopped = Vec::new();
                let mut tx = self.write.begin().await?;
                for settlement_type in types {
                    let rows = sqlx::query(
                        "UPDATE payment_methods SET active = FALSE WHERE settlement_type = $1 AND active \
                         RETURNING name",
                    )
                    .bind(settlement_type)
                    .fetch_all(&mut *tx)
                    .await?;
                    for row in rows {
                        stopped.push(row.try_get("name")?);
                    }
                }
                tx.commit().await?;
                stopped.sort();
                Ok(stopped)
            }

            async fn stop_methods_not_provided(&self, provided: &[String]) -> Result<Vec<String>, DbError> {
                let methods = self.payment_methods().await?;
                let missing: Vec<String> = methods
                    .iter()
                    .filter(|m| m.active && !provided.contains(&m.settlement_type))
                    .map(|m| m.settlement_type.clone())
                    .collect();
                self.stop_methods_of_types(&missing).await
            }

            async fn products(&self) -> Result<Vec<Product>, DbError> {
                let rows = sqlx::query("SELECT id, sku, name, price, description FROM products ORDER BY id")
                    .fetch_all(&self.read)
                    .await?;
                rows.iter()
                    .map(|row| {
                        Ok(Product {
                            id: row.try_get("id")?,
                            sku: row.try_get("sku")?,
                            name: row.try_get("name")?,
                            price: row.try_get("price")?,
                            description: row.try_get("description")?,
                        })
                    })
                    .collect()
            }

            async fn product(&self, id: i64) -> Result<Option<Product>, DbError> {
                Ok(self.products().await?.into_iter().find(|p| p.id == id))
            }

            async fn ensure_product(&self, sku: &str, name: &str, price: i64, description: &str) -> Result<(), DbError> {
                sqlx::query(
                    "INSERT INTO products (sku, name, price, description) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (sku) DO NOTHING",
                )
                .bind(sku)
                .bind(name)
                .bind(price)
                .bind(description)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn create_member(
                &self,
                email: &str,
                password_hash: &str,
                details: &CustomerDetails,
            ) -> Result<Member, DbError> {
                let row = sqlx::query(
                    "INSERT INTO members (email, password_hash, details_json, created_at) \
                     VALUES ($1, $2, $3, $4) RETURNING id, email, details_json",
                )
                .bind(email)
                .bind(password_hash)
                .bind(json(details))
                .bind(now_millis())
                .fetch_one(&self.write)
                .await?;
                Self::member_from_row(&row)
            }

            async fn member_by_email(&self, email: &str) -> Result<Option<(Member, String)>, DbError> {
                let row = sqlx::query("SELECT id, email, details_json, password_hash FROM members WHERE email = $1")
                    .bind(email)
                    .fetch_optional(&self.read)
                    .await?;
                row.map(|row| Ok((Self::member_from_row(&row)?, row.try_get("password_hash")?)))
                    .transpose()
            }

            async fn member(&self, id: i64) -> Result<Option<Member>, DbError> {
                let row = sqlx::query("SELECT id, email, details_json FROM members WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?;
                row.as_ref().map(Self::member_from_row).transpose()
            }

            async fn member_card(&self, member_id: i64, module_id: &str) -> Result<Option<MemberCard>, DbError> {
                let row = sqlx::query(
                    "SELECT module_id, token, last4, expiry FROM member_cards WHERE member_id = $1 AND module_id = $2",
                )
                .bind(member_id)
                .bind(module_id)
                .fetch_optional(&self.read)
                .await?;
                row.map(|row| {
                    Ok(MemberCard {
                        module_id: row.try_get("module_id")?,
                        token: row.try_get("token")?,
                        last4: row.try_get("last4")?,
                        expiry: row.try_get("expiry")?,
                    })
                })
                .transpose()
            }

            async fn delete_member_card(&self, member_id: i64, module_id: &str) -> Result<bool, DbError> {
                let deleted = sqlx::query("DELETE FROM member_cards WHERE member_id = $1 AND module_id = $2")
                    .bind(member_id)
                    .bind(module_id)
                    .execute(&self.write)
                    .await?
                    .rows_affected();
                Ok(deleted > 0)
            }

            async fn create_attempt(&self, attempt: &NewAttempt) -> Result<Attempt, DbError> {
                let now = now_millis();
                let sql = format!(
                    "INSERT INTO checkout_attempts (link_key, kind, module_id, settlement_type, \
                     payment_method_id, payment_method_name, member_id, snapshot_json, total, state, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'open', $10, $10) \
                     RETURNING {ATTEMPT_COLUMNS}"
                );
                let row = sqlx::query(&sql)
                    .bind(&attempt.link_key)
                    .bind(attempt.kind.as_str())
                    .bind(&attempt.module_id)
                    .bind(&attempt.settlement_type)
                    .bind(attempt.payment_method_id)
                    .bind(&attempt.payment_method_name)
                    .bind(attempt.member_id)
                    .bind(json(&attempt.snapshot))
                    .bind(attempt.snapshot.total)
                    .bind(now)
                    .fetch_one(&self.write)
                    .await?;
                Self::attempt_from_row(&row)
            }

            async fn attempt_by_link_key(&self, link_key: &str) -> Result<Option<Attempt>, DbError> {
                let sql = format!("SELECT {ATTEMPT_COLUMNS} FROM checkout_attempts WHERE link_key = $1");
                let row = sqlx::query(&sql).bind(link_key).fetch_optional(&self.read).await?;
                row.as_ref().map(Self::attempt_from_row).transpose()
            }

            async fn attempts(&self, open_only: bool, limit: i64) -> Result<Vec<Attempt>, DbError> {
                let sql = format!(
                    "SELECT {ATTEMPT_COLUMNS} FROM checkout_attempts WHERE ($1 = FALSE OR order_id IS NULL) \
                     ORDER BY id DESC LIMIT $2"
                );
                let rows = sqlx::query(&sql).bind(open_only).bind(limit).fetch_all(&self.read).await?;
                rows.iter().map(Self::attempt_from_row).collect()
            }

            async fn mark_returned(&self, link_key: &str, at: i64) -> Result<(), DbError> {
                sqlx::query(
                    "UPDATE checkout_attempts SET returned_at = $1, updated_at = $1 \
                     WHERE link_key = $2 AND returned_at IS NULL",
                )
                .bind(at)
                .bind(link_key)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn flag_unconfirmed_returns(&self, returned_before: i64, reason: &str) -> Result<Vec<String>, DbError> {
                let rows = sqlx::query(
                    "UPDATE checkout_attempts SET attention = $1, updated_at = $2 \
                     WHERE state = 'open' AND kind = 'order' AND attention IS NULL \
                     AND returned_at IS NOT NULL AND returned_at < $3 RETURNING link_key",
                )
                .bind(reason)
                .bind(now_millis())
                .bind(returned_before)
                .fetch_all(&self.write)
                .await?;
                rows.iter().map(|row| Ok(row.try_get("link_key")?)).collect()
            }

            async fn recover_attempt(
                &self,
                link_key: &str,
                status: PaymentStatus,
                settlement_label: &str,
                reason: &str,
            ) -> Result<Order, DbError> {
                let mut tx = self.write.begin().await?;
                let sql = format!(
                    "SELECT {ATTEMPT_COLUMNS} FROM checkout_attempts WHERE link_key = $1 {}",
                    $for_update
                );
                let row = sqlx::query(&sql).bind(link_key).fetch_optional(&mut *tx).await?;
                let attempt = row.as_ref().map(Self::attempt_from_row).transpose()?.ok_or(DbError::NotFound)?;
                if attempt.state != AttemptState::Open || attempt.kind != AttemptKind::Order {
                    return Err(DbError::Conflict("attempt_not_open"));
                }
                let (order_id, _) =
                    Self::create_order(&mut tx, &attempt, status, settlement_label, None, None, reason, now_millis())
                        .await?;
                let order = Self::order_in_tx(&mut tx, order_id).await?;
                tx.commit().await?;
                Ok(order)
            }

            async fn orders(&self, filter: &OrderFilter, limit: i64) -> Result<Vec<Order>, DbError> {
                let sql = format!(
                    "SELECT {ORDER_COLUMNS} FROM orders WHERE ($1 IS NULL OR link_key = $1) \
                     AND ($2 IS NULL OR order_number = $2) AND ($3 IS NULL OR payment_status = $3) \
                     AND ($4 IS NULL OR member_id = $4) AND ($5 = FALSE OR attention IS NOT NULL) \
                     ORDER BY id DESC LIMIT $6"
                );
                let rows = sqlx::query(&sql)
                    .bind(filter.link_key.as_deref())
                    .bind(filter.order_number.as_deref())
                    .bind(filter.status.map(PaymentStatus::as_str))
                    .bind(filter.member_id)
                    .bind(filter.attention)
                    .bind(limit)
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(Self::order_from_row).collect()
            }

            async fn order_history(&self, order_id: i64) -> Result<Vec<OrderHistoryEntry>, DbError> {
                let rows = sqlx::query(
                    "SELECT from_status, to_status, reason, at FROM order_history WHERE order_id = $1 ORDER BY id",
                )
                .bind(order_id)
                .fetch_all(&self.read)
                .await?;
                rows.iter()
                    .map(|row| {
                        let from: Option<String> = row.try_get("from_status")?;
                        let to: String = row.try_get("to_status")?;
                        Ok(OrderHistoryEntry {
                            from_status: from.as_deref().and_then(PaymentStatus::parse),
                            to_status: PaymentStatus::parse(&to).ok_or_else(|| corrupt("payment status", &to))?,
                            reason: row.try_get("reason")?,
                            at: row.try_get("at")?,
                        })
                    })
                    .collect()
            }

            async fn payment_event_count(&self, link_key: &str) -> Result<i64, DbError> {
                let row = sqlx::query("SELECT COUNT(*) AS n FROM payment_events WHERE link_key = $1")
                    .bind(link_key)
                    .fetch_one(&self.read)
                    .await?;
                Ok(row.try_get("n")?)
            }

            async fn last_payment_event(&self, link_key: &str) -> Result<Option<String>, DbError> {
                let row = sqlx::query("SELECT kind FROM payment_events WHERE link_key = $1 ORDER BY id DESC LIMIT 1")
                    .bind(link_key)
                    .fetch_optional(&self.read)
                    .await?;
                row.map(|row| Ok(row.try_get("kind")?)).transpose()
            }

            async fn expire_unpaid(&self, cutoff: &str, reason: &str) -> Result<Vec<String>, DbError> {
                let mut tx = self.write.begin().await?;
                let now = now_millis();
                // The guarded UPDATE makes the job safe to run from several host processes at once:
                // only one of them moves a given order, and only that one writes its history.
                let rows = sqlx::query(
                    "UPDATE orders SET payment_status = 'expired', updated_at = $1 \
                     WHERE payment_status = 'unpaid' AND deadline IS NOT NULL AND deadline < $2 \
                     RETURNING id, order_number",
                )
                .bind(now)
                .bind(cutoff)
                .fetch_all(&mut *tx)
                .await?;
                let mut numbers = Vec::new();
                for row in &rows {
                    let id: i64 = row.try_get("id")?;
                    Self::insert_history(&mut tx, id, Some(PaymentStatus::Unpaid), PaymentStatus::Expired, reason, now)
                        .await?;
                    numbers.push(row.try_get("order_number")?);
                }
                tx.commit().await?;
                Ok(numbers)
            }

            async fn counts(&self) -> Result<StoreCounts, DbError> {
                let attention = sqlx::query(
                    "SELECT (SELECT COUNT(*) FROM checkout_attempts WHERE state = 'open' AND attention IS NOT NULL) AS attempts, \
                     (SELECT COUNT(*) FROM orders WHERE attention IS NOT NULL) AS orders",
                )
                .fetch_one(&self.read)
                .await?;
                let rows = sqlx::query(
                    "SELECT settlement_type, payment_status, COUNT(*) AS n FROM orders \
                     GROUP BY settlement_type, payment_status ORDER BY settlement_type, payment_status",
                )
                .fetch_all(&self.read)
                .await?;
                let orders = rows
                    .iter()
                    .map(|row| Ok((row.try_get("settlement_type")?, row.try_get("payment_status")?, row.try_get("n")?)))
                    .collect::<Result<Vec<_>, DbError>>()?;
                Ok(StoreCounts {
                    attempts_attention: attention.try_get("attempts")?,
                    orders_attention: attention.try_get("orders")?,
                    orders,
                })
            }

            async fn record_inbound(
                &self,
                record: &InboundRecord,
                intent: &Intent,
                context: &ApplyContext,
                respond: Responder,
            ) -> Result<Recorded, DbError> {
                self.record(record, intent, context, respond).await
            }

            async fn journal(&self, link_key: Option<&str>, limit: i64) -> Result<Vec<JournalEntry>, DbError> {
                let sql = format!(
                    "SELECT {JOURNAL_COLUMNS} FROM notification_journal WHERE ($1 IS NULL OR link_key = $1) \
                     ORDER BY id DESC LIMIT $2"
                );
                let rows = sqlx::query(&sql).bind(link_key).bind(limit).fetch_all(&self.read).await?;
                rows.iter().map(Self::journal_from_row).collect()
            }

            async fn journal_entry(&self, id: i64) -> Result<Option<JournalEntry>, DbError> {
                let sql = format!("SELECT {JOURNAL_COLUMNS} FROM notification_journal WHERE id = $1");
                let row = sqlx::query(&sql).bind(id).fetch_optional(&self.read).await?;
                row.as_ref().map(Self::journal_from_row).transpose()
            }

            async fn settlement_errors(&self, limit: i64) -> Result<Vec<SettlementError>, DbError> {
                let rows = sqlx::query(
                    "SELECT id, module_id, acting, link_key, result, fields_json, journal_id, at \
                     FROM settlement_errors ORDER BY id DESC LIMIT $1",
                )
                .bind(limit)
                .fetch_all(&self.read)
                .await?;
                rows.iter()
                    .map(|row| {
                        let fields: String = row.try_get("fields_json")?;
                        Ok(SettlementError {
                            id: row.try_get("id")?,
                            module_id: row.try_get("module_id")?,
                            acting: row.try_get("acting")?,
                            link_key: row.try_get("link_key")?,
                            result: row.try_get("result")?,
                            fields: serde_json::from_str(&fields)?,
                            journal_id: row.try_get("journal_id")?,
                            at: row.try_get("at")?,
                        })
                    })
                    .collect()
            }

            async fn delete_settlement_error(&self, id: i64) -> Result<bool, DbError> {
                let deleted = sqlx::query("DELETE FROM settlement_errors WHERE id = $1")
                    .bind(id)
                    .execute(&self.write)
                    .await?
                    .rows_affected();
                Ok(deleted > 0)
            }
        }
    };
}

store_impl!(SqliteStore, sqlx::Sqlite, "sqlite", "", true);
store_impl!(PgStore, sqlx::Postgres, "postgres", "FOR UPDATE", false);
