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
            let payload = retention_payload(frame_id, &run_id, ts_utc.as_deref());
            rows.push(DerivedRow {
                id: derived_id(frame_id, RETENTION_RECORD_TYPE),
                record_type: RETENTION_RECORD_TYPE.into(),
                ts_utc,
                run_id,
                payload,
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
    let marker = Stage1Marker {
        frame_id,
        run_id,
        ts_utc,
        uia_record_id,
        uia_content_hash,
        input_record_id,
        input_batch_record_id,
        ingested_at,
    };
    // The common case, every string ASCII, is written directly (see `ascii_object`).
    marker.ascii_payload().or_else(|| marker.payload())
}

/// The fields of a `derived.ingest.stage1.complete` marker that vary.
struct Stage1Marker<'a> {
    frame_id: &'a str,
    run_id: &'a str,
    ts_utc: Option<&'a str>,
    uia_record_id: &'a str,
    uia_content_hash: &'a str,
    input_record_id: Option<&'a str>,
    input_batch_record_id: Option<&'a str>,
    ingested_at: &'a str,
}

impl Stage1Marker<'_> {
    /// The payload, `payload_hash` over its canonical JSON, through `serde_json`.
    fn payload(&self) -> Option<String> {
        let mut marker = json!({
            "schema_version": 1,
            "record_type": STAGE1_COMPLETE_RECORD_TYPE,
            "run_id": self.run_id,
            "ts_utc": self.ts_utc,
            "source_record_id": self.frame_id,
            "source_record_type": FRAME_RECORD_TYPE,
            "reason": "stage1_complete",
            "uia_record_id": self.uia_record_id,
            "uia_content_hash": self.uia_content_hash,
            "input_record_id": self.input_record_id,
            "input_batch_record_id": self.input_batch_record_id,
            "complete": true,
            "ingested_at_utc": self.ingested_at,
        });
        let payload_hash = sha256_canonical(&marker).ok()?;
        marker["payload_hash"] = Value::String(payload_hash);
        serde_json::to_string(&marker).ok()
    }

    /// The same bytes as [`Stage1Marker::payload`], written directly when every string is
    /// ASCII; `None` otherwise.
    fn ascii_payload(&self) -> Option<String> {
        let mut fields = vec![
            ("schema_version", Field::Int(1)),
            ("record_type", Field::Str(Some(STAGE1_COMPLETE_RECORD_TYPE))),
            ("run_id", Field::Str(Some(self.run_id))),
            ("ts_utc", Field::Str(self.ts_utc)),
            ("source_record_id", Field::Str(Some(self.frame_id))),
            ("source_record_type", Field::Str(Some(FRAME_RECORD_TYPE))),
            ("reason", Field::Str(Some("stage1_complete"))),
            ("uia_record_id", Field::Str(Some(self.uia_record_id))),
            ("uia_content_hash", Field::Str(Some(self.uia_content_hash))),
            ("input_record_id", Field::Str(self.input_record_id)),
            (
                "input_batch_record_id",
                Field::Str(self.input_batch_record_id),
            ),
            ("complete", Field::Bool(true)),
            ("ingested_at_utc", Field::Str(Some(self.ingested_at))),
        ];
        let canonical = ascii_object(&mut fields)?;
        let payload_hash = crate::contract::sha256_hex(canonical.as_bytes());
        fields.push(("payload_hash", Field::Str(Some(&payload_hash))));
        ascii_object(&mut fields)
    }
}

/// The payload of the `retention.eligible` marker (contract §3).
fn retention_payload(frame_id: &str, run_id: &str, ts_utc: Option<&str>) -> String {
    ascii_retention_payload(frame_id, run_id, ts_utc).unwrap_or_else(|| {
        json!({
            "schema_version": 1, "record_type": RETENTION_RECORD_TYPE, "run_id": run_id, "ts_utc": ts_utc,
            "source_record_id": frame_id, "source_record_type": FRAME_RECORD_TYPE,
            "reason": "stage1_uia_docs_validated", "eligible": true,
            "stage1_contract_validated": true, "quarantine_pending": false,
        })
        .to_string()
    })
}

/// [`retention_payload`] written directly when every string is ASCII; `None` otherwise.
fn ascii_retention_payload(frame_id: &str, run_id: &str, ts_utc: Option<&str>) -> Option<String> {
    let mut fields = vec![
        ("schema_version", Field::Int(1)),
        ("record_type", Field::Str(Some(RETENTION_RECORD_TYPE))),
        ("run_id", Field::Str(Some(run_id))),
        ("ts_utc", Field::Str(ts_utc)),
        ("source_record_id", Field::Str(Some(frame_id))),
        ("source_record_type", Field::Str(Some(FRAME_RECORD_TYPE))),
        ("reason", Field::Str(Some("stage1_uia_docs_validated"))),
        ("eligible", Field::Bool(true)),
        ("stage1_contract_validated", Field::Bool(true)),
        ("quarantine_pending", Field::Bool(false)),
    ];
    ascii_object(&mut fields)
}

