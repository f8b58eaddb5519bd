//! The commands that write: `handoff ingest`, `handoff drain` (Stage 1) and `stage2 run`.

use std::path::PathBuf;

use serde_json::json;

use super::{
    BudgetArg, CodedError, DrainArgs, IngestArgs, ModeArg, Reply, config, exit, report_document,
    require_data_dir,
};
use crate::base::clock::SystemClock;
use crate::stage1::drain::{Budget, DrainEvent, DrainOptions, DrainState, HandoffStatus, drain};
use crate::stage1::ingest::{ImportMode, IngestError, IngestOptions, ingest_handoff};
use crate::stage2::{Stage2Options, run_stage2};
use crate::store::DataRoot;

fn ingest_error(error: IngestError) -> CodedError {
    let status = if error.is_environment() {
        exit::ENVIRONMENT
    } else {
        exit::FAILED
    };
    let mut coded = CodedError::new(error.code(), format!("failed to ingest: {error}"), status);
    if let Some(path) = error.path() {
        coded.extra["path"] = json!(path.to_string_lossy());
    }
    if let Some(record_id) = error.record_id() {
        coded.extra["record_id"] = json!(record_id);
    }
    coded
}

/// The ingest options of the configuration (mode, strictness, ledger fast path, UIA settings).
fn configured_ingest(config: &config::Config) -> IngestOptions {
    IngestOptions {
        mode: config.ingest_mode,
        strict: config.ingest_strict,
        ledger_fast_path: config.ledger_fast_path,
        uia: config.uia.clone(),
        ..IngestOptions::default()
    }
}

pub(super) fn handoff_ingest(
    args: &IngestArgs,
    config: &config::Config,
) -> Result<Reply, CodedError> {
    let configured = configured_ingest(config);
    let options = IngestOptions {
        mode: match args.mode {
            Some(ModeArg::Hardlink) => ImportMode::Hardlink,
            Some(ModeArg::Copy) => ImportMode::Copy,
            None => configured.mode,
        },
        strict: if args.no_strict {
            false
        } else {
            args.strict || configured.strict
        },
        workers: std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1),
        cpu_cap: None,
        ..configured
    };
    let live = super::live::Live::start("{spinner} {msg}");
    let options = IngestOptions {
        progress: live.as_ref().map(super::live::Live::progress),
        ..options
    };
    let report = ingest_handoff(
        &args.handoff_root,
        &DataRoot::new(&args.data_dir),
        &options,
        &SystemClock,
    );
    drop(live);
    let report = report.map_err(ingest_error)?;
    let mut document = report_document(&report, true)?;
    let c = &report.counts;
    let human = format!(
        "ingested {} ({} layout) into {}\n  rows: {} seen, {} copied; media: {} files, {} linked, {} copied, {} already present, {} bytes\n  stage 1: {} complete frames of {}\n  {} warnings; {} ms; marker {}",
        report.handoff_root.display(),
        report.layout,
        report.data_root.display(),
        report.rows_seen,
        c.metadata_rows_copied,
        report.media_files_seen,
        c.media_files_linked,
        c.media_files_copied,
        report.media_files_present,
        c.bytes_ingested,
        c.stage1_complete_records,
        report.frames,
        report.warnings.len(),
        report.timings.total_ms,
        report.marker_path.display(),
    );
    if std::env::var_os(MAPPED_FILES_ENV).is_some() {
        document["mapped_files"] = json!(mapped_files()?);
    }
    Ok(Reply {
        ok: true,
        json: document,
        human,
    })
}

/// Set (to anything), `handoff ingest --json` adds `mapped_files`: every file mapped into the
/// process at the end of the ingest, from `/proc/self/maps` (the `import-guard` gate's run-time
/// check).
const MAPPED_FILES_ENV: &str = "AUTOCAPTURE_REPORT_MAPPED_FILES";

fn mapped_files() -> Result<Vec<String>, CodedError> {
    let maps = std::fs::read_to_string("/proc/self/maps").map_err(|e| {
        CodedError::new(
            "maps_unreadable",
            format!("read /proc/self/maps: {e}"),
            exit::ENVIRONMENT,
        )
    })?;
    let mut files: Vec<String> = maps
        .lines()
        .filter_map(|line| line.splitn(6, ' ').nth(5))
        .map(|path| path.trim())
        .filter(|path| path.starts_with('/'))
        .map(|path| path.strip_suffix(" (deleted)").unwrap_or(path).to_owned())
        .collect();
    files.sort();
    files.dedup();
    Ok(files)
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
}

