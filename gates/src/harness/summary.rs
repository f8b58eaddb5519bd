//! Summaries for people: `summary.md` and a self-contained `summary.html` (a table of gates, their
//! figures, failures with evidence, an inline SVG chart of where the run spent its time, and the
//! charts gates drew, such as the SLA burn-down).

use std::fmt::Write as _;

use serde_json::Value;

use super::gate::Verdict;
use super::runner::RunResults;

/// `14 gates: 13 pass, 1 fail, 0 error, 0 skipped`.
fn counts(results: &RunResults) -> String {
    format!(
        "{} gates: {} pass, {} fail, {} error, {} skipped",
        results.gates.len(),
        results.count(Verdict::Pass),
        results.count(Verdict::Fail),
        results.count(Verdict::Error),
        results.count(Verdict::Skipped)
    )
}

/// Gates that ran and did not pass.
fn failing(results: &RunResults) -> Vec<&super::runner::GateResult> {
    results
        .gates
        .iter()
        .filter(|g| matches!(g.verdict, Verdict::Fail | Verdict::Error))
        .collect()
}

fn figures(measurements: &std::collections::BTreeMap<String, Value>) -> String {
    measurements
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The Markdown summary.
pub fn markdown(results: &RunResults, dev_signed: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Gate run {}\n", results.run_id);
    let _ = writeln!(
        out,
        "Verdict **{}**; {}; started {}, finished {}; corpus seed {} ({} frames); repeat {}{}.\n",
        results.verdict().as_str(),
        counts(results),
        results.started_at_utc,
        results.finished_at_utc,
        results.options_seed,
        results.options_frames,
        results.repeat,
        if dev_signed {
            "; **dev-signed** (throwaway key)"
        } else {
            ""
        }
    );
    out.push_str("| gate | verdict | checks | ms | figures |\n|---|---|---|---|---|\n");
    for g in &results.gates {
        let passed = g.checks.iter().filter(|c| c.passed).count();
        let _ = writeln!(
            out,
            "| {} | {} | {}/{} | {} | {} |",
            g.name,
            g.verdict.as_str(),
            passed,
            g.checks.len(),
            g.duration_ms,
            figures(&g.measurements).replace('|', "\\|")
        );
    }
    let failing = failing(results);
    if !failing.is_empty() {
        out.push_str("\n## Failures\n");
        for g in failing {
            let _ = writeln!(out, "\n### {} ({})\n", g.name, g.verdict.as_str());
            for e in &g.evidence {
                let head = format!(
                    "- `{}`{}:",
                    e.check,
                    e.record
                        .as_deref()
                        .map(|r| format!(" on `{r}`"))
                        .unwrap_or_default()
                );
                let described = e.describe();
                if described.contains('\n') {
                    // Several lines stay inside their list item, as an indented block.
                    let _ = writeln!(out, "{head}\n\n  ~~~~text");
                    for line in described.lines() {
                        let _ = writeln!(out, "  {line}");
                    }
                    let _ = writeln!(out, "  ~~~~");
                } else {
                    let _ = writeln!(out, "{head} {described}");
                }
            }
        }
    }
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A horizontal bar chart of gate durations, as inline SVG.
fn duration_chart(results: &RunResults) -> String {
    let max = results
        .gates
        .iter()
        .map(|g| g.duration_ms)
        .max()
        .unwrap_or(1)
        .max(1);
    let (row, label_w, bar_w) = (22, 140, 420);
    let height = row * results.gates.len() + 10;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"gate durations\" width=\"{}\" height=\"{height}\">",
        label_w + bar_w + 90
    );
    for (i, g) in results.gates.iter().enumerate() {
        let y = i * row + 5;
        let width = (g.duration_ms as f64 / max as f64 * bar_w as f64).max(1.0);
        let color = match g.verdict {
            Verdict::Pass => "#2e7d32",
            Verdict::Skipped => "#757575",
            Verdict::Fail => "#c62828",
            Verdict::Error => "#6a1b9a",
        };
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text><rect class=\"bar\" x=\"{label_w}\" y=\"{y}\" width=\"{width:.1}\" height=\"16\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"{}\" font-size=\"12\">{} ms</text>",
            y + 13,
            escape(&g.name),
            label_w as f64 + width + 6.0,
            y + 13,
            g.duration_ms
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The self-contained HTML summary.
pub fn html(results: &RunResults, dev_signed: bool) -> String {
    let mut out = String::from("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    let _ = write!(out, "<title>Gate run {}</title>", escape(&results.run_id));
    out.push_str(
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}\
         td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}\
         .pass{color:#2e7d32}.fail{color:#c62828}.error{color:#6a1b9a}.skipped,.partial{color:#757575}code{font-size:90%}</style></head><body>",
    );
    let verdict = results.verdict().as_str();
    let _ = write!(
        out,
        "<h1>Gate run {}</h1><p>Verdict <strong class=\"{verdict}\" id=\"verdict\">{verdict}</strong>; {}; {} to {}; seed {} ({} frames); repeat {}{}.</p>",
        escape(&results.run_id),
        counts(results),
        escape(&results.started_at_utc),
        escape(&results.finished_at_utc),
        results.options_seed,
        results.options_frames,
        results.repeat,
        if dev_signed {
            "; <strong>dev-signed</strong> (throwaway key)"
        } else {
            ""
        }
    );
    out.push_str("<table id=\"gates\"><thead><tr><th>gate</th><th>proves</th><th>verdict</th><th>checks</th><th>ms</th><th>figures</th></tr></thead><tbody>");
    for g in &results.gates {
        let passed = g.checks.iter().filter(|c| c.passed).count();
        let _ = write!(
            out,
            "<tr data-gate=\"{}\"><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{passed}/{}</td><td>{}</td><td><code>{}</code></td></tr>",
            escape(&g.name),
            escape(&g.name),
            escape(&g.proves),
            g.verdict.as_str(),
            g.verdict.as_str(),
            g.checks.len(),
            g.duration_ms,
            escape(&figures(&g.measurements))
        );
    }
    out.push_str("</tbody></table><h2>Time per gate</h2>");
    out.push_str(&duration_chart(results));
    for g in &results.gates {
        for chart in &g.charts {
            let _ = write!(
                out,
                "<h2 data-chart=\"{}\">{}: {}</h2>{}",
                escape(&g.name),
                escape(&g.name),
                escape(&chart.title),
                chart.svg
            );
        }
    }
    let failing = failing(results);
    if !failing.is_empty() {
        out.push_str("<h2>Failures</h2>");
        for g in failing {
            let _ = write!(
                out,
                "<h3 class=\"{}\">{}</h3><ul>",
                g.verdict.as_str(),
                escape(&g.name)
            );
            for e in &g.evidence {
                let _ = write!(
                    out,
                    "<li><code>{}</code>{}: {}</li>",
                    escape(&e.check),
                    e.record
                        .as_deref()
                        .map(|r| format!(" on <code>{}</code>", escape(r)))
                        .unwrap_or_default(),
                    escape(&e.describe())
                );
            }
            out.push_str("</ul>");
        }
    }
    out.push_str("</body></html>\n");
    out
}
