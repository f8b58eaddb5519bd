//! Golden case templates and their instantiation ([`super::rules`] computes each check).
//! `fixtures/golden/q40.toml` holds templates:
//! a question as a person would ask it and a `truth` rule saying how to compute its expected
//! answer from a corpus's `truth.json`. Instantiating the templates on a corpus gives concrete
//! cases with the checks of CONTRACT §9; the same templates work on any seed of the story.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The case file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    pub schema: String,
    /// Query latency p95 budget over the run, in milliseconds (optimised builds).
    pub latency_p95_budget_ms: f64,
    /// The same for unoptimised (debug) builds of the harness and the embedded core.
    pub latency_p95_budget_ms_unoptimized: f64,
    #[serde(rename = "case")]
    pub cases: Vec<CaseTemplate>,
}

pub const CASE_FILE_SCHEMA: &str = "autocapture.golden.cases.v1";

/// The golden classes; two cases each.
pub const CLASSES: [&str; 20] = [
    "window_inventory",
    "focus_at",
    "focus_timeline",
    "focus_adjacent",
    "usage_duration",
    "first_last_seen",
    "search_citation",
    "detail_fields",
    "list_items",
    "browser_chrome",
    "dialog_controls",
    "process_owner",
    "counting",
    "sums",
    "elapsed",
    "app_range",
    "element_grounding",
    "cross_window",
    "multi_step",
    "abstention",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseTemplate {
    pub id: String,
    pub class: String,
    pub question: String,
    /// Other ways a person asks the same question; every one must pass every check.
    #[serde(default)]
    pub phrasings: Vec<String>,
    pub truth: Rule,
    /// Literal texts the answer must hold whatever the seed.
    #[serde(default)]
    pub expected_contains_all: Vec<String>,
    #[serde(default)]
    pub allow_indeterminate: bool,
}

/// How a case's expectation follows from `truth.json`. Times are `HH:MM[:SS]` on the story's
/// day (the end of that second, as the query language reads them); windows and apps are the
/// story's ids.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case", deny_unknown_fields)]
pub enum Rule {
    WindowsOpenAt {
        at: String,
    },
    FocusAt {
        at: String,
    },
    FocusAdjacent {
        at: String,
        before: bool,
    },
    FocusTimeline {
        from: String,
        to: String,
    },
    FocusSeconds {
        app: String,
        #[serde(default)]
        from: Option<String>,
        #[serde(default)]
        to: Option<String>,
    },
    Seen {
        text: String,
        first: bool,
    },
    WindowShowing {
        text: String,
    },
    Fields {
        window: String,
        at: String,
    },
    ListItems {
        window: String,
        at: String,
        section: String,
    },
    BrowserChrome {
        window: String,
        at: String,
    },
    Controls {
        window: String,
        at: String,
        roles: Vec<String>,
    },
    ProcessOwner {
        window: String,
    },
    Count {
        window: String,
        at: String,
        section: String,
        role: String,
        #[serde(default)]
        flag: Option<String>,
    },
    Sum {
        window: String,
        at: String,
    },
    Elapsed {
        from_text: String,
        to_text: String,
    },
    WindowsUsed {
        app: String,
        from: String,
        to: String,
    },
    Bbox {
        name: String,
        at: String,
    },
    Correlate {
        text: String,
    },
    ArrivedWhile {
        window: String,
    },
    NoEvidence,
}

/// A check on the value at a dotted path of the answer (`fields.windows.#` is a length).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathCheck {
    pub path: String,
    #[serde(flatten)]
    pub expect: PathExpect,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathExpect {
    Equals(Value),
    Contains(String),
    /// A measured figure within `[low, high]`.
    Between([f64; 2]),
}

/// Citations a case accepts: of this record type and, when `frames` is given, cited on a
/// frame whose sequence number lies in that inclusive range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceRule {
    pub record_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames: Option<[u64; 2]>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BboxExpect {
    pub path: String,
    pub bbox: [f64; 4],
    pub min_iou: f64,
}

/// The checks of one case (CONTRACT §9).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checks {
    #[serde(default)]
    pub expected_contains_all: Vec<String>,
    #[serde(default)]
    pub expected_contains_any: Vec<String>,
    #[serde(default)]
    pub expected_exact_summary: Option<String>,
    #[serde(default)]
    pub expected_paths: Vec<PathCheck>,
    /// Structured: every leaf must exist in the answer and match.
    #[serde(default)]
    pub expected_answer: Option<Value>,
    #[serde(default)]
    pub expected_bbox: Option<BboxExpect>,
    pub allowed_answer_states: Vec<String>,
    pub require_citations: bool,
    /// `None`: any citation is allowed.
    #[serde(default)]
    pub allowed_evidence: Option<Vec<EvidenceRule>>,
    #[serde(default)]
    pub required_evidence: Vec<String>,
    #[serde(default)]
    pub allow_indeterminate: bool,
}

