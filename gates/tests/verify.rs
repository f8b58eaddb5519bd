//! `autocapture-gates verify` decides by default: the real binary on signed reports of real runs
//! (gates named after the plan, planted to pass, fail or error), each refusal with its own exit
//! code and code word, the relaxing flags saying what they relaxed, PEM and key-file keys, the
//! envelope's keyid only a hint; the standard Test Result attestation beside the report; and a
//! DSSE vector computed outside this project's code (`fixtures/attestation`) signed and verified
//! byte for byte.

use std::path::{Path, PathBuf};
use std::process::Command;

use autocapture_gates::contract::workspace_root;
use autocapture_gates::gates::PLAN;
use autocapture_gates::harness::dsse;
use autocapture_gates::harness::keys;
use autocapture_gates::harness::report::TEST_RESULT_TYPE;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::SigningKey;
use serde_json::{Value, json};

#[path = "support/reports.rs"]
mod reports;
use reports::{all_pass, plan_run, sign_run};

/// `autocapture-gates verify ENVELOPE --json ARGS…`: the exit code and the JSON answer.
fn verify(envelope: &Path, args: &[&str]) -> (i32, Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_autocapture-gates"))
        .arg("verify")
        .arg(envelope)
        .args(args)
        .arg("--json")
        .output()
        .expect("run autocapture-gates verify");
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "verify --json printed no JSON ({e}): {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap_or(-1), answer)
}

fn refused(answer: &(i32, Value)) -> (i32, &str) {
    (answer.0, answer.1["error"]["code"].as_str().unwrap_or("ok"))
}

struct Keys {
    release: SigningKey,
    json: PathBuf,
    pem: PathBuf,
    other: PathBuf,
}

