//! `reap_eligible.json` (contract §4): the ack marker that lets the Hypervisor delete a handoff.
//! Written atomically and durably, and only after the DataRoot holds every row and media file
//! of the handoff; read back strictly, so only a complete v1 marker counts.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::base::durable::{AtomicWritePoints, WriteCheck, remove_stale_temps, write_atomic_with};
use crate::base::fsops::{FileOps, RealFs};

pub const MARKER_FILE: &str = "reap_eligible.json";
pub const MARKER_SCHEMA: &str = "autocapture.handoff.reap_eligible.v1";

/// What the ingest did, as the marker reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkerCounts {
    pub metadata_rows_copied: u64,
    pub media_files_linked: u64,
    pub media_files_copied: u64,
    pub bytes_ingested: u64,
    pub stage1_complete_records: u64,
    pub stage1_retention_marked_records: u64,
    pub stage1_missing_retention_marker_count: u64,
    pub stage1_uia_docs_inserted: u64,
    pub stage1_uia_frames_missing_count: u64,
}

/// Digests of what this handoff contributed: sorted ids with payload hashes, sorted media paths
/// with file hashes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkerIntegrity {
    pub rows_sha256: String,
    pub media_sha256: String,
    pub rows_count: u64,
    pub media_count: u64,
}

/// The DataRoot's audit head once the ingest's line was written: a witness the Hypervisor side
/// keeps, against which `audit verify --witness` detects a cut tail or a rewritten history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkerAuditHead {
    pub seq: u64,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReapMarker {
    pub schema: String,
    pub handoff_root: String,
    pub dest_data_root: String,
    pub ingested_at_utc: String,
    pub ingest_run_id: String,
    pub counts: MarkerCounts,
    pub integrity: MarkerIntegrity,
    pub audit_head: MarkerAuditHead,
    pub contract_version: String,
    pub schema_hash: String,
}

/// The `contract_version` and `schema_hash` a marker (and the ledger's signature) carries.
pub(crate) fn identity_pair() -> (String, String) {
    match crate::contract::ContractIdentity::embedded() {
        Ok(identity) => (
            identity.contract_version.clone(),
            identity.schema_hash.clone(),
        ),
        // The test suite proves the embedded schemas hash; this arm only keeps the marker honest.
        Err(_) => (crate::contract::CONTRACT_VERSION.to_owned(), String::new()),
    }
}

/// What a handoff's marker file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkerState {
    Missing,
    Valid(Box<ReapMarker>),
    /// Present but not a v1 marker; the reason says why. Such a handoff is not reaped.
    Invalid(String),
}

