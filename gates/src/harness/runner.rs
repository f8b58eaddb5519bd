//! Runs a registry of gates, strictly: an unknown `--gate` is a harness error,
//! a gate that cannot run (or panics, or checks nothing) is `error`, never skipped. A run that
//! selects gates still reports every gate of the registry: the unselected ones as `skipped`, and
//! the run's verdict is then `partial`, never `pass`. With `--repeat N` every gate runs N times
//! and must give the same verdict and figures each time.
//!
//! Gates run side by side on `jobs` threads (the heaviest first), except those that measure time
//! or resources ([`Gate::runs_alone`]), which run afterwards one at a time with nothing beside
//! them. Results are reported in registry order whatever order they finished in.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, bail};
use autocapture_core::base::clock::Clock;
use autocapture_core::contract::{format_ts_utc, sha256_hex};
use serde::Serialize;
use serde_json::Value;

use super::gate::{Chart, Check, Evidence, Gate, GateContext, GateOutcome, Target, Verdict};
use super::progress::RunProgress;
use super::scratch::{self, Scratch};
use super::shared::Shared;
use crate::corpus::digest::tree_digest;
use crate::corpus::generate::{GenerateOptions, generate};
use crate::corpus::story::Story;

/// Everything a run needs to know.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub out: PathBuf,
    /// Where the corpus and the gates' work copies go ([`Scratch::choose`]).
    pub scratch: Scratch,
    /// Gate names to run (empty: all), in registry order whatever the order given.
    pub select: Vec<String>,
    pub target: Target,
    pub jobs: usize,
    pub repeat: u32,
    pub seed: u64,
    pub frames: u64,
    pub handoffs: u32,
    pub autocapture_bin: Option<PathBuf>,
    /// The `autocapture-gates` binary, for gates that measure a child through `measure`.
    pub harness_bin: Option<PathBuf>,
    pub sla_input: Option<PathBuf>,
    /// The processing trace the `sla` gate judges the deployment by (else the profile's).
    pub sla_trace: Option<PathBuf>,
    /// Slow mode: gates that have a long form run it.
    pub slow: bool,
    /// Keep every gate's work folder (`--keep-work`); otherwise a gate's is removed as soon as it
    /// passes, while the others run.
    pub keep_work: bool,
    /// Say on stderr what the run is doing: the corpus, then each gate as it starts and ends,
    /// then the total ([`RunProgress`]; the command line sets it: a long run is never silent).
    pub progress: bool,
}

/// One gate's result as reported.
#[derive(Debug, Clone, Serialize)]
pub struct GateResult {
    pub name: String,
    pub proves: String,
    pub verdict: Verdict,
    pub duration_ms: u64,
    pub measurements: BTreeMap<String, Value>,
    pub checks: Vec<Check>,
    pub evidence: Vec<Evidence>,
    pub repeats: u32,
    pub flake_rate: u32,
    #[serde(skip)]
    pub charts: Vec<Chart>,
    /// What the gate generated or read besides the run's corpus: name and sha256.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<(String, String)>,
}

/// A whole run.
#[derive(Debug, Clone, Serialize)]
pub struct RunResults {
    pub run_id: String,
    pub started_at_utc: String,
    pub finished_at_utc: String,
    pub corpus: PathBuf,
    pub corpus_sha256: String,
    /// The file system of the scratch the copies were made on (`tmpfs`, `ext4`, …).
    pub scratch_fs: String,
    pub options_seed: u64,
    pub options_frames: u64,
    pub repeat: u32,
    pub gates: Vec<GateResult>,
}

/// A whole run's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunVerdict {
    /// Every gate of the registry ran and passed.
    Pass,
    /// Every gate that ran passed, but some were not selected (`skipped`): not a release pass.
    Partial,
    /// A gate failed.
    Fail,
    /// A gate errored (could not run, panicked, checked nothing), or no gate ran.
    Error,
}

impl RunVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            RunVerdict::Pass => "pass",
            RunVerdict::Partial => "partial",
            RunVerdict::Fail => "fail",
            RunVerdict::Error => "error",
        }
    }
}

impl RunResults {
    /// error when any gate errored (or none ran); fail when one failed; partial when every gate
    /// that ran passed but some were skipped; pass only when every gate ran and passed.
    pub fn verdict(&self) -> RunVerdict {
        if self.gates.iter().all(|g| g.verdict == Verdict::Skipped) {
            return RunVerdict::Error;
        }
        match self.gates.iter().map(|g| g.verdict).max() {
            Some(Verdict::Pass) => RunVerdict::Pass,
            Some(Verdict::Skipped) => RunVerdict::Partial,
            Some(Verdict::Fail) => RunVerdict::Fail,
            Some(Verdict::Error) | None => RunVerdict::Error,
        }
    }

