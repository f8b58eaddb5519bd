//! The run's report: an in-toto Statement v1 whose subjects are what was tested (the
//! `autocapture` binary, the contract lock, the fixture corpus, the git commit) and whose
//! predicate (schema `contracts/gate-report-predicate.schema.json`) holds every gate's verdict,
//! checks, figures and evidence, the contract identity, the determinism controls and the
//! environment.

use std::path::Path;

use autocapture_core::contract::{ContractIdentity, sha256_file};
use serde_json::{Value, json};

use super::gate::Target;
use super::runner::RunResults;
use super::sister::SisterCheckpoint;

pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PREDICATE_TYPE: &str = "urn:autocapture:predicate:gate-report:v1";

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
        "predicate_version": 1,
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
