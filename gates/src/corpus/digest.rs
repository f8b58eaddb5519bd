//! Digests of a DataRoot's logical content, for comparing two DataRoots (re-ingest changes
//! nothing, ingest order does not matter, a crash-and-rerun converges): every row of the evidence
//! and derived tables in id order with every column quoted, and every media file with its hash.
//! Also the integrity check of every database a DataRoot holds.

use std::path::Path;

use anyhow::Context;
use autocapture_core::contract::sha256_file;
use autocapture_core::store::DataRoot;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableDigest {
    pub rows: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DataRootDigest {
    pub metadata: TableDigest,
    pub derived: TableDigest,
    pub media: TableDigest,
}

/// Digest of `table` in the database at `db` (an absent database is an empty table).
pub fn table_digest(db: &Path, table: &str, columns: &str) -> anyhow::Result<TableDigest> {
    let exprs: Vec<&str> = columns.split(',').map(str::trim).collect();
    table_digest_of(db, table, &exprs)
}

/// Digest of `table` over the SQL expressions `exprs` of each row, in id order.
pub fn table_digest_of(db: &Path, table: &str, exprs: &[&str]) -> anyhow::Result<TableDigest> {
    let mut hasher = Sha256::new();
    let mut rows = 0u64;
    if db.is_file() {
        let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("open {}", db.display()))?;
        // Each value is hashed where SQLite holds it, with its storage class and length, so a
        // huge payload is never copied into a quoted line first.
        let sql = format!("SELECT {} FROM {table} ORDER BY id", exprs.join(", "));
        let mut stmt = conn
            .prepare(&sql)
            .with_context(|| format!("query {table} in {}", db.display()))?;
        let mut cursor = stmt.query([])?;
        while let Some(row) = cursor.next()? {
            for i in 0..exprs.len() {
                match row.get_ref(i)? {
                    ValueRef::Null => hasher.update(b"N;"),
                    ValueRef::Integer(v) => hasher.update(format!("I{v};").as_bytes()),
                    ValueRef::Real(v) => hasher.update(format!("R{};", v.to_bits()).as_bytes()),
                    ValueRef::Text(t) => {
                        hasher.update(format!("T{}:", t.len()).as_bytes());
                        hasher.update(t);
                    }
                    ValueRef::Blob(b) => {
                        hasher.update(format!("B{}:", b.len()).as_bytes());
                        hasher.update(b);
                    }
                }
            }
            hasher.update(b"\n");
            rows += 1;
        }
    }
    Ok(TableDigest {
        rows,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// Every regular file under `dir` with its sha256, in path order.
pub fn tree_digest(dir: &Path) -> anyhow::Result<TableDigest> {
    let mut files = Vec::new();
    collect(dir, dir, &mut files)?;
    files.sort();
    let mut hasher = Sha256::new();
    for (relpath, sha) in &files {
        hasher.update(format!("{relpath}\t{sha}\n").as_bytes());
    }
    Ok(TableDigest {
        rows: files.len() as u64,
        sha256: hex::encode(hasher.finalize()),
    })
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) -> anyhow::Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.is_dir() {
            collect(root, &path, out)?;
        } else {
            let relpath = path.strip_prefix(root)?.to_string_lossy().into_owned();
            out.push((relpath, sha256_file(&path)?.0));
        }
    }
    Ok(())
}

/// The logical content of the DataRoot at `root`.
pub fn digest(root: &Path) -> anyhow::Result<DataRootDigest> {
    Ok(DataRootDigest {
        metadata: table_digest(
            &root.join("metadata.db"),
            "metadata",
            "id, record_type, ts_utc, payload, run_id, nonce_b64, ciphertext_b64, key_id",
        )?,
        derived: table_digest(
            &root.join("derived").join("stage1_derived.db"),
            "derived",
            "id, record_type, ts_utc, payload, run_id, source_record_id",
        )?,
        media: tree_digest(&root.join("media"))?,
    })
}

/// The logical content of the DataRoot at `root` without the time of the ingest: the Stage-1
/// markers' `ingested_at_utc` (and the `payload_hash` over it) differ between two ingests of the
/// same handoff and are left out; everything else is compared.
pub fn digest_without_ingest_time(root: &Path) -> anyhow::Result<DataRootDigest> {
    Ok(DataRootDigest {
        derived: table_digest_of(
            &root.join("derived").join("stage1_derived.db"),
            "derived",
            &[
                "id",
                "record_type",
                "ts_utc",
                "json_remove(payload, '$.ingested_at_utc', '$.payload_hash')",
                "run_id",
                "source_record_id",
            ],
        )?,
        ..digest(root)?
    })
}

/// `PRAGMA integrity_check` of every database the DataRoot holds; the failures.
pub fn integrity_problems(data: &DataRoot) -> Vec<String> {
    let mut problems = Vec::new();
    for db in [data.metadata_db(), data.derived_db(), data.stage2_db()] {
        if !db.is_file() {
            continue;
        }
        let result =
            Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_WRITE).and_then(|conn| {
                conn.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
            });
        match result {
            Ok(text) if text == "ok" => {}
            Ok(text) => problems.push(format!("{}: {text}", db.display())),
            Err(e) => problems.push(format!("{}: {e}", db.display())),
        }
    }
    problems
}
