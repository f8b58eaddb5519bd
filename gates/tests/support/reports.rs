//! Signed reports of real runs for the tests: gates named after the plan with planted outcomes,
//! run by the real runner, reported and signed as `autocapture-gates run` does.

use std::path::{Path, PathBuf};

use autocapture_core::base::clock::SteppingClock;
use autocapture_gates::contract::{default_contracts_dir, workspace_root};
use autocapture_gates::gates::PLAN;
use autocapture_gates::harness::dsse;
use autocapture_gates::harness::gate::{Gate, GateContext, GateOutcome, Target};
use autocapture_gates::harness::report::{ReportInputs, statement, test_result};
use autocapture_gates::harness::runner::{RunOptions, RunResults, run_gates};
use autocapture_gates::harness::scratch::Scratch;
use ed25519_dalek::SigningKey;
use serde_json::Value;
use time::macros::datetime;

/// A gate of the plan whose outcome is planted.
struct PlanGate {
    name: &'static str,
    outcome: &'static str,
}

impl Gate for PlanGate {
    fn name(&self) -> &'static str {
        self.name
    }

    fn proves(&self) -> &'static str {
        "a planted outcome under a plan gate's name"
    }

    fn run(&self, _ctx: &GateContext) -> anyhow::Result<GateOutcome> {
        let mut outcome = GateOutcome::default();
        match self.outcome {
            "error" => anyhow::bail!("planted: cannot run"),
            other => outcome.check("holds", other == "pass", "planted failure"),
        };
        Ok(outcome)
    }
}

/// Runs gates named after the plan; `outcome(name)` plants each one's result.
pub fn plan_run(out: &Path, select: &[&str], outcome: fn(&str) -> &'static str) -> RunResults {
    let registry: Vec<Box<dyn Gate>> = PLAN
        .iter()
        .map(|(name, _)| {
            Box::new(PlanGate {
                name,
                outcome: outcome(name),
            }) as Box<dyn Gate>
        })
        .collect();
    let options = RunOptions {
        out: out.to_path_buf(),
        scratch: Scratch::in_out(out),
        select: select.iter().map(|s| (*s).to_owned()).collect(),
        target: Target::Embedded,
        jobs: 1,
        repeat: 1,
        seed: 3,
        frames: 40,
        handoffs: 1,
        autocapture_bin: None,
        harness_bin: None,
        sla_input: None,
        sla_trace: None,
        slow: false,
        keep_work: false,
        progress: false,
    };
    let clock = SteppingClock::new(datetime!(2026-03-01 10:00 UTC), time::Duration::seconds(1));
    run_gates(&registry, &options, &clock).expect("run")
}

pub fn all_pass(_: &str) -> &'static str {
    "pass"
}

/// Signs the report of `results` as the harness does; returns (report envelope, test-result
/// envelope, Statement).
pub fn sign_run(
    results: &RunResults,
    dir: &Path,
    name: &str,
    key: &SigningKey,
    dev_signed: bool,
) -> (PathBuf, PathBuf, Value) {
    let statement = statement(&ReportInputs {
        results,
        target: &Target::Embedded,
        dev_signed,
        autocapture_bin: None,
        contracts_dir: &default_contracts_dir().expect("a checkout"),
        workspace_root: &workspace_root().expect("a checkout"),
        sister: None,
    })
    .expect("statement");
    let body = serde_json::to_vec_pretty(&statement).expect("json");
    let report = dir.join(format!("{name}.dsse.json"));
    std::fs::write(
        &report,
        serde_json::to_vec(&dsse::sign(&body, key)).expect("json"),
    )
    .expect("write");
    let result = test_result(&statement, &body, results);
    let result_body = serde_json::to_vec(&result).expect("json");
    let tested = dir.join(format!("{name}.test-result.dsse.json"));
    std::fs::write(
        &tested,
        serde_json::to_vec(&dsse::sign(&result_body, key)).expect("json"),
    )
    .expect("write");
    (report, tested, statement)
}
