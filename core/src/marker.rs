//! `reap_eligible.json` (contract §4): the ack marker that lets the Hypervisor delete a handoff.
//! Written atomically and durably, and only after the DataRoot holds every row and media file
//! of the handoff; read back strictly, so only a complete v1 marker counts.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::durable::{AtomicWritePoints, remove_stale_temps, write_atomic_with};
use crate::fsops::{FileOps, RealFs};

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
    pub contract_version: String,
    pub schema_hash: String,
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
    write_on(&RealFs, handoff_root, marker)
}

/// [`write`] through `fs`.
pub fn write_on(fs: &dyn FileOps, handoff_root: &Path, marker: &ReapMarker) -> io::Result<PathBuf> {
    let bytes = render(marker).map_err(io::Error::other)?;
    remove_stale_temps(handoff_root, MARKER_FILE)?;
    write_atomic_with(fs, handoff_root, MARKER_FILE, &bytes, Some(&POINTS))
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
