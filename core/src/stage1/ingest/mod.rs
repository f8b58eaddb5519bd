//! Stage 1: ingest one handoff into the DataRoot (contract §1–§4), quickly and safely.
//!
//! 1. Take the DataRoot's single-writer lock (non-blocking; held → `instance_lock_held`). A
//!    handoff the ledger holds is stamped and, when its signature is unchanged, answered from
//!    the ledger ([`crate::stage1::ledger`]); any other takes the full path.
//! 2. Stamp the handoff's database (`stamp`), open it read-only and begin one read transaction.
//! 3. In one DataRoot transaction: stream the handoff's rows in id (byte) order ([`scan`]) and
//!    copy each as it is read with `INSERT OR IGNORE` ([`copy`]); an id already present must
//!    hold exactly the same values in every carried column (`metadata_id_conflict`). Media
//!    references go to a temp table, each frame's Stage-1 markers and UIA docs straight into
//!    the derived store (first writer wins). Meanwhile another thread walks `media/` once,
//!    refusing anything that is not a regular file, and hashes every media file (in parallel)
//!    with the metadata the walk read: in hardlink mode a file the DataRoot lacks is linked
//!    first and hashed through the link. Check refs and declared hashes ([`checks`]), copy what
//!    was not linked (verified, fsynced), make the media durable (`syncfs`), commit with
//!    `synchronous=FULL` ([`commit`]). Any failure before the commit rolls back and takes the
//!    links out again.
//! 4. Check the handoff again: anything other than what was verified is
//!    `handoff_changed_during_ingest` and no marker. Meanwhile the write-ahead logs are
//!    checkpointed on their own threads. Record the ledger entry.
//! 5. Append an audit line, release the lock, then write `reap_eligible.json` atomically through
//!    a handle on the handoff folder, checking the stamps just before its rename and once it is
//!    durable (a difference then removes it again).
//!
//! Stage 1 never decodes media and never runs Stage-2 work. The steps of the full path are in
//! [`run`].

mod checks;
mod commit;
mod copy;
mod run;
mod scan;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rusqlite::Connection;
use serde::Serialize;
use serde_json::json;

use crate::audit::{AuditEvent, AuditLog};
use crate::base::clock::Clock;
use crate::base::crash;
use crate::base::fsops::{FileOps, RealFs};
use crate::base::pace::Pacer;
use crate::contract::{format_ts_utc, ingest_run_id};
use crate::handoff::HandoffDb;
use crate::stage1::ledger::{self, LedgerEntry};
use crate::stage1::marker::{self, MARKER_SCHEMA, MarkerCounts, MarkerIntegrity, ReapMarker};
use crate::stage1::media;
use crate::stage1::placement::Source;
use crate::stage1::stamp::{self, DbStamp, HandoffStamp};
use crate::store::{DataRoot, lock_data_root};

pub use crate::stage1::derive::{
    FRAME_RECORD_TYPE, RETENTION_RECORD_TYPE, STAGE1_COMPLETE_RECORD_TYPE,
};
pub use crate::stage1::error::IngestError;
use crate::stage1::error::{full_or, io_err};
pub use crate::stage1::options::{ImportMode, IngestOptions};

/// A problem that did not stop the ingest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IngestWarning {
    pub code: &'static str,
    pub detail: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestTimings {
    pub scan_ms: u64,
    pub media_check_ms: u64,
    pub write_ms: u64,
    pub total_ms: u64,
    pub rows_per_s: f64,
    pub media_files_per_s: f64,
    pub bytes_per_s: f64,
}

/// Everything an ingest did.
#[derive(Debug, Clone, Serialize)]
pub struct IngestReport {
    pub handoff_root: PathBuf,
    pub data_root: PathBuf,
    pub layout: &'static str,
    pub ingest_run_id: String,
    pub ingested_at_utc: String,
    pub rows_seen: u64,
    pub payloads_not_json: u64,
    pub frames: u64,
    pub media_files_seen: u64,
    pub media_files_present: u64,
    pub media_refs: u64,
    pub media_refs_missing: u64,
    /// Frames that got no UIA docs, by reason code (fail-open: the ingest went on).
    pub uia_problems: std::collections::BTreeMap<&'static str, u64>,
    pub counts: MarkerCounts,
    pub integrity: MarkerIntegrity,
    pub marker_path: PathBuf,
    /// The handoff matched its ledger entry (see [`crate::stage1::ledger`]): nothing was read again.
    pub unchanged: bool,
    pub warnings: Vec<IngestWarning>,
    pub timings: IngestTimings,
}

/// Creates the DataRoot's folders, or says why it cannot (`data_dir_unwritable`).
pub fn prepare_data_root(data_root: &DataRoot) -> Result<(), IngestError> {
    data_root
        .create_dirs()
        .map_err(|source| IngestError::DataDir {
            path: data_root.root.clone(),
            source,
        })
}

