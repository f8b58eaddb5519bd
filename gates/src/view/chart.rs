//! Charts as self-contained SVG: a line chart over one or two y axes with threshold lines and
//! the points where a curve crosses them marked, and a horizontal bar chart. Axes get round ticks
//! (1, 2, 2.5 or 5 × 10ⁿ), gridlines and a label; every chart has a legend. The geometry is
//! computed here; the markup is the `line.svg` and `bars.svg` templates.

use serde::Serialize;

use super::figure::number;

const WIDTH: f64 = 760.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 70.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 54.0;
/// Approximate width of a character of the 11 px labels, to lay out the legend.
const CHAR_W: f64 = 6.2;

/// A coordinate rounded to a tenth of a pixel.
fn px(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Round ticks covering `lo..=hi`, about `count` of them: the covered range and the ticks.
pub fn nice_ticks(lo: f64, hi: f64, count: usize) -> (f64, f64, Vec<f64>) {
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo, lo + lo.abs().max(1.0))
    };
    let raw = (hi - lo) / count.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= raw)
        .unwrap_or(10.0 * magnitude);
    let first = (lo / step).floor() * step;
    let last = (hi / step).ceil() * step;
    let n = ((last - first) / step).round() as usize;
    let ticks = (0..=n).map(|i| first + i as f64 * step).collect();
    (first, last, ticks)
}

/// A tick's label: as many decimals as the step needs, thousands separated.
fn tick_label(value: f64, ticks: &[f64]) -> String {
    let step = ticks.windows(2).map(|w| w[1] - w[0]).next().unwrap_or(1.0);
    let decimals = (0..6)
        .find(|d| {
            let scaled = step * 10f64.powi(*d);
            (scaled - scaled.round()).abs() < 1e-9
        })
        .unwrap_or(6) as usize;
    if decimals == 0 {
        number(value.round())
    } else {
        format!("{value:.decimals$}")
    }
}

/// A curve: its points in data units, on the left axis or the right one.
#[derive(Debug, Clone)]
pub struct Curve {
    pub name: String,
    pub color: &'static str,
    pub points: Vec<(f64, f64)>,
    pub right_axis: bool,
}

/// A horizontal threshold on the right axis (or the left, when there is no right one), and the
/// curve whose first crossing of it is marked.
#[derive(Debug, Clone)]
pub struct Threshold {
    pub name: String,
    pub color: &'static str,
    pub value: f64,
    /// Index into the chart's curves.
    pub watched_curve: usize,
}

#[derive(Debug, Clone)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub left_label: String,
    pub right_label: Option<String>,
    pub curves: Vec<Curve>,
    pub thresholds: Vec<Threshold>,
}

#[derive(Serialize)]
struct Tick {
    pos: f64,
    label: String,
}

#[derive(Serialize)]
struct LegendItem {
    x: f64,
    y: f64,
    name: String,
    color: &'static str,
    dashed: bool,
}

#[derive(Serialize)]
struct Path {
    name: String,
    color: &'static str,
    points: String,
}

#[derive(Serialize)]
struct Rule {
    name: String,
    color: &'static str,
    y: f64,
    label: String,
}

#[derive(Serialize)]
struct Marker {
    x: f64,
    y: f64,
    color: &'static str,
    label: String,
    anchor: &'static str,
}

#[derive(Serialize)]
struct Plot {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
    right: f64,
    bottom: f64,
}

