//! Counters for `/metrics`, kept with the Prometheus client (`prometheus-client`) and exposed in the
//! Prometheus text format (0.0.4), the format `/metrics` has always spoken.
//!
//! Notifications are counted per module, endpoint, settlement type, verdict and refusal reason, with a
//! histogram of the time from receiving a notification to having its acknowledgement ready (the commit
//! included). The writer's commit counts and the gauges about orders are read at scrape time (the
//! gauges from the database), so they are registered afresh, in a registry of their own, for each scrape.

use std::hash::Hash;
use std::time::Duration;

use prometheus_client::encoding::{prometheus_text, EncodeLabelSet};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::db::{StoreCounts, Verdict, WriterCounts};

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Histogram bucket bounds, in seconds.
const BUCKETS: [f64; 11] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Labels of one notification counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct NotificationLabels {
    module: String,
    endpoint: String,
    settlement_type: String,
    verdict: String,
    reason: String,
}

/// Labels of the acknowledgement-time histogram.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct EndpointLabels {
    module: String,
    endpoint: String,
}

/// Labels of the refused-for-source counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RefusedLabels {
    module: String,
    endpoint: String,
    outcome: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StatusLabels {
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OrderLabels {
    settlement_type: String,
    status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ContractLabels {
    module: String,
    status: String,
}

/// The host's counters. Names are registered without `_total`: the client adds it to counters.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    notifications: Family<NotificationLabels, Counter>,
    ack_seconds: Family<EndpointLabels, Histogram>,
    http_responses: Family<StatusLabels, Counter>,
    orders_expired: Counter,
    attempts_flagged: Counter,
    refused: Family<RefusedLabels, Counter>,
    rate_limited: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let notifications = Family::<NotificationLabels, Counter>::default();
        let ack_seconds =
            Family::<EndpointLabels, Histogram>::new_with_constructor(|| Histogram::new(BUCKETS));
        let http_responses = Family::<StatusLabels, Counter>::default();
        let orders_expired = Counter::default();
        let attempts_flagged = Counter::default();
        let refused = Family::<RefusedLabels, Counter>::default();
        let rate_limited = Counter::default();
        // The client ends every help text with a full stop.
        let mut registry = Registry::default();
        registry.register(
            "shophost_notifications",
            "Gateway notifications by module, endpoint, settlement type and verdict",
            notifications.clone(),
        );
        registry.register(
            "shophost_notification_ack_seconds",
            "Time from receiving a notification to its committed answer",
            ack_seconds.clone(),
        );
        registry.register(
            "shophost_http_responses",
            "HTTP responses by status code",
            http_responses.clone(),
        );
        registry.register(
            "shophost_orders_expired",
            "Unpaid orders expired by the deadline job in this process",
            orders_expired.clone(),
        );
        registry.register(
            "shophost_attempts_flagged",
            "Attempts flagged 要確認 by the job in this process",
            attempts_flagged.clone(),
        );
        registry.register(
            "shophost_refused_requests",
            "Notifications refused for their source address, by what became of them: kept for a \
             replay, or only counted (over_budget, not_stored)",
            refused.clone(),
        );
        registry.register(
            "shophost_gateway_rate_limited",
            "Requests to the notification routes answered 429 by the per-source rate limit",
            rate_limited.clone(),
        );
        Metrics {
            registry,
            notifications,
            ack_seconds,
            http_responses,
            orders_expired,
            attempts_flagged,
            refused,
            rate_limited,
        }
    }
}

