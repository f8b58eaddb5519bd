//! The DataRoot (contract §2): its layout on disk, its database schemas, and the only ways to
//! open its databases for writing. Readers (the query engine) open them elsewhere, read-only.

use std::path::{Path, PathBuf};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::base::lock::{ExclusiveLock, TryLock, try_lock_exclusive};

/// File name of the metadata database in a handoff and in a DataRoot.
pub const METADATA_DB: &str = "metadata.db";
/// The media folder of a handoff and of a DataRoot.
pub const MEDIA_DIR: &str = "media";

/// Lock file that makes one process the DataRoot's single writer.
pub const LOCK_FILE: &str = ".autocapture.instance.lock";
/// Derived data (Stage-1 markers, UIA docs) lives apart from the raw evidence.
pub const DERIVED_DIR: &str = "derived";
pub const DERIVED_DB: &str = "stage1_derived.db";

/// The record type of a capture frame in the evidence table.
pub const FRAME_RECORD_TYPE: &str = "evidence.capture.frame";
/// The derived record Stage 1 writes for a frame whose evidence is complete; Stage 2 indexes the
/// frames that have one.
pub const STAGE1_COMPLETE_RECORD_TYPE: &str = "derived.ingest.stage1.complete";
/// The derived record that makes a frame eligible for retention.
pub const RETENTION_RECORD_TYPE: &str = "retention.eligible";

/// The raw evidence table: the handoff's canonical columns plus the optional encrypted-row
/// columns, which stay NULL when a handoff has none. Every column but `id` is declared without
/// a type, so SQLite gives it no affinity and keeps each value with the storage class and bytes
/// the handoff held (an INTEGER or REAL payload stays one). Ids are TEXT by contract.
const METADATA_TABLE: &str = "
CREATE TABLE IF NOT EXISTS metadata (
    id TEXT PRIMARY KEY,
    record_type,
    ts_utc,
    payload,
    run_id,
    nonce_b64,
    ciphertext_b64,
    key_id
);";

const METADATA_INDEXES: &str = "
CREATE INDEX IF NOT EXISTS idx_metadata_record_type ON metadata(record_type);
CREATE INDEX IF NOT EXISTS idx_metadata_ts_utc ON metadata(ts_utc);
CREATE INDEX IF NOT EXISTS idx_metadata_run_id ON metadata(run_id);
";

/// The carried columns, in the order of [`METADATA_TABLE`].
const METADATA_COLUMNS: &str =
    "id, record_type, ts_utc, payload, run_id, nonce_b64, ciphertext_b64, key_id";

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
    conn.execute_batch(METADATA_TABLE)?;
    untype_metadata_table(&conn)?;
    conn.execute_batch(METADATA_INDEXES)?;
    Ok(conn)
}

/// A DataRoot written before values kept their storage class declares its columns TEXT, whose
/// affinity turns a number into text on insert. Rebuilds that table, once and in one
/// transaction, with the columns of [`METADATA_TABLE`]; the values it already holds stay as
/// they were stored.
fn untype_metadata_table(conn: &Connection) -> rusqlite::Result<()> {
    let typed: i64 = conn.query_row(
        "SELECT count(*) FROM pragma_table_info('metadata') WHERE name <> 'id' AND type <> ''",
        [],
        |r| r.get(0),
    )?;
    if typed == 0 {
        return Ok(());
    }
    conn.execute_batch(&format!(
        "BEGIN IMMEDIATE;
         {untyped};
         INSERT INTO metadata_untyped ({METADATA_COLUMNS}) SELECT {METADATA_COLUMNS} FROM metadata;
         DROP TABLE metadata;
         ALTER TABLE metadata_untyped RENAME TO metadata;
         COMMIT;",
        untyped = METADATA_TABLE.replace(
            "CREATE TABLE IF NOT EXISTS metadata (",
            "CREATE TABLE metadata_untyped ("
        ),
    ))
    .inspect_err(|_| {
        let _ = conn.execute_batch("ROLLBACK");
    })
}

/// A stored payload as JSON: TEXT or BLOB bytes that parse. Payloads keep the storage class
/// they came with, so a reader takes them through this, never as a `String`; a number, NULL
/// or bytes that are not JSON read as `Value::Null`.
pub fn payload_json(value: ValueRef<'_>) -> serde_json::Value {
    match value {
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => {
            serde_json::from_slice(bytes).unwrap_or(serde_json::Value::Null)
        }
        _ => serde_json::Value::Null,
    }
}

/// A stored column as text when it is TEXT (valid UTF-8); any other storage class is `None`.
pub fn text_value(value: ValueRef<'_>) -> Option<String> {
    match value {
        ValueRef::Text(bytes) => std::str::from_utf8(bytes).ok().map(str::to_owned),
        _ => None,
    }
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

/// SQLite URI that opens `path` read-only.
pub fn read_only_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for byte in path.to_string_lossy().bytes() {
        match byte {
            b'?' | b'#' | b'%' => uri.push_str(&format!("%{byte:02X}")),
            _ => uri.push(byte as char),
        }
    }
    uri.push_str("?mode=ro");
    uri
}

/// The URI that reads `path` without SQLite's shared-memory file (`immutable=1`), when that is
/// allowed: the database's folder cannot be written here (a read-only mount, a folder without
/// write permission), so SQLite could not create the `-shm` file a plain read-only open of a
/// WAL database needs, and no write-ahead log holds commits (an immutable open would not see
/// them). `None` otherwise. Only for a fallback after [`read_only_uri`] failed: an immutable
/// open assumes no writer runs, which holds where no process can write the folder.
pub fn immutable_uri(path: &Path) -> Option<String> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty())?;
    let writable = nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK).is_ok();
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal_empty = std::fs::metadata(&wal).map_or(true, |m| m.len() == 0);
    (!writable && wal_empty).then(|| read_only_uri(path) + "&immutable=1")
}