    /// How many gates have each verdict.
    pub fn count(&self, verdict: Verdict) -> usize {
        self.gates.iter().filter(|g| g.verdict == verdict).count()
    }
}

/// 0 every gate that ran passed (`pass`, or `partial` when a selection skipped some), 1 a gate
/// failed, 2 a gate errored (could not run).
pub fn exit_code(verdict: RunVerdict) -> u8 {
    match verdict {
        RunVerdict::Pass | RunVerdict::Partial => 0,
        RunVerdict::Fail => 1,
        RunVerdict::Error => 2,
    }
}

/// The registry entries `select` names, in registry order; an unknown name is an error.
pub fn select<'a>(
    registry: &'a [Box<dyn Gate>],
    names: &[String],
) -> anyhow::Result<Vec<&'a dyn Gate>> {
    for name in names {
        if !registry.iter().any(|g| g.name() == name) {
            let known: Vec<&str> = registry.iter().map(|g| g.name()).collect();
            bail!("unknown gate {name:?}; the gates are: {}", known.join(", "));
        }
    }
    Ok(registry
        .iter()
        .filter(|g| names.is_empty() || names.iter().any(|n| n == g.name()))
        .map(|g| g.as_ref())
        .collect())
}

/// Generates the corpus and runs the selected gates.
pub fn run_gates(
    registry: &[Box<dyn Gate>],
    options: &RunOptions,
    clock: &dyn Clock,
) -> anyhow::Result<RunResults> {
    let selected = select(registry, &options.select)?;
    if options.repeat == 0 {
        bail!("--repeat must be at least 1");
    }
    let started_at = clock.now();
    std::fs::create_dir_all(&options.out)
        .with_context(|| format!("create {}", options.out.display()))?;
    let corpus = options.scratch.corpus();
    let work = options.scratch.work();
    for dir in [&corpus, &work] {
        if dir.exists() {
            std::fs::remove_dir_all(dir).with_context(|| format!("clear {}", dir.display()))?;
        }
    }
    let story = Story::default_story()?;
    generate(
        &story,
        &GenerateOptions {
            out: corpus.clone(),
            seed: options.seed,
            frames: options.frames,
            handoffs: options.handoffs,
        },
    )?;
    let corpus_sha256 = tree_digest(&corpus)?.sha256;
    let progress = RunProgress::new(options.progress, selected.len());
    progress.say(&format!(
        "corpus of {} frames (seed {}) in {} ({}); running {} of {} gates",
        options.frames,
        options.seed,
        corpus.display(),
        scratch::fs_name(&options.scratch.dir),
        selected.len(),
        registry.len()
    ));
    let is_selected = |gate: &dyn Gate| selected.iter().any(|s| s.name() == gate.name());
    // One shared DataRoot per repeat, so that a repeat builds it again as it builds the rest.
    let shared: Vec<Arc<Shared>> = (0..options.repeat)
        .map(|repeat| {
            let dir = work.join(SHARED_DIR).join(repeat.to_string());
            Arc::new(Shared::new(&corpus, &dir))
        })
        .collect();
    let contexts: Vec<Vec<GateContext>> = registry
        .iter()
        .map(|gate| {
            shared
                .iter()
                .zip(0..)
                .map(|(shared, repeat)| {
                    context(options, &corpus, &work, gate.name(), repeat, shared)
                })
                .collect()
        })
        .collect();
    // Side by side: every gate that does not run alone, and the preparation of those that do;
    // heaviest first (equal weights keep registry order).
    let mut side_by_side: Vec<Job> = (0..registry.len())
        .filter(|i| is_selected(registry[*i].as_ref()))
        .map(|i| match registry[i].runs_alone() {
            true => Job::Prepare(i),
            false => Job::Run(i),
        })
        .collect();
    side_by_side.sort_by_key(|job| std::cmp::Reverse(registry[job.index()].weight()));
    let alone: Vec<usize> = (0..registry.len())
        .filter(|i| is_selected(registry[*i].as_ref()) && registry[*i].runs_alone())
        .collect();
    let slots: Mutex<Vec<Option<anyhow::Result<GateResult>>>> =
        Mutex::new((0..registry.len()).map(|_| None).collect());
    let prepared: Mutex<Vec<Prepared>> =
        Mutex::new((0..registry.len()).map(|_| Prepared::default()).collect());
    let queue = Mutex::new(side_by_side.into_iter());
    let run_index = |i: usize| {
        let gate = registry[i].as_ref();
        let running = progress.start(gate.name());
        let before = prepared
            .lock()
            .map(|mut p| std::mem::take(&mut p[i]))
            .unwrap_or_default();
        let result = run_one(gate, options, &contexts[i], before);
        match &result {
            Ok(r) => progress.finish(running, r.verdict, r.duration_ms),
            Err(_) => progress.finish(running, Verdict::Error, 0),
        }
        // A passing gate's copies are of no further use: removed now, beside the gates still
        // running, rather than all at the end. A gate that did not pass keeps them.
        if !options.keep_work && result.as_ref().is_ok_and(|r| r.verdict == Verdict::Pass) {
            let _ = std::fs::remove_dir_all(work.join(gate.name()));
        }
        if let Ok(mut slots) = slots.lock() {
            slots[i] = Some(result);
        }
    };
    let prepare_index = |i: usize| {
        let mut done = Prepared::default();
        for ctx in &contexts[i] {
            let started = Instant::now();
            let result = prepare_once(registry[i].as_ref(), ctx);
            done.ms.push(started.elapsed().as_millis() as u64);
            if let Err(why) = result {
                done.failed = Some(why);
                break;
            }
        }
        if let Ok(mut prepared) = prepared.lock() {
            prepared[i] = done;
        }
    };
    std::thread::scope(|scope| {
        for _ in 0..options.jobs.clamp(1, registry.len().max(1)) {
            scope.spawn(|| {
                while let Some(job) = queue.lock().ok().and_then(|mut q| q.next()) {
                    match job {
                        Job::Run(i) => run_index(i),
                        Job::Prepare(i) => prepare_index(i),
                    }
                }
            });
        }
    });
    for i in alone {
        run_index(i);
    }
    progress.total();
    let slots = slots
        .into_inner()
        .map_err(|_| anyhow::anyhow!("a thread running gates panicked"))?;
    let mut results = Vec::with_capacity(registry.len());
    for (gate, slot) in registry.iter().zip(slots) {
        results.push(match slot {
            Some(result) => result?,
            None => skipped(gate.as_ref()),
        });
    }
    let finished_at = clock.now();
    Ok(RunResults {
        run_id: format!(
            "gates_{}",
            autocapture_core::contract::ingest_run_id(started_at).trim_start_matches("ingest_")
        ),
        started_at_utc: format_ts_utc(started_at),
        finished_at_utc: format_ts_utc(finished_at),
        corpus,
        corpus_sha256,
        scratch_fs: scratch::fs_name(&options.scratch.dir),
        options_seed: options.seed,
        options_frames: options.frames,
        repeat: options.repeat,
        gates: results,
    })
}

