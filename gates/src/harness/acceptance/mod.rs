//! What `autocapture-gates verify` accepts. Exit 0 means all of: the envelope is a DSSE envelope
//! signed by one of the trusted keys; its Statement carries our gate-report predicate and that
//! predicate validates against the built-in schema; it meets the replay expectations given; its
//! verdict is `pass`, no gate failed or errored, every gate of the plan ran (none missing or
//! skipped); and it is not dev-signed. `--allow-partial` and `--allow-dev-signed` relax the last
//! two, and the answer says so. Every refusal has its own code word and exit code
//! ([`Refusal::exit_code`]); the checks run in the order of that table, so the first refusal
//! reported is the most basic one. A signed `conform hypervisor` report is judged by
//! [`conform`] with the same refusals.

pub mod conform;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};
use thiserror::Error;

use super::dsse::{self, Verified, VerifyError};
use super::freshness::{self, Expectations, ReplayError};
use super::report::{PREDICATE_TYPE, predicate_violations};

/// Exit codes of `verify` (documented in `docs/release-gates.md`).
pub mod exit {
    /// A trusted, complete, passing, release-signed report.
    pub const VERIFIED: u8 = 0;
    /// Usage: bad flags, an unreadable envelope or key file.
    pub const USAGE: u8 = 2;
    pub const ENVELOPE_INVALID: u8 = 3;
    pub const SIGNATURE_UNTRUSTED: u8 = 4;
    pub const REPORT_INVALID: u8 = 5;
    pub const REPORT_REPLAYED: u8 = 6;
    pub const REPORT_NOT_PASS: u8 = 7;
    pub const REPORT_PARTIAL: u8 = 8;
    pub const REPORT_DEV_SIGNED: u8 = 9;
}

/// What the verifier relaxes or expects beyond the default.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Accept a report that does not cover every gate of the plan.
    pub allow_partial: bool,
    /// Accept a report signed with a throwaway key.
    pub allow_dev_signed: bool,
    pub expect: Expectations,
}

/// Why a report is refused.
#[derive(Debug, Error)]
pub enum Refusal {
    #[error("{0}")]
    Usage(String),
    #[error("the envelope is not valid: {0}")]
    Envelope(VerifyError),
    #[error("no trusted signature: {0}")]
    Untrusted(VerifyError),
    #[error("the signed Statement is not a valid report: {0}")]
    Invalid(String),
    #[error("{0}")]
    Replayed(ReplayError),
    #[error("the report's verdict is {verdict}, not pass{}", failing_text(.failing))]
    NotPass {
        verdict: String,
        failing: Vec<String>,
    },
    #[error("the report does not cover every gate of the plan (or scenario): {}", .uncovered.join(", "))]
    Partial { uncovered: Vec<String> },
    #[error("the report is dev-signed (a throwaway key): it cannot release anything")]
    DevSigned,
}

fn failing_text(failing: &[String]) -> String {
    if failing.is_empty() {
        String::new()
    } else {
        format!("; gates not passing: {}", failing.join(", "))
    }
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Usage(_) => "verify_usage",
            Refusal::Envelope(e) | Refusal::Untrusted(e) => e.code(),
            Refusal::Invalid(_) => "report_invalid",
            Refusal::Replayed(e) => e.code(),
            Refusal::NotPass { .. } => "report_not_pass",
            Refusal::Partial { .. } => "report_partial",
            Refusal::DevSigned => "report_dev_signed",
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Refusal::Usage(_) => exit::USAGE,
            Refusal::Envelope(_) => exit::ENVELOPE_INVALID,
            Refusal::Untrusted(_) => exit::SIGNATURE_UNTRUSTED,
            Refusal::Invalid(_) => exit::REPORT_INVALID,
            Refusal::Replayed(_) => exit::REPORT_REPLAYED,
            Refusal::NotPass { .. } => exit::REPORT_NOT_PASS,
            Refusal::Partial { .. } => exit::REPORT_PARTIAL,
            Refusal::DevSigned => exit::REPORT_DEV_SIGNED,
        }
    }
}

/// A report `verify` accepted, and what it relaxed to accept it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Accepted {
    /// `gate report` or `conform report`.
    pub kind: &'static str,
    pub keyid: String,
    pub run_id: Option<String>,
    pub git_commit: Option<String>,
    pub verdict: String,
    pub dev_signed: bool,
    /// Gates per verdict (`pass`, `fail`, `error`, `skipped`); for a conform report,
    /// scenarios per status (`passed`, `failed`, `skipped`).
    pub gates: BTreeMap<String, usize>,
    /// Each relaxation that was needed: `partial: …`, `dev-signed`.
    pub relaxed: Vec<String>,
}

impl Accepted {
    /// The one-line answer for people.
    pub fn describe(&self) -> String {
        let counts: Vec<String> = self.gates.iter().map(|(v, n)| format!("{n} {v}")).collect();
        // A gate report's line is as it always was; a conform report's says so.
        let (kind, what) = match self.kind {
            "conform report" => ("conform report ", "scenarios"),
            _ => ("", "gates"),
        };
        let mut line = format!(
            "verified: {kind}signed by {}; verdict {}; {what} {}; run {}",
            self.keyid,
            self.verdict,
            counts.join(", "),
            self.run_id.as_deref().unwrap_or("?")
        );
        for relaxed in &self.relaxed {
            line.push_str(&format!("\nrelaxed: accepted although {relaxed}"));
        }
        line
    }

