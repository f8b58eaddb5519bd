//! Draining a spool: every handoff under it, in sorted name order, through Stage 1, gated on the
//! user's activity (contract §6).
//!
//! Budgets: `auto` works only while a fresh signal says the user is idle and pauses otherwise
//! (checked before every handoff); `active-safe` always works, with one throttled hashing worker;
//! `idle-max` always works, with every core. Handoffs with a valid v1 marker are skipped unless
//! asked to re-ingest; one marked for another DataRoot is reported as such, with that DataRoot's
//! path. A spool entry that is a symlink is never followed and is reported. The DataRoot's
//! single-writer lock is respected: a drain that cannot have it fails before touching anything.

use std::path::{Path, PathBuf};

use serde::Serialize;
use thiserror::Error;

use crate::activity::{ActivityState, read_state, signal_path};
use crate::base::clock::Clock;
use crate::handoff::METADATA_DB;
use crate::stage1::ingest::{
    IngestError, IngestOptions, IngestReport, ingest_handoff, prepare_data_root,
};
use crate::stage1::marker::{self, MarkerState};
use crate::stage1::placement::{self, PlacementError, Source, check_apart};
use crate::store::DataRoot;

/// Share of one core the `active-safe` budget may use for hashing.
pub const ACTIVE_SAFE_CPU_CAP: f64 = 0.25;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Budget {
    Auto,
    ActiveSafe,
    IdleMax,
}

