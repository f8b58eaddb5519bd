//! `autocapture-gates conform hypervisor` with the real binaries (built beside this test by
//! `cargo build --workspace --bins`): the reference adapter of `fixtures/conform/` runs every
//! `@hypervisor` and `@both` scenario green, with a signed report whose subjects name the
//! adapter and the contract lock and a JUnit suite per feature file; each planted adapter fails
//! exactly its scenarios, by name and rule; a bad adapter file is a clear error (exit 2, its
//! code and path); a producer whose contract identity is not ours fails with
//! `producer_contract_mismatch`, under `conform hypervisor` and `conform spool` alike.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use autocapture_core::contract::{ContractIdentity, sha256_file};
use autocapture_gates::conform::adapter::Verb;
use autocapture_gates::contract::workspace_root;
use autocapture_gates::features::catalog::{self, Side};
use autocapture_gates::harness::{dsse, keys};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_autocapture-gates");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .env_remove("AUTOCAPTURE_GATES_SIGNING_KEY")
        .output()
        .expect("run autocapture-gates")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn fixture(name: &str) -> PathBuf {
    workspace_root()
        .expect("a checkout")
        .join("fixtures/conform")
        .join(name)
}

/// `conform hypervisor --adapter ADAPTER --out OUT [extra]`; the output and report.json.
fn conform(adapter: &Path, out: &Path, extra: &[&str]) -> (Output, Value) {
    let mut args = vec![
        "conform",
        "hypervisor",
        "--adapter",
        adapter.to_str().expect("utf8"),
        "--out",
        out.to_str().expect("utf8"),
    ];
    args.extend(extra);
    let output = run(&args);
    let report = std::fs::read_to_string(out.join("report.json"))
        .map(|t| serde_json::from_str(&t).expect("report.json is JSON"))
        .unwrap_or(Value::Null);
    (output, report)
}

/// `scenario name → rule` of every scenario the report says failed.
fn failures(report: &Value) -> BTreeMap<String, String> {
    report["predicate"]["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .filter(|s| s["status"] != "passed")
        .map(|s| {
            (
                s["name"].as_str().unwrap_or_default().to_owned(),
                s["rule"].as_str().unwrap_or("(no rule)").to_owned(),
            )
        })
        .collect()
}

#[test]
fn the_reference_adapter_passes_every_hypervisor_and_both_scenario() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let adapter = fixture("reference.toml");
    let (output, report) = conform(&adapter, &out, &[]);
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        text(&output.stderr)
    );
    let root = workspace_root().expect("checkout");
    let catalog = catalog::read(&root.join("features")).expect("catalog");
    let expected: Vec<_> = catalog
        .scenarios
        .iter()
        .filter(|s| matches!(s.side, Side::Hypervisor | Side::Both))
        .collect();
    assert!(expected.len() >= 13, "{} scenarios", expected.len());
    let predicate = &report["predicate"];
    assert_eq!(predicate["verdict"], "pass", "{stdout}");
    assert_eq!(predicate["counts"]["scenarios"], expected.len());
    assert_eq!(predicate["counts"]["passed"], expected.len());
    assert!(failures(&report).is_empty(), "{stdout}");
    for scenario in &expected {
        assert!(
            stdout.contains(&scenario.name),
            "the table lacks {:?}",
            scenario.name
        );
    }
    // The subjects name the adapter file and the contract lock by their bytes.
    let subject = |name: &str| {
        report["subject"]
            .as_array()
            .expect("subjects")
            .iter()
            .find(|s| s["name"] == name)
            .map(|s| s["digest"]["sha256"].clone())
            .unwrap_or_else(|| panic!("no subject {name}"))
    };
    assert_eq!(
        subject("adapter:reference.toml"),
        sha256_file(&adapter).expect("hash").0
    );
    assert_eq!(
        subject("contracts/contract.lock.json"),
        sha256_file(&root.join("contracts/contract.lock.json"))
            .expect("hash")
            .0
    );
    assert_eq!(predicate["dev_signed"], true);
    assert_eq!(predicate["producer"]["matches"], true);
    // The envelope verifies with the key written beside it and carries the same Statement.
    let key = keys::load_public(&out.join("signing-key.pub.json")).expect("public key");
    let envelope = std::fs::read(out.join("report.dsse.json")).expect("envelope");
    let verified = dsse::verify(&envelope, &[key]).expect("the signature verifies");
    assert_eq!(verified.statement, report);
    // The predicate is what `verify` reads: its schema holds, and `verify` accepts the report
    // (dev-signed, so only when told to) and refuses it otherwise.
    assert_eq!(
        autocapture_gates::harness::acceptance::conform::violations(predicate).expect("schema"),
        Vec::<String>::new()
    );
    let verify = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_autocapture-gates"))
            .arg("verify")
            .arg(out.join("report.dsse.json"))
            .arg("--public-key")
            .arg(out.join("signing-key.pub.json"))
            .args(extra)
            .output()
            .expect("run verify")
    };
    let accepted = verify(&["--allow-dev-signed"]);
    assert_eq!(
        accepted.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&accepted.stderr)
    );
    assert!(String::from_utf8_lossy(&accepted.stdout).starts_with("verified: conform report"));
    assert_eq!(verify(&[]).status.code(), Some(9), "dev-signed is refused");
    // JUnit: one suite per feature file, one passing case per scenario.
    let junit = std::fs::read_to_string(out.join("junit.xml")).expect("junit");
    let doc = roxmltree::Document::parse(&junit).expect("junit parses");
    let mut suites: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for suite in doc.descendants().filter(|n| n.has_tag_name("testsuite")) {
        let cases = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .map(|c| c.attribute("name").unwrap_or_default().to_owned())
            .collect();
        suites.insert(
            suite.attribute("name").unwrap_or_default().to_owned(),
            cases,
        );
    }
    for scenario in &expected {
        assert!(
            suites
                .get(&scenario.file)
                .is_some_and(|cases| cases.contains(&scenario.name)),
            "no case {:?} in a suite {:?}: {suites:?}",
            scenario.name,
            scenario.file
        );
    }
    assert!(!junit.contains("<failure"), "{junit}");
    assert!(
        !out.read_dir().expect("out").any(|e| e
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .starts_with("work-")),
        "a passing run removes its work folder"
    );
}

