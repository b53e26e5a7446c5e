//! Storage: one [`Store`] trait, implemented for SQLite and PostgreSQL.
//!
//! There is no `sqlx::Any`. Each backend owns its migrations (`migrations/sqlite`, `migrations/postgres`),
//! its connection setup and its way of applying gateway signals; everything else is written once:
//!
//! - `columns.rs` holds each table's column list, which every statement that names columns takes, and
//!   builds the new rows both backends insert;
//! - `rows.rs` reads rows back into domain types;
//! - `queries/` holds the cold-path SQL (settings, catalogue, sessions, members, attempts, orders,
//!   journal) once, as generic functions over a backend's `sqlx::Database` whose only bound is the
//!   small `Dialect` trait; the one `Store` impl, for every backend, is there too;
//! - `decide.rs` decides, in plain Rust and without I/O, what an inbound request changes;
//! - `batch.rs` and `round.rs` are what both group-commit writers share: the requests waiting, how a
//!   batch is cut into rounds, and the rows a round writes.
//!
//! The hot path, applying a gateway signal, is group commit on both backends, each reading and writing
//! its rounds the way it is fastest at: `sqlite/` (`writer.rs`, one writer; `round.rs`: each round's
//! reads and writes in two round trips of fixed text, ids given out above the highest read) and
//! `postgres/` (`writer.rs`, a few writers per host on one queue; `round.rs`: the batch's attempts locked in id order,
//! then per round a read, ids reserved from the sequences and one write of data-modifying CTEs; a
//! failed batch's requests one transaction each, `statements.rs`). The backend is picked in one `match` on the URL scheme in
//! [`connect`] (and in [`backup`], the online copy of `shophost backup`, which opens no store).
//!
//! Everything a gateway signal changes happens in [`Store::record_inbound`], in one transaction that
//! also writes the notification journal entry and the response. The caller works out every response the
//! request may get before storage ([`Responses`]), so storage runs no module code; the store journals
//! the one its verdict picks, and the caller sends it only after this returns `Ok`.

mod backup;
mod batch;
mod columns;
mod decide;
mod error;
pub(crate) mod migrations;
#[cfg(feature = "postgres")]
mod postgres;
mod queries;
mod records;
mod round;
mod rows;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use shophost_module_api::SettingsValues;

use crate::domain::{
    Attempt, CustomerDetails, JournalEntry, Member, MemberCard, MoveDirection, Operator,
    OperatorSession, Order, OrderHistoryEntry, PaymentMethod, PaymentStatus, Product,
    ProductRecurrence, RecurringContract, RefusedRequest, SettlementError,
};

pub use backup::{backup, BackupError};
pub use error::DbError;
#[cfg(feature = "postgres")]
pub use postgres::PgStore;
pub use queries::dashboard::{DayTotals, LatencyHistogram, OutcomeCount, LATENCY_BOUNDS_MS};
pub use queries::members::{ContractFilter, MemberListing, MemberSearch};
pub use queries::order_list::{OrderListFilter, PageCursor, PaymentEvent};
pub use records::{
    ApplyContext, AttemptFilter, InboundRecord, Intent, JournalFilter, NewAttempt,
    NewPaymentMethod, NewProduct, NewRefused, OpenWork, OrderFilter, Purge, Recorded,
    RefusedForOpenAttempts, RegisteredOrder, Responses, SessionChange, StoredSettings, Verdict,
};
pub use sqlite::SqliteStore;

/// Everything the host stores.
#[async_trait]
pub trait Store: Send + Sync {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// How inbound requests have been committed so far (no database round trip).
    fn writer_counts(&self) -> WriterCounts;
    /// Whether the task that commits inbound requests runs (the group-commit writer of either
    /// backend). No database round trip: `/healthz` asks it first.
    fn writer_running(&self) -> bool;
    /// Takes no more inbound requests, commits those already queued and closes the connections; every
    /// later call fails as unavailable. For shutdown, once the last request was answered.
    async fn close(&self);
    /// Checks the database answers.
    async fn ping(&self) -> Result<(), DbError>;

