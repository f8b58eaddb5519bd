//! The copy side of the Stage-1 scan, inside the ingest's transaction: each row the read side
//! ([`scan`]) hands over is copied into the evidence table with `INSERT OR IGNORE`; an id the
//! DataRoot (or an earlier row of this handoff) already holds must hold exactly the same
//! values. Its media refs go to a temp table, its Stage-1 records straight into the derived
//! store (first writer wins).

use std::path::PathBuf;

use rusqlite::{Connection, Statement, params};

use super::scan::{self, ReadPlan, ScanSummary, Scanned, ScannedRow};
use super::{Ingest, RETENTION_RECORD_TYPE, STAGE1_COMPLETE_RECORD_TYPE};
use crate::stage1::error::{IngestError, store_err};
use crate::store::DataRoot;

impl Ingest<'_> {
    /// Reads every row of the handoff once, inside its read snapshot, and copies each into the
    /// evidence table as it is read (see the module docs of [`super`]); collects media refs,
    /// writes the Stage-1 records, and digests the rows.
    pub(super) fn scan_rows(&mut self, ingested_at: &str) -> Result<ScanSummary, IngestError> {
        // Inside the ingest's transaction (see `run_phases`).
        let mut copier = Copier::new(&self.conn, self.data_root)?;
        let plan = ReadPlan {
            handoff: &self.handoff,
            data_root: self.data_root,
            conn: &self.conn,
            options: self.options,
            pacer: self.pacer.as_ref(),
            ingested_at,
        };
        let mut summary = scan::read_rows(plan, &mut |row| copier.take(row));
        let copied = copier.finish()?;
        summary.rows_copied = copied.rows_copied;
        summary.stage1_complete = copied.stage1_complete;
        summary.retention_marked = copied.retention_marked;
        summary.uia_docs_inserted = copied.uia_docs_inserted;
        self.handoff.end_snapshot()?;
        Ok(summary)
    }
}

/// What the copy counted.
#[derive(Debug, Default)]
struct Copied {
    rows_copied: u64,
    stage1_complete: u64,
    retention_marked: u64,
    uia_docs_inserted: u64,
}

/// Copies rows as the read side hands them over, until the first failure, the read side's or
/// a copy's, in row order.
struct Copier<'c> {
    conn: &'c Connection,
    db_path: PathBuf,
    derived_path: PathBuf,
    insert_ref: Statement<'c>,
    insert_derived: Statement<'c>,
    insert_row: Statement<'c>,
    same_row: Statement<'c>,
    copied: Copied,
    failed: Option<IngestError>,
}