/// Each planted adapter and exactly the scenarios it fails, with the rule at fault.
#[rustfmt::skip]
const PLANTED: &[(&str, &[(&str, &str)])] = &[
    ("move_before_close", &[
        ("The Hypervisor closes a handoff before offering it to the spool", "not_closed"),
    ]),
    ("wrong_content_hash", &[
        ("The Hypervisor closes a handoff before offering it to the spool", "content_hash_mismatch"),
    ]),
    ("non_text_ids", &[
        ("The Hypervisor writes record ids as text and never reuses one", "row_id_not_text"),
        ("The Hypervisor names record ids run, kind and sequence", "row_id_not_text"),
        ("Record ids of a handoff have the form run/kind/seq", "row_id_not_text"),
        // The fallback's record_id then names no TEXT row of the handoff.
        ("The Hypervisor writes the fallback snapshot with its sidecar", "fallback_snapshot_invalid"),
    ]),
    ("reap_without_v1_marker", &[
        ("The reaper keeps a handoff whose marker is missing or not v1", "reap_marker_not_v1"),
    ]),
    ("reap_foreign_data_root", &[
        ("The reaper keeps a handoff whose marker is missing or not v1", "reap_foreign_data_root"),
    ]),
    ("popup_without_token", &[
        ("The Hypervisor's popup sends the bearer token", "popup_token_missing"),
    ]),
    ("popup_off_loopback", &[
        ("The Hypervisor reaches the popup server on loopback only", "popup_off_loopback"),
        ("The Hypervisor's popup sends the bearer token", "popup_off_loopback"),
    ]),
];

