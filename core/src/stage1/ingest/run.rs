//! The full path of an ingest, step by step: open both sides, scan the rows while the media
//! are checked, check refs and declared hashes, write and commit, stamp the handoff again and
//! record the ledger entry (see the steps in [`super`]).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rusqlite::Connection;

use super::{
    Ingest, IngestError, IngestOptions, IngestReport, IngestTimings, MEDIA_SCRATCH, changed_or,
};
use crate::base::clock::Clock;
use crate::base::crash;
use crate::base::fsops::FileOps;
use crate::base::pace::Pacer;
use crate::contract::format_ts_utc;
use crate::handoff::{HandoffDb, MEDIA_DIR};
use crate::stage1::error::{io_err, store_err};
use crate::stage1::ledger::{self, LedgerEntry};
use crate::stage1::marker::{self, MarkerCounts, MarkerIntegrity};
use crate::stage1::stamp::{self, HandoffStamp};
use crate::stage1::{media, progress};
use crate::store::{DataRoot, open_metadata_writer};

impl<'a> Ingest<'a> {
    pub(super) fn new(
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
             CREATE TEMP TABLE refs (relpath TEXT NOT NULL, expected_sha256 TEXT, record_id TEXT NOT NULL);",
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
        // The derived store takes as many pages per ingest as the evidence table: the same
        // page cache, so its indexes do not spill and get read back within the transaction.
        conn.execute_batch("PRAGMA d.cache_size = -16384;")
            .map_err(store_err(&derived_path))?;
        let pacer = Pacer::new(options.cpu_cap);
        match &pacer {
            Some(pacer) => pacer.attach(&conn),
            // The commit leaves its pages in the write-ahead logs; each is copied into its
            // database by a checkpoint of its own, on another thread, while the handoff is
            // checked again (see `checkpoint`). A paced ingest checkpoints at its commit.
            None => conn
                .execute_batch("PRAGMA wal_autocheckpoint = 0;")
                .map_err(store_err(&db_path))?,
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
            checkpoints: Vec::new(),
        })
    }

    pub(super) fn run(
        &mut self,
        started: Instant,
    ) -> Result<(IngestReport, HandoffStamp), IngestError> {
        let result = self.run_phases(started);
        for checkpoint in self.checkpoints.drain(..) {
            let _ = checkpoint.join();
        }
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
        let written = self.write(&scan)?;
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
        // The handoff as it stands now must be what was verified, so the ledger never records a
        // handoff this run did not ingest: the signature is then the verified stamp's.
        let now = if crash::planted("skip_handoff_check") {
            Some(stamp::take(self.handoff_root).map_err(io_err(self.handoff_root))?)
        } else {
            stamp::check(self.handoff_root, &verified).map_err(|source| {
                changed_or(source, self.handoff_root, |source| IngestError::Io {
                    path: self.handoff_root.to_path_buf(),
                    source,
                })
            })?;
            None
        };
        let signed = now.as_ref().unwrap_or(&verified);
        if let Some(signature) = ledger::signature(signed, self.options, &marker::identity_pair().1)
        {
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
}
