//! The harness's JUnit against the common JUnit layout CI tools read, `schemas/junit.xsd`.
//!
//! - The real binary's `junit.xml` (a run of two fast gates) and `golden-junit.xml` validate, and
//!   so does `junit::render` of a run with a failing, an erroring and a skipped gate.
//! - Planted invalid documents are refused, each with a reported violation: the check can fail.
//! - Beyond the schema, the real file carries what CI readers need: one suite per gate, a time on
//!   every suite and case, a timestamp on every suite, the run's identity as properties (seed,
//!   commit, contract version, corpus digest, equal to the signed report's), and counts that
//!   count each failure once.
//!
//! Validation is the pure-Rust `xmlschema` crate. It enforces the whole schema except what its
//! own audit (`support::unsupported`, asserted empty here) reports, plus three things it does not
//! check and does not report: undeclared attributes, text inside element-only content and the
//! nested "at most one outcome" choice (it flattens it into a sequence). [`schema_gaps`] checks
//! those three, reading what is declared from the schema itself.
//!
//! The run tests need the workspace's binaries built (`cargo build --workspace --bins`): the
//! harness runs the `autocapture` binary beside itself.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output};

use autocapture_gates::harness::gate::{Check, Evidence, Verdict};
use autocapture_gates::harness::junit;
use autocapture_gates::harness::runner::{GateResult, RunResults};
use roxmltree::Node;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_autocapture-gates");
const XSD: &str = include_str!("../schemas/junit.xsd");
/// Gates that take well under 5 s on a small corpus, and what they are run with.
const FAST_GATES: [&str; 2] = ["contract", "bind"];
const SEED: &str = "11";
const FRAMES: &str = "300";

fn harness(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .output()
        .expect("run autocapture-gates")
}

/// What the validator reports for `xml` against the schema: empty when valid.
fn xsd_violations(xml: &str) -> Vec<String> {
    let schema = xmlschema::parse_schema(XSD).expect("junit.xsd parses as a schema");
    match oxml::parse(xml) {
        Ok(doc) => xmlschema::validate(&doc, &schema)
            .violations
            .iter()
            .map(ToString::to_string)
            .collect(),
        Err(error) => vec![format!("not well-formed XML: {error}")],
    }
}

/// What the schema declares but `xmlschema` does not enforce, read from the schema itself: the
/// attributes each element may carry, which elements hold elements only (no text), and the
/// names of each `xs:choice` (at most one of them under one parent).
struct Declared {
    /// Element name to its type's name (`xs:string` and the like for text-only elements).
    types: BTreeMap<String, String>,
    /// Complex type name to the attributes it declares.
    attributes: BTreeMap<String, BTreeSet<String>>,
    /// Complex types whose content is a sequence of elements.
    element_only: BTreeSet<String>,
    /// The element names of each choice.
    choices: Vec<BTreeSet<String>>,
}

fn is_xs(node: &Node, name: &str) -> bool {
    node.is_element() && node.tag_name().name() == name
}

fn declared(xsd: &str) -> Declared {
    let doc = roxmltree::Document::parse(xsd).expect("junit.xsd is XML");
    let mut declared = Declared {
        types: BTreeMap::new(),
        attributes: BTreeMap::new(),
        element_only: BTreeSet::new(),
        choices: Vec::new(),
    };
    for node in doc.descendants() {
        if is_xs(&node, "element")
            && let (Some(name), Some(ty)) = (node.attribute("name"), node.attribute("type"))
        {
            let before = declared.types.insert(name.to_owned(), ty.to_owned());
            assert!(
                before.is_none_or(|b| b == ty),
                "element {name} declared with two types"
            );
        }
        if is_xs(&node, "complexType")
            && let Some(name) = node.attribute("name")
        {
            let attributes = node
                .descendants()
                .filter(|n| is_xs(n, "attribute"))
                .filter_map(|n| n.attribute("name"))
                .map(str::to_owned)
                .collect();
            declared.attributes.insert(name.to_owned(), attributes);
            if node.children().any(|n| is_xs(&n, "sequence")) {
                declared.element_only.insert(name.to_owned());
            }
        }
        if is_xs(&node, "choice") {
            declared.choices.push(
                node.children()
                    .filter(|n| is_xs(n, "element"))
                    .filter_map(|n| n.attribute("name"))
                    .map(str::to_owned)
                    .collect(),
            );
        }
    }
    assert!(
        !declared.attributes.is_empty() && !declared.choices.is_empty(),
        "nothing read from junit.xsd"
    );
    declared
}

