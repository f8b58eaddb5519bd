//! The burn-down chart: backlog and age of the oldest pending record over time, against the
//! risk age and the reap boundary, as a self-contained SVG (inline in `summary.html`, and as a
//! file beside the gate's outputs).

use std::fmt::Write as _;

use super::estimate::Estimate;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 60.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 40.0;
/// At most this many points per curve (each the maximum of its minutes).
const MAX_POINTS: usize = 720;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Per-bucket maxima of `values` (so peaks survive downsampling), with each bucket's start index.
fn buckets(values: &[f64]) -> Vec<(usize, f64)> {
    let size = values.len().div_ceil(MAX_POINTS).max(1);
    values
        .chunks(size)
        .enumerate()
        .map(|(i, chunk)| (i * size, chunk.iter().copied().fold(0.0, f64::max)))
        .collect()
}

fn polyline(
    points: &[(usize, f64)],
    x_of: &dyn Fn(usize) -> f64,
    y_of: &dyn Fn(f64) -> f64,
) -> String {
    points
        .iter()
        .map(|(i, v)| format!("{:.1},{:.1}", x_of(*i), y_of(*v)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The chart of `estimate`'s p99 series (which must have been kept); `None` without one.
pub fn burn_down_svg(title: &str, estimate: &Estimate) -> Option<String> {
    let series = estimate.series.as_ref()?;
    let minutes = series.backlog_records.len().max(1);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let max_backlog = series.backlog_records.iter().copied().fold(1.0, f64::max);
    let horizon = f64::from(estimate.horizon_hours);
    let max_age = series
        .oldest_age_hours
        .iter()
        .copied()
        .fold(horizon, f64::max)
        * 1.05;
    let x_of = |i: usize| LEFT + i as f64 / minutes as f64 * plot_w;
    let backlog_y = |v: f64| TOP + plot_h - v / max_backlog * plot_h;
    let age_y = |v: f64| TOP + plot_h - v / max_age * plot_h;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"burn-down: {}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"sans-serif\" font-size=\"11\">",
        escape(title)
    );
    let _ = write!(
        svg,
        "<text x=\"{LEFT}\" y=\"16\" font-size=\"13\">{} — verdict {} at p99</text>",
        escape(title),
        estimate.verdict.as_str()
    );
    let _ = write!(
        svg,
        "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{plot_w}\" height=\"{plot_h}\" fill=\"none\" stroke=\"#999\"/>"
    );
    for (label, hours, color) in [
        ("risk", estimate.risk_age_hours, "#ef6c00"),
        ("reap", horizon, "#c62828"),
    ] {
        let y = age_y(hours);
        let _ = write!(
            svg,
            "<line class=\"{label}\" x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{color}\" stroke-dasharray=\"6 4\"/><text x=\"{:.1}\" y=\"{:.1}\" fill=\"{color}\">{label} {hours:.1} h</text>",
            LEFT + plot_w,
            LEFT + 4.0,
            y - 3.0
        );
    }
    let _ = write!(
        svg,
        "<polyline class=\"backlog\" fill=\"none\" stroke=\"#1565c0\" stroke-width=\"1.5\" points=\"{}\"/>",
        polyline(&buckets(&series.backlog_records), &x_of, &backlog_y)
    );
    let _ = write!(
        svg,
        "<polyline class=\"oldest-age\" fill=\"none\" stroke=\"#2e7d32\" stroke-width=\"1.5\" points=\"{}\"/>",
        polyline(&buckets(&series.oldest_age_hours), &x_of, &age_y)
    );
    let span_hours = minutes as f64 / 60.0;
    let step = if span_hours > 96.0 {
        24.0
    } else if span_hours > 24.0 {
        12.0
    } else {
        2.0
    };
    let mut tick = 0.0;
    while tick <= span_hours {
        let x = x_of((tick * 60.0) as usize);
        let _ = write!(
            svg,
            "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{tick:.0}</text>",
            TOP + plot_h + 14.0
        );
        tick += step;
    }
    let _ = write!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">hours from {}</text>",
        LEFT + plot_w / 2.0,
        HEIGHT - 6.0,
        escape(&estimate.now_utc)
    );
    let _ = write!(
        svg,
        "<text x=\"4\" y=\"{:.1}\" fill=\"#1565c0\">backlog</text><text x=\"4\" y=\"{:.1}\" fill=\"#1565c0\">{max_backlog:.0}</text><text x=\"4\" y=\"{:.1}\" fill=\"#1565c0\">0</text>",
        TOP - 4.0,
        TOP + 10.0,
        TOP + plot_h
    );
    let _ = write!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#2e7d32\">oldest age (h)</text><text x=\"{:.1}\" y=\"{:.1}\" fill=\"#2e7d32\">{max_age:.0}</text>",
        WIDTH - RIGHT - 70.0,
        TOP - 4.0,
        WIDTH - RIGHT + 4.0,
        TOP + 10.0
    );
    svg.push_str("</svg>");
    Some(svg)
}