/// Runs `read` with plain read-only URIs ([`read_only_uri`]); when that fails and every database
/// of `data_root` may be read as immutable ([`immutable_uri`]: a folder no one can write here,
/// an empty write-ahead log), once more with immutable URIs. The first error stands otherwise.
pub fn read_at_rest<T, E>(
    data_root: &DataRoot,
    read: impl Fn(&dyn Fn(&Path) -> String) -> Result<T, E>,
) -> Result<T, E> {
    match read(&read_only_uri) {
        Ok(value) => Ok(value),
        Err(plain) => {
            let all_immutable = [
                data_root.metadata_db(),
                data_root.derived_db(),
                data_root.stage2_db(),
            ]
            .iter()
            .filter(|p| p.is_file())
            .all(|p| immutable_uri(p).is_some());
            if !all_immutable {
                return Err(plain);
            }
            read(&|p: &Path| immutable_uri(p).unwrap_or_else(|| read_only_uri(p)))
                .map_err(|_| plain)
        }
    }
}

/// Why the DataRoot's single-writer lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("lock data dir {path}: not a regular file (a FIFO, socket or device)")]
    NotRegular { path: PathBuf },
    #[error("lock data dir {path}: another process holds the instance lock")]
    Held { path: PathBuf },
    #[error("prepare data dir {path}: {source}")]
    Unwritable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("read or write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl LockError {
    pub fn code(&self) -> &'static str {
        match self {
            LockError::NotRegular { .. } => "instance_lock_not_regular",
            LockError::Held { .. } => "instance_lock_held",
            LockError::Unwritable { .. } => "data_dir_unwritable",
            LockError::Io { .. } => "io_error",
        }
    }
}

/// Takes the DataRoot's single-writer lock without waiting. Stage 1 and Stage 2 both hold it
/// while they write; the kernel releases it when the holder dies.
pub fn lock_data_root(data_root: &DataRoot) -> Result<ExclusiveLock, LockError> {
    let path = data_root.lock_path();
    let file = crate::base::fsops::open_regular(
        std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true),
        &path,
    )
    .map_err(|source| match source.kind() {
        // A FIFO, socket or device at the lock's path (ENXIO: a FIFO with no reader).
        std::io::ErrorKind::InvalidInput => LockError::NotRegular { path: path.clone() },
        _ if source.raw_os_error() == Some(nix::libc::ENXIO) => {
            LockError::NotRegular { path: path.clone() }
        }
        _ => LockError::Unwritable {
            path: path.clone(),
            source,
        },
    })?;
    match try_lock_exclusive(file).map_err(|source| LockError::Io {
        path: path.clone(),
        source,
    })? {
        TryLock::Acquired(lock) => Ok(lock),
        TryLock::Held => Err(LockError::Held { path }),
    }
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

    /// A DataRoot written with TEXT-declared columns is rebuilt once with untyped columns: its
    /// rows and indexes stay, a number stored afterwards keeps its storage class, and a second
    /// open changes nothing.
    #[test]
    fn an_old_typed_evidence_table_is_rebuilt_untyped_and_keeps_its_rows() {
        let dir = tempfile::tempdir().expect("temp dir");
        let data_root = DataRoot::new(dir.path());
        data_root.create_dirs().expect("dirs");
        let old = Connection::open(data_root.metadata_db()).expect("open");
        old.execute_batch(
            "CREATE TABLE metadata (id TEXT PRIMARY KEY, record_type TEXT, ts_utc TEXT, payload TEXT,
                 run_id TEXT, nonce_b64 TEXT, ciphertext_b64 TEXT, key_id TEXT);
             CREATE INDEX idx_metadata_ts_utc ON metadata(ts_utc);
             INSERT INTO metadata (id, record_type, ts_utc, payload) VALUES
                 ('a', 't', '2026-01-01T00:00:00Z', '{}'), ('b', 't', NULL, 12);",
        )
        .expect("old schema");
        drop(old);
        let types = |conn: &Connection| -> Vec<String> {
            conn.prepare("SELECT type FROM pragma_table_info('metadata') ORDER BY cid")
                .expect("prepare")
                .query_map([], |r| r.get(0))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("types")
        };
        let conn = open_metadata_writer(&data_root).expect("writer");
        assert_eq!(types(&conn), ["TEXT", "", "", "", "", "", "", ""]);
        let rows: Vec<(String, String)> = conn
            .prepare("SELECT id, quote(payload) FROM metadata ORDER BY id")
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(
            rows,
            [("a".into(), "'{}'".into()), ("b".into(), "'12'".into())]
        );
        let indexes: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'metadata' AND name LIKE 'idx_%'",
                [],
                |r| r.get(0),
            )
            .expect("indexes");
        assert_eq!(indexes, 3);
        conn.execute("INSERT INTO metadata (id, payload) VALUES ('c', 1e300)", [])
            .expect("insert");
        let class: String = conn
            .query_row(
                "SELECT typeof(payload) FROM metadata WHERE id = 'c'",
                [],
                |r| r.get(0),
            )
            .expect("class");
        assert_eq!(class, "real");
        drop(conn);
        let again = open_metadata_writer(&data_root).expect("writer again");
        let count: i64 = again
            .query_row("SELECT count(*) FROM metadata", [], |r| r.get(0))
            .expect("count");
        assert_eq!(count, 3);
    }
}
