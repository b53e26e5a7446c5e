//! The geometry of the dashboard's pictures, as plain numbers for the templates to draw as inline SVG:
//! a column chart (bars over labelled axes) and a stacked horizontal bar chart, each with a rounded
//! ("nice") scale. The markup is in `templates/console/`; what is here is testable without it.
//!
//! Coordinates are whole SVG user units in a fixed `viewBox`; the page scales the picture.

use crate::http::html::grouped;

/// A column chart: one bar per value over a y-axis of nice ticks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BarChart {
    /// The `id` prefix of its parts (`aria-labelledby`).
    pub id: &'static str,
    /// What it shows, for `<title>`.
    pub title: String,
    /// The y-axis's unit (件, 円, 件数).
    pub unit: &'static str,
    /// The `viewBox` size.
    pub width: i64,
    pub height: i64,
    /// The plot area: left and right x, top and bottom (the zero line) y.
    pub left: i64,
    pub right: i64,
    pub top: i64,
    pub bottom: i64,
    /// The bars, left to right.
    pub bars: Vec<Bar>,
    /// The y-axis's ticks (`y` and `label`), zero first.
    pub y_ticks: Vec<Tick>,
    /// The x-axis's labels (`x` and `label`), not one per bar when they would crowd.
    pub x_labels: Vec<Tick>,
    /// Whether every value is zero (the picture then says there is nothing yet).
    pub empty: bool,
}

/// One bar: its rectangle, and what it stands for (shown as its `<title>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    pub x: i64,
    pub y: i64,
    pub width: i64,
    pub height: i64,
    pub title: String,
}

/// A tick or axis label at (`x`, `y`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tick {
    pub x: i64,
    pub y: i64,
    pub label: String,
}

/// One value of a [`BarChart`]: its axis label (empty for none), the bar's title and the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Point {
    pub axis_label: String,
    pub title: String,
    pub value: i64,
}

const WIDTH: i64 = 720;
const HEIGHT: i64 = 240;
const LEFT: i64 = 72;
const RIGHT: i64 = WIDTH - 8;
const TOP: i64 = 24;
const BOTTOM: i64 = HEIGHT - 28;
/// Ticks above zero on a value axis.
const TICKS: i64 = 4;

/// The top of a value axis for values up to `max` with [`TICKS`] equal steps, each step 1, 2 or 5
/// times a power of ten (so the labels are round): `(top, step)`. At least 1 per step, for counts.
pub fn nice_scale(max: i64) -> (i64, i64) {
    let wanted = (max.max(0) + TICKS - 1) / TICKS;
    let mut power = 1_i64;
    loop {
        for factor in [1, 2, 5] {
            let step = factor * power;
            if step >= wanted {
                return (step * TICKS, step);
            }
        }
        power = power.saturating_mul(10);
    }
}

/// `part` of `whole` scaled to `length`, rounded to the nearest unit.
fn scaled(part: i64, whole: i64, length: i64) -> i64 {
    if whole <= 0 {
        return 0;
    }
    (part.max(0) * length * 2 + whole) / (whole * 2)
}

impl BarChart {
    /// A column chart of `points`, an axis label every `label_every` bars (1 for all).
    pub fn new(
        id: &'static str,
        title: impl Into<String>,
        unit: &'static str,
        points: &[Point],
        label_every: usize,
    ) -> BarChart {
        let max = points.iter().map(|p| p.value).max().unwrap_or(0);
        let (top_value, step) = nice_scale(max);
        let plot_height = BOTTOM - TOP;
        let slot = (RIGHT - LEFT) / i64::try_from(points.len().max(1)).unwrap_or(1);
        let bar_width = (slot * 7 / 10).max(1);
        let mut bars = Vec::new();
        let mut x_labels = Vec::new();
        for (index, point) in points.iter().enumerate() {
            let slot_left = LEFT + i64::try_from(index).unwrap_or(0) * slot;
            let height = scaled(point.value, top_value, plot_height);
            bars.push(Bar {
                x: slot_left + (slot - bar_width) / 2,
                y: BOTTOM - height,
                width: bar_width,
                height,
                title: point.title.clone(),
            });
            if index % label_every.max(1) == 0 && !point.axis_label.is_empty() {
                x_labels.push(Tick {
                    x: slot_left + slot / 2,
                    y: BOTTOM + 18,
                    label: point.axis_label.clone(),
                });
            }
        }
        let y_ticks = (0..=TICKS)
            .map(|tick| Tick {
                x: LEFT - 6,
                y: BOTTOM - scaled(tick * step, top_value, plot_height),
                label: grouped(tick * step),
            })
            .collect();
        BarChart {
            id,
            title: title.into(),
            unit,
            width: WIDTH,
            height: HEIGHT,
            left: LEFT,
            right: RIGHT,
            top: TOP,
            bottom: BOTTOM,
            bars,
            y_ticks,
            x_labels,
            empty: max <= 0,
        }
    }
}

