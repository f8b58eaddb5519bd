//! UIA context docs (contract §5): from a frame and its UIA snapshot, three `obs.uia.*` docs
//! (focus path, context peers, operables) with every linkage field, deterministic ids, and the
//! validity rules that gate the retention marker.
//!
//! Everything here is a pure function over values except the snapshot lookup, which is a small
//! trait ([`SnapshotLookup`]) the ingest implements over its real stores. The fallback snapshot
//! (`uia/latest.snap.json`) is passed in as bytes, read by the caller.

use serde_json::{Map, Value, json};

use crate::contract::{rid, run_of, sha256_hex};

pub const SNAPSHOT_RECORD_TYPE: &str = "evidence.uia.snapshot";
pub const PROVIDER_ID: &str = "builtin.processing.sst.uia_context";
pub const STAGE: &str = "index.text";
pub const CONFIDENCE_BP: u64 = 8500;

/// Settings of contract §5.1–§5.2 (defaults as the contract says).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiaSettings {
    pub max_focus_nodes: usize,
    pub max_context_nodes: usize,
    pub max_operable_nodes: usize,
    pub drop_offscreen: bool,
    pub allow_latest_snapshot_fallback: bool,
    pub require_hash_match: bool,
}

impl Default for UiaSettings {
    fn default() -> Self {
        UiaSettings {
            max_focus_nodes: 64,
            max_context_nodes: 96,
            max_operable_nodes: 128,
            drop_offscreen: true,
            allow_latest_snapshot_fallback: true,
            require_hash_match: true,
        }
    }
}

/// The three sections of a snapshot and the doc kind each becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Focus,
    Context,
    Operable,
}

impl Section {
    pub const ALL: [Section; 3] = [Section::Focus, Section::Context, Section::Operable];

    /// The snapshot key holding this section's nodes.
    pub fn snapshot_key(self) -> &'static str {
        match self {
            Section::Focus => "focus_path",
            Section::Context => "context_peers",
            Section::Operable => "operables",
        }
    }

    /// The doc kind, which is also its `record_type`.
    pub fn kind(self) -> &'static str {
        match self {
            Section::Focus => "obs.uia.focus",
            Section::Context => "obs.uia.context",
            Section::Operable => "obs.uia.operable",
        }
    }

    /// The name used in doc ids and `meta.uia_section`.
    pub fn name(self) -> &'static str {
        match self {
            Section::Focus => "focus",
            Section::Context => "context",
            Section::Operable => "operable",
        }
    }

    fn limit(self, settings: &UiaSettings) -> usize {
        match self {
            Section::Focus => settings.max_focus_nodes,
            Section::Context => settings.max_context_nodes,
            Section::Operable => settings.max_operable_nodes,
        }
    }
}

/// The deterministic id of a doc (contract §5.4).
pub fn doc_id(uia_record_id: &str, section: Section) -> String {
    let seed = format!("uia-{uia_record_id}-{}-0", section.name());
    format!(
        "{}/derived.sst.text/extra/{}",
        run_of(uia_record_id),
        rid(&seed)
    )
}

/// What a metadata lookup of a snapshot found.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// The row's payload bytes.
    Found(Vec<u8>),
    Missing,
    Failed(String),
}

/// Finds a snapshot row by record id in the metadata stores.
pub trait SnapshotLookup {
    fn lookup(&self, record_id: &str) -> Lookup;
}

/// The fallback snapshot files, as read by the caller (`None` when absent).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FallbackFiles {
    pub snapshot: Option<Vec<u8>>,
    pub sidecar: Option<Vec<u8>>,
}

/// Where a snapshot came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotSource {
    Metadata,
    Fallback,
}

/// Why a frame got no UIA docs. Each has a stable reason code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoDocs {
    pub code: &'static str,
    pub detail: String,
}

fn no_docs(code: &'static str, detail: impl Into<String>) -> NoDocs {
    NoDocs {
        code,
        detail: detail.into(),
    }
}

/// The frame's `uia_ref` as (record id, content hash), when it names one.
pub fn uia_ref(frame: &Value) -> Option<(String, String)> {
    let reference = frame.get("uia_ref")?;
    let id = reference
        .get("record_id")?
        .as_str()
        .filter(|s| !s.is_empty())?;
    let hash = reference
        .get("content_hash")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Some((id.to_owned(), hash.to_owned()))
}

