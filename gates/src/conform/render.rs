//! The report for people (a table per handoff, then every finding) and for CI (JUnit: one test
//! suite per handoff, one test case per rule of the catalogue: passed, failed with its findings'
//! file, row and rule, or skipped when the rule could not be checked there).

use std::fmt::Write as _;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::report::{ConformReport, HandoffReport};
use super::rules::RULES;

/// The human table.
pub fn table(report: &ConformReport) -> String {
    let mut out = String::new();
    let hash: String = report.schema_hash.chars().take(12).collect();
    let _ = writeln!(
        out,
        "conform {} {} (contract {}, schema_hash {hash}…)",
        match report.kind {
            super::report::RootKind::Spool => "spool",
            super::report::RootKind::Handoff => "handoff",
        },
        report.root.display(),
        report.contract_version
    );
    let width = report
        .handoffs
        .iter()
        .map(|h| h.name.chars().count())
        .max()
        .unwrap_or(7)
        .max(7);
    let _ = writeln!(
        out,
        "{:<width$}  {:<22} {:>8} {:>7} {:>7} {:>8}  verdict",
        "handoff", "layout", "rows", "frames", "media", "findings"
    );
    for h in &report.handoffs {
        let _ = writeln!(
            out,
            "{:<width$}  {:<22} {:>8} {:>7} {:>7} {:>8}  {}",
            h.name,
            h.layout.unwrap_or("-"),
            h.rows,
            h.frames,
            h.media_files,
            h.total_findings(),
            if h.conforming() {
                "conforming"
            } else {
                "NOT CONFORMING"
            }
        );
    }
    for h in report.handoffs.iter().filter(|h| !h.conforming()) {
        let _ = writeln!(out, "\n{}:", h.name);
        for finding in &h.findings {
            let _ = writeln!(out, "  {}", finding.line());
        }
        for (rule, count) in &h.counts {
            let shown = h.findings.iter().filter(|f| f.rule == *rule).count() as u64;
            if *count > shown {
                let _ = writeln!(out, "  … and {} more {rule}", count - shown);
            }
        }
    }
    let _ = writeln!(
        out,
        "\n{} handoff(s), {} finding(s): {} ({} ms)",
        report.handoffs_checked,
        report.findings_total,
        if report.conforming {
            "conforming"
        } else {
            "not conforming"
        },
        report.duration_ms
    );
    out
}

/// The suite of one handoff.
fn suite(report: &ConformReport, handoff: &HandoffReport) -> TestSuite {
    let mut suite = TestSuite::new(handoff.name.clone());
    suite.set_time(Duration::from_millis(handoff.duration_ms));
    for (name, value) in [
        ("path", handoff.path.display().to_string()),
        ("layout", handoff.layout.unwrap_or("-").to_owned()),
        ("rows", handoff.rows.to_string()),
        ("contract_version", report.contract_version.clone()),
        ("schema_hash", report.schema_hash.clone()),
    ] {
        suite.add_property((name, value.as_str()));
    }
    let class = format!("conform.{}", handoff.name);
    for rule in RULES {
        let count = handoff.counts.get(rule.id).copied().unwrap_or(0);
        let status = if count > 0 {
            let findings: Vec<_> = handoff
                .findings
                .iter()
                .filter(|f| f.rule == rule.id)
                .collect();
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(match findings.first() {
                Some(first) => format!("{count} finding(s); first: {}", first.line()),
                None => format!("{count} finding(s)"),
            });
            status.set_type(rule.code.unwrap_or(rule.id));
            let mut lines: Vec<String> = findings.iter().map(|f| f.line()).collect();
            if count > lines.len() as u64 {
                lines.push(format!("… and {} more", count - lines.len() as u64));
            }
            status.set_description(lines.join("\n"));
            status
        } else if handoff.was_checked(rule.id) {
            TestCaseStatus::success()
        } else {
            let mut status = TestCaseStatus::skipped();
            status.set_message(
                "not checked: what it looks at could not be read here (see this suite's failures)",
            );
            status
        };
        let mut case = TestCase::new(rule.id, status);
        case.set_classname(class.clone());
        case.set_time(Duration::ZERO);
        suite.add_test_case(case);
    }
    suite
}

/// The JUnit document.
pub fn junit(report: &ConformReport) -> anyhow::Result<String> {
    let mut junit = Report::new("autocapture-gates conform spool");
    junit.set_time(Duration::from_millis(report.duration_ms));
    for handoff in &report.handoffs {
        junit.add_test_suite(suite(report, handoff));
    }
    Ok(junit.to_string()?)
}
