//! Reading a handoff directory (contract §1): open `metadata.db` read-only, detect its table
//! layout, stream its rows in id order, and find and normalise the media references in payloads.
//! Nothing here writes; nothing here reads outside the handoff directory.

use std::path::{Path, PathBuf};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use serde_json::Value;
use thiserror::Error;

pub use crate::store::{MEDIA_DIR, METADATA_DB, read_only_uri};

/// Errors reading a handoff, each with a stable code.
#[derive(Debug, Error)]
pub enum HandoffError {
    #[error("find handoff metadata {path}: no metadata.db")]
    MetadataMissing { path: PathBuf },
    #[error("read handoff metadata {path}: neither a `metadata` nor a `records` table")]
    TableMissing { path: PathBuf },
    #[error("read handoff metadata {path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("read handoff metadata {path}: row {row_index} has no id")]
    RowIdMissing { path: PathBuf, row_index: u64 },
    #[error(
        "read handoff metadata {path}: row {row_index} has an id that is not UTF-8 TEXT ({found}); record ids are TEXT"
    )]
    RowIdNotText {
        path: PathBuf,
        row_index: u64,
        found: String,
    },
}

impl HandoffError {
    pub fn code(&self) -> &'static str {
        match self {
            HandoffError::MetadataMissing { .. } => "handoff_metadata_missing",
            HandoffError::TableMissing { .. } => "handoff_metadata_table_missing",
            HandoffError::Corrupt { .. } => "handoff_metadata_corrupt",
            HandoffError::RowIdMissing { .. } => "handoff_row_id_missing",
            HandoffError::RowIdNotText { .. } => "metadata_id_not_text",
        }
    }
}

/// Which table holds the rows and under which column names (contract §1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// `metadata` (canonical) or `records` (legacy).
    pub table: &'static str,
    pub id_col: &'static str,
    pub payload_col: &'static str,
    pub record_type_col: Option<&'static str>,
    pub ts_col: Option<&'static str>,
    pub run_id_col: Option<&'static str>,
    /// Encrypted-row columns present in the table (`nonce_b64`, `ciphertext_b64`, `key_id`).
    pub encrypted_cols: Vec<&'static str>,
}

impl Layout {
    /// A short name for reports: `canonical`, `canonical_alt_columns` or `legacy`.
    pub fn name(&self) -> &'static str {
        match (self.table, self.id_col, self.payload_col) {
            ("records", ..) => "legacy",
            (_, "id", "payload") => "canonical",
            _ => "canonical_alt_columns",
        }
    }

    /// `SELECT id, record_type, ts_utc, run_id, payload, nonce_b64, ciphertext_b64, key_id FROM
    /// <schema>.<table> ORDER BY id` (absent columns as NULL), in byte order of the id whatever
    /// the table's collation.
    pub fn select_sql(&self, schema: &str) -> String {
        let encrypted = |name: &'static str| -> &'static str {
            if self.encrypted_cols.contains(&name) {
                name
            } else {
                "NULL"
            }
        };
        format!(
            "SELECT {id}, {rt}, {ts}, {run}, {payload}, {nonce}, {cipher}, {key} FROM {schema}.{table} ORDER BY {id} COLLATE BINARY",
            id = self.id_col,
            rt = self.record_type_col.unwrap_or("NULL"),
            ts = self.ts_col.unwrap_or("NULL"),
            run = self.run_id_col.unwrap_or("NULL"),
            payload = self.payload_col,
            nonce = encrypted("nonce_b64"),
            cipher = encrypted("ciphertext_b64"),
            key = encrypted("key_id"),
            table = self.table,
        )
    }
}

/// An open, read-only handoff database.
pub struct HandoffDb {
    pub root: PathBuf,
    pub db_path: PathBuf,
    pub layout: Layout,
    conn: Connection,
}

/// One row as stored in the handoff.
#[derive(Debug, Clone, PartialEq)]
pub struct HandoffRow {
    pub id: String,
    pub record_type: Option<String>,
    pub ts_utc: Option<String>,
    pub run_id: Option<String>,
    /// Every carried column exactly as stored: storage class and bytes.
    pub values: RowValues,
}

