//! Scheduled jobs: flag success returns whose notification never came (要確認), expire unpaid
//! deferred payments past their deadline (期限切れ), and remove what is past its retention
//! (`retention.rs`: attempts without an order, 決済エラーログ lines, idle storefront sessions, journal
//! bodies, refused requests); then work out again which modules out of use still listen for what
//! they started (`engine/listening.rs`).
//!
//! The first two are single guarded `UPDATE`s, so several host processes sharing one PostgreSQL
//! database can run them at the same time and each order still changes once; the purges pick rows by
//! time, so running them twice at once only shares the work.

use crate::domain::{local_date, now_millis};
use crate::AppState;

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobReport {
    /// Link keys flagged 要確認.
    pub flagged: Vec<String>,
    /// Order numbers expired.
    pub expired: Vec<String>,
    /// What retention removed.
    pub purged: crate::retention::Purged,
}

/// Runs the jobs once, as of `now` (Unix milliseconds).
pub async fn run_once(state: &AppState, now: i64) -> Result<JobReport, crate::db::DbError> {
    let minutes = state.config.shop.unconfirmed_return_minutes;
    // Each module's attempts get that module's advice (where to look, which URLs to check).
    let mut flagged = Vec::new();
    for module in state.engine.registry().modules() {
        flagged.extend(
            state
                .store
                .flag_unconfirmed_returns(
                    &module.id,
                    now - minutes * 60_000,
                    &crate::notices::unconfirmed_notice(state, &module.id),
                )
                .await?,
        );
    }
    for link_key in &flagged {
        tracing::warn!(link_key = %link_key, "要確認: success return without a notification");
    }
    // An order expires once its deadline plus the grace period is over, in shop-local dates.
    let cutoff = local_date(now)
        .add_days(-state.config.shop.expiry_grace_days)
        .yyyymmdd();
    let expired = state
        .store
        .expire_unpaid(&cutoff, "支払期限切れ（自動キャンセル）")
        .await?;
    for number in &expired {
        tracing::info!(order = %number, "期限切れ");
    }
    // Idle storefront sessions go with the rest of what is past its retention (`retention.sessions_days`,
    // a day by default, as long as `http/storefront/session.rs` reads a session).
    let purged = crate::retention::purge(state, now).await?;
    // A module out of use goes quiet once nothing it started is open any more.
    state
        .engine
        .refresh_listening(&state.config, state.store.as_ref(), now)
        .await?;
    state.metrics.count_jobs(expired.len(), flagged.len());
    Ok(JobReport {
        flagged,
        expired,
        purged,
    })
}

/// Runs the jobs forever at the configured interval.
pub async fn run_forever(state: AppState) {
    let interval = std::time::Duration::from_secs(state.config.shop.job_interval_seconds.max(1));
    loop {
        if let Err(error) = run_once(&state, now_millis()).await {
            tracing::error!(%error, "scheduled jobs failed; will retry");
        }
        tokio::time::sleep(interval).await;
    }
}