/// A snapshot payload, unwrapped from `{payload: {...}}` when wrapped.
fn unwrap(value: Value) -> Option<Map<String, Value>> {
    match value {
        Value::Object(mut map) => match map.remove("payload") {
            Some(Value::Object(inner)) if !map.contains_key("record_type") => Some(inner),
            Some(other) => {
                map.insert("payload".into(), other);
                Some(map)
            }
            None => Some(map),
        },
        _ => None,
    }
}

/// Resolves the snapshot of a frame: metadata first; the fallback only when the lookup missed or
/// failed (never when the row was found but is invalid), and only through the hash gate.
pub fn resolve_snapshot(
    frame: &Value,
    lookup: &dyn SnapshotLookup,
    fallback: &dyn Fn() -> FallbackFiles,
    settings: &UiaSettings,
) -> Result<(Map<String, Value>, SnapshotSource), NoDocs> {
    let (ref_id, ref_hash) = uia_ref(frame)
        .ok_or_else(|| no_docs("uia_ref_missing", "the frame names no UIA snapshot"))?;
    let miss = match lookup.lookup(&ref_id) {
        Lookup::Found(bytes) => {
            let snapshot = crate::base::bounded_json::parse(&bytes)
                .ok()
                .and_then(unwrap)
                .ok_or_else(|| {
                    no_docs(
                        "uia_snapshot_invalid",
                        format!("{ref_id}: payload is not a JSON object"),
                    )
                })?;
            check_snapshot(&snapshot, &ref_id, &ref_hash, true)
                .map_err(|d| no_docs("uia_snapshot_invalid", format!("{ref_id}: {d}")))?;
            return Ok((snapshot, SnapshotSource::Metadata));
        }
        Lookup::Missing => format!("{ref_id} is not in the metadata store"),
        Lookup::Failed(reason) => format!("lookup of {ref_id} failed: {reason}"),
    };
    if !settings.allow_latest_snapshot_fallback {
        return Err(no_docs("lookup_failed", miss));
    }
    let files = fallback();
    let bytes = files.snapshot.ok_or_else(|| {
        no_docs(
            "fallback_snapshot_missing",
            format!("{miss}; no uia/latest.snap.json"),
        )
    })?;
    let sidecar = files.sidecar.ok_or_else(|| {
        no_docs(
            "fallback_sidecar_missing",
            format!("{miss}; no uia/latest.snap.sha256"),
        )
    })?;
    let declared = std::str::from_utf8(&sidecar)
        .ok()
        .and_then(|text| text.split_whitespace().next())
        .filter(|token| {
            token.len() == 64
                && token
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
        .ok_or_else(|| {
            no_docs(
                "fallback_sidecar_malformed",
                "the sidecar's first token is not 64 lowercase hex",
            )
        })?;
    let actual = sha256_hex(&bytes);
    if declared != actual {
        return Err(no_docs(
            "fallback_hash_mismatch",
            format!("sidecar says {declared}, file hashes to {actual}"),
        ));
    }
    let snapshot = crate::base::bounded_json::parse(&bytes)
        .ok()
        .and_then(unwrap)
        .ok_or_else(|| {
            no_docs(
                "fallback_parse_failed",
                "uia/latest.snap.json is not a JSON object",
            )
        })?;
    if snapshot.get("record_type").and_then(Value::as_str) != Some(SNAPSHOT_RECORD_TYPE) {
        return Err(no_docs(
            "fallback_record_type_invalid",
            "the fallback is not an evidence.uia.snapshot",
        ));
    }
    if snapshot.get("record_id").and_then(Value::as_str) != Some(ref_id.as_str()) {
        return Err(no_docs(
            "fallback_record_id_mismatch",
            format!("the fallback is not {ref_id}"),
        ));
    }
    if settings.require_hash_match
        && snapshot.get("content_hash").and_then(Value::as_str) != Some(ref_hash.as_str())
    {
        return Err(no_docs(
            "fallback_content_hash_mismatch",
            "the fallback's content_hash differs from the frame's uia_ref",
        ));
    }
    Ok((snapshot, SnapshotSource::Fallback))
}

/// A metadata row is valid for a ref when its type, id and hash agree with the ref.
fn check_snapshot(
    snapshot: &Map<String, Value>,
    ref_id: &str,
    ref_hash: &str,
    require_hash: bool,
) -> Result<(), String> {
    if snapshot.get("record_type").and_then(Value::as_str) != Some(SNAPSHOT_RECORD_TYPE) {
        return Err("record_type is not evidence.uia.snapshot".into());
    }
    if let Some(id) = snapshot.get("record_id").and_then(Value::as_str)
        && id != ref_id
    {
        return Err(format!("record_id {id} differs from the ref"));
    }
    if require_hash && snapshot.get("content_hash").and_then(Value::as_str) != Some(ref_hash) {
        return Err("content_hash differs from the frame's uia_ref".into());
    }
    Ok(())
}

/// The frame's pixel dimensions (`width`/`height`, else `frame_width`/`frame_height`).
pub fn frame_dims(frame: &Value) -> Option<(u64, u64)> {
    let get = |a: &str, b: &str| {
        frame
            .get(a)
            .or_else(|| frame.get(b))
            .and_then(Value::as_u64)
            .filter(|v| *v > 0)
    };
    Some((get("width", "frame_width")?, get("height", "frame_height")?))
}

fn text_of(node: &Map<String, Value>, key: &str) -> String {
    match node.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// Normalises one raw node (contract §5.3), or drops it.
pub fn normalize_node(
    raw: &Value,
    width: u64,
    height: u64,
    settings: &UiaSettings,
) -> Option<Value> {
    let node = raw.as_object()?;
    let offscreen = node
        .get("offscreen")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if offscreen && settings.drop_offscreen {
        return None;
    }
    let rect = node.get("rect")?.as_array()?;
    if rect.len() != 4 {
        return None;
    }
    let mut coords = [0f64; 4];
    for (slot, value) in coords.iter_mut().zip(rect) {
        *slot = value.as_f64().filter(|v| v.is_finite())?;
    }
    let [mut l, mut t, mut r, mut b] = coords.map(|c| c.round());
    if l > r {
        std::mem::swap(&mut l, &mut r);
    }
    if t > b {
        std::mem::swap(&mut t, &mut b);
    }
    let (w, h) = (width as f64, height as f64);
    // Clamped again after the cast: near u64::MAX the f64 dimension rounds above the integer.
    let bbox = [
        (l.clamp(0.0, w) as u64).min(width),
        (t.clamp(0.0, h) as u64).min(height),
        (r.clamp(0.0, w) as u64).min(width),
        (b.clamp(0.0, h) as u64).min(height),
    ];
    // In u128: a coordinate times 10,000 overflows u64 once frames are wider than ~1.8e15 px;
    // the quotient is at most 10,000 since a coordinate never exceeds its dimension.
    let basis_points = |c: u64, dim: u64| (u128::from(c) * 10_000 / u128::from(dim)) as u64;
    let norm = [
        basis_points(bbox[0], width),
        basis_points(bbox[1], height),
        basis_points(bbox[2], width),
        basis_points(bbox[3], height),
    ];
    let mut out = json!({
        "eid": text_of(node, "eid"), "role": text_of(node, "role"), "name": text_of(node, "name"),
        "aid": text_of(node, "aid"), "class": text_of(node, "class"), "bbox": bbox, "bbox_norm_bp": norm,
        "enabled": node.get("enabled").and_then(Value::as_bool).unwrap_or(true), "offscreen": offscreen,
    });
    if let Some(hot) = node.get("hot").and_then(Value::as_bool) {
        out["hot"] = json!(hot);
    }
    Some(out)
}

/// A built doc: its id and payload.
#[derive(Debug, Clone, PartialEq)]
pub struct UiaDoc {
    pub id: String,
    pub section: Section,
    pub payload: Value,
}

/// Builds the three docs of a frame from its snapshot. A frame without dimensions yields none
/// (`frame_dims_missing`); a snapshot without window linkage yields none
/// (`uia_linkage_missing`): such docs could never validate.
pub fn build_docs(
    frame_id: &str,
    frame: &Value,
    snapshot: &Map<String, Value>,
    settings: &UiaSettings,
) -> Result<[UiaDoc; 3], NoDocs> {
    let (width, height) = frame_dims(frame).ok_or_else(|| {
        no_docs(
            "frame_dims_missing",
            format!("{frame_id} has no width/height"),
        )
    })?;
    let (uia_record_id, uia_content_hash) = uia_ref(frame)
        .ok_or_else(|| no_docs("uia_ref_missing", "the frame names no UIA snapshot"))?;
    let window = snapshot.get("window").and_then(Value::as_object);
    let hwnd = snapshot
        .get("hwnd")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let window_title = window
        .and_then(|w| w.get("title"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let window_pid = window
        .and_then(|w| w.get("pid"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if hwnd.is_empty() || window_title.is_empty() || window_pid == 0 {
        return Err(no_docs(
            "uia_linkage_missing",
            format!("{uia_record_id}: hwnd, window title or pid missing"),
        ));
    }
    let run_id = frame
        .get("run_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| run_of(frame_id).to_owned());
    let ts_utc = frame.get("ts_utc").cloned().unwrap_or(Value::Null);
    let source_record_type = frame
        .get("record_type")
        .cloned()
        .unwrap_or_else(|| json!("evidence.capture.frame"));
    let stats = snapshot
        .get("stats")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let build = |section: Section| -> UiaDoc {
        let nodes: Vec<Value> = snapshot
            .get(section.snapshot_key())
            .and_then(Value::as_array)
            .map(|raw| {
                raw.iter()
                    .filter_map(|n| normalize_node(n, width, height, settings))
                    .take(section.limit(settings))
                    .collect()
            })
            .unwrap_or_default();
        let bboxes: Vec<Value> = nodes.iter().map(|n| n["bbox"].clone()).collect();
        let text = json!({"kind": section.kind(), "window_title": window_title, "window_pid": window_pid, "hwnd": hwnd, "nodes": nodes}).to_string();
        UiaDoc {
            id: doc_id(&uia_record_id, section),
            section,
            payload: json!({
                "schema_version": 1, "record_type": section.kind(), "run_id": run_id, "ts_utc": ts_utc,
                "source_record_id": frame_id, "source_record_type": source_record_type, "doc_kind": section.kind(),
                "text": text, "provider_id": PROVIDER_ID, "stage": STAGE, "confidence_bp": CONFIDENCE_BP,
                "bboxes": bboxes, "uia_record_id": uia_record_id, "uia_content_hash": uia_content_hash,
                "hwnd": hwnd, "window_title": window_title, "window_pid": window_pid,
                "meta": {"uia_section": section.name(), "uia_node_count": nodes.len(), "uia_nodes": nodes, "uia_stats": stats},
            }),
        }
    };
    Ok(Section::ALL.map(build))
}

/// Whether a doc validates for a frame (contract §5.4); the reason when it does not.
pub fn validate_doc(doc: &UiaDoc, frame: &Value) -> Result<(), String> {
    let p = &doc.payload;
    let (ref_id, ref_hash) = uia_ref(frame).ok_or("the frame names no UIA snapshot")?;
    if p["record_type"] != doc.section.kind() {
        return Err(format!(
            "record_type {} is not {}",
            p["record_type"],
            doc.section.kind()
        ));
    }
    if p["uia_record_id"] != ref_id.as_str() || p["uia_content_hash"] != ref_hash.as_str() {
        return Err("uia_record_id/uia_content_hash differ from the frame's uia_ref".into());
    }
    if p["hwnd"].as_str().is_none_or(str::is_empty)
        || p["window_title"].as_str().is_none_or(str::is_empty)
    {
        return Err("hwnd or window_title is empty".into());
    }
    if p["window_pid"].as_u64().is_none_or(|pid| pid == 0) {
        return Err("window_pid is not > 0".into());
    }
    let bboxes = p["bboxes"].as_array().ok_or("bboxes is not a list")?;
    for bbox in bboxes {
        let c: Vec<u64> = bbox
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        if c.len() != 4 || c[2] < c[0] || c[3] < c[1] {
            return Err(format!(
                "bbox {bbox} is not [l, t, r, b] with r >= l and b >= t"
            ));
        }
    }
    if doc.section == Section::Focus && bboxes.is_empty() {
        return Err("the focus doc has no bbox".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_ids_fixed_vectors() {
        // seed "uia-run1/evidence.uia.snapshot/0-focus-0"
        assert_eq!(
            doc_id("run1/evidence.uia.snapshot/0", Section::Focus),
            format!(
                "run1/derived.sst.text/extra/{}",
                rid("uia-run1/evidence.uia.snapshot/0-focus-0")
            )
        );
        assert_eq!(
            doc_id("run1/evidence.uia.snapshot/0", Section::Context),
            "run1/derived.sst.text/extra/rid_dWlhLXJ1bjEvZXZpZGVuY2UudWlhLnNuYXBzaG90LzAtY29udGV4dC0w"
        );
        assert_eq!(
            doc_id("loose", Section::Operable),
            "loose/derived.sst.text/extra/rid_dWlhLWxvb3NlLW9wZXJhYmxlLTA"
        );
    }

    #[track_caller]
    fn check(rect: Value, expected: Option<([u64; 4], [u64; 4])>) {
        let settings = UiaSettings::default();
        let node = json!({"eid": "e", "role": "button", "name": "OK", "aid": "ok", "class": "Button", "rect": rect, "enabled": true, "offscreen": false});
        let got = normalize_node(&node, 1000, 500, &settings).map(|n| {
            let bbox: Vec<u64> = n["bbox"]
                .as_array()
                .expect("bbox")
                .iter()
                .filter_map(Value::as_u64)
                .collect();
            let norm: Vec<u64> = n["bbox_norm_bp"]
                .as_array()
                .expect("norm")
                .iter()
                .filter_map(Value::as_u64)
                .collect();
            (bbox, norm)
        });
        assert_eq!(got, expected.map(|(b, n)| (b.to_vec(), n.to_vec())));
    }

    // Regression: a frame with a huge width or height and a node reaching that far overflowed
    // `coordinate * 10_000` in u64 (found by the payload_json property run).
    #[test]
    fn regression_bbox_norm_overflow_on_huge_frame() {
        let settings = UiaSettings::default();
        let node = json!({"eid": "e", "rect": [0, 0, 1e300, 1.8e19]});
        let huge = u64::MAX / 2;
        let out = normalize_node(&node, huge, u64::MAX, &settings).expect("node kept");
        assert_eq!(
            out["bbox"],
            json!([0, 0, huge, 18_000_000_000_000_000_000u64])
        );
        assert_eq!(out["bbox_norm_bp"], json!([0, 0, 10_000, 9_757]));
    }

    #[test]
    fn rect_normalisation() {
        check(
            json!([10, 20, 110, 70]),
            Some(([10, 20, 110, 70], [100, 400, 1100, 1400])),
        );
        check(
            json!([10.4, 20.6, 110.5, 70.49]),
            Some(([10, 21, 111, 70], [100, 420, 1110, 1400])),
        );
        check(
            json!([110, 70, 10, 20]),
            Some(([10, 20, 110, 70], [100, 400, 1100, 1400])),
        );
        check(
            json!([-50, -5, 2000, 900]),
            Some(([0, 0, 1000, 500], [0, 0, 10000, 10000])),
        );
        check(json!([1, 2, 3]), None);
        check(json!([1, 2, 3, "4"]), None);
        check(json!(null), None);
        check(
            json!([1e300, 0, 1e300, 0]),
            Some(([1000, 0, 1000, 0], [10000, 0, 10000, 0])),
        );
    }

    #[test]
    fn offscreen_and_non_objects() {
        let settings = UiaSettings::default();
        assert_eq!(normalize_node(&json!("text"), 10, 10, &settings), None);
        let off = json!({"rect": [0, 0, 1, 1], "offscreen": true});
        assert_eq!(normalize_node(&off, 10, 10, &settings), None);
        let keep = UiaSettings {
            drop_offscreen: false,
            ..UiaSettings::default()
        };
        assert!(normalize_node(&off, 10, 10, &keep).is_some());
    }
}