impl Metrics {
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
        self.notifications
            .get_or_create(&NotificationLabels {
                module: module.to_owned(),
                endpoint: endpoint.to_owned(),
                settlement_type: settlement_type.unwrap_or("").to_owned(),
                verdict: verdict.as_str().to_owned(),
                reason,
            })
            .inc();
        self.ack_seconds
            .get_or_create(&EndpointLabels {
                module: module.to_owned(),
                endpoint: endpoint.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a notification answered "unavailable" because storage failed.
    pub fn count_unavailable(&self, module: &str, endpoint: &str) {
        self.notifications
            .get_or_create(&NotificationLabels {
                module: module.to_owned(),
                endpoint: endpoint.to_owned(),
                settlement_type: String::new(),
                verdict: "unavailable".to_owned(),
                reason: String::new(),
            })
            .inc();
    }

    /// Counts a notification refused for its source address by what became of it.
    pub fn count_refused(&self, module: &str, endpoint: &str, outcome: crate::refused::Outcome) {
        self.refused
            .get_or_create(&RefusedLabels {
                module: module.to_owned(),
                endpoint: endpoint.to_owned(),
                outcome: outcome.as_str().to_owned(),
            })
            .inc();
    }

    /// Counts a request the per-source rate limit answered 429.
    pub fn count_rate_limited(&self) {
        self.rate_limited.inc();
    }

    /// Counts an HTTP response by status code.
    pub fn count_http(&self, status: u16) {
        self.http_responses
            .get_or_create(&StatusLabels { status })
            .inc();
    }

    /// Counts what a run of the scheduled jobs did.
    pub fn count_jobs(&self, expired: usize, flagged: usize) {
        self.orders_expired.inc_by(expired as u64);
        self.attempts_flagged.inc_by(flagged as u64);
    }

    /// The Prometheus text exposition; `counts` is `None` when the database did not answer.
    pub fn render(&self, counts: Option<&StoreCounts>, writer: WriterCounts) -> String {
        let scrape = scrape_registry(counts, writer);
        let mut out = String::new();
        for registry in [&self.registry, &scrape] {
            // Writing to a `String` cannot fail, and every label here encodes.
            if let Err(error) = prometheus_text::encode(&mut out, registry) {
                tracing::error!(%error, "metrics: encoding failed");
            }
        }
        out
    }
}

/// What is read at scrape time: the writer's commit counts, and the gauges from the database.
fn scrape_registry(counts: Option<&StoreCounts>, writer: WriterCounts) -> Registry {
    let mut registry = Registry::default();
    registry.register(
        "shophost_db_commits",
        "Commits that carried gateway requests (SQLite: one per group commit)",
        ConstCounter::new(writer.commits),
    );
    registry.register(
        "shophost_db_committed_requests",
        "Gateway requests those commits carried",
        ConstCounter::new(writer.requests),
    );
    registry.register(
        "shophost_db_group_commit_retries",
        "Group commits that failed and were retried one request per transaction",
        ConstCounter::new(writer.retries),
    );
    registry.register(
        "shophost_database_up",
        "Whether the database answered this scrape",
        ConstGauge::new(i64::from(counts.is_some())),
    );
    let Some(counts) = counts else {
        return registry;
    };
    registry.register(
        "shophost_attempts_awaiting_notification",
        "Checkout attempts flagged 要確認: success return, no notification",
        ConstGauge::new(counts.attention.attempts),
    );
    registry.register(
        "shophost_orders_attention",
        "Orders flagged 要確認",
        ConstGauge::new(counts.attention.orders),
    );
    registry.register(
        "shophost_orders",
        "Orders by settlement type and payment status (unpaid = 未入金, expired = 期限切れ)",
        gauge_family(&counts.orders, |settlement_type, status| OrderLabels {
            settlement_type,
            status,
        }),
    );
    registry.register(
        "shophost_recurring_contracts",
        "Recurring contracts (継続課金) by module and status (continuation = 継続中, stopped = 停止)",
        gauge_family(&counts.contracts, |module, status| ContractLabels {
            module,
            status,
        }),
    );
    registry
}

/// One gauge per `(label, label, count)` row of [`StoreCounts`].
fn gauge_family<L: Clone + Eq + Hash>(
    rows: &[(String, String, i64)],
    labels: fn(String, String) -> L,
) -> Family<L, Gauge> {
    let family = Family::<L, Gauge>::default();
    for (first, second, count) in rows {
        family
            .get_or_create(&labels(first.clone(), second.clone()))
            .set(*count);
    }
    family
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::AttentionCounts;

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let metrics = Metrics::default();
        metrics.count_notification(
            "gateway",
            "gateway_card",
            Some("acting_gateway_card"),
            &Verdict::Accepted,
            Duration::from_millis(3),
        );
        metrics.count_notification(
            "gateway",
            "gateway_card",
            None,
            &Verdict::Refused {
                refusal: shophost_module_api::Refusal::SourceNotAllowed,
                reason: "x".into(),
            },
            Duration::from_millis(30),
        );
        metrics.count_http(200);
        metrics.count_refused(
            "examplepay",
            "examplepay_card",
            crate::refused::Outcome::Kept,
        );
        metrics.count_rate_limited();
        let counts = StoreCounts {
            attention: AttentionCounts {
                attempts: 2,
                orders: 1,
            },
            orders: vec![("acting_gateway_conv".into(), "unpaid".into(), 5)],
            contracts: vec![("gateway".into(), "continuation".into(), 2)],
        };
        let writer = WriterCounts {
            commits: 3,
            requests: 10,
            retries: 1,
        };
        let text = metrics.render(Some(&counts), writer);
        assert!(text.contains("shophost_db_commits_total 3"));
        assert!(text.contains(
            "shophost_recurring_contracts{module=\"gateway\",status=\"continuation\"} 2"
        ));
        assert!(text.contains("shophost_db_committed_requests_total 10"));
        assert!(text.contains("shophost_db_group_commit_retries_total 1"));
        assert!(text.contains("shophost_notifications_total{module=\"gateway\",endpoint=\"gateway_card\",settlement_type=\"acting_gateway_card\",verdict=\"accepted\",reason=\"\"} 1"));
        assert!(text.contains("verdict=\"rejected\",reason=\"SourceNotAllowed\"} 1"));
        assert!(text.contains("shophost_notification_ack_seconds_bucket{module=\"gateway\",endpoint=\"gateway_card\",le=\"0.005\"} 1"));
        assert!(text.contains("shophost_notification_ack_seconds_bucket{module=\"gateway\",endpoint=\"gateway_card\",le=\"0.05\"} 2"));
        assert!(text.contains(
            "shophost_notification_ack_seconds_count{module=\"gateway\",endpoint=\"gateway_card\"} 2"
        ));
        assert!(text.contains("shophost_http_responses_total{status=\"200\"} 1"));
        assert!(text.contains("shophost_refused_requests_total{module=\"examplepay\",endpoint=\"examplepay_card\",outcome=\"kept\"} 1"));
        assert!(text.contains("shophost_gateway_rate_limited_total 1"));
        assert!(text.contains("shophost_database_up 1"));
        assert!(text.contains("shophost_attempts_awaiting_notification 2"));
        assert!(text.contains(
            "shophost_orders{settlement_type=\"acting_gateway_conv\",status=\"unpaid\"} 5"
        ));
        assert!(metrics
            .render(None, WriterCounts::default())
            .contains("shophost_database_up 0"));
    }
}
