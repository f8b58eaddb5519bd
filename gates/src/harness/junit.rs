//! `junit.xml` for CI: one test suite per gate, its checks as test cases. Every suite and case
//! has a time (a check's own time is not measured: 0, its gate's time is on the suite), every
//! suite the run's start as its timestamp and the run's identity as properties (run id, seed,
//! frames, corpus digest, and what the caller adds: commit, contract version, `schema_hash`).
//!
//! Each failure is counted once: a failing check is a failed case with its detail as message and
//! the gate's evidence for it as the body. A gate that errored gets one error case named after
//! the gate; a gate the run did not select is one skipped case.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::gate::Verdict;
use super::runner::{GateResult, RunResults};

/// The run's start as the suites' timestamp (none when it does not parse).
fn timestamp(results: &RunResults) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    chrono::DateTime::parse_from_rfc3339(&results.started_at_utc).ok()
}

/// The suite of one gate.
fn suite(results: &RunResults, gate: &GateResult, properties: &[(&str, String)]) -> TestSuite {
    let mut suite = TestSuite::new(gate.name.clone());
    if let Some(at) = timestamp(results) {
        suite.set_timestamp(at);
    }
    suite.set_time(Duration::from_millis(gate.duration_ms));
    let mut identity: Vec<(&str, String)> = vec![
        ("run_id", results.run_id.clone()),
        ("seed", results.options_seed.to_string()),
        ("frames", results.options_frames.to_string()),
        ("corpus_sha256", results.corpus_sha256.clone()),
        ("verdict", gate.verdict.as_str().to_owned()),
        ("proves", gate.proves.clone()),
    ];
    identity.extend(properties.iter().cloned());
    for (name, value) in identity {
        suite.add_property((name, value.as_str()));
    }
    let class = format!("gates.{}", gate.name);
    let whole = |status: TestCaseStatus| {
        let mut case = TestCase::new(gate.name.clone(), status);
        case.set_classname(class.clone());
        case.set_time(Duration::from_millis(gate.duration_ms));
        case
    };
    match gate.verdict {
        Verdict::Skipped => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(format!(
                "gate {} not selected by this run (--gate): the run is partial",
                gate.name
            ));
            suite.add_test_case(whole(status));
            return suite;
        }
        Verdict::Error => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(format!("gate {} errored", gate.name));
            let evidence: Vec<String> = gate
                .evidence
                .iter()
                .map(|e| format!("{}: {}", e.check, e.describe()))
                .collect();
            status.set_description(evidence.join("\n"));
            suite.add_test_case(whole(status));
        }
        Verdict::Pass | Verdict::Fail => {
            if gate.checks.is_empty() {
                // A verdict with nothing checked still shows as one case.
                let status = if gate.verdict == Verdict::Pass {
                    TestCaseStatus::success()
                } else {
                    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    status.set_message(format!("gate {} failed", gate.name));
                    status
                };
                suite.add_test_case(whole(status));
            }
        }
    }
    for check in &gate.checks {
        let status = if check.passed {
            TestCaseStatus::success()
        } else {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(check.detail.clone());
            let evidence: Vec<String> = gate
                .evidence
                .iter()
                .filter(|e| e.check == check.name)
                .map(|e| e.describe())
                .collect();
            status.set_description(if evidence.is_empty() {
                check.detail.clone()
            } else {
                evidence.join("\n")
            });
            status
        };
        let mut case = TestCase::new(check.name.clone(), status);
        case.set_classname(class.clone());
        case.set_time(Duration::ZERO);
        suite.add_test_case(case);
    }
    suite
}

/// The JUnit document of a run; `properties` (commit, contract version, `schema_hash`) go on
/// every suite beside the run's own identity.
pub fn render(results: &RunResults, properties: &[(&str, String)]) -> anyhow::Result<String> {
    let mut report = Report::new("autocapture-gates");
    if let Some(at) = timestamp(results) {
        report.set_timestamp(at);
    }
    report.set_time(Duration::from_millis(
        results.gates.iter().map(|g| g.duration_ms).sum(),
    ));
    for gate in &results.gates {
        report.add_test_suite(suite(results, gate, properties));
    }
    Ok(report.to_string()?)
}