    /// A module's stored settings.
    async fn module_settings(&self, module_id: &str) -> Result<Option<StoredSettings>, DbError>;
    /// Stores a module's settings.
    async fn save_module_settings(
        &self,
        module_id: &str,
        values: &SettingsValues,
        source: &str,
        valid: bool,
    ) -> Result<(), DbError>;

    /// The modules in use, in order, as the operator chose them through the admin API (`None` until
    /// they did: the config file's `modules.in_use` holds then).
    async fn module_selection(&self) -> Result<Option<Vec<String>>, DbError>;
    /// Stores the modules in use, in order (an empty list is a choice too).
    async fn save_module_selection(&self, in_use: &[String]) -> Result<(), DbError>;
    /// What each module still has open that a notification may come for: open attempts created at or
    /// after `attempts_created_after`, unpaid orders whose deadline is not before `deadline_cutoff`
    /// (`YYYYMMDD`, as the expiry job compares) or that have none, and running contracts. Modules with
    /// nothing open are left out.
    async fn open_work(
        &self,
        attempts_created_after: i64,
        deadline_cutoff: &str,
    ) -> Result<Vec<OpenWork>, DbError>;

    /// All payment methods in the operator's order (`position`, then id).
    async fn payment_methods(&self) -> Result<Vec<PaymentMethod>, DbError>;
    /// One payment method.
    async fn payment_method(&self, id: i64) -> Result<Option<PaymentMethod>, DbError>;
    /// Adds a method at the bottom of the order; `Conflict` on a duplicate name.
    async fn create_payment_method(
        &self,
        method: &NewPaymentMethod,
    ) -> Result<PaymentMethod, DbError>;
    /// Replaces a method's fields (not its place in the order); `Conflict` on a duplicate name,
    /// `NotFound`.
    async fn update_payment_method(
        &self,
        id: i64,
        method: &NewPaymentMethod,
    ) -> Result<PaymentMethod, DbError>;
    /// Deletes a method; `Conflict("orders")` when any order or attempt refers to it.
    async fn delete_payment_method(&self, id: i64) -> Result<(), DbError>;
    /// Swaps a method with its neighbour above or below, in one transaction; the order is unchanged
    /// when it is already at that end. `NotFound` for an unknown id.
    async fn move_payment_method(&self, id: i64, direction: MoveDirection) -> Result<(), DbError>;
    /// Stops every active method whose settlement type is in `types`; returns the names stopped.
    async fn stop_methods_of_types(&self, types: &[String]) -> Result<Vec<String>, DbError>;
    /// Stops every active method whose settlement type is not in `provided`; returns the names stopped.
    async fn stop_methods_not_provided(&self, provided: &[String]) -> Result<Vec<String>, DbError>;

    /// All products.
    async fn products(&self) -> Result<Vec<Product>, DbError>;
    /// One product.
    async fn product(&self, id: i64) -> Result<Option<Product>, DbError>;
    /// Adds a product unless its SKU exists.
    async fn ensure_product(
        &self,
        sku: &str,
        name: &str,
        price: i64,
        description: &str,
    ) -> Result<(), DbError>;

