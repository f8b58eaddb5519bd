//! The golden report: the release tooling's row fields (`evaluated_total`, `evaluated_passed`,
//! `evaluated_failed`, `rows_skipped`, `rows[…]`, `failure_reasons`) plus latency and counters,
//! and a plain-text table of it.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckRow {
    pub name: String,
    pub passed: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub id: String,
    pub class: String,
    pub question: String,
    pub passed: bool,
    pub skipped: bool,
    pub answer_state: Option<String>,
    pub summary: Option<String>,
    pub checks: Vec<CheckRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencySummary {
    pub samples: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub budget_p95_ms: f64,
}

/// What a golden run was asked on: the story the corpus was generated from (or the corpus given
/// as it is), the corpus's digest, and the case file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GoldenSource {
    /// The story file, or `built-in fixtures/story/workday.toml`; absent for a given corpus.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub story: Option<String>,
    /// The corpus directory given with `--corpus`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corpus: Option<String>,
    /// sha256 over the corpus's files (relative path and content), before any ingest.
    pub corpus_sha256: String,
    /// The case file, or `built-in fixtures/golden/q40.toml`.
    pub cases: String,
    pub cases_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GoldenReport {
    pub passed: bool,
    pub evaluated_total: usize,
    pub evaluated_passed: usize,
    pub evaluated_failed: usize,
    pub rows_skipped: usize,
    pub repro_runs: usize,
    pub query_counters_total: u64,
    pub latency: LatencySummary,
    pub failure_reasons: Vec<String>,
    pub rows: Vec<Row>,
    /// Set by the `golden` command; a gate run records its inputs in the signed report instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<GoldenSource>,
}

impl GoldenReport {
    /// One line per case, then the totals and the failure reasons.
    pub fn table(&self) -> String {
        let mut out = String::new();
        for row in &self.rows {
            let verdict = if row.skipped {
                "skip"
            } else if row.passed {
                "pass"
            } else {
                "FAIL"
            };
            out.push_str(&format!(
                "{verdict:<5} {:<28} {:<18} {}\n",
                row.id,
                row.answer_state.as_deref().unwrap_or("-"),
                row.question
            ));
            for check in row.checks.iter().filter(|c| !c.passed) {
                out.push_str(&format!("        {}: {}\n", check.name, check.detail));
            }
        }
        out.push_str(&format!(
            "\nevaluated {} passed {} failed {} skipped {}; latency p50 {:.3} ms p95 {:.3} ms (budget {} ms, {} samples); query counters {}\n",
            self.evaluated_total,
            self.evaluated_passed,
            self.evaluated_failed,
            self.rows_skipped,
            self.latency.p50_ms,
            self.latency.p95_ms,
            self.latency.budget_p95_ms,
            self.latency.samples,
            self.query_counters_total
        ));
        for reason in &self.failure_reasons {
            out.push_str(&format!("failure: {reason}\n"));
        }
        out
    }
}
