//! What `verify` accepts of a signed `conform hypervisor` report: its predicate validates against
//! the built-in schema (`gates/schemas/conform-hypervisor-predicate.v1.schema.json`); it meets
//! the replay expectations; it was made against the contract this build embeds, and the producer
//! it names (if any) matches it; its verdict is `pass` with no failed scenario and no problem;
//! at least one scenario ran and none was skipped (`--allow-partial` relaxes this); and it is not
//! dev-signed (`--allow-dev-signed` relaxes this). The refusals are those of gate reports.

use std::collections::BTreeMap;

use autocapture_core::contract::ContractIdentity;
use serde_json::Value;

use super::{Accepted, Judged, Policy, Refusal, accept};
use crate::harness::freshness;

/// The predicate type of the signed `conform hypervisor` report.
pub const PREDICATE_TYPE: &str = "urn:autocapture:predicate:conform-hypervisor:v1";

/// The predicate's schema.
const SCHEMA: &str = include_str!("../../../schemas/conform-hypervisor-predicate.v1.schema.json");

/// Every violation of the predicate schema, as `"<pointer>: <message>"` (empty when valid).
pub fn violations(predicate: &Value) -> anyhow::Result<Vec<String>> {
    let schema: Value = serde_json::from_str(SCHEMA)?;
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&schema)
        .map_err(|e| anyhow::anyhow!("the conform predicate schema does not build: {e}"))?;
    Ok(validator
        .iter_errors(predicate)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect())
}

/// Decides on a verified conform Statement.
pub fn check(statement: &Value, keyid: String, policy: &Policy) -> Result<Accepted, Refusal> {
    let predicate = &statement["predicate"];
    let found = violations(predicate).map_err(|e| Refusal::Invalid(e.to_string()))?;
    if !found.is_empty() {
        return Err(Refusal::Invalid(found.join("; ")));
    }
    freshness::check(statement, &policy.expect).map_err(Refusal::Replayed)?;
    let ours = ContractIdentity::embedded().map_err(|e| Refusal::Invalid(e.to_string()))?;
    let theirs = (
        predicate["contract_version"].as_str().unwrap_or_default(),
        predicate["schema_hash"].as_str().unwrap_or_default(),
    );
    if theirs != (ours.contract_version.as_str(), ours.schema_hash.as_str()) {
        return Err(Refusal::Invalid(format!(
            "made against contract {} / {}, this build's is {} / {}",
            theirs.0, theirs.1, ours.contract_version, ours.schema_hash
        )));
    }

    let scenarios: Vec<&Value> = predicate["scenarios"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let status = |s: &Value| s["status"].as_str().unwrap_or_default().to_owned();
    let name = |s: &Value| {
        format!(
            "{}:{} {}",
            s["file"].as_str().unwrap_or_default(),
            s["line"],
            s["name"].as_str().unwrap_or_default()
        )
    };
    let mut failing: Vec<String> = scenarios
        .iter()
        .filter(|s| status(s) == "failed")
        .map(|s| {
            format!(
                "{} (failed: {})",
                name(s),
                s["rule"].as_str().unwrap_or("no rule")
            )
        })
        .collect();
    failing.extend(
        predicate["problems"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| format!("problem: {}", p.as_str().unwrap_or_default())),
    );
    if predicate["producer"]["matches"] == Value::Bool(false) {
        failing.push("the producer's contract differs from ours".into());
    }
    let verdict = predicate["verdict"].as_str().unwrap_or_default().to_owned();
    if verdict != "pass" || !failing.is_empty() {
        return Err(Refusal::NotPass { verdict, failing });
    }
    let mut uncovered: Vec<String> = scenarios
        .iter()
        .filter(|s| status(s) != "passed")
        .map(|s| format!("{} ({})", name(s), status(s)))
        .collect();
    if scenarios.is_empty() {
        uncovered.push("no scenario ran".into());
    }
    let mut counts = BTreeMap::new();
    for scenario in &scenarios {
        *counts.entry(status(scenario)).or_insert(0) += 1;
    }
    accept(
        Judged {
            kind: "conform report",
            partial: !uncovered.is_empty(),
            verdict,
            uncovered,
            counts,
        },
        keyid,
        predicate,
        policy,
    )
}
