//! The hostile handoff corpus: readable case specs (`fixtures/hostile/*.toml`) built into real
//! handoff directories and judged.
//!
//! - [`load`] reads the specs; [`Base`] is a small generated spool whose last handoff each case
//!   damages and whose first is already ingested into a baseline DataRoot.
//! - [`run_case`] copies the base, applies the case's damage ([`damage`]), runs the real
//!   `autocapture` under `autocapture-gates measure` (address-space, file-size and wall-clock
//!   limits), and reads back what happened: the error or warning code, the marker, the DataRoot
//!   digest before and after, and whether the child died by a signal or panicked.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use autocapture_core::base::clock::SystemClock;
use autocapture_core::base::fsops::{FileOps, RealFs};
use autocapture_core::stage1::ingest::{
    ImportMode, IngestOptions, ingest_handoff, ingest_handoff_on,
};
use autocapture_core::stage1::marker::{self, MarkerState};
use autocapture_core::store::DataRoot;
use rusqlite::Connection;
use serde_json::Value;

use super::files::{files_under, rewrite_keeping_mtime};
pub use super::spec::{CaseCommand, CaseSpec, Outcome, default_dir, load};
use super::{CaseReport, Family};
use crate::corpus::copies::copy_tree;
use crate::corpus::digest::{DataRootDigest, digest};
use crate::probe::measure::{Limits, Measured, measure_child_limited};

/// The programs a case runs.
#[derive(Debug, Clone)]
pub struct Programs {
    pub autocapture: PathBuf,
    pub harness: PathBuf,
}

/// A generated spool: the handoff the cases damage, and a DataRoot already holding another.
#[derive(Debug, Clone)]
pub struct Base {
    /// A canonical-layout handoff, never ingested.
    pub handoff: PathBuf,
    /// The DataRoot holding the first handoff.
    pub data: PathBuf,
}

impl Base {
    /// Generates the base under `dir` (4 handoffs of 6 frames; the first ingested, the last
    /// is the target: both canonical layout).
    pub fn build(dir: &Path, seed: u64) -> anyhow::Result<Base> {
        let (_, handoffs) = crate::corpus::build::spool(dir, seed, 24, 4)?;
        let (first, last) = match (handoffs.first(), handoffs.last()) {
            (Some(first), Some(last)) if handoffs.len() == 4 => (first, last),
            _ => bail!("the base spool has {} handoffs, not 4", handoffs.len()),
        };
        let data = DataRoot::new(dir.join("baseline"));
        ingest_handoff(first, &data, &IngestOptions::default(), &SystemClock)
            .context("ingest the baseline handoff")?;
        Ok(Base {
            handoff: last.clone(),
            data: data.root,
        })
    }
}

/// Rows and media files of a DataRoot, with their content hashes, to count what a run lost.
fn retained(data: &Path) -> anyhow::Result<BTreeSet<(String, String)>> {
    let mut out = BTreeSet::new();
    let db = data.join("metadata.db");
    if db.is_file() {
        let conn = Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let mut stmt = conn.prepare("SELECT id, quote(payload) FROM metadata")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        for row in rows {
            let (id, payload) = row?;
            out.insert((
                format!("row {id}"),
                autocapture_core::contract::sha256_hex(payload.as_bytes()),
            ));
        }
    }
    let mut stack = vec![data.join("media")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry?.path();
            if fs::symlink_metadata(&path)?.is_dir() {
                stack.push(path);
            } else {
                let (sha, _) = autocapture_core::contract::sha256_file(&path)?;
                out.insert((format!("media {}", path.display()), sha));
            }
        }
    }
    Ok(out)
}

/// Where a case's copies live.
struct Site {
    handoff: PathBuf,
    data: PathBuf,
    spool: PathBuf,
}

