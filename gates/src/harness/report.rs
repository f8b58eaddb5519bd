//! The run's report: an in-toto Statement v1 whose subjects are what was tested (the
//! `autocapture` binary, the contract lock, the fixture corpus with the story it was generated
//! from and the golden case file asked of it, the git commit) and whose
//! predicate (schema `gates/schemas/gate-report-predicate.v2.schema.json`, embedded) holds every
//! gate's verdict, checks, figures and evidence, the contract identity, the determinism controls
//! and the environment. Beside it, the same subjects under the standard in-toto Test Result
//! predicate, for policy engines that know nothing of ours.

use std::path::Path;

use anyhow::Context;
use autocapture_core::contract::{ContractIdentity, sha256_file, sha256_hex};
use serde_json::{Value, json};

use super::gate::{Target, Verdict};
use super::runner::{RunResults, RunVerdict};
use super::sister::SisterCheckpoint;
use crate::golden::stories::GOLDEN_STORIES;

pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PREDICATE_TYPE: &str = "urn:autocapture:predicate:gate-report:v2";

/// The predicate's layout version (`predicate.predicate_version`).
pub const PREDICATE_VERSION: u64 = 2;
/// The in-toto Test Result predicate (attestation spec v1, predicate v0.1).
pub const TEST_RESULT_TYPE: &str = "https://in-toto.io/attestation/test-result/v0.1";
/// The predicate's JSON Schema, built in so a copied harness binary checks reports alone.
pub const PREDICATE_SCHEMA: &str =
    include_str!("../../schemas/gate-report-predicate.v2.schema.json");

/// The determinism controls every run pins.
pub const TZ: &str = "UTC";
pub const LOCALE: &str = "C";
pub const SERIALIZATION: &str = "json keys sorted by code point; gates in registry order";

pub struct ReportInputs<'a> {
    pub results: &'a RunResults,
    pub target: &'a Target,
    pub dev_signed: bool,
    pub autocapture_bin: Option<&'a Path>,
    pub contracts_dir: &'a Path,
    pub workspace_root: &'a Path,
    pub sister: Option<&'a SisterCheckpoint>,
}

/// The git commit checked out at `root`, when git knows one.
pub fn git_commit(root: &Path) -> Option<String> {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let commit = text.trim();
    (output.status.success()
        && (commit.len() == 40 || commit.len() == 64)
        && commit.bytes().all(|b| b.is_ascii_hexdigit()))
    .then(|| commit.to_ascii_lowercase())
}

