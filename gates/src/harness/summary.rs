//! Summaries for people deciding a release: `summary.md` and a self-contained `summary.html`
//! (the `summary.html` template of [`crate::view`]). Both lead with the verdict and its counts,
//! then what was tested (commit, contract identity, signing key, corpus and case files), then the
//! failures with their evidence, then every gate with its figures in units; the HTML adds the
//! charts: time per gate and the ones gates drew (golden latency, SLA burn-down).

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use super::gate::Verdict;
use super::runner::{GateResult, RunResults, RunVerdict};
use crate::view::chart::{Bar, BarChart, bar_chart};
use crate::view::figure::{Figure, figure, millis, short_digest};

/// What the run tested and who signed it, read off the signed report's Statement.
#[derive(Debug, Clone, Serialize)]
pub struct IdentityRow {
    pub name: String,
    pub text: String,
    /// The full value when `text` is shortened.
    pub full: Option<String>,
    pub note: Option<String>,
}

/// The identity rows of `statement` (the report's in-toto Statement) signed with `keyid`.
pub fn identity(statement: &Value, keyid: &str, dev_signed: bool) -> Vec<IdentityRow> {
    let predicate = &statement["predicate"];
    let text = |v: &Value| v.as_str().unwrap_or("unknown").to_owned();
    let digest = |name: &str, value: &str, note: Option<String>| IdentityRow {
        name: name.to_owned(),
        text: short_digest(value),
        full: Some(value.to_owned()),
        note,
    };
    let plain = |name: &str, value: String, note: Option<String>| IdentityRow {
        name: name.to_owned(),
        text: value,
        full: None,
        note,
    };
    let mut rows = Vec::new();
    match predicate["environment"]["git_commit"].as_str() {
        Some(commit) => rows.push(digest("commit", commit, None)),
        None => rows.push(plain("commit", "unknown (not a git checkout)".into(), None)),
    }
    rows.push(plain(
        "contract version",
        text(&predicate["contract_version"]),
        None,
    ));
    rows.push(digest(
        "schema_hash",
        &text(&predicate["schema_hash"]),
        None,
    ));
    rows.push(digest(
        "signing key id",
        keyid,
        Some(if dev_signed {
            "dev-signed: a throwaway key, signs off nothing".to_owned()
        } else {
            "release key".to_owned()
        }),
    ));
    rows.push(plain("target", text(&predicate["target"]), None));
    for subject in statement["subject"].as_array().into_iter().flatten() {
        let name = text(&subject["name"]);
        if name == "git-commit" {
            continue;
        }
        if let Some(sha) = subject["digest"]["sha256"].as_str() {
            rows.push(digest(&name, sha, Some("sha256".into())));
        }
    }
    rows
}

#[derive(Serialize)]
struct Counts {
    total: usize,
    pass: usize,
    fail: usize,
    error: usize,
    skipped: usize,
}

fn counts(results: &RunResults) -> Counts {
    Counts {
        total: results.gates.len(),
        pass: results.count(Verdict::Pass),
        fail: results.count(Verdict::Fail),
        error: results.count(Verdict::Error),
        skipped: results.count(Verdict::Skipped),
    }
}

/// A verdict's icon, so no verdict is told by colour alone.
fn icon(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "✔",
        Verdict::Fail => "✘",
        Verdict::Error => "⚠",
        Verdict::Skipped => "○",
    }
}

fn color(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "#2e7d32",
        Verdict::Skipped => "#9e9e9e",
        Verdict::Fail => "#c62828",
        Verdict::Error => "#6a1b9a",
    }
}

fn failing(results: &RunResults) -> impl Iterator<Item = &GateResult> {
    results
        .gates
        .iter()
        .filter(|g| matches!(g.verdict, Verdict::Fail | Verdict::Error))
}

fn figures(g: &GateResult) -> Vec<Figure> {
    g.measurements.iter().map(|(k, v)| figure(k, v)).collect()
}

fn headline(verdict: RunVerdict) -> (&'static str, &'static str, &'static str) {
    match verdict {
        RunVerdict::Pass => ("✔", "PASS", "every release gate ran and passed"),
        RunVerdict::Partial => (
            "○",
            "PARTIAL",
            "every gate that ran passed, but not all ran: not a release pass",
        ),
        RunVerdict::Fail => ("✘", "FAIL", "a release gate failed"),
        RunVerdict::Error => ("⚠", "ERROR", "a release gate could not run"),
    }
}

fn run_seconds(results: &RunResults) -> String {
    let parse = |t: &str| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
    };
    match (
        parse(&results.started_at_utc),
        parse(&results.finished_at_utc),
    ) {
        (Some(a), Some(b)) => millis((b - a).whole_milliseconds() as f64),
        _ => "unknown".into(),
    }
}

