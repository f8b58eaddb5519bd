//! The shared contract scenarios of `features/*.feature`: every `@repo` and `@both` scenario
//! runs with cucumber against the real core and the real `autocapture` binary; `@hypervisor`
//! scenarios are parsed and counted, never run. The JUnit report goes to
//! `AUTOCAPTURE_FEATURES_JUNIT` (default `<target>/tmp/features-junit.xml`). The target fails
//! when a scenario fails or is skipped, when a `.feature` file or a runnable scenario was not
//! picked up, or when a file is wrong in itself (no side tag, a name used twice, a parse error).

use std::path::PathBuf;
use std::process::ExitCode;

use autocapture_gates::features::catalog::Side;
use autocapture_gates::features::run::{RunOptions, run};

/// The harness binary: the `autocapture` binary is found (or built) beside it.
const HARNESS: &str = env!("CARGO_BIN_EXE_autocapture-gates");

fn main() -> ExitCode {
    let outcome = (|| -> anyhow::Result<bool> {
        let autocapture_bin =
            autocapture_gates::harness::bins::autocapture_beside(std::path::Path::new(HARNESS))?;
        let work = tempfile::tempdir()?;
        let junit_path = std::env::var_os("AUTOCAPTURE_FEATURES_JUNIT")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("features-junit.xml")
            });
        let workspace = autocapture_gates::contract::workspace_root().expect("a checkout");
        let result = run(&RunOptions {
            features_dir: workspace.join("features"),
            work: work.path().to_path_buf(),
            autocapture_bin,
            workspace: workspace.clone(),
            junit_path: junit_path.clone(),
            seed: 7,
        })?;
        for r in &result.results {
            println!(
                "scenario {}:{} [@{}] {} ... {}",
                r.entry.file,
                r.entry.line,
                r.entry.side.tag(),
                r.entry.name,
                autocapture_gates::features::run::describe(&r.status)
            );
        }
        for side in [Side::Repo, Side::Both, Side::Hypervisor] {
            let (ran, passed, failed, skipped) = result.counts(side);
            println!(
                "@{}: {} defined, {ran} run, {passed} passed, {failed} failed, {skipped} skipped",
                side.tag(),
                result.catalog.count(side)
            );
        }
        for problem in result.problems() {
            println!("PROBLEM {problem}");
        }
        println!("JUnit: {}", junit_path.display());
        // Each planted violation (a failing scenario, a step without a definition, a file the
        // run did not pick up) must be caught by name.
        let mut planted_caught = true;
        for (name, caught, detail) in
            autocapture_gates::gates::features_gate::planted_checks(&workspace, work.path())?
        {
            println!("{name} ... {}", if caught { "caught" } else { "MISSED" });
            if !caught {
                println!("PROBLEM planted violation missed: {name}: {detail}");
                planted_caught = false;
            }
        }
        let passed = result
            .results
            .iter()
            .filter(|r| r.status == autocapture_gates::features::run::Status::Passed)
            .count();
        println!("{passed} passed, {} failed", result.problems().len());
        Ok(result.passed() && !result.results.is_empty() && planted_caught)
    })();
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("features: {e:#}");
            ExitCode::FAILURE
        }
    }
}
