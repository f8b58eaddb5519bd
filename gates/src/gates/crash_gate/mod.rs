//! The `crash` gate: the real `autocapture` program, with its crash points armed, dies at every
//! point of Stage 1 and Stage 2, once by `abort` and once by the parent's `SIGKILL` while it is
//! paused there. After each death: a marker means the DataRoot already holds the handoff whole;
//! the lock of the dead process does not block; every database passes `integrity_check`; a rerun
//! completes and converges to the crash-free DataRoot (or index) and leaves no temp file.
//!
//! - [`points_in_source`]: the crash points the core's source names, against the registry.
//! - [`crash_binary`]: `autocapture-crashpoints`, built beside `autocapture` by the same cargo
//!   invocation.
//! - [`kill_at`]: one child run to its death at a point.
//! - [`Stage1Kill`] and [`Stage2Kill`]: one kill and the checks after it.
//! - [`power_loss_check`]: the import and marker operations of a real ingest, replayed as every
//!   crash state a power loss could leave (see [`crate::power_loss`]), with planted bugs; in
//!   [`replay`].

mod replay;

pub use replay::{Recorded, power_loss_check, record_ingest};

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use autocapture_core::base::clock::SystemClock;
use autocapture_core::base::crash::{self, CrashPoint, POINTS, Stage};
use autocapture_core::stage1::ingest::{
    ImportMode, IngestOptions, ingest_handoff, ingest_handoff_on,
};
use autocapture_core::stage1::marker::{self, MarkerIntegrity, MarkerState};
use autocapture_core::store::DataRoot;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use rusqlite::{Connection, OpenFlags};
use serde_json::json;

use crate::corpus::build::write_fresh_idle_signal;
use crate::corpus::copies::{copy_tree, private_spool};
use crate::corpus::digest::integrity_problems;
use crate::corpus::digest::{
    DataRootDigest, TableDigest, digest_without_ingest_time, table_digest_of,
};
use crate::corpus::generate::{GenerateOptions, generate};
use crate::corpus::story::Story;
use crate::harness::gate::{Gate, GateContext, GateOutcome};
use crate::power_loss::{Expected, Op, PlantedBug, RecordingFs, expected_media, explore, plant};

pub struct CrashGate;

/// How the child dies at its point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Death {
    /// The child calls `abort` there.
    Abort,
    /// The child pauses there and the parent sends `SIGKILL`.
    Kill,
}

impl Death {
    fn env(self) -> &'static str {
        match self {
            Death::Abort => "abort",
            Death::Kill => "pause",
        }
    }

    fn signal(self) -> Signal {
        match self {
            Death::Abort => Signal::SIGABRT,
            Death::Kill => Signal::SIGKILL,
        }
    }
}

/// Which arrival at a Stage-2 point the child dies at: the second batch, so one batch committed.
const STAGE2_ARRIVAL: u32 = 2;

