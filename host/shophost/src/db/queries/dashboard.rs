//! The dashboard's aggregates (ダッシュボード): orders and payments per shop-local day, notification
//! outcomes per module and settlement type, and the acknowledgement latencies, each over a window that
//! starts at `since`.
//!
//! Each query reads its table by the index on its time column (`0009_dashboard.sql`), so its cost is
//! that of the window, not of the database; the caller bounds the window (30 days).

use crate::db::columns::Value;
use crate::db::rows::Columns;
use crate::db::DbError;
use crate::domain::SHOP_UTC_OFFSET;

use super::{Dialect, Pools};

/// The upper bounds (milliseconds, inclusive) of the latency histogram's buckets; a last bucket holds
/// everything slower.
pub const LATENCY_BOUNDS_MS: [i64; 10] = [10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000];

/// One shop-local day's orders and payments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayTotals {
    /// The shop-local day, as days since 1970-01-01.
    pub day: i64,
    /// Orders created that day.
    pub orders: i64,
    /// Payments accepted that day (a card payment, a convenience-store receipt).
    pub payments: i64,
    /// The yen those payments paid (their orders' totals).
    pub amount_paid: i64,
}

/// How many notifications came to one verdict for one module and settlement type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeCount {
    /// The module whose endpoint took it (empty when none did).
    pub module_id: String,
    /// The settlement type of the checkout it named (empty when it named none the shop knows).
    pub settlement_type: String,
    /// `accepted`, `duplicate` or `rejected`.
    pub verdict: String,
    /// The refusal's kind for `rejected` ([`crate::db::Verdict::refusal`]); empty otherwise, and for
    /// entries journaled before the kind was.
    pub refusal: String,
    /// How many.
    pub count: i64,
}

/// How long the shop took to answer notifications: counts per bucket of [`LATENCY_BOUNDS_MS`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatencyHistogram {
    /// `counts[i]` answered within `LATENCY_BOUNDS_MS[i]` ms (and above the bound before); the last
    /// one slower than every bound.
    pub counts: Vec<i64>,
    /// The slowest answer (ms), if any.
    pub slowest: Option<i64>,
}

/// The shop's offset from UTC in milliseconds: what turns an instant into a shop-local day number.
fn shop_offset_millis() -> i64 {
    i64::from(SHOP_UTC_OFFSET.whole_seconds()) * 1000
}

/// `expression` (Unix ms) as the shop-local day number. Both backends divide integers toward zero,
/// which is the floor for every instant after 1970.
fn day_of(expression: &str) -> String {
    format!("({expression} + $2) / 86400000")
}

impl<DB: Dialect> Pools<DB> {
    pub async fn daily_totals(&self, since: i64) -> Result<Vec<DayTotals>, DbError> {
        let args = || vec![Value::from(since), Value::from(shop_offset_millis())];
        let orders = format!(
            "SELECT {day} AS day, COUNT(*) AS n FROM orders WHERE created_at >= $1 GROUP BY 1",
            day = day_of("created_at")
        );
        // A payment is an accepted signal that money came: a card payment or a receipt. PostgreSQL
        // sums BIGINTs as NUMERIC; the cast keeps both backends at one integer type.
        let payments = format!(
            "SELECT {day} AS day, COUNT(*) AS n, CAST(COALESCE(SUM(o.total), 0) AS BIGINT) AS amount \
             FROM payment_events e JOIN orders o ON o.id = e.order_id \
             WHERE e.at >= $1 AND e.kind IN ('payment_succeeded', 'payment_received') GROUP BY 1",
            day = day_of("e.at")
        );
        let mut days: std::collections::BTreeMap<i64, DayTotals> = Default::default();
        for row in self.read_rows(&orders, args()).await? {
            let day = row.int("day")?;
            days.entry(day)
                .or_insert(DayTotals {
                    day,
                    ..Default::default()
                })
                .orders = row.int("n")?;
        }
        for row in self.read_rows(&payments, args()).await? {
            let day = row.int("day")?;
            let totals = days.entry(day).or_insert(DayTotals {
                day,
                ..Default::default()
            });
            totals.payments = row.int("n")?;
            totals.amount_paid = row.int("amount")?;
        }
        Ok(days.into_values().collect())
    }

    pub async fn notification_outcomes(&self, since: i64) -> Result<Vec<OutcomeCount>, DbError> {
        // The journal does not keep the settlement type; the attempt its link key names does.
        let sql = "SELECT COALESCE(j.module_id, '') AS module_id, \
                   COALESCE(a.settlement_type, '') AS settlement_type, j.verdict AS verdict, \
                   COALESCE(j.refusal, '') AS refusal, COUNT(*) AS n \
                   FROM notification_journal j LEFT JOIN checkout_attempts a ON a.link_key = j.link_key \
                   WHERE j.received_at >= $1 GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4";
        let rows = self.read_rows(sql, vec![since.into()]).await?;
        rows.iter()
            .map(|row| {
                Ok(OutcomeCount {
                    module_id: row.text("module_id")?,
                    settlement_type: row.text("settlement_type")?,
                    verdict: row.text("verdict")?,
                    refusal: row.text("refusal")?,
                    count: row.int("n")?,
                })
            })
            .collect()
    }

    pub async fn answer_latencies(&self, since: i64) -> Result<LatencyHistogram, DbError> {
        let latency = "(answered_at - received_at)";
        let cases: Vec<String> = LATENCY_BOUNDS_MS
            .iter()
            .enumerate()
            .map(|(index, bound)| format!("WHEN {latency} <= {bound} THEN {index}"))
            .collect();
        // The CAST: PostgreSQL types the CASE's literals as INTEGER, which is not an i64.
        let sql = format!(
            "SELECT CAST(CASE {} ELSE {} END AS BIGINT) AS bucket, COUNT(*) AS n, \
             MAX({latency}) AS slowest FROM notification_journal \
             WHERE received_at >= $1 AND answered_at IS NOT NULL GROUP BY 1",
            cases.join(" "),
            LATENCY_BOUNDS_MS.len()
        );
        let mut histogram = LatencyHistogram {
            counts: vec![0; LATENCY_BOUNDS_MS.len() + 1],
            slowest: None,
        };
        for row in self.read_rows(&sql, vec![since.into()]).await? {
            let bucket = usize::try_from(row.int("bucket")?).unwrap_or(0);
            if let Some(count) = histogram.counts.get_mut(bucket) {
                *count = row.int("n")?;
            }
            histogram.slowest = histogram.slowest.max(row.int_or_null("slowest")?);
        }
        Ok(histogram)
    }
}
