//! Property runs: for each target of [`super::targets`], a seeded run of generated inputs
//! ([`super::generate`]), each under `catch_unwind` and timed. A run passes when no input
//! panicked (in-process, or as a crash seen across the server's socket), none was taken with a
//! reap marker that breaks its promise, and none took longer than [`INPUT_BOUND`]. The inputs that fail are kept under the run's work folder.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::generate::{Bases, input};
use super::targets::{Outcome, ServedFixture, Target};
use super::{CaseReport, Family};
use crate::harness::gate::GateContext;

/// The longest one input may take before its run fails.
pub const INPUT_BOUND: Duration = Duration::from_secs(2);

/// Inputs per target in the default mode; slow mode runs ten times as many.
pub fn inputs_per_target(target: Target) -> u64 {
    match target {
        Target::MetadataDb => 40,
        Target::PayloadJson | Target::UiaSnapshot | Target::ActivitySignal => 300,
        Target::QueryText => 150,
        Target::PopupBody | Target::HttpRequest => 80,
    }
}

/// What one target's run saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSummary {
    /// The target's name.
    pub name: String,
    pub inputs: u64,
    pub panics: u64,
    /// Inputs taken with a reap marker that does not keep its promise.
    pub broken: u64,
    /// Inputs over the bound.
    pub slow: u64,
    pub bound: Duration,
    pub max_input: Duration,
    pub max_input_idx: u64,
    pub total: Duration,
    /// Outcome codes and how often each came up.
    pub outcomes: BTreeMap<String, u64>,
    /// The first failing input: its index, what happened, where it was saved.
    pub first_failure: Option<(u64, String, PathBuf)>,
}

/// The message of a caught panic.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with no message".into())
}

/// Runs `count` seeded inputs through `target`; failing inputs are saved under `keep`.
pub fn run_target(
    target: Target,
    seed: u64,
    count: u64,
    bases: &Bases,
    fixture: Option<&ServedFixture>,
    keep: &Path,
) -> anyhow::Result<RunSummary> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (target as u64).wrapping_mul(0x9E37_79B9));
    let scratch = keep.join("scratch");
    std::fs::create_dir_all(&scratch).with_context(|| format!("create {}", scratch.display()))?;
    run_inputs(
        target.name(),
        count,
        |_| input(target, &mut rng, bases, &scratch),
        |bytes| target.run(fixture, bytes),
        INPUT_BOUND,
        keep,
    )
}

/// Runs `count` inputs from `next_input` through `run`, each caught and timed against `bound`;
/// the first failing input is saved under `keep`. `Err` from `run` is a harness error.
pub fn run_inputs(
    name: &str,
    count: u64,
    mut next_input: impl FnMut(u64) -> Vec<u8>,
    run: impl Fn(&[u8]) -> anyhow::Result<Outcome>,
    bound: Duration,
    keep: &Path,
) -> anyhow::Result<RunSummary> {
    std::fs::create_dir_all(keep).with_context(|| format!("create {}", keep.display()))?;
    let mut summary = RunSummary {
        name: name.to_owned(),
        inputs: 0,
        panics: 0,
        broken: 0,
        slow: 0,
        bound,
        max_input: Duration::ZERO,
        max_input_idx: 0,
        total: Duration::ZERO,
        outcomes: BTreeMap::new(),
        first_failure: None,
    };
    for idx in 0..count {
        let bytes = next_input(idx);
        let started = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| run(&bytes)));
        let took = started.elapsed();
        summary.inputs += 1;
        summary.total += took;
        if took > summary.max_input {
            summary.max_input = took;
            summary.max_input_idx = idx;
        }
        let failure = match result {
            Ok(Ok(Outcome::Crashed(seen))) => {
                summary.panics += 1;
                Some(format!("crashed: {seen}"))
            }
            Ok(Ok(Outcome::Broken(seen))) => {
                summary.broken += 1;
                Some(format!("promise broken: {seen}"))
            }
            Ok(Ok(outcome)) => {
                *summary
                    .outcomes
                    .entry(outcome.code().to_owned())
                    .or_default() += 1;
                None
            }
            Ok(Err(e)) => return Err(e),
            Err(payload) => {
                summary.panics += 1;
                Some(format!("panicked: {}", panic_message(payload.as_ref())))
            }
        };
        let failure = failure.or_else(|| {
            (took > bound).then(|| {
                summary.slow += 1;
                format!("took {} ms", took.as_millis())
            })
        });
        if let Some(what) = failure
            && summary.first_failure.is_none()
        {
            let path = keep.join(format!("{name}-{idx}.bin"));
            std::fs::write(&path, &bytes).with_context(|| format!("write {}", path.display()))?;
            summary.first_failure = Some((idx, what, path));
        }
    }
    Ok(summary)
}

/// The run as a case: `ok` when nothing panicked, no marker broke its promise and every input
/// finished within the bound.
pub fn to_case(summary: &RunSummary) -> CaseReport {
    let observed = if summary.panics > 0 {
        "panic"
    } else if summary.broken > 0 {
        "promise_broken"
    } else if summary.slow > 0 {
        "input_over_bound"
    } else {
        "ok"
    };
    let outcomes: Vec<String> = summary
        .outcomes
        .iter()
        .map(|(code, n)| format!("{code}={n}"))
        .collect();
    let mut detail = format!(
        "{} inputs in {} ms; slowest #{} {} ms (bound {} ms); outcomes {}",
        summary.inputs,
        summary.total.as_millis(),
        summary.max_input_idx,
        summary.max_input.as_millis(),
        summary.bound.as_millis(),
        outcomes.join(" ")
    );
    if let Some((idx, what, path)) = &summary.first_failure {
        detail.push_str(&format!(
            "; first failure #{idx} {what} (input kept at {})",
            path.display()
        ));
    }
    CaseReport {
        family: Family::Property,
        name: format!("property/{}", summary.name),
        expected: "ok".into(),
        observed: observed.into(),
        inputs: summary.inputs,
        data_lost: summary.broken,
        panics: summary.panics,
        detail,
    }
}

/// Every target's property run: seeded by `ctx.seed`, ten times longer in slow mode.
pub fn cases(ctx: &GateContext) -> anyhow::Result<Vec<CaseReport>> {
    let work = ctx.work.join("property");
    let bases = Bases::build(&work.join("bases"), ctx.seed)?;
    let fixture = ServedFixture::start(&work.join("served"), ctx.seed)?;
    let scale = if ctx.slow { 10 } else { 1 };
    let mut cases = Vec::new();
    for target in Target::ALL {
        let summary = run_target(
            target,
            ctx.seed,
            inputs_per_target(target) * scale,
            &bases,
            Some(&fixture),
            &work.join(target.name()),
        )?;
        cases.push(to_case(&summary));
    }
    fixture.stop()?;
    Ok(cases)
}
