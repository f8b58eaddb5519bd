//! A handoff's `metadata.db`, read strictly read-only: opened with `mode=ro` (never
//! `immutable`, so SQLite sees a writer's journal, WAL and locks), except for a WAL database
//! whose `-wal` and `-shm` are not both there, where a plain read-only open would create them in
//! the handoff: that one is opened `immutable` (it has no writer, or its `-wal` is already
//! reported `not_closed`). The table layout is the core's (`handoff::detect_layout`); this adds
//! the integrity check, the canonical columns and indexes, and streams every row in byte order
//! of its id with SQLite's rowid, whatever its id holds.

use std::io::Read;
use std::path::Path;

use autocapture_core::handoff::{
    Cell, Layout, METADATA_DB, RowValues, detect_layout, read_only_uri,
};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::report::{Collector, Finding};

/// Bytes of SQLite's database header.
const HEADER: usize = 100;

/// `metadata.db` opened, with its layout.
pub struct Opened {
    pub conn: Connection,
    pub layout: Layout,
}

/// The first bytes of `db` (at most the header), never blocking on a FIFO.
fn header(db: &Path) -> std::io::Result<Vec<u8>> {
    let file =
        autocapture_core::base::fsops::open_regular(std::fs::File::options().read(true), db)?;
    let mut bytes = Vec::with_capacity(HEADER);
    file.take(HEADER as u64).read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn side_file(db: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

/// The URI that reads `db` without writing beside it (see the module docs).
fn uri(db: &Path, header: &[u8]) -> String {
    let wal_mode = header.len() >= 20 && header[18] == 2 && header[19] == 2;
    let wal = side_file(db, "-wal").exists();
    let shm = side_file(db, "-shm").exists();
    if wal_mode && !(wal && shm) {
        read_only_uri(db) + "&immutable=1"
    } else {
        read_only_uri(db)
    }
}

/// Opens `<handoff>/metadata.db` read-only, by the policy of the module docs.
pub fn connect(handoff: &Path) -> rusqlite::Result<Connection> {
    let db = handoff.join(METADATA_DB);
    let header = header(&db).unwrap_or_default();
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(uri(&db, &header), flags)?;
    conn.execute_batch("PRAGMA query_only = 1")?;
    Ok(conn)
}

/// Opens the database and checks that it can be read: present, a regular file, UTF-8 SQLite,
/// a table Stage 1 reads, and SQLite's `quick_check`. `None` (with the finding) when not.
pub fn open(handoff: &Path, out: &mut Collector) -> Option<Opened> {
    out.checked(&[
        "metadata_missing",
        "metadata_corrupt",
        "metadata_table_missing",
    ]);
    let db = handoff.join(METADATA_DB);
    let corrupt = |message: String| Finding::new("metadata_corrupt", METADATA_DB, message);
    match std::fs::symlink_metadata(&db) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            out.add(Finding::new(
                "metadata_missing",
                METADATA_DB,
                "no metadata.db: the drain does not take this folder as a handoff, a direct ingest fails",
            ));
            return None;
        }
        Err(e) => {
            out.add(Finding::new(
                "handoff_unreadable",
                METADATA_DB,
                format!("stat: {e}"),
            ));
            return None;
        }
        Ok(meta) if !meta.is_file() => {
            let what = if meta.file_type().is_symlink() {
                "a symlink"
            } else if meta.is_dir() {
                "a folder"
            } else {
                "not a regular file"
            };
            out.add(corrupt(format!("metadata.db is {what}")));
            return None;
        }
        Ok(_) => {}
    }
    let header = match header(&db) {
        Ok(header) => header,
        Err(e) => {
            out.add(Finding::new(
                "handoff_unreadable",
                METADATA_DB,
                format!("read: {e}"),
            ));
            return None;
        }
    };
    if header.len() >= 60 {
        // SQLite refuses to attach a database whose text-encoding field is not UTF-8.
        let field = u32::from_be_bytes([header[56], header[57], header[58], header[59]]);
        if field != 0 && field & 3 != 1 {
            out.add(corrupt(format!(
                "text encoding field {field}: handoff databases must be UTF-8"
            )));
            return None;
        }
    }
    let conn = match connect(handoff) {
        Ok(conn) => conn,
        Err(e) => {
            out.add(corrupt(format!("open: {e}")));
            return None;
        }
    };
    let layout = match detect_layout(&conn, &db) {
        Ok(layout) => layout,
        Err(e) => {
            let rule = if e.code() == "handoff_metadata_table_missing" {
                "metadata_table_missing"
            } else {
                "metadata_corrupt"
            };
            out.add(Finding::new(rule, METADATA_DB, e.to_string()));
            return None;
        }
    };
    let checked: rusqlite::Result<Vec<String>> = conn
        .prepare("PRAGMA quick_check(8)")
        .and_then(|mut stmt| stmt.query_map([], |row| row.get(0))?.collect());
    match checked {
        Ok(lines) if lines == ["ok"] => {}
        Ok(lines) => {
            out.add(corrupt(format!("quick_check: {}", lines.join("; "))));
            return None;
        }
        Err(e) => {
            out.add(corrupt(format!("quick_check: {e}")));
            return None;
        }
    }
    Some(Opened { conn, layout })
}

/// Column name, declared type, primary-key position.
fn columns(conn: &Connection, table: &str) -> rusqlite::Result<Vec<(String, String, i64)>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT name, type, pk FROM pragma_table_info('{table}')"
    ))?;
    stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
        .collect()
}

