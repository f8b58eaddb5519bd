//! The write phase of an ingest: the media import, the media index, one `syncfs`, and the
//! full-sync commit; then the checkpoints of the write-ahead logs, beside the last checks.

use std::path::PathBuf;

use rusqlite::Connection;

use super::{Ingest, IngestError, scan};
use crate::base::crash;
use crate::handoff::MEDIA_DIR;
use crate::stage1::error::{io_err, store_err};
use crate::stage1::media;

impl Ingest<'_> {
    /// The write phase: rows here while another thread imports the media; then the media
    /// index, one `syncfs`, the Stage-1 markers, and a full-sync commit.
    pub(super) fn write(&mut self, scan: &scan::ScanSummary) -> Result<Written, IngestError> {
        let db_path = self.data_root.metadata_db();
        let mut written = Written {
            rows_copied: scan.rows_copied,
            stage1_complete: scan.stage1_complete,
            retention_marked: scan.retention_marked,
            uia_docs_inserted: scan.uia_docs_inserted,
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
            // The Stage-1 markers and UIA docs went into the derived store with the rows.
            crash::point("ingest.before_commit");
            tx.execute_batch("COMMIT").map_err(store_err(&db_path))?;
            self.committed = true;
            self.fs.committed("data_root");
            // The page caches are not needed any more: their memory goes back before the
            // handoff is stamped again.
            let _ = tx.execute_batch("PRAGMA shrink_memory");
            if self.pacer.is_none() {
                self.checkpoints = vec![
                    checkpoint(self.data_root.metadata_db()),
                    checkpoint(self.data_root.derived_db()),
                ];
            }
        }
        Ok(written)
    }
}

/// Copies the committed write-ahead log of the database at `path` into the database, on a
/// thread of its own with a connection of its own. The commit is durable without it (the log
/// was synced); it is what SQLite's automatic checkpoint would do at the commit, done beside
/// the checks that follow. A failure leaves the pages in the log, where the next writer's
/// checkpoint finds them.
pub(super) fn checkpoint(path: PathBuf) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let flags =
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if let Ok(conn) = Connection::open_with_flags(&path, flags) {
            let _ = conn.execute_batch("PRAGMA synchronous = FULL;");
            let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        }
    })
}

#[derive(Debug, Default)]
pub(super) struct Written {
    pub(super) rows_copied: u64,
    pub(super) linked: u64,
    pub(super) copied: u64,
    pub(super) bytes: u64,
    pub(super) stage1_complete: u64,
    pub(super) retention_marked: u64,
    pub(super) uia_docs_inserted: u64,
}