    /// A product by SKU.
    async fn product_by_sku(&self, sku: &str) -> Result<Option<Product>, DbError>;
    /// Adds a product; `Conflict("products_sku_key")` when its SKU exists.
    async fn create_product(&self, product: &NewProduct) -> Result<Product, DbError>;
    /// Replaces the fields of the product with SKU `sku` (the SKU stays); `NotFound`.
    async fn update_product(&self, sku: &str, product: &NewProduct) -> Result<Product, DbError>;
    /// Deletes a product; `Conflict("product_in_orders")` while any checkout attempt or order names
    /// it, `NotFound`.
    async fn delete_product(&self, sku: &str) -> Result<(), DbError>;
    /// Makes a product recurring (継続課金) or one-off; `NotFound` for an unknown SKU.
    async fn set_product_recurrence(
        &self,
        sku: &str,
        recurrence: Option<ProductRecurrence>,
    ) -> Result<(), DbError>;
    /// Recurring contracts, newest first, optionally one member's.
    async fn contracts(
        &self,
        member_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<RecurringContract>, DbError>;
    /// Marks a contract 停止; `Conflict("contract_stopped")` when it already is, `NotFound`.
    async fn stop_contract(&self, id: i64) -> Result<RecurringContract, DbError>;

    /// A storefront session's data (JSON), when it exists and was changed at or after `fresh_after`.
    async fn session(&self, id: &str, fresh_after: i64) -> Result<Option<String>, DbError>;
    /// Changes a storefront session in one transaction: `change` gets its current data (`None` when
    /// missing or older than `fresh_after`) and returns the new data, stored with `at`. Concurrent
    /// changes of one session are applied one after the other, none lost.
    async fn modify_session(
        &self,
        id: &str,
        fresh_after: i64,
        at: i64,
        change: SessionChange<'_>,
    ) -> Result<(), DbError>;
    /// Forgets a storefront session.
    async fn delete_session(&self, id: &str) -> Result<(), DbError>;
    /// Forgets the sessions not changed since `before`; returns how many.
    async fn sweep_sessions(&self, before: i64) -> Result<u64, DbError>;

    /// Adds a console operator; `Conflict("operators_login_key")` when the login is taken.
    async fn create_operator(
        &self,
        login: &str,
        password_hash: &str,
        at: i64,
    ) -> Result<Operator, DbError>;
    /// An operator and their password hash, by sign-in name.
    async fn operator_by_login(&self, login: &str) -> Result<Option<(Operator, String)>, DbError>;
    /// Every operator, by sign-in name.
    async fn operators(&self) -> Result<Vec<Operator>, DbError>;
    /// Disables (ending their sessions) or enables an operator; `NotFound`.
    async fn set_operator_disabled(&self, login: &str, disabled: bool)
        -> Result<Operator, DbError>;
    /// Replaces an operator's password hash.
    async fn set_operator_password(&self, id: i64, password_hash: &str) -> Result<(), DbError>;
    /// Stores a new operator session and notes the sign-in.
    async fn create_operator_session(&self, session: &OperatorSession) -> Result<(), DbError>;
    /// A session and its operator, by the SHA-256 of the cookie's token.
    async fn operator_session(
        &self,
        token_hash: &str,
    ) -> Result<Option<(OperatorSession, Operator)>, DbError>;
    /// Notes a request of a session.
    async fn touch_operator_session(&self, token_hash: &str, at: i64) -> Result<(), DbError>;
    /// Ends a session.
    async fn delete_operator_session(&self, token_hash: &str) -> Result<(), DbError>;
    /// Forgets sessions idle since `idle_before` or signed in before `created_before`.
    async fn sweep_operator_sessions(
        &self,
        idle_before: i64,
        created_before: i64,
    ) -> Result<u64, DbError>;

    /// Adds a member; `Conflict` on a duplicate e-mail.
    async fn create_member(
        &self,
        email: &str,
        password_hash: &str,
        details: &CustomerDetails,
    ) -> Result<Member, DbError>;
    /// A member and their password hash, by e-mail.
    async fn member_by_email(&self, email: &str) -> Result<Option<(Member, String)>, DbError>;
    /// A member by id.
    async fn member(&self, id: i64) -> Result<Option<Member>, DbError>;
    /// The card a module keeps for a member.
    async fn member_card(
        &self,
        member_id: i64,
        module_id: &str,
    ) -> Result<Option<MemberCard>, DbError>;
    /// Forgets the card a module keeps for a member (PayQuick 解除); true if there was one.
    async fn delete_member_card(&self, member_id: i64, module_id: &str) -> Result<bool, DbError>;
    /// Replaces a member's password hash (a hash of an older scheme, at a successful login);
    /// `NotFound` for an unknown member.
    async fn set_member_password(&self, member_id: i64, hash: &str) -> Result<(), DbError>;
    /// Members found by e-mail or name, newest first (the console's 会員).
    async fn members(
        &self,
        search: &MemberSearch,
        limit: i64,
    ) -> Result<Vec<MemberListing>, DbError>;
    /// The cards every module keeps for a member, by module id.
    async fn member_cards(&self, member_id: i64) -> Result<Vec<MemberCard>, DbError>;
    /// Recurring contracts by state, member and product, newest first (the console's 継続課金).
    async fn find_contracts(
        &self,
        filter: &ContractFilter,
        limit: i64,
    ) -> Result<Vec<RecurringContract>, DbError>;
    /// One recurring contract.
    async fn contract(&self, id: i64) -> Result<Option<RecurringContract>, DbError>;

    /// Stores a checkout attempt; `Conflict("checkout_attempts_link_key_key")` if the key exists.
    async fn create_attempt(&self, attempt: &NewAttempt) -> Result<Attempt, DbError>;
    /// An attempt by link key.
    async fn attempt_by_link_key(&self, link_key: &str) -> Result<Option<Attempt>, DbError>;
    /// Attempts, newest first (the 決済直前ログ); only those without an order when `open_only`.
    async fn attempts(&self, open_only: bool, limit: i64) -> Result<Vec<Attempt>, DbError>;
    /// Notes that the success browser return arrived (first time only).
    async fn mark_returned(&self, link_key: &str, at: i64) -> Result<(), DbError>;
    /// Flags a module's open order attempts whose success return is older than `returned_before` as
    /// 要確認, with that module's advice as the reason.
    async fn flag_unconfirmed_returns(
        &self,
        module_id: &str,
        returned_before: i64,
        reason: &str,
    ) -> Result<Vec<String>, DbError>;
    /// The 決済直前ログ searched, newest first, at most `limit` attempts.
    async fn search_attempts(
        &self,
        filter: &AttemptFilter,
        limit: i64,
    ) -> Result<Vec<Attempt>, DbError>;
    /// 受注データ登録: creates the order of an open order attempt as the operator chose it;
    /// `Conflict("attempt_not_open")` when it has an order (or is not an order's attempt).
    async fn register_attempt_order(
        &self,
        link_key: &str,
        order: &RegisteredOrder,
    ) -> Result<Order, DbError>;
    /// Creates the order for an open attempt by the operator's decision (受注データ再作成).
    async fn recover_attempt(
        &self,
        link_key: &str,
        status: PaymentStatus,
        settlement_label: &str,
        reason: &str,
    ) -> Result<Order, DbError>;

    /// Orders matching the filter, newest first.
    async fn orders(&self, filter: &OrderFilter, limit: i64) -> Result<Vec<Order>, DbError>;
    /// An order's status history, oldest first.
    async fn order_history(&self, order_id: i64) -> Result<Vec<OrderHistoryEntry>, DbError>;
    /// The 受注リスト: up to `limit` orders matching `filter` from `cursor` on (keyset on
    /// `(created_at, id)`), newest first.
    async fn order_page(
        &self,
        filter: &OrderListFilter,
        cursor: Option<PageCursor>,
        limit: i64,
    ) -> Result<Vec<Order>, DbError>;
    /// The payment events of a link key, oldest first.
    async fn payment_events(&self, link_key: &str) -> Result<Vec<PaymentEvent>, DbError>;
    /// Clears an order's 要確認, `reason` written in its history; `Conflict("not_flagged")` when it
    /// is not flagged.
    async fn clear_order_attention(
        &self,
        order_number: &str,
        reason: &str,
    ) -> Result<Order, DbError>;
    /// Sets an order's status by the operator's hand (guarded: `Conflict("status_changed")` unless it
    /// is `from`), `reason` written in its history.
    async fn set_order_status(
        &self,
        order_number: &str,
        from: PaymentStatus,
        to: PaymentStatus,
        reason: &str,
    ) -> Result<Order, DbError>;
    /// How many payment events exist for a link key (for tests and the admin view).
    async fn payment_event_count(&self, link_key: &str) -> Result<i64, DbError>;
    /// The kind of the newest payment event for a link key (e.g. `payment_failed`), if any.
    async fn last_payment_event(&self, link_key: &str) -> Result<Option<String>, DbError>;
    /// Marks unpaid deferred orders whose deadline is before `cutoff` (`YYYYMMDD`) as expired.
    async fn expire_unpaid(&self, cutoff: &str, reason: &str) -> Result<Vec<String>, DbError>;

    /// Orders created and payments accepted per shop-local day from `since` (Unix ms) on, days
    /// without either left out: the dashboard's first picture.
    async fn daily_totals(&self, since: i64) -> Result<Vec<DayTotals>, DbError>;
    /// Notifications journaled from `since` on, counted by module, settlement type, verdict and
    /// refusal.
    async fn notification_outcomes(&self, since: i64) -> Result<Vec<OutcomeCount>, DbError>;
    /// How long the answers to the notifications journaled from `since` on took.
    async fn answer_latencies(&self, since: i64) -> Result<LatencyHistogram, DbError>;

    /// Counts for `/metrics`.
    async fn counts(&self) -> Result<StoreCounts, DbError>;
    /// The 要確認 counts alone, each read from an index of only the flagged rows (what the notices
    /// need, at the cost of the flagged rows, not of every order).
    async fn attention_counts(&self) -> Result<AttentionCounts, DbError>;

    /// Journals an inbound request and applies it, in one transaction, with the one of `responses` its
    /// verdict picks. Returns the response to send.
    /// Takes the request by value: the writer keeps it until its commit, without a copy.
    async fn record_inbound(
        &self,
        record: InboundRecord,
        intent: Intent,
        context: ApplyContext,
        responses: Responses,
    ) -> Result<Recorded, DbError>;
    /// Journal entries, newest first, optionally for one link key.
    async fn journal(
        &self,
        link_key: Option<&str>,
        limit: i64,
    ) -> Result<Vec<JournalEntry>, DbError>;
    /// One journal entry.
    async fn journal_entry(&self, id: i64) -> Result<Option<JournalEntry>, DbError>;
    /// The 決済エラーログ, newest first.
    async fn settlement_errors(&self, limit: i64) -> Result<Vec<SettlementError>, DbError>;
    /// Deletes one 決済エラーログ entry; true if it existed.
    async fn delete_settlement_error(&self, id: i64) -> Result<bool, DbError>;
    /// One 決済エラーログ entry.
    async fn settlement_error(&self, id: i64) -> Result<Option<SettlementError>, DbError>;
    /// Empties the 決済エラーログ; returns how many entries it held.
    async fn delete_settlement_errors(&self) -> Result<u64, DbError>;
    /// Journal entries matching `filter`, newest first, at most `limit`.
    async fn journal_page(
        &self,
        filter: &JournalFilter,
        limit: i64,
    ) -> Result<Vec<JournalEntry>, DbError>;

    /// Keeps a request refused for its source; returns its id.
    async fn keep_refused(&self, refused: &NewRefused) -> Result<i64, DbError>;
    /// Refused requests, newest first; only those not replayed yet when `pending_only`.
    async fn refused_requests(
        &self,
        pending_only: bool,
        limit: i64,
    ) -> Result<Vec<RefusedRequest>, DbError>;
    /// One refused request.
    async fn refused_request(&self, id: i64) -> Result<Option<RefusedRequest>, DbError>;
    /// Claims a refused request for a replay at `at`; false when it was replayed (or claimed) already.
    async fn claim_refused_replay(&self, id: i64, at: i64) -> Result<bool, DbError>;
    /// Ends a claimed replay: notes its journal entry, or, when the replay was not stored (`None`),
    /// releases the claim so that it can be tried again.
    async fn settle_refused_replay(&self, id: i64, journal_id: Option<i64>) -> Result<(), DbError>;
    /// The bytes refused requests hold against the budget.
    async fn refused_bytes(&self) -> Result<i64, DbError>;
    /// Refused requests not replayed yet that name an open checkout attempt.
    async fn refused_for_open_attempts(&self) -> Result<RefusedForOpenAttempts, DbError>;

    /// Claims at most `limit` due mails of the outbox for `lease_ms` under `token` (see `mail`).
    async fn claim_mail(
        &self,
        now: i64,
        lease_ms: i64,
        token: &str,
        limit: i64,
    ) -> Result<Vec<crate::mail::OutboxMail>, DbError>;
    /// Stores claimed mails' rendered messages (one statement) unless one is stored; returns the
    /// mails as stored, in the order given.
    async fn store_rendered_mails(
        &self,
        rendered: Vec<(crate::mail::OutboxMail, crate::mail::render::Rendered)>,
        at: i64,
    ) -> Result<Vec<crate::mail::OutboxMail>, DbError>;
    /// Records claimed mails' attempts and outcomes (one transaction), each if `token` still holds
    /// its lease; whether it did, for each.
    async fn finish_mails(
        &self,
        token: &str,
        finished: &[crate::mail::Finished],
        at: i64,
    ) -> Result<Vec<bool>, DbError> {
        self.finish_rendered_mails(token, finished, &std::collections::HashMap::new(), at)
            .await
    }
    /// [`finish_mails`](Self::finish_mails), storing in the same statement the messages of the
    /// mails in `rendered` (captured ones, rendered in this pass) unless one is stored already.
    async fn finish_rendered_mails(
        &self,
        token: &str,
        finished: &[crate::mail::Finished],
        rendered: &std::collections::HashMap<i64, crate::mail::render::Rendered>,
        at: i64,
    ) -> Result<Vec<bool>, DbError>;
    /// Records one claimed mail's attempt and its outcome if `token` still holds the lease.
    async fn finish_mail(
        &self,
        id: i64,
        token: &str,
        transport: &'static str,
        outcome: &crate::mail::Outcome,
        at: i64,
    ) -> Result<bool, DbError> {
        let finished = [crate::mail::Finished {
            id,
            transport,
            outcome: outcome.clone(),
        }];
        let kept = self.finish_mails(token, &finished, at).await?;
        Ok(kept.first().copied().unwrap_or(false))
    }
    /// Mails, newest first.
    async fn mails(
        &self,
        filter: &crate::mail::MailFilter,
        limit: i64,
    ) -> Result<Vec<crate::mail::OutboxMail>, DbError>;
    /// One mail.
    async fn mail(&self, id: i64) -> Result<Option<crate::mail::OutboxMail>, DbError>;
    /// A mail's delivery attempts.
    async fn mail_deliveries(&self, id: i64) -> Result<Vec<crate::mail::MailDelivery>, DbError>;
    /// Queues a sent or failed mail again (`Conflict("mail_not_resendable")` otherwise).
    async fn resend_mail(&self, id: i64, at: i64) -> Result<(), DbError>;
    /// Queues an order's held 注文確認メール, once (`Conflict("mail_not_held")` otherwise); its id.
    async fn release_held_mail(&self, order_id: i64, at: i64) -> Result<i64, DbError>;
    /// Queues a test mail; its id.
    async fn queue_test_mail(&self, to: &str, at: i64) -> Result<i64, DbError>;
    /// Mails given up.
    async fn failed_mails(&self) -> Result<crate::mail::FailedMails, DbError>;
    /// An order by id.
    async fn order_by_id(&self, id: i64) -> Result<Option<Order>, DbError>;
    /// The orders `ids` that exist, each with the checkout attempt it came from: what the mails of a
    /// worker pass are rendered from, read at once.
    async fn orders_for_mail(&self, ids: &[i64]) -> Result<Vec<(Order, Option<Attempt>)>, DbError>;
    /// The operator's saved mail settings (JSON).
    async fn mail_settings(&self) -> Result<Option<String>, DbError>;
    /// Saves the operator's mail settings (JSON).
    async fn save_mail_settings(&self, json: &str, at: i64) -> Result<(), DbError>;

    /// Removes (or, for journal bodies, empties) at most `limit` rows of `what` older than `before`
    /// (Unix milliseconds), oldest first, noting `at` where a row stays; returns how many.
    async fn purge(&self, what: Purge, before: i64, limit: i64, at: i64) -> Result<u64, DbError>;
}

/// How inbound requests reached the disk, counted in this process since it started.
#[derive(Debug, Default)]
pub struct WriterStats {
    commits: std::sync::atomic::AtomicU64,
    requests: std::sync::atomic::AtomicU64,
    retries: std::sync::atomic::AtomicU64,
}

/// A reading of [`WriterStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterCounts {
    /// Commits that carried inbound requests: one per group commit, and one per request of a group
    /// commit that failed and was retried a request at a time.
    pub commits: u64,
    /// Inbound requests those commits carried.
    pub requests: u64,
    /// Group commits that failed and whose requests were retried one transaction each.
    pub retries: u64,
}

