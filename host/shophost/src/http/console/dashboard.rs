//! ダッシュボード: the notices as Welcart shows them (決済エラー発生告知, 要確認 with the notification URLs
//! to check, notifications refused for their source, modules whose settings are invalid and the
//! payment methods stopped for them; `crate::notices`, shared with the admin API), and three pictures
//! of the last 30 shop-local days: orders and payments per day, notification outcomes per module and
//! settlement type, and how fast notifications were answered. Each picture is inline SVG drawn from
//! the geometry in `charts.rs`, with its numbers in a table beside it.

use askama::Template;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::Response;
use shophost_module_api::LocalDate;

use super::charts::{milliseconds, percentile, BarChart, Category, Point, StackedChart};
use super::{Chrome, Signed};
use crate::db::{DayTotals, DbError, LatencyHistogram, OutcomeCount, LATENCY_BOUNDS_MS};
use crate::domain::{local_date, now_millis, SHOP_UTC_OFFSET};
use crate::http::html::{self, filters};
use crate::notices::Notice;
use crate::AppState;

/// How many shop-local days the pictures cover, today included.
const DAYS: i64 = 30;

#[derive(Template)]
#[template(path = "console/dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    notices: Vec<Notice>,
    /// `YYYY年MM月DD日〜YYYY年MM月DD日`.
    period: String,
    days: Vec<DayRow>,
    totals: DayRow,
    orders_chart: BarChart,
    amount_chart: BarChart,
    outcomes: StackedChart,
    latency: Latency,
    latency_chart: BarChart,
}

/// One day of the first picture's table (or the period's sums).
#[derive(Debug, Clone, Default)]
struct DayRow {
    date: String,
    orders: i64,
    payments: i64,
    amount_paid: i64,
}

/// The latency picture's numbers.
struct Latency {
    answered: i64,
    p50: String,
    p90: String,
    p99: String,
    slowest: String,
    /// (bucket, count) for the table.
    buckets: Vec<(String, i64)>,
}

pub(super) async fn page(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
) -> Response {
    match dashboard(&state, Chrome::new(&signed, "/admin")).await {
        Ok(page) => html::render(StatusCode::OK, &page),
        Err(error) => super::unavailable(error),
    }
}

async fn dashboard(state: &AppState, chrome: Chrome) -> Result<DashboardPage, DbError> {
    let notices = crate::notices::current(state).await?;
    let today = local_date(now_millis());
    let first = today.add_days(1 - DAYS);
    let offset = i64::from(SHOP_UTC_OFFSET.whole_seconds()) * 1000;
    let since = first.day_number() * 86_400_000 - offset;
    let daily = state.store.daily_totals(since).await?;
    let outcomes = state.store.notification_outcomes(since).await?;
    let latencies = state.store.answer_latencies(since).await?;

    let days = day_rows(first, &daily);
    let totals = days.iter().fold(
        DayRow {
            date: "合計".to_owned(),
            ..DayRow::default()
        },
        |sum, day| DayRow {
            orders: sum.orders + day.orders,
            payments: sum.payments + day.payments,
            amount_paid: sum.amount_paid + day.amount_paid,
            ..sum
        },
    );
    let points = |value: fn(&DayRow) -> i64, unit: &str| -> Vec<Point> {
        days.iter()
            .map(|day| Point {
                axis_label: day.date[5..].replace('-', "/"),
                title: format!("{}: {}{unit}", day.date, html::grouped(value(day))),
                value: value(day),
            })
            .collect()
    };
    Ok(DashboardPage {
        chrome,
        notices,
        period: format!(
            "{}〜{}",
            crate::domain::japanese_date(first),
            crate::domain::japanese_date(today)
        ),
        orders_chart: BarChart::new(
            "orders-chart",
            "日別の注文数（直近30日）",
            "件",
            &points(|day| day.orders, "件"),
            7,
        ),
        amount_chart: BarChart::new(
            "amount-chart",
            "日別の決済金額（直近30日）",
            "円",
            &points(|day| day.amount_paid, "円"),
            7,
        ),
        days,
        totals,
        outcomes: outcome_chart(state, &outcomes),
        latency_chart: latency_chart(&latencies),
        latency: latency(&latencies),
    })
}

/// Every day from `first` to today, zero where nothing happened.
fn day_rows(first: LocalDate, daily: &[DayTotals]) -> Vec<DayRow> {
    (0..DAYS)
        .map(|index| {
            let date = first.add_days(index);
            let found = daily
                .iter()
                .find(|day| day.day == date.day_number())
                .copied()
                .unwrap_or_default();
            DayRow {
                date: format!("{:04}-{:02}-{:02}", date.year, date.month, date.day),
                orders: found.orders,
                payments: found.payments,
                amount_paid: found.amount_paid,
            }
        })
        .collect()
}