/// The legend's items in rows from `top` (wrapping at the chart's width), and its bottom.
fn legend(items: Vec<(String, &'static str, bool)>, top: f64) -> (Vec<LegendItem>, f64) {
    let (mut x, mut y) = (LEFT, top);
    let laid = items
        .into_iter()
        .map(|(name, color, dashed)| {
            let width = 30.0 + name.chars().count() as f64 * CHAR_W + 16.0;
            if x > LEFT && x + width > WIDTH - 8.0 {
                x = LEFT;
                y += 16.0;
            }
            let item = LegendItem {
                x: px(x),
                y: px(y),
                name,
                color,
                dashed,
            };
            x += width;
            item
        })
        .collect();
    (laid, y + 8.0)
}

/// Where `points` first reach `value` (linear between points), as an x in data units.
pub fn first_crossing(points: &[(f64, f64)], value: f64) -> Option<f64> {
    if points.first().is_some_and(|p| p.1 >= value) {
        return points.first().map(|p| p.0);
    }
    points.windows(2).find_map(|w| {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        (y0 < value && y1 >= value).then(|| x0 + (value - y0) / (y1 - y0) * (x1 - x0))
    })
}

/// Renders `chart`. `x_unit` is appended to the crossing labels (`crosses at 12.5 h`).
pub fn line_chart(chart: &LineChart, x_unit: &str) -> anyhow::Result<String> {
    let plot_h = 250.0;
    let plot = Plot {
        x: LEFT,
        y: TOP,
        w: WIDTH - LEFT - RIGHT,
        h: plot_h,
        right: WIDTH - RIGHT,
        bottom: TOP + plot_h,
    };
    let all = |right: bool| {
        chart
            .curves
            .iter()
            .filter(move |c| c.right_axis == right)
            .flat_map(|c| c.points.iter().copied())
    };
    let x_max = chart
        .curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.0))
        .fold(0.0, f64::max);
    let (x0, x1, xt) = nice_ticks(0.0, x_max, 8);
    let left_max = all(false).map(|p| p.1).fold(0.0, f64::max);
    let (l0, l1, lt) = nice_ticks(0.0, left_max, 5);
    let has_right = chart.right_label.is_some();
    let right_max = all(true)
        .map(|p| p.1)
        .chain(chart.thresholds.iter().map(|t| t.value))
        .fold(0.0, f64::max);
    let (r0, r1, rt) = nice_ticks(0.0, right_max * 1.05, 5);
    let sx = |x: f64| plot.x + (x - x0) / (x1 - x0) * plot.w;
    let sl = |y: f64| plot.bottom - (y - l0) / (l1 - l0) * plot.h;
    let sr = |y: f64| plot.bottom - (y - r0) / (r1 - r0) * plot.h;
    let sy = |right: bool, y: f64| if right && has_right { sr(y) } else { sl(y) };
    let paths: Vec<Path> = chart
        .curves
        .iter()
        .map(|c| Path {
            name: c.name.clone(),
            color: c.color,
            points: c
                .points
                .iter()
                .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(c.right_axis, *y)))
                .collect::<Vec<_>>()
                .join(" "),
        })
        .collect();
    let mut rules = Vec::new();
    let mut markers = Vec::new();
    let mut items: Vec<(String, &'static str, bool)> = chart
        .curves
        .iter()
        .map(|c| (c.name.clone(), c.color, false))
        .collect();
    for t in &chart.thresholds {
        let y = px(sy(true, t.value));
        let crossing = chart
            .curves
            .get(t.watched_curve)
            .and_then(|c| first_crossing(&c.points, t.value));
        let label = match crossing {
            Some(x) => format!(
                "{} {}: crossed at {} {x_unit}",
                t.name,
                number(t.value),
                number(x)
            ),
            None => format!("{} {}: not crossed", t.name, number(t.value)),
        };
        if let Some(x) = crossing {
            let at = px(sx(x));
            markers.push(Marker {
                x: at,
                y,
                color: t.color,
                label: format!("{} {x_unit}", number(x)),
                anchor: if at > plot.right - 60.0 {
                    "end"
                } else {
                    "start"
                },
            });
        }
        rules.push(Rule {
            name: t.name.clone(),
            color: t.color,
            y,
            label: label.clone(),
        });
        items.push((label, t.color, true));
    }
    let ticks = |values: &[f64], pos: &dyn Fn(f64) -> f64| -> Vec<Tick> {
        values
            .iter()
            .map(|v| Tick {
                pos: px(pos(*v)),
                label: tick_label(*v, values),
            })
            .collect()
    };
    let (legend_items, legend_bottom) = legend(items, plot.bottom + BOTTOM);
    let height = legend_bottom + 6.0;
    super::render(
        "line.svg",
        minijinja::context! {
            width => WIDTH, height => height, title => &chart.title, plot => plot,
            x_ticks => ticks(&xt, &sx), left_ticks => ticks(&lt, &sl),
            right_ticks => if has_right { ticks(&rt, &sr) } else { Vec::new() },
            x_label => &chart.x_label, left_label => &chart.left_label,
            right_label => chart.right_label.as_deref().unwrap_or_default(),
            paths => paths, rules => rules, markers => markers, legend => legend_items,
        },
    )
}

