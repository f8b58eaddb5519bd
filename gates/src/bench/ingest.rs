//! Stage-1 ingest against the raw floor, on the same generated handoff: the floor is the `sqlite3`
//! CLI (or, where it is not installed, the same script through the bundled SQLite in a child
//! process) doing `ATTACH` + `INSERT OR IGNORE … SELECT` into a fresh database with our indexes, plus
//! `cp -al` of the media and `sha256sum` of every media file. Runs alternate (floor, ours, floor,
//! ours, …) so both see the same machine; the figure is the ratio of the medians. A re-ingest of
//! the same handoff into the last DataRoot is timed too. Our runs are measured from outside
//! (`autocapture-gates measure`), which also gives their peak RSS.
//!
//! Each timed run starts from a clean disk: the outputs of the run before are removed and
//! `sync(2)` flushes what the removal (and the build or generation before the first run) left
//! dirty. Otherwise a run would pay for writing back its predecessor's cleanup and the build:
//! ours more than the floor, since it makes the media durable with `syncfs(2)`, which waits for
//! everything dirty on the file system, and it ran right after the removal of 40,000 links.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use serde::Serialize;

use super::median;
use crate::probe::measure::measure_child;

#[derive(Debug, Clone)]
pub struct IngestBenchOptions {
    pub frames: u64,
    pub runs: usize,
    pub seed: u64,
    /// Holds the generated spool (kept between invocations) and the run outputs.
    pub work: PathBuf,
    pub autocapture: PathBuf,
    /// `autocapture-gates`, for `measure`.
    pub harness: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
pub struct IngestBench {
    pub frames: u64,
    /// `sqlite3` (the CLI) or `bundled` (the same SQL through the bundled SQLite).
    pub floor_sql_engine: &'static str,
    pub rows: u64,
    pub media_files: u64,
    pub floor_runs_s: Vec<f64>,
    pub ours_runs_s: Vec<f64>,
    pub floor_median_s: f64,
    pub ours_median_s: f64,
    /// Ours over the floor (the target is at most 1.5).
    pub ratio: f64,
    pub reingest_s: f64,
    /// The re-ingest over our median ingest (the target is at most 0.05).
    pub reingest_ratio: f64,
    pub reingest_unchanged: bool,
    pub peak_rss_mib: f64,
    pub rows_per_s: f64,
    pub media_files_per_s: f64,
}

/// The floor's SQL: our evidence table and indexes, filled from the handoff in one statement.
fn floor_sql(handoff_db: &Path) -> String {
    format!(
        "PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
CREATE TABLE metadata (id TEXT PRIMARY KEY, record_type TEXT, ts_utc TEXT, payload TEXT, run_id TEXT,
  nonce_b64 TEXT, ciphertext_b64 TEXT, key_id TEXT);
CREATE INDEX idx_metadata_record_type ON metadata(record_type);
CREATE INDEX idx_metadata_ts_utc ON metadata(ts_utc);
CREATE INDEX idx_metadata_run_id ON metadata(run_id);
ATTACH '{}' AS h;
INSERT OR IGNORE INTO metadata (id, record_type, ts_utc, payload, run_id)
  SELECT id, record_type, ts_utc, payload, run_id FROM h.metadata;
",
        handoff_db.display().to_string().replace('\'', "''")
    )
}

fn run(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let output = command
        .stdout(Stdio::null())
        .output()
        .with_context(|| format!("start {what}"))?;
    if !output.status.success() {
        bail!(
            "{what} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// Which program runs the floor's SQL: the `sqlite3` CLI when it is on the PATH, else the same
/// script through the bundled SQLite in a child `autocapture-gates sql` (same engine, no CLI).
pub fn floor_sql_engine() -> &'static str {
    let on_path = std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| dir.join("sqlite3").is_file())
    });
    if on_path { "sqlite3" } else { "bundled" }
}