/// The Markdown summary.
pub fn markdown(results: &RunResults, identity: &[IdentityRow]) -> String {
    let mut out = String::new();
    let (_, word, line) = headline(results.verdict());
    let c = counts(results);
    let _ = writeln!(out, "# {word}: {line}\n");
    let _ = writeln!(
        out,
        "{} gates: {} passed, {} failed, {} errored, {} skipped. Run `{}`, {} to {} ({}); corpus seed {} ({} frames); repeat {}.\n",
        c.total,
        c.pass,
        c.fail,
        c.error,
        c.skipped,
        results.run_id,
        results.started_at_utc,
        results.finished_at_utc,
        run_seconds(results),
        results.options_seed,
        results.options_frames,
        results.repeat,
    );
    out.push_str("## What was tested\n\n");
    for row in identity {
        let value = row.full.as_deref().unwrap_or(&row.text);
        let note = row
            .note
            .as_deref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        let _ = writeln!(out, "- {}: `{value}`{note}", row.name);
    }
    let failing: Vec<&GateResult> = failing(results).collect();
    if !failing.is_empty() {
        out.push_str("\n## Failures\n");
        for g in failing {
            let _ = writeln!(
                out,
                "\n### {} {} ({})\n",
                icon(g.verdict),
                g.name,
                g.verdict.as_str()
            );
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
    out.push_str(
        "\n## Gates\n\n| gate | verdict | checks | time | figures |\n|---|---|---|---|---|\n",
    );
    for g in &results.gates {
        let passed = g.checks.iter().filter(|c| c.passed).count();
        let shown: Vec<String> = figures(g)
            .into_iter()
            .map(|f| format!("{} {}", f.key, f.text))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} {} | {}/{} | {} | {} |",
            g.name,
            icon(g.verdict),
            g.verdict.as_str(),
            passed,
            g.checks.len(),
            millis(g.duration_ms as f64),
            shown.join(", ").replace('|', "\\|")
        );
    }
    out
}

/// Time per gate, as a bar chart coloured (and labelled) by verdict.
fn duration_chart(results: &RunResults) -> anyhow::Result<String> {
    let bars = results
        .gates
        .iter()
        .map(|g| Bar {
            label: g.name.clone(),
            value: g.duration_ms as f64 / 1000.0,
            color: color(g.verdict),
            text: match g.verdict {
                Verdict::Skipped => format!("{} not run", icon(g.verdict)),
                v => format!(
                    "{} ({} {})",
                    millis(g.duration_ms as f64),
                    icon(v),
                    v.as_str()
                ),
            },
        })
        .collect();
    let legend = [
        Verdict::Pass,
        Verdict::Fail,
        Verdict::Error,
        Verdict::Skipped,
    ]
    .into_iter()
    .filter(|v| results.gates.iter().any(|g| g.verdict == *v))
    .map(|v| (v.as_str().to_owned(), color(v)))
    .collect();
    bar_chart(&BarChart {
        title: "Time per gate".into(),
        x_label: "wall time (seconds)".into(),
        bars,
        legend,
        references: Vec::new(),
    })
}

#[derive(Serialize)]
struct GateRow {
    name: String,
    proves: String,
    verdict: &'static str,
    icon: &'static str,
    failing: bool,
    passed: usize,
    checks: usize,
    failed_checks: usize,
    time: String,
    figures: Vec<Figure>,
    evidence: Vec<EvidenceRow>,
}

#[derive(Serialize)]
struct EvidenceRow {
    check: String,
    record: Option<String>,
    text: String,
}

#[derive(Serialize)]
struct ChartBlock {
    gate: String,
    caption: String,
    svg: String,
}

fn gate_row(g: &GateResult) -> GateRow {
    let passed = g.checks.iter().filter(|c| c.passed).count();
    GateRow {
        name: g.name.clone(),
        proves: g.proves.clone(),
        verdict: g.verdict.as_str(),
        icon: icon(g.verdict),
        failing: matches!(g.verdict, Verdict::Fail | Verdict::Error),
        passed,
        checks: g.checks.len(),
        failed_checks: g.checks.len() - passed,
        time: if g.verdict == Verdict::Skipped {
            "not run".into()
        } else {
            millis(g.duration_ms as f64)
        },
        figures: figures(g),
        evidence: g
            .evidence
            .iter()
            .map(|e| EvidenceRow {
                check: e.check.clone(),
                record: e.record.clone(),
                text: e.describe(),
            })
            .collect(),
    }
}

/// The self-contained HTML summary.
pub fn html(results: &RunResults, identity: &[IdentityRow]) -> anyhow::Result<String> {
    let verdict = results.verdict();
    let (icon, word, line) = headline(verdict);
    let mut charts = vec![ChartBlock {
        gate: "run".into(),
        caption: "where the run spent its time".into(),
        svg: duration_chart(results)?,
    }];
    for g in &results.gates {
        for chart in &g.charts {
            charts.push(ChartBlock {
                gate: g.name.clone(),
                caption: format!("{}: {}", g.name, chart.title),
                svg: chart.svg.clone(),
            });
        }
    }
    crate::view::render(
        "summary.html",
        minijinja::context! {
            banner => minijinja::context! {
                class => verdict.as_str(), verdict => verdict.as_str(), icon => icon, word => word,
                headline => line,
            },
            counts => counts(results),
            run => minijinja::context! {
                run_id => &results.run_id, started => &results.started_at_utc,
                finished => &results.finished_at_utc, duration => run_seconds(results),
                seed => results.options_seed, frames => results.options_frames, repeat => results.repeat,
            },
            identity => identity,
            failures => failing(results).map(gate_row).collect::<Vec<_>>(),
            gates => results.gates.iter().map(gate_row).collect::<Vec<_>>(),
            charts => charts,
        },
    )
}
