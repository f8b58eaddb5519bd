//! The Stage-1 ledger: for every handoff ingested, a signature of its files as they stood after
//! the ingest committed, and what that ingest found. A re-ingest whose handoff still has the same
//! signature, into a DataRoot that still holds every imported media file, has nothing to copy:
//! it answers from the ledger instead of re-reading every row and re-hashing every file.
//!
//! The signature covers, in path order, the stamps (`crate::stage1::stamp`: dev, inode, size, mtime,
//! ctime) of `metadata.db`, its non-empty `-wal` and `-journal` files, and every file under
//! `media/`, plus the ingest options and the build (version and `schema_hash`) that shape the
//! result. It is computed from the very stamp Stage 1 compares with what it verified, so the
//! handoff is walked once for both. Any write to a file
//! moves its ctime, which no program can set back, and a replaced file has a new inode, so a
//! handoff that changed in any way takes the full path. The ledger row is written after the
//! ingest's commit: a crash before it only means the next re-ingest takes the full path.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::handoff::METADATA_DB;
use crate::stage1::error::{IngestError, store_err};
use crate::stage1::marker::{MarkerCounts, MarkerIntegrity};
use crate::stage1::options::IngestOptions;
use crate::stage1::stamp::{FileStamp, HandoffStamp};
use crate::store::DataRoot;

pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS stage1_ledger (
    handoff_root TEXT PRIMARY KEY,
    signature TEXT NOT NULL,
    entry TEXT NOT NULL
)";

/// What a completed ingest found, replayed by a re-ingest of the unchanged handoff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub layout: String,
    pub rows_seen: u64,
    pub payloads_not_json: u64,
    pub frames: u64,
    pub media_files_seen: u64,
    pub media_refs: u64,
    pub media_refs_missing: u64,
    /// What is present in the DataRoot for this handoff (the copy counts of a re-ingest: 0).
    pub counts: MarkerCounts,
    pub integrity: MarkerIntegrity,
}

fn stat_line(hasher: &mut Sha256, name: &str, stamp: &FileStamp) {
    hasher.update(
        format!(
            "{name}\t{}\t{}\t{}\t{}\t{}\n",
            stamp.dev, stamp.ino, stamp.size, stamp.mtime_ns, stamp.ctime_ns
        )
        .as_bytes(),
    );
}

/// The signature of a handoff stamped as `stamp` (see [`crate::stage1::stamp`]). `None` when the
/// handoff has something the fast path does not judge (no `metadata.db`, a non-regular file).
pub fn signature(
    stamp: &HandoffStamp,
    options: &IngestOptions,
    schema_hash: &str,
) -> Option<String> {
    let mut hasher = Sha256::new();
    hasher.update(
        format!(
            "build\t{}\t{schema_hash}\noptions\t{:?}\t{}\n",
            env!("CARGO_PKG_VERSION"),
            options.mode,
            options.strict
        )
        .as_bytes(),
    );
    // Non-default UIA settings derive other docs: they are part of the signature.
    if options.uia != crate::uia::UiaSettings::default() {
        hasher.update(format!("uia\t{:?}\n", options.uia).as_bytes());
    }
    for (name, file) in stamp.db.files() {
        match file {
            Some(file) if file.regular => stat_line(&mut hasher, name, file),
            Some(_) => return None,
            None if *name == METADATA_DB => return None,
            None => {}
        }
    }
    for (relpath, file) in &stamp.media {
        // `media` itself not a folder is stamped under the empty path.
        if !file.regular || relpath.is_empty() {
            return None;
        }
        stat_line(&mut hasher, relpath, file);
    }
    Some(hex::encode(hasher.finalize()))
}

/// Whether the DataRoot holds each media file of the handoff stamped as `stamp`: the same inode
/// when it was linked, a regular file of the same size when it was copied (copy mode, another
/// file system).
pub fn holds_media(stamp: &HandoffStamp, data_root: &DataRoot, options: &IngestOptions) -> bool {
    let dest_root = data_root.media_dir();
    let copy_mode = options.mode == crate::stage1::options::ImportMode::Copy;
    let holds = |(relpath, file): (&String, &FileStamp)| {
        fs::symlink_metadata(dest_root.join(relpath)).is_ok_and(|dest| {
            dest.is_file()
                && dest.size() == file.size
                && (dest.ino() == file.ino && dest.dev() == file.dev
                    || copy_mode
                    || dest.dev() != file.dev)
        })
    };
    // The files are looked at on a few threads, each taking every n-th one.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    if threads < 2 || stamp.media.len() < 1024 {
        return stamp.media.iter().all(holds);
    }
    std::thread::scope(|scope| {
        let parts: Vec<_> = (0..threads)
            .map(|part| {
                scope.spawn(move || stamp.media.iter().skip(part).step_by(threads).all(holds))
            })
            .collect();
        parts.into_iter().all(|part| part.join().unwrap_or(false))
    })
}

/// What the ledger holds for `handoff_root`: the signature it was recorded under and the entry
/// (`None` when the handoff was never recorded). An ingest asks this first, and stamps the
/// handoff to compare signatures only when there is an entry.
pub fn recorded(
    data_root: &DataRoot,
    handoff_root: &Path,
) -> Result<Option<(String, String)>, IngestError> {
    let db = data_root.metadata_db();
    if !db.is_file() {
        return Ok(None);
    }
    let conn = Connection::open_with_flags(
        crate::store::read_only_uri(&db),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(store_err(&db))?;
    let exists: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'stage1_ledger')",
            [],
            |r| r.get(0),
        )
        .map_err(store_err(&db))?;
    if !exists {
        return Ok(None);
    }
    conn.query_row(
        "SELECT signature, entry FROM stage1_ledger WHERE handoff_root = ?1",
        params![handoff_root.to_string_lossy()],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
    .map_err(store_err(&db))
}

/// The ledger entry of `handoff_root` when it was recorded under `signature`.
pub fn lookup(
    data_root: &DataRoot,
    handoff_root: &Path,
    signature: &str,
) -> Result<Option<LedgerEntry>, IngestError> {
    Ok(
        recorded(data_root, handoff_root)?.and_then(|(recorded, entry)| {
            // An entry that does not parse (written by another build) is no entry.
            (recorded == signature)
                .then(|| serde_json::from_str(&entry).ok())
                .flatten()
        }),
    )
}

/// Records what the ingest of `handoff_root` found, under its signature (durably: the connection
/// runs with `synchronous=FULL`).
pub fn record(
    conn: &Connection,
    db: &Path,
    handoff_root: &Path,
    signature: &str,
    entry: &LedgerEntry,
) -> Result<(), IngestError> {
    conn.execute_batch(SCHEMA).map_err(store_err(db))?;
    conn.execute(
        "INSERT INTO stage1_ledger (handoff_root, signature, entry) VALUES (?1, ?2, ?3)
         ON CONFLICT(handoff_root) DO UPDATE SET signature = excluded.signature, entry = excluded.entry",
        params![
            handoff_root.to_string_lossy(),
            signature,
            serde_json::to_string(entry).unwrap_or_default()
        ],
    )
    .map_err(store_err(db))?;
    Ok(())
}
