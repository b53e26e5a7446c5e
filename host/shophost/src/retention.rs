//! Retention: what the scheduled jobs remove once the shop no longer needs it, after the days of
//! `[retention]` — checkout attempts (決済直前ログ) that never became an order, 決済エラーログ lines,
//! storefront sessions (and console sessions past their lifetimes), notification journal bodies (the entry stays: its verdict, reason and answer
//! are the record; the body, which holds the customer's details, is emptied and the time noted) and
//! requests refused for their source, and mail that went (or was given up) from the outbox.
//!
//! Each table is purged oldest first in batches of [`BATCH`] rows, at most [`BATCHES_PER_RUN`] a
//! run, so that a first run on a large old database does not hold the writer (on SQLite, the one
//! genuine notifications wait for) for long; the next runs go on where it stopped. Every statement
//! picks its rows by time alone, so several hosts purging one PostgreSQL database at once only
//! share the work.

use serde::Serialize;

use crate::db::{DbError, Purge};
use crate::AppState;

/// Rows one statement removes at most.
pub const BATCH: i64 = 500;
/// Statements one run makes per table at most.
pub const BATCHES_PER_RUN: usize = 20;
/// A day in milliseconds.
const DAY_MILLIS: i64 = 24 * 60 * 60 * 1000;

/// What one run removed, by table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Purged {
    /// Checkout attempts without an order.
    pub attempts_without_order: u64,
    /// 決済エラーログ lines.
    pub settlement_errors: u64,
    /// Storefront sessions.
    pub sessions: u64,
    /// Journal entries whose body was emptied.
    pub journal_bodies: u64,
    /// Refused requests.
    pub refused_requests: u64,
    /// Console sessions past their idle or absolute lifetime.
    pub operator_sessions: u64,
    /// Mail sent, given up or without a recipient.
    pub mail: u64,
}

/// Purges everything past its retention as of `now` (Unix milliseconds).
pub async fn purge(state: &AppState, now: i64) -> Result<Purged, DbError> {
    let days = &state.config.retention;
    let before = |days: u32| now - i64::from(days) * DAY_MILLIS;
    let mut purged = Purged::default();
    for (what, before, count) in [
        (
            Purge::AttemptsWithoutOrder,
            before(days.attempts_without_order_days),
            &mut purged.attempts_without_order,
        ),
        (
            Purge::SettlementErrors,
            before(days.settlement_errors_days),
            &mut purged.settlement_errors,
        ),
        (
            Purge::Sessions,
            before(days.sessions_days),
            &mut purged.sessions,
        ),
        (
            Purge::JournalBodies,
            before(days.journal_bodies_days),
            &mut purged.journal_bodies,
        ),
        (
            Purge::RefusedRequests,
            before(days.refused_requests_days),
            &mut purged.refused_requests,
        ),
        (Purge::Mail, before(days.mail_days), &mut purged.mail),
    ] {
        for _ in 0..BATCHES_PER_RUN {
            let removed = state.store.purge(what, before, BATCH, now).await?;
            *count += removed;
            if removed < BATCH as u64 {
                break;
            }
        }
    }
    purged.operator_sessions = crate::operators::sweep(state.store.as_ref(), now).await?;
    // The refused requests' budget counts what the database holds now (this host's and others').
    let held = state.store.refused_bytes().await?;
    state
        .refused_budget
        .set_held(u64::try_from(held).unwrap_or(0));
    if purged != Purged::default() {
        tracing::info!(?purged, "retention: removed what is past its days");
    }
    Ok(purged)
}