fn keys_in(dir: &Path) -> Keys {
    let private = dir.join("release.key");
    keys::keygen(&private).expect("keygen");
    let other = dir.join("other.key");
    keys::keygen(&other).expect("keygen");
    let public = keys::public_path(&private);
    Keys {
        release: keys::load_signing(&private).expect("key"),
        pem: keys::pem_path(&public),
        json: public,
        other: keys::public_path(&other),
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

#[test]
fn a_complete_passing_release_signed_report_verifies_with_either_key_format() {
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = keys_in(dir.path());
    let results = plan_run(&dir.path().join("run"), &[], all_pass);
    let (report, _, statement) = sign_run(&results, dir.path(), "good", &keys.release, false);
    for key in [&keys.json, &keys.pem] {
        let (code, answer) = verify(&report, &["--public-key", path_str(key)]);
        assert_eq!(code, 0, "{answer}");
        assert_eq!(answer["ok"], true);
        assert_eq!(answer["verdict"], "pass");
        assert_eq!(answer["gates"]["pass"], PLAN.len());
        assert_eq!(answer["relaxed"], json!([]));
        assert_eq!(answer["run_id"], statement["predicate"]["run_id"]);
    }
    // The keyid is a hint: a wrong key first, an edited keyid, the right key second.
    let mut envelope: Value =
        serde_json::from_slice(&std::fs::read(&report).expect("read")).expect("json");
    envelope["signatures"][0]["keyid"] = json!("not-the-keyid");
    let renamed = dir.path().join("renamed.dsse.json");
    std::fs::write(&renamed, envelope.to_string()).expect("write");
    let (code, answer) = verify(
        &renamed,
        &[
            "--public-key",
            path_str(&keys.other),
            "--public-key",
            path_str(&keys.pem),
        ],
    );
    assert_eq!(code, 0, "{answer}");
    // The plain answer for people names the key and the verdict.
    let output = Command::new(env!("CARGO_BIN_EXE_autocapture-gates"))
        .args([
            "verify",
            path_str(&report),
            "--public-key",
            path_str(&keys.pem),
        ])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.starts_with(&format!(
            "verified: signed by {}; verdict pass",
            keys::keyid(&keys.release.verifying_key())
        )),
        "{text}"
    );
}

#[test]
fn each_refusal_has_its_exit_code_and_code_word() {
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = keys_in(dir.path());
    let key = ["--public-key", path_str(&keys.json)];
    let relax_all = ["--allow-partial", "--allow-dev-signed"];

    let good = plan_run(&dir.path().join("good"), &[], all_pass);
    let (report, tested, _) = sign_run(&good, dir.path(), "good", &keys.release, false);
    let bytes = std::fs::read(&report).expect("read");

    let failing = plan_run(&dir.path().join("failing"), &[], |n| {
        if n == "crash" { "fail" } else { "pass" }
    });
    let (failing, _, _) = sign_run(&failing, dir.path(), "failing", &keys.release, false);
    let erroring = plan_run(&dir.path().join("erroring"), &[], |n| {
        if n == "sla" { "error" } else { "pass" }
    });
    let (erroring, _, statement) =
        sign_run(&erroring, dir.path(), "erroring", &keys.release, false);
    assert_eq!(statement["predicate"]["verdict"], "error");
    let partial = plan_run(
        &dir.path().join("partial"),
        &["ingest", "uia", "audit"],
        all_pass,
    );
    let (partial, _, statement) = sign_run(&partial, dir.path(), "partial", &keys.release, false);
    assert_eq!(statement["predicate"]["verdict"], "partial");
    let (dev, _, _) = sign_run(&good, dir.path(), "dev", &keys.release, true);

    let truncated = dir.path().join("truncated.dsse.json");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("write");

    // (what, envelope, extra flags, expected exit code and code word)
    type Case<'a> = (&'a str, &'a Path, Vec<&'a str>, (i32, &'a str));
    let cases: Vec<Case> = vec![
        (
            "a failing gate",
            &failing,
            relax_all.to_vec(),
            (7, "report_not_pass"),
        ),
        (
            "an erroring gate",
            &erroring,
            relax_all.to_vec(),
            (7, "report_not_pass"),
        ),
        (
            "three gates of the plan",
            &partial,
            vec![],
            (8, "report_partial"),
        ),
        ("a throwaway key", &dev, vec![], (9, "report_dev_signed")),
        (
            "a truncated envelope",
            &truncated,
            vec![],
            (3, "envelope_invalid"),
        ),
        (
            "the Test Result attestation",
            &tested,
            vec![],
            (5, "report_invalid"),
        ),
        (
            "an older commit",
            &report,
            vec![
                "--expect-commit",
                "0123456789012345678901234567890123456789",
            ],
            (6, "report_commit_mismatch"),
        ),
    ];
    for (name, envelope, extra, expected) in cases {
        let args: Vec<&str> = key.iter().copied().chain(extra).collect();
        let answer = verify(envelope, &args);
        assert_eq!(refused(&answer), expected, "{name}: {}", answer.1);
        assert_eq!(answer.1["ok"], false, "{name}");
        assert_eq!(answer.1["error"]["exit_code"], expected.0, "{name}");
    }
    let answer = verify(&report, &["--public-key", path_str(&keys.other)]);
    assert_eq!(refused(&answer), (4, "envelope_wrong_key"), "{}", answer.1);
    let answer = verify(
        &report,
        &["--public-key", path_str(&dir.path().join("absent.pub"))],
    );
    assert_eq!(refused(&answer), (2, "verify_usage"), "{}", answer.1);
    assert!(
        answer.1["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("absent.pub"),
        "{}",
        answer.1
    );

    // Each flag relaxes its own refusal only, and the answer says so.
    let (code, answer) = verify(&partial, &[key[0], key[1], "--allow-partial"]);
    assert_eq!(code, 0, "{answer}");
    let relaxed = answer["relaxed"].to_string();
    assert!(
        relaxed.contains("partial") && relaxed.contains("contract (skipped)"),
        "{relaxed}"
    );
    let answer = verify(&partial, &[key[0], key[1], "--allow-dev-signed"]);
    assert_eq!(refused(&answer), (8, "report_partial"));
    let (code, answer) = verify(&dev, &[key[0], key[1], "--allow-dev-signed"]);
    assert_eq!(code, 0, "{answer}");
    assert!(
        answer["relaxed"].to_string().contains("dev-signed"),
        "{answer}"
    );
    assert_eq!(answer["dev_signed"], true);
    let answer = verify(&dev, &[key[0], key[1], "--allow-partial"]);
    assert_eq!(refused(&answer), (9, "report_dev_signed"));
}

#[test]
fn the_test_result_attestation_summarises_the_report_it_sits_beside() {
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = keys_in(dir.path());
    type Outcome = fn(&str) -> &'static str;
    // (selected gates, planted outcomes, expected result)
    let cases: [(&[&str], Outcome, &str); 3] = [
        (&[], all_pass, "PASSED"),
        (&["ingest", "uia"], all_pass, "WARNED"),
        (&[], |n| if n == "bind" { "fail" } else { "pass" }, "FAILED"),
    ];
    for (select, outcome, expected) in cases {
        let out = dir.path().join(expected);
        let results = plan_run(&out, select, outcome);
        let (_, tested, report) = sign_run(&results, &out, "run", &keys.release, false);
        let envelope = std::fs::read(&tested).expect("read");
        let verified = dsse::verify(&envelope, &[keys.release.verifying_key()]).expect("verifies");
        let statement = verified.statement;
        assert_eq!(statement["predicateType"], TEST_RESULT_TYPE);
        assert_eq!(statement["subject"], report["subject"]);
        let predicate = &statement["predicate"];
        assert_eq!(predicate["result"], expected);
        let count = |field: &str| predicate[field].as_array().map_or(0, Vec::len);
        assert_eq!(
            count("passedTests") + count("warnedTests") + count("failedTests"),
            PLAN.len(),
            "every gate of the plan is named once: {predicate}"
        );
        if expected == "WARNED" {
            assert_eq!(count("passedTests"), 2);
            assert_eq!(count("warnedTests"), PLAN.len() - 2, "the skipped gates");
        }
        if expected == "FAILED" {
            assert_eq!(predicate["failedTests"], json!(["bind"]));
        }
        let body = serde_json::to_vec_pretty(&report).expect("json");
        let digest = autocapture_core::contract::sha256_hex(&body);
        assert!(
            predicate["configuration"]
                .as_array()
                .expect("configuration")
                .iter()
                .any(|c| c["name"] == "report.json" && c["digest"]["sha256"] == digest),
            "the configuration names the exact report bytes: {predicate}"
        );
    }
}

/// The vector of `fixtures/attestation` was computed with Python's `cryptography`, outside this
/// project's code: our signature over the same body with the same seed is the same envelope
/// (Ed25519 is deterministic), and our verifier accepts theirs with their PEM key.
#[test]
fn an_independently_computed_dsse_vector_matches_byte_for_byte() {
    let dir = workspace_root()
        .expect("a checkout")
        .join("fixtures/attestation");
    let vector: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("dsse-vector.json")).expect("read"))
            .expect("json");
    let seed: [u8; 32] = hex::decode(vector["seed_hex"].as_str().expect("seed"))
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    let key = SigningKey::from_bytes(&seed);
    assert_eq!(
        keys::keyid(&key.verifying_key()),
        vector["keyid"].as_str().expect("keyid")
    );
    let body = vector["body"].as_str().expect("body").as_bytes();
    assert_eq!(
        hex::encode(dsse::pae(dsse::PAYLOAD_TYPE, body)),
        vector["pae_hex"].as_str().expect("pae")
    );
    let ours = serde_json::to_value(dsse::sign(body, &key)).expect("json");
    assert_eq!(
        ours, vector["envelope"],
        "our envelope differs from the vector"
    );
    assert_eq!(
        ours["signatures"][0]["sig"], vector["signature_b64"],
        "our signature differs from the vector"
    );
    let public = keys::load_public(&dir.join("vector-public.pem")).expect("their PEM");
    assert_eq!(public, key.verifying_key());
    let theirs = std::fs::read(dir.join("vector.dsse.json")).expect("read");
    let verified = dsse::verify(&theirs, &[public]).expect("their envelope verifies");
    assert_eq!(verified.statement["predicateType"], TEST_RESULT_TYPE);
    // Planted: their envelope with one payload byte changed is refused.
    let mut envelope: Value = serde_json::from_slice(&theirs).expect("json");
    let mut payload = STANDARD
        .decode(envelope["payload"].as_str().expect("payload"))
        .expect("base64");
    payload[10] ^= 0x20;
    envelope["payload"] = json!(STANDARD.encode(payload));
    assert!(
        dsse::verify(envelope.to_string().as_bytes(), &[public]).is_err(),
        "a changed payload byte verified"
    );
}

/// A conform report's Statement as `conform hypervisor` writes it, passing, for this build's
/// contract (the reference adapter's real report is checked against the same schema in
/// `tests/conform_hypervisor.rs`).
fn conform_statement(dev_signed: bool) -> Value {
    let ours = autocapture_core::contract::ContractIdentity::embedded().expect("contract");
    let scenario = |line: u64, name: &str| {
        json!({"file": "reap.feature", "line": line, "name": name, "side": "hypervisor",
               "duration_ms": 12, "status": "passed"})
    };
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "adapter:hv.toml", "digest": {"sha256": "ab".repeat(32)}}],
        "predicateType": "urn:autocapture:predicate:conform-hypervisor:v1",
        "predicate": {
            "run_id": "conform_20261204T100000000000Z",
            "started_at_utc": "2026-12-04T10:00:00.000000Z",
            "finished_at_utc": "2026-12-04T10:01:00.000000Z",
            "dev_signed": dev_signed,
            "verdict": "pass",
            "contract_version": ours.contract_version,
            "schema_hash": ours.schema_hash,
            "producer": {"contract_version": ours.contract_version, "schema_hash": ours.schema_hash,
                         "source": "flags",
                         "ours": {"contract_version": ours.contract_version, "schema_hash": ours.schema_hash},
                         "matches": true},
            "adapter": {"name": "hv", "path": "/ci/hv.toml", "sha256": "ab".repeat(32), "commands": {}},
            "counts": {"scenarios": 2, "passed": 2, "failed": 0, "skipped": 0, "problems": 0},
            "scenarios": [scenario(3, "the reaper keeps an unmarked handoff"), scenario(9, "the reaper deletes a marked one")],
            "problems": [],
            "environment": {"os": "linux", "arch": "x86_64", "git_commit": null, "harness_version": "0.1.0"},
        },
    })
}