/// Ingests `handoff_root` into `data_root`; see the module docs for the steps.
pub fn ingest_handoff(
    handoff_root: &Path,
    data_root: &DataRoot,
    options: &IngestOptions,
    clock: &dyn Clock,
) -> Result<IngestReport, IngestError> {
    ingest_handoff_on(&RealFs, handoff_root, data_root, options, clock)
}

/// [`ingest_handoff`] with the media import and the marker going through `fs`.
pub fn ingest_handoff_on(
    fs: &dyn FileOps,
    handoff_root: &Path,
    data_root: &DataRoot,
    options: &IngestOptions,
    clock: &dyn Clock,
) -> Result<IngestReport, IngestError> {
    let _stage1 = crate::base::stage1_context::enter();
    let started = Instant::now();
    let started_at = clock.now();
    let run_id = ingest_run_id(started_at);
    if !fs::metadata(handoff_root).is_ok_and(|m| m.is_dir()) {
        return Err(IngestError::HandoffRootMissing {
            path: handoff_root.to_path_buf(),
        });
    }
    let handoff_root = handoff_root.canonicalize().map_err(io_err(handoff_root))?;
    // Held to the end: the last check and the marker go to the folder that was ingested, even if
    // its name now names another.
    let held = crate::base::fsops::DirHandle::open(&handoff_root).map_err(io_err(&handoff_root))?;
    crate::stage1::placement::check_apart(Source::Handoff, &handoff_root, &data_root.root)?;
    prepare_data_root(data_root)?;
    let data_root = DataRoot::new(
        data_root
            .root
            .canonicalize()
            .map_err(io_err(&data_root.root))?,
    );
    let lock = lock_data_root(&data_root)?;
    crash::point("ingest.after_lock");
    remove_stale_work(&data_root)?;
    let audit = AuditLog::in_data_root(&data_root.root);
    // An unchanged handoff already in the ledger answers from it; anything else takes the full path.
    let known = if options.ledger_fast_path {
        unchanged(&handoff_root, &data_root, options, &run_id, clock)
    } else {
        Ok(None)
    };
    // A run that may change the DataRoot records that it begins before it changes anything, so
    // no change lands without a line; the outcome line follows (an interrupted run leaves its
    // begin line alone, and no marker).
    let result = known.and_then(|known| match known {
        Some(found) => Ok(found),
        None => {
            audit.append(
                &AuditEvent {
                    action: "handoff.ingest.begin".into(),
                    actor: "autocapture".into(),
                    outcome: "started".into(),
                    details: json!({"handoff_root": handoff_root.to_string_lossy(), "ingest_run_id": run_id}),
                },
                clock.now(),
            )?;
            Ingest::new(&handoff_root, &data_root, options, &run_id, clock, fs)
                .and_then(|mut ingest| ingest.run(started))
        }
    });
    let result = result.map_err(|e| full_or(e, &data_root.root));
    let outcome = match &result {
        Ok(_) => "ok".to_owned(),
        Err(e) => format!("failed:{}", e.code()),
    };
    let details = match &result {
        Ok((report, _)) => json!({
            "handoff_root": report.handoff_root.to_string_lossy(), "ingest_run_id": run_id,
            "rows_copied": report.counts.metadata_rows_copied,
            "media_linked": report.counts.media_files_linked, "media_copied": report.counts.media_files_copied,
            "rows_sha256": report.integrity.rows_sha256, "media_sha256": report.integrity.media_sha256,
        }),
        Err(e) => {
            json!({"handoff_root": handoff_root.to_string_lossy(), "ingest_run_id": run_id, "error": e.to_string()})
        }
    };
    let event = AuditEvent {
        action: "handoff.ingest".into(),
        actor: "autocapture".into(),
        outcome,
        details,
    };
    let audit_result = audit.append(&event, clock.now());
    drop(lock);
    let (mut report, verified) = result?;
    let audited = audit_result?;
    crash::point("ingest.after_unlock");
    // The handoff must still be what was ingested: the marker would promise it all. Checked
    // just before the marker's rename and once it is durable (a failure then takes it back).
    // The marker comes last: everything it promises is committed and synced by now.
    let marker = ReapMarker {
        schema: MARKER_SCHEMA.to_owned(),
        handoff_root: handoff_root.display().to_string(),
        dest_data_root: data_root.root.display().to_string(),
        ingested_at_utc: report.ingested_at_utc.clone(),
        ingest_run_id: report.ingest_run_id.clone(),
        counts: report.counts.clone(),
        integrity: report.integrity.clone(),
        audit_head: marker::MarkerAuditHead {
            seq: audited.seq,
            hash: audited.hash,
        },
        contract_version: marker::identity_pair().0,
        schema_hash: marker::identity_pair().1,
    };
    let check = || stamp::check(held.path(), &verified);
    let check: Option<crate::base::durable::WriteCheck<'_>> =
        if crash::planted("skip_handoff_check") {
            None
        } else {
            Some(&check)
        };
    let marker_dir = if crash::planted("marker_by_path") {
        handoff_root.as_path()
    } else {
        held.path()
    };
    marker::write_on(fs, marker_dir, &marker, check).map_err(|source| {
        changed_or(source, &handoff_root, |source| IngestError::Marker {
            path: handoff_root.clone(),
            source,
        })
    })?;
    report.marker_path = handoff_root.join(marker::MARKER_FILE);
    report.timings.total_ms = started.elapsed().as_millis() as u64;
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    report.timings.rows_per_s = report.rows_seen as f64 / seconds;
    report.timings.media_files_per_s = report.media_files_seen as f64 / seconds;
    report.timings.bytes_per_s = report.counts.bytes_ingested as f64 / seconds;
    Ok(report)
}