impl WriterStats {
    /// Notes a commit of `requests` inbound requests.
    pub fn committed(&self, requests: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        self.commits.fetch_add(1, Relaxed);
        self.requests.fetch_add(requests as u64, Relaxed);
    }

    /// Notes a group commit retried one request at a time.
    pub fn retried(&self) {
        self.retries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The counts now.
    pub fn read(&self) -> WriterCounts {
        use std::sync::atomic::Ordering::Relaxed;
        WriterCounts {
            commits: self.commits.load(Relaxed),
            requests: self.requests.load(Relaxed),
            retries: self.retries.load(Relaxed),
        }
    }
}

/// Attempts and orders flagged 要確認.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttentionCounts {
    /// Open attempts flagged 要確認 (a success return without a notification).
    pub attempts: i64,
    /// Orders flagged 要確認.
    pub orders: i64,
}

/// Counts for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreCounts {
    /// Attempts and orders flagged 要確認.
    pub attention: AttentionCounts,
    /// Orders by settlement type and payment status.
    pub orders: Vec<(String, String, i64)>,
    /// Recurring contracts by module and status (`continuation`, `stopped`).
    pub contracts: Vec<(String, String, i64)>,
}

/// Which backend a database URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite:…`
    Sqlite,
    /// `postgres://…` or `postgresql://…`
    Postgres,
}

impl Backend {
    /// The backend for a URL, or an error naming the scheme.
    pub fn for_url(url: &str) -> Result<Backend, String> {
        let scheme = url.split(':').next().unwrap_or("");
        match scheme {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            other => Err(format!(
                "unknown database URL scheme `{other}:` (use `sqlite:PATH` or `postgres://…`)"
            )),
        }
    }
}

/// Connects to the database at `url`, runs its migrations, and returns the store.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>, DbError> {
    match Backend::for_url(url).map_err(DbError::Unavailable)? {
        Backend::Sqlite => Ok(Arc::new(SqliteStore::connect(url).await?)),
        #[cfg(feature = "postgres")]
        Backend::Postgres => Ok(Arc::new(PgStore::connect(url).await?)),
        #[cfg(not(feature = "postgres"))]
        Backend::Postgres => Err(DbError::Unavailable(
            "this build has no PostgreSQL (it was built without the cargo feature `postgres`)"
                .to_owned(),
        )),
    }
}