/// A value of a Stage-1 marker field: the few kinds the markers hold.
#[derive(Debug, Clone, Copy)]
enum Field<'a> {
    /// A string, or `null`.
    Str(Option<&'a str>),
    Bool(bool),
    Int(i64),
}

/// The compact JSON of the object `fields` (keys sorted): byte for byte what `serde_json`
/// writes for the same object (its maps keep keys sorted, and it escapes `"`, `\` and control
/// characters as written here) and, since every string is ASCII and so already NFC, its
/// canonical JSON (contract §8). `None` when a string is not ASCII: the caller then takes the
/// general path.
fn ascii_object(fields: &mut [(&str, Field<'_>)]) -> Option<String> {
    fields.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut out = String::with_capacity(640);
    out.push('{');
    for (index, (key, value)) in fields.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        ascii_string(key, &mut out)?;
        out.push(':');
        match value {
            Field::Str(Some(text)) => ascii_string(text, &mut out)?,
            Field::Str(None) => out.push_str("null"),
            Field::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
            Field::Int(number) => out.push_str(&number.to_string()),
        }
    }
    out.push('}');
    Some(out)
}

/// Writes the ASCII `text` as a JSON string (`None` when it is not ASCII): `"` and `\`
/// escaped, `\b \t \n \f \r` by name, other control characters as lowercase `\u00xx`.
fn ascii_string(text: &str, out: &mut String) -> Option<()> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    if !text.is_ascii() {
        return None;
    }
    out.push('"');
    let mut plain = 0;
    for (index, byte) in text.bytes().enumerate() {
        let escaped: &str = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            b'\t' => "\\t",
            b'\n' => "\\n",
            0x0c => "\\f",
            b'\r' => "\\r",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&text[plain..index]);
        plain = index + 1;
        if escaped.is_empty() {
            out.push_str("\\u00");
            out.push(HEX[usize::from(byte >> 4)] as char);
            out.push(HEX[usize::from(byte & 0xf)] as char);
        } else {
            out.push_str(escaped);
        }
    }
    out.push_str(&text[plain..]);
    out.push('"');
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Strings that exercise every escape, and ones that must take the general path.
    const TEXTS: &[&str] = &[
        "run1/evidence.capture.frame/10",
        "",
        "quote \" back\\slash / slash",
        "\u{0}\u{1}\u{7}\u{8}\t\n\u{b}\u{c}\r\u{1f} \u{7f}",
        "2026-02-20T09:00:00.123456Z",
        "caf\u{e9}",
        "cafe\u{301}",
        "\u{1f600}",
    ];

    #[test]
    fn the_ascii_markers_are_byte_for_byte_the_serde_json_ones() {
        for text in TEXTS {
            for ts in [None, Some(*text)] {
                for (input, batch) in [(Some(*text), None), (None, Some(*text))] {
                    let marker = Stage1Marker {
                        frame_id: text,
                        run_id: text,
                        ts_utc: ts,
                        uia_record_id: text,
                        uia_content_hash: "ab",
                        input_record_id: input,
                        input_batch_record_id: batch,
                        ingested_at: "2026-12-04T00:00:00Z",
                    };
                    let general = marker.payload().expect("general");
                    match marker.ascii_payload() {
                        Some(ascii) => assert_eq!(ascii, general, "{text:?}"),
                        None => assert!(!text.is_ascii(), "{text:?} is ASCII"),
                    }
                    let retention = retention_payload(text, text, ts);
                    let expected = json!({
                        "schema_version": 1, "record_type": RETENTION_RECORD_TYPE, "run_id": text,
                        "ts_utc": ts, "source_record_id": text,
                        "source_record_type": FRAME_RECORD_TYPE,
                        "reason": "stage1_uia_docs_validated", "eligible": true,
                        "stage1_contract_validated": true, "quarantine_pending": false,
                    })
                    .to_string();
                    assert_eq!(retention, expected, "{text:?}");
                    assert_eq!(
                        ascii_retention_payload(text, text, ts).is_some(),
                        text.is_ascii()
                    );
                }
            }
        }
    }

    #[test]
    fn the_payload_hash_is_over_the_canonical_marker_without_it() {
        let marker = Stage1Marker {
            frame_id: "run1/evidence.capture.frame/0",
            run_id: "run1",
            ts_utc: Some("2026-02-20T09:00:00Z"),
            uia_record_id: "run1/evidence.uia.snapshot/0",
            uia_content_hash: "ab",
            input_record_id: Some("run1/evidence.input.batch/0"),
            input_batch_record_id: None,
            ingested_at: "2026-12-04T00:00:00Z",
        };
        let mut payload: Value =
            serde_json::from_str(&marker.ascii_payload().expect("ascii")).expect("json");
        let hash = payload
            .as_object_mut()
            .and_then(|map| map.remove("payload_hash"))
            .expect("payload_hash");
        assert_eq!(hash, json!(sha256_canonical(&payload).expect("canonical")));
    }
}
