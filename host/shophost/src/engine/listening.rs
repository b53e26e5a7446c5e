//! Modules out of use that still finish what they started.
//!
//! A module taken out of use takes no new payments: it provides no settlement types, so its methods
//! stay 停止 and checkout offers none of them. But a gateway keeps sending notifications for what the
//! module started — a コンビニ slip is paid days later, a card result is retried, a recurring charge
//! runs every month — and the money is real. So for as long as the module has anything open that a
//! notification may still come for, its endpoints keep resolving, with the config of its stored
//! settings, and every notification goes through the same path (journal, checks, acknowledgement) as
//! when it was in use:
//!
//! - checkout attempts without an order, for as long as they are kept (`retention.attempts_without_order_days`:
//!   an attempt purged can no longer become an order anyway);
//! - unpaid orders until their deadline plus `shop.expiry_grace_days` (what the expiry job waits
//!   for), or for good when they have no deadline;
//! - recurring contracts still running (継続中).
//!
//! Only when none remain do its endpoints go quiet (an unknown endpoint, 404). The engine works this
//! out at start-up, whenever the selection changes and at every run of the scheduled jobs.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use shophost_module_api::SettingsValues;

use super::{endpoint_target, state_for, EndpointTarget, Engine, ModuleState};
use crate::config::Config;
use crate::db::{DbError, OpenWork, Store};
use crate::domain::{japanese_date, local_date};
use crate::registry::Registry;

/// A day in milliseconds.
const DAY_MILLIS: i64 = 24 * 60 * 60 * 1000;

/// A module out of use with something open.
#[derive(Clone)]
pub struct Retired {
    /// Its state from its stored settings; its settlement types are not provided, only used to label
    /// what its notifications apply.
    pub state: ModuleState,
    /// What is open.
    pub open: OpenWork,
    /// The latest date something open can still receive a notification (`YYYYMMDD`), when every open
    /// thing has an end.
    pub until: Option<String>,
    /// Whether something open has no end by itself (a running contract, an unpaid order without a
    /// deadline).
    pub open_ended: bool,
}

impl Retired {
    /// Whether its endpoints resolve: it has valid settings and endpoints.
    pub fn listening(&self) -> bool {
        self.state.config.is_some() && !self.state.endpoints.is_empty()
    }

    /// What it tells the operator (and the console).
    pub fn report(&self) -> ListeningReport {
        let open = &self.open;
        let mut parts = Vec::new();
        if open.open_attempts > 0 {
            parts.push(format!("受注前の決済 {} 件", open.open_attempts));
        }
        if open.unpaid_orders > 0 {
            parts.push(format!("未入金の受注 {} 件", open.unpaid_orders));
        }
        if open.running_contracts > 0 {
            parts.push(format!("継続中の継続課金 {} 件", open.running_contracts));
        }
        let until = self
            .until
            .as_deref()
            .and_then(shophost_module_api::LocalDate::parse_yyyymmdd)
            .map(japanese_date);
        let name = &self.state.registered.display_name;
        let reason = if !self.listening() {
            format!(
                "{name}は利用していませんが、{}が残っています。設定に不備があるため通知を受け付けられません。設定を確認してください。",
                parts.join("・")
            )
        } else if self.open_ended {
            format!(
                "{name}は利用していませんが、{}が残っているため、通知の受け付けを続けています（終了日は未定）。",
                parts.join("・")
            )
        } else {
            format!(
                "{name}は利用していませんが、{}が残っているため、{}まで通知の受け付けを続けます。",
                parts.join("・"),
                until.as_deref().unwrap_or("未定")
            )
        };
        ListeningReport {
            module: self.state.registered.id.clone(),
            display_name: name.clone(),
            listening: self.listening(),
            settings_valid: self.state.errors.is_empty(),
            open_attempts: open.open_attempts,
            unpaid_orders: open.unpaid_orders,
            unpaid_without_deadline: open.unpaid_without_deadline,
            running_contracts: open.running_contracts,
            until: self.until.clone(),
            open_ended: self.open_ended,
            reason,
        }
    }
}

/// A module out of use that still has something open, as the admin API, the banner, `shophost
/// modules` and the console show it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ListeningReport {
    /// The module.
    pub module: String,
    /// Its display name.
    pub display_name: String,
    /// Whether its endpoints resolve (false only when its stored settings are not valid).
    pub listening: bool,
    /// Whether its stored settings are valid.
    pub settings_valid: bool,
    /// Checkout attempts without an order.
    pub open_attempts: i64,
    /// Unpaid orders not past their deadline and grace.
    pub unpaid_orders: i64,
    /// Of those, orders without a deadline.
    pub unpaid_without_deadline: i64,
    /// Running recurring contracts.
    pub running_contracts: i64,
    /// The latest date something open can still receive a notification (`YYYYMMDD`), unless
    /// `open_ended`.
    pub until: Option<String>,
    /// Whether something open has no end by itself.
    pub open_ended: bool,
    /// Why, in Japanese.
    pub reason: String,
}

