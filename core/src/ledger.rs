//! The Stage-1 ledger: for every handoff ingested, a signature of its files as they stood after
//! the ingest committed, and what that ingest found. A re-ingest whose handoff still has the same
//! signature, into a DataRoot that still holds every imported media file, has nothing to copy:
//! it answers from the ledger instead of re-reading every row and re-hashing every file.
//!
//! The signature covers, in path order, `(dev, inode, size, mtime, ctime)` of `metadata.db`, its
//! `-wal` and `-journal` files when present, and every file under `media/`, plus the ingest
//! options and the build (version and `schema_hash`) that shape the result. Any write to a file
//! moves its ctime, which no program can set back, and a replaced file has a new inode, so a
//! handoff that changed in any way takes the full path. The ledger row is written after the
//! ingest's commit: a crash before it only means the next re-ingest takes the full path.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::handoff::MEDIA_DIR;
use crate::ingest::{IngestError, IngestOptions, io_err, store_err};
use crate::marker::{MarkerCounts, MarkerIntegrity};
use crate::store::DataRoot;

pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS stage1_ledger (
    handoff_root TEXT PRIMARY KEY,
    signature TEXT NOT NULL,
    entry TEXT NOT NULL
)";

/// The database files of a handoff that carry its rows (`-shm` is runtime state).
const DB_FILES: [&str; 3] = ["metadata.db", "metadata.db-wal", "metadata.db-journal"];

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

fn stat_line(hasher: &mut Sha256, name: &str, meta: &fs::Metadata) {
    hasher.update(
        format!(
            "{name}\t{}\t{}\t{}\t{}.{}\t{}.{}\n",
            meta.dev(),
            meta.ino(),
            meta.size(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ctime(),
            meta.ctime_nsec()
        )
        .as_bytes(),
    );
}

/// Walks `dir` in path order; each regular file's path relative to `root` and metadata go to
/// `found`. Anything else (symlink, FIFO, device) ends the walk with `None`: such a handoff is
/// for the full path to judge.
fn walk(
    root: &Path,
    dir: &Path,
    found: &mut dyn FnMut(&str, &fs::Metadata),
) -> Result<Option<()>, IngestError> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(io_err(dir))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io_err(dir))?;
    entries.sort();
    for path in entries {
        let meta = fs::symlink_metadata(&path).map_err(io_err(&path))?;
        if meta.is_dir() {
            if walk(root, &path, found)?.is_none() {
                return Ok(None);
            }
        } else if meta.is_file() {
            let Some(relpath) = path.strip_prefix(root).ok().and_then(Path::to_str) else {
                return Ok(None);
            };
            found(relpath, &meta);
        } else {
            return Ok(None);
        }
    }
    Ok(Some(()))
}

/// The handoff's signature, and (with a DataRoot to look in) whether it holds each of the
/// handoff's media files (the same inode when it was linked, a regular file of the same size when
/// it was copied). `None` when the handoff has something the fast path does not judge (no
/// `metadata.db`, a non-regular file).
pub fn signature(
    handoff_root: &Path,
    data_root: Option<&DataRoot>,
    options: &IngestOptions,
    schema_hash: &str,
) -> Result<Option<(String, bool)>, IngestError> {
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
    // Non-default UIA settings derive other docs: they are part of the signature (the default
    // adds nothing, so signatures recorded before the settings existed stay valid).
    if options.uia != crate::uia::UiaSettings::default() {
        hasher.update(format!("uia\t{:?}\n", options.uia).as_bytes());
    }
    for name in DB_FILES {
        match fs::symlink_metadata(handoff_root.join(name)) {
            Ok(meta) if meta.is_file() => stat_line(&mut hasher, name, &meta),
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if name == DB_FILES[0] {
                    return Ok(None);
                }
            }
            Err(e) => return Err(io_err(&handoff_root.join(name))(e)),
        }
    }
    let media_root = handoff_root.join(MEDIA_DIR);
    let dest_root = data_root.map(DataRoot::media_dir);
    let copy_mode = options.mode == crate::ingest::ImportMode::Copy;
    match fs::symlink_metadata(&media_root) {
        Ok(meta) if meta.is_dir() => {
            // The DataRoot's copies are looked up on a second thread while this one walks.
            let (send, receive) = std::sync::mpsc::channel::<(String, u64, u64, u64)>();
            let (walked, all_present) = std::thread::scope(|scope| {
                let checker = scope.spawn(|| {
                    let mut all_present = true;
                    for (relpath, size, dev, ino) in receive {
                        let Some(dest_root) = &dest_root else {
                            continue;
                        };
                        all_present &=
                            fs::symlink_metadata(dest_root.join(&relpath)).is_ok_and(|dest| {
                                dest.is_file()
                                    && dest.size() == size
                                    && (dest.ino() == ino && dest.dev() == dev
                                        || copy_mode
                                        || dest.dev() != dev)
                            });
                    }
                    all_present
                });
                let walked = walk(&media_root, &media_root, &mut |relpath, meta| {
                    stat_line(&mut hasher, relpath, meta);
                    if dest_root.is_some() {
                        let _ =
                            send.send((relpath.to_owned(), meta.size(), meta.dev(), meta.ino()));
                    }
                });
                drop(send);
                (walked, checker.join().unwrap_or(false))
            });
            if walked?.is_none() {
                return Ok(None);
            }
            return Ok(Some((hex::encode(hasher.finalize()), all_present)));
        }
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(&media_root)(e)),
    }
    Ok(Some((hex::encode(hasher.finalize()), true)))
}

/// The ledger entry of `handoff_root` when it was recorded under `signature`.
pub fn lookup(
    data_root: &DataRoot,
    handoff_root: &Path,
    signature: &str,
) -> Result<Option<LedgerEntry>, IngestError> {
    let db = data_root.metadata_db();
    if !db.is_file() {
        return Ok(None);
    }
    let conn = Connection::open_with_flags(
        crate::handoff::read_only_uri(&db),
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
    let entry: Option<String> = conn
        .query_row(
            "SELECT entry FROM stage1_ledger WHERE handoff_root = ?1 AND signature = ?2",
            params![handoff_root.to_string_lossy(), signature],
            |r| r.get(0),
        )
        .optional()
        .map_err(store_err(&db))?;
    // An entry that does not parse (written by another build) is no entry.
    Ok(entry.and_then(|text| serde_json::from_str(&text).ok()))
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