    pub fn to_json(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        value["ok"] = json!(true);
        value
    }
}

/// The JSON answer for a refusal.
pub fn refusal_json(refusal: &Refusal) -> Value {
    json!({"ok": false, "error": {
        "code": refusal.code(), "message": refusal.to_string(), "exit_code": refusal.exit_code(),
    }})
}

fn classify(error: VerifyError) -> Refusal {
    match error {
        VerifyError::NoSignatureForKey { .. } | VerifyError::BadSignature => {
            Refusal::Untrusted(error)
        }
        other => Refusal::Envelope(other),
    }
}

/// Decides on an envelope's bytes: signature by one of `keys`, then the report itself against
/// `policy`; `plan` is every gate name a complete run must cover.
pub fn check(
    envelope: &[u8],
    keys: &[ed25519_dalek::VerifyingKey],
    policy: &Policy,
    plan: &[&str],
) -> Result<Accepted, Refusal> {
    if keys.is_empty() {
        return Err(Refusal::Usage("no trusted public key given".into()));
    }
    let Verified { statement, keyid } = dsse::verify(envelope, keys).map_err(classify)?;
    let predicate_type = statement["predicateType"].as_str().unwrap_or_default();
    match predicate_type {
        PREDICATE_TYPE => gate_report(&statement, keyid, policy, plan),
        conform::PREDICATE_TYPE => conform::check(&statement, keyid, policy),
        other => Err(Refusal::Invalid(format!(
            "predicateType {other:?}, neither {PREDICATE_TYPE} nor {}",
            conform::PREDICATE_TYPE
        ))),
    }
}

/// A gate report: complete, passing, release-signed (with the policy's relaxations).
fn gate_report(
    statement: &Value,
    keyid: String,
    policy: &Policy,
    plan: &[&str],
) -> Result<Accepted, Refusal> {
    let predicate = &statement["predicate"];
    let violations =
        predicate_violations(predicate).map_err(|e| Refusal::Invalid(e.to_string()))?;
    if !violations.is_empty() {
        return Err(Refusal::Invalid(violations.join("; ")));
    }
    freshness::check(statement, &policy.expect).map_err(Refusal::Replayed)?;

    let gates: Vec<(&str, &str)> = predicate["gates"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            (
                g["name"].as_str().unwrap_or_default(),
                g["verdict"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    let verdict = predicate["verdict"].as_str().unwrap_or_default().to_owned();
    let failing: Vec<String> = gates
        .iter()
        .filter(|(_, v)| *v == "fail" || *v == "error")
        .map(|(n, v)| format!("{n} ({v})"))
        .collect();
    if !(verdict == "pass" || verdict == "partial") || !failing.is_empty() {
        return Err(Refusal::NotPass { verdict, failing });
    }
    let uncovered: Vec<String> = plan
        .iter()
        .filter_map(|name| match gates.iter().find(|(n, _)| n == name) {
            None => Some(format!("{name} (missing)")),
            Some((_, "skipped")) => Some(format!("{name} (skipped)")),
            Some(_) => None,
        })
        .collect();
    let mut counts = BTreeMap::new();
    for (_, v) in &gates {
        *counts.entry((*v).to_owned()).or_insert(0) += 1;
    }
    accept(
        Judged {
            kind: "gate report",
            partial: !uncovered.is_empty() || verdict != "pass",
            verdict,
            uncovered,
            counts,
        },
        keyid,
        predicate,
        policy,
    )
}

/// What a report's own policy found, for the checks every report shares.
struct Judged {
    kind: &'static str,
    verdict: String,
    /// Not everything it should cover ran.
    partial: bool,
    /// What did not run.
    uncovered: Vec<String>,
    /// Gates or scenarios per verdict.
    counts: BTreeMap<String, usize>,
}

/// The last two checks of every report, each relaxed only by its flag (and then said): complete
/// (`--allow-partial`) and not dev-signed (`--allow-dev-signed`); then the answer.
fn accept(
    judged: Judged,
    keyid: String,
    predicate: &Value,
    policy: &Policy,
) -> Result<Accepted, Refusal> {
    let mut relaxed = Vec::new();
    if judged.partial {
        if !policy.allow_partial {
            return Err(Refusal::Partial {
                uncovered: judged.uncovered,
            });
        }
        relaxed.push(format!(
            "the report is partial (--allow-partial): {}",
            judged.uncovered.join(", ")
        ));
    }
    let dev_signed = predicate["dev_signed"].as_bool() != Some(false);
    if dev_signed {
        if !policy.allow_dev_signed {
            return Err(Refusal::DevSigned);
        }
        relaxed.push("the report is dev-signed (--allow-dev-signed)".into());
    }
    Ok(Accepted {
        kind: judged.kind,
        keyid,
        run_id: predicate["run_id"].as_str().map(str::to_owned),
        git_commit: predicate["environment"]["git_commit"]
            .as_str()
            .map(str::to_owned),
        verdict: judged.verdict,
        dev_signed,
        gates: judged.counts,
        relaxed,
    })
}
