//! The strict evaluator's self-tests: for every check type a passing answer and a failing one
//! (wrong answer, missing citation, citation outside the allowed evidence, truncated, partial,
//! indeterminate, skipped case, missing structured path, bbox under the IoU bar, a
//! non-deterministic repro), and the run-level failure reasons.

use autocapture_gates::golden::cases::{
    BboxExpect, Case, Checks, EvidenceRule, PathCheck, PathExpect,
};
use autocapture_gates::golden::evaluate::{
    CaseRuns, Observed, Policy, check_answer, contains_text, evaluate, iou, lookup,
};
use serde_json::{Value, json};

/// A good answer to "which window had focus at 10:20:30?".
fn answer() -> Value {
    json!({
        "state": "ok",
        "summary": "\"Save As\" (Code.exe) had focus at 10:20:30",
        "bullets": ["Save As — 2 buttons"],
        "fields": {
            "window_title": "Save As",
            "process_name": "Code.exe",
            "bbox": [560, 300, 1360, 760],
            "timeline": [{"window_title": "A"}, {"window_title": "B"}],
        },
        "needs_processing": false,
        "citations": [
            {"record_id": "run1/evidence.capture.frame/120", "record_type": "evidence.capture.frame", "frame_id": "run1/evidence.capture.frame/120"},
            {"record_id": "run1/derived.sst.text/extra/ab", "record_type": "obs.uia.focus", "frame_id": "run1/evidence.capture.frame/120"},
        ],
        "counters": {"query_extractor_launch_total": 0, "query_schedule_extract_requests_total": 0, "query_raw_media_reads_total": 0},
    })
}

fn checks() -> Checks {
    Checks {
        expected_contains_all: vec!["Save As".into(), "code.exe".into()],
        expected_contains_any: vec!["Calendar".into(), "save as".into()],
        expected_exact_summary: Some("\"save as\"   (Code.exe) had focus at 10:20:30".into()),
        expected_paths: vec![
            PathCheck {
                path: "fields.window_title".into(),
                expect: PathExpect::Equals(json!("Save As")),
            },
            PathCheck {
                path: "fields.timeline.#".into(),
                expect: PathExpect::Equals(json!(2)),
            },
            PathCheck {
                path: "fields.process_name".into(),
                expect: PathExpect::Contains("code".into()),
            },
        ],
        expected_answer: Some(
            json!({"fields": {"timeline": [{"window_title": "A"}, {"window_title": "B"}]}}),
        ),
        expected_bbox: Some(BboxExpect {
            path: "fields.bbox".into(),
            bbox: [560.0, 300.0, 1360.0, 760.0],
            min_iou: 0.60,
        }),
        allowed_evidence: Some(vec![
            EvidenceRule {
                record_type: "evidence.capture.frame".into(),
                frames: Some([100, 150]),
            },
            EvidenceRule {
                record_type: "obs.uia.focus".into(),
                frames: Some([100, 150]),
            },
        ]),
        required_evidence: vec!["run1/evidence.capture.frame/120".into()],
        ..Checks::default()
    }
}

/// The names of the failing checks.
fn failing(checks: &Checks, answer: &Value) -> Vec<String> {
    check_answer(checks, answer)
        .into_iter()
        .filter(|c| !c.passed)
        .map(|c| c.name)
        .collect()
}

#[track_caller]
fn check(
    edit_checks: impl FnOnce(&mut Checks),
    edit_answer: impl FnOnce(&mut Value),
    expected_failures: &[&str],
) {
    let (mut c, mut a) = (checks(), answer());
    edit_checks(&mut c);
    edit_answer(&mut a);
    assert_eq!(failing(&c, &a), expected_failures, "answer {a:#}");
}

#[test]
fn a_good_answer_passes_every_check() {
    let results = check_answer(&checks(), &answer());
    assert!(results.len() >= 12, "{results:#?}");
    assert!(results.iter().all(|c| c.passed), "{results:#?}");
}