/// One floor run into `dest` (emptied first); its wall time in seconds.
fn floor_run(handoff: &Path, dest: &Path, harness: &Path) -> anyhow::Result<f64> {
    if dest.exists() {
        std::fs::remove_dir_all(dest)?;
    }
    std::fs::create_dir_all(dest)?;
    let db = dest.join("metadata.db");
    nix::unistd::sync();
    let mut command = if floor_sql_engine() == "sqlite3" {
        let mut c = Command::new("sqlite3");
        c.arg(&db);
        c
    } else {
        let mut c = Command::new(harness);
        c.arg("sql").arg("--db").arg(&db);
        c
    };
    let started = Instant::now();
    let mut sqlite = command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("start the floor's SQL engine")?;
    {
        use std::io::Write;
        let mut stdin = sqlite.stdin.take().context("sqlite3 stdin")?;
        stdin.write_all(floor_sql(&handoff.join("metadata.db")).as_bytes())?;
    }
    let output = sqlite.wait_with_output()?;
    if !output.status.success() {
        bail!(
            "sqlite3 failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    run(
        Command::new("cp")
            .arg("-al")
            .arg(handoff.join("media"))
            .arg(dest.join("media")),
        "cp -al",
    )?;
    run(
        Command::new("sh").arg("-c").arg(format!(
            "find '{}' -type f -print0 | xargs -0 -n 2000 sha256sum",
            dest.join("media").display()
        )),
        "sha256sum of the media",
    )?;
    Ok(started.elapsed().as_secs_f64())
}

/// Generates the handoff once (kept under `work/spool`) and returns it.
fn handoff(options: &IngestBenchOptions) -> anyhow::Result<PathBuf> {
    let ready = options.work.join("spool.READY");
    let spool = options.work.join("spool");
    if !ready.is_file() {
        if spool.exists() {
            std::fs::remove_dir_all(&spool)?;
        }
        std::fs::create_dir_all(&options.work)?;
        eprintln!(
            "generating a handoff of {} frames in {}",
            options.frames,
            spool.display()
        );
        crate::corpus::build::spool(&options.work, options.seed, options.frames, 1)?;
        std::fs::write(&ready, format!("frames {}\n", options.frames))?;
    }
    let list = autocapture_core::stage1::drain::list_handoffs(&spool)?;
    list.into_iter()
        .next()
        .context("the generated spool has no handoff")
}

/// Runs the comparison.
pub fn bench_ingest(options: &IngestBenchOptions) -> anyhow::Result<IngestBench> {
    anyhow::ensure!(options.runs >= 1, "--runs must be at least 1");
    let handoff = handoff(options)?;
    let handoff_arg = handoff.display().to_string();
    let ours_dir = options.work.join("ours");
    let ours_arg = ours_dir.display().to_string();
    let ingest_args = [
        "handoff",
        "ingest",
        "--handoff-root",
        handoff_arg.as_str(),
        "--data-dir",
        ours_arg.as_str(),
        "--json",
    ];
    let (mut floor, mut ours, mut peak_kib) = (Vec::new(), Vec::new(), 0u64);
    let mut report = serde_json::Value::Null;
    for _ in 0..options.runs {
        let floor_dir = options.work.join("floor");
        floor.push(floor_run(&handoff, &floor_dir, &options.harness)?);
        // The floor's links give every media file a second name, and Stage 1 copies (never
        // links) a file with another name than the handoff's: the floor's media go before ours
        // runs. (Its database stays for a look.)
        let floor_media = floor_dir.join(autocapture_core::handoff::MEDIA_DIR);
        if floor_media.exists() {
            std::fs::remove_dir_all(&floor_media)?;
        }
        if ours_dir.exists() {
            std::fs::remove_dir_all(&ours_dir)?;
        }
        let _ = std::fs::remove_file(handoff.join(autocapture_core::stage1::marker::MARKER_FILE));
        nix::unistd::sync();
        let measured = measure_child(&options.harness, &options.autocapture, &ingest_args)?;
        anyhow::ensure!(
            measured.exit_code == Some(0),
            "our ingest failed: {}",
            measured.stderr_tail
        );
        ours.push(measured.wall_ms as f64 / 1000.0);
        peak_kib = peak_kib.max(measured.max_rss_kib);
        report = serde_json::from_str(&measured.stdout).context("read our ingest report")?;
    }
    nix::unistd::sync();
    let again = measure_child(&options.harness, &options.autocapture, &ingest_args)?;
    anyhow::ensure!(
        again.exit_code == Some(0),
        "the re-ingest failed: {}",
        again.stderr_tail
    );
    let again_report: serde_json::Value = serde_json::from_str(&again.stdout)?;
    let (floor_median, ours_median) = (median(&floor), median(&ours));
    let rows = report["rows_seen"].as_u64().unwrap_or(0);
    let media = report["media_files_seen"].as_u64().unwrap_or(0);
    let reingest_s = again.wall_ms as f64 / 1000.0;
    Ok(IngestBench {
        frames: options.frames,
        floor_sql_engine: floor_sql_engine(),
        rows,
        media_files: media,
        floor_runs_s: floor,
        ours_runs_s: ours,
        floor_median_s: floor_median,
        ours_median_s: ours_median,
        ratio: ours_median / floor_median.max(1e-9),
        reingest_s,
        reingest_ratio: reingest_s / ours_median.max(1e-9),
        reingest_unchanged: again_report["unchanged"].as_bool().unwrap_or(false),
        peak_rss_mib: peak_kib as f64 / 1024.0,
        rows_per_s: rows as f64 / ours_median.max(1e-9),
        media_files_per_s: media as f64 / ours_median.max(1e-9),
    })
}
