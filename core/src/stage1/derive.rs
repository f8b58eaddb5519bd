//! The Stage-1 derived records of one frame (contract §3, §5): the
//! `derived.ingest.stage1.complete` marker when the frame is Stage-1 complete, its three
//! `obs.uia.*` docs, and the `retention.eligible` marker when those docs validate.
//!
//! UIA problems are fail-open: the frame gets no docs and no retention marker, the reason code is
//! reported, and the ingest goes on. Docs are keyed by their snapshot, so frames sharing a
//! snapshot share its docs (first writer wins); a bounded cache avoids rebuilding them.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::contract::{derived_id, run_of, sha256_canonical};
use crate::uia::{
    FallbackFiles, NoDocs, SnapshotLookup, UiaSettings, build_docs, resolve_snapshot, uia_ref,
    validate_doc,
};

pub use crate::store::{FRAME_RECORD_TYPE, RETENTION_RECORD_TYPE, STAGE1_COMPLETE_RECORD_TYPE};
/// Snapshots remembered per ingest; past this the cache starts over (memory stays bounded).
const CACHE_LIMIT: usize = 8192;

/// A derived record ready to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct DerivedRow {
    pub id: String,
    pub record_type: String,
    pub ts_utc: Option<String>,
    pub run_id: String,
    pub payload: String,
    pub source_record_id: String,
}

/// What a frame's UIA derivation came to.
#[derive(Debug, Clone, PartialEq)]
pub enum UiaState {
    /// The frame names no UIA snapshot.
    NoRef,
    /// Docs exist (built now or for an earlier frame of the same snapshot); whether they validate.
    Docs { valid: bool },
    /// No docs: the reason.
    Missing(NoDocs),
}

/// Everything derived for one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameDerivation {
    pub rows: Vec<DerivedRow>,
    pub complete: bool,
    pub uia: UiaState,
}

/// Derives frames one after another, remembering snapshots already turned into docs.
pub struct Deriver {
    settings: UiaSettings,
    fallback_dir: PathBuf,
    fallback: OnceCell<FallbackFiles>,
    /// (uia record id, content hash) → doc validity, or why there are no docs.
    cache: HashMap<(String, String), Result<bool, NoDocs>>,
}

fn nonempty<'v>(value: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

impl Deriver {
    /// `fallback_dir` is the DataRoot's `uia/` folder.
    pub fn new(settings: UiaSettings, fallback_dir: PathBuf) -> Deriver {
        Deriver {
            settings,
            fallback_dir,
            fallback: OnceCell::new(),
            cache: HashMap::new(),
        }
    }

    fn fallback_files(&self) -> FallbackFiles {
        self.fallback
            .get_or_init(|| FallbackFiles {
                snapshot: std::fs::read(self.fallback_dir.join("latest.snap.json")).ok(),
                sidecar: std::fs::read(self.fallback_dir.join("latest.snap.sha256")).ok(),
            })
            .clone()
    }