/// What keeps modules out of use listening, as of `now`, for the modules not in `in_use`. Reads the
/// database; changes nothing (also for `shophost modules`).
pub async fn retired_modules(
    registry: &Registry,
    config: &Config,
    in_use: &[String],
    store: &dyn Store,
    now: i64,
) -> Result<BTreeMap<String, Retired>, DbError> {
    let attempt_days = i64::from(config.retention.attempts_without_order_days);
    let grace_days = config.shop.expiry_grace_days;
    let attempts_after = now - attempt_days * DAY_MILLIS;
    let deadline_cutoff = local_date(now).add_days(-grace_days).yyyymmdd();
    let mut retired = BTreeMap::new();
    for open in store.open_work(attempts_after, &deadline_cutoff).await? {
        if in_use.contains(&open.module_id) {
            continue;
        }
        let Some(registered) = registry.get(&open.module_id) else {
            tracing::warn!(module = %open.module_id, "a module that is not registered has open payments; its notifications cannot be received");
            continue;
        };
        let values = stored_or_file_values(&open.module_id, config, store).await?;
        let state = state_for(registered, values);
        let mut dates = Vec::new();
        if let Some(at) = open.latest_attempt_at {
            dates.push(local_date(at).add_days(attempt_days).yyyymmdd());
        }
        if let Some(deadline) = open
            .latest_deadline
            .as_deref()
            .and_then(shophost_module_api::LocalDate::parse_yyyymmdd)
        {
            dates.push(deadline.add_days(grace_days).yyyymmdd());
        }
        let open_ended = open.running_contracts > 0 || open.unpaid_without_deadline > 0;
        retired.insert(
            open.module_id.clone(),
            Retired {
                state,
                until: dates.into_iter().max(),
                open_ended,
                open,
            },
        );
    }
    Ok(retired)
}

/// A module's settings: as stored (by the admin API, or from the file when it was last in use), else
/// the config file's.
pub(super) async fn stored_or_file_values(
    module_id: &str,
    config: &Config,
    store: &dyn Store,
) -> Result<SettingsValues, DbError> {
    Ok(match store.module_settings(module_id).await? {
        Some(stored) => stored.values,
        None => config
            .module_settings
            .get(module_id)
            .cloned()
            .unwrap_or_default(),
    })
}

impl Engine {
    /// Works out again which modules out of use still listen (at start-up and at every run of the
    /// scheduled jobs); logs those that start or stop. Returns what listens now.
    pub async fn refresh_listening(
        &self,
        config: &Config,
        store: &dyn Store,
        now: i64,
    ) -> Result<Vec<ListeningReport>, DbError> {
        let _changing = self.changing.lock().await;
        let in_use = self.in_use();
        let next = retired_modules(&self.registry, config, &in_use, store, now).await?;
        self.replace_retired(next);
        Ok(self.listening())
    }

    /// Puts `next` in place, logging what changed.
    pub(super) fn replace_retired(&self, next: BTreeMap<String, Retired>) {
        let previous = self.retired();
        for (id, retired) in &next {
            let report = retired.report();
            match previous.get(id) {
                None if retired.listening() => tracing::warn!(module = %id, "{}", report.reason),
                None => tracing::error!(module = %id, "{}", report.reason),
                Some(_) => {}
            }
        }
        for id in previous.keys().filter(|id| !next.contains_key(*id)) {
            if !self.in_use().contains(id) {
                tracing::info!(module = %id, "module out of use has nothing open any more: its notification endpoints go quiet");
            }
        }
        *self.retired.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
    }

    /// The modules out of use with something open, by id.
    pub fn retired(&self) -> Arc<BTreeMap<String, Retired>> {
        self.retired
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The modules out of use with something open, and why (for the banner, `shophost modules`, the
    /// admin API and the console).
    pub fn listening(&self) -> Vec<ListeningReport> {
        self.retired().values().map(Retired::report).collect()
    }

    /// The target of an endpoint of a module out of use that still listens.
    pub(super) fn retired_endpoint(&self, name: &str) -> Option<EndpointTarget> {
        self.retired()
            .values()
            .filter(|r| r.listening())
            .find_map(|r| endpoint_target(&r.state, name))
    }

    /// The module out of use that still listens and owns `settlement_type` (for browser returns).
    pub(super) fn retired_owner_of(&self, settlement_type: &str) -> Option<ModuleState> {
        self.retired()
            .values()
            .filter(|r| r.listening())
            .find(|r| settlement_type.starts_with(&format!("acting_{}_", r.state.registered.id)))
            .map(|r| r.state.clone())
    }
}