#[derive(Debug, Clone)]
pub struct DrainOptions {
    pub budget: Budget,
    pub activity_signal: Option<PathBuf>,
    pub fresh_seconds: u32,
    pub include_marked: bool,
    pub fail_fast: bool,
    /// Mode and strictness for every ingest; workers and CPU cap are set by the budget.
    pub ingest: IngestOptions,
    /// Cores available to `idle-max`.
    pub cores: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HandoffStatus {
    Ingested,
    SkippedMarked,
    /// Marked by an ingest into another DataRoot (`marked_for` names it); not ingested here
    /// unless `--include-marked`.
    MarkedElsewhere,
    /// A symlink in the spool: never followed, never ingested.
    SkippedSymlink,
    Failed,
    /// Not reached: the drain paused or stopped first.
    NotRun,
}

#[derive(Debug, Clone, Serialize)]
pub struct HandoffOutcome {
    pub name: String,
    pub path: PathBuf,
    pub status: HandoffStatus,
    /// The DataRoot a `marked_elsewhere` handoff's marker names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marked_for: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<OutcomeError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<Box<IngestReport>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutcomeError {
    pub code: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DrainState {
    /// Every handoff was ingested or skipped.
    Completed,
    /// The user is active (or the signal cannot be trusted) and the budget is `auto`.
    PausedActive,
    /// At least one handoff failed.
    Failed,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DrainTotals {
    pub handoffs: u64,
    pub ingested: u64,
    pub skipped_marked: u64,
    pub marked_elsewhere: u64,
    pub skipped_symlinks: u64,
    pub failed: u64,
    pub not_run: u64,
    pub rows_copied: u64,
    pub media_files_linked: u64,
    pub media_files_copied: u64,
    pub bytes_ingested: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DrainReport {
    pub state: DrainState,
    pub budget: Budget,
    pub workers: usize,
    pub activity: ActivityState,
    pub handoffs: Vec<HandoffOutcome>,
    pub totals: DrainTotals,
}

#[derive(Debug, Error)]
pub enum DrainError {
    #[error("list spool {path}: {source}")]
    Spool {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Placement(#[from] PlacementError),
}

impl DrainError {
    pub fn code(&self) -> &'static str {
        match self {
            DrainError::Spool { .. } => "spool_unreadable",
            DrainError::Ingest(inner) => inner.code(),
            DrainError::Placement(inner) => inner.code(),
        }
    }
}

/// What the drain tells its caller as it goes (for a progress bar).
#[derive(Debug, Clone, Copy)]
pub enum DrainEvent<'a> {
    Started {
        handoffs: usize,
    },
    Finished {
        name: &'a str,
        status: HandoffStatus,
    },
}

/// The handoffs of a spool: immediate subdirectories (not symlinks) holding `metadata.db`,
/// sorted by name.
pub fn list_handoffs(spool: &Path) -> Result<Vec<PathBuf>, DrainError> {
    Ok(list_spool(spool)?.handoffs)
}

/// What a spool holds that a drain reports: its handoffs and its symlinks, each sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpoolEntries {
    pub handoffs: Vec<PathBuf>,
    /// Entries that are symlinks: a handoff is a real folder, so these are never followed.
    pub symlinks: Vec<PathBuf>,
}

/// Lists a spool's handoffs and symlinks.
pub fn list_spool(spool: &Path) -> Result<SpoolEntries, DrainError> {
    let spool_err = |source| DrainError::Spool {
        path: spool.to_path_buf(),
        source,
    };
    let mut entries = SpoolEntries::default();
    for entry in std::fs::read_dir(spool).map_err(spool_err)? {
        let path = entry.map_err(spool_err)?.path();
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => entries.symlinks.push(path),
            Ok(meta) if meta.is_dir() && path.join(METADATA_DB).exists() => {
                entries.handoffs.push(path)
            }
            _ => {}
        }
    }
    entries.handoffs.sort();
    entries.symlinks.sort();
    Ok(entries)
}

/// Drains `spool` into `data_root`.
pub fn drain(
    spool: &Path,
    data_root: &DataRoot,
    options: &DrainOptions,
    clock: &dyn Clock,
    progress: &mut dyn FnMut(DrainEvent<'_>),
) -> Result<DrainReport, DrainError> {
    let _stage1 = crate::base::stage1_context::enter();
    let spool_entries = list_spool(spool)?;
    check_apart(Source::Spool, spool, &data_root.root)?;
    prepare_data_root(data_root)?;
    let here = placement::resolve(&data_root.root).map_err(|source| IngestError::Io {
        path: data_root.root.clone(),
        source,
    })?;
    // Fail early, touching nothing, when another writer holds the DataRoot.
    drop(crate::store::lock_data_root(data_root).map_err(IngestError::from)?);
    let signal = signal_path(&data_root.root, options.activity_signal.as_deref());
    let read_activity = || read_state(signal.as_deref(), clock.now(), options.fresh_seconds);
    let mut activity = read_activity();
    let (workers, cpu_cap) = match options.budget {
        Budget::ActiveSafe => (1, Some(ACTIVE_SAFE_CPU_CAP)),
        Budget::Auto | Budget::IdleMax => (options.cores.max(1), None),
    };
    let ingest_options = IngestOptions {
        workers,
        cpu_cap,
        ..options.ingest.clone()
    };
    let outcome_of = |path: &PathBuf, status| HandoffOutcome {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        path: path.clone(),
        status,
        marked_for: None,
        error: None,
        report: None,
    };
    let mut outcomes: Vec<HandoffOutcome> = spool_entries
        .handoffs
        .iter()
        .map(|path| outcome_of(path, HandoffStatus::NotRun))
        .collect();
    progress(DrainEvent::Started {
        handoffs: outcomes.len(),
    });
    let mut paused = false;
    for outcome in &mut outcomes {
        if !options.include_marked
            && let MarkerState::Valid(marker) = marker::read(&outcome.path)
        {
            let marked_here = placement::resolve(Path::new(&marker.dest_data_root))
                .is_ok_and(|dest| dest == here);
            if marked_here {
                outcome.status = HandoffStatus::SkippedMarked;
            } else {
                outcome.status = HandoffStatus::MarkedElsewhere;
                outcome.marked_for = Some(marker.dest_data_root.clone());
            }
            progress(DrainEvent::Finished {
                name: &outcome.name,
                status: outcome.status,
            });
            continue;
        }
        if options.budget == Budget::Auto {
            activity = read_activity();
            if !activity.idle {
                paused = true;
                break;
            }
        }
        match ingest_handoff(&outcome.path, data_root, &ingest_options, clock) {
            Ok(report) => {
                outcome.status = HandoffStatus::Ingested;
                outcome.report = Some(Box::new(report));
            }
            Err(e) => {
                outcome.status = HandoffStatus::Failed;
                outcome.error = Some(OutcomeError {
                    code: e.code(),
                    message: e.to_string(),
                });
            }
        }
        progress(DrainEvent::Finished {
            name: &outcome.name,
            status: outcome.status,
        });
        if outcome.status == HandoffStatus::Failed && options.fail_fast {
            break;
        }
    }
    outcomes.extend(
        spool_entries
            .symlinks
            .iter()
            .map(|path| outcome_of(path, HandoffStatus::SkippedSymlink)),
    );
    let mut totals = DrainTotals {
        handoffs: spool_entries.handoffs.len() as u64,
        ..DrainTotals::default()
    };
    for outcome in &outcomes {
        match outcome.status {
            HandoffStatus::Ingested => totals.ingested += 1,
            HandoffStatus::SkippedMarked => totals.skipped_marked += 1,
            HandoffStatus::MarkedElsewhere => totals.marked_elsewhere += 1,
            HandoffStatus::SkippedSymlink => totals.skipped_symlinks += 1,
            HandoffStatus::Failed => totals.failed += 1,
            HandoffStatus::NotRun => totals.not_run += 1,
        }
        if let Some(report) = &outcome.report {
            totals.rows_copied += report.counts.metadata_rows_copied;
            totals.media_files_linked += report.counts.media_files_linked;
            totals.media_files_copied += report.counts.media_files_copied;
            totals.bytes_ingested += report.counts.bytes_ingested;
        }
    }
    let state = if totals.failed > 0 {
        DrainState::Failed
    } else if paused {
        DrainState::PausedActive
    } else {
        DrainState::Completed
    };
    Ok(DrainReport {
        state,
        budget: options.budget,
        workers,
        activity,
        handoffs: outcomes,
        totals,
    })
}
