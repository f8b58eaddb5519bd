//! The `golden-q40` gate: the forty cases of `fixtures/golden/q40.toml`, instantiated from the
//! corpus's truth, each question and phrasing asked three times on the target (the embedded core over an ingested and
//! indexed private copy of the corpus, or a popup URL on loopback), evaluated strictly
//! (CONTRACT §9): 40 evaluated, 0 skipped, 0 failed, identical repro signatures, p95 latency
//! within budget, query counters 0.

use serde_json::json;

use crate::golden::run::{DEFAULT_CASES, EXPECTED_CASES, REPRO_RUNS, run_golden};
use crate::harness::gate::{Gate, GateContext, GateOutcome, Target};

pub struct GoldenGate;

impl Gate for GoldenGate {
    fn name(&self) -> &'static str {
        "golden-q40"
    }

    fn proves(&self) -> &'static str {
        "strict 40/40 evaluated with every phrasing of each case, 0 skipped, 0 failed, 3 identical repro runs, latency p95 within budget, query counters 0"
    }

    fn run(&self, ctx: &GateContext) -> anyhow::Result<GateOutcome> {
        let mut outcome = GateOutcome::default();
        let truth = crate::corpus::copies::truth(&ctx.corpus)?;
        let data = match ctx.target {
            Target::Embedded => Some(crate::corpus::copies::indexed_copy(ctx)?.0),
            Target::Url(_) => None,
        };
        let (report, errors) = run_golden(
            DEFAULT_CASES,
            None,
            &truth,
            &ctx.target,
            data.as_ref(),
            REPRO_RUNS,
        )?;
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
                &format!("case {}", row.id),
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
        outcome.check_eq(
            "strict: evaluated == 40",
            None,
            json!(EXPECTED_CASES),
            json!(report.evaluated_total),
        );
        outcome.check_eq(
            "strict: skipped == 0",
            None,
            json!(0),
            json!(report.rows_skipped),
        );
        outcome.check_eq(
            "strict: failed == 0",
            None,
            json!(0),
            json!(report.evaluated_failed),
        );
        outcome.check(
            "strict: query latency p95 within budget",
            report.latency.samples > 0 && report.latency.p95_ms <= report.latency.budget_p95_ms,
            format!(
                "p95 {:.3} ms over {} samples; budget {} ms",
                report.latency.p95_ms, report.latency.samples, report.latency.budget_p95_ms
            ),
        );
        outcome.check_eq(
            "strict: query counters stay 0",
            None,
            json!(0),
            json!(report.query_counters_total),
        );
        outcome.check(
            "strict: no failure reasons",
            report.failure_reasons.is_empty(),
            report.failure_reasons.join("; "),
        );
        if !errors.is_empty() {
            outcome.check(
                "every question reached the target",
                false,
                errors.join("; "),
            );
        }
        outcome.measure("evaluated_total", report.evaluated_total as u64);
        outcome.measure("evaluated_passed", report.evaluated_passed as u64);
        outcome.measure("evaluated_failed", report.evaluated_failed as u64);
        outcome.measure("rows_skipped", report.rows_skipped as u64);
        outcome.measure("phrasings_total", report.phrasings_total as u64);
        outcome.measure("phrasings_passed", report.phrasings_passed as u64);
        outcome.measure("repro_runs", report.repro_runs as u64);
        outcome.measure("query_p50_ms", report.latency.p50_ms);
        outcome.measure("query_p95_ms", report.latency.p95_ms);
        outcome.measure("query_p95_budget_ms", report.latency.budget_p95_ms);
        Ok(outcome)
    }
}
