//! The fuzz cases of the `hostile` gate. Default mode replays every committed seed
//! (`fuzz/corpus/<target>/`) and every committed crash input (`fuzz/regressions/<target>/`)
//! through the target in-process. Slow mode runs `cargo fuzz` on each target for a fixed budget
//! (stable toolchain, `--sanitizer none`, debug assertions on) and reads libFuzzer's output for
//! the executions and any crash. A missing `cargo-fuzz` fails the slow case; nothing is skipped.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use super::property::{INPUT_BOUND, run_inputs, to_case};
use super::targets::{FUZZ_FIXTURE_ENV, ServedFixture, Target};
use super::{CaseReport, Family};
use crate::harness::gate::GateContext;

/// Seconds of fuzzing per target in slow mode.
pub const SLOW_SECONDS_PER_TARGET: u64 = 60;
/// How to get `cargo fuzz` where it is missing.
pub const INSTALL_HINT: &str =
    "install it with `cargo install cargo-fuzz --locked` (or run ci/fuzz.sh)";

/// The `fuzz/` crate of the workspace.
pub fn fuzz_dir() -> anyhow::Result<PathBuf> {
    Ok(crate::contract::workspace_root()?.join("fuzz"))
}

/// The files directly under `dir`, sorted by name (none when `dir` does not exist).
pub fn inputs_in(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    if !dir.exists() {
        return Ok(files);
    }
    for entry in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let path = entry?.path();
        if path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Replays the seeds and regression inputs of `target` from `fuzz`; a target without seeds fails.
pub fn replay(
    target: Target,
    fuzz: &Path,
    fixture: Option<&ServedFixture>,
    keep: &Path,
) -> anyhow::Result<CaseReport> {
    let seeds = inputs_in(&fuzz.join("corpus").join(target.name()))?;
    let regressions = inputs_in(&fuzz.join("regressions").join(target.name()))?;
    let files: Vec<PathBuf> = seeds.iter().chain(&regressions).cloned().collect();
    let contents = files
        .iter()
        .map(|p| std::fs::read(p).with_context(|| format!("read {}", p.display())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let summary = run_inputs(
        target.name(),
        contents.len() as u64,
        |idx| contents[idx as usize].clone(),
        |bytes| target.run(fixture, bytes),
        INPUT_BOUND,
        keep,
    )?;
    let mut case = to_case(&summary);
    case.family = Family::Fuzz;
    case.name = format!("fuzz/{}/replay", target.name());
    case.detail = format!(
        "{} seeds, {} regression inputs; {}",
        seeds.len(),
        regressions.len(),
        case.detail
    );
    if seeds.is_empty() {
        case.observed = "seed_corpus_missing".into();
        case.detail = format!(
            "no seed under {}; {}",
            fuzz.join("corpus").join(target.name()).display(),
            case.detail
        );
    }
    Ok(case)
}

/// What one libFuzzer run reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuzzRun {
    /// Executions (`Done N runs`, else the last `#N` status line).
    pub executions: u64,
    /// A crash, leak, timeout or out-of-memory report, with its kind.
    pub crash: Option<String>,
    /// Where libFuzzer wrote the crashing input.
    pub artifact: Option<String>,
}

/// Reads libFuzzer's stderr.
pub fn parse_libfuzzer(output: &str) -> FuzzRun {
    let mut executions = 0;
    let mut crash = None;
    let mut artifact = None;
    for line in output.lines() {
        if let Some(rest) = line.strip_prefix("Done ")
            && let Some(n) = rest.split_whitespace().next().and_then(|n| n.parse().ok())
        {
            executions = n;
        } else if let Some(rest) = line.strip_prefix('#')
            && let Some(n) = rest
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
        {
            executions = executions.max(n);
        }
        for marker in [
            "ERROR: libFuzzer: deadly signal",
            "ERROR: libFuzzer: timeout",
            "ERROR: libFuzzer: out-of-memory",
            "ERROR: libFuzzer: fuzz target exited",
            "ERROR: libFuzzer: leak",
            "ALARM: working on the last Unit",
        ] {
            if crash.is_none() && line.contains(marker) {
                crash = Some(marker.trim_start_matches("ERROR: libFuzzer: ").to_owned());
            }
        }
        if crash.is_none() && line.contains("panicked at") {
            crash = Some(line.trim().to_owned());
        }
        if let Some(at) = line.find("Test unit written to ") {
            artifact = Some(line[at + "Test unit written to ".len()..].trim().to_owned());
        }
    }
    FuzzRun {
        executions,
        crash,
        artifact,
    }
}

/// The cargo to run: the one running us under `cargo run`/`cargo test`, else `cargo` on PATH.
pub fn cargo_program() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// `cargo fuzz --version`, or why it cannot run.
pub fn cargo_fuzz_version(cargo: &OsStr) -> Result<String, String> {
    match Command::new(cargo).args(["fuzz", "--version"]).output() {
        Ok(out) if out.status.success() => {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        }
        Ok(out) => Err(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

/// The `cargo fuzz run` command line for `target`: a fresh corpus folder under `work` first
/// (libFuzzer writes new inputs there, never into the committed seeds), the seeds second.
pub fn fuzz_command(
    cargo: &OsStr,
    target: Target,
    fuzz: &Path,
    work: &Path,
    seconds: u64,
    seed: u64,
) -> Command {
    let corpus = work.join("corpus");
    let artifacts = work.join("artifacts");
    let mut command = Command::new(cargo);
    command
        .env(FUZZ_FIXTURE_ENV, work.join("fixture"))
        .current_dir(fuzz.parent().unwrap_or(fuzz))
        .args([
            "fuzz",
            "run",
            "--sanitizer",
            "none",
            "--debug-assertions",
            "--release",
        ])
        .arg("--fuzz-dir")
        .arg(fuzz)
        .arg(target.name())
        .arg(&corpus)
        .arg(fuzz.join("corpus").join(target.name()))
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        // libFuzzer reads 0 as "pick one": the seed is kept at 1 or more.
        .arg(format!("-seed={}", (seed % u64::from(u32::MAX)).max(1)))
        .arg(format!("-timeout={}", INPUT_BOUND.as_secs().max(1)))
        .arg("-rss_limit_mb=2048")
        .arg(format!("-artifact_prefix={}/", artifacts.display()));
    command
}

/// Fuzzes `target` for `seconds`; the case fails on a crash, on no executions, or without
/// `cargo fuzz`.
pub fn run_cargo_fuzz(
    cargo: &OsStr,
    target: Target,
    fuzz: &Path,
    work: &Path,
    seconds: u64,
    seed: u64,
) -> anyhow::Result<CaseReport> {
    let mut case = CaseReport {
        family: Family::Fuzz,
        name: format!("fuzz/{}/run", target.name()),
        expected: "ok".into(),
        observed: String::new(),
        inputs: 0,
        data_lost: 0,
        panics: 0,
        detail: String::new(),
    };
    if let Err(why) = cargo_fuzz_version(cargo) {
        case.observed = "cargo_fuzz_missing".into();
        case.detail = format!("`cargo fuzz` does not run ({why}); {INSTALL_HINT}");
        return Ok(case);
    }
    for dir in ["corpus", "artifacts"] {
        std::fs::create_dir_all(work.join(dir))
            .with_context(|| format!("create {}", work.join(dir).display()))?;
    }
    let mut command = fuzz_command(cargo, target, fuzz, work, seconds, seed);
    let started = std::time::Instant::now();
    let output = command
        .output()
        .with_context(|| format!("run cargo fuzz for {}", target.name()))?;
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    std::fs::write(work.join("libfuzzer.log"), stderr.as_bytes())
        .with_context(|| format!("write {}", work.join("libfuzzer.log").display()))?;
    let run = parse_libfuzzer(&stderr);
    case.inputs = run.executions;
    case.observed = match (&run.crash, output.status.success(), run.executions) {
        (Some(_), _, _) => {
            case.panics = 1;
            "crash".into()
        }
        (None, false, _) => "cargo_fuzz_failed".into(),
        (None, true, 0) => "no_executions".into(),
        (None, true, _) => "ok".into(),
    };
    let rate = run.executions as f64 / took.as_secs_f64().max(f64::EPSILON);
    case.detail = format!(
        "{} executions in {:.0} s ({rate:.0}/s), budget {seconds} s; log {}",
        run.executions,
        took.as_secs_f64(),
        work.join("libfuzzer.log").display()
    );
    if let Some(crash) = &run.crash {
        case.detail.push_str(&format!(
            "; {crash}, input {} (copy it to fuzz/regressions/{}/ once fixed)",
            run.artifact.as_deref().unwrap_or("not written"),
            target.name()
        ));
    } else if !output.status.success() {
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        case.detail.push_str(&format!(
            "; exit {:?}: {}",
            output.status.code(),
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ));
    }
    Ok(case)
}

/// The fuzz cases: every target's replay; in slow mode also a `cargo fuzz` run per target of
/// [`SLOW_SECONDS_PER_TARGET`].
pub fn cases(ctx: &GateContext) -> anyhow::Result<Vec<CaseReport>> {
    cases_with_budget(ctx, SLOW_SECONDS_PER_TARGET)
}

/// [`cases`] with another slow-mode budget per target.
pub fn cases_with_budget(ctx: &GateContext, seconds: u64) -> anyhow::Result<Vec<CaseReport>> {
    let work = ctx.work.join("fuzz");
    let fuzz = fuzz_dir()?;
    let fixture = ServedFixture::start(&work.join("served"), ctx.seed)?;
    let mut cases = Vec::new();
    for target in Target::ALL {
        let fixture = target.needs_fixture().then_some(&fixture);
        cases.push(replay(
            target,
            &fuzz,
            fixture,
            &work.join("replay").join(target.name()),
        )?);
    }
    fixture.stop()?;
    if ctx.slow {
        for target in Target::ALL {
            cases.push(run_cargo_fuzz(
                &cargo_program(),
                target,
                &fuzz,
                &work.join("run").join(target.name()),
                seconds,
                ctx.seed,
            )?);
        }
    }
    Ok(cases)
}