/// One stored value, exactly: its storage class and bytes. Unlike `rusqlite::types::Value`,
/// TEXT that is not UTF-8 is kept (and bound back) as the bytes it is.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Cell {
    #[default]
    Null,
    Integer(i64),
    Real(f64),
    Text(Vec<u8>),
    Blob(Vec<u8>),
}

impl From<ValueRef<'_>> for Cell {
    fn from(value: ValueRef<'_>) -> Cell {
        match value {
            ValueRef::Null => Cell::Null,
            ValueRef::Integer(n) => Cell::Integer(n),
            ValueRef::Real(x) => Cell::Real(x),
            ValueRef::Text(bytes) => Cell::Text(bytes.to_vec()),
            ValueRef::Blob(bytes) => Cell::Blob(bytes.to_vec()),
        }
    }
}

impl rusqlite::ToSql for Cell {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::ToSqlOutput::Borrowed;
        Ok(Borrowed(match self {
            Cell::Null => ValueRef::Null,
            Cell::Integer(n) => ValueRef::Integer(*n),
            Cell::Real(x) => ValueRef::Real(*x),
            Cell::Text(bytes) => ValueRef::Text(bytes),
            Cell::Blob(bytes) => ValueRef::Blob(bytes),
        }))
    }
}

impl Cell {
    /// Feeds the value to `digest` as its storage class and bytes: `n` for NULL; `i` or `r` and
    /// the 8 big-endian bytes of the integer or of the IEEE 754 double; `t` or `b`, the length
    /// as 8 big-endian bytes, then the bytes.
    fn digest_into(&self, digest: &mut impl sha2::Digest) {
        match self {
            Cell::Null => digest.update(b"n"),
            Cell::Integer(n) => {
                digest.update(b"i");
                digest.update(n.to_be_bytes());
            }
            Cell::Real(x) => {
                digest.update(b"r");
                digest.update(x.to_bits().to_be_bytes());
            }
            Cell::Text(bytes) | Cell::Blob(bytes) => {
                digest.update(if matches!(self, Cell::Text(_)) {
                    b"t"
                } else {
                    b"b"
                });
                digest.update((bytes.len() as u64).to_be_bytes());
                digest.update(bytes);
            }
        }
    }
}

/// The carried columns of one row as SQLite holds them (`Null` where the layout has none).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RowValues {
    pub record_type: Cell,
    pub ts_utc: Cell,
    pub run_id: Cell,
    pub payload: Cell,
    pub nonce_b64: Cell,
    pub ciphertext_b64: Cell,
    pub key_id: Cell,
}

impl RowValues {
    /// The carried columns in the order the row digest takes them.
    pub fn columns(&self) -> [&Cell; 7] {
        [
            &self.record_type,
            &self.ts_utc,
            &self.payload,
            &self.run_id,
            &self.nonce_b64,
            &self.ciphertext_b64,
            &self.key_id,
        ]
    }

    /// The row digest of `integrity.rows_sha256` (contract doc §4.1): sha256 over the carried
    /// columns in [`columns`](RowValues::columns) order, each as its storage class and bytes.
    pub fn sha256_hex(&self) -> String {
        use sha2::Digest;
        let mut digest = sha2::Sha256::new();
        for cell in self.columns() {
            cell.digest_into(&mut digest);
        }
        hex::encode(digest.finalize())
    }
}

impl HandoffRow {
    /// The payload parsed as a JSON object, if it is one.
    pub fn payload_object(&self) -> Option<serde_json::Map<String, Value>> {
        crate::base::bounded_json::parse_object(&self.payload())
    }

