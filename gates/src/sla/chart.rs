//! The burn-down chart: backlog and age of the oldest pending record over time, against the
//! risk age and the reap boundary, with where the age first crosses each marked; a line chart of
//! [`crate::view::chart`], inline in `summary.html` and a file beside the gate's outputs.

use super::estimate::Estimate;
use crate::view::chart::{Curve, LineChart, Threshold, line_chart};

/// At most this many points per curve (each the maximum of its bucket of minutes).
const MAX_POINTS: usize = 720;

/// Per-bucket maxima of `values` (so peaks survive downsampling), each at its bucket's start
/// in hours.
fn buckets(values: &[f64]) -> Vec<(f64, f64)> {
    let size = values.len().div_ceil(MAX_POINTS).max(1);
    values
        .chunks(size)
        .enumerate()
        .map(|(i, chunk)| {
            (
                (i * size) as f64 / 60.0,
                chunk.iter().copied().fold(0.0, f64::max),
            )
        })
        .collect()
}

/// The chart of `estimate`'s p99 series (which must have been kept); `None` without one.
pub fn burn_down_svg(title: &str, estimate: &Estimate) -> anyhow::Result<Option<String>> {
    let Some(series) = estimate.series.as_ref() else {
        return Ok(None);
    };
    let chart = LineChart {
        title: format!(
            "Burn-down of {title}: verdict {} at p99",
            estimate.verdict.as_str()
        ),
        x_label: format!("hours from {}", estimate.now_utc),
        left_label: "backlog (records)".into(),
        right_label: Some("oldest pending age (hours)".into()),
        curves: vec![
            Curve {
                name: "backlog (records)".into(),
                color: "#1565c0",
                points: buckets(&series.backlog_records),
                right_axis: false,
            },
            Curve {
                name: "oldest pending age (h)".into(),
                color: "#2e7d32",
                points: buckets(&series.oldest_age_hours),
                right_axis: true,
            },
        ],
        thresholds: vec![
            Threshold {
                name: "risk age (h)".into(),
                color: "#ef6c00",
                value: estimate.risk_age_hours,
                watched_curve: 1,
            },
            Threshold {
                name: "reap boundary (h)".into(),
                color: "#c62828",
                value: f64::from(estimate.horizon_hours),
                watched_curve: 1,
            },
        ],
    };
    line_chart(&chart, "h").map(Some)
}