/// Runs one case in `work/<name>` and reports what happened.
pub fn run_case(
    case: &CaseSpec,
    base: &Base,
    programs: &Programs,
    work: &Path,
) -> anyhow::Result<CaseReport> {
    let root = work.join(&case.name);
    let spool = root.join("spool");
    let handoff = spool.join(
        base.handoff
            .file_name()
            .context("the base handoff has no name")?,
    );
    let site = Site {
        handoff,
        data: root.join("data"),
        spool,
    };
    copy_tree(&base.handoff, &site.handoff)?;
    copy_tree(&base.data, &site.data)?;
    let mut limits = case.limits();
    super::damage::apply(case, &site.handoff, &site.data, &mut limits)?;
    // What the DataRoot holds once damaged (a planted conflicting file included) must survive.
    let before_retained = retained(&site.data)?;
    let before: Option<DataRootDigest> = digest(&site.data).ok();
    let started = Instant::now();
    let run = match case.command {
        CaseCommand::Ingest | CaseCommand::Drain => run_child(case, programs, &site, &limits)?,
        CaseCommand::InProcess => run_in_process(case, &site)?,
    };
    let elapsed_ms = started.elapsed().as_millis() as u64;
    super::damage::undo(case, &site.handoff, &site.data)?;
    let after: Option<DataRootDigest> = digest(&site.data).ok();
    let after_retained = retained(&site.data).unwrap_or_default();
    let data_lost = before_retained.difference(&after_retained).count() as u64;
    let marker_present = !matches!(marker::read(&site.handoff), MarkerState::Missing);

    let mut observed = run.observed.clone();
    let mut notes = Vec::new();
    if marker_present && !case.marker_allowed() {
        observed.push_str(" +marker");
        notes.push("a marker was written".to_owned());
    }
    if !marker_present && case.marker_allowed() && case.command != CaseCommand::Drain {
        observed.push_str(" -marker");
        notes.push("no marker after a successful ingest".to_owned());
    }
    // A marker must keep its promise: every row and media file of the handoff as it is now is
    // in the DataRoot with the same values and bytes.
    if let MarkerState::Valid(_) = marker::read(&site.handoff) {
        let broken = super::promise::broken(&site.handoff, &site.data)?;
        if !broken.is_empty() {
            observed.push_str(" +promise_broken");
            notes.extend(broken);
        }
    }
    let must_be_unchanged = matches!(case.outcome, Outcome::Error | Outcome::Paused);
    if must_be_unchanged && before != after {
        observed.push_str(" +data_root_changed");
        notes.push("the DataRoot's digest changed".to_owned());
    }
    if data_lost > 0 {
        notes.push(format!("{data_lost} retained rows or files lost"));
    }
    notes.push(format!(
        "{elapsed_ms} ms, peak {} MiB",
        run.max_rss_kib / 1024
    ));
    if !run.detail.is_empty() {
        notes.push(run.detail.clone());
    }
    Ok(CaseReport {
        family: Family::Corpus,
        name: case.name.clone(),
        expected: case.expect.clone(),
        observed,
        inputs: 1,
        data_lost,
        panics: run.panics,
        detail: notes.join("; "),
    })
}

/// What one run of a case's command showed.
struct RunSeen {
    observed: String,
    panics: u64,
    max_rss_kib: u64,
    detail: String,
}

/// The codes a successful ingest report carries: warnings, UIA problems, raw payloads.
fn report_codes(report: &Value) -> BTreeSet<String> {
    let mut codes = BTreeSet::new();
    for warning in report["warnings"].as_array().into_iter().flatten() {
        if let Some(code) = warning["code"].as_str() {
            codes.insert(code.to_owned());
        }
    }
    for (code, count) in report["uia_problems"].as_object().into_iter().flatten() {
        if count.as_u64().unwrap_or(0) > 0 {
            codes.insert(code.clone());
        }
    }
    if report["payloads_not_json"].as_u64().unwrap_or(0) > 0 {
        codes.insert("payloads_not_json".to_owned());
    }
    codes
}

/// Maps what the command said to the case's vocabulary.
fn observe(case: &CaseSpec, exit: Option<i32>, stdout: &str) -> (String, String) {
    let document: Value = match serde_json::from_str(stdout.trim()) {
        Ok(value) => value,
        Err(_) => {
            let head: String = stdout.chars().take(200).collect();
            return (
                format!("exit {exit:?} without a JSON document"),
                format!("stdout: {head:?}"),
            );
        }
    };
    if let Some(code) = document["error"]["code"].as_str() {
        let message = document["error"]["message"].as_str().unwrap_or_default();
        return (code.to_owned(), message.chars().take(300).collect());
    }
    if case.command == CaseCommand::Drain {
        let state = document["state"].as_str().unwrap_or("unknown");
        if state == "paused_active" {
            let reason = document["activity"]["reason"].as_str().unwrap_or("unknown");
            return (reason.to_owned(), format!("drain {state}"));
        }
        if state == "completed" && document["totals"]["failed"].as_u64() == Some(0) {
            return ("ok".to_owned(), format!("drain {state}"));
        }
        return (format!("drain {state}"), document["totals"].to_string());
    }
    if exit != Some(0) {
        return (format!("exit {exit:?}"), String::new());
    }
    let codes = report_codes(&document);
    let observed = match case.outcome {
        Outcome::Warning if codes.contains(&case.expect) => case.expect.clone(),
        _ if codes.is_empty() => "ok".to_owned(),
        _ => codes.into_iter().collect::<Vec<_>>().join(","),
    };
    (observed, String::new())
}