    /// The payload's bytes as stored (text or blob; a number as its decimal text; empty for
    /// NULL).
    pub fn payload(&self) -> std::borrow::Cow<'_, [u8]> {
        use std::borrow::Cow;
        match &self.values.payload {
            Cell::Text(bytes) | Cell::Blob(bytes) => Cow::Borrowed(bytes),
            Cell::Null => Cow::Borrowed(&[]),
            Cell::Integer(n) => Cow::Owned(n.to_string().into_bytes()),
            Cell::Real(x) => Cow::Owned(x.to_string().into_bytes()),
        }
    }
}

fn corrupt(path: &Path, error: impl std::fmt::Display) -> HandoffError {
    HandoffError::Corrupt {
        path: path.to_path_buf(),
        reason: error.to_string(),
    }
}

/// The ingest attaches the handoff to the DataRoot's UTF-8 databases. SQLite reads the header's
/// text-encoding field (offset 56) `& 3` and refuses to attach anything but 1 (UTF-8), even
/// where it opened the file alone as UTF-8 (an out-of-range value): refuse it here, as the
/// handoff's fault. 0 (no schema yet) is left to SQLite.
fn check_text_encoding(db_path: &Path) -> Result<(), HandoffError> {
    use std::io::Read;
    let mut header = [0u8; 60];
    let read = std::fs::File::open(db_path).and_then(|mut file| file.read_exact(&mut header));
    if read.is_err() {
        // Shorter than a header: SQLite has treated it as an empty database already.
        return Ok(());
    }
    let field = u32::from_be_bytes([header[56], header[57], header[58], header[59]]);
    if field != 0 && field & 3 != 1 {
        let name = match field & 3 {
            2 => "UTF-16le",
            3 => "UTF-16be",
            _ => "no valid encoding",
        };
        return Err(corrupt(
            db_path,
            format!("text encoding field {field} ({name}); handoff databases must be UTF-8"),
        ));
    }
    Ok(())
}

fn columns(conn: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))?;
    stmt.query_map([], |row| row.get::<_, String>(0))?.collect()
}