#[test]
fn each_check_catches_its_violation() {
    // A wrong answer.
    check(
        |_| {},
        |a| {
            a["summary"] = json!("\"Terminal\" (wt.exe) had focus at 10:20:30");
            a["bullets"] = json!([]);
            a["fields"]["window_title"] = json!("Terminal");
        },
        &[
            "expected_contains_all",
            "expected_contains_any",
            "expected_exact_summary",
            "expected_path fields.window_title",
        ],
    );
    // A missing citation.
    check(
        |_| {},
        |a| a["citations"] = json!([]),
        &["require_citations", "cites_required_evidence"],
    );
    // A citation outside the allowed evidence: another frame range, then another record type.
    check(
        |_| {},
        |a| a["citations"][1]["frame_id"] = json!("run1/evidence.capture.frame/151"),
        &["cited_within_allowed_evidence"],
    );
    check(
        |_| {},
        |a| a["citations"][1]["record_type"] = json!("obs.uia.context"),
        &["cited_within_allowed_evidence"],
    );
    // A truncated answer, with three dots or an ellipsis.
    check(
        |_| {},
        |a| a["bullets"] = json!(["Save As — 2 butt..."]),
        &["not_truncated"],
    );
    check(
        |c| c.expected_exact_summary = None,
        |a| a["summary"] = json!("\"Save As\" (Code.exe) had focus at 10:20…"),
        &["not_truncated"],
    );
    // A partial answer.
    check(
        |_| {},
        |a| a["needs_processing"] = json!(true),
        &["not_partial"],
    );
    check(
        |_| {},
        |a| a["fields"]["partial"] = json!(true),
        &["not_partial"],
    );
    // An indeterminate answer fails unless the case allows it.
    check(
        |_| {},
        |a| a["state"] = json!("degraded"),
        &["allowed_answer_states", "not_indeterminate"],
    );
    check(
        |c| {
            c.allow_indeterminate = true;
            c.allowed_answer_states.push("degraded".into());
        },
        |a| a["state"] = json!("degraded"),
        &[],
    );
    // A missing structured path, and a structured answer with a wrong or missing leaf.
    check(
        |_| {},
        |a| {
            a["fields"]
                .as_object_mut()
                .map(|f| f.remove("process_name"));
        },
        &["expected_path fields.process_name"],
    );
    check(
        |_| {},
        |a| a["fields"]["timeline"] = json!([{"window_title": "A"}]),
        &["expected_path fields.timeline.#", "expected_answer"],
    );
    check(
        |_| {},
        |a| a["fields"]["timeline"][1]["window_title"] = json!("C"),
        &["expected_answer"],
    );
    // A bbox under the IoU bar (shifted by half its width), and one that is missing.
    check(
        |_| {},
        |a| a["fields"]["bbox"] = json!([960, 300, 1760, 760]),
        &["expected_bbox"],
    );
    check(
        |_| {},
        |a| {
            a["fields"].as_object_mut().map(|f| f.remove("bbox"));
        },
        &["expected_bbox"],
    );
    // A measured figure outside its range.
    check(
        |c| {
            c.expected_paths.push(PathCheck {
                path: "fields.focus_seconds".into(),
                expect: PathExpect::Between([100.0, 200.0]),
            })
        },
        |a| a["fields"]["focus_seconds"] = json!(250),
        &["expected_path fields.focus_seconds"],
    );
    // An answer that should have abstained.
    check(
        |c| {
            *c = Checks {
                allowed_answer_states: vec!["no_evidence".into()],
                require_citations: false,
                ..Checks::default()
            }
        },
        |_| {},
        &["allowed_answer_states"],
    );
}