/// The crash points the source under `core_src` names: every `crash::point("…")` and every name
/// of an `AtomicWritePoints` value.
pub fn points_in_source(core_src: &Path) -> anyhow::Result<BTreeSet<String>> {
    let mut found = BTreeSet::new();
    let mut files = Vec::new();
    collect_rs(core_src, &mut files)?;
    for file in files {
        if file.file_name().is_some_and(|n| n == "crash.rs") {
            continue;
        }
        let text =
            std::fs::read_to_string(&file).with_context(|| format!("read {}", file.display()))?;
        for (at, _) in text.match_indices("crash::point(\"") {
            let rest = &text[at + "crash::point(\"".len()..];
            if let Some(end) = rest.find('"') {
                found.insert(rest[..end].to_owned());
            }
        }
        for (at, _) in text.match_indices("AtomicWritePoints = AtomicWritePoints {") {
            let body = &text[at..];
            let body = &body[..body.find("};").unwrap_or(body.len())];
            for (i, literal) in body.split('"').enumerate() {
                if i % 2 == 1 {
                    found.insert(literal.to_owned());
                }
            }
        }
    }
    Ok(found)
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect_rs(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// The shipping `autocapture`, told by its environment to abort at the first crash point and to
/// plant a bug, ingests the corpus's first handoff as if told nothing: no point is reached, the
/// ingest succeeds. (The armed binary's deaths at every point are the control.)
fn shipping_ignores_arming(
    ctx: &GateContext,
    shipping: &Path,
    outcome: &mut GateOutcome,
) -> anyhow::Result<()> {
    let (_, handoffs) = private_spool(&ctx.corpus, &ctx.work.join("shipping"))?;
    let first = handoffs.first().context("the corpus has no handoff")?;
    let data = ctx.work.join("shipping").join("data");
    let output = Command::new(shipping)
        .args(["handoff", "ingest", "--json", "--handoff-root"])
        .arg(first)
        .arg("--data-dir")
        .arg(&data)
        .env(crash::ENV_AT, POINTS[0].name)
        .env(crash::ENV_MODE, "abort")
        .env(crash::ENV_PLANT, "marker_by_path")
        .stdin(Stdio::null())
        .output()
        .context("run the shipping autocapture")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    outcome.check(
        "the shipping autocapture ignores AUTOCAPTURE_CRASH_AT and AUTOCAPTURE_PLANT",
        output.status.success() && !stderr.contains(crash::REACHED),
        format!(
            "exit {:?}, signal {:?}: {}",
            output.status.code(),
            output.status.signal(),
            stderr.trim()
        ),
    );
    Ok(())
}

/// `autocapture-crashpoints` beside the `autocapture` binary `autocapture` (the same library
/// with its crash points and plants armed; cargo builds both bins of the core together).
pub fn crash_binary(autocapture: &Path) -> anyhow::Result<PathBuf> {
    let bin = autocapture.with_file_name("autocapture-crashpoints");
    anyhow::ensure!(
        bin.is_file(),
        "no {} beside {}: build the core's binaries (`cargo build -p autocapture-core --bins`, \
         with --release for a release harness)",
        bin.display(),
        autocapture.display()
    );
    Ok(bin)
}

/// How one armed child ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    /// It printed that it reached its point.
    pub reached: bool,
    /// It died by the expected signal.
    pub died: bool,
    pub detail: String,
}

/// Runs `bin args` armed to die at `point` (its `arrival`-th time there) by `death`.
pub fn kill_at(
    bin: &Path,
    args: &[&std::ffi::OsStr],
    point: &str,
    arrival: u32,
    death: Death,
) -> anyhow::Result<Ending> {
    let mut child = Command::new(bin)
        .args(args)
        .env(crash::ENV_AT, format!("{point}@{arrival}"))
        .env(crash::ENV_MODE, death.env())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("start {}", bin.display()))?;
    let expected = format!("{}{point}", crash::REACHED);
    let mut stderr = BufReader::new(child.stderr.take().context("child stderr")?);
    let mut reached = false;
    let mut seen = String::new();
    let mut line = String::new();
    while stderr.read_line(&mut line)? > 0 {
        if line.trim_end() == expected {
            reached = true;
            if death == Death::Kill {
                // The child sleeps at its point now, holding whatever it holds.
                kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL)?;
            }
            break;
        }
        seen.push_str(&line);
        line.clear();
    }
    let mut rest = String::new();
    let _ = stderr.read_to_string(&mut rest);
    seen.push_str(&rest);
    let status = child.wait()?;
    let died = status.signal() == Some(death.signal() as i32);
    Ok(Ending {
        reached,
        died,
        detail: format!(
            "{status}; stderr: {}",
            seen.chars().take(400).collect::<String>()
        ),
    })
}

