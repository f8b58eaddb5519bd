//! The strict evaluator (CONTRACT §9), a pure function over values: cases, the answers each
//! run gave (popup-shaped JSON) and their latencies in, a report out. A case fails on any
//! failed check; a case without its runs is skipped, and a skipped case fails the run.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::cases::{BboxExpect, Case, Checks, PathExpect, frame_seq};
use super::report::{CheckRow, GoldenReport, LatencySummary, Row};

/// What a target answered to one run of a case.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// The popup-shaped answer: `state`, `summary`, `bullets`, `fields`, `citations`, `counters`.
    pub answer: Value,
    pub latency_ms: f64,
}

/// The answers to one question of a case (its question or one of its phrasings): one per repro
/// run; empty when it was not asked.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseRuns {
    pub id: String,
    pub question: String,
    pub runs: Vec<Observed>,
}

/// The strict policy of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub expected_cases: usize,
    pub repro_runs: usize,
    pub latency_p95_budget_ms: f64,
}

/// Collapses whitespace and folds case.
fn fold(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Case-folded substring match. An all-digit token at either end of the needle must not touch
/// other digits in the haystack (`12` is not found in `2120`, `318 invoices` not in `1318 invoices`).
pub fn contains_text(haystack: &str, needle: &str) -> bool {
    let (haystack, needle) = (fold(haystack), fold(needle));
    if needle.is_empty() {
        return true;
    }
    let all_digits = |token: Option<&str>| {
        token.is_some_and(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()))
    };
    let bound_start = all_digits(needle.split(' ').next());
    let bound_end = all_digits(needle.rsplit(' ').next());
    let mut from = 0;
    while let Some(offset) = haystack[from..].find(&needle) {
        let start = from + offset;
        let end = start + needle.len();
        let before = haystack[..start].chars().next_back();
        let after = haystack[end..].chars().next();
        let digit = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit());
        let touches = (bound_start && digit(before)) || (bound_end && digit(after));
        if !touches {
            return true;
        }
        from = start + haystack[start..].chars().next().map_or(1, char::len_utf8);
    }
    false
}