/// The first column of every index of `table`.
fn index_heads(conn: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT ii.name FROM pragma_index_list('{table}') AS il, pragma_index_info(il.name) AS ii WHERE ii.seqno = 0"
    ))?;
    stmt.query_map([], |row| row.get(0))?.collect()
}

/// The canonical columns and indexes (contract §1.1) of the layout's table.
pub fn check_layout(opened: &Opened, out: &mut Collector) {
    out.checked(&["metadata_columns", "metadata_indexes"]);
    let Opened { conn, layout } = opened;
    let file = METADATA_DB;
    let table = layout.table;
    let cols = match columns(conn, table) {
        Ok(cols) => cols,
        Err(e) => {
            out.add(Finding::new(
                "metadata_corrupt",
                file,
                format!("table_info: {e}"),
            ));
            return;
        }
    };
    let find = |name: &str| cols.iter().find(|(n, ..)| n == name);
    let mut problems = Vec::new();
    for name in ["record_type", "ts_utc"] {
        if find(name).is_none() {
            problems.push(format!("no `{name}` column"));
        }
    }
    if table == "metadata" {
        if find("run_id").is_none() {
            problems.push("no `run_id` column".to_owned());
        }
        let primary: Vec<&str> = cols
            .iter()
            .filter(|(_, _, pk)| *pk > 0)
            .map(|(n, ..)| n.as_str())
            .collect();
        if primary.is_empty() {
            problems.push(format!(
                "no primary key (the contract's is `{}`)",
                layout.id_col
            ));
        } else if primary != [layout.id_col] {
            problems.push(format!(
                "the primary key is ({}), not `{}` alone",
                primary.join(", "),
                layout.id_col
            ));
        }
        for name in [
            layout.id_col,
            layout.payload_col,
            "record_type",
            "ts_utc",
            "run_id",
        ] {
            if let Some((_, declared, _)) = find(name)
                && !declared.eq_ignore_ascii_case("TEXT")
            {
                let declared = if declared.is_empty() {
                    "no type"
                } else {
                    declared
                };
                problems.push(format!("`{name}` declares {declared}, not TEXT"));
            }
        }
    }
    for problem in problems {
        out.add(Finding::new(
            "metadata_columns",
            file,
            format!("table `{table}`: {problem}"),
        ));
    }
    if table != "metadata" {
        return;
    }
    match index_heads(conn, table) {
        Ok(heads) => {
            for column in ["record_type", "ts_utc", "run_id"] {
                if !heads.iter().any(|h| h == column) {
                    out.add(Finding::new(
                        "metadata_indexes",
                        file,
                        format!("no index on metadata({column})"),
                    ));
                }
            }
        }
        Err(e) => out.add(Finding::new(
            "metadata_corrupt",
            file,
            format!("index_list: {e}"),
        )),
    }
}

/// One row as stored: SQLite's rowid (when the table has one), its id and carried columns.
#[derive(Debug, Clone)]
pub struct RawRow {
    pub rowid: Option<i64>,
    pub id: Cell,
    pub values: RowValues,
}

/// Calls `visit` for every row, in byte order of its id (NULLs, numbers and BLOBs too).
pub fn for_each_row(opened: &Opened, mut visit: impl FnMut(RawRow)) -> rusqlite::Result<u64> {
    let select = opened.layout.select_sql("main");
    let columns = select.strip_prefix("SELECT ").unwrap_or(&select);
    let mut stmt = match opened.conn.prepare(&format!("SELECT rowid, {columns}")) {
        Ok(stmt) => stmt,
        // A WITHOUT ROWID table.
        Err(_) => opened.conn.prepare(&format!("SELECT NULL, {columns}"))?,
    };
    let mut rows = stmt.query([])?;
    let mut count = 0u64;
    while let Some(row) = rows.next()? {
        let cell = |i: usize| row.get_ref(i).map(Cell::from);
        let rowid = match row.get_ref(0)? {
            ValueRef::Integer(n) => Some(n),
            _ => None,
        };
        visit(RawRow {
            rowid,
            id: cell(1)?,
            values: RowValues {
                record_type: cell(2)?,
                ts_utc: cell(3)?,
                run_id: cell(4)?,
                payload: cell(5)?,
                nonce_b64: cell(6)?,
                ciphertext_b64: cell(7)?,
                key_id: cell(8)?,
            },
        });
        count += 1;
    }
    Ok(count)
}

/// The payload bytes of the row with id `id` (TEXT or BLOB; empty for other classes), looked
/// up as Stage 1 looks a snapshot up.
pub fn payload_of(opened: &Opened, id: &str) -> rusqlite::Result<Option<Vec<u8>>> {
    let Layout {
        table,
        id_col,
        payload_col,
        ..
    } = &opened.layout;
    opened
        .conn
        .prepare_cached(&format!(
            "SELECT {payload_col} FROM main.{table} WHERE {id_col} = ?1"
        ))?
        .query_row([id], |row| {
            Ok(match row.get_ref(0)? {
                ValueRef::Text(bytes) | ValueRef::Blob(bytes) => bytes.to_vec(),
                _ => Vec::new(),
            })
        })
        .optional()
}

/// Opens an earlier handoff of the spool for lookups only (its findings are its own report's).
pub fn reopen(handoff: &Path) -> Option<Opened> {
    let conn = connect(handoff).ok()?;
    let layout = detect_layout(&conn, &handoff.join(METADATA_DB)).ok()?;
    Some(Opened { conn, layout })
}