fn pick(columns: &[String], choices: &[&'static str]) -> Option<&'static str> {
    choices
        .iter()
        .copied()
        .find(|choice| columns.iter().any(|c| c == choice))
}

/// Detects the layout of the database on `conn` (contract §1.1).
pub fn detect_layout(conn: &Connection, db_path: &Path) -> Result<Layout, HandoffError> {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .and_then(|mut stmt| stmt.query_map([], |row| row.get::<_, String>(0))?.collect())
        .map_err(|e| corrupt(db_path, e))?;
    let has = |name: &str| tables.iter().any(|t| t == name);
    let (table, id_choices, payload_choices): (&'static str, &[&'static str], &[&'static str]) =
        if has("metadata") {
            (
                "metadata",
                &["id", "record_id"],
                &["payload", "payload_json"],
            )
        } else if has("records") {
            (
                "records",
                &["id", "record_id"],
                &["json", "payload", "payload_json"],
            )
        } else {
            return Err(HandoffError::TableMissing {
                path: db_path.to_path_buf(),
            });
        };
    let cols = columns(conn, table).map_err(|e| corrupt(db_path, e))?;
    let (Some(id_col), Some(payload_col)) = (pick(&cols, id_choices), pick(&cols, payload_choices))
    else {
        return Err(HandoffError::TableMissing {
            path: db_path.to_path_buf(),
        });
    };
    Ok(Layout {
        table,
        id_col,
        payload_col,
        record_type_col: pick(&cols, &["record_type"]),
        ts_col: pick(&cols, &["ts_utc"]),
        run_id_col: pick(&cols, &["run_id"]),
        encrypted_cols: ["nonce_b64", "ciphertext_b64", "key_id"]
            .into_iter()
            .filter(|name| cols.iter().any(|c| c == name))
            .collect(),
    })
}

impl HandoffDb {
    /// Opens `<handoff_root>/metadata.db` read-only and detects its layout.
    pub fn open(handoff_root: &Path) -> Result<HandoffDb, HandoffError> {
        let db_path = handoff_root.join(METADATA_DB);
        match std::fs::symlink_metadata(&db_path) {
            Ok(meta) if meta.is_file() => {}
            Ok(_) => return Err(corrupt(&db_path, "not a regular file")),
            Err(_) => return Err(HandoffError::MetadataMissing { path: db_path }),
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(read_only_uri(&db_path), flags)
            .map_err(|e| corrupt(&db_path, e))?;
        conn.execute_batch("PRAGMA query_only = 1")
            .map_err(|e| corrupt(&db_path, e))?;
        let layout = detect_layout(&conn, &db_path)?;
        check_text_encoding(&db_path)?;
        Ok(HandoffDb {
            root: handoff_root.to_path_buf(),
            db_path,
            layout,
            conn,
        })
    }

    /// Starts the one read transaction every later read of this handle shares: the rows the
    /// scan streams and the snapshots looked up by id all come from the same database state,
    /// whatever a writer appends meanwhile.
    pub fn begin_snapshot(&self) -> Result<(), HandoffError> {
        self.conn
            .execute_batch("BEGIN DEFERRED; SELECT count(*) FROM sqlite_master;")
            .map_err(|e| corrupt(&self.db_path, e))
    }

    /// Ends the read transaction of [`HandoffDb::begin_snapshot`], so that a writer of the
    /// handoff is not held up by this reader longer than the scan.
    pub fn end_snapshot(&self) -> Result<(), HandoffError> {
        if self.conn.is_autocommit() {
            return Ok(());
        }
        self.conn
            .execute_batch("COMMIT")
            .map_err(|e| corrupt(&self.db_path, e))
    }

    /// The payload bytes of the row with id `id`, if there is one.
    pub fn payload_of(&self, id: &str) -> rusqlite::Result<Option<Vec<u8>>> {
        use rusqlite::OptionalExtension;
        let sql = format!(
            "SELECT {} FROM main.{} WHERE {} = ?1",
            self.layout.payload_col, self.layout.table, self.layout.id_col
        );
        self.conn
            .prepare_cached(&sql)?
            .query_row([id], |row| {
                Ok(match row.get_ref(0)? {
                    ValueRef::Text(bytes) | ValueRef::Blob(bytes) => bytes.to_vec(),
                    _ => Vec::new(),
                })
            })
            .optional()
    }

    /// Calls `visit` for every row in id order, streaming (one row in memory at a time).
    pub fn for_each_row<E>(
        &self,
        mut visit: impl FnMut(u64, HandoffRow) -> Result<(), E>,
    ) -> Result<u64, E>
    where
        E: From<HandoffError>,
    {
        let path = &self.db_path;
        let mut stmt = self
            .conn
            .prepare(&self.layout.select_sql("main"))
            .map_err(|e| corrupt(path, e))?;
        let mut rows = stmt.query([]).map_err(|e| corrupt(path, e))?;
        let mut index = 0u64;
        while let Some(row) = rows.next().map_err(|e| corrupt(path, e))? {
            let text = |i: usize| -> Option<String> {
                match row.get_ref(i) {
                    Ok(ValueRef::Text(t)) => Some(String::from_utf8_lossy(t).into_owned()),
                    Ok(ValueRef::Integer(n)) => Some(n.to_string()),
                    _ => None,
                }
            };
            let value = |i: usize| -> Result<Cell, HandoffError> {
                row.get_ref(i).map(Cell::from).map_err(|e| corrupt(path, e))
            };
            let id = match row.get_ref(0).map_err(|e| corrupt(path, e))? {
                ValueRef::Null => None,
                ValueRef::Text(b"") => None,
                ValueRef::Text(t) => {
                    Some(std::str::from_utf8(t).map(str::to_owned).map_err(|_| {
                        HandoffError::RowIdNotText {
                            path: path.clone(),
                            row_index: index,
                            found: "TEXT that is not UTF-8".to_owned(),
                        }
                    })?)
                }
                other => {
                    return Err(HandoffError::RowIdNotText {
                        path: path.clone(),
                        row_index: index,
                        found: format!("{:?}", other.data_type()).to_uppercase(),
                    }
                    .into());
                }
            }
            .ok_or(HandoffError::RowIdMissing {
                path: path.clone(),
                row_index: index,
            })?;
            let values = RowValues {
                record_type: value(1)?,
                ts_utc: value(2)?,
                run_id: value(3)?,
                payload: value(4)?,
                nonce_b64: value(5)?,
                ciphertext_b64: value(6)?,
                key_id: value(7)?,
            };
            visit(
                index,
                HandoffRow {
                    id,
                    record_type: text(1),
                    ts_utc: text(2),
                    run_id: text(3),
                    values,
                },
            )?;
            index += 1;
        }
        Ok(index)
    }
}

/// A media reference found in a payload: the key it was under and its raw text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRef {
    pub key: String,
    pub raw: String,
}

/// True when a payload key names a media reference (contract §1.4).
pub fn is_media_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    matches!(lower.as_str(), "blob_path" | "media_path" | "media_relpath")
        || lower.ends_with("blob_path")
}

/// Every media reference in `payload`: strings under a media key, at any depth; list items
/// inherit their parent's key. Empty strings are not references.
pub fn media_refs(payload: &Value) -> Vec<MediaRef> {
    let mut out = Vec::new();
    collect_refs(payload, None, &mut out);
    out
}

fn collect_refs(value: &Value, key: Option<&str>, out: &mut Vec<MediaRef>) {
    match value {
        Value::Object(map) => {
            for (child_key, child) in map {
                collect_refs(child, Some(child_key), out);
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_refs(item, key, out);
            }
        }
        Value::String(text) => {
            if let Some(key) = key.filter(|k| is_media_key(k))
                && !text.trim().is_empty()
            {
                out.push(MediaRef {
                    key: key.to_owned(),
                    raw: text.clone(),
                });
            }
        }
        _ => {}
    }
}

/// Why a media reference was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnsafeRef {
    ParentComponent,
    DriveLetter,
    Nul,
    Empty,
}

impl UnsafeRef {
    pub fn reason(self) -> &'static str {
        match self {
            UnsafeRef::ParentComponent => "contains a `..` component",
            UnsafeRef::DriveLetter => "contains a drive letter",
            UnsafeRef::Nul => "contains NUL",
            UnsafeRef::Empty => "names no file",
        }
    }
}

