//! The DataRoot (contract §2): its layout on disk, its database schemas, and the only ways to
//! open its databases for writing. Readers (the query engine) open them elsewhere, read-only.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::handoff::{MEDIA_DIR, METADATA_DB};

/// Lock file that makes one process the DataRoot's single writer.
pub const LOCK_FILE: &str = ".autocapture.instance.lock";
/// Derived data (Stage-1 markers, UIA docs) lives apart from the raw evidence.
pub const DERIVED_DIR: &str = "derived";
pub const DERIVED_DB: &str = "stage1_derived.db";

/// The raw evidence table: the handoff's canonical columns plus the optional encrypted-row
/// columns, which stay NULL when a handoff has none.
const METADATA_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS metadata (
    id TEXT PRIMARY KEY,
    record_type TEXT,
    ts_utc TEXT,
    payload TEXT,
    run_id TEXT,
    nonce_b64 TEXT,
    ciphertext_b64 TEXT,
    key_id TEXT
);
CREATE INDEX IF NOT EXISTS idx_metadata_record_type ON metadata(record_type);
CREATE INDEX IF NOT EXISTS idx_metadata_ts_utc ON metadata(ts_utc);
CREATE INDEX IF NOT EXISTS idx_metadata_run_id ON metadata(run_id);
";

/// Derived records: same shape as the evidence table, in their own database.
const DERIVED_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS derived (
    id TEXT PRIMARY KEY,
    record_type TEXT NOT NULL,
    ts_utc TEXT,
    payload TEXT NOT NULL,
    run_id TEXT,
    source_record_id TEXT
);
CREATE INDEX IF NOT EXISTS idx_derived_record_type ON derived(record_type);
CREATE INDEX IF NOT EXISTS idx_derived_source ON derived(source_record_id);
CREATE INDEX IF NOT EXISTS idx_derived_ts_utc ON derived(ts_utc);
-- Stage 2 walks the Stage-1 markers in time order through this index.
CREATE INDEX IF NOT EXISTS idx_derived_type_ts ON derived(record_type, ts_utc, source_record_id);
";

/// Paths of a DataRoot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRoot {
    pub root: PathBuf,
}

impl DataRoot {
    pub fn new(root: impl Into<PathBuf>) -> DataRoot {
        DataRoot { root: root.into() }
    }

    pub fn metadata_db(&self) -> PathBuf {
        self.root.join(METADATA_DB)
    }

    pub fn media_dir(&self) -> PathBuf {
        self.root.join(MEDIA_DIR)
    }

    pub fn derived_db(&self) -> PathBuf {
        self.root.join(DERIVED_DIR).join(DERIVED_DB)
    }

    /// The Stage-2 search index (`derived/stage2.db`).
    pub fn stage2_db(&self) -> PathBuf {
        self.root.join(DERIVED_DIR).join("stage2.db")
    }

    pub fn lock_path(&self) -> PathBuf {
        self.root.join(LOCK_FILE)
    }

    /// Creates the DataRoot's folders if missing.
    pub fn create_dirs(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(self.media_dir())?;
        std::fs::create_dir_all(self.root.join(DERIVED_DIR))
    }
}

/// Settings every writable DataRoot connection uses: WAL so readers never block, full sync so a
/// committed transaction survives power loss, and a bounded page cache.
fn configure_writer(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA cache_size = -16384;
         PRAGMA temp_store = FILE;",
    )
}

/// Opens (creating if needed) the evidence database for writing. Only the holder of the
/// instance lock may call this.
pub fn open_metadata_writer(data_root: &DataRoot) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(data_root.metadata_db(), flags)?;
    configure_writer(&conn)?;
    conn.execute_batch(METADATA_SCHEMA)?;
    Ok(conn)
}

/// Opens (creating if needed) the derived database for writing.
pub fn open_derived_writer(data_root: &DataRoot) -> rusqlite::Result<Connection> {
    let conn = Connection::open(data_root.derived_db())?;
    configure_writer(&conn)?;
    conn.execute_batch(DERIVED_SCHEMA)?;
    Ok(conn)
}

/// Attaches the DataRoot database at `path` to a writer connection as `alias` (a plain
/// identifier) with `synchronous = FULL`: the pragma binds one schema only, and the attached
/// database commits in the same transaction that precedes the reap marker.
pub fn attach_writable(conn: &Connection, alias: &str, path: &Path) -> rusqlite::Result<()> {
    conn.execute(
        "ATTACH DATABASE ?1 AS ?2",
        [&*path.to_string_lossy(), alias],
    )?;
    conn.execute_batch(&format!("PRAGMA {alias}.synchronous = FULL;"))
}

/// True when `path` exists and is a directory (a DataRoot or handoff root).
pub fn is_dir(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pragma(conn: &Connection, sql: &str) -> String {
        conn.query_row(sql, [], |row| row.get::<_, rusqlite::types::Value>(0))
            .map(|v| match v {
                rusqlite::types::Value::Integer(n) => n.to_string(),
                rusqlite::types::Value::Text(t) => t,
                other => format!("{other:?}"),
            })
            .expect("pragma")
    }

    /// Guards the durability of the commit before the marker: WAL with synchronous FULL (2) on
    /// the evidence database and on the derived database attached to it.
    #[test]
    fn the_commit_before_the_marker_runs_wal_with_full_sync() {
        let dir = tempfile::tempdir().expect("temp dir");
        let data_root = DataRoot::new(dir.path());
        data_root.create_dirs().expect("dirs");
        drop(open_derived_writer(&data_root).expect("derived"));
        let conn = open_metadata_writer(&data_root).expect("writer");
        attach_writable(&conn, "d", &data_root.derived_db()).expect("attach");
        for schema in ["main", "d"] {
            assert_eq!(
                pragma(&conn, &format!("PRAGMA {schema}.journal_mode")),
                "wal"
            );
            assert_eq!(pragma(&conn, &format!("PRAGMA {schema}.synchronous")), "2");
        }
    }
}
