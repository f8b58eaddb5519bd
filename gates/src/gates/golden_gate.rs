//! The `golden-q40` gate: the forty cases of each golden story's case file
//! ([`crate::golden::stories::GOLDEN_STORIES`]), instantiated from that story's corpus's truth,
//! each question and phrasing asked three times on the target, evaluated strictly (CONTRACT §9):
//! per story 40 evaluated, 0 skipped, 0 failed, identical repro signatures, p95 latency within
//! budget, query counters 0. The workday's corpus is the run's; the gate generates each other
//! story's corpus itself (the run's seed and frame count) and records its digest. The embedded
//! target asks the run's shared indexed DataRoot, and an ingested and indexed copy of each other
//! story's corpus, built in [`Gate::prepare`] beside the other gates, so the gate's time alone is
//! the asking; a popup URL serves one corpus, the run's, so a URL run fails the other stories
//! with the command that certifies them there.

use std::path::PathBuf;

use autocapture_core::store::DataRoot;
use serde_json::{Value, json};

use crate::corpus::build;
use crate::corpus::digest::tree_digest;
use crate::corpus::story::Story;
use crate::golden::report::{GoldenReport, LatencySummary};
use crate::golden::run::{EXPECTED_CASES, REPRO_RUNS, run_golden};
use crate::golden::stories::{GOLDEN_STORIES, GoldenStory};
use crate::harness::gate::{Chart, Gate, GateContext, GateOutcome, Target};
use crate::view::chart::{Bar, BarChart, Reference, bar_chart};
use crate::view::figure::millis;

pub struct GoldenGate;

impl Gate for GoldenGate {
    fn name(&self) -> &'static str {
        "golden-q40"
    }

    /// It judges query latency percentiles against a budget: nothing may run beside it.
    fn runs_alone(&self) -> bool {
        true
    }

    /// Its preparation (the shared DataRoot, which two other gates wait for, and a second
    /// story's corpus) starts early.
    fn weight(&self) -> u32 {
        8
    }

    /// The DataRoots the embedded target asks: the shared one and each other story's.
    fn prepare(&self, ctx: &GateContext) -> anyhow::Result<()> {
        if ctx.target != Target::Embedded {
            return Ok(());
        }
        ctx.shared.indexed()?;
        let run_truth = crate::corpus::copies::truth(&ctx.corpus)?;
        for story in GOLDEN_STORIES.iter().filter(|s| !s.is_run_corpus()) {
            generated(ctx, story, &run_truth)?;
        }
        Ok(())
    }

    fn run(&self, ctx: &GateContext) -> anyhow::Result<GateOutcome> {
        let mut outcome = GateOutcome::default();
        let run_truth = crate::corpus::copies::truth(&ctx.corpus)?;
        let mut latencies = Vec::new();
        for story in &GOLDEN_STORIES {
            let (truth, data) = if story.is_run_corpus() {
                let data = match ctx.target {
                    Target::Embedded => Some(ctx.shared.indexed()?.data.clone()),
                    Target::Url(_) => None,
                };
                (run_truth.clone(), data)
            } else if let Target::Url(url) = &ctx.target {
                outcome.check(
                    &format!("{}: asked", story.name),
                    false,
                    format!(
                        "{url} serves one corpus, the run's; certify {} there with \
                         `autocapture-gates golden --story {} --cases {} --target URL` against \
                         a server of that corpus",
                        story.story_path, story.story_path, story.cases_path
                    ),
                );
                continue;
            } else {
                let (spool, data, truth) = generated(ctx, story, &run_truth)?;
                outcome.inputs.push((
                    format!("fixture-corpus/{}", story.name),
                    tree_digest(&spool)?.sha256,
                ));
                (truth, Some(data))
            };
            let (report, errors) = run_golden(
                story.cases,
                None,
                &truth,
                &ctx.target,
                data.as_ref(),
                REPRO_RUNS,
            )?;
            judge(&mut outcome, story, &report, &errors);
            latencies.push((story.name, report.latency.clone()));
        }
        if !latencies.is_empty() {
            outcome.charts.push(Chart {
                title: "query latency per story".into(),
                svg: latency_chart(&latencies)?,
            });
        }
        Ok(outcome)
    }
}

/// The story's corpus generated into the gate's work folder with the run's seed and frame
/// count, ingested and indexed: its spool, DataRoot and truth. Built once ([`Gate::prepare`] or
/// the first call): a folder left half-built is built again.
fn generated(
    ctx: &GateContext,
    story: &GoldenStory,
    run_truth: &Value,
) -> anyhow::Result<(PathBuf, DataRoot, Value)> {
    let dir = ctx.work.join(story.name);
    build::once(&dir, || {
        let frames = run_truth["frames_total"]
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("the run corpus's truth.json has no frames_total"))?;
        let handoffs = run_truth["handoffs"]
            .as_array()
            .map_or(3, |h| h.len() as u32);
        let story = Story::parse(story.story)?;
        build::indexed_of(&story, &dir, ctx.seed, frames, handoffs).map(drop)
    })?;
    let spool = dir.join("spool");
    let truth = build::truth(&spool)?;
    Ok((spool, DataRoot::new(dir.join("data")), truth))
}

