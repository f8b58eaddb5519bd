//! The read side of the Stage-1 scan: every row of the handoff read once, inside one read
//! snapshot. Each row is digested, its payload parsed, its media refs normalised and its
//! Stage-1 records derived; the row goes on, in id order, to the copy into the DataRoot
//! (`copy`). An error goes on the same way, in its place among the rows, so the first failure
//! in row order is the one reported.

use std::sync::Arc;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{FRAME_RECORD_TYPE, IngestOptions, IngestWarning};
use crate::base::pace::{Pacer, pace};
use crate::handoff::{HandoffDb, HandoffRow, MediaRef, RowValues, media_refs, normalize_media_ref};
use crate::stage1::derive::{DerivedRow, Deriver, UiaState};
use crate::stage1::error::IngestError;
use crate::store::DataRoot;
use crate::uia::{Lookup, SnapshotLookup};

/// One row on its way to the copy, or the failure that ends the scan there.
pub(super) enum Scanned {
    Row(Box<ScannedRow>),
    Failed(IngestError),
}

/// A handoff row as the copy needs it.
pub(super) struct ScannedRow {
    pub(super) id: String,
    pub(super) values: RowValues,
    /// Its media refs: (normalised relpath, the sha256 its frame declares for it).
    pub(super) refs: Vec<(String, Option<String>)>,
    /// The Stage-1 records derived from it (a frame's markers and UIA docs).
    pub(super) derived: Vec<DerivedRow>,
    /// A frame row whose id the previous frame row had (a table without a key may repeat one;
    /// its values must then equal the first copy's): its markers are counted with the first.
    pub(super) repeated: bool,
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
    /// This handoff's frames with a `derived.ingest.stage1.complete` marker in the DataRoot.
    pub(super) stage1_complete: u64,
    /// This handoff's frames with a `retention.eligible` marker in the DataRoot.
    pub(super) retention_marked: u64,
    /// `obs.uia.*` docs this run added.
    pub(super) uia_docs_inserted: u64,
    pub(super) rows_sha256: String,
}

/// Where the read side works: the handoff, the DataRoot (its evidence, for UIA snapshots the
/// handoff lacks, through the ingest's connection) and the options.
pub(super) struct ReadPlan<'a> {
    pub(super) handoff: &'a HandoffDb,
    pub(super) data_root: &'a DataRoot,
    pub(super) conn: &'a Connection,
    pub(super) options: &'a IngestOptions,
    pub(super) pacer: Option<&'a Arc<Pacer>>,
    pub(super) ingested_at: &'a str,
}

/// Reads every row of the handoff in id order and hands each to `copy`, which answers whether
/// it takes more; returns what it found (the copy fills in its own counts). Stops at the first
/// failure, which it hands on too, or when the copy has stopped taking rows.
pub(super) fn read_rows(plan: ReadPlan<'_>, copy: &mut dyn FnMut(Scanned) -> bool) -> ScanSummary {
    let options = plan.options;
    let handoff = plan.handoff;
    let mut summary = ScanSummary::default();
    let mut rows_hasher = Sha256::new();
    let mut deriver = Deriver::new(options.uia.clone(), plan.data_root.root.join("uia"));
    let stores = Stores {
        handoff,
        data_root: plan.conn,
    };
    let mut previous_frame: Option<String> = None;
    // The copy stopped taking rows (it failed): nothing more to send.
    let mut send = |scanned: Scanned| {
        if copy(scanned) {
            Ok(())
        } else {
            Err(ScanStop::Stopped)
        }
    };
    let scanned = handoff.for_each_row(|_, row| -> Result<(), ScanStop> {
        summary.rows += 1;
        if summary.rows % 256 == 0 {
            pace(plan.pacer);
            if let Some(progress) = &options.progress {
                progress.rows_read(256);
            }
        }
        rows_hasher.update(row.id.as_bytes());
        rows_hasher.update(b"\t");
        rows_hasher.update(row.values.sha256_hex().as_bytes());
        rows_hasher.update(b"\n");
        let parsed = row.payload_object();
        let HandoffRow {
            id,
            record_type,
            ts_utc,
            run_id,
            values,
        } = row;
        let mut scanned = ScannedRow {
            id,
            values,
            refs: Vec::new(),
            derived: Vec::new(),
            repeated: false,
        };
        let Some(payload) = parsed else {
            summary.payloads_not_json += 1;
            return send(Scanned::Row(Box::new(scanned)));
        };
        let payload = Value::Object(payload);
        let record_type = record_type.or_else(|| {
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
            let relpath = match normalize_media_ref(&raw) {
                Ok(relpath) => relpath,
                Err(reason) => {
                    // The row is copied (and checked against the DataRoot) before its refs
                    // are judged.
                    let record_id = scanned.id.clone();
                    send(Scanned::Row(Box::new(scanned)))?;
                    return Err(ScanStop::Failed(IngestError::MediaRefUnsafe {
                        record_id,
                        raw: raw.chars().take(200).collect(),
                        reason,
                    }));
                }
            };
            // A frame's content_hash describes its own blob, named by `blob_path`.
            let expected = if is_frame && key.eq_ignore_ascii_case("blob_path") {
                declared.clone()
            } else {
                None
            };
            scanned.refs.push((relpath, expected));
            summary.refs += 1;
        }
        if is_frame {
            summary.frames += 1;
            scanned.repeated = previous_frame.as_deref() == Some(scanned.id.as_str());
            let derived = deriver.frame(
                &scanned.id,
                run_id.as_deref(),
                ts_utc.as_deref(),
                &payload,
                plan.ingested_at,
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
                            detail: format!("frame {}: {}", scanned.id, reason.detail),
                        });
                    }
                }
            }
            scanned.derived = derived.rows;
            previous_frame = Some(scanned.id.clone());
        }
        send(Scanned::Row(Box::new(scanned)))
    });
    match scanned {
        Ok(_) => {
            if let Some(progress) = &options.progress {
                progress.rows_read(summary.rows % 256);
            }
        }
        Err(ScanStop::Failed(error)) => {
            let _ = send(Scanned::Failed(error));
        }
        Err(ScanStop::Stopped) => {}
    }
    summary.rows_sha256 = hex::encode(rows_hasher.finalize());
    summary
}

/// Why the read side stopped early.
enum ScanStop {
    /// A failure, in its place among the rows.
    Failed(IngestError),
    /// The copy stopped taking rows.
    Stopped,
}

impl From<crate::handoff::HandoffError> for ScanStop {
    fn from(error: crate::handoff::HandoffError) -> Self {
        ScanStop::Failed(error.into())
    }
}

/// The metadata stores a snapshot is looked up in: the handoff first, then the DataRoot
/// (through the ingest's connection, inside its transaction).
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