/// Runs `bin args` unarmed; `Err` with its stderr unless it exits 0.
fn run_clean(bin: &Path, args: &[&std::ffi::OsStr]) -> anyhow::Result<String> {
    let output = Command::new(bin)
        .args(args)
        .env_remove(crash::ENV_AT)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("start {}", bin.display()))?;
    if !output.status.success() {
        bail!(
            "{} exited {}: {}",
            bin.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Temp files under `dir`: atomic-write temps, the ingest's temp folder and scratch database.
pub fn temp_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    if !dir.is_dir() {
        return Ok(found);
    }
    for entry in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.ends_with(".tmp")
            || name == autocapture_core::stage1::media::TEMP_DIR
            || name.starts_with(".ingest-media.scratch")
        {
            found.push(path.clone());
        }
        if std::fs::symlink_metadata(&path)?.is_dir() {
            found.extend(temp_files(&path)?);
        }
    }
    Ok(found)
}

/// The lock of a dead child must be free at once.
pub fn lock_free(data: &DataRoot) -> bool {
    !data.lock_path().exists() || autocapture_core::store::lock_data_root(data).is_ok()
}

/// The crash-free result a Stage-1 kill is compared with.
#[derive(Debug, Clone)]
pub struct Stage1Reference {
    pub digest: DataRootDigest,
    pub integrity: MarkerIntegrity,
}

/// What is wrong with the marker of `handoff` given the DataRoot `data` as it stands: a marker
/// that does not parse, or a valid one whose handoff the DataRoot does not hold whole. The flag
/// says whether a valid marker is present.
pub fn marker_violations(
    handoff: &Path,
    data: &DataRoot,
    reference: &Stage1Reference,
) -> anyhow::Result<(bool, Vec<String>)> {
    let mut violations = Vec::new();
    let present = match marker::read(handoff) {
        MarkerState::Missing => false,
        MarkerState::Invalid(why) => {
            violations.push(format!("a torn or invalid marker is visible: {why}"));
            false
        }
        MarkerState::Valid(found) => {
            if found.integrity != reference.integrity {
                violations.push("the marker's integrity differs from the crash-free run's".into());
            }
            if digest_without_ingest_time(&data.root)? != reference.digest {
                violations.push(
                    "a marker is present but the DataRoot does not hold the handoff whole".into(),
                );
            }
            true
        }
    };
    Ok((present, violations))
}

/// One Stage-1 kill and what the checks found.
#[derive(Debug, Default)]
struct Stage1Kill {
    ending: Option<Ending>,
    marker_after_crash: bool,
    violations: Vec<String>,
}

fn ingest_args<'a>(
    handoff: &'a Path,
    data: &'a Path,
    point: &CrashPoint,
) -> Vec<&'a std::ffi::OsStr> {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "handoff".as_ref(),
        "ingest".as_ref(),
        "--handoff-root".as_ref(),
        handoff.as_os_str(),
        "--data-dir".as_ref(),
        data.as_os_str(),
    ];
    if point.needs_copy {
        args.extend([std::ffi::OsStr::new("--mode"), std::ffi::OsStr::new("copy")]);
    }
    args
}

/// Kills a Stage-1 child at `point` on a fresh copy of `pristine` and checks what it left.
fn stage1_kill(
    bin: &Path,
    pristine: &Path,
    dir: &Path,
    point: &CrashPoint,
    death: Death,
    reference: &Stage1Reference,
) -> anyhow::Result<Stage1Kill> {
    let handoff = dir.join("handoff");
    copy_tree(pristine, &handoff)?;
    let data = DataRoot::new(dir.join("data"));
    let mut kill = Stage1Kill::default();
    let ending = kill_at(
        bin,
        &ingest_args(&handoff, &data.root, point),
        point.name,
        1,
        death,
    )?;
    let mut violation = |v: String| kill.violations.push(v);
    if !lock_free(&data) {
        violation("the dead child's instance lock blocks".into());
    }
    for problem in integrity_problems(&data) {
        violation(format!("after the crash: integrity_check: {problem}"));
    }
    let (present, found) = marker_violations(&handoff, &data, reference)?;
    kill.marker_after_crash = present;
    found.into_iter().for_each(&mut violation);
    match run_clean(bin, &ingest_args(&handoff, &data.root, point)) {
        Err(e) => violation(format!("the rerun failed: {e:#}")),
        Ok(_) => {
            if !matches!(marker::read(&handoff), MarkerState::Valid(_)) {
                violation("no valid marker after the rerun".into());
            }
            if digest_without_ingest_time(&data.root)? != reference.digest {
                violation("the rerun did not converge to the crash-free DataRoot".into());
            }
            for problem in integrity_problems(&data) {
                violation(format!("after the rerun: integrity_check: {problem}"));
            }
            let mut temps = temp_files(&data.root)?;
            temps.extend(temp_files(&handoff)?);
            if !temps.is_empty() {
                violation(format!("temp files remain after the rerun: {temps:?}"));
            }
        }
    }
    kill.ending = Some(ending);
    Ok(kill)
}