#[test]
fn text_matching_is_case_folded_and_digits_are_bounded() {
    assert!(contains_text("Totals:  $5,816.75", "totals: $5,816.75"));
    assert!(contains_text("3 windows", "3"));
    assert!(!contains_text("2120 frames", "12"));
    assert!(contains_text("at 12:08", "12"));
    assert!(contains_text("x 212, 12 y", "12"));
    assert!(!contains_text("1318 invoices", "318 invoices"));
    assert!(contains_text("reconciled 318 invoices", "318 INVOICES"));
    assert!(contains_text("INC-4821x", "inc-4821"));
    assert_eq!(
        lookup(&answer(), "fields.timeline.1.window_title"),
        Some(json!("B"))
    );
    assert_eq!(lookup(&answer(), "fields.nothing"), None);
    assert!((iou([0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]) - 1.0).abs() < 1e-9);
    assert!((iou([0.0, 0.0, 10.0, 10.0], [5.0, 0.0, 15.0, 10.0]) - 1.0 / 3.0).abs() < 1e-9);
}

fn case(id: &str) -> Case {
    Case {
        id: id.into(),
        class: "focus_at".into(),
        question: "which window had focus at 10:20:30?".into(),
        phrasings: Vec::new(),
        checks: checks(),
    }
}

fn runs(id: &str, n: usize, latency_ms: f64) -> CaseRuns {
    CaseRuns {
        id: id.into(),
        question: case(id).question,
        runs: (0..n)
            .map(|_| Observed {
                answer: answer(),
                latency_ms,
            })
            .collect(),
    }
}

fn policy(expected_cases: usize) -> Policy {
    Policy {
        expected_cases,
        repro_runs: 3,
        latency_p95_budget_ms: 5.0,
    }
}

fn reasons(report: &autocapture_gates::golden::report::GoldenReport) -> Vec<&str> {
    report
        .failure_reasons
        .iter()
        .map(|r| r.split(':').next().unwrap_or_default())
        .collect()
}

#[test]
fn a_strict_run_passes_only_when_everything_holds() {
    let cases = [case("a"), case("b")];
    let report = evaluate(&cases, &[runs("a", 3, 1.0), runs("b", 3, 2.0)], &policy(2));
    assert!(report.passed, "{}", report.table());
    assert_eq!(
        (
            report.evaluated_total,
            report.evaluated_passed,
            report.evaluated_failed,
            report.rows_skipped
        ),
        (2, 2, 0, 0)
    );
    assert_eq!(report.latency.p95_ms, 2.0);
}

#[test]
fn a_skipped_case_fails_the_run() {
    let cases = [case("a"), case("b")];
    let report = evaluate(&cases, &[runs("a", 3, 1.0)], &policy(2));
    assert!(!report.passed);
    assert_eq!(report.rows_skipped, 1);
    assert!(report.rows[1].skipped && !report.rows[1].passed);
    assert_eq!(
        reasons(&report),
        ["strict_evaluated_mismatch", "strict_skipped_nonzero"]
    );
}

#[test]
fn fewer_cases_than_required_fail_the_run() {
    let report = evaluate(&[case("a")], &[runs("a", 3, 1.0)], &policy(40));
    assert_eq!(reasons(&report), ["strict_evaluated_mismatch"]);
}

#[test]
fn a_failed_case_fails_the_run() {
    let mut wrong = runs("b", 3, 1.0);
    for run in &mut wrong.runs {
        run.answer["fields"]["window_title"] = json!("Calendar");
    }
    let report = evaluate(
        &[case("a"), case("b")],
        &[runs("a", 3, 1.0), wrong],
        &policy(2),
    );
    assert_eq!(reasons(&report), ["strict_failed_nonzero"]);
    assert_eq!(report.evaluated_failed, 1);
}

#[test]
fn a_non_deterministic_repro_fails_the_case() {
    let mut flaky = runs("a", 3, 1.0);
    flaky.runs[2].answer["bullets"] = json!(["Save As — 3 buttons"]);
    let report = evaluate(&[case("a")], &[flaky], &policy(1));
    assert_eq!(
        reasons(&report),
        ["strict_failed_nonzero", "strict_repro_mismatch"]
    );
    // Fewer runs than the policy asks for are not a repro either.
    let report = evaluate(&[case("a")], &[runs("a", 2, 1.0)], &policy(1));
    assert_eq!(
        reasons(&report),
        ["strict_failed_nonzero", "strict_repro_mismatch"]
    );
    // Only summary, bullets and fields count: a different citation order is the same answer.
    let mut reordered = runs("a", 3, 1.0);
    reordered.runs[1].answer["citations"] = json!([]);
    reordered.runs[1].answer["citations"] = answer()["citations"].clone();
    reordered.runs[1].answer["latency_ms_total"] = json!(7);
    assert!(evaluate(&[case("a")], &[reordered], &policy(1)).passed);
}