impl Default for Checks {
    fn default() -> Self {
        Checks {
            expected_contains_all: Vec::new(),
            expected_contains_any: Vec::new(),
            expected_exact_summary: None,
            expected_paths: Vec::new(),
            expected_answer: None,
            expected_bbox: None,
            allowed_answer_states: vec!["ok".into()],
            require_citations: true,
            allowed_evidence: None,
            required_evidence: Vec::new(),
            allow_indeterminate: false,
        }
    }
}

/// A concrete case: a question, the other phrasings of it, and the checks every one must pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub id: String,
    pub class: String,
    pub question: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phrasings: Vec<String>,
    pub checks: Checks,
}

impl Case {
    /// The question, then each phrasing: everything a run asks for this case.
    pub fn questions(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.question.as_str()).chain(self.phrasings.iter().map(String::as_str))
    }
}

/// A file of further phrasings for a case file's cases (`--phrasings`), by case id.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhrasingFile {
    pub schema: String,
    #[serde(rename = "case")]
    pub cases: Vec<CasePhrasings>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CasePhrasings {
    pub id: String,
    pub phrasings: Vec<String>,
}

pub const PHRASING_FILE_SCHEMA: &str = "autocapture.golden.phrasings.v1";

/// Adds a phrasing file's phrasings to the cases they name, and returns those it skipped as
/// `(case id, phrasing)` because the case already asks them (another writer may have asked the
/// same). An id the case file lacks, or an empty phrasing, is refused with the case named.
pub fn add_phrasings(file: &mut CaseFile, text: &str) -> Result<Vec<(String, String)>, CaseError> {
    let extra: PhrasingFile =
        toml::from_str(text).map_err(|e| case_err("phrasings", format!("parse: {e}")))?;
    if extra.schema != PHRASING_FILE_SCHEMA {
        return Err(case_err(
            "phrasings",
            format!("schema {:?} is not {PHRASING_FILE_SCHEMA}", extra.schema),
        ));
    }
    let mut skipped = Vec::new();
    for entry in extra.cases {
        let case = file
            .cases
            .iter_mut()
            .find(|c| c.id == entry.id)
            .ok_or_else(|| case_err(&entry.id, "the case file has no case with this id"))?;
        for phrasing in entry.phrasings {
            match check_phrasing(case, &phrasing) {
                Err(e) if e.detail.contains("asked twice") => {
                    skipped.push((case.id.clone(), phrasing));
                }
                Err(e) => return Err(e),
                Ok(()) => case.phrasings.push(phrasing),
            }
        }
    }
    Ok(skipped)
}

/// A phrasing must say something and must not repeat what the case already asks.
fn check_phrasing(case: &CaseTemplate, phrasing: &str) -> Result<(), CaseError> {
    if phrasing.trim().is_empty() {
        return Err(case_err(&case.id, "empty phrasing"));
    }
    let same = |a: &str| a.trim().eq_ignore_ascii_case(phrasing.trim());
    if same(&case.question) || case.phrasings.iter().any(|p| same(p)) {
        return Err(case_err(
            &case.id,
            format!("the phrasing {phrasing:?} is asked twice"),
        ));
    }
    Ok(())
}