/// Violations of what the schema says and `xmlschema` does not check: an attribute its element
/// does not declare, text in element-only content, two names of one choice under one parent.
fn schema_gaps(xml: &str) -> Vec<String> {
    let declared = declared(XSD);
    let doc = match roxmltree::Document::parse(xml) {
        Ok(doc) => doc,
        Err(error) => return vec![format!("not well-formed XML: {error}")],
    };
    let mut gaps = Vec::new();
    for node in doc.descendants().filter(Node::is_element) {
        let name = node.tag_name().name();
        let Some(ty) = declared.types.get(name) else {
            continue; // an undeclared element: the validator's to refuse
        };
        let allowed = declared.attributes.get(ty).cloned().unwrap_or_default();
        for attribute in node.attributes() {
            if !allowed.contains(attribute.name()) {
                gaps.push(format!(
                    "<{name}> carries undeclared attribute `{}`",
                    attribute.name()
                ));
            }
        }
        if declared.element_only.contains(ty)
            && node
                .children()
                .any(|c| c.is_text() && !c.text().unwrap_or_default().trim().is_empty())
        {
            gaps.push(format!("<{name}> holds text but only elements are allowed"));
        }
        for choice in &declared.choices {
            let present: Vec<&str> = node
                .children()
                .filter(Node::is_element)
                .map(|c| c.tag_name().name())
                .filter(|n| choice.contains(*n))
                .collect();
            if present.len() > 1 {
                gaps.push(format!(
                    "<{name}> holds {present:?} but at most one of {choice:?}"
                ));
            }
        }
    }
    gaps
}

/// Valid by the schema and by what `xmlschema` leaves unchecked; panics with every violation.
fn assert_valid(what: &str, xml: &str) {
    let violations = xsd_violations(xml);
    assert!(
        violations.is_empty(),
        "{what} does not validate against schemas/junit.xsd:\n{}",
        violations.join("\n")
    );
    let gaps = schema_gaps(xml);
    assert!(
        gaps.is_empty(),
        "{what} breaks schemas/junit.xsd where xmlschema does not look:\n{}",
        gaps.join("\n")
    );
}

fn count(node: Node, attribute: &str) -> usize {
    node.attribute(attribute)
        .unwrap_or_else(|| panic!("<{}> has no {attribute}", node.tag_name().name()))
        .parse()
        .expect("a count")
}

/// Every suite's `tests`, `failures`, `errors` and `skipped` are its cases and their outcomes,
/// and the root's are the suites' sums: each outcome is counted once, where it is.
fn assert_counts_once(doc: &roxmltree::Document) {
    let root = doc.root_element();
    let mut totals = [0usize; 4];
    for suite in root.children().filter(|n| n.has_tag_name("testsuite")) {
        let cases: Vec<Node> = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        let with = |outcome: &str| {
            cases
                .iter()
                .filter(|c| c.children().any(|n| n.has_tag_name(outcome)))
                .count()
        };
        let found = [cases.len(), with("failure"), with("error"), with("skipped")];
        let said = ["tests", "failures", "errors", "skipped"].map(|a| count(suite, a));
        assert_eq!(
            said,
            found,
            "suite {:?}: tests/failures/errors/skipped said vs found",
            suite.attribute("name")
        );
        for (total, n) in totals.iter_mut().zip(found) {
            *total += n;
        }
    }
    let said = ["tests", "failures", "errors", "skipped"].map(|a| count(root, a));
    assert_eq!(said, totals, "the root's totals are the suites' sums");
}

