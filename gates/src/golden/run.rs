//! A golden run: instantiate the case templates on a corpus's truth, ask each question the
//! repro number of times on the target, and evaluate strictly. The only part with effects is
//! asking; the evaluation is [`super::evaluate::evaluate`].

use std::path::Path;

use autocapture_core::store::DataRoot;
use serde_json::Value;

use super::cases::{Case, add_phrasings, parse_case_file};
use super::evaluate::{CaseRuns, Observed, Policy, evaluate};
use super::report::GoldenReport;
use super::rules::instantiate;
use super::target::Asker;
use crate::harness::gate::Target;

/// The default case file, embedded so the gate runs on a fresh clone.
pub const DEFAULT_CASES: &str = include_str!("../../../fixtures/golden/q40.toml");

/// Cases required by the strict policy.
pub const EXPECTED_CASES: usize = 40;

/// Runs of each case; their signatures must agree.
pub const REPRO_RUNS: usize = 3;

/// Instantiated cases and the file's latency budget for this build (an unoptimised build of
/// the embedded core is an order of magnitude slower; the file names both budgets).
/// `phrasings` is the text of a phrasing file adding further phrasings to the cases.
pub fn load_cases(
    case_text: &str,
    phrasings: Option<&str>,
    truth: &Value,
) -> anyhow::Result<(Vec<Case>, f64)> {
    let mut file = parse_case_file(case_text)?;
    if let Some(text) = phrasings {
        for (case, phrasing) in add_phrasings(&mut file, text)? {
            eprintln!(
                "autocapture-gates: warning[golden_phrasing_repeated]: {case} already asks {phrasing:?}; asked once"
            );
        }
    }
    let cases = instantiate(&file, truth)?;
    let budget = if cfg!(debug_assertions) {
        file.latency_p95_budget_ms_unoptimized
    } else {
        file.latency_p95_budget_ms
    };
    Ok((cases, budget))
}

/// Asks every question of every case (its question and each phrasing) `repro` times. A
/// question the target cannot answer at all (an HTTP or store error) is left without runs: it
/// is reported skipped, never passed, and so is its case.
pub fn ask_all(asker: &Asker, cases: &[Case], repro: usize) -> (Vec<CaseRuns>, Vec<String>) {
    let mut observed = Vec::new();
    let mut errors = Vec::new();
    for case in cases {
        for question in case.questions() {
            let mut runs = Vec::new();
            for _ in 0..repro {
                match asker.ask(question) {
                    Ok((answer, latency_ms)) => runs.push(Observed { answer, latency_ms }),
                    Err(e) => {
                        errors.push(format!("{} ({question:?}): {e:#}", case.id));
                        runs.clear();
                        break;
                    }
                }
            }
            if !runs.is_empty() {
                observed.push(CaseRuns {
                    id: case.id.clone(),
                    question: question.to_owned(),
                    runs,
                });
            }
        }
    }
    (observed, errors)
}

/// A full golden run against `target` (the embedded target reads `data`).
pub fn run_golden(
    case_text: &str,
    phrasings: Option<&str>,
    truth: &Value,
    target: &Target,
    data: Option<&DataRoot>,
    repro: usize,
) -> anyhow::Result<(GoldenReport, Vec<String>)> {
    let (cases, budget) = load_cases(case_text, phrasings, truth)?;
    let asker = Asker::open(target, data)?;
    let (observed, errors) = ask_all(&asker, &cases, repro);
    let report = evaluate(
        &cases,
        &observed,
        &Policy {
            expected_cases: EXPECTED_CASES,
            repro_runs: REPRO_RUNS,
            latency_p95_budget_ms: budget,
        },
    );
    Ok((report, errors))
}

/// Reads a corpus's truth.json.
pub fn read_truth(corpus: &Path) -> anyhow::Result<Value> {
    crate::corpus::copies::truth(corpus)
}
