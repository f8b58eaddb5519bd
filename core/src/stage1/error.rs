//! Why a Stage-1 ingest failed: [`IngestError`], its stable codes and exit classes, and the
//! mappings of database and I/O errors (a full disk or a file at its size limit is
//! `data_dir_full`). Shared by the ingest, the media import and the ledger.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::audit::AuditError;
use crate::handoff::{HandoffError, UnsafeRef};

/// Why an ingest failed. No marker is written for any of these.
#[derive(Debug, Error)]
pub enum IngestError {
    #[error("find handoff {path}: not a directory")]
    HandoffRootMissing { path: PathBuf },
    #[error(transparent)]
    Handoff(#[from] HandoffError),
    #[error(transparent)]
    Lock(#[from] crate::store::LockError),
    #[error("prepare data dir {path}: {source}")]
    DataDir { path: PathBuf, source: io::Error },
    #[error("read media ref {raw:?} of record {record_id}: {}", reason.reason())]
    MediaRefUnsafe {
        record_id: String,
        raw: String,
        reason: UnsafeRef,
    },
    #[error("read media file {path}: not a regular file")]
    MediaNotRegular { path: PathBuf },
    #[error("read media file {path}: file name is not UTF-8")]
    MediaNameInvalid { path: PathBuf },
    #[error(
        "resolve media ref {relpath} of record {record_id}: in neither the handoff nor the data dir"
    )]
    MediaRefMissing { record_id: String, relpath: String },
    #[error(
        "verify media file {relpath}: sha256 {actual}, but record {record_id} declares {expected}"
    )]
    MediaHashMismatch {
        relpath: String,
        record_id: String,
        expected: String,
        actual: String,
    },
    #[error("import media file {relpath}: the data dir already holds a different file there")]
    MediaConflict { relpath: String },
    #[error("import media file {relpath}: it changed while it was checked ({detail})")]
    MediaChanged { relpath: String, detail: String },
    #[error(
        "copy record {record_id}: the data dir or this handoff already holds that id with other values (payload, type, time, run or encrypted columns)"
    )]
    MetadataIdConflict { record_id: String },
    #[error(
        "ingest handoff {path}: it changed during the ingest ({detail}); no marker was written, a later run takes it again"
    )]
    HandoffChanged { path: PathBuf, detail: String },
    #[error("read or write {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "write data dir database {path}: {reason} (the file system is full or a file reached its size limit)"
    )]
    DataDirFull { path: PathBuf, reason: String },
    #[error("write data dir database {path}: {reason}")]
    Store { path: PathBuf, reason: String },
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("write marker in {path}: {source}")]
    Marker { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Placement(#[from] crate::stage1::placement::PlacementError),
}

impl IngestError {
    pub fn code(&self) -> &'static str {
        match self {
            IngestError::HandoffRootMissing { .. } => "handoff_root_missing",
            IngestError::Handoff(inner) => inner.code(),
            IngestError::Lock(inner) => inner.code(),
            IngestError::DataDir { .. } => "data_dir_unwritable",
            IngestError::MediaRefUnsafe { .. } => "media_ref_unsafe",
            IngestError::MediaNotRegular { .. } => "media_not_regular",
            IngestError::MediaNameInvalid { .. } => "media_name_invalid",
            IngestError::MediaRefMissing { .. } => "media_ref_missing",
            IngestError::MediaHashMismatch { .. } => "media_hash_mismatch",
            IngestError::MediaConflict { .. } => "media_conflict",
            IngestError::MediaChanged { .. } => "media_changed",
            IngestError::MetadataIdConflict { .. } => "metadata_id_conflict",
            IngestError::HandoffChanged { .. } => "handoff_changed_during_ingest",
            IngestError::Io { source, .. } if is_storage_full(source) => "data_dir_full",
            IngestError::DataDirFull { .. } => "data_dir_full",
            IngestError::Io { .. } => "io_error",
            IngestError::Store { reason, .. } if reason.contains("database or disk is full") => {
                "data_dir_full"
            }
            IngestError::Store { .. } => "data_root_store_error",
            IngestError::Audit(AuditError::Io { source, .. }) if is_storage_full(source) => {
                "data_dir_full"
            }
            IngestError::Audit(inner) => inner.code(),
            IngestError::Marker { .. } => "marker_write_failed",
            IngestError::Placement(inner) => inner.code(),
        }
    }

    /// The file or folder at fault, when there is one.
    pub fn path(&self) -> Option<&Path> {
        use crate::handoff::HandoffError as H;
        use crate::store::LockError as L;
        match self {
            IngestError::HandoffRootMissing { path }
            | IngestError::DataDir { path, .. }
            | IngestError::MediaNotRegular { path }
            | IngestError::MediaNameInvalid { path }
            | IngestError::HandoffChanged { path, .. }
            | IngestError::Io { path, .. }
            | IngestError::DataDirFull { path, .. }
            | IngestError::Store { path, .. }
            | IngestError::Marker { path, .. }
            | IngestError::Handoff(
                H::MetadataMissing { path }
                | H::TableMissing { path }
                | H::Corrupt { path, .. }
                | H::RowIdMissing { path, .. }
                | H::RowIdNotText { path, .. },
            )
            | IngestError::Lock(
                L::NotRegular { path }
                | L::Held { path }
                | L::Unwritable { path, .. }
                | L::Io { path, .. },
            )
            | IngestError::Audit(
                AuditError::Io { path, .. }
                | AuditError::Broken { path, .. }
                | AuditError::Key { path, .. },
            ) => Some(path),
            _ => None,
        }
    }

    /// The record at fault, when there is one.
    pub fn record_id(&self) -> Option<&str> {
        match self {
            IngestError::MediaRefUnsafe { record_id, .. }
            | IngestError::MediaRefMissing { record_id, .. }
            | IngestError::MediaHashMismatch { record_id, .. }
            | IngestError::MetadataIdConflict { record_id } => Some(record_id),
            _ => None,
        }
    }

    /// Usage or environment problems (exit 2) as opposed to bad input (exit 1).
    pub fn is_environment(&self) -> bool {
        matches!(
            self,
            IngestError::Lock(_)
                | IngestError::DataDir { .. }
                | IngestError::Io { .. }
                | IngestError::Store { .. }
                | IngestError::DataDirFull { .. }
                | IngestError::Audit(AuditError::Io { .. } | AuditError::Key { .. })
                | IngestError::Marker { .. }
        )
    }
}

