//! Stage 1: ingest one handoff into the DataRoot (contract §1–§4), quickly and safely.
//!
//! 1. Take the DataRoot's single-writer lock (non-blocking; held → `instance_lock_held`).
//! 2. Stamp the handoff's database (`stamp`), open it read-only and begin one read transaction.
//! 3. In one DataRoot transaction: stream the handoff's rows in id (byte) order and copy each as
//!    it is read with `INSERT OR IGNORE`; an id already present must hold exactly the same values
//!    in every carried column (`metadata_id_conflict`). Collect media references and Stage-1
//!    markers into temp tables. Meanwhile walk `media/`, refusing anything that is not a regular
//!    file, and hash every media file (in parallel): in hardlink mode a file the DataRoot lacks
//!    is linked first and hashed through the link. Check refs and declared hashes, copy what was
//!    not linked (verified, fsynced), make the media durable (`syncfs`), write the Stage-1
//!    markers, commit with `synchronous=FULL`. Any failure before the commit rolls back and takes
//!    the links out again.
//! 4. Stamp the handoff again: anything other than what was verified is
//!    `handoff_changed_during_ingest` and no marker. Record the ledger entry.
//! 5. Append an audit line, release the lock, then write `reap_eligible.json` atomically through
//!    a handle on the handoff folder, checking the stamps just before its rename and once it is
//!    durable (a difference then removes it again).
//!
//! Stage 1 never decodes media and never runs Stage-2 work. The row scan of step 3 is in
//! [`scan`].

mod scan;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::audit::{AuditEvent, AuditLog};
use crate::base::clock::Clock;
use crate::base::crash;
use crate::base::fsops::{FileOps, RealFs};
use crate::base::pace::Pacer;
use crate::contract::{format_ts_utc, ingest_run_id};
use crate::handoff::{HandoffDb, MEDIA_DIR};
use crate::stage1::ledger::{self, LedgerEntry};
use crate::stage1::marker::{self, MARKER_SCHEMA, MarkerCounts, MarkerIntegrity, ReapMarker};
use crate::stage1::placement::Source;
use crate::stage1::stamp::{self, DbStamp, HandoffStamp};
use crate::stage1::{media, progress};
use crate::store::{DataRoot, lock_data_root, open_metadata_writer};

pub use crate::stage1::derive::{
    FRAME_RECORD_TYPE, RETENTION_RECORD_TYPE, STAGE1_COMPLETE_RECORD_TYPE,
};
pub use crate::stage1::error::IngestError;
use crate::stage1::error::{full_or, io_err, store_err};
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
    // The signature's own stamp is what the marker's checks compare with.
    let verified = stamp::take(handoff_root).map_err(io_err(handoff_root))?;
    let Some(signature) = ledger::signature(&verified, options, &marker::identity_pair().1) else {
        return Ok(None);
    };
    if !ledger::holds_media(&verified, data_root, options) {
        return Ok(None);
    }
    let Some(entry) = ledger::lookup(data_root, handoff_root, &signature)? else {
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
}