/// What Stage 2 built: the index's docs and frames (ids and text), its completion markers, and
/// how many doc rows repeat a doc id.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IndexDigest {
    docs: TableDigest,
    frames: TableDigest,
    markers: TableDigest,
    duplicate_docs: u64,
}

fn index_digest(data: &DataRoot) -> anyhow::Result<IndexDigest> {
    let db = data.stage2_db();
    let conn = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("open {}", db.display()))?;
    let duplicate_docs: i64 = conn.query_row(
        "SELECT (SELECT count(*) FROM search_docs) - (SELECT count(DISTINCT doc_id) FROM search_docs)
              + (SELECT count(*) FROM search_frames) - (SELECT count(DISTINCT frame_id) FROM search_frames)",
        [],
        |r| r.get(0),
    )?;
    let docs = table_digest_of(
        &db,
        "(SELECT doc_id AS id, kind, source_record_id, uia_record_id, text FROM search_docs)",
        &["id", "kind", "source_record_id", "uia_record_id", "text"],
    )?;
    let frames = table_digest_of(
        &db,
        "(SELECT frame_id AS id, ts_utc, uia_record_id FROM search_frames)",
        &["id", "ts_utc", "uia_record_id"],
    )?;
    let markers = table_digest_of(&db, "derived", &["id", "record_type", "source_record_id"])?;
    Ok(IndexDigest {
        docs,
        frames,
        markers,
        duplicate_docs: duplicate_docs as u64,
    })
}

/// Runs Stage 2 until it reports `completed` (a signal can go stale during a long run; each run
/// resumes where the last stopped).
fn stage2_to_completion(bin: &Path, data: &DataRoot) -> anyhow::Result<()> {
    for _ in 0..8 {
        write_fresh_idle_signal(&data.root)?;
        let out = run_clean(
            bin,
            &[
                "stage2".as_ref(),
                "run".as_ref(),
                "--data-dir".as_ref(),
                data.root.as_os_str(),
                "--json".as_ref(),
            ],
        )?;
        let report: serde_json::Value = serde_json::from_str(&out)?;
        if report["state"] == "completed" {
            return Ok(());
        }
    }
    bail!("stage 2 did not complete in 8 runs")
}

/// One Stage-2 kill and what the checks found.
#[derive(Debug, Default)]
struct Stage2Kill {
    ending: Option<Ending>,
    violations: Vec<String>,
}