/// The value at a dotted path (`fields.windows.0.window_title`; a final `#` is an array's length).
pub fn lookup(value: &Value, path: &str) -> Option<Value> {
    let mut current = value;
    let parts: Vec<&str> = path.split('.').collect();
    for (index, part) in parts.iter().enumerate() {
        if *part == "#" && index == parts.len() - 1 {
            return current.as_array().map(|a| json!(a.len()));
        }
        current = match current {
            Value::Object(map) => map.get(*part)?,
            Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current.clone())
}

/// Every leaf of `expected` exists in `actual` and equals it; the first mismatch otherwise.
fn leaves_match(expected: &Value, actual: &Value, at: &str) -> Result<(), String> {
    match expected {
        Value::Object(map) => {
            for (key, want) in map {
                let path = if at.is_empty() {
                    key.clone()
                } else {
                    format!("{at}.{key}")
                };
                let got = actual
                    .get(key)
                    .ok_or_else(|| format!("{path} is missing"))?;
                leaves_match(want, got, &path)?;
            }
            Ok(())
        }
        Value::Array(items) => {
            let got = actual
                .as_array()
                .ok_or_else(|| format!("{at} is not a list"))?;
            for (index, want) in items.iter().enumerate() {
                let path = format!("{at}.{index}");
                let got = got.get(index).ok_or_else(|| format!("{path} is missing"))?;
                leaves_match(want, got, &path)?;
            }
            Ok(())
        }
        leaf => {
            if numbers_equal(leaf, actual) || leaf == actual {
                Ok(())
            } else {
                Err(format!("{at}: expected {leaf}, got {actual}"))
            }
        }
    }
}

fn numbers_equal(a: &Value, b: &Value) -> bool {
    matches!((a.as_f64(), b.as_f64()), (Some(x), Some(y)) if x == y)
}

/// Intersection over union of two `[left, top, right, bottom]` boxes.
pub fn iou(a: [f64; 4], b: [f64; 4]) -> f64 {
    let area = |r: [f64; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let inter = [
        a[0].max(b[0]),
        a[1].max(b[1]),
        a[2].min(b[2]),
        a[3].min(b[3]),
    ];
    let i = area(inter);
    let union = area(a) + area(b) - i;
    if union <= 0.0 { 0.0 } else { i / union }
}

/// The determinism signature of an answer: sha256 of `{summary, bullets, fields}`.
pub fn signature(answer: &Value) -> String {
    let core = json!({
        "summary": answer["summary"],
        "bullets": answer["bullets"],
        "fields": answer["fields"],
    });
    let bytes = serde_json::to_vec(&core).unwrap_or_default();
    hex::encode(Sha256::digest(&bytes))
}

fn answer_text(answer: &Value) -> String {
    let mut text = answer["summary"].as_str().unwrap_or_default().to_owned();
    for bullet in answer["bullets"].as_array().into_iter().flatten() {
        text.push('\n');
        text.push_str(bullet.as_str().unwrap_or_default());
    }
    text
}

struct Recorder(Vec<CheckRow>);

impl Recorder {
    fn check(&mut self, name: &str, passed: bool, detail: impl FnOnce() -> String) {
        self.0.push(CheckRow {
            name: name.to_owned(),
            passed,
            detail: if passed { String::new() } else { detail() },
        });
    }
}

/// Whether an answer is indeterminate: degraded or in error, or saying so itself.
fn indeterminate(answer: &Value) -> bool {
    matches!(answer["state"].as_str(), Some("degraded" | "error"))
        || answer["fields"]["indeterminate"] == true
}

/// Whether an answer is partial: it needs more processing or says it is partial.
fn partial(answer: &Value) -> bool {
    answer["needs_processing"] == true || answer["fields"]["partial"] == true
}

fn truncated(answer: &Value) -> bool {
    let text = answer_text(answer);
    text.contains("...") || text.contains('…')
}

fn check_bbox(rec: &mut Recorder, expect: &BboxExpect, answer: &Value) {
    let got = lookup(answer, &expect.path).and_then(|v| {
        let n: Vec<f64> = v.as_array()?.iter().filter_map(Value::as_f64).collect();
        <[f64; 4]>::try_from(n).ok()
    });
    match got {
        None => rec.check("expected_bbox", false, || {
            format!("{} is missing or not a box", expect.path)
        }),
        Some(bbox) => {
            let overlap = iou(expect.bbox, bbox);
            rec.check("expected_bbox", overlap >= expect.min_iou, || {
                format!(
                    "IoU {overlap:.3} < {} (expected {:?}, got {bbox:?})",
                    expect.min_iou, expect.bbox
                )
            });
        }
    }
}

fn check_evidence(rec: &mut Recorder, checks: &Checks, answer: &Value) {
    let citations: Vec<&Value> = answer["citations"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    if checks.require_citations {
        rec.check("require_citations", !citations.is_empty(), || {
            "the answer cites nothing".into()
        });
    }
    if let Some(allowed) = &checks.allowed_evidence {
        let outside: Vec<String> = citations
            .iter()
            .filter(|c| {
                let frame = c["frame_id"]
                    .as_str()
                    .or_else(|| {
                        (c["record_type"] == "evidence.capture.frame")
                            .then(|| c["record_id"].as_str())
                            .flatten()
                    })
                    .and_then(frame_seq);
                !allowed.iter().any(|rule| {
                    c["record_type"].as_str() == Some(rule.record_type.as_str())
                        && rule.frames.is_none_or(|[lo, hi]| {
                            frame.is_some_and(|seq| (lo..=hi).contains(&seq))
                        })
                })
            })
            .map(|c| {
                format!(
                    "{} ({}{})",
                    c["record_id"].as_str().unwrap_or_default(),
                    c["record_type"].as_str().unwrap_or_default(),
                    c["frame_id"]
                        .as_str()
                        .map(|f| format!(" on {f}"))
                        .unwrap_or_default()
                )
            })
            .collect();
        rec.check("cited_within_allowed_evidence", outside.is_empty(), || {
            format!("cited outside the allowed evidence: {}", outside.join(", "))
        });
    }
    if !checks.required_evidence.is_empty() {
        let cited: BTreeSet<&str> = citations
            .iter()
            .flat_map(|c| [c["record_id"].as_str(), c["frame_id"].as_str()])
            .flatten()
            .collect();
        let missing: Vec<&str> = checks
            .required_evidence
            .iter()
            .map(String::as_str)
            .filter(|id| !cited.contains(id))
            .collect();
        rec.check("cites_required_evidence", missing.is_empty(), || {
            format!("required evidence not cited: {}", missing.join(", "))
        });
    }
}

/// The checks of one answer against one case.
pub fn check_answer(checks: &Checks, answer: &Value) -> Vec<CheckRow> {
    let mut rec = Recorder(Vec::new());
    let state = answer["state"].as_str().unwrap_or("missing");
    rec.check(
        "allowed_answer_states",
        checks.allowed_answer_states.iter().any(|s| s == state),
        || format!("state {state} not in {:?}", checks.allowed_answer_states),
    );
    if !checks.allow_indeterminate {
        rec.check("not_indeterminate", !indeterminate(answer), || {
            format!("the answer is indeterminate (state {state})")
        });
    }
    rec.check("not_partial", !partial(answer), || {
        "the answer is partial (needs processing or marked partial)".into()
    });
    rec.check("not_truncated", !truncated(answer), || {
        "the answer is truncated (`...` or `…`)".into()
    });
    let text = answer_text(answer);
    if !checks.expected_contains_all.is_empty() {
        let missing: Vec<&str> = checks
            .expected_contains_all
            .iter()
            .map(String::as_str)
            .filter(|n| !contains_text(&text, n))
            .collect();
        rec.check("expected_contains_all", missing.is_empty(), || {
            format!("missing {missing:?}")
        });
    }
    if !checks.expected_contains_any.is_empty() {
        rec.check(
            "expected_contains_any",
            checks
                .expected_contains_any
                .iter()
                .any(|n| contains_text(&text, n)),
            || format!("none of {:?}", checks.expected_contains_any),
        );
    }
    if let Some(summary) = &checks.expected_exact_summary {
        let got = answer["summary"].as_str().unwrap_or_default();
        rec.check("expected_exact_summary", fold(got) == fold(summary), || {
            format!("expected {summary:?}, got {got:?}")
        });
    }
    for path_check in &checks.expected_paths {
        let name = format!("expected_path {}", path_check.path);
        match lookup(answer, &path_check.path) {
            None => rec.check(&name, false, || format!("{} is missing", path_check.path)),
            Some(got) => {
                let passed = match &path_check.expect {
                    PathExpect::Equals(want) => numbers_equal(want, &got) || *want == got,
                    PathExpect::Contains(want) => match &got {
                        Value::String(text) => contains_text(text, want),
                        other => contains_text(&other.to_string(), want),
                    },
                    PathExpect::Between([low, high]) => {
                        got.as_f64().is_some_and(|v| *low <= v && v <= *high)
                    }
                };
                rec.check(&name, passed, || {
                    format!("expected {:?}, got {got}", path_check.expect)
                });
            }
        }
    }
    if let Some(expected) = &checks.expected_answer {
        let outcome = leaves_match(expected, answer, "");
        rec.check("expected_answer", outcome.is_ok(), || {
            outcome.err().unwrap_or_default()
        });
    }
    if let Some(expect) = &checks.expected_bbox {
        check_bbox(&mut rec, expect, answer);
    }
    check_evidence(&mut rec, checks, answer);
    rec.0
}

/// Evaluates one question of a case (its question or a phrasing) over its runs.
pub fn evaluate_case(
    case: &Case,
    question: &str,
    runs: Option<&CaseRuns>,
    repro_runs: usize,
) -> Row {
    let runs = runs.map(|r| r.runs.as_slice()).unwrap_or_default();
    let Some(first) = runs.first() else {
        return Row {
            id: case.id.clone(),
            class: case.class.clone(),
            question: question.to_owned(),
            phrasings: Vec::new(),
            passed: false,
            skipped: true,
            answer_state: None,
            summary: None,
            latency_ms_max: None,
            checks: vec![CheckRow {
                name: "evaluated".into(),
                passed: false,
                detail: "the case was not run (skipped)".into(),
            }],
        };
    };
    let mut checks = check_answer(&case.checks, &first.answer);
    let signatures: BTreeSet<String> = runs.iter().map(|r| signature(&r.answer)).collect();
    checks.push(CheckRow {
        name: "repro_identical".into(),
        passed: runs.len() == repro_runs && signatures.len() == 1,
        detail: if runs.len() != repro_runs {
            format!("{} runs instead of {repro_runs}", runs.len())
        } else if signatures.len() != 1 {
            format!(
                "{} different signatures over {} runs",
                signatures.len(),
                runs.len()
            )
        } else {
            String::new()
        },
    });
    Row {
        id: case.id.clone(),
        class: case.class.clone(),
        question: question.to_owned(),
        phrasings: Vec::new(),
        passed: checks.iter().all(|c| c.passed),
        skipped: false,
        answer_state: first.answer["state"].as_str().map(str::to_owned),
        summary: first.answer["summary"].as_str().map(str::to_owned),
        latency_ms_max: runs.iter().map(|r| r.latency_ms).reduce(f64::max),
        checks,
    }
}

/// Nearest-rank percentile (`ceil(p·n) − 1`) of unsorted samples.
pub fn percentile(samples: &[f64], p: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[rank]
}

fn counters_total(answer: &Value) -> u64 {
    [
        "query_extractor_launch_total",
        "query_schedule_extract_requests_total",
        "query_raw_media_reads_total",
    ]
    .iter()
    .map(|k| answer["counters"][k].as_u64().unwrap_or(0))
    .sum()
}

/// Evaluates a whole run strictly.
pub fn evaluate(cases: &[Case], observed: &[CaseRuns], policy: &Policy) -> GoldenReport {
    let rows: Vec<Row> = cases
        .iter()
        .map(|case| {
            let mut asked = case.questions().map(|question| {
                let runs = observed
                    .iter()
                    .find(|o| o.id == case.id && o.question == question);
                evaluate_case(case, question, runs, policy.repro_runs)
            });
            let mut row = asked.next().expect("a case asks at least its question");
            row.phrasings = asked.collect();
            row.passed = row.passed && row.phrasings.iter().all(|p| p.passed);
            row.skipped = row.skipped || row.phrasings.iter().any(|p| p.skipped);
            row
        })
        .collect();
    let questions = || rows.iter().flat_map(Row::asked);
    let phrasings_total = questions().count();
    let phrasings_passed = questions().filter(|q| q.question_passed()).count();
    let evaluated_total = rows.iter().filter(|r| !r.skipped).count();
    let evaluated_passed = rows.iter().filter(|r| !r.skipped && r.passed).count();
    let evaluated_failed = evaluated_total - evaluated_passed;
    let rows_skipped = rows.len() - evaluated_total;
    let samples: Vec<f64> = observed
        .iter()
        .flat_map(|o| o.runs.iter().map(|r| r.latency_ms))
        .collect();
    let latency = LatencySummary {
        samples: samples.len(),
        p50_ms: percentile(&samples, 0.50),
        p95_ms: percentile(&samples, 0.95),
        budget_p95_ms: policy.latency_p95_budget_ms,
    };
    // Answers the counters cannot be read from count as nonzero: the target must report them.
    let counters: u64 = observed
        .iter()
        .flat_map(|o| o.runs.iter())
        .map(|r| {
            if r.answer["counters"].is_object() {
                counters_total(&r.answer)
            } else {
                1
            }
        })
        .sum();
    let nondeterministic: Vec<String> = rows
        .iter()
        .filter(|r| {
            r.asked()
                .flat_map(|q| q.checks.iter())
                .any(|c| c.name == "repro_identical" && !c.passed)
        })
        .map(|r| r.id.clone())
        .collect();
    let mut failure_reasons = Vec::new();
    if evaluated_total != policy.expected_cases || cases.len() != policy.expected_cases {
        failure_reasons.push(format!(
            "strict_evaluated_mismatch: evaluated {evaluated_total} of {} cases; {} required",
            cases.len(),
            policy.expected_cases
        ));
    }
    if rows_skipped != 0 {
        failure_reasons.push(format!("strict_skipped_nonzero: {rows_skipped} skipped"));
    }
    if evaluated_failed != 0 {
        let failed: Vec<&str> = rows
            .iter()
            .filter(|r| !r.skipped && !r.passed)
            .map(|r| r.id.as_str())
            .collect();
        failure_reasons.push(format!(
            "strict_failed_nonzero: {evaluated_failed} failed ({})",
            failed.join(", ")
        ));
    }
    if !nondeterministic.is_empty() {
        failure_reasons.push(format!(
            "strict_repro_mismatch: {}",
            nondeterministic.join(", ")
        ));
    }
    if samples.is_empty() || latency.p95_ms > policy.latency_p95_budget_ms {
        failure_reasons.push(format!(
            "strict_latency_over_budget: p95 {:.3} ms over {} samples, budget {} ms",
            latency.p95_ms, latency.samples, policy.latency_p95_budget_ms
        ));
    }
    if counters != 0 {
        failure_reasons.push(format!(
            "strict_query_counters_nonzero: {counters} extractor, schedule or raw-media events"
        ));
    }
    GoldenReport {
        passed: failure_reasons.is_empty(),
        evaluated_total,
        evaluated_passed,
        evaluated_failed,
        rows_skipped,
        phrasings_total,
        phrasings_passed,
        repro_runs: policy.repro_runs,
        query_counters_total: counters,
        latency,
        failure_reasons,
        rows,
        source: None,
    }
}