/// One kind of segment of a [`StackedChart`]: its label and colour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    pub label: String,
    pub fill: &'static str,
}

/// A stacked horizontal bar chart: one row per thing counted, its segments one per [`Category`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackedChart {
    pub id: &'static str,
    pub title: String,
    pub width: i64,
    pub height: i64,
    /// Where the bars start (the row labels are left of it).
    pub left: i64,
    pub categories: Vec<Category>,
    pub rows: Vec<StackedRow>,
    /// The legend's swatches, below the rows: one per category.
    pub legend: Vec<LegendEntry>,
}

/// One row: its label, the counts per category (for the table), its total and its segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackedRow {
    pub label: String,
    pub counts: Vec<i64>,
    pub total: i64,
    /// The baseline of the row's texts and the top of its bar.
    pub text_y: i64,
    pub bar_y: i64,
    /// Where its total is written, right of the bar.
    pub total_x: i64,
    pub segments: Vec<Segment>,
}

/// One segment of a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub x: i64,
    pub width: i64,
    pub fill: &'static str,
    pub title: String,
}

/// A legend swatch at (`x`, `y`) and its label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegendEntry {
    pub x: i64,
    pub y: i64,
    pub fill: &'static str,
    pub label: String,
}

const STACK_LEFT: i64 = 250;
const STACK_RIGHT: i64 = WIDTH - 64;
const ROW_HEIGHT: i64 = 30;
const BAR_HEIGHT: i64 = 18;
const LEGEND_COLUMNS: i64 = 4;

impl StackedChart {
    /// Rows of `(label, counts per category)`; every row is scaled against the largest total, and a
    /// zero count draws no segment.
    pub fn new(
        id: &'static str,
        title: impl Into<String>,
        categories: Vec<Category>,
        rows: Vec<(String, Vec<i64>)>,
    ) -> StackedChart {
        let largest = rows
            .iter()
            .map(|(_, counts)| counts.iter().sum::<i64>())
            .max()
            .unwrap_or(0);
        let length = STACK_RIGHT - STACK_LEFT;
        let rows: Vec<StackedRow> = rows
            .into_iter()
            .enumerate()
            .map(|(index, (label, counts))| {
                let top = 8 + i64::try_from(index).unwrap_or(0) * ROW_HEIGHT;
                let total: i64 = counts.iter().sum();
                let mut segments = Vec::new();
                let mut running = 0;
                for (category, count) in categories.iter().zip(&counts) {
                    // Each edge is scaled from the running sum, so rounding never adds up to a gap.
                    let start = STACK_LEFT + scaled(running, largest, length);
                    running += count;
                    let end = STACK_LEFT + scaled(running, largest, length);
                    if *count > 0 {
                        segments.push(Segment {
                            x: start,
                            width: (end - start).max(1),
                            fill: category.fill,
                            title: format!("{label}: {} {}件", category.label, grouped(*count)),
                        });
                    }
                }
                StackedRow {
                    total_x: STACK_LEFT + scaled(total, largest, length) + 6,
                    text_y: top + 14,
                    bar_y: top + (ROW_HEIGHT - BAR_HEIGHT) / 2 - 2,
                    label,
                    counts,
                    total,
                    segments,
                }
            })
            .collect();
        let legend_top = 8 + i64::try_from(rows.len()).unwrap_or(0) * ROW_HEIGHT + 8;
        let legend: Vec<LegendEntry> = categories
            .iter()
            .enumerate()
            .map(|(index, category)| {
                let index = i64::try_from(index).unwrap_or(0);
                LegendEntry {
                    x: 8 + (index % LEGEND_COLUMNS) * (WIDTH / LEGEND_COLUMNS),
                    y: legend_top + (index / LEGEND_COLUMNS) * 22,
                    fill: category.fill,
                    label: category.label.clone(),
                }
            })
            .collect();
        let legend_rows =
            (i64::try_from(categories.len()).unwrap_or(0) + LEGEND_COLUMNS - 1) / LEGEND_COLUMNS;
        StackedChart {
            id,
            title: title.into(),
            width: WIDTH,
            height: legend_top + legend_rows * 22 + 4,
            left: STACK_LEFT,
            categories,
            rows,
            legend,
        }
    }

