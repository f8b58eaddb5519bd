//! The checks between the scan and the write: every media ref resolves (or is counted), every
//! declared hash matches its blob, and the digest of the media this handoff contributed.

use std::fs;

use rusqlite::OptionalExtension;
use sha2::{Digest, Sha256};

use super::{Ingest, IngestError, IngestWarning};
use crate::stage1::error::store_err;

impl Ingest<'_> {
    /// Refs that name no file of the handoff must already be in the DataRoot (strict), or are
    /// counted as warnings. Returns how many are missing.
    pub(super) fn resolve_refs(&mut self) -> Result<u64, IngestError> {
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
    pub(super) fn verify_declared_hashes(&self) -> Result<(), IngestError> {
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
    pub(super) fn media_digest(&self) -> Result<String, IngestError> {
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
}