/// After a run whose gates all passed (or were not selected), removes the corpus and the work
/// copies (the scratch), keeping what a reader needs in `--out`: the report and its envelope,
/// the test result, JUnit, the summaries and the public key (the corpus's digest is in the
/// report). A run with a failing or erroring gate, or `keep`, keeps everything. True when
/// removed.
pub fn tidy(results: &RunResults, scratch: &Scratch, keep: bool) -> anyhow::Result<bool> {
    let passed = results
        .gates
        .iter()
        .all(|g| matches!(g.verdict, Verdict::Pass | Verdict::Skipped));
    if !passed || keep {
        return Ok(false);
    }
    scratch.remove()?;
    Ok(true)
}

/// The result of a gate the run did not select: reported, never run.
fn skipped(gate: &dyn Gate) -> GateResult {
    GateResult {
        name: gate.name().to_owned(),
        proves: gate.proves().to_owned(),
        verdict: Verdict::Skipped,
        duration_ms: 0,
        measurements: BTreeMap::new(),
        checks: Vec::new(),
        evidence: Vec::new(),
        repeats: 0,
        flake_rate: 0,
        charts: Vec::new(),
        inputs: Vec::new(),
    }
}

/// Figures that are not timings or resource readings, for the determinism signature.
fn signature(verdict: Verdict, outcome: &GateOutcome) -> String {
    let figures: BTreeMap<&String, &Value> = outcome
        .measurements
        .iter()
        .filter(|(key, _)| {
            !["_ms", "_s", "_per_s", "_ratio", "_mib"]
                .iter()
                .any(|suffix| key.ends_with(suffix))
        })
        .collect();
    let checks: Vec<(&str, bool)> = outcome
        .checks
        .iter()
        .map(|c| (c.name.as_str(), c.passed))
        .collect();
    let text = serde_json::to_string(&(verdict.as_str(), figures, checks)).unwrap_or_default();
    sha256_hex(text.as_bytes())
}

fn run_once(gate: &dyn Gate, ctx: &GateContext) -> GateOutcome {
    match catch_unwind(AssertUnwindSafe(|| gate.run(ctx))) {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(error)) => errored(format!("{error:#}")),
        Err(panic) => errored(format!("the gate panicked: {}", panic_text(panic.as_ref()))),
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "unknown panic".to_owned())
}