/// A case file or truth that cannot give cases, naming the case at fault.
#[derive(Debug, thiserror::Error)]
#[error("golden case {case}: {detail}")]
pub struct CaseError {
    pub case: String,
    pub detail: String,
}

impl CaseError {
    pub fn code(&self) -> &'static str {
        "golden_case_invalid"
    }
}

pub(super) fn case_err(case: &str, detail: impl Into<String>) -> CaseError {
    CaseError {
        case: case.to_owned(),
        detail: detail.into(),
    }
}

/// Parses and checks a case file: the schema tag, unique ids, known classes, two per class.
pub fn parse_case_file(text: &str) -> Result<CaseFile, CaseError> {
    let file: CaseFile =
        toml::from_str(text).map_err(|e| case_err("file", format!("parse: {e}")))?;
    if file.schema != CASE_FILE_SCHEMA {
        return Err(case_err(
            "file",
            format!("schema {:?} is not {CASE_FILE_SCHEMA}", file.schema),
        ));
    }
    for budget in [
        file.latency_p95_budget_ms,
        file.latency_p95_budget_ms_unoptimized,
    ] {
        if !(budget.is_finite() && budget > 0.0) {
            return Err(case_err("file", "latency budgets must be positive numbers"));
        }
    }
    let mut per_class: BTreeMap<&str, usize> = BTreeMap::new();
    let mut ids = std::collections::BTreeSet::new();
    for case in &file.cases {
        if !ids.insert(case.id.as_str()) {
            return Err(case_err(&case.id, "duplicate id"));
        }
        if !CLASSES.contains(&case.class.as_str()) {
            return Err(case_err(
                &case.id,
                format!("unknown class {:?}", case.class),
            ));
        }
        if case.question.trim().is_empty() {
            return Err(case_err(&case.id, "empty question"));
        }
        let mut asked = CaseTemplate {
            phrasings: Vec::new(),
            ..case.clone()
        };
        for phrasing in &case.phrasings {
            check_phrasing(&asked, phrasing)?;
            asked.phrasings.push(phrasing.clone());
        }
        *per_class.entry(case.class.as_str()).or_insert(0) += 1;
    }
    for class in CLASSES {
        let n = per_class.get(class).copied().unwrap_or(0);
        if n != 2 {
            return Err(case_err(
                "file",
                format!("class {class} has {n} cases; it needs 2"),
            ));
        }
    }
    Ok(file)
}