/// The marker's bytes: sorted keys, 2-space indent, trailing newline.
pub fn render(marker: &ReapMarker) -> serde_json::Result<Vec<u8>> {
    // Through `Value`, whose map is sorted, so keys come out in order whatever the struct order.
    let value = serde_json::to_value(marker)?;
    let mut bytes = serde_json::to_vec_pretty(&value)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// The marker protocol's crash points.
const POINTS: AtomicWritePoints = AtomicWritePoints {
    before_temp: "marker.before_temp",
    after_temp_write: "marker.after_temp_write",
    after_fsync: "marker.after_fsync",
    after_rename: "marker.after_rename",
    after_dir_fsync: "marker.after_dir_fsync",
};

/// Writes the marker into `handoff_root` atomically (temp → fsync → rename → fsync dir), first
/// removing the temps of marker writes that died half way.
pub fn write(handoff_root: &Path, marker: &ReapMarker) -> io::Result<PathBuf> {
    write_on(&RealFs, handoff_root, marker, None)
}

/// [`write`] through `fs`, running `check` just before the rename and once the rename is durable
/// (Stage 1 checks there that the handoff is still what it ingested). A write that fails leaves
/// no marker: the rename may already have put it in place when the folder sync or the check
/// after it failed, and a run that reports failure must not tell the reaper otherwise (an
/// earlier marker goes too; a rerun writes it again).
pub fn write_on(
    fs: &dyn FileOps,
    handoff_root: &Path,
    marker: &ReapMarker,
    check: Option<WriteCheck<'_>>,
) -> io::Result<PathBuf> {
    let bytes = render(marker).map_err(io::Error::other)?;
    remove_stale_temps(handoff_root, MARKER_FILE)?;
    let written = write_atomic_with(fs, handoff_root, MARKER_FILE, &bytes, Some(&POINTS), check);
    if written.is_err() {
        let _ = fs.remove_file(&handoff_root.join(MARKER_FILE));
        let _ = fs.sync_dir(handoff_root);
    }
    written
}

/// Reads and checks the marker of `handoff_root`.
pub fn read(handoff_root: &Path) -> MarkerState {
    let path = handoff_root.join(MARKER_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return MarkerState::Missing,
        Err(e) => return MarkerState::Invalid(format!("read {}: {e}", path.display())),
    };
    match serde_json::from_slice::<ReapMarker>(&bytes) {
        Ok(marker) if marker.schema == MARKER_SCHEMA => MarkerState::Valid(Box::new(marker)),
        Ok(marker) => {
            MarkerState::Invalid(format!("schema {:?} is not {MARKER_SCHEMA}", marker.schema))
        }
        Err(e) => MarkerState::Invalid(format!("parse {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::base::fsops::RealFs;

    /// The real file system, except that every folder sync after the first rename fails.
    #[derive(Default)]
    struct SyncFailsAfterRename {
        renamed: AtomicBool,
    }

    impl FileOps for SyncFailsAfterRename {
        fn create_dir(&self, path: &Path) -> io::Result<()> {
            RealFs.create_dir(path)
        }
        fn write_new(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
            RealFs.write_new(path, bytes)
        }
        fn copy_new(&self, source: &Path, dest: &Path) -> io::Result<String> {
            RealFs.copy_new(source, dest)
        }
        fn sync_file(&self, path: &Path) -> io::Result<()> {
            RealFs.sync_file(path)
        }
        fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
            RealFs.hard_link(from, to)
        }
        fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
            self.renamed.store(true, Ordering::SeqCst);
            RealFs.rename(from, to)
        }
        fn remove_file(&self, path: &Path) -> io::Result<()> {
            RealFs.remove_file(path)
        }
        fn sync_dir(&self, dir: &Path) -> io::Result<()> {
            if self.renamed.load(Ordering::SeqCst) {
                return Err(io::Error::other("planted: the folder sync failed"));
            }
            RealFs.sync_dir(dir)
        }
        fn sync_fs(&self, path: &Path) -> io::Result<()> {
            RealFs.sync_fs(path)
        }
    }

    fn marker() -> ReapMarker {
        ReapMarker {
            schema: MARKER_SCHEMA.to_owned(),
            handoff_root: "/h".into(),
            dest_data_root: "/d".into(),
            ingested_at_utc: "2026-02-20T09:00:00.000000Z".into(),
            ingest_run_id: "ingest_x".into(),
            counts: MarkerCounts::default(),
            integrity: MarkerIntegrity::default(),
            audit_head: MarkerAuditHead::default(),
            contract_version: "1.0.0".into(),
            schema_hash: "0".repeat(64),
        }
    }

    /// Regression: the folder sync after the rename failed, the run reported failure, and the
    /// marker stayed behind for the reaper.
    #[test]
    fn regression_a_failed_marker_write_leaves_no_marker() {
        let dir = tempfile::tempdir().expect("temp dir");
        write(dir.path(), &marker()).expect("an earlier marker");
        let failing = SyncFailsAfterRename::default();
        assert!(write_on(&failing, dir.path(), &marker(), None).is_err());
        assert!(
            matches!(read(dir.path()), MarkerState::Missing),
            "a failed write left a marker"
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert!(names.is_empty(), "nothing left: {names:?}");
    }
}