/// A write failed because the file system is full, a quota is spent, or a file hit its size
/// limit (`ENOSPC`, `EDQUOT`, `EFBIG`).
fn is_storage_full(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(code) if code == nix::libc::ENOSPC || code == nix::libc::EDQUOT || code == nix::libc::EFBIG
    )
}

/// `error`, or [`IngestError::DataDirFull`] when it is a database write failure and the DataRoot
/// has no room left. SQLite reports `ENOSPC` as "database or disk is full" but a file that hit
/// its size limit (`EFBIG`) only as "disk I/O error"; the file system and the limit are then
/// asked directly.
pub(crate) fn full_or(error: IngestError, data_root: &Path) -> IngestError {
    match error {
        IngestError::Store { path, reason }
            if reason.contains("database or disk is full")
                || (reason.contains("disk I/O error") && storage_exhausted(data_root)) =>
        {
            IngestError::DataDirFull { path, reason }
        }
        other => other,
    }
}

/// Less than 1 MiB free on the DataRoot's file system, or a DataRoot database within 1 MiB of
/// the process's file-size limit.
fn storage_exhausted(data_root: &Path) -> bool {
    const MARGIN: u64 = 1024 * 1024;
    let no_space = nix::sys::statvfs::statvfs(data_root)
        .is_ok_and(|stat| stat.blocks_available().saturating_mul(stat.fragment_size()) < MARGIN);
    let limit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_FSIZE)
        .map(|(soft, _)| soft)
        .unwrap_or(nix::sys::resource::RLIM_INFINITY);
    let at_limit = limit != nix::sys::resource::RLIM_INFINITY
        && [
            "metadata.db",
            "metadata.db-wal",
            "derived/stage1_derived.db",
            "derived/stage1_derived.db-wal",
        ]
        .iter()
        .filter_map(|name| fs::metadata(data_root.join(name)).ok())
        .any(|meta| meta.len().saturating_add(MARGIN) > limit);
    no_space || at_limit
}

/// Maps a database error on `path` to [`IngestError::Store`].
pub(crate) fn store_err(path: &Path) -> impl Fn(rusqlite::Error) -> IngestError + '_ {
    move |e| IngestError::Store {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Maps an I/O error on `path` to [`IngestError::Io`].
pub(crate) fn io_err(path: &Path) -> impl Fn(io::Error) -> IngestError + '_ {
    move |source| IngestError::Io {
        path: path.to_path_buf(),
        source,
    }
}
