//! The budget gate fails with the figures when a cap is exceeded: planted caps far below what a
//! real ingest uses (1 MiB of RSS, 1% of a core) must each fail their check, naming the figure.

use std::path::{Path, PathBuf};

use autocapture_gates::gates::budget_gate::BudgetGate;
use autocapture_gates::harness::bins::autocapture_beside;
use autocapture_gates::harness::gate::{Gate, GateContext, Verdict};

const HARNESS: &str = env!("CARGO_BIN_EXE_autocapture-gates");

#[test]
fn caps_below_the_real_use_fail_with_the_figures() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ctx = GateContext {
        jobs: 2,
        autocapture_bin: Some(autocapture_beside(Path::new(HARNESS)).expect("autocapture")),
        harness_bin: Some(PathBuf::from(HARNESS)),
        ..GateContext::new(dir.path().join("unused-corpus"), dir.path().to_path_buf())
    };
    let gate = BudgetGate {
        rss_cap_mib: 1.0,
        active_safe_cap: 0.01,
        frames: 1500,
        paced_frames: 1500,
    };
    let outcome = gate.run(&ctx).expect("the gate runs");
    assert_eq!(outcome.verdict(), Verdict::Fail);
    let failed: Vec<(&str, &str)> = outcome
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| (c.name.as_str(), c.detail.as_str()))
        .collect();
    let names: Vec<&str> = failed.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "Stage-1 peak RSS within the cap",
            "active-safe within its CPU cap"
        ],
        "{failed:?}"
    );
    assert!(
        failed[0].1.contains("MiB over the cap of 1 MiB"),
        "{}",
        failed[0].1
    );
    assert!(failed[1].1.contains("the cap is 0.01"), "{}", failed[1].1);
    // The Stage-2 checks still hold: the planted caps touch only what they should.
    assert!(
        outcome
            .checks
            .iter()
            .filter(|c| c.name.contains("Stage 2"))
            .all(|c| c.passed)
    );
}

#[test]
fn the_gate_errors_without_the_programs_it_measures() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ctx = GateContext {
        jobs: 2,
        harness_bin: Some(PathBuf::from(HARNESS)),
        ..GateContext::new(dir.path().join("unused-corpus"), dir.path().to_path_buf())
    };
    let err = BudgetGate::default().run(&ctx).expect_err("no binary");
    assert!(err.to_string().contains("real autocapture binary"), "{err}");
}