/// The outcomes in the order the picture stacks them: `(verdict, refusal)`, label and colour.
const OUTCOMES: [(&str, &str, &str, &str); 9] = [
    ("accepted", "", "受付（確認応答）", "#00a32a"),
    ("duplicate", "", "重複（確認応答）", "#72aee6"),
    ("rejected", "malformed", "拒否: 形式・署名の不備", "#d63638"),
    (
        "rejected",
        "unknown_link_key",
        "拒否: 不明な取引",
        "#dba617",
    ),
    (
        "rejected",
        "mismatch",
        "拒否: 金額・内容の不一致",
        "#b32d2e",
    ),
    (
        "rejected",
        "wrong_state",
        "拒否: 取引の状態と不一致",
        "#e26f56",
    ),
    (
        "rejected",
        "source_not_allowed",
        "拒否: 送信元不許可",
        "#8a2424",
    ),
    ("rejected", "other", "拒否: その他", "#a7aaad"),
    ("rejected", "", "拒否: 理由の種別なし（記録前）", "#646970"),
];

/// The outcome's place in [`OUTCOMES`] (an unknown verdict counts with the last).
fn outcome_index(count: &OutcomeCount) -> usize {
    let refusal = if count.verdict == "rejected" {
        count.refusal.as_str()
    } else {
        ""
    };
    OUTCOMES
        .iter()
        .position(|(verdict, kind, _, _)| *verdict == count.verdict && *kind == refusal)
        .unwrap_or(OUTCOMES.len() - 1)
}

/// Notification outcomes: a row per module and settlement type, a segment per outcome that occurred.
fn outcome_chart(state: &AppState, counts: &[OutcomeCount]) -> StackedChart {
    let present: Vec<usize> = (0..OUTCOMES.len())
        .filter(|index| counts.iter().any(|c| outcome_index(c) == *index))
        .collect();
    let registry = state.engine.registry();
    let labels = state.engine.labels();
    let mut rows: Vec<(String, Vec<i64>)> = Vec::new();
    for count in counts {
        let module = match registry.get(&count.module_id) {
            Some(module) => module.display_name.clone(),
            None if count.module_id.is_empty() => "モジュールなし".to_owned(),
            None => count.module_id.clone(),
        };
        let settlement = match labels.get(&count.settlement_type) {
            Some(label) => label.clone(),
            None if count.settlement_type.is_empty() => "取引不明".to_owned(),
            None => count.settlement_type.clone(),
        };
        let label = format!("{module} / {settlement}");
        let column = present
            .iter()
            .position(|index| *index == outcome_index(count))
            .unwrap_or(0);
        match rows.iter_mut().find(|(row, _)| *row == label) {
            Some((_, row)) => row[column] += count.count,
            None => {
                let mut row = vec![0; present.len()];
                row[column] = count.count;
                rows.push((label, row));
            }
        }
    }
    let categories = present
        .iter()
        .map(|index| Category {
            label: OUTCOMES[*index].2.to_owned(),
            fill: OUTCOMES[*index].3,
        })
        .collect();
    StackedChart::new(
        "outcomes-chart",
        "決済モジュール・決済種別ごとの通知の結果（直近30日）",
        categories,
        rows,
    )
}

/// A latency bucket's label: `10 ms以下`, the last `10 秒超`.
fn bucket_label(index: usize) -> String {
    match LATENCY_BOUNDS_MS.get(index) {
        Some(bound) => format!("{}以下", milliseconds(*bound)),
        None => format!(
            "{}超",
            milliseconds(LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.len() - 1])
        ),
    }
}

fn latency(histogram: &LatencyHistogram) -> Latency {
    let at =
        |p| percentile(&histogram.counts, &LATENCY_BOUNDS_MS, p).unwrap_or_else(|| "—".to_owned());
    Latency {
        answered: histogram.counts.iter().sum(),
        p50: at(50),
        p90: at(90),
        p99: at(99),
        slowest: histogram
            .slowest
            .map(milliseconds)
            .unwrap_or_else(|| "—".to_owned()),
        buckets: histogram
            .counts
            .iter()
            .enumerate()
            .map(|(index, count)| (bucket_label(index), *count))
            .collect(),
    }
}

fn latency_chart(histogram: &LatencyHistogram) -> BarChart {
    let points: Vec<Point> = histogram
        .counts
        .iter()
        .enumerate()
        .map(|(index, count)| Point {
            axis_label: LATENCY_BOUNDS_MS
                .get(index)
                .map(|bound| milliseconds(*bound).replace(' ', ""))
                .unwrap_or_else(|| "超".to_owned()),
            title: format!("{}: {}件", bucket_label(index), html::grouped(*count)),
            value: *count,
        })
        .collect();
    BarChart::new(
        "latency-chart",
        "通知の受信から応答までの時間の分布（直近30日）",
        "件",
        &points,
        1,
    )
}