/// Normalises a media reference to a path relative to `media/` (contract §1.4): backslashes
/// become `/`, surrounding whitespace is trimmed, everything up to and including the first
/// `media/` path component is dropped, leading `/` are stripped, and `.` and empty components
/// are removed. A `..` component, a drive letter or NUL makes the reference unsafe.
pub fn normalize_media_ref(raw: &str) -> Result<String, UnsafeRef> {
    if raw.contains('\0') {
        return Err(UnsafeRef::Nul);
    }
    let slashed = raw.replace('\\', "/");
    let trimmed = slashed.trim();
    let after_media = match find_media_component(trimmed) {
        Some(start) => &trimmed[start..],
        None => trimmed,
    };
    let mut parts = Vec::new();
    for component in after_media.split('/') {
        match component {
            "" | "." => continue,
            ".." => return Err(UnsafeRef::ParentComponent),
            c if is_drive(c) => return Err(UnsafeRef::DriveLetter),
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return Err(UnsafeRef::Empty);
    }
    Ok(parts.join("/"))
}

/// Byte offset just after the first `media/` that starts a path component.
fn find_media_component(path: &str) -> Option<usize> {
    let mut search_from = 0;
    while let Some(found) = path[search_from..].find("media/") {
        let at = search_from + found;
        if at == 0 || path.as_bytes()[at - 1] == b'/' {
            return Some(at + "media/".len());
        }
        search_from = at + 1;
    }
    None
}

fn is_drive(component: &str) -> bool {
    let bytes = component.as_bytes();
    bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':'
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[track_caller]
    fn check(raw: &str, expected: Result<&str, UnsafeRef>) {
        assert_eq!(normalize_media_ref(raw), expected.map(str::to_owned));
    }

    // Regression: a UTF-16 handoff database passed `open` and failed later, when the ingest
    // attached it, as a DataRoot store error (found by the metadata_db property run).
    #[test]
    fn regression_utf16_handoff_is_corrupt_not_a_store_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let conn = rusqlite::Connection::open(dir.path().join(METADATA_DB)).expect("create");
        conn.execute_batch(
            "PRAGMA encoding = 'UTF-16le';
             CREATE TABLE metadata(id TEXT PRIMARY KEY, record_type TEXT, ts_utc TEXT, payload TEXT, run_id TEXT);
             INSERT INTO metadata VALUES ('run1/x/0', 'x', NULL, '{}', 'run1');",
        )
        .expect("utf-16 database");
        drop(conn);
        let error = HandoffDb::open(dir.path()).err().expect("refused");
        assert_eq!(error.code(), "handoff_metadata_corrupt");
        assert!(error.to_string().contains("UTF-16le"), "{error}");
    }

    // Regression: a header text-encoding field out of range (512) opens as UTF-8 alone but is
    // refused when attached (found by the metadata_db property run in slow mode).
    #[test]
    fn regression_out_of_range_encoding_field_is_corrupt() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(METADATA_DB);
        let conn = rusqlite::Connection::open(&path).expect("create");
        conn.execute_batch(
            "CREATE TABLE metadata(id TEXT PRIMARY KEY, record_type TEXT, ts_utc TEXT, payload TEXT, run_id TEXT);",
        )
        .expect("database");
        drop(conn);
        let mut bytes = std::fs::read(&path).expect("read");
        bytes[56..60].copy_from_slice(&512u32.to_be_bytes());
        std::fs::write(&path, &bytes).expect("write");
        let error = HandoffDb::open(dir.path()).err().expect("refused");
        assert_eq!(error.code(), "handoff_metadata_corrupt");
        assert!(error.to_string().contains("field 512"), "{error}");
    }

    #[test]
    fn normalisation_cases() {
        check("media/run1/a.blob", Ok("run1/a.blob"));
        check("/media/run1/a.blob", Ok("run1/a.blob"));
        check("  media/run1/a.blob \n", Ok("run1/a.blob"));
        check(
            "C:\\ProgramData\\spool\\h1\\media\\run1\\a.blob",
            Ok("run1/a.blob"),
        );
        check("run1/a.blob", Ok("run1/a.blob"));
        check("media//run1/./a.blob", Ok("run1/a.blob"));
        check("social_media/x.blob", Ok("social_media/x.blob"));
        check("x/media/media/y.blob", Ok("media/y.blob"));
        check("media/../etc/passwd", Err(UnsafeRef::ParentComponent));
        check("media\\..\\..\\x", Err(UnsafeRef::ParentComponent));
        check("..", Err(UnsafeRef::ParentComponent));
        check("C:\\Windows\\win.ini", Err(UnsafeRef::DriveLetter));
        check("media/D:/x.blob", Err(UnsafeRef::DriveLetter));
        check("media/a\0b", Err(UnsafeRef::Nul));
        check("media/", Err(UnsafeRef::Empty));
        check("/", Err(UnsafeRef::Empty));
    }

    #[test]
    fn refs_are_found_at_any_depth_and_lists_inherit_keys() {
        let payload = json!({
            "blob_path": "media/a.blob",
            "thumb_blob_path": "media/t.blob",
            "Media_Path": "media/m.stream",
            "nested": {"media_relpath": "run/x.blob", "other": "media/not-a-ref"},
            "frames": {"blob_path": ["media/l1.blob", "media/l2.blob", 3]},
            "empty": {"blob_path": "  "},
        });
        let mut raws: Vec<String> = media_refs(&payload).into_iter().map(|r| r.raw).collect();
        raws.sort();
        assert_eq!(
            raws,
            vec![
                "media/a.blob",
                "media/l1.blob",
                "media/l2.blob",
                "media/m.stream",
                "media/t.blob",
                "run/x.blob"
            ]
        );
    }
}
