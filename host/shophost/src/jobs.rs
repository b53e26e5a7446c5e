//! Scheduled jobs: flag success returns whose notification never came (要確認), and expire unpaid
//! deferred payments past their deadline (期限切れ).
//!
//! Both are single guarded `UPDATE`s, so several host processes sharing one PostgreSQL database can run
//! them at the same time and each order still changes once.

use crate::domain::{local_date, now_millis};
use crate::AppState;

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobReport {
    /// Link keys flagged 要確認.
    pub flagged: Vec<String>,
    /// Order numbers expired.
    pub expired: Vec<String>,
}

/// Runs the jobs once, as of `now` (Unix milliseconds).
pub async fn run_once(state: &AppState, now: i64) -> Result<JobReport, crate::db::DbError> {
    let minutes = state.config.shop.unconfirmed_return_minutes;
    let flagged = state
        .store
        .flag_unconfirmed_returns(
            now - minutes * 60_000,
            &crate::notices::unconfirmed_notice(state),
        )
        .await?;
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
    // Storefront sessions idle for a day are over (see `http/storefront/session.rs`).
    let swept = state.store.sweep_sessions(now - SESSION_DAY_MILLIS).await?;
    if swept > 0 {
        tracing::debug!(swept, "idle storefront sessions removed");
    }
    state.metrics.count_jobs(expired.len(), flagged.len());
    Ok(JobReport { flagged, expired })
}

/// How long a storefront session lives after its last change.
const SESSION_DAY_MILLIS: i64 = 24 * 60 * 60 * 1000;

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