impl<'c> Copier<'c> {
    fn new(tx: &'c Connection, data_root: &DataRoot) -> Result<Copier<'c>, IngestError> {
        let db_path = data_root.metadata_db();
        let derived_path = data_root.derived_db();
        let insert_ref = tx
            .prepare(
                "INSERT INTO temp.refs (relpath, expected_sha256, record_id) VALUES (?1, ?2, ?3)",
            )
            .map_err(store_err(&db_path))?;
        // Derived records go straight into the derived store, first writer wins: a record
        // already there (an earlier ingest, or an earlier frame of this handoff sharing a UIA
        // snapshot) is kept as it is.
        let insert_derived = tx
            .prepare("INSERT OR IGNORE INTO d.derived (id, record_type, ts_utc, payload, run_id, source_record_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
            .map_err(store_err(&derived_path))?;
        // An id the DataRoot (or an earlier row of this handoff) already holds must hold
        // exactly these values, or `INSERT OR IGNORE` would drop them while the marker promises
        // them: compared column by column, storage class and bytes, whatever the handoff
        // table's collation.
        let insert_row = tx.prepare(&insert_row_sql()).map_err(store_err(&db_path))?;
        let same_row = tx.prepare(&same_row_sql()).map_err(store_err(&db_path))?;
        arm_mid_row_copy(tx);
        Ok(Copier {
            conn: tx,
            db_path,
            derived_path,
            insert_ref,
            insert_derived,
            insert_row,
            same_row,
            copied: Copied::default(),
            failed: None,
        })
    }

    /// Takes one row (or the read side's failure); whether it takes more.
    fn take(&mut self, scanned: Scanned) -> bool {
        if self.failed.is_some() {
            return false;
        }
        let result = match scanned {
            Scanned::Row(row) => self.copy(&row),
            Scanned::Failed(error) => Err(error),
        };
        match result {
            Ok(()) => true,
            Err(error) => {
                self.failed = Some(error);
                false
            }
        }
    }

    fn copy(&mut self, row: &ScannedRow) -> Result<(), IngestError> {
        let (db_path, derived_path) = (&self.db_path, &self.derived_path);
        let v = &row.values;
        let values = params![
            row.id,
            v.record_type,
            v.ts_utc,
            v.payload,
            v.run_id,
            v.nonce_b64,
            v.ciphertext_b64,
            v.key_id
        ];
        if self
            .insert_row
            .execute(values)
            .map_err(store_err(db_path))?
            == 1
        {
            self.copied.rows_copied += 1;
        } else if !self.same_row.exists(values).map_err(store_err(db_path))? {
            return Err(IngestError::MetadataIdConflict {
                record_id: row.id.clone(),
            });
        }
        for (relpath, expected) in &row.refs {
            self.insert_ref
                .execute(params![relpath, expected, row.id])
                .map_err(store_err(db_path))?;
        }
        for derived in &row.derived {
            let inserted = self
                .insert_derived
                .execute(params![
                    derived.id,
                    derived.record_type,
                    derived.ts_utc,
                    derived.payload,
                    derived.run_id,
                    derived.source_record_id
                ])
                .map_err(store_err(derived_path))? as u64;
            // Inserted, or kept as an earlier writer left it: either way the DataRoot holds it
            // (its columns are never NULL, so only its id can make the insert a no-op).
            let copied = &mut self.copied;
            match derived.record_type.as_str() {
                STAGE1_COMPLETE_RECORD_TYPE if !row.repeated => copied.stage1_complete += 1,
                RETENTION_RECORD_TYPE if !row.repeated => copied.retention_marked += 1,
                kind if kind.starts_with("obs.uia.") => copied.uia_docs_inserted += inserted,
                _ => {}
            }
        }
        Ok(())
    }

    /// What was copied, or the first failure.
    fn finish(self) -> Result<Copied, IngestError> {
        disarm_mid_row_copy(self.conn);
        match self.failed {
            Some(error) => Err(error),
            None => Ok(self.copied),
        }
    }
}

/// Copies one handoff row into the evidence table unless its id is there; `record_type`,
/// `ts_utc` or `run_id` that the row lacks are taken from its payload when that is JSON text.
/// Parameters: id, record_type, ts_utc, payload, run_id, nonce_b64, ciphertext_b64, key_id.
fn insert_row_sql() -> String {
    format!(
        "INSERT OR IGNORE INTO main.metadata (id, record_type, ts_utc, payload, run_id, nonce_b64, ciphertext_b64, key_id)
         VALUES (?1, {rt}, {ts}, ?4, {run}, ?6, ?7, ?8)",
        rt = from_payload(2, "record_type"),
        ts = from_payload(3, "ts_utc"),
        run = from_payload(5, "run_id"),
    )
}

/// Whether the evidence table holds the row of [`insert_row_sql`]'s parameters with exactly
/// these values (`IS`: NULL matches NULL; values of different storage classes never match; the
/// table's columns have no affinity, so nothing is converted on either side).
fn same_row_sql() -> String {
    format!(
        "SELECT 1 FROM main.metadata WHERE id = ?1 AND record_type IS {rt} AND ts_utc IS {ts}
         AND payload IS ?4 AND run_id IS {run} AND nonce_b64 IS ?6 AND ciphertext_b64 IS ?7 AND key_id IS ?8",
        rt = from_payload(2, "record_type"),
        ts = from_payload(3, "ts_utc"),
        run = from_payload(5, "run_id"),
    )
}

/// Parameter `?{param}`, or else the payload's (`?4`) top-level `field` when the payload is
/// JSON text (stored as TEXT or as a BLOB of its bytes, as Stage 1 reads it).
fn from_payload(param: usize, field: &str) -> String {
    format!(
        "coalesce(?{param}, CASE WHEN typeof(?4) IN ('text', 'blob') AND json_valid(CAST(?4 AS TEXT))
         THEN json_extract(CAST(?4 AS TEXT), '$.{field}') END)"
    )
}

/// Arms `ingest.mid_row_copy` in an armed process (`crash::arm`): it fires when the first row
/// lands in the evidence table. Elsewhere no hook is installed.
fn arm_mid_row_copy(conn: &Connection) {
    if !crate::base::crash::enabled() {
        return;
    }
    conn.update_hook(Some(
        |_: rusqlite::hooks::Action, db: &str, table: &str, _: i64| {
            if db == "main" && table == "metadata" {
                crate::base::crash::point("ingest.mid_row_copy");
            }
        },
    ));
}

fn disarm_mid_row_copy(conn: &Connection) {
    if crate::base::crash::enabled() {
        conn.update_hook(None::<fn(rusqlite::hooks::Action, &str, &str, i64)>);
    }
}