    /// The bar's height, for the template.
    pub fn bar_height(&self) -> i64 {
        BAR_HEIGHT
    }
}

/// The bucket a percentile falls in, as a text: `p` percent of `counts` (buckets whose inclusive upper
/// bounds are `bounds` in ms, the last one open) were answered within it. `None` without counts.
pub fn percentile(counts: &[i64], bounds: &[i64], p: i64) -> Option<String> {
    let total: i64 = counts.iter().sum();
    if total <= 0 {
        return None;
    }
    // The rank of the p-th percentile, rounded up: 1 of 1 for any p, 50 of 100 for p50.
    let rank = (total * p + 99) / 100;
    let mut seen = 0;
    for (index, count) in counts.iter().enumerate() {
        seen += count;
        if seen >= rank.max(1) {
            return Some(match bounds.get(index) {
                Some(bound) => format!("{} 以下", milliseconds(*bound)),
                None => format!("{} 超", milliseconds(*bounds.last()?)),
            });
        }
    }
    None
}

/// A latency in ms as the console writes it: `250 ms`, `2.5 秒`.
pub fn milliseconds(ms: i64) -> String {
    if ms >= 1000 {
        let tenths = (ms + 50) / 100;
        if tenths % 10 == 0 {
            format!("{} 秒", tenths / 10)
        } else {
            format!("{}.{} 秒", tenths / 10, tenths % 10)
        }
    } else {
        format!("{ms} ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(values: &[i64]) -> Vec<Point> {
        values
            .iter()
            .enumerate()
            .map(|(index, value)| Point {
                axis_label: format!("d{index}"),
                title: format!("d{index}: {value}"),
                value: *value,
            })
            .collect()
    }

    #[test]
    fn scales_are_round_and_hold_the_largest_value() {
        for (max, expect) in [
            (0, (4, 1)),
            (1, (4, 1)),
            (4, (4, 1)),
            (5, (8, 2)),
            (7, (8, 2)),
            (9, (20, 5)),
            (20, (20, 5)),
            (21, (40, 10)),
            (3990, (4000, 1000)),
            (11_970, (20_000, 5000)),
        ] {
            assert_eq!(nice_scale(max), expect, "max {max}");
        }
    }

    #[test]
    fn an_empty_chart_has_axes_and_flat_bars() {
        let chart = BarChart::new("c", "t", "件", &points(&[0, 0, 0]), 1);
        assert!(chart.empty);
        assert_eq!(chart.bars.len(), 3);
        assert!(chart
            .bars
            .iter()
            .all(|bar| bar.height == 0 && bar.y == BOTTOM));
        let labels: Vec<&str> = chart.y_ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["0", "1", "2", "3", "4"]);
        // No points at all still makes a chart (no division by zero).
        let none = BarChart::new("c", "t", "件", &[], 1);
        assert!(none.empty && none.bars.is_empty() && none.x_labels.is_empty());
    }

    #[test]
    fn one_value_fills_its_slot_and_reaches_its_height() {
        let chart = BarChart::new("c", "t", "件", &points(&[3]), 1);
        assert!(!chart.empty);
        let bar = &chart.bars[0];
        // 3 on a 0–4 axis is three quarters of the plot's height.
        assert_eq!(bar.height, (BOTTOM - TOP) * 3 / 4);
        assert_eq!(bar.y + bar.height, BOTTOM);
        assert!(bar.x >= LEFT && bar.x + bar.width <= RIGHT);
        assert_eq!(chart.x_labels.len(), 1);
        assert_eq!(bar.title, "d0: 3");
    }

    #[test]
    fn the_largest_bar_stays_inside_the_plot_and_ticks_climb() {
        let chart = BarChart::new("c", "t", "円", &points(&[3990, 11_970, 0, 7980]), 1);
        let tallest = chart.bars.iter().map(|b| b.height).max().unwrap();
        assert_eq!(tallest, scaled(11_970, 20_000, BOTTOM - TOP));
        assert!(chart.bars.iter().all(|b| b.y >= TOP));
        let top_tick = chart.y_ticks.last().unwrap();
        assert_eq!((top_tick.y, top_tick.label.as_str()), (TOP, "20,000"));
        assert!(chart.y_ticks.windows(2).all(|w| w[0].y > w[1].y));
        // Bars do not overlap, left to right.
        assert!(chart.bars.windows(2).all(|w| w[0].x + w[0].width <= w[1].x));
    }

    #[test]
    fn thirty_days_label_every_seventh() {
        let values = vec![1; 30];
        let chart = BarChart::new("c", "t", "件", &points(&values), 7);
        let labels: Vec<&str> = chart.x_labels.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["d0", "d7", "d14", "d21", "d28"]);
    }

    #[test]
    fn stacked_rows_share_one_scale_and_leave_out_zero_segments() {
        let categories = vec![
            Category {
                label: "受付".into(),
                fill: "green",
            },
            Category {
                label: "拒否".into(),
                fill: "red",
            },
        ];
        let chart = StackedChart::new(
            "s",
            "t",
            categories,
            vec![("A".into(), vec![3, 1]), ("B".into(), vec![2, 0])],
        );
        let a = &chart.rows[0];
        assert_eq!(a.total, 4);
        assert_eq!(a.segments.len(), 2);
        // The largest row spans the whole length; its segments touch.
        assert_eq!(a.segments[0].x, STACK_LEFT);
        assert_eq!(a.segments[0].x + a.segments[0].width, a.segments[1].x);
        assert_eq!(a.segments[1].x + a.segments[1].width, STACK_RIGHT);
        assert_eq!(a.segments[1].title, "A: 拒否 1件");
        let b = &chart.rows[1];
        assert_eq!(b.segments.len(), 1);
        assert_eq!(b.segments[0].width, (STACK_RIGHT - STACK_LEFT) / 2);
        assert!(b.bar_y > a.bar_y);
        assert_eq!(chart.legend.len(), 2);
        assert!(chart.height > chart.legend[0].y);
        // Nothing counted: no rows, still a legend.
        let empty = StackedChart::new("s", "t", chart.categories.clone(), Vec::new());
        assert!(empty.rows.is_empty() && empty.legend.len() == 2);
    }

    #[test]
    fn percentiles_name_their_bucket() {
        let bounds = [10, 100, 1000];
        assert_eq!(percentile(&[0, 0, 0, 0], &bounds, 50), None);
        assert_eq!(
            percentile(&[1, 0, 0, 0], &bounds, 99).as_deref(),
            Some("10 ms 以下")
        );
        let counts = [50, 40, 9, 1];
        assert_eq!(
            percentile(&counts, &bounds, 50).as_deref(),
            Some("10 ms 以下")
        );
        assert_eq!(
            percentile(&counts, &bounds, 90).as_deref(),
            Some("100 ms 以下")
        );
        assert_eq!(
            percentile(&counts, &bounds, 99).as_deref(),
            Some("1 秒 以下")
        );
        assert_eq!(
            percentile(&counts, &bounds, 100).as_deref(),
            Some("1 秒 超")
        );
        assert_eq!(milliseconds(2500), "2.5 秒");
        assert_eq!(milliseconds(250), "250 ms");
    }
}
