//! `junit.xml` for CI: one test case per gate and one per check of each gate; a gate the run did
//! not select is a skipped test case.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::gate::Verdict;
use super::runner::RunResults;

pub fn render(results: &RunResults) -> anyhow::Result<String> {
    let mut report = Report::new("autocapture-gates");
    let mut suite = TestSuite::new("gates");
    for gate in &results.gates {
        let mut status = match gate.verdict {
            Verdict::Pass => TestCaseStatus::success(),
            Verdict::Skipped => TestCaseStatus::skipped(),
            Verdict::Fail => TestCaseStatus::non_success(NonSuccessKind::Failure),
            Verdict::Error => TestCaseStatus::non_success(NonSuccessKind::Error),
        };
        if gate.verdict == Verdict::Skipped {
            status.set_message(format!(
                "gate {} not selected by this run (--gate): the run is partial",
                gate.name
            ));
        } else if gate.verdict != Verdict::Pass {
            let reasons: Vec<String> = gate
                .evidence
                .iter()
                .map(|e| format!("{}: {}", e.check, e.describe()))
                .collect();
            status.set_message(format!("gate {} {}", gate.name, gate.verdict.as_str()));
            status.set_description(reasons.join("\n"));
        }
        let mut case = TestCase::new(gate.name.clone(), status);
        case.set_classname("gates");
        case.set_time(Duration::from_millis(gate.duration_ms));
        suite.add_test_case(case);
        for check in &gate.checks {
            let mut status = if check.passed {
                TestCaseStatus::success()
            } else {
                TestCaseStatus::non_success(NonSuccessKind::Failure)
            };
            if !check.passed {
                status.set_message(check.detail.clone());
            }
            let mut case = TestCase::new(format!("{}::{}", gate.name, check.name), status);
            case.set_classname(format!("gates.{}", gate.name));
            suite.add_test_case(case);
        }
    }
    report.add_test_suite(suite);
    Ok(report.to_string()?)
}