/// Runs the planted adapter `name` and checks that it fails exactly as [`PLANTED`] says, in the
/// report, the table and JUnit.
fn planted(name: &str) {
    let expected: BTreeMap<String, String> = PLANTED
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no expectation for {name}"))
        .1
        .iter()
        .map(|(scenario, rule)| ((*scenario).to_owned(), (*rule).to_owned()))
        .collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let (output, report) = conform(&fixture(&format!("planted/{name}.toml")), &out, &[]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{name}: {stdout}");
    assert_eq!(report["predicate"]["verdict"], "fail", "{name}");
    assert_eq!(failures(&report), expected, "{name}: {stdout}");
    let junit = std::fs::read_to_string(out.join("junit.xml")).expect("junit");
    for (scenario, rule) in &expected {
        assert!(
            stdout.contains(&format!("[{rule}]")) && stdout.contains(scenario.as_str()),
            "{name}: the table does not name {scenario:?} and [{rule}]: {stdout}"
        );
        assert!(
            junit.contains(&format!("type=\"{rule}\"")),
            "{name}: no JUnit failure of type {rule}"
        );
    }
}

#[test]
fn planted_producer_moving_a_handoff_before_closing_it_fails_not_closed() {
    planted("move_before_close");
}

#[test]
fn planted_producer_with_a_wrong_content_hash_fails_content_hash_mismatch() {
    planted("wrong_content_hash");
}

#[test]
fn planted_producer_with_non_text_ids_fails_row_id_not_text() {
    planted("non_text_ids");
}

#[test]
fn planted_reaper_deleting_without_a_valid_v1_marker_fails_reap_marker_not_v1() {
    planted("reap_without_v1_marker");
}

#[test]
fn planted_reaper_deleting_for_another_data_root_fails_reap_foreign_data_root() {
    planted("reap_foreign_data_root");
}

#[test]
fn planted_popup_without_a_token_fails_popup_token_missing() {
    planted("popup_without_token");
}

#[test]
fn planted_popup_off_loopback_fails_popup_off_loopback() {
    planted("popup_off_loopback");
}

#[test]
fn every_planted_adapter_has_its_expectation() {
    let mut files: Vec<String> = std::fs::read_dir(fixture("planted"))
        .expect("fixtures/conform/planted")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".toml").map(str::to_owned))
        .collect();
    files.sort();
    let mut named: Vec<String> = PLANTED.iter().map(|(n, _)| (*n).to_owned()).collect();
    named.sort();
    assert_eq!(files, named);
}

/// Bad adapter files, each with the code it must give (exit 2, before any scenario runs).
#[test]
fn a_bad_adapter_file_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = std::fs::read_to_string(fixture("reference.toml")).expect("reference");
    let cases: &[(&str, String)] = &[
        ("adapter_toml_invalid", "schema = [".to_owned()),
        (
            "adapter_schema_unknown",
            good.replace("adapter.v1", "adapter.v9"),
        ),
        ("adapter_key_unknown", format!("colour = \"red\"\n{good}")),
        (
            "adapter_key_unknown",
            good.replace("refresh_activity =", "refresh_activities ="),
        ),
        (
            "adapter_command_missing",
            good.lines()
                .filter(|l| !l.starts_with("reap ="))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        (
            "adapter_placeholder_unknown",
            good.replace("\"{question}\"", "\"{question}\", \"{spool}\""),
        ),
        (
            "adapter_placeholder_missing",
            good.replace("\"--witness-dir\", \"{witness_dir}\"", ""),
        ),
    ];
    for (index, (code, body)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad-{index}.toml"));
        std::fs::write(&path, body).expect("write");
        let (output, _) = conform(&path, &dir.path().join(format!("out-{index}")), &[]);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{code}: {stderr}");
        assert!(
            stderr.starts_with(&format!("autocapture-gates: error[{code}]: "))
                && stderr.contains(path.to_str().expect("utf8")),
            "{code}: {stderr}"
        );
    }
    let missing = dir.path().join("no-such-adapter.toml");
    let (output, _) = conform(&missing, &dir.path().join("out-missing"), &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("error[adapter_unreadable]"));
}

/// A features folder holding only the identity scenario (audit.feature's `@both` one).
fn identity_features(dir: &Path) -> PathBuf {
    let features = dir.join("features");
    std::fs::create_dir_all(&features).expect("mkdir");
    let root = workspace_root().expect("checkout");
    std::fs::copy(
        root.join("features/audit.feature"),
        features.join("audit.feature"),
    )
    .expect("copy");
    features
}

