//! The scan of Stage 1: every row of the handoff read once, inside one read snapshot, and copied
//! into the evidence table as it is read, each checked against what the DataRoot (or an earlier
//! row) holds under its id; media refs and Stage-1 markers collected on the way.

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{FRAME_RECORD_TYPE, Ingest, IngestWarning};
use crate::base::pace::pace;
use crate::handoff::{HandoffDb, MediaRef, media_refs, normalize_media_ref};
use crate::stage1::derive::{Deriver, UiaState};
use crate::stage1::error::{IngestError, store_err};
use crate::uia::{Lookup, SnapshotLookup};

impl Ingest<'_> {
    /// Reads every row of the handoff once, inside its read snapshot, and copies each into the
    /// evidence table as it is read (see the module docs of [`super`]); collects media refs and
    /// Stage-1 markers into temp tables and digests the rows.
    pub(super) fn scan_rows(&mut self, ingested_at: &str) -> Result<ScanSummary, IngestError> {
        let db_path = self.data_root.metadata_db();
        let mut summary = ScanSummary::default();
        let mut rows_hasher = Sha256::new();
        let mut deriver = Deriver::new(self.options.uia.clone(), self.data_root.root.join("uia"));
        // Inside the ingest's transaction (see `run_phases`).
        let tx = &self.conn;
        {
            let mut insert_ref = tx
                .prepare("INSERT INTO temp.refs (relpath, expected_sha256, record_id) VALUES (?1, ?2, ?3)")
                .map_err(store_err(&db_path))?;
            let mut insert_marker = tx
                .prepare("INSERT OR IGNORE INTO temp.markers (id, record_type, ts_utc, payload, run_id, source_record_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                .map_err(store_err(&db_path))?;
            // Each row is copied as it is read. An id the DataRoot (or an earlier row of this
            // handoff) already holds must hold exactly these values, or `INSERT OR IGNORE` would
            // drop them while the marker promises them: compared column by column, storage
            // class and bytes, whatever the handoff table's collation.
            let mut insert_row = tx.prepare(&insert_row_sql()).map_err(store_err(&db_path))?;
            let mut same_row = tx.prepare(&same_row_sql()).map_err(store_err(&db_path))?;
            arm_mid_row_copy(tx);
            let scanned = self
                .handoff
                .for_each_row(|_, row| -> Result<(), IngestError> {
                    summary.rows += 1;
                    if summary.rows % 256 == 0 {
                        pace(self.pacer.as_ref());
                        if let Some(progress) = &self.options.progress {
                            progress.rows_read(256);
                        }
                    }
                    rows_hasher.update(row.id.as_bytes());
                    rows_hasher.update(b"\t");
                    rows_hasher.update(row.values.sha256_hex().as_bytes());
                    rows_hasher.update(b"\n");
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
                    if insert_row.execute(values).map_err(store_err(&db_path))? == 1 {
                        summary.rows_copied += 1;
                    } else if !same_row.exists(values).map_err(store_err(&db_path))? {
                        return Err(IngestError::MetadataIdConflict {
                            record_id: row.id.clone(),
                        });
                    }
                    let Some(payload) = row.payload_object() else {
                        summary.payloads_not_json += 1;
                        return Ok(());
                    };
                    let payload = Value::Object(payload);
                    let record_type = row.record_type.clone().or_else(|| {
                        payload
                            .get("record_type")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    });
                    let is_frame = record_type.as_deref() == Some(FRAME_RECORD_TYPE);
                    let declared = payload
                        .get("content_hash")
                        .and_then(Value::as_str)
                        .map(str::to_ascii_lowercase)
                        .filter(|h| !h.is_empty());
                    for MediaRef { key, raw } in media_refs(&payload) {
                        let relpath = normalize_media_ref(&raw).map_err(|reason| {
                            IngestError::MediaRefUnsafe {
                                record_id: row.id.clone(),
                                raw: raw.chars().take(200).collect(),
                                reason,
                            }
                        })?;
                        // A frame's content_hash describes its own blob, named by `blob_path`.
                        let expected = if is_frame && key.eq_ignore_ascii_case("blob_path") {
                            declared.clone()
                        } else {
                            None
                        };
                        insert_ref
                            .execute(params![relpath, expected, row.id])
                            .map_err(store_err(&db_path))?;
                        summary.refs += 1;
                    }
                    if is_frame {
                        summary.frames += 1;
                        let stores = Stores {
                            handoff: &self.handoff,
                            data_root: tx,
                        };
                        let derived = deriver.frame(
                            &row.id,
                            row.run_id.as_deref(),
                            row.ts_utc.as_deref(),
                            &payload,
                            ingested_at,
                            &stores,
                        );
                        match &derived.uia {
                            UiaState::NoRef => {}
                            UiaState::Docs { .. } => summary.frames_with_uia_docs += 1,
                            UiaState::Missing(reason) => {
                                summary.frames_without_uia_docs += 1;
                                let count = summary.uia_problems.entry(reason.code).or_insert(0);
                                *count += 1;
                                if *count <= 3 {
                                    summary.uia_examples.push(IngestWarning {
                                        code: reason.code,
                                        detail: format!("frame {}: {}", row.id, reason.detail),
                                    });
                                }
                            }
                        }
                        for derived_row in derived.rows {
                            insert_marker
                                .execute(params![
                                    derived_row.id,
                                    derived_row.record_type,
                                    derived_row.ts_utc,
                                    derived_row.payload,
                                    derived_row.run_id,
                                    derived_row.source_record_id
                                ])
                                .map_err(store_err(&db_path))?;
                        }
                    }
                    Ok(())
                });
            disarm_mid_row_copy(tx);
            scanned?;
            if let Some(progress) = &self.options.progress {
                progress.rows_read(summary.rows % 256);
            }
        }
        self.handoff.end_snapshot()?;
        summary.rows_sha256 = hex::encode(rows_hasher.finalize());
        Ok(summary)
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

/// What the scan of the rows found.
#[derive(Debug, Default)]
pub(super) struct ScanSummary {
    pub(super) rows: u64,
    pub(super) payloads_not_json: u64,
    pub(super) frames: u64,
    pub(super) frames_with_uia_docs: u64,
    pub(super) frames_without_uia_docs: u64,
    pub(super) uia_problems: std::collections::BTreeMap<&'static str, u64>,
    pub(super) uia_examples: Vec<IngestWarning>,
    pub(super) refs: u64,
    pub(super) rows_copied: u64,
    pub(super) rows_sha256: String,
}

/// The metadata stores a snapshot is looked up in: the handoff first, then the DataRoot.
struct Stores<'c> {
    handoff: &'c HandoffDb,
    data_root: &'c Connection,
}

impl SnapshotLookup for Stores<'_> {
    fn lookup(&self, record_id: &str) -> Lookup {
        match self.handoff.payload_of(record_id) {
            Ok(Some(bytes)) => return Lookup::Found(bytes),
            Ok(None) => {}
            Err(e) => return Lookup::Failed(e.to_string()),
        }
        let found = self
            .data_root
            .prepare_cached("SELECT payload FROM main.metadata WHERE id = ?1")
            .and_then(|mut stmt| {
                // A payload is kept with its storage class: TEXT or BLOB bytes are the
                // snapshot; anything else cannot be one.
                stmt.query_row([record_id], |row| {
                    Ok(match row.get_ref(0)? {
                        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => bytes.to_vec(),
                        _ => Vec::new(),
                    })
                })
                .optional()
            });
        match found {
            Ok(Some(bytes)) => Lookup::Found(bytes),
            Ok(None) => Lookup::Missing,
            Err(e) => Lookup::Failed(e.to_string()),
        }
    }
}
