//! `golden-junit.xml`: one test suite per case and one test case per question asked (the case's
//! own question, then each phrasing), so CI shows which phrasing of a case failed and why. A
//! question that was not asked is skipped; the suite's verdict is the case's.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::report::GoldenReport;

/// The report as JUnit XML; `name` names the run (the story or corpus certified).
pub fn render(report: &GoldenReport, name: &str) -> anyhow::Result<String> {
    let mut junit = Report::new(format!("golden {name}"));
    for row in &report.rows {
        let mut suite = TestSuite::new(format!("{} ({})", row.id, row.class));
        for (index, asked) in row.asked().enumerate() {
            let failed: Vec<String> = asked
                .checks
                .iter()
                .filter(|c| !c.passed)
                .map(|c| format!("{}: {}", c.name, c.detail))
                .collect();
            let mut status = if asked.question_skipped() {
                TestCaseStatus::skipped()
            } else if failed.is_empty() {
                TestCaseStatus::success()
            } else {
                TestCaseStatus::non_success(NonSuccessKind::Failure)
            };
            if !failed.is_empty() {
                status.set_message(format!(
                    "{} of {} checks failed",
                    failed.len(),
                    asked.checks.len()
                ));
                status.set_description(failed.join("\n"));
            }
            let label = if index == 0 { "question" } else { "phrasing" };
            let mut case = TestCase::new(format!("{label} {index}: {}", asked.question), status);
            case.set_classname(format!("golden.{}", row.id));
            if let Some(ms) = asked.latency_ms_max {
                case.set_time(Duration::from_secs_f64(ms / 1000.0));
            }
            suite.add_test_case(case);
        }
        junit.add_test_suite(suite);
    }
    Ok(junit.to_string()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::golden::report::{CheckRow, LatencySummary, Row};

    fn row(question: &str, passed: bool) -> Row {
        Row {
            id: "focus_case".into(),
            class: "focus_at".into(),
            question: question.into(),
            passed,
            skipped: false,
            answer_state: Some("ok".into()),
            summary: None,
            latency_ms_max: Some(1.5),
            checks: vec![CheckRow {
                name: "expected_contains_all".into(),
                passed,
                detail: if passed {
                    String::new()
                } else {
                    "missing \"Excel\"".into()
                },
            }],
            phrasings: Vec::new(),
        }
    }

    /// A failing phrasing is its own failing test case with its check named; the passing
    /// question beside it passes.
    #[test]
    fn each_phrasing_is_a_test_case_with_its_failing_check() {
        let mut case = row("Which window had focus at 10:00?", false);
        case.phrasings = vec![row("what was up front at 10am", false)];
        case.checks[0].passed = true;
        case.checks[0].detail.clear();
        let report = GoldenReport {
            passed: false,
            evaluated_total: 1,
            evaluated_passed: 0,
            evaluated_failed: 1,
            rows_skipped: 0,
            phrasings_total: 2,
            phrasings_passed: 1,
            repro_runs: 3,
            query_counters_total: 0,
            latency: LatencySummary {
                samples: 6,
                p50_ms: 1.0,
                p95_ms: 1.5,
                budget_p95_ms: 5.0,
            },
            failure_reasons: Vec::new(),
            rows: vec![case],
            source: None,
        };
        let xml = render(&report, "workday").expect("render");
        assert!(xml.contains("tests=\"2\""), "{xml}");
        assert!(xml.contains("failures=\"1\""), "{xml}");
        assert!(
            xml.contains("name=\"phrasing 1: what was up front at 10am\""),
            "{xml}"
        );
        assert!(
            xml.contains("expected_contains_all: missing &quot;Excel&quot;"),
            "{xml}"
        );
        assert!(xml.contains("classname=\"golden.focus_case\""), "{xml}");
    }
}