#[test]
fn a_producer_of_another_contract_fails_with_producer_contract_mismatch() {
    let dir = tempfile::tempdir().expect("temp dir");
    let features = identity_features(dir.path());
    let ours = ContractIdentity::embedded().expect("identity");
    let features_arg = features.to_str().expect("utf8");
    // The same identity passes.
    let (output, report) = conform(
        &fixture("reference.toml"),
        &dir.path().join("same"),
        &[
            "--features",
            features_arg,
            "--producer-contract-version",
            &ours.contract_version,
            "--producer-schema-hash",
            &ours.schema_hash,
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
    assert_eq!(report["predicate"]["counts"]["scenarios"], 1);
    // Another contract version fails by code, in the scenario and on stderr.
    let (output, report) = conform(
        &fixture("reference.toml"),
        &dir.path().join("other"),
        &[
            "--features",
            features_arg,
            "--producer-contract-version",
            "2.9.9",
            "--producer-schema-hash",
            &ours.schema_hash,
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("autocapture-gates: error[producer_contract_mismatch]: "),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(report["predicate"]["producer"]["matches"], false);
    assert_eq!(
        failures(&report).get("Both sides carry the same contract identity"),
        Some(&"producer_contract_mismatch".to_owned())
    );
    // Flags that are no identity are a usage error.
    let (output, _) = conform(
        &fixture("reference.toml"),
        &dir.path().join("bad"),
        &[
            "--producer-contract-version",
            "three",
            "--producer-schema-hash",
            &ours.schema_hash,
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("error[producer_identity_invalid]"));
}

#[test]
fn conform_spool_records_the_producer_identity_and_fails_on_a_mismatch() {
    let dir = tempfile::tempdir().expect("temp dir");
    let spool = dir.path().join("spool");
    let generated = run(&[
        "fixtures",
        "generate",
        "--out",
        spool.to_str().expect("utf8"),
        "--frames",
        "30",
        "--handoffs",
        "1",
    ]);
    assert_eq!(generated.status.code(), Some(0));
    let root = workspace_root().expect("checkout");
    let sister = root.join("contracts/sister/hypervisor.lock.json");
    let spool_arg = spool.to_str().expect("utf8");
    let output = run(&[
        "conform",
        "spool",
        spool_arg,
        "--json",
        "--sister",
        sister.to_str().expect("utf8"),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(report["producer"]["matches"], true);
    assert_eq!(report["conforming"], true);
    let other = dir.path().join("other-sister.json");
    let ours = ContractIdentity::embedded().expect("identity");
    std::fs::write(
        &other,
        serde_json::json!({"contract_version": ours.contract_version, "schema_hash": "0".repeat(64)})
            .to_string(),
    )
    .expect("write");
    let junit = dir.path().join("junit.xml");
    let output = run(&[
        "conform",
        "spool",
        spool_arg,
        "--json",
        "--junit",
        junit.to_str().expect("utf8"),
        "--sister",
        other.to_str().expect("utf8"),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("autocapture-gates: error[producer_contract_mismatch]: ")
            && stderr.contains("other-sister.json"),
        "{stderr}"
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(report["producer"]["matches"], false);
    assert_eq!(report["conforming"], false);
    let junit = std::fs::read_to_string(&junit).expect("junit");
    assert!(
        junit.contains("type=\"producer_contract_mismatch\""),
        "{junit}"
    );
    // A sister document without the pair is the document's fault (exit 1).
    std::fs::write(&other, "# no pair here\n").expect("write");
    let output = run(&[
        "conform",
        "spool",
        spool_arg,
        "--sister",
        other.to_str().expect("utf8"),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("error[sister_invalid]"));
}

#[test]
fn the_conformance_doc_describes_every_command_of_the_protocol() {
    let root = workspace_root().expect("checkout");
    let doc = std::fs::read_to_string(root.join("docs/conformance.md")).expect("doc");
    for verb in Verb::ALL {
        assert!(
            doc.contains(&format!("`{}`", verb.key())),
            "docs/conformance.md does not describe `{}`",
            verb.key()
        );
        let (required, optional) = verb.placeholders();
        for placeholder in required.iter().chain(optional) {
            assert!(
                doc.contains(&format!("`{{{placeholder}}}`")),
                "docs/conformance.md does not describe {{{placeholder}}}"
            );
        }
    }
}