pub(super) fn handoff_drain(
    args: &DrainArgs,
    config: &config::Config,
) -> Result<Reply, CodedError> {
    let options = DrainOptions {
        budget: match args.budget {
            BudgetArg::Auto => Budget::Auto,
            BudgetArg::ActiveSafe => Budget::ActiveSafe,
            BudgetArg::IdleMax => Budget::IdleMax,
        },
        activity_signal: args
            .activity_signal
            .clone()
            .or_else(|| config.activity_signal.clone()),
        fresh_seconds: config.fresh_seconds,
        include_marked: args.include_marked,
        fail_fast: args.fail_fast,
        ingest: configured_ingest(config),
        cores: cores(),
    };
    // On a terminal, a line from the first moment: handoffs done, then the rows and media of
    // the whole drain so far with their rates.
    let live = super::live::Live::start("{bar:30} {pos}/{len} handoffs {msg}");
    let options = DrainOptions {
        ingest: IngestOptions {
            progress: live.as_ref().map(super::live::Live::progress),
            ..options.ingest
        },
        ..options
    };
    let mut on_event = |event: DrainEvent<'_>| match event {
        DrainEvent::Started { handoffs } => {
            if let Some(live) = &live {
                live.set_handoffs(handoffs as u64);
            }
        }
        DrainEvent::Finished { name, status } => {
            if let Some(live) = &live {
                live.handoff_done(format!(
                    "{name}: {}; ",
                    json!(status).as_str().unwrap_or_default()
                ));
            }
        }
    };
    let report = drain(
        &args.spool_root,
        &DataRoot::new(&args.data_dir),
        &options,
        &SystemClock,
        &mut on_event,
    )
    .map_err(|e| match e {
        crate::stage1::drain::DrainError::Ingest(inner) => ingest_error(inner),
        placement @ crate::stage1::drain::DrainError::Placement(_) => CodedError::new(
            placement.code(),
            format!("failed to drain: {placement}"),
            exit::FAILED,
        ),
        crate::stage1::drain::DrainError::Spool { path, source } => {
            // A spool that is not there is a wrong argument, like a missing handoff (exit 1);
            // one that cannot be read is the environment's fault (exit 2).
            let status = if source.kind() == std::io::ErrorKind::NotFound {
                exit::FAILED
            } else {
                exit::ENVIRONMENT
            };
            let mut coded = CodedError::new(
                "spool_unreadable",
                format!("failed to drain: list spool {}: {source}", path.display()),
                status,
            );
            coded.extra["path"] = json!(path.to_string_lossy());
            coded
        }
    })?;
    drop(live);
    let ok = report.state != DrainState::Failed;
    let document = report_document(&report, ok)?;
    let t = &report.totals;
    let mut human = format!(
        "drain {}: {} handoffs: {} ingested, {} skipped (marked), {} marked for another data dir, {} failed, {} not run; {} symlinks skipped; activity: {} ({})\n",
        json!(report.state).as_str().unwrap_or_default(),
        t.handoffs,
        t.ingested,
        t.skipped_marked,
        t.marked_elsewhere,
        t.failed,
        t.not_run,
        t.skipped_symlinks,
        report.activity.reason,
        report.activity.detail
    );
    for outcome in &report.handoffs {
        if outcome.status == HandoffStatus::Failed
            && let Some(error) = &outcome.error
        {
            human.push_str(&format!(
                "  {}: error[{}]: {}\n",
                outcome.name, error.code, error.message
            ));
        }
        if let Some(other) = &outcome.marked_for {
            human.push_str(&format!(
                "  {}: marked for another data dir, {other}; --include-marked ingests it here\n",
                outcome.name
            ));
        }
        if outcome.status == HandoffStatus::SkippedSymlink {
            human.push_str(&format!(
                "  {}: a symlink in the spool, not followed\n",
                outcome.name
            ));
        }
    }
    Ok(Reply {
        ok,
        json: document,
        human,
    })
}

pub(super) fn stage2_run(
    data_dir: PathBuf,
    activity_signal: Option<PathBuf>,
    gate_override: crate::activity::GateOverride,
    config: &config::Config,
) -> Result<Reply, CodedError> {
    require_data_dir(&data_dir)?;
    let options = Stage2Options {
        activity_signal: activity_signal.or_else(|| config.activity_signal.clone()),
        fresh_seconds: config.fresh_seconds,
        gate_override,
    };
    let report = run_stage2(&DataRoot::new(&data_dir), &options, &SystemClock).map_err(|e| {
        // Every Stage-2 failure is the environment's (the lock, the store), not bad input.
        CodedError::new(
            e.code(),
            format!("failed to run stage 2: {e}"),
            exit::ENVIRONMENT,
        )
    })?;
    let document = report_document(&report, true)?;
    let human = format!(
        "stage 2 {}: {} frames processed, {} docs indexed; {} searchable, {} pending; activity {} ({}); {:.0} frames/s",
        json!(report.state).as_str().unwrap_or_default(),
        report.frames_processed,
        report.docs_indexed,
        report.frames_searchable,
        report.frames_pending,
        report.activity.reason,
        report.activity.detail,
        report.frames_per_s
    );
    Ok(Reply {
        ok: true,
        json: document,
        human,
    })
}
