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
    /// The slowest of this question's runs, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms_max: Option<f64>,
    pub checks: Vec<CheckRow>,
    /// The case's other phrasings, each evaluated like the question; the case passes only when
    /// every one passes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub phrasings: Vec<Row>,
}

impl Row {
    /// Whether this question itself passed (a case's `passed` and `skipped` also count its
    /// phrasings). A question that was not asked holds a failed `evaluated` check.
    pub fn question_passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }

    /// Whether this question itself was not asked.
    pub fn question_skipped(&self) -> bool {
        self.checks
            .iter()
            .any(|c| c.name == "evaluated" && !c.passed)
    }

    /// The question's row, then each phrasing's.
    pub fn asked(&self) -> impl Iterator<Item = &Row> {
        std::iter::once(self).chain(self.phrasings.iter())
    }
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
    /// The phrasing file given with `--phrasings`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phrasings: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phrasings_sha256: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GoldenReport {
    pub passed: bool,
    pub evaluated_total: usize,
    pub evaluated_passed: usize,
    pub evaluated_failed: usize,
    pub rows_skipped: usize,
    /// Questions asked: each case's question and its phrasings.
    pub phrasings_total: usize,
    /// Questions whose every check passed.
    pub phrasings_passed: usize,
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
        // Each question's own verdict; the case's is the first line's only without phrasings.
        let verdict = |row: &Row| {
            if row.question_skipped() {
                "skip"
            } else if row.question_passed() {
                "pass"
            } else {
                "FAIL"
            }
        };
        for row in &self.rows {
            for (index, asked) in row.asked().enumerate() {
                let id = if index == 0 { row.id.as_str() } else { "" };
                out.push_str(&format!(
                    "{:<5} {id:<28} {:<18} {}\n",
                    verdict(asked),
                    asked.answer_state.as_deref().unwrap_or("-"),
                    asked.question
                ));
                for check in asked.checks.iter().filter(|c| !c.passed) {
                    out.push_str(&format!("        {}: {}\n", check.name, check.detail));
                }
            }
        }
        out.push_str(&format!(
            "\ncases: evaluated {} passed {} failed {} skipped {}; questions (cases × phrasings): {} passed of {}\n",
            self.evaluated_total,
            self.evaluated_passed,
            self.evaluated_failed,
            self.rows_skipped,
            self.phrasings_passed,
            self.phrasings_total,
        ));
        out.push_str(&format!(
            "latency p50 {:.3} ms p95 {:.3} ms (budget {} ms, {} samples); query counters {}\n",
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