fn run_child(
    case: &CaseSpec,
    programs: &Programs,
    site: &Site,
    limits: &Limits,
) -> anyhow::Result<RunSeen> {
    let handoff = site.handoff.display().to_string();
    let data = site.data.display().to_string();
    let spool = site.spool.display().to_string();
    let args: Vec<&str> = match case.command {
        CaseCommand::Drain => vec![
            "handoff",
            "drain",
            "--spool-root",
            &spool,
            "--data-dir",
            &data,
            "--budget",
            "auto",
            "--json",
        ],
        _ => vec![
            "handoff",
            "ingest",
            "--handoff-root",
            &handoff,
            "--data-dir",
            &data,
            "--json",
        ],
    };
    let measured = measure_child_limited(&programs.harness, &programs.autocapture, &args, limits)?;
    Ok(judge_child(case, &measured))
}

/// A child that died by a signal, printed a panic, or outlived its limit counts as a panic.
fn judge_child(case: &CaseSpec, measured: &Measured) -> RunSeen {
    let panicked = measured.stderr_tail.contains("panicked at");
    let (observed, detail) = if measured.timed_out {
        (
            "timeout".to_owned(),
            format!("killed after {} ms", measured.wall_ms),
        )
    } else if measured.exit_code.is_none() {
        (
            "killed by a signal".to_owned(),
            format!("stderr: {}", measured.stderr_tail.trim()),
        )
    } else {
        observe(case, measured.exit_code, &measured.stdout)
    };
    let panics = u64::from(panicked || measured.exit_code.is_none());
    let detail = if panicked {
        format!("{detail}; stderr: {}", measured.stderr_tail.trim())
    } else {
        detail
    };
    RunSeen {
        observed,
        panics,
        max_rss_kib: measured.max_rss_kib,
        detail,
    }
}

/// A file system that appends to a media file after it was hashed, just before the import
/// links (or copies) it into the DataRoot: a writer still busy with the blob.
/// What an in-process case does to the handoff while the real ingest runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meddle {
    /// Appends to the first media file as it is linked or copied.
    GrowAtImport,
    /// Once the DataRoot commit returned: adds a row to the handoff's database.
    AppendRowAtCommit,
    /// Once the DataRoot commit returned: rewrites a media file in place, same size, and sets
    /// its modification time back.
    RewriteMediaAtCommit,
}

/// The real file system, meddling with the handoff once (see [`Meddle`]).
#[derive(Debug)]
pub struct GrowingSource {
    meddle: Meddle,
    handoff: PathBuf,
    done: std::sync::atomic::AtomicBool,
    failed: std::sync::Mutex<Option<String>>,
}

impl Default for GrowingSource {
    /// Appends to the first media file as it is linked or copied.
    fn default() -> Self {
        GrowingSource::new(Meddle::GrowAtImport, Path::new(""))
    }
}

impl GrowingSource {
    fn new(meddle: Meddle, handoff: &Path) -> GrowingSource {
        GrowingSource {
            meddle,
            handoff: handoff.to_path_buf(),
            done: std::sync::atomic::AtomicBool::new(false),
            failed: std::sync::Mutex::new(None),
        }
    }

    fn first_time(&self) -> bool {
        !self.done.swap(true, std::sync::atomic::Ordering::SeqCst)
    }

    fn grow(&self, source: &Path) -> std::io::Result<()> {
        use std::io::Write;
        if self.meddle == Meddle::GrowAtImport && self.first_time() {
            fs::OpenOptions::new()
                .append(true)
                .open(source)?
                .write_all(b"appended while the ingest ran")?;
        }
        Ok(())
    }

    fn at_commit(&self) -> anyhow::Result<()> {
        match self.meddle {
            Meddle::GrowAtImport => {}
            Meddle::AppendRowAtCommit => {
                Connection::open(self.handoff.join("metadata.db"))?.execute(
                    "INSERT INTO metadata (id, record_type, ts_utc, payload, run_id)
                     VALUES ('hostile/appended/1', 'hostile.appended', '2026-02-20T09:00:00.000000Z', '{}', 'hostile')",
                    [],
                )?;
            }
            Meddle::RewriteMediaAtCommit => {
                let mut files = Vec::new();
                files_under(&self.handoff.join("media"), &mut files)?;
                files.sort();
                rewrite_keeping_mtime(files.first().context("the handoff has no media file")?)?;
            }
        }
        Ok(())
    }
}