fn sign_statement(dir: &Path, name: &str, statement: &Value, key: &SigningKey) -> PathBuf {
    let body = serde_json::to_vec(statement).expect("json");
    let path = dir.join(format!("{name}.dsse.json"));
    std::fs::write(
        &path,
        serde_json::to_vec(&dsse::sign(&body, key)).expect("json"),
    )
    .expect("write");
    path
}

/// A change made to a predicate.
type Change = Box<dyn Fn(&mut Value)>;

/// `verify` judges a signed `conform hypervisor` report by its own policy: passing, for this
/// contract, every scenario run, release-signed; each way of falling short has the refusal (and
/// exit code) of the gate reports.
#[test]
fn a_conform_report_is_verified_by_its_own_policy() {
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = keys_in(dir.path());
    let key = ["--public-key", path_str(&keys.json)];
    let good = sign_statement(dir.path(), "good", &conform_statement(false), &keys.release);
    let answer = verify(&good, &key);
    assert_eq!(answer.0, 0, "{}", answer.1);
    assert_eq!(answer.1["kind"], "conform report");
    assert_eq!(answer.1["gates"]["passed"], 2);

    let planted: Vec<(&str, Change, i32, &str)> = vec![
        (
            "failed",
            Box::new(|p: &mut Value| {
                p["verdict"] = json!("fail");
                p["scenarios"][1]["status"] = json!("failed");
                p["scenarios"][1]["rule"] = json!("reap_marker_not_v1");
            }),
            7,
            "report_not_pass",
        ),
        (
            "failed-but-pass",
            Box::new(|p: &mut Value| {
                p["scenarios"][0]["status"] = json!("failed");
            }),
            7,
            "report_not_pass",
        ),
        (
            "problem",
            Box::new(|p: &mut Value| {
                p["problems"] = json!(["a scenario of the catalogue did not run"]);
            }),
            7,
            "report_not_pass",
        ),
        (
            "producer-differs",
            Box::new(|p: &mut Value| {
                p["producer"]["matches"] = json!(false);
            }),
            7,
            "report_not_pass",
        ),
        (
            "skipped",
            Box::new(|p: &mut Value| {
                p["scenarios"][0]["status"] = json!("skipped");
            }),
            8,
            "report_partial",
        ),
        (
            "empty",
            Box::new(|p: &mut Value| {
                p["scenarios"] = json!([]);
            }),
            8,
            "report_partial",
        ),
        (
            "other-contract",
            Box::new(|p: &mut Value| {
                p["schema_hash"] = json!("0".repeat(64));
            }),
            5,
            "report_invalid",
        ),
        (
            "unknown-member",
            Box::new(|p: &mut Value| {
                p["extra"] = json!(1);
            }),
            5,
            "report_invalid",
        ),
        (
            "dev-signed",
            Box::new(|p: &mut Value| {
                p["dev_signed"] = json!(true);
            }),
            9,
            "report_dev_signed",
        ),
    ];
    for (name, change, exit, code) in planted {
        let mut statement = conform_statement(false);
        change(&mut statement["predicate"]);
        let envelope = sign_statement(dir.path(), name, &statement, &keys.release);
        assert_eq!(refused(&verify(&envelope, &key)), (exit, code), "{name}");
    }
    // The relaxations say what they relaxed.
    let mut skipped = conform_statement(true);
    skipped["predicate"]["scenarios"][0]["status"] = json!("skipped");
    let relaxed = sign_statement(dir.path(), "relaxed", &skipped, &keys.release);
    let answer = verify(
        &relaxed,
        &[
            "--public-key",
            path_str(&keys.json),
            "--allow-partial",
            "--allow-dev-signed",
        ],
    );
    assert_eq!(answer.0, 0, "{}", answer.1);
    assert_eq!(answer.1["relaxed"].as_array().map(Vec::len), Some(2));
    // A key it does not trust is refused first.
    let other = ["--public-key", path_str(&keys.other)];
    assert_eq!(refused(&verify(&good, &other)), (4, "envelope_wrong_key"));
}