/// An outcome with no checks (so its verdict is `error`) and the reason as evidence.
fn errored(detail: String) -> GateOutcome {
    GateOutcome {
        checks: Vec::new(),
        measurements: BTreeMap::new(),
        evidence: vec![Evidence {
            check: "run".into(),
            record: None,
            expected: None,
            actual: None,
            detail: Some(detail),
        }],
        ..GateOutcome::default()
    }
}

/// The folder under the run's work folder that holds the inputs gates share.
pub const SHARED_DIR: &str = "shared";

/// A piece of work of the side-by-side part of a run.
#[derive(Debug, Clone, Copy)]
enum Job {
    /// Run gate `i` (it does not run alone).
    Run(usize),
    /// Prepare gate `i`, which will run alone afterwards.
    Prepare(usize),
}

impl Job {
    fn index(self) -> usize {
        match self {
            Job::Run(i) | Job::Prepare(i) => i,
        }
    }
}

/// What preparing a gate took (per repeat), and why it failed if it did.
#[derive(Debug, Default)]
struct Prepared {
    ms: Vec<u64>,
    failed: Option<String>,
}

/// The context of `gate`'s run number `repeat`: its own fresh work folder.
fn context(
    options: &RunOptions,
    corpus: &Path,
    work: &Path,
    gate: &str,
    repeat: u32,
    shared: &Arc<Shared>,
) -> GateContext {
    GateContext {
        target: options.target.clone(),
        seed: options.seed,
        jobs: options.jobs.max(1),
        autocapture_bin: options.autocapture_bin.clone(),
        harness_bin: options.harness_bin.clone(),
        sla_input: options.sla_input.clone(),
        sla_trace: options.sla_trace.clone(),
        slow: options.slow,
        shared: Arc::clone(shared),
        ..GateContext::new(
            corpus.to_path_buf(),
            work.join(gate).join(repeat.to_string()),
        )
    }
}

/// [`Gate::prepare`] in a fresh work folder; a panic is an error.
fn prepare_once(gate: &dyn Gate, ctx: &GateContext) -> Result<(), String> {
    std::fs::create_dir_all(&ctx.work)
        .map_err(|e| format!("create {}: {e}", ctx.work.display()))?;
    match catch_unwind(AssertUnwindSafe(|| gate.prepare(ctx))) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(format!("prepare: {error:#}")),
        Err(panic) => Err(format!("prepare panicked: {}", panic_text(panic.as_ref()))),
    }
}

/// Runs `gate` once per context (one per repeat) after its preparation `before`; its time is
/// the first repeat's preparation plus its run.
fn run_one(
    gate: &dyn Gate,
    options: &RunOptions,
    contexts: &[GateContext],
    before: Prepared,
) -> anyhow::Result<GateResult> {
    let mut first: Option<(GateOutcome, Verdict, String, u64)> = None;
    let mut differing = 0u32;
    for (repeat, ctx) in contexts.iter().enumerate() {
        std::fs::create_dir_all(&ctx.work)
            .with_context(|| format!("create {}", ctx.work.display()))?;
        let started = Instant::now();
        let outcome = match &before.failed {
            Some(why) => errored(why.clone()),
            None => run_once(gate, ctx),
        };
        let prepared_ms = before.ms.get(repeat).copied().unwrap_or(0);
        let duration_ms = prepared_ms + started.elapsed().as_millis() as u64;
        let verdict = outcome.verdict();
        let sig = signature(verdict, &outcome);
        match &first {
            None => first = Some((outcome, verdict, sig, duration_ms)),
            Some((_, _, first_sig, _)) => differing += u32::from(*first_sig != sig),
        }
    }
    let (mut outcome, _, _, duration_ms) = first.context("a gate ran zero times")?;
    // An erroring gate (no checks) stays `error`: a passing determinism check must not turn it
    // into a pass.
    if options.repeat > 1 && outcome.verdict() != Verdict::Error {
        outcome.check(
            "deterministic across repeats",
            differing == 0,
            format!(
                "{differing} of {} repeats differed from the first in verdict or figures",
                options.repeat - 1
            ),
        );
    }
    let verdict = outcome.verdict();
    Ok(GateResult {
        name: gate.name().to_owned(),
        proves: gate.proves().to_owned(),
        verdict,
        duration_ms,
        measurements: outcome.measurements,
        checks: outcome.checks,
        evidence: outcome.evidence,
        charts: outcome.charts,
        inputs: outcome.inputs,
        repeats: options.repeat,
        flake_rate: if options.repeat > 1 {
            differing * 100 / (options.repeat - 1)
        } else {
            0
        },
    })
}