/// Each story's p50 and p95 query latency against the p95 budget, as bars.
fn latency_chart(latencies: &[(&str, LatencySummary)]) -> anyhow::Result<String> {
    let (p50, p95) = ("#64b5f6", "#1565c0");
    let bars = latencies
        .iter()
        .flat_map(|(story, l)| {
            [("p50", l.p50_ms, p50), ("p95", l.p95_ms, p95)].map(|(which, ms, color)| Bar {
                label: format!("{story} {which}"),
                value: ms,
                color,
                text: millis(ms),
            })
        })
        .collect();
    let budget = latencies
        .iter()
        .map(|(_, l)| l.budget_p95_ms)
        .fold(0.0, f64::max);
    bar_chart(&BarChart {
        title: format!(
            "Golden query latency ({} questions and phrasings per story, each asked {REPRO_RUNS} times)",
            latencies.first().map_or(0, |(_, l)| l.samples / REPRO_RUNS)
        ),
        x_label: "latency (milliseconds)".into(),
        bars,
        legend: vec![("p50".into(), p50), ("p95".into(), p95)],
        references: vec![Reference {
            name: "p95 budget (ms)".into(),
            color: "#c62828",
            value: budget,
        }],
    })
}

/// One story's checks and figures, each named after the story.
fn judge(outcome: &mut GateOutcome, story: &GoldenStory, report: &GoldenReport, errors: &[String]) {
    let name = story.name;
    for row in &report.rows {
        let failed: Vec<String> = row
            .asked()
            .filter(|q| !q.question_passed())
            .map(|q| {
                let checks: Vec<String> = q
                    .checks
                    .iter()
                    .filter(|c| !c.passed)
                    .map(|c| format!("{}: {}", c.name, c.detail))
                    .collect();
                format!("{:?}: {}", q.question, checks.join("; "))
            })
            .collect();
        outcome.check(
            &format!("{name}: case {}", row.id),
            row.passed,
            if failed.is_empty() {
                String::new()
            } else {
                format!(
                    "{} of {} phrasings failed: {}",
                    failed.len(),
                    row.asked().count(),
                    failed.join(" | ")
                )
            },
        );
    }
    for (check, expected, actual) in [
        ("evaluated == 40", EXPECTED_CASES, report.evaluated_total),
        ("skipped == 0", 0, report.rows_skipped),
        ("failed == 0", 0, report.evaluated_failed),
    ] {
        outcome.check_eq(
            &format!("{name}: strict: {check}"),
            None,
            json!(expected),
            json!(actual),
        );
    }
    outcome.check(
        &format!("{name}: strict: query latency p95 within budget"),
        report.latency.samples > 0 && report.latency.p95_ms <= report.latency.budget_p95_ms,
        format!(
            "p95 {:.3} ms over {} samples; budget {} ms",
            report.latency.p95_ms, report.latency.samples, report.latency.budget_p95_ms
        ),
    );
    outcome.check_eq(
        &format!("{name}: strict: query counters stay 0"),
        None,
        json!(0),
        json!(report.query_counters_total),
    );
    outcome.check(
        &format!("{name}: strict: no failure reasons"),
        report.failure_reasons.is_empty(),
        report.failure_reasons.join("; "),
    );
    if !errors.is_empty() {
        outcome.check(
            &format!("{name}: every question reached the target"),
            false,
            errors.join("; "),
        );
    }
    let prefix = story.figure_prefix();
    for (key, value) in [
        ("evaluated_total", report.evaluated_total),
        ("evaluated_passed", report.evaluated_passed),
        ("evaluated_failed", report.evaluated_failed),
        ("rows_skipped", report.rows_skipped),
        ("phrasings_total", report.phrasings_total),
        ("phrasings_passed", report.phrasings_passed),
        ("repro_runs", report.repro_runs),
    ] {
        outcome.measure(&format!("{prefix}_{key}"), value as u64);
    }
    outcome.measure(&format!("{prefix}_query_p50_ms"), report.latency.p50_ms);
    outcome.measure(&format!("{prefix}_query_p95_ms"), report.latency.p95_ms);
    outcome.measure(
        &format!("{prefix}_query_p95_budget_ms"),
        report.latency.budget_p95_ms,
    );
}
