//! The `features` gate: every `@repo` and `@both` scenario of `features/*.feature` passes against
//! the real core and the real `autocapture` (cucumber, in process); every file and runnable
//! scenario was picked up (the JUnit report is compared with the files as parsed on their own);
//! `@hypervisor` scenarios are counted. First it must catch its planted violations
//! (`fixtures/features/planted`): a failing scenario and a step without a definition, each by
//! name, and a `.feature` file that the run did not pick up.

use std::time::Instant;

use anyhow::Context;

use crate::contract::workspace_root;
use crate::corpus::copies::copy_tree;
use crate::features::catalog::Side;
use crate::features::run::{self, RunOptions, Status};
use crate::harness::gate::{Gate, GateContext, GateOutcome};

pub struct FeaturesGate;

/// The planted scenarios and what a run must say about each.
pub const PLANTED_FAILING: &str = "Planted: a failed ingest reported as a success";
pub const PLANTED_UNDEFINED: &str = "Planted: a step without a definition";
/// The file added to the planted folder after its run: the comparison must call it unpicked.
pub const PLANTED_LATE_FILE: &str = "late.feature";

/// Runs the planted folder (after a [`run::run`] installed the settings) and returns the checks
/// `(name, caught, detail)`.
pub fn planted_checks(
    workspace: &std::path::Path,
    work: &std::path::Path,
) -> anyhow::Result<Vec<(String, bool, String)>> {
    let dir = work.join("planted");
    copy_tree(&workspace.join("fixtures/features/planted"), &dir)?;
    let junit = work.join("planted-junit.xml");
    let planted = run::run_again(&dir, &junit)?;
    let status_of = |name: &str| {
        planted
            .results
            .iter()
            .find(|r| r.entry.name == name)
            .map(|r| r.status.clone())
    };
    let mut checks = Vec::new();
    let failing = status_of(PLANTED_FAILING);
    checks.push((
        format!("planted failing scenario caught: {PLANTED_FAILING}"),
        matches!(&failing, Some(Status::Failed(why)) if why.contains("expected success"))
            && planted
                .problems()
                .iter()
                .any(|p| p.contains(PLANTED_FAILING)),
        format!("status {failing:?}"),
    ));
    let undefined = status_of(PLANTED_UNDEFINED);
    checks.push((
        format!("planted step without a definition caught: {PLANTED_UNDEFINED}"),
        undefined == Some(Status::Skipped) && !planted.passed(),
        format!("status {undefined:?}"),
    ));
    std::fs::write(
        dir.join(PLANTED_LATE_FILE),
        "Feature: Late\n\n  @repo\n  Scenario: Added after the run\n    Then the default bind is \"127.0.0.1:8787\"\n",
    )?;
    let late = run::compare(
        crate::features::catalog::read(&dir)?,
        run::read_junit(&junit)?,
        &junit,
    );
    checks.push((
        format!("planted unpicked file caught: {PLANTED_LATE_FILE}"),
        late.unpicked
            .iter()
            .any(|u| u.starts_with(PLANTED_LATE_FILE) && u.contains("Added after the run"))
            && !late.passed(),
        format!("unpicked {:?}", late.unpicked),
    ));
    Ok(checks)
}

impl Gate for FeaturesGate {
    fn name(&self) -> &'static str {
        "features"
    }

    /// A few seconds: ahead of the sub-second gates.
    fn weight(&self) -> u32 {
        4
    }

    fn run(&self, ctx: &GateContext) -> anyhow::Result<GateOutcome> {
        let mut outcome = GateOutcome::default();
        let started = Instant::now();
        let workspace = workspace_root()?;
        let autocapture_bin = ctx
            .autocapture_bin
            .clone()
            .context("the features gate runs the real autocapture binary; none was found")?;
        let result = run::run(&RunOptions {
            features_dir: workspace.join("features"),
            work: ctx.work.join("run"),
            autocapture_bin,
            workspace: workspace.clone(),
            junit_path: ctx.work.join("features-junit.xml"),
            seed: ctx.seed,
        })?;
        outcome.measure("features_run_ms", started.elapsed().as_millis() as u64);
        outcome.measure("feature_files", result.catalog.files.len() as u64);
        for side in [Side::Repo, Side::Both, Side::Hypervisor] {
            let tag = side.tag();
            let (ran, passed, failed, skipped) = result.counts(side);
            outcome.measure(
                &format!("{tag}_scenarios"),
                result.catalog.count(side) as u64,
            );
            if side.runs_here() {
                outcome.measure(&format!("{tag}_run"), ran as u64);
                outcome.measure(&format!("{tag}_passed"), passed as u64);
                outcome.measure(&format!("{tag}_failed"), failed as u64);
                outcome.measure(&format!("{tag}_skipped"), skipped as u64);
            }
        }
        outcome.check(
            "the features folder defines @repo scenarios",
            result.catalog.count(Side::Repo) > 0,
            format!("no @repo scenario under {}", result.catalog.root.display()),
        );
        outcome.check(
            "every file parses; every scenario has one side tag and a unique name",
            result.catalog.problems.is_empty(),
            result.catalog.problems.join("; "),
        );
        outcome.check(
            "every .feature file and every @repo and @both scenario was picked up",
            result.unpicked.is_empty(),
            result.unpicked.join("; "),
        );
        outcome.check(
            "the JUnit report holds no case outside the catalog",
            result.unknown.is_empty(),
            result
                .unknown
                .iter()
                .map(|c| format!("{}: {}", c.name, run::describe(&c.status)))
                .collect::<Vec<_>>()
                .join("; "),
        );
        for r in &result.results {
            outcome.check(
                &format!(
                    "@{} {}:{}: {}",
                    r.entry.side.tag(),
                    r.entry.file,
                    r.entry.line,
                    r.entry.name
                ),
                r.status == Status::Passed,
                run::describe(&r.status),
            );
        }
        let planted_started = Instant::now();
        for (name, caught, detail) in planted_checks(&workspace, &ctx.work)? {
            outcome.check(&name, caught, detail);
        }
        outcome.measure("planted_ms", planted_started.elapsed().as_millis() as u64);
        Ok(outcome)
    }
}