fn stage2_kill(
    bin: &Path,
    base: &Path,
    dir: &Path,
    point: &CrashPoint,
    death: Death,
    reference: &IndexDigest,
) -> anyhow::Result<Stage2Kill> {
    copy_tree(base, dir)?;
    let data = DataRoot::new(dir);
    write_fresh_idle_signal(&data.root)?;
    let args: [&std::ffi::OsStr; 4] = [
        "stage2".as_ref(),
        "run".as_ref(),
        "--data-dir".as_ref(),
        data.root.as_os_str(),
    ];
    let ending = kill_at(bin, &args, point.name, STAGE2_ARRIVAL, death)?;
    let mut kill = Stage2Kill::default();
    if !lock_free(&data) {
        kill.violations
            .push("the dead child's instance lock blocks".into());
    }
    for problem in integrity_problems(&data) {
        kill.violations
            .push(format!("after the crash: integrity_check: {problem}"));
    }
    match stage2_to_completion(bin, &data) {
        Err(e) => kill.violations.push(format!("the rerun failed: {e:#}")),
        Ok(()) => {
            let after = index_digest(&data)?;
            if after.duplicate_docs != 0 {
                kill.violations.push(format!(
                    "{} duplicate index rows after the rerun",
                    after.duplicate_docs
                ));
            }
            if after != *reference {
                kill.violations
                    .push("the resumed index differs from the crash-free index".into());
            }
            let trace = data
                .root
                .join("derived")
                .join(autocapture_core::stage2::TRACE_FILE);
            let text = std::fs::read_to_string(&trace).unwrap_or_default();
            let mut ids = BTreeSet::new();
            for line in text.lines() {
                let value: serde_json::Value = serde_json::from_str(line)?;
                if !ids.insert(value["record_id"].to_string()) {
                    kill.violations
                        .push(format!("trace line repeated for {}", value["record_id"]));
                    break;
                }
            }
            for problem in integrity_problems(&data) {
                kill.violations
                    .push(format!("after the rerun: integrity_check: {problem}"));
            }
        }
    }
    kill.ending = Some(ending);
    Ok(kill)
}