/// [`IngestError::HandoffChanged`] when `error` carries a [`stamp::Changed`], else `other(error)`.
fn changed_or(
    error: io::Error,
    handoff_root: &Path,
    other: impl FnOnce(io::Error) -> IngestError,
) -> IngestError {
    match error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<stamp::Changed>())
    {
        Some(changed) => IngestError::HandoffChanged {
            path: handoff_root.to_path_buf(),
            detail: changed.0.clone(),
        },
        None => other(error),
    }
}

/// Removes what a killed run left: its scratch database and the temps of copies it had not
/// linked. Only the lock holder may call this, on either path (full or unchanged).
fn remove_stale_work(data_root: &DataRoot) -> Result<(), IngestError> {
    let scratch = data_root.root.join(MEDIA_SCRATCH);
    match fs::remove_file(&scratch) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(&scratch)(e)),
    }
    let temp_dir = data_root.root.join(media::TEMP_DIR);
    match fs::remove_dir_all(&temp_dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(&temp_dir)(e)),
    }
}

/// The report of a re-ingest of a handoff whose ledger signature is unchanged and whose media the
/// DataRoot still holds; `None` when the full path must run.
fn unchanged(
    handoff_root: &Path,
    data_root: &DataRoot,
    options: &IngestOptions,
    run_id: &str,
    clock: &dyn Clock,
) -> Result<Option<(IngestReport, HandoffStamp)>, IngestError> {
    // A handoff the ledger never recorded takes the full path: nothing to stamp here. (A
    // failed look-up is reported where it was before: after the stamp, when it could matter.)
    let recorded = ledger::recorded(data_root, handoff_root);
    if let Ok(None) = recorded {
        return Ok(None);
    }
    // The signature's own stamp is what the marker's checks compare with.
    let verified = stamp::take(handoff_root).map_err(io_err(handoff_root))?;
    let Some(signature) = ledger::signature(&verified, options, &marker::identity_pair().1) else {
        return Ok(None);
    };
    if !ledger::holds_media(&verified, data_root, options) {
        return Ok(None);
    }
    let Some((recorded_signature, entry)) = recorded? else {
        return Ok(None);
    };
    // An entry that does not parse (written by another build) is no entry.
    let Some(entry) = (recorded_signature == signature)
        .then(|| serde_json::from_str::<LedgerEntry>(&entry).ok())
        .flatten()
    else {
        return Ok(None);
    };
    let layout = ["canonical", "canonical_alt_columns", "legacy"]
        .into_iter()
        .find(|name| *name == entry.layout)
        .unwrap_or("canonical");
    let report = IngestReport {
        handoff_root: handoff_root.to_path_buf(),
        data_root: data_root.root.clone(),
        layout,
        ingest_run_id: run_id.to_owned(),
        ingested_at_utc: format_ts_utc(clock.now()),
        rows_seen: entry.rows_seen,
        payloads_not_json: entry.payloads_not_json,
        frames: entry.frames,
        media_files_seen: entry.media_files_seen,
        media_files_present: entry.media_files_seen,
        media_refs: entry.media_refs,
        media_refs_missing: entry.media_refs_missing,
        uia_problems: Default::default(),
        counts: entry.counts,
        integrity: entry.integrity,
        marker_path: PathBuf::new(),
        unchanged: true,
        warnings: Vec::new(),
        timings: IngestTimings::default(),
    };
    Ok(Some((report, verified)))
}

/// Scratch database of the media threads, inside the DataRoot (removed after every run).
const MEDIA_SCRATCH: &str = ".ingest-media.scratch.db";

struct Ingest<'a> {
    handoff_root: &'a Path,
    data_root: &'a DataRoot,
    options: &'a IngestOptions,
    run_id: &'a str,
    clock: &'a dyn Clock,
    handoff: HandoffDb,
    /// The handoff's database as it stood before it was opened.
    start_db: DbStamp,
    conn: Connection,
    scratch: PathBuf,
    warnings: Vec<IngestWarning>,
    pacer: Option<Arc<Pacer>>,
    fs: &'a dyn FileOps,
    /// The DataRoot transaction has committed: a later failure leaves what it wrote.
    committed: bool,
    /// The checkpoints of the databases the commit wrote, running beside the last checks.
    checkpoints: Vec<std::thread::JoinHandle<()>>,
}
