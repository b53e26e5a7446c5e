//! Counters for `/metrics`, in the Prometheus text format, labelled by module and endpoint.
//!
//! Kept in-process and lock-light: one mutex around a small map, touched once per notification.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use crate::db::Verdict;

/// The host's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    notifications: Mutex<BTreeMap<(String, String, String, String), u64>>,
}

impl Metrics {
    /// Counts a journaled notification by verdict (and refusal reason).
    pub fn count_notification(&self, module: &str, endpoint: &str, verdict: &Verdict) {
        let reason = match verdict {
            Verdict::Refused { refusal, .. } => format!("{refusal:?}"),
            _ => String::new(),
        };
        self.bump(module, endpoint, verdict.as_str(), &reason);
    }

    /// Counts a notification answered "unavailable" because storage failed.
    pub fn count_unavailable(&self, module: &str, endpoint: &str) {
        self.bump(module, endpoint, "unavailable", "");
    }

    fn bump(&self, module: &str, endpoint: &str, verdict: &str, reason: &str) {
        let mut map = self.notifications.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry((
            module.to_owned(),
            endpoint.to_owned(),
            verdict.to_owned(),
            reason.to_owned(),
        ))
        .or_default() += 1;
    }

    /// The Prometheus text exposition.
    pub fn render(&self, gauges: &[(&str, &str, i64)]) -> String {
        let mut out = String::new();
        out.push_str("# HELP shophost_notifications_total Gateway notifications by module, endpoint and verdict.\n");
        out.push_str("# TYPE shophost_notifications_total counter\n");
        let map = self.notifications.lock().unwrap_or_else(|e| e.into_inner());
        for ((module, endpoint, verdict, reason), count) in map.iter() {
            let _ = writeln!(
                out,
                "shophost_notifications_total{{module=\"{module}\",endpoint=\"{endpoint}\",verdict=\"{verdict}\",reason=\"{reason}\"}} {count}"
            );
        }
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        out
    }
}