impl Gate for CrashGate {
    fn name(&self) -> &'static str {
        "crash"
    }

    /// Dozens of killed children and the power-loss states: the second longest.
    fn weight(&self) -> u32 {
        16
    }

    fn run(&self, ctx: &GateContext) -> anyhow::Result<GateOutcome> {
        let started = Instant::now();
        let mut outcome = GateOutcome::default();
        let workspace = crate::contract::workspace_root()?;

        // The registry and the source name the same points.
        let in_source = points_in_source(&workspace.join("core").join("src"))?;
        let registry: BTreeSet<String> = POINTS.iter().map(|p| p.name.to_owned()).collect();
        outcome.check_eq(
            "every crash point in the source is in the registry, and every registered one is placed",
            None,
            json!(registry),
            json!(in_source),
        );

        let shipping = ctx
            .autocapture_bin
            .as_deref()
            .context("the crash gate runs the real autocapture binaries; none was given")?;
        let bin = crash_binary(shipping)?;
        shipping_ignores_arming(ctx, shipping, &mut outcome)?;

        // Stage 1 on the corpus's first handoff: a crash-free reference, then every kill.
        let (_, handoffs) = private_spool(&ctx.corpus, &ctx.work)?;
        let first = handoffs.first().context("the corpus has no handoff")?;
        let pristine = ctx.work.join("pristine");
        copy_tree(first, &pristine)?;
        let _ = std::fs::remove_file(pristine.join(marker::MARKER_FILE));
        let reference_dir = ctx.work.join("reference");
        copy_tree(&pristine, &reference_dir.join("handoff"))?;
        let reference_data = DataRoot::new(reference_dir.join("data"));
        let plain = CrashPoint {
            needs_copy: false,
            ..POINTS[0]
        };
        run_clean(
            &bin,
            &ingest_args(&reference_dir.join("handoff"), &reference_data.root, &plain),
        )?;
        let MarkerState::Valid(reference_marker) = marker::read(&reference_dir.join("handoff"))
        else {
            bail!("the crash-free ingest wrote no valid marker");
        };
        let reference = Stage1Reference {
            digest: digest_without_ingest_time(&reference_data.root)?,
            integrity: reference_marker.integrity.clone(),
        };
        outcome.measure("handoff_rows", reference.integrity.rows_count);
        outcome.measure("handoff_media_files", reference.integrity.media_count);

        let deaths = [Death::Abort, Death::Kill];
        let stage1_jobs: Vec<(usize, &CrashPoint, Death)> = POINTS
            .iter()
            .filter(|p| p.stage == Stage::Ingest)
            .flat_map(|p| deaths.map(|d| (p, d)))
            .enumerate()
            .map(|(i, (p, d))| (i, p, d))
            .collect();
        let stage1 =
            crate::harness::pool::parallel(&stage1_jobs, ctx.jobs, |(i, point, death)| {
                stage1_kill(
                    &bin,
                    &pristine,
                    &ctx.work.join("kills").join(i.to_string()),
                    point,
                    *death,
                    &reference,
                )
            })?;

        // Stage 2 over enough frames for more than one batch.
        let base = DataRoot::new(ctx.work.join("stage2_base"));
        let mut frames = 0;
        for handoff in &handoffs {
            if frames > autocapture_core::stage2::BATCH as u64 * u64::from(STAGE2_ARRIVAL - 1) {
                break;
            }
            frames +=
                ingest_handoff(handoff, &base, &IngestOptions::default(), &SystemClock)?.frames;
        }
        outcome.measure("stage2_frames", frames);
        let stage2_reference_data = DataRoot::new(ctx.work.join("stage2_reference"));
        copy_tree(&base.root, &stage2_reference_data.root)?;
        stage2_to_completion(&bin, &stage2_reference_data)?;
        let stage2_reference = index_digest(&stage2_reference_data)?;
        outcome.check_eq(
            "crash-free Stage 2: no duplicate index rows",
            None,
            json!(0),
            json!(stage2_reference.duplicate_docs),
        );
        let stage2_jobs: Vec<(usize, &CrashPoint, Death)> = POINTS
            .iter()
            .filter(|p| p.stage == Stage::Stage2)
            .flat_map(|p| deaths.map(|d| (p, d)))
            .enumerate()
            .map(|(i, (p, d))| (i, p, d))
            .collect();
        let stage2 =
            crate::harness::pool::parallel(&stage2_jobs, ctx.jobs, |(i, point, death)| {
                stage2_kill(
                    &bin,
                    &base.root,
                    &ctx.work.join("stage2_kills").join(i.to_string()),
                    point,
                    *death,
                    &stage2_reference,
                )
            })?;

        // Verdicts per kill; coverage per point.
        let mut covered: BTreeSet<&str> = POINTS.iter().map(|p| p.name).collect();
        let (mut kills, mut violations, mut markers_after_crash) = (0u64, 0u64, 0u64);
        let results = stage1_jobs
            .iter()
            .zip(stage1)
            .map(|((_, p, d), r)| {
                (
                    *p,
                    *d,
                    r.map(|k| (k.ending, k.violations, k.marker_after_crash)),
                )
            })
            .chain(
                stage2_jobs
                    .iter()
                    .zip(stage2)
                    .map(|((_, p, d), r)| (*p, *d, r.map(|k| (k.ending, k.violations, false)))),
            );
        for (point, death, result) in results {
            let label = format!("{} by {death:?}", point.name);
            let (ending, found, marker_after) = result.with_context(|| label.clone())?;
            let ending = ending.context("a kill without an ending")?;
            let died = ending.reached && ending.died;
            if !died {
                covered.remove(point.name);
            }
            kills += u64::from(died);
            markers_after_crash += u64::from(marker_after);
            violations += found.len() as u64;
            outcome.check(
                &format!("{label}: the child died there"),
                died,
                format!("the child did not die at the point: {}", ending.detail),
            );
            outcome.check(
                &format!(
                    "{label}: marker ⇒ data, lock free, integrity ok, rerun converges, no temps"
                ),
                found.is_empty(),
                found.join("; "),
            );
        }
        outcome.measure("crash_points", POINTS.len() as u64);
        outcome.measure("crash_points_covered", covered.len() as u64);
        outcome.measure("kills", kills);
        outcome.measure("markers_present_after_crash", markers_after_crash);
        outcome.measure("violations", violations);
        outcome.check_eq(
            "crash points covered",
            None,
            json!(format!("{0}/{0}", POINTS.len())),
            json!(format!("{}/{}", covered.len(), POINTS.len())),
        );
        power_loss_check(ctx, &mut outcome)?;
        outcome.measure("crash_ms", started.elapsed().as_millis() as u64);
        Ok(outcome)
    }
}