#[test]
fn latency_over_budget_and_nonzero_counters_fail_the_run() {
    let report = evaluate(&[case("a")], &[runs("a", 3, 6.0)], &policy(1));
    assert_eq!(reasons(&report), ["strict_latency_over_budget"]);
    let mut counted = runs("a", 3, 1.0);
    counted.runs[0].answer["counters"]["query_raw_media_reads_total"] = json!(1);
    let report = evaluate(&[case("a")], &[counted], &policy(1));
    assert_eq!(reasons(&report), ["strict_query_counters_nonzero"]);
    // A target that does not report its counters cannot show they stayed 0.
    let mut silent = runs("a", 3, 1.0);
    for run in &mut silent.runs {
        run.answer.as_object_mut().map(|a| a.remove("counters"));
    }
    let report = evaluate(&[case("a")], &[silent], &policy(1));
    assert_eq!(reasons(&report), ["strict_query_counters_nonzero"]);
}

/// The runs of one phrasing of case `id`.
fn phrased(id: &str, question: &str, answer: Value) -> CaseRuns {
    CaseRuns {
        id: id.into(),
        question: question.into(),
        runs: (0..3)
            .map(|_| Observed {
                answer: answer.clone(),
                latency_ms: 1.0,
            })
            .collect(),
    }
}

#[test]
fn a_case_passes_only_when_every_phrasing_passes() {
    let mut with_phrasings = case("a");
    with_phrasings.phrasings = vec![
        "what was up front at 10:20:30 am".into(),
        "at 10:20:30 which window had my focus".into(),
    ];
    let all_good: Vec<CaseRuns> = with_phrasings
        .questions()
        .map(|q| phrased("a", q, answer()))
        .collect();
    let report = evaluate(std::slice::from_ref(&with_phrasings), &all_good, &policy(1));
    assert!(report.passed, "{}", report.table());
    assert_eq!((report.phrasings_total, report.phrasings_passed), (3, 3));
    assert_eq!(report.rows[0].phrasings.len(), 2);

    // One phrasing answered wrongly fails the case, and the table names that phrasing.
    let mut one_wrong = all_good.clone();
    for run in &mut one_wrong[2].runs {
        run.answer["fields"]["window_title"] = json!("Calendar");
    }
    let report = evaluate(
        std::slice::from_ref(&with_phrasings),
        &one_wrong,
        &policy(1),
    );
    assert_eq!(reasons(&report), ["strict_failed_nonzero"]);
    assert_eq!((report.phrasings_total, report.phrasings_passed), (3, 2));
    assert!(!report.rows[0].passed && !report.rows[0].phrasings[1].passed);
    let table = report.table();
    let failing = table
        .lines()
        .find(|l| l.starts_with("FAIL"))
        .expect("a FAIL line");
    assert!(
        failing.contains("at 10:20:30 which window had my focus"),
        "{table}"
    );

    // A phrasing that was never asked leaves its case skipped, never passed.
    let report = evaluate(
        std::slice::from_ref(&with_phrasings),
        &all_good[..2],
        &policy(1),
    );
    assert!(!report.passed && report.rows[0].skipped);
    assert_eq!(report.rows_skipped, 1);
    assert!(reasons(&report).contains(&"strict_skipped_nonzero"));

    // A non-deterministic phrasing is a repro mismatch of its case.
    let mut flaky = all_good.clone();
    flaky[1].runs[2].answer["bullets"] = json!(["Save As — 3 buttons"]);
    let report = evaluate(std::slice::from_ref(&with_phrasings), &flaky, &policy(1));
    assert!(reasons(&report).contains(&"strict_repro_mismatch"));
}