/// Builds the Statement.
pub fn statement(inputs: &ReportInputs<'_>) -> anyhow::Result<Value> {
    let identity = ContractIdentity::embedded()?;
    let results = inputs.results;
    let commit = git_commit(inputs.workspace_root);
    let mut subjects = Vec::new();
    if let Some(bin) = inputs.autocapture_bin {
        subjects.push(json!({"name": "autocapture", "digest": {"sha256": sha256_file(bin)?.0}}));
    }
    let lock = inputs.contracts_dir.join("contract.lock.json");
    subjects.push(json!({"name": "contracts/contract.lock.json", "digest": {"sha256": sha256_file(&lock)?.0}}));
    subjects.push(json!({"name": "fixture-corpus", "digest": {"sha256": results.corpus_sha256}}));
    // The stories the corpora were generated from (the run's corpus from the first) and the
    // case files the golden gate asked of them (embedded in the harness).
    for story in &GOLDEN_STORIES {
        for (name, text) in [
            (story.story_path, story.story),
            (story.cases_path, story.cases),
        ] {
            subjects.push(json!({"name": name, "digest": {"sha256": sha256_hex(text.as_bytes())}}));
        }
    }
    // What gates generated or read besides the run's corpus (the second story's corpus).
    for gate in &results.gates {
        for (name, sha256) in &gate.inputs {
            subjects.push(json!({"name": name, "digest": {"sha256": sha256}}));
        }
    }
    if let Some(commit) = &commit {
        subjects.push(json!({"name": "git-commit", "digest": {"gitCommit": commit}}));
    }
    let gates: Vec<Value> = results
        .gates
        .iter()
        .map(|g| {
            json!({
                "name": g.name, "proves": g.proves, "verdict": g.verdict.as_str(), "duration_ms": g.duration_ms,
                "measurements": g.measurements, "evidence": g.evidence, "checks": g.checks,
                "repeats": g.repeats, "flake_rate": g.flake_rate,
            })
        })
        .collect();
    let mut predicate = json!({
        "predicate_version": PREDICATE_VERSION,
        "run_id": results.run_id,
        "started_at_utc": results.started_at_utc,
        "finished_at_utc": results.finished_at_utc,
        "dev_signed": inputs.dev_signed,
        "contract_version": identity.contract_version,
        "schema_hash": identity.schema_hash,
        "target": inputs.target.as_str(),
        "verdict": results.verdict().as_str(),
        "gates": gates,
        "controls": {"seed": results.options_seed, "frames": results.options_frames, "tz": TZ, "locale": LOCALE,
                     "repeat": results.repeat, "serialization": SERIALIZATION},
        "environment": {
            "os": std::env::consts::OS, "arch": std::env::consts::ARCH,
            "cpus": std::thread::available_parallelism().map(usize::from).unwrap_or(1),
            "git_commit": commit, "harness_version": env!("CARGO_PKG_VERSION"),
            "scratch_fs": results.scratch_fs,
        },
    });
    if let Some(sister) = inputs.sister {
        predicate["sister"] = serde_json::to_value(sister)?;
    }
    Ok(json!({
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    }))
}

/// Every violation of the predicate schema, as `"<pointer>: <message>"` (empty when valid).
pub fn predicate_violations(predicate: &Value) -> anyhow::Result<Vec<String>> {
    let schema: Value =
        serde_json::from_str(PREDICATE_SCHEMA).context("parse the built-in predicate schema")?;
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&schema)
        .map_err(|e| anyhow::anyhow!("compile the built-in predicate schema: {e}"))?;
    Ok(validator
        .iter_errors(predicate)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect())
}

/// The run as an in-toto Test Result (v0.1) Statement over the same subjects as `report`:
/// `PASSED` for a pass, `WARNED` for a partial run (the skipped gates are its `warnedTests`),
/// `FAILED` otherwise; `configuration` names the corpus, the contract lock and the exact bytes of
/// the gate report (`report_body`) it summarises.
pub fn test_result(report: &Value, report_body: &[u8], results: &RunResults) -> Value {
    let names = |verdicts: &[Verdict]| -> Vec<&str> {
        results
            .gates
            .iter()
            .filter(|g| verdicts.contains(&g.verdict))
            .map(|g| g.name.as_str())
            .collect()
    };
    let result = match results.verdict() {
        RunVerdict::Pass => "PASSED",
        RunVerdict::Partial => "WARNED",
        RunVerdict::Fail | RunVerdict::Error => "FAILED",
    };
    let mut configuration: Vec<Value> = report["subject"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["name"] == "fixture-corpus" || s["name"] == "contracts/contract.lock.json")
        .cloned()
        .collect();
    configuration.push(json!({
        "name": "report.json",
        "digest": {"sha256": autocapture_core::contract::sha256_hex(report_body)},
        "mediaType": "application/vnd.in-toto+json",
    }));
    json!({
        "_type": STATEMENT_TYPE,
        "subject": report["subject"],
        "predicateType": TEST_RESULT_TYPE,
        "predicate": {
            "result": result,
            "configuration": configuration,
            "passedTests": names(&[Verdict::Pass]),
            "warnedTests": names(&[Verdict::Skipped]),
            "failedTests": names(&[Verdict::Fail, Verdict::Error]),
        },
    })
}