/// One bar: its label, length in the axis's unit, colour and the text printed after it.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub color: &'static str,
    pub text: String,
}

/// A vertical reference line across the bars (a budget).
#[derive(Debug, Clone)]
pub struct Reference {
    pub name: String,
    pub color: &'static str,
    pub value: f64,
}

#[derive(Debug, Clone)]
pub struct BarChart {
    pub title: String,
    pub x_label: String,
    pub bars: Vec<Bar>,
    /// What the colours mean.
    pub legend: Vec<(String, &'static str)>,
    pub references: Vec<Reference>,
}

#[derive(Serialize)]
struct BarRow {
    label: String,
    y: f64,
    w: f64,
    color: &'static str,
    text: String,
    text_x: f64,
}

#[derive(Serialize)]
struct VerticalRule {
    x: f64,
    color: &'static str,
    label: String,
}

/// Renders `chart`.
pub fn bar_chart(chart: &BarChart) -> anyhow::Result<String> {
    let row = 24.0;
    let label_w = 8.0
        + chart
            .bars
            .iter()
            .map(|b| b.label.chars().count())
            .max()
            .unwrap_or(4) as f64
            * CHAR_W;
    let left = px(label_w.max(LEFT));
    let plot = Plot {
        x: left,
        y: TOP,
        w: px(WIDTH - left - RIGHT - 20.0),
        h: row * chart.bars.len() as f64,
        right: WIDTH - RIGHT - 20.0,
        bottom: TOP + row * chart.bars.len() as f64,
    };
    let max = chart
        .bars
        .iter()
        .map(|b| b.value)
        .chain(chart.references.iter().map(|r| r.value))
        .fold(0.0, f64::max);
    let (x0, x1, xt) = nice_ticks(0.0, max, 6);
    let sx = |x: f64| plot.x + (x - x0) / (x1 - x0) * plot.w;
    let rows: Vec<BarRow> = chart
        .bars
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let w = px((sx(b.value) - plot.x).max(1.0));
            BarRow {
                label: b.label.clone(),
                y: px(plot.y + i as f64 * row + 4.0),
                w,
                color: b.color,
                text: b.text.clone(),
                text_x: px(plot.x + w + 5.0),
            }
        })
        .collect();
    let references: Vec<VerticalRule> = chart
        .references
        .iter()
        .map(|r| VerticalRule {
            x: px(sx(r.value)),
            color: r.color,
            label: format!("{} {}", r.name, number(r.value)),
        })
        .collect();
    let mut items: Vec<(String, &'static str, bool)> = chart
        .legend
        .iter()
        .map(|(name, color)| (name.clone(), *color, false))
        .collect();
    items.extend(
        references
            .iter()
            .zip(&chart.references)
            .map(|(v, r)| (v.label.clone(), r.color, true)),
    );
    let x_ticks: Vec<Tick> = xt
        .iter()
        .map(|v| Tick {
            pos: px(sx(*v)),
            label: tick_label(*v, &xt),
        })
        .collect();
    let (legend_items, legend_bottom) = legend(items, plot.bottom + BOTTOM);
    let height = legend_bottom + 6.0;
    super::render(
        "bars.svg",
        minijinja::context! {
            width => WIDTH, height => height, title => &chart.title, plot => plot,
            x_ticks => x_ticks, x_label => &chart.x_label, rows => rows,
            references => references, legend => legend_items,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        let (lo, hi, ticks) = nice_ticks(0.0, 44.139, 6);
        assert_eq!((lo, hi), (0.0, 50.0));
        assert_eq!(ticks, vec![0.0, 10.0, 20.0, 30.0, 40.0, 50.0]);
        let (_, hi, ticks) = nice_ticks(0.0, 24336.0, 5);
        assert_eq!(hi, 25000.0);
        assert_eq!(ticks[1], 5000.0);
        let (_, hi, ticks) = nice_ticks(0.0, 2.3, 5);
        assert_eq!(hi, 2.5);
        assert_eq!(tick_label(ticks[1], &ticks), "0.5");
        let (_, _, ticks) = nice_ticks(0.0, 0.0, 5);
        assert!(ticks.len() >= 2, "an empty range still gets an axis");
        let (_, _, ticks) = nice_ticks(0.0, 9.0, 4);
        assert_eq!(ticks, vec![0.0, 2.5, 5.0, 7.5, 10.0]);
        assert_eq!(tick_label(2.5, &ticks), "2.5");
        assert_eq!(tick_label(25000.0, &[0.0, 5000.0]), "25,000");
    }

    #[test]
    fn crossings_are_interpolated() {
        let points = [(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)];
        assert_eq!(first_crossing(&points, 4.0), Some(1.5));
        assert_eq!(first_crossing(&points, 0.5), Some(0.0));
        assert_eq!(first_crossing(&points, 6.0), None);
    }

    #[test]
    fn a_line_chart_marks_where_its_threshold_is_crossed() {
        let chart = LineChart {
            title: "a <b> & c".into(),
            x_label: "hours".into(),
            left_label: "backlog (records)".into(),
            right_label: Some("oldest age (h)".into()),
            curves: vec![
                Curve {
                    name: "backlog".into(),
                    color: "#1565c0",
                    points: vec![(0.0, 10.0), (4.0, 0.0)],
                    right_axis: false,
                },
                Curve {
                    name: "oldest age".into(),
                    color: "#2e7d32",
                    points: vec![(0.0, 1.0), (4.0, 9.0)],
                    right_axis: true,
                },
            ],
            thresholds: vec![
                Threshold {
                    name: "risk".into(),
                    color: "#ef6c00",
                    value: 5.0,
                    watched_curve: 1,
                },
                Threshold {
                    name: "reap".into(),
                    color: "#c62828",
                    value: 20.0,
                    watched_curve: 1,
                },
            ],
        };
        let svg = line_chart(&chart, "h").expect("render");
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("a &lt;b&gt; &amp; c"), "the title is escaped");
        assert!(svg.contains("risk 5: crossed at 2 h"), "{svg}");
        assert!(!svg.contains("99999"), "coordinates are rounded: {svg}");
        assert!(svg.contains("reap 20: not crossed"), "{svg}");
        assert!(svg.contains("class=\"marker\""), "the crossing is marked");
        assert!(svg.contains("backlog (records)") && svg.contains("oldest age (h)"));
        assert!(roxmltree::Document::parse(&svg).is_ok(), "well-formed XML");
    }

    #[test]
    fn a_bar_chart_has_axis_legend_and_reference() {
        let chart = BarChart {
            title: "time per gate".into(),
            x_label: "seconds".into(),
            bars: vec![
                Bar {
                    label: "budget".into(),
                    value: 44.1,
                    color: "#2e7d32",
                    text: "44.1 s".into(),
                },
                Bar {
                    label: "contract".into(),
                    value: 3.2,
                    color: "#c62828",
                    text: "3.2 s".into(),
                },
            ],
            legend: vec![("pass".into(), "#2e7d32"), ("fail".into(), "#c62828")],
            references: vec![Reference {
                name: "budget".into(),
                color: "#6a1b9a",
                value: 60.0,
            }],
        };
        let svg = bar_chart(&chart).expect("render");
        assert!(svg.contains(">seconds<") && svg.contains(">60<"), "{svg}");
        assert!(svg.contains("class=\"legend\""));
        assert!(roxmltree::Document::parse(&svg).is_ok(), "well-formed XML");
    }
}