impl<'a> Ingest<'a> {
    fn new(
        handoff_root: &'a Path,
        data_root: &'a DataRoot,
        options: &'a IngestOptions,
        run_id: &'a str,
        clock: &'a dyn Clock,
        fs: &'a dyn FileOps,
    ) -> Result<Ingest<'a>, IngestError> {
        // Stamped first: whatever changes from here on shows up at the end.
        let start_db = stamp::db_stamp(handoff_root).map_err(io_err(handoff_root))?;
        let handoff = HandoffDb::open(handoff_root)?;
        handoff.begin_snapshot()?;
        let db_path = data_root.metadata_db();
        let conn = open_metadata_writer(data_root).map_err(store_err(&db_path))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS media_files (
                 relpath TEXT PRIMARY KEY, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
                 dev INTEGER, ino INTEGER, ingest_run_id TEXT);
             CREATE TEMP TABLE refs (relpath TEXT NOT NULL, expected_sha256 TEXT, record_id TEXT NOT NULL);
             CREATE TEMP TABLE markers (id TEXT PRIMARY KEY, record_type TEXT, ts_utc TEXT, payload TEXT, run_id TEXT, source_record_id TEXT);",
        )
        .map_err(store_err(&db_path))?;
        let scratch = data_root.root.join(MEDIA_SCRATCH);
        Connection::open(&scratch)
            .and_then(|c| c.execute_batch(media::SCRATCH_SCHEMA))
            .map_err(store_err(&scratch))?;
        conn.execute("ATTACH DATABASE ?1 AS m", [scratch.to_string_lossy()])
            .and_then(|_| {
                conn.execute_batch("PRAGMA m.journal_mode = OFF; PRAGMA m.synchronous = OFF;")
            })
            .map_err(store_err(&scratch))?;
        // The derived database is created by its own writer so its schema exists before ATTACH.
        let derived_path = data_root.derived_db();
        drop(crate::store::open_derived_writer(data_root).map_err(store_err(&derived_path))?);
        crate::store::attach_writable(&conn, "d", &derived_path)
            .map_err(store_err(&derived_path))?;
        let pacer = Pacer::new(options.cpu_cap);
        if let Some(pacer) = &pacer {
            pacer.attach(&conn);
        }
        Ok(Ingest {
            handoff_root,
            data_root,
            options,
            run_id,
            clock,
            handoff,
            start_db,
            conn,
            scratch,
            warnings: Vec::new(),
            pacer,
            fs,
            committed: false,
        })
    }

    fn run(&mut self, started: Instant) -> Result<(IngestReport, HandoffStamp), IngestError> {
        let result = self.run_phases(started);
        if result.is_err() && !self.committed {
            // Failed before the commit: nothing of this run stays in the DataRoot.
            if !self.conn.is_autocommit() {
                let _ = self.conn.execute_batch("ROLLBACK");
            }
            self.remove_imported_media();
        }
        let _ = self
            .conn
            .execute_batch("DETACH DATABASE m; DETACH DATABASE d;");
        let _ = fs::remove_file(&self.scratch);
        let _ = fs::remove_dir_all(self.data_root.root.join(media::TEMP_DIR));
        result
    }

    fn run_phases(
        &mut self,
        started: Instant,
    ) -> Result<(IngestReport, HandoffStamp), IngestError> {
        let ingested_at = format_ts_utc(self.clock.now());
        let db_path = self.data_root.metadata_db();
        // One transaction from the first row to the commit: on any failure it rolls back and the
        // media this run linked are taken out again (`run`). Deferred, so that it locks only the
        // databases it writes (never the scratch database the media thread fills).
        self.conn
            .execute_batch("BEGIN DEFERRED")
            .map_err(store_err(&db_path))?;
        // Phase 1: rows on this thread (checked and copied as they are read, from one snapshot
        // of the handoff), media on another (checked, and linked in hardlink mode).
        let media_root = self.handoff_root.join(MEDIA_DIR);
        let dest_root = self.data_root.media_dir();
        let known_db = self.data_root.metadata_db();
        let (pacer, scratch) = (self.pacer.clone(), self.scratch.clone());
        let plan = media::CheckPlan {
            media_root: &media_root,
            dest_root: &dest_root,
            known_db: &known_db,
            scratch: &scratch,
            workers: self.options.workers.max(1),
            mode: self.options.mode,
            fs: self.fs,
            progress: self.options.progress.as_deref(),
        };
        let (scan, tree) = std::thread::scope(|scope| {
            let media = scope.spawn(|| media::check_tree(&plan, pacer.as_ref()));
            let scan = self.scan_rows(&ingested_at);
            let tree = media.join().unwrap_or_else(|_| {
                Err(IngestError::Io {
                    path: media_root.clone(),
                    source: io::Error::other("the media thread panicked"),
                })
            });
            (scan, tree)
        });
        // A ref-level problem (unsafe ref) is reported before a file-level one.
        let scan = scan?;
        let tree = tree?;
        progress::enter(self.options.progress.as_deref(), 1);
        let scan_ms = started.elapsed().as_millis() as u64;
        let refs_missing = self.resolve_refs()?;
        self.verify_declared_hashes()?;
        let media_sha256 = self.media_digest()?;
        let media_check_ms = started.elapsed().as_millis() as u64 - scan_ms;
        crash::point("ingest.after_scan");
        progress::enter(self.options.progress.as_deref(), 2);
        let written = self.write(scan.rows_copied)?;
        crash::point("ingest.after_commit");
        progress::enter(self.options.progress.as_deref(), 3);
        let write_ms = started.elapsed().as_millis() as u64 - scan_ms - media_check_ms;
        let counts = MarkerCounts {
            metadata_rows_copied: written.rows_copied,
            media_files_linked: written.linked,
            media_files_copied: written.copied,
            bytes_ingested: written.bytes,
            stage1_complete_records: written.stage1_complete,
            stage1_retention_marked_records: written.retention_marked,
            stage1_missing_retention_marker_count: written
                .stage1_complete
                .saturating_sub(written.retention_marked),
            stage1_uia_docs_inserted: written.uia_docs_inserted,
            stage1_uia_frames_missing_count: scan.frames_without_uia_docs,
        };
        let report = IngestReport {
            handoff_root: self.handoff_root.to_path_buf(),
            data_root: self.data_root.root.clone(),
            layout: self.handoff.layout.name(),
            ingest_run_id: self.run_id.to_owned(),
            ingested_at_utc: ingested_at,
            rows_seen: scan.rows,
            payloads_not_json: scan.payloads_not_json,
            frames: scan.frames,
            media_files_seen: tree.files,
            media_files_present: tree.present,
            media_refs: scan.refs,
            media_refs_missing: refs_missing,
            counts,
            integrity: MarkerIntegrity {
                rows_sha256: scan.rows_sha256,
                media_sha256,
                rows_count: scan.rows,
                media_count: tree.files,
            },
            marker_path: PathBuf::new(),
            unchanged: false,
            uia_problems: scan.uia_problems,
            warnings: {
                let mut warnings = std::mem::take(&mut self.warnings);
                warnings.extend(scan.uia_examples);
                warnings
            },
            timings: IngestTimings {
                scan_ms,
                media_check_ms,
                write_ms,
                ..IngestTimings::default()
            },
        };
        // The handoff as this run verified it: the database as it stood before it was opened,
        // each media file as it stood once its bytes were checked (and linked).
        let verified = HandoffStamp {
            db: self.start_db.clone(),
            media: self.verified_media()?,
        };
        // One stamp of the handoff as it stands now: compared with what was verified, and the
        // ledger's signature, so the ledger never records a handoff this run did not ingest.
        let now = stamp::take(self.handoff_root).map_err(io_err(self.handoff_root))?;
        if !crash::planted("skip_handoff_check")
            && let Some(detail) = stamp::difference(&verified, &now)
        {
            return Err(IngestError::HandoffChanged {
                path: self.handoff_root.to_path_buf(),
                detail,
            });
        }
        if let Some(signature) = ledger::signature(&now, self.options, &marker::identity_pair().1) {
            self.record_in_ledger(&report, &signature)?;
        }
        crash::point("ingest.after_ledger");
        Ok((report, verified))
    }

    /// Each media file's stamp once its bytes were verified, from the scratch database.
    fn verified_media(
        &self,
    ) -> Result<std::collections::BTreeMap<String, stamp::FileStamp>, IngestError> {
        let mut stmt = self
            .conn
            .prepare("SELECT relpath, dev, ino, size, mtime_ns, ctime_ns FROM m.checked")
            .map_err(store_err(&self.scratch))?;
        let rows = stmt
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    stamp::FileStamp {
                        regular: true,
                        dev: row.get::<_, i64>(1)? as u64,
                        ino: row.get::<_, i64>(2)? as u64,
                        size: row.get::<_, i64>(3)? as u64,
                        mtime_ns: row.get(4)?,
                        ctime_ns: row.get(5)?,
                    },
                ))
            })
            .map_err(store_err(&self.scratch))?;
        rows.collect::<Result<_, _>>()
            .map_err(store_err(&self.scratch))
    }

    /// After a failed write: removes the media files this run put into the DataRoot, so that
    /// the DataRoot is left as it was. Every file marked for import had no destination when it
    /// was checked, and the instance lock has been held since, so what is there now is ours.
    fn remove_imported_media(&self) {
        let dest_root = self.data_root.media_dir();
        let relpaths: Vec<String> = match self
            .conn
            .prepare("SELECT relpath FROM m.checked WHERE import ORDER BY relpath")
            .and_then(|mut stmt| {
                stmt.query_map([], |row| row.get::<_, String>(0))?
                    .collect::<Result<_, _>>()
            }) {
            Ok(relpaths) => relpaths,
            Err(_) => return,
        };
        for relpath in relpaths {
            // Best effort: a file left behind is an orphan a rerun re-verifies, never a loss.
            let _ = self.fs.remove_file(&dest_root.join(relpath));
        }
    }

    /// After the commit: the handoff's signature (its files as they stand now, links made) and
    /// what this ingest found, for a later re-ingest of the same files.
    fn record_in_ledger(&self, report: &IngestReport, signature: &str) -> Result<(), IngestError> {
        // Whether the DataRoot holds the files is checked when the entry is used, not here.
        let entry = LedgerEntry {
            layout: report.layout.to_owned(),
            rows_seen: report.rows_seen,
            payloads_not_json: report.payloads_not_json,
            frames: report.frames,
            media_files_seen: report.media_files_seen,
            media_refs: report.media_refs,
            media_refs_missing: report.media_refs_missing,
            counts: MarkerCounts {
                metadata_rows_copied: 0,
                media_files_linked: 0,
                media_files_copied: 0,
                bytes_ingested: 0,
                stage1_uia_docs_inserted: 0,
                ..report.counts.clone()
            },
            integrity: report.integrity.clone(),
        };
        ledger::record(
            &self.conn,
            &self.data_root.metadata_db(),
            self.handoff_root,
            signature,
            &entry,
        )
    }

    /// Refs that name no file of the handoff must already be in the DataRoot (strict), or are
    /// counted as warnings. Returns how many are missing.
    fn resolve_refs(&mut self) -> Result<u64, IngestError> {
        let db_path = self.data_root.metadata_db();
        let missing: Vec<(String, String)> = {
            let mut stmt = self
                .conn
                .prepare(
                    "SELECT r.relpath, min(r.record_id) FROM temp.refs r LEFT JOIN m.checked c ON c.relpath = r.relpath
                     WHERE c.relpath IS NULL GROUP BY r.relpath ORDER BY r.relpath",
                )
                .map_err(store_err(&db_path))?;
            let rows = stmt
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                .map_err(store_err(&db_path))?;
            rows.collect::<Result<_, _>>()
                .map_err(store_err(&db_path))?
        };
        let mut count = 0;
        for (relpath, record_id) in missing {
            let in_data_root = fs::symlink_metadata(self.data_root.media_dir().join(&relpath))
                .is_ok_and(|m| m.is_file());
            if in_data_root {
                continue;
            }
            if self.options.strict {
                return Err(IngestError::MediaRefMissing { record_id, relpath });
            }
            count += 1;
            self.warnings.push(IngestWarning {
                code: "media_ref_missing",
                detail: format!("record {record_id} names {relpath}, which is in neither the handoff nor the data dir"),
            });
        }
        Ok(count)
    }

    /// Every frame's declared `content_hash` must equal its blob's sha256.
    fn verify_declared_hashes(&self) -> Result<(), IngestError> {
        let db_path = self.data_root.metadata_db();
        let mismatch: Option<(String, String, String, String)> = self
            .conn
            .query_row(
                "SELECT r.relpath, r.record_id, r.expected_sha256, c.sha256 FROM temp.refs r JOIN m.checked c ON c.relpath = r.relpath
                 WHERE r.expected_sha256 IS NOT NULL AND r.expected_sha256 != c.sha256 ORDER BY r.relpath, r.record_id LIMIT 1",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .optional()
            .map_err(store_err(&db_path))?;
        match mismatch {
            Some((relpath, record_id, expected, actual)) => Err(IngestError::MediaHashMismatch {
                relpath,
                record_id,
                expected,
                actual,
            }),
            None => Ok(()),
        }
    }

    /// sha256 over `relpath \t sha256 \n` of every media file, in path order.
    fn media_digest(&self) -> Result<String, IngestError> {
        let mut hasher = Sha256::new();
        let mut stmt = self
            .conn
            .prepare("SELECT relpath, sha256 FROM m.checked ORDER BY relpath")
            .map_err(store_err(&self.scratch))?;
        let mut rows = stmt.query([]).map_err(store_err(&self.scratch))?;
        while let Some(row) = rows.next().map_err(store_err(&self.scratch))? {
            let relpath: String = row.get(0).map_err(store_err(&self.scratch))?;
            let sha256: String = row.get(1).map_err(store_err(&self.scratch))?;
            hasher.update(relpath.as_bytes());
            hasher.update(b"\t");
            hasher.update(sha256.as_bytes());
            hasher.update(b"\n");
        }
        Ok(hex::encode(hasher.finalize()))
    }

    /// The write phase: rows here while another thread imports the media; then the media
    /// index, one `syncfs`, the Stage-1 markers, and a full-sync commit.
    fn write(&mut self, rows_copied: u64) -> Result<Written, IngestError> {
        let db_path = self.data_root.metadata_db();
        let derived_path = self.data_root.derived_db();
        let mut written = Written {
            rows_copied,
            ..Written::default()
        };
        {
            let tx = &self.conn;
            let media_root = self.handoff_root.join(MEDIA_DIR);
            let dest_root = self.data_root.media_dir();
            let temp_dir = self.data_root.root.join(media::TEMP_DIR);
            let imported = media::import_checked(
                tx,
                &self.scratch,
                &media_root,
                &dest_root,
                &temp_dir,
                self.pacer.as_ref(),
                self.fs,
            )?;
            (written.linked, written.copied, written.bytes) =
                (imported.linked, imported.copied, imported.bytes);
            tx.execute(
                "INSERT INTO media_files (relpath, sha256, size, dev, ino, ingest_run_id)
                 SELECT c.relpath, c.sha256, c.size, i.dev, i.ino, ?1 FROM m.checked c JOIN m.imported i ON i.relpath = c.relpath WHERE true
                 ON CONFLICT(relpath) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size, dev = excluded.dev,
                 ino = excluded.ino, ingest_run_id = excluded.ingest_run_id",
                [self.run_id],
            )
            .map_err(store_err(&db_path))?;
            crash::point("ingest.before_media_sync");
            if imported.linked + imported.copied > 0 {
                // One syncfs makes every linked file's data and every new directory entry durable.
                self.fs.sync_fs(&dest_root).map_err(io_err(&dest_root))?;
            }
            // First writer wins: docs and markers already in the DataRoot are kept as they are.
            written.uia_docs_inserted = tx
                .execute(
                    "INSERT OR IGNORE INTO d.derived (id, record_type, ts_utc, payload, run_id, source_record_id)
                     SELECT id, record_type, ts_utc, payload, run_id, source_record_id FROM temp.markers
                     WHERE record_type LIKE 'obs.uia.%'",
                    [],
                )
                .map_err(store_err(&derived_path))? as u64;
            tx.execute(
                "INSERT OR IGNORE INTO d.derived (id, record_type, ts_utc, payload, run_id, source_record_id)
                 SELECT id, record_type, ts_utc, payload, run_id, source_record_id FROM temp.markers
                 WHERE record_type NOT LIKE 'obs.uia.%'",
                [],
            )
            .map_err(store_err(&derived_path))?;
            let present = |record_type: &str| -> Result<u64, IngestError> {
                tx.query_row(
                    "SELECT count(*) FROM temp.markers m JOIN d.derived x ON x.id = m.id WHERE m.record_type = ?1",
                    [record_type],
                    |row| row.get::<_, i64>(0),
                )
                .map(|n| n as u64)
                .map_err(store_err(&derived_path))
            };
            written.stage1_complete = present(STAGE1_COMPLETE_RECORD_TYPE)?;
            written.retention_marked = present(RETENTION_RECORD_TYPE)?;
            crash::point("ingest.before_commit");
            tx.execute_batch("COMMIT").map_err(store_err(&db_path))?;
            self.committed = true;
            self.fs.committed("data_root");
        }
        Ok(written)
    }
}

#[derive(Debug, Default)]
struct Written {
    rows_copied: u64,
    linked: u64,
    copied: u64,
    bytes: u64,
    stage1_complete: u64,
    retention_marked: u64,
    uia_docs_inserted: u64,
}