impl FileOps for GrowingSource {
    fn committed(&self, _what: &str) {
        if self.meddle != Meddle::GrowAtImport
            && self.first_time()
            && let Err(e) = self.at_commit()
            && let Ok(mut failed) = self.failed.lock()
        {
            *failed = Some(format!("{e:#}"));
        }
    }
    fn create_dir(&self, path: &Path) -> std::io::Result<()> {
        RealFs.create_dir(path)
    }
    fn write_new(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        RealFs.write_new(path, bytes)
    }
    fn copy_new(&self, source: &Path, dest: &Path) -> std::io::Result<String> {
        self.grow(source)?;
        RealFs.copy_new(source, dest)
    }
    fn sync_file(&self, path: &Path) -> std::io::Result<()> {
        RealFs.sync_file(path)
    }
    fn hard_link(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        self.grow(from)?;
        RealFs.hard_link(from, to)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        RealFs.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        RealFs.remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        RealFs.sync_dir(dir)
    }
    fn sync_fs(&self, path: &Path) -> std::io::Result<()> {
        RealFs.sync_fs(path)
    }
}

fn run_in_process(case: &CaseSpec, site: &Site) -> anyhow::Result<RunSeen> {
    let meddle = match case.damage.as_str() {
        "grow_during_import" => Meddle::GrowAtImport,
        "append_row_at_commit" => Meddle::AppendRowAtCommit,
        "rewrite_media_at_commit" => Meddle::RewriteMediaAtCommit,
        other => bail!("case {}: damage {other:?} has no in-process run", case.name),
    };
    let fs_hook = GrowingSource::new(meddle, &site.handoff);
    let options = IngestOptions {
        mode: ImportMode::Hardlink,
        strict: true,
        ..IngestOptions::default()
    };
    let data = DataRoot::new(&site.data);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ingest_handoff_on(&fs_hook, &site.handoff, &data, &options, &SystemClock)
    }));
    if let Ok(failed) = fs_hook.failed.lock()
        && let Some(failed) = failed.as_ref()
    {
        bail!("case {}: the meddling failed: {failed}", case.name);
    }
    Ok(match result {
        Err(_) => RunSeen {
            observed: "panic".to_owned(),
            panics: 1,
            max_rss_kib: 0,
            detail: "Stage 1 panicked".to_owned(),
        },
        Ok(Err(e)) => RunSeen {
            observed: e.code().to_owned(),
            panics: 0,
            max_rss_kib: 0,
            detail: e.to_string(),
        },
        Ok(Ok(report)) => {
            let value = serde_json::to_value(&report)?;
            let codes = report_codes(&value);
            RunSeen {
                observed: if codes.is_empty() {
                    "ok".to_owned()
                } else {
                    codes.into_iter().collect::<Vec<_>>().join(",")
                },
                panics: 0,
                max_rss_kib: 0,
                detail: String::new(),
            }
        }
    })
}

/// Every case under `dir` run against a fresh base in `work`.
pub fn cases_in(
    dir: &Path,
    programs: &Programs,
    work: &Path,
    seed: u64,
    workers: usize,
) -> anyhow::Result<Vec<CaseReport>> {
    let specs = load(dir)?;
    let base = Base::build(&work.join("base"), seed)?;
    let runs = work.join("cases");
    crate::harness::pool::parallel(&specs, workers, |case| {
        let report = run_case(case, &base, programs, &runs)
            .with_context(|| format!("hostile case {}", case.name))?;
        // A passing case's copies are not needed again; a failing one's stay for a look.
        // Some cases are large (a million-node snapshot), so the gate's disk use stays that
        // of a few cases at a time.
        if report.passed() {
            let root = runs.join(&case.name);
            std::fs::remove_dir_all(&root).with_context(|| format!("remove {}", root.display()))?;
        }
        Ok(report)
    })?
    .into_iter()
    .collect()
}

/// The corpus part of the `hostile` gate: every case of `fixtures/hostile/`.
pub fn cases(ctx: &crate::harness::gate::GateContext) -> anyhow::Result<Vec<CaseReport>> {
    let programs = Programs {
        autocapture: ctx
            .autocapture_bin
            .clone()
            .context("the hostile corpus runs the real autocapture binary; none was given")?,
        harness: ctx
            .harness_bin
            .clone()
            .context("the hostile corpus runs autocapture under `autocapture-gates measure`; no harness binary was given")?,
    };
    cases_in(
        &default_dir()?,
        &programs,
        &ctx.work.join("corpus"),
        ctx.seed,
        super::runs_at_once(ctx.jobs),
    )
}