/// The sequence number of a frame id (`run/evidence.capture.frame/N`).
pub fn frame_seq(frame_id: &str) -> Option<u64> {
    frame_id.rsplit('/').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::super::rules::instantiate;
    use super::*;
    use serde_json::json;

    #[test]
    fn frame_sequence_numbers() {
        assert_eq!(frame_seq("run1/evidence.capture.frame/42"), Some(42));
        assert_eq!(frame_seq("run1/evidence.window.meta/x"), None);
    }

    #[test]
    fn bad_templates_are_refused_by_case() {
        let one = |id: &str, rule: &str| {
            format!(
                "[[case]]\nid = \"{id}\"\nclass = \"focus_at\"\nquestion = \"q\"\ntruth = {rule}\n"
            )
        };
        let mut text = format!(
            "schema = \"{CASE_FILE_SCHEMA}\"\nlatency_p95_budget_ms = 5.0\nlatency_p95_budget_ms_unoptimized = 50.0\n"
        );
        text.push_str(&one(
            "unknown_window",
            "{ rule = \"process_owner\", window = \"nope\" }",
        ));
        text.push_str(&one("bad_time", "{ rule = \"focus_at\", at = \"7pm\" }"));
        let file: CaseFile = toml::from_str(&text).expect("parses");
        let truth = json!({
            "story": {"date": "2026-02-20"}, "focus_timeline": [], "screens": [], "events": [],
            "windows": [], "texts": {}, "handoffs": [], "frames_total": 0,
        });
        let err = instantiate(&file, &truth).expect_err("unknown window");
        assert_eq!(
            (err.case.as_str(), err.code()),
            ("unknown_window", "golden_case_invalid")
        );
        let err = instantiate(
            &CaseFile {
                cases: file.cases[1..].to_vec(),
                ..file.clone()
            },
            &truth,
        )
        .expect_err("bad time");
        assert_eq!(err.case, "bad_time");
        assert!(err.detail.contains("HH:MM"), "{err}");
        let err = instantiate(&file, &json!({})).expect_err("no truth");
        assert_eq!(err.case, "truth");
        // An unknown key in a rule is refused when parsing.
        let text = text.replace("at = \"7pm\"", "at = \"07:00\", when = 1");
        assert!(parse_case_file(&text).is_err());
    }

    #[test]
    fn phrasings_are_added_by_case_id_and_never_twice() {
        let mut file = parse_case_file(crate::golden::run::DEFAULT_CASES).expect("q40");
        let extra = |id: &str, phrasing: &str| {
            format!(
                "schema = \"{PHRASING_FILE_SCHEMA}\"\n[[case]]\nid = \"{id}\"\nphrasings = [\"{phrasing}\"]\n"
            )
        };
        let count = |file: &CaseFile| {
            file.cases
                .iter()
                .find(|c| c.id == "focus_at_save_as")
                .map(|c| c.phrasings.len())
        };
        let before = count(&file).expect("the case");
        let skipped = add_phrasings(
            &mut file,
            &extra("focus_at_save_as", "what was up front at 10:20:30 am"),
        )
        .expect("adds");
        assert!(skipped.is_empty());
        assert_eq!(count(&file), Some(before + 1));
        let err =
            add_phrasings(&mut file, &extra("no_such_case", "anything")).expect_err("unknown id");
        assert_eq!(err.case, "no_such_case");
        // A phrasing the case already asks (another writer's, in any case) is asked once.
        let skipped = add_phrasings(
            &mut file,
            &extra("focus_at_save_as", "What was up front at 10:20:30 AM"),
        )
        .expect("skips");
        assert_eq!(skipped.len(), 1);
        assert_eq!(count(&file), Some(before + 1));
        assert!(add_phrasings(&mut file, &extra("focus_at_save_as", " ")).is_err());
        let wrong_schema = extra("focus_at_save_as", "x").replace(PHRASING_FILE_SCHEMA, "v0");
        assert!(add_phrasings(&mut file, &wrong_schema).is_err());
        // In the case file itself, a phrasing repeating the question is refused too.
        let text = crate::golden::run::DEFAULT_CASES.replacen(
            "question = \"Which window had focus at 10:20:30?\"\nphrasings = [\n",
            "question = \"Which window had focus at 10:20:30?\"\nphrasings = [\n  \"which window had focus at 10:20:30?\",\n",
            1,
        );
        assert_ne!(
            text,
            crate::golden::run::DEFAULT_CASES,
            "the case is planted"
        );
        let err = parse_case_file(&text).expect_err("repeats the question");
        assert_eq!(err.case, "focus_at_save_as");
    }

    #[test]
    fn the_case_file_needs_two_cases_per_class() {
        let text = format!(
            "schema = \"{CASE_FILE_SCHEMA}\"\nlatency_p95_budget_ms = 5.0\nlatency_p95_budget_ms_unoptimized = 100.0\n[[case]]\nid = \"a\"\nclass = \"focus_at\"\nquestion = \"q\"\ntruth = {{ rule = \"no_evidence\" }}\n"
        );
        let err = parse_case_file(&text).expect_err("one case is not enough");
        assert!(err.detail.contains("needs 2"), "{err}");
    }
}