fn properties_of(suite: Node) -> BTreeMap<String, String> {
    suite
        .children()
        .filter(|n| n.has_tag_name("properties"))
        .flat_map(|p| p.children().filter(|n| n.has_tag_name("property")))
        .map(|p| {
            (
                p.attribute("name").unwrap_or_default().to_owned(),
                p.attribute("value").unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[test]
fn the_schema_is_enforced_in_full_by_the_validator() {
    let doc = oxml::parse(XSD).expect("junit.xsd is XML");
    let skipped = xmlschema::support::unsupported(&doc);
    assert!(
        skipped.is_empty(),
        "schemas/junit.xsd uses constructs xmlschema does not enforce: {skipped:?}"
    );
    xmlschema::parse_schema(XSD).expect("junit.xsd parses as a schema");
}

#[test]
fn the_real_run_junit_validates_and_carries_the_run_identity() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let out_arg = out.to_str().expect("utf8");
    let scratch = dir.path().join("scratch");
    let scratch_arg = scratch.to_str().expect("utf8");
    let mut args = vec![
        "run",
        "--out",
        out_arg,
        "--scratch",
        scratch_arg,
        "--seed",
        SEED,
        "--frames",
        FRAMES,
    ];
    for gate in FAST_GATES {
        args.extend(["--gate", gate]);
    }
    let output = harness(&args);
    let path = out.join("junit.xml");
    assert!(
        path.is_file(),
        "no junit.xml (exit {:?}): {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    let xml = std::fs::read_to_string(&path).expect("read junit.xml");
    assert_valid("the run's junit.xml", &xml);

    let doc = roxmltree::Document::parse(&xml).expect("junit.xml parses");
    let root = doc.root_element();
    assert!(root.has_tag_name("testsuites"));
    for attribute in ["time", "timestamp"] {
        assert!(
            root.attribute(attribute).is_some(),
            "the root has no {attribute}"
        );
    }
    assert_counts_once(&doc);

    // One suite per gate of the registry, in its order; the gates that ran are not skipped.
    let list = harness(&["list"]);
    assert_eq!(list.status.code(), Some(0), "autocapture-gates list");
    let registry: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    let suites: Vec<Node> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    let names: Vec<String> = suites
        .iter()
        .map(|s| s.attribute("name").unwrap_or_default().to_owned())
        .collect();
    assert_eq!(names, registry, "one suite per gate, in registry order");
    for gate in FAST_GATES {
        let suite = suites
            .iter()
            .find(|s| s.attribute("name") == Some(gate))
            .expect("a suite for a gate that ran");
        assert_eq!(count(*suite, "skipped"), 0, "gate {gate} ran");
        assert!(
            count(*suite, "tests") > 1,
            "gate {gate}: one case per check"
        );
    }

    // The identity the signed report carries, on every suite.
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).expect("read report.json"))
            .expect("report.json parses");
    let predicate = &report["predicate"];
    let corpus = report["subject"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["name"] == "fixture-corpus")
        .and_then(|s| s["digest"]["sha256"].as_str())
        .expect("the report names the corpus's digest");
    let expected = [
        ("seed", SEED),
        ("frames", FRAMES),
        (
            "commit",
            predicate["environment"]["git_commit"]
                .as_str()
                .expect("commit"),
        ),
        (
            "contract_version",
            predicate["contract_version"].as_str().expect("version"),
        ),
        ("corpus_sha256", corpus),
        ("run_id", predicate["run_id"].as_str().expect("run id")),
    ];
    for suite in &suites {
        let name = suite.attribute("name").unwrap_or_default();
        for attribute in ["time", "timestamp"] {
            assert!(
                suite.attribute(attribute).is_some(),
                "suite {name} has no {attribute}"
            );
        }
        for case in suite.children().filter(|n| n.has_tag_name("testcase")) {
            assert!(
                case.attribute("time").is_some(),
                "suite {name}: case {:?} has no time",
                case.attribute("name")
            );
        }
        let properties = properties_of(*suite);
        for (key, value) in expected {
            assert!(!value.is_empty(), "the report's {key} is empty");
            assert_eq!(
                properties.get(key).map(String::as_str),
                Some(value),
                "suite {name}: property {key}"
            );
        }
    }
}

fn gate(name: &str, verdict: Verdict, checks: Vec<Check>, evidence: Vec<Evidence>) -> GateResult {
    GateResult {
        name: name.to_owned(),
        proves: format!("what {name} proves"),
        verdict,
        duration_ms: 1250,
        measurements: BTreeMap::new(),
        checks,
        evidence,
        repeats: 1,
        flake_rate: 0,
        charts: Vec::new(),
        inputs: Vec::new(),
    }
}

fn check(name: &str, passed: bool, detail: &str) -> Check {
    Check {
        name: name.to_owned(),
        passed,
        detail: detail.to_owned(),
    }
}

#[test]
fn a_failing_erroring_and_skipped_run_renders_valid_junit_counting_each_failure_once() {
    let failing = "rows match <truth> & \"more\"";
    let results = RunResults {
        run_id: "gates_20260301T093000250000Z".into(),
        started_at_utc: "2026-03-01T09:30:00.250Z".into(),
        finished_at_utc: "2026-03-01T09:30:04.000Z".into(),
        corpus: "corpus".into(),
        corpus_sha256: "ab".repeat(32),
        scratch_fs: "tmpfs".into(),
        options_seed: 5,
        options_frames: 40,
        repeat: 1,
        gates: vec![
            gate(
                "passing",
                Verdict::Pass,
                vec![check("holds", true, "")],
                Vec::new(),
            ),
            gate(
                "failing",
                Verdict::Fail,
                vec![check("holds", true, ""), check(failing, false, "3 != 4")],
                vec![Evidence {
                    check: failing.into(),
                    record: Some("run1/x/1".into()),
                    expected: Some(json!(3)),
                    actual: Some(json!(4)),
                    detail: None,
                }],
            ),
            gate(
                "erroring",
                Verdict::Error,
                Vec::new(),
                vec![Evidence {
                    check: "run".into(),
                    record: None,
                    expected: None,
                    actual: None,
                    detail: Some("planted: the gate cannot run".into()),
                }],
            ),
            gate("unselected", Verdict::Skipped, Vec::new(), Vec::new()),
        ],
    };
    let extra = [
        ("commit", "c0ffee".to_owned()),
        ("contract_version", "3.0.0".to_owned()),
    ];
    let xml = junit::render(&results, &extra).expect("render");
    assert_valid("junit::render of a failing run", &xml);

    let doc = roxmltree::Document::parse(&xml).expect("parses");
    assert_counts_once(&doc);
    let root = doc.root_element();
    let totals = ["tests", "failures", "errors", "skipped"].map(|a| count(root, a));
    assert_eq!(totals, [5, 1, 1, 1], "tests/failures/errors/skipped");
    let failures: Vec<Node> = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .collect();
    assert_eq!(failures.len(), 1, "the failing check is one failure");
    let case = failures[0].parent().expect("its case");
    assert_eq!(case.attribute("name"), Some(failing));
    assert_eq!(failures[0].attribute("message"), Some("3 != 4"));
    assert_eq!(
        failures[0].text(),
        Some("expected 3, got 4"),
        "the evidence"
    );
    let error = doc
        .descendants()
        .find(|n| n.has_tag_name("error"))
        .expect("the erroring gate's case");
    assert_eq!(
        error.parent().and_then(|c| c.attribute("name")),
        Some("erroring")
    );
    assert!(
        error
            .text()
            .unwrap_or_default()
            .contains("planted: the gate cannot run"),
        "the error's evidence"
    );
    for suite in root.children().filter(|n| n.has_tag_name("testsuite")) {
        assert_eq!(
            suite.attribute("timestamp"),
            Some("2026-03-01T09:30:00.250+00:00")
        );
        let properties = properties_of(suite);
        assert_eq!(properties.get("seed").map(String::as_str), Some("5"));
        assert_eq!(properties.get("commit").map(String::as_str), Some("c0ffee"));
    }
}

/// A valid document to plant one fault in at a time.
const VALID: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="planted" tests="2" failures="1" errors="0" skipped="0" time="1.500" timestamp="2026-03-01T09:30:00.250+00:00">
  <testsuite name="gate" tests="2" failures="1" errors="0" skipped="0" time="1.500" timestamp="2026-03-01T09:30:00.250+00:00">
    <properties><property name="seed" value="7"/></properties>
    <testcase name="holds" classname="gates.gate" time="0.000"/>
    <testcase name="counts" classname="gates.gate" time="0.000"><failure message="3 != 4">expected 3, got 4</failure></testcase>
  </testsuite>
</testsuites>"#;

/// `VALID` with `from` replaced by `to` (which must occur).
fn planted(from: &str, to: &str) -> String {
    assert!(
        VALID.contains(from),
        "{from:?} is not in the valid document"
    );
    VALID.replacen(from, to, 1)
}

#[test]
fn planted_violations_are_refused_with_a_reason() {
    assert_valid("the unplanted document", VALID);
    // Refused by the validator itself: (document, what the violation names).
    let refused = [
        (
            planted(r#"<testcase name="holds" "#, "<testcase "),
            "missing required attribute `name`",
        ),
        (
            planted(
                r#"name="holds" classname="gates.gate" time="0.000""#,
                r#"name="holds" time="fast""#,
            ),
            "`fast` is not a valid decimal",
        ),
        (
            planted("</testsuite>", "<retries count=\"2\"/></testsuite>"),
            "unexpected element `retries`",
        ),
        (
            planted(
                r#"<testsuite name="gate" tests="2" "#,
                r#"<testsuite name="gate" "#,
            ),
            "missing required attribute `tests`",
        ),
        (
            planted(
                r#"time="1.500" timestamp="2026-03-01T09:30:00.250+00:00">
    <prop"#,
                r#"time="1.500" timestamp="yesterday">
    <prop"#,
            ),
            "`yesterday` is not a valid dateTime",
        ),
        (
            planted("expected 3, got 4", "<detail>expected 3, got 4</detail>"),
            "must contain text, not child elements",
        ),
        (
            planted("<testsuites ", "<testsuite-list ")
                .replace("</testsuites>", "</testsuite-list>"),
            "no top-level element named `testsuite-list`",
        ),
    ];
    for (xml, reason) in &refused {
        let violations = xsd_violations(xml);
        assert!(
            violations.iter().any(|v| v.contains(reason)),
            "expected a violation containing {reason:?}, got {violations:?} for\n{xml}"
        );
    }
    // What the schema refuses and xmlschema does not check: refused by `schema_gaps`.
    let gaps = [
        (
            planted(
                r#"<testcase name="holds" "#,
                r#"<testcase name="holds" retried="yes" "#,
            ),
            "undeclared attribute `retried`",
        ),
        (
            planted(
                r#"<failure message="3 != 4">expected 3, got 4</failure>"#,
                r#"<skipped/><failure message="3 != 4">expected 3, got 4</failure>"#,
            ),
            "at most one of",
        ),
        (
            planted("<properties>", "stray words<properties>"),
            "holds text but only elements are allowed",
        ),
    ];
    for (xml, reason) in &gaps {
        let found = schema_gaps(xml);
        assert!(
            found.iter().any(|v| v.contains(reason)),
            "expected a gap containing {reason:?}, got {found:?} for\n{xml}"
        );
    }
}

#[test]
fn golden_junit_validates() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("golden");
    // One repro run instead of three: fast, and strict mode then fails every case, so the file
    // holds failures.
    let output = harness(&[
        "golden",
        "--frames",
        FRAMES,
        "--repro",
        "1",
        "--out",
        out.to_str().expect("utf8"),
    ]);
    let path = out.join("golden-junit.xml");
    assert!(
        path.is_file(),
        "no golden-junit.xml (exit {:?}): {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    let xml = std::fs::read_to_string(&path).expect("read golden-junit.xml");
    assert_valid("golden-junit.xml", &xml);
    let doc = roxmltree::Document::parse(&xml).expect("parses");
    assert_counts_once(&doc);
}
