//! Counters for `/metrics`, in the Prometheus text format.
//!
//! Notifications are counted per module, endpoint, settlement type, verdict and refusal reason, with a
//! histogram of the time from receiving a notification to having its acknowledgement ready (the commit
//! included). Gauges about orders come from the database at scrape time. Kept in-process and
//! lock-light: one short mutex per notification.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use crate::db::{StoreCounts, Verdict, WriterCounts};

/// Histogram bucket bounds, in seconds.
const BUCKETS: [f64; 11] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Labels of one notification counter.
type NotificationKey = (String, String, String, String, String);

#[derive(Debug, Default)]
struct Inner {
    notifications: BTreeMap<NotificationKey, u64>,
    latency: BTreeMap<(String, String), Histogram>,
    http: BTreeMap<u16, u64>,
    expired: u64,
    flagged: u64,
}

/// The host's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Counts a notification by verdict (and refusal reason) and records how long it took.
    pub fn count_notification(
        &self,
        module: &str,
        endpoint: &str,
        settlement_type: Option<&str>,
        verdict: &Verdict,
        elapsed: Duration,
    ) {
        let reason = match verdict {
            Verdict::Refused { refusal, .. } => format!("{refusal:?}"),
            _ => String::new(),
        };
        let key = (
            module.to_owned(),
            endpoint.to_owned(),
            settlement_type.unwrap_or("").to_owned(),
            verdict.as_str().to_owned(),
            reason,
        );
        self.with(|inner| {
            *inner.notifications.entry(key).or_default() += 1;
            let histogram = inner
                .latency
                .entry((module.to_owned(), endpoint.to_owned()))
                .or_default();
            let seconds = elapsed.as_secs_f64();
            for (bucket, bound) in histogram.counts.iter_mut().zip(BUCKETS) {
                if seconds <= bound {
                    *bucket += 1;
                }
            }
            histogram.count += 1;
            histogram.sum += seconds;
        });
    }

    /// Counts a notification answered "unavailable" because storage failed.
    pub fn count_unavailable(&self, module: &str, endpoint: &str) {
        let key = (
            module.to_owned(),
            endpoint.to_owned(),
            String::new(),
            "unavailable".to_owned(),
            String::new(),
        );
        self.with(|inner| *inner.notifications.entry(key).or_default() += 1);
    }

    /// Counts an HTTP response by status code.
    pub fn count_http(&self, status: u16) {
        self.with(|inner| *inner.http.entry(status).or_default() += 1);
    }

    /// Counts what a run of the scheduled jobs did.
    pub fn count_jobs(&self, expired: usize, flagged: usize) {
        self.with(|inner| {
            inner.expired += expired as u64;
            inner.flagged += flagged as u64;
        });
    }

    /// The Prometheus text exposition; `counts` is `None` when the database did not answer.
    pub fn render(&self, counts: Option<&StoreCounts>, writer: WriterCounts) -> String {
        let mut out = String::new();
        self.with(|inner| {
            out.push_str("# HELP shophost_notifications_total Gateway notifications by module, endpoint, settlement type and verdict.\n");
            out.push_str("# TYPE shophost_notifications_total counter\n");
            for ((module, endpoint, settlement_type, verdict, reason), count) in &inner.notifications {
                let _ = writeln!(
                    out,
                    "shophost_notifications_total{{module=\"{}\",endpoint=\"{}\",settlement_type=\"{}\",verdict=\"{}\",reason=\"{}\"}} {count}",
                    escape(module),
                    escape(endpoint),
                    escape(settlement_type),
                    verdict,
                    reason
                );
            }
            out.push_str("# HELP shophost_notification_ack_seconds Time from receiving a notification to its committed answer.\n");
            out.push_str("# TYPE shophost_notification_ack_seconds histogram\n");
            for ((module, endpoint), histogram) in &inner.latency {
                let labels = format!("module=\"{}\",endpoint=\"{}\"", escape(module), escape(endpoint));
                for (count, bound) in histogram.counts.iter().zip(BUCKETS) {
                    let _ = writeln!(out, "shophost_notification_ack_seconds_bucket{{{labels},le=\"{bound}\"}} {count}");
                }
                let _ = writeln!(out, "shophost_notification_ack_seconds_bucket{{{labels},le=\"+Inf\"}} {}", histogram.count);
                let _ = writeln!(out, "shophost_notification_ack_seconds_sum{{{labels}}} {}", histogram.sum);
                let _ = writeln!(out, "shophost_notification_ack_seconds_count{{{labels}}} {}", histogram.count);
            }
            out.push_str("# HELP shophost_http_responses_total HTTP responses by status code.\n");
            out.push_str("# TYPE shophost_http_responses_total counter\n");
            for (status, count) in &inner.http {
                let _ = writeln!(out, "shophost_http_responses_total{{status=\"{status}\"}} {count}");
            }
            out.push_str("# HELP shophost_orders_expired_total Unpaid orders expired by the deadline job in this process.\n");
            out.push_str("# TYPE shophost_orders_expired_total counter\n");
            let _ = writeln!(out, "shophost_orders_expired_total {}", inner.expired);
            out.push_str("# HELP shophost_attempts_flagged_total Attempts flagged 要確認 by the job in this process.\n");
            out.push_str("# TYPE shophost_attempts_flagged_total counter\n");
            let _ = writeln!(out, "shophost_attempts_flagged_total {}", inner.flagged);
        });
        out.push_str("# HELP shophost_db_commits_total Commits that carried gateway requests (SQLite: one per group commit).\n");
        out.push_str("# TYPE shophost_db_commits_total counter\n");
        let _ = writeln!(out, "shophost_db_commits_total {}", writer.commits);
        out.push_str(
            "# HELP shophost_db_committed_requests_total Gateway requests those commits carried.\n",
        );
        out.push_str("# TYPE shophost_db_committed_requests_total counter\n");
        let _ = writeln!(
            out,
            "shophost_db_committed_requests_total {}",
            writer.requests
        );
        out.push_str("# HELP shophost_db_group_commit_retries_total Group commits that failed and were retried one request per transaction.\n");
        out.push_str("# TYPE shophost_db_group_commit_retries_total counter\n");
        let _ = writeln!(
            out,
            "shophost_db_group_commit_retries_total {}",
            writer.retries
        );
        out.push_str("# HELP shophost_database_up Whether the database answered this scrape.\n");
        out.push_str("# TYPE shophost_database_up gauge\n");
        let _ = writeln!(out, "shophost_database_up {}", u8::from(counts.is_some()));
        if let Some(counts) = counts {
            out.push_str("# HELP shophost_attempts_awaiting_notification Checkout attempts flagged 要確認: success return, no notification.\n");
            out.push_str("# TYPE shophost_attempts_awaiting_notification gauge\n");
            let _ = writeln!(
                out,
                "shophost_attempts_awaiting_notification {}",
                counts.attempts_attention
            );
            out.push_str("# HELP shophost_orders_attention Orders flagged 要確認.\n");
            out.push_str("# TYPE shophost_orders_attention gauge\n");
            let _ = writeln!(out, "shophost_orders_attention {}", counts.orders_attention);
            out.push_str("# HELP shophost_orders Orders by settlement type and payment status (unpaid = 未入金, expired = 期限切れ).\n");
            out.push_str("# TYPE shophost_orders gauge\n");
            for (settlement_type, status, count) in &counts.orders {
                let _ = writeln!(
                    out,
                    "shophost_orders{{settlement_type=\"{}\",status=\"{}\"}} {count}",
                    escape(settlement_type),
                    escape(status)
                );
            }
            out.push_str("# HELP shophost_recurring_contracts Recurring contracts (継続課金) by module and status (continuation = 継続中, stopped = 停止).\n");
            out.push_str("# TYPE shophost_recurring_contracts gauge\n");
            for (module, status, count) in &counts.contracts {
                let _ = writeln!(
                    out,
                    "shophost_recurring_contracts{{module=\"{}\",status=\"{}\"}} {count}",
                    escape(module),
                    escape(status)
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let metrics = Metrics::default();
        metrics.count_notification(
            "remise",
            "remise_card",
            Some("acting_remise_card"),
            &Verdict::Accepted,
            Duration::from_millis(3),
        );
        metrics.count_notification(
            "remise",
            "remise_card",
            None,
            &Verdict::Refused {
                refusal: shophost_module_api::Refusal::SourceNotAllowed,
                reason: "x".into(),
            },
            Duration::from_millis(30),
        );
        metrics.count_http(200);
        let counts = StoreCounts {
            attempts_attention: 2,
            orders_attention: 1,
            orders: vec![("acting_remise_conv".into(), "unpaid".into(), 5)],
            contracts: vec![("remise".into(), "continuation".into(), 2)],
        };
        let writer = WriterCounts {
            commits: 3,
            requests: 10,
            retries: 1,
        };
        let text = metrics.render(Some(&counts), writer);
        assert!(text.contains("shophost_db_commits_total 3"));
        assert!(text
            .contains("shophost_recurring_contracts{module=\"remise\",status=\"continuation\"} 2"));
        assert!(text.contains("shophost_db_committed_requests_total 10"));
        assert!(text.contains("shophost_db_group_commit_retries_total 1"));
        assert!(text.contains("shophost_notifications_total{module=\"remise\",endpoint=\"remise_card\",settlement_type=\"acting_remise_card\",verdict=\"accepted\",reason=\"\"} 1"));
        assert!(text.contains("verdict=\"rejected\",reason=\"SourceNotAllowed\"} 1"));
        assert!(text.contains("shophost_notification_ack_seconds_bucket{module=\"remise\",endpoint=\"remise_card\",le=\"0.005\"} 1"));
        assert!(text.contains("shophost_notification_ack_seconds_bucket{module=\"remise\",endpoint=\"remise_card\",le=\"0.05\"} 2"));
        assert!(text.contains(
            "shophost_notification_ack_seconds_count{module=\"remise\",endpoint=\"remise_card\"} 2"
        ));
        assert!(text.contains("shophost_http_responses_total{status=\"200\"} 1"));
        assert!(text.contains("shophost_database_up 1"));
        assert!(text.contains("shophost_attempts_awaiting_notification 2"));
        assert!(text.contains(
            "shophost_orders{settlement_type=\"acting_remise_conv\",status=\"unpaid\"} 5"
        ));
        assert!(metrics
            .render(None, WriterCounts::default())
            .contains("shophost_database_up 0"));
    }
}
