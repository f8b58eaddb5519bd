//! Planted gates for the harness's tests (a passing, a failing, an erroring, a panicking, an empty
//! and a flaky one), a run of them on a fixed stepping clock, and its signed report.
#![allow(dead_code)]

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use autocapture_core::base::clock::SteppingClock;
use autocapture_gates::contract::{default_contracts_dir, workspace_root};
use autocapture_gates::harness::dsse;
use autocapture_gates::harness::gate::{Chart, Gate, GateContext, GateOutcome, Target};
use autocapture_gates::harness::report::{ReportInputs, statement};
use autocapture_gates::harness::runner::{RunOptions, RunResults, run_gates};
use autocapture_gates::harness::scratch::Scratch;
use autocapture_gates::harness::{keys, summary};
use serde_json::{Value, json};
use time::macros::datetime;

struct Planted {
    name: &'static str,
    behaviour: Behaviour,
    calls: AtomicU64,
}

#[derive(Clone, Copy)]
enum Behaviour {
    Pass,
    Fail,
    Error,
    Panic,
    NoChecks,
    Flaky,
}

impl Planted {
    fn boxed(name: &'static str, behaviour: Behaviour) -> Box<dyn Gate> {
        Box::new(Planted {
            name,
            behaviour,
            calls: AtomicU64::new(0),
        })
    }
}

impl Gate for Planted {
    fn name(&self) -> &'static str {
        self.name
    }

    fn proves(&self) -> &'static str {
        "a planted behaviour"
    }

    fn run(&self, ctx: &GateContext) -> anyhow::Result<GateOutcome> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        let mut outcome = GateOutcome::default();
        outcome.measure("corpus_exists", ctx.corpus.join("truth.json").is_file());
        outcome.measure("elapsed_ms", call * 7);
        match self.behaviour {
            Behaviour::Pass => {
                outcome.check("holds", true, "");
                outcome
                    .inputs
                    .push(("planted-input".into(), "ab".repeat(32)));
                outcome.charts.push(Chart {
                    title: "planted <chart>".into(),
                    svg: "<svg xmlns=\"http://www.w3.org/2000/svg\"><circle class=\"planted\" r=\"1\"/></svg>".into(),
                });
            }
            Behaviour::Fail => {
                outcome.check("holds", true, "");
                outcome.check_eq(
                    "count <matches> & \"more\"",
                    Some("run1/x/1"),
                    json!(3),
                    json!(4),
                );
            }
            Behaviour::Error => anyhow::bail!("planted: the gate cannot run"),
            Behaviour::Panic => panic!("planted panic"),
            Behaviour::NoChecks => {}
            Behaviour::Flaky => {
                outcome.measure("rows", call % 2);
                outcome.check("holds", true, "");
            }
        }
        Ok(outcome)
    }
}

pub fn options(out: &Path, select: &[&str], repeat: u32) -> RunOptions {
    RunOptions {
        out: out.to_path_buf(),
        scratch: Scratch::in_out(out),
        select: select.iter().map(|s| (*s).to_owned()).collect(),
        target: Target::Embedded,
        jobs: 1,
        repeat,
        seed: 3,
        frames: 40,
        handoffs: 2,
        autocapture_bin: None,
        harness_bin: None,
        sla_input: None,
        sla_trace: None,
        slow: false,
        keep_work: false,
        progress: false,
    }
}

pub fn planted_registry() -> Vec<Box<dyn Gate>> {
    vec![
        Planted::boxed("pass-gate", Behaviour::Pass),
        Planted::boxed("fail-gate", Behaviour::Fail),
        Planted::boxed("error-gate", Behaviour::Error),
        Planted::boxed("panic-gate", Behaviour::Panic),
        Planted::boxed("empty-gate", Behaviour::NoChecks),
        Planted::boxed("flaky-gate", Behaviour::Flaky),
    ]
}

pub fn run(select: &[&str], repeat: u32) -> (tempfile::TempDir, RunResults) {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = SteppingClock::new(
        datetime!(2026-02-21 09:00:00 UTC),
        time::Duration::seconds(1),
    );
    let results = run_gates(
        &planted_registry(),
        &options(dir.path(), select, repeat),
        &clock,
    )
    .expect("run");
    (dir, results)
}

/// The identity rows of `results`' report, signed with a throwaway key.
pub fn summary_identity(results: &RunResults, dir: &Path) -> Vec<summary::IdentityRow> {
    let (statement, _, key) = signed_report(results, dir);
    summary::identity(&statement, &keys::keyid(&key.verifying_key()), true)
}

/// A report of the planted run, signed with a fresh key.
pub fn signed_report(
    results: &RunResults,
    dir: &Path,
) -> (Value, Vec<u8>, ed25519_dalek::SigningKey) {
    let statement = statement(&ReportInputs {
        results,
        target: &Target::Embedded,
        dev_signed: true,
        autocapture_bin: None,
        contracts_dir: &default_contracts_dir().expect("a checkout"),
        workspace_root: &workspace_root().expect("a checkout"),
        sister: None,
    })
    .expect("statement");
    let key = keys::generate().expect("key");
    let body = serde_json::to_vec_pretty(&statement).expect("json");
    let envelope = serde_json::to_vec_pretty(&dsse::sign(&body, &key)).expect("envelope");
    std::fs::write(dir.join("report.dsse.json"), &envelope).expect("write");
    (statement, envelope, key)
}