    /// Derives the records of frame `frame_id` (its payload and the row's columns).
    pub fn frame(
        &mut self,
        frame_id: &str,
        run_col: Option<&str>,
        ts_col: Option<&str>,
        frame: &Value,
        ingested_at: &str,
        lookup: &dyn SnapshotLookup,
    ) -> FrameDerivation {
        let run_id = run_col
            .map(str::to_owned)
            .or_else(|| nonempty(frame, &["run_id"]).map(str::to_owned))
            .unwrap_or_else(|| run_of(frame_id).to_owned());
        let ts_utc = ts_col
            .map(str::to_owned)
            .or_else(|| nonempty(frame, &["ts_utc"]).map(str::to_owned));
        let mut rows = Vec::new();
        let complete =
            match stage1_complete_payload(frame_id, &run_id, ts_utc.as_deref(), frame, ingested_at)
            {
                Some(payload) => {
                    rows.push(DerivedRow {
                        id: derived_id(frame_id, STAGE1_COMPLETE_RECORD_TYPE),
                        record_type: STAGE1_COMPLETE_RECORD_TYPE.into(),
                        ts_utc: ts_utc.clone(),
                        run_id: run_id.clone(),
                        payload,
                        source_record_id: frame_id.to_owned(),
                    });
                    true
                }
                None => false,
            };
        let uia = match uia_ref(frame) {
            None => UiaState::NoRef,
            Some(key) => {
                let cached = self.cache.get(&key).cloned();
                let result = match cached {
                    Some(result) => result,
                    None => {
                        let result = self.build(frame_id, frame, lookup, &mut rows);
                        if self.cache.len() >= CACHE_LIMIT {
                            self.cache.clear();
                        }
                        // A frame's own defect must not deny docs to other frames of the snapshot.
                        let frame_specific =
                            matches!(&result, Err(reason) if reason.code == "frame_dims_missing");
                        if !frame_specific {
                            self.cache.insert(key, result.clone());
                        }
                        result
                    }
                };
                match result {
                    Ok(valid) => UiaState::Docs { valid },
                    Err(reason) => UiaState::Missing(reason),
                }
            }
        };
        if complete && uia == (UiaState::Docs { valid: true }) {
            let payload = json!({
                "schema_version": 1, "record_type": RETENTION_RECORD_TYPE, "run_id": run_id, "ts_utc": ts_utc,
                "source_record_id": frame_id, "source_record_type": FRAME_RECORD_TYPE,
                "reason": "stage1_uia_docs_validated", "eligible": true,
                "stage1_contract_validated": true, "quarantine_pending": false,
            });
            rows.push(DerivedRow {
                id: derived_id(frame_id, RETENTION_RECORD_TYPE),
                record_type: RETENTION_RECORD_TYPE.into(),
                ts_utc,
                run_id,
                payload: payload.to_string(),
                source_record_id: frame_id.to_owned(),
            });
        }
        FrameDerivation {
            rows,
            complete,
            uia,
        }
    }

    /// Resolves the snapshot and builds the three docs into `rows`; their joint validity.
    fn build(
        &self,
        frame_id: &str,
        frame: &Value,
        lookup: &dyn SnapshotLookup,
        rows: &mut Vec<DerivedRow>,
    ) -> Result<bool, NoDocs> {
        let fallback = || self.fallback_files();
        let (snapshot, _) = resolve_snapshot(frame, lookup, &fallback, &self.settings)?;
        let docs = build_docs(frame_id, frame, &snapshot, &self.settings)?;
        let valid = docs.iter().all(|doc| validate_doc(doc, frame).is_ok());
        for doc in docs {
            rows.push(DerivedRow {
                id: doc.id,
                record_type: doc.section.kind().into(),
                ts_utc: doc.payload["ts_utc"].as_str().map(str::to_owned),
                run_id: doc.payload["run_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                payload: doc.payload.to_string(),
                source_record_id: frame_id.to_owned(),
            });
        }
        Ok(valid)
    }
}

/// The payload of the `derived.ingest.stage1.complete` marker, when the frame is Stage-1
/// complete (contract §3): blob and hash present, a `uia_ref` with id and hash, and an input ref.
fn stage1_complete_payload(
    frame_id: &str,
    run_id: &str,
    ts_utc: Option<&str>,
    frame: &Value,
    ingested_at: &str,
) -> Option<String> {
    nonempty(frame, &["blob_path"])?;
    nonempty(frame, &["content_hash"])?;
    let uia_record_id = nonempty(frame, &["uia_ref", "record_id"])?;
    let uia_content_hash = nonempty(frame, &["uia_ref", "content_hash"])?;
    let input_record_id = nonempty(frame, &["input_ref", "record_id"]);
    let input_batch_record_id = nonempty(frame, &["input_batch_ref", "record_id"]);
    if input_record_id.is_none() && input_batch_record_id.is_none() {
        return None;
    }
    let mut marker = json!({
        "schema_version": 1,
        "record_type": STAGE1_COMPLETE_RECORD_TYPE,
        "run_id": run_id,
        "ts_utc": ts_utc,
        "source_record_id": frame_id,
        "source_record_type": FRAME_RECORD_TYPE,
        "reason": "stage1_complete",
        "uia_record_id": uia_record_id,
        "uia_content_hash": uia_content_hash,
        "input_record_id": input_record_id,
        "input_batch_record_id": input_batch_record_id,
        "complete": true,
        "ingested_at_utc": ingested_at,
    });
    let payload_hash = sha256_canonical(&marker).ok()?;
    marker["payload_hash"] = Value::String(payload_hash);
    serde_json::to_string(&marker).ok()
}
