//! UIA docs through the real Stage 1 on generated handoffs: metadata wins over the fallback, the
//! fallback is used only on a lookup miss and only through its hash gate, each fallback failure
//! gives its reason code without stopping the ingest, doc ids are stable across DataRoots, and a
//! frame without dimensions is reported rather than clamped.

use std::fs;
use std::path::{Path, PathBuf};

use autocapture_core::base::clock::SteppingClock;
use autocapture_core::contract::sha256_hex;
use autocapture_core::stage1::ingest::{IngestOptions, IngestReport, ingest_handoff};
use autocapture_core::stage1::marker::{self, MarkerState};
use autocapture_core::store::DataRoot;
use autocapture_core::uia::{Section, doc_id};
use autocapture_gates::corpus::digest::table_digest;
use rusqlite::Connection;
use serde_json::{Value, json};
use time::macros::datetime;

struct Setup {
    dir: tempfile::TempDir,
    handoff: PathBuf,
    data: DataRoot,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_, mut handoffs) =
        autocapture_gates::corpus::build::spool(dir.path(), 4, 90, 1).expect("spool");
    let handoff = handoffs.remove(0);
    let data = DataRoot::new(dir.path().join("data"));
    Setup { dir, handoff, data }
}

fn ingest(handoff: &Path, data: &DataRoot) -> IngestReport {
    let clock = SteppingClock::new(
        datetime!(2026-02-21 08:00:00 UTC),
        time::Duration::milliseconds(1),
    );
    let report = ingest_handoff(handoff, data, &IngestOptions::default(), &clock)
        .expect("UIA problems never fail the ingest");
    assert!(matches!(marker::read(handoff), MarkerState::Valid(_)));
    report
}

/// The id and payload of the snapshot that the first frame (by id) references.
fn first_snapshot(handoff: &Path) -> (String, Value) {
    let conn = Connection::open(handoff.join("metadata.db")).expect("open");
    let frame: String = conn
        .query_row("SELECT payload FROM metadata WHERE record_type = 'evidence.capture.frame' AND payload LIKE '%uia_ref%' ORDER BY id LIMIT 1", [], |r| r.get(0))
        .expect("frame");
    let frame: Value = serde_json::from_str(&frame).expect("json");
    let id = frame["uia_ref"]["record_id"]
        .as_str()
        .expect("ref")
        .to_owned();
    let payload: String = conn
        .query_row("SELECT payload FROM metadata WHERE id = ?1", [&id], |r| {
            r.get(0)
        })
        .expect("snapshot");
    (id, serde_json::from_str(&payload).expect("json"))
}

fn frames_referencing(handoff: &Path, snapshot_id: &str) -> u64 {
    let conn = Connection::open(handoff.join("metadata.db")).expect("open");
    conn.query_row(
        "SELECT count(*) FROM metadata WHERE record_type = 'evidence.capture.frame' AND json_extract(payload, '$.uia_ref.record_id') = ?1",
        [snapshot_id],
        |r| r.get(0),
    )
    .expect("count")
}

fn delete_row(handoff: &Path, id: &str) {
    let conn = Connection::open(handoff.join("metadata.db")).expect("open");
    assert_eq!(
        conn.execute("DELETE FROM metadata WHERE id = ?1", [id])
            .expect("delete"),
        1
    );
}

fn write_fallback(data: &DataRoot, snapshot: &[u8], sidecar: Option<&str>) {
    let dir = data.root.join("uia");
    fs::create_dir_all(&dir).expect("mkdir");
    fs::write(dir.join("latest.snap.json"), snapshot).expect("write");
    if let Some(sidecar) = sidecar {
        fs::write(dir.join("latest.snap.sha256"), sidecar).expect("write");
    }
}

/// The focus doc of `snapshot_id` in the DataRoot, if any.
fn focus_doc(data: &DataRoot, snapshot_id: &str) -> Option<Value> {
    let conn = Connection::open(data.derived_db()).ok()?;
    let id = doc_id(snapshot_id, Section::Focus);
    conn.query_row("SELECT payload FROM derived WHERE id = ?1", [id], |r| {
        r.get::<_, String>(0)
    })
    .ok()
    .and_then(|p| serde_json::from_str(&p).ok())
}

#[test]
fn metadata_wins_over_a_valid_fallback() {
    let s = setup();
    let (id, snapshot) = first_snapshot(&s.handoff);
    let mut decoy = snapshot.clone();
    decoy["window"]["title"] = json!("DECOY TITLE FROM THE FALLBACK");
    let bytes = serde_json::to_vec(&decoy).expect("json");
    write_fallback(
        &s.data,
        &bytes,
        Some(&format!("{}  latest.snap.json\n", sha256_hex(&bytes))),
    );
    let report = ingest(&s.handoff, &s.data);
    assert!(report.uia_problems.is_empty(), "{:?}", report.uia_problems);
    let doc = focus_doc(&s.data, &id).expect("focus doc");
    assert_eq!(doc["window_title"], snapshot["window"]["title"]);
}

#[test]
fn the_fallback_serves_a_lookup_miss_through_the_hash_gate() {
    let s = setup();
    let (id, snapshot) = first_snapshot(&s.handoff);
    delete_row(&s.handoff, &id);
    let bytes = serde_json::to_vec(&snapshot).expect("json");
    write_fallback(&s.data, &bytes, Some(&sha256_hex(&bytes)));
    let report = ingest(&s.handoff, &s.data);
    assert!(report.uia_problems.is_empty(), "{:?}", report.uia_problems);
    let doc = focus_doc(&s.data, &id).expect("docs built from the fallback");
    assert_eq!(doc["uia_record_id"], id.as_str());
    assert_eq!(report.counts.stage1_uia_frames_missing_count, 0);
}

/// Deletes the first snapshot's row, sets up the fallback with `prepare`, and expects every frame
/// of that snapshot to be reported under `code` while the ingest completes.
#[track_caller]
fn check_fallback_failure(prepare: impl FnOnce(&DataRoot, &Value), code: &str) {
    let s = setup();
    let (id, snapshot) = first_snapshot(&s.handoff);
    let frames = frames_referencing(&s.handoff, &id);
    delete_row(&s.handoff, &id);
    prepare(&s.data, &snapshot);
    let report = ingest(&s.handoff, &s.data);
    assert_eq!(
        report.uia_problems.get(code).copied(),
        Some(frames),
        "{:?}",
        report.uia_problems
    );
    assert_eq!(report.uia_problems.len(), 1, "{:?}", report.uia_problems);
    assert_eq!(report.counts.stage1_uia_frames_missing_count, frames);
    assert!(report.warnings.iter().any(|w| w.code == code));
    assert!(focus_doc(&s.data, &id).is_none(), "no docs for {code}");
    assert!(report.counts.stage1_missing_retention_marker_count >= frames - 1);
}

#[test]
fn fallback_missing() {
    check_fallback_failure(|_, _| {}, "fallback_snapshot_missing");
}

#[test]
fn fallback_without_sidecar() {
    check_fallback_failure(
        |data, snap| write_fallback(data, &serde_json::to_vec(snap).expect("json"), None),
        "fallback_sidecar_missing",
    );
}

#[test]
fn fallback_with_malformed_sidecar() {
    check_fallback_failure(
        |data, snap| {
            write_fallback(
                data,
                &serde_json::to_vec(snap).expect("json"),
                Some("not-a-hash"),
            )
        },
        "fallback_sidecar_malformed",
    );
}

#[test]
fn fallback_hash_mismatch() {
    check_fallback_failure(
        |data, snap| {
            write_fallback(
                data,
                &serde_json::to_vec(snap).expect("json"),
                Some(&sha256_hex(b"other bytes")),
            )
        },
        "fallback_hash_mismatch",
    );
}

#[test]
fn fallback_that_does_not_parse() {
    check_fallback_failure(
        |data, _| write_fallback(data, b"{truncated", Some(&sha256_hex(b"{truncated"))),
        "fallback_parse_failed",
    );
}

#[test]
fn fallback_of_the_wrong_record_type() {
    check_fallback_failure(
        |data, snap| {
            let mut wrong = snap.clone();
            wrong["record_type"] = json!("evidence.window.meta");
            let bytes = serde_json::to_vec(&wrong).expect("json");
            write_fallback(data, &bytes, Some(&sha256_hex(&bytes)));
        },
        "fallback_record_type_invalid",
    );
}

#[test]
fn fallback_of_another_snapshot() {
    check_fallback_failure(
        |data, snap| {
            let mut other = snap.clone();
            other["record_id"] = json!("run1/evidence.uia.snapshot/999999");
            let bytes = serde_json::to_vec(&other).expect("json");
            write_fallback(data, &bytes, Some(&sha256_hex(&bytes)));
        },
        "fallback_record_id_mismatch",
    );
}

#[test]
fn fallback_whose_content_hash_differs() {
    check_fallback_failure(
        |data, snap| {
            let mut other = snap.clone();
            other["content_hash"] = json!("0".repeat(64));
            let bytes = serde_json::to_vec(&other).expect("json");
            write_fallback(data, &bytes, Some(&sha256_hex(&bytes)));
        },
        "fallback_content_hash_mismatch",
    );
}

#[test]
fn an_invalid_row_never_falls_back() {
    let s = setup();
    let (id, snapshot) = first_snapshot(&s.handoff);
    let frames = frames_referencing(&s.handoff, &id);
    let conn = Connection::open(s.handoff.join("metadata.db")).expect("open");
    conn.execute(
        "UPDATE metadata SET payload = json_set(payload, '$.content_hash', ?2) WHERE id = ?1",
        (&id, "f".repeat(64)),
    )
    .expect("update");
    let bytes = serde_json::to_vec(&snapshot).expect("json");
    write_fallback(&s.data, &bytes, Some(&sha256_hex(&bytes)));
    let report = ingest(&s.handoff, &s.data);
    assert_eq!(
        report.uia_problems.get("uia_snapshot_invalid").copied(),
        Some(frames),
        "{:?}",
        report.uia_problems
    );
    assert!(
        focus_doc(&s.data, &id).is_none(),
        "a valid fallback must not replace an invalid row"
    );
}

#[test]
fn a_frame_without_dimensions_is_reported_not_clamped() {
    let s = setup();
    let conn = Connection::open(s.handoff.join("metadata.db")).expect("open");
    // A snapshot shared by several frames; the first of them (by id) loses its dimensions.
    let (id, frames): (String, u64) = conn
        .query_row(
            "SELECT json_extract(payload, '$.uia_ref.record_id') AS r, count(*) AS c FROM metadata
             WHERE record_type = 'evidence.capture.frame' AND r IS NOT NULL GROUP BY r HAVING c > 1 ORDER BY r LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("a shared snapshot");
    assert!(frames > 1);
    let changed = conn
        .execute(
            "UPDATE metadata SET payload = json_remove(payload, '$.width', '$.height') WHERE id = (SELECT min(id) FROM metadata
             WHERE record_type = 'evidence.capture.frame' AND json_extract(payload, '$.uia_ref.record_id') = ?1)",
            [&id],
        )
        .expect("update");
    assert_eq!(changed, 1);
    let report = ingest(&s.handoff, &s.data);
    assert_eq!(
        report.uia_problems.get("frame_dims_missing").copied(),
        Some(1),
        "{:?}",
        report.uia_problems
    );
    assert_eq!(report.counts.stage1_uia_frames_missing_count, 1);
    let doc = focus_doc(&s.data, &id).expect("the snapshot's other frames still get its docs");
    assert!(
        doc["bboxes"].as_array().is_some_and(|b| !b.is_empty()),
        "built with real dimensions, not 1x1"
    );
}

#[test]
fn doc_ids_and_docs_are_stable_across_data_roots() {
    let s = setup();
    let (id, _) = first_snapshot(&s.handoff);
    let report = ingest(&s.handoff, &s.data);
    assert!(report.counts.stage1_uia_docs_inserted > 0);
    let other = DataRoot::new(s.dir.path().join("other"));
    ingest(&s.handoff, &other);
    let docs = |data: &DataRoot| {
        let conn = Connection::open(data.derived_db()).expect("open");
        let mut stmt = conn
            .prepare(
                "SELECT id, payload FROM derived WHERE record_type LIKE 'obs.uia.%' ORDER BY id",
            )
            .expect("q");
        stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .expect("rows")
            .collect::<Result<Vec<_>, _>>()
            .expect("rows")
    };
    assert_eq!(
        docs(&s.data),
        docs(&other),
        "same docs, same ids, byte for byte"
    );
    assert!(
        focus_doc(&s.data, &id).is_some(),
        "the id recipe of contract §5.4 names the stored doc"
    );
    // Re-ingest inserts no doc twice (first writer wins).
    let before = table_digest(
        &s.data.derived_db(),
        "derived",
        "id, record_type, ts_utc, payload, run_id, source_record_id",
    )
    .expect("digest");
    let again = ingest(&s.handoff, &s.data);
    assert_eq!(again.counts.stage1_uia_docs_inserted, 0);
    assert_eq!(
        again.counts.stage1_retention_marked_records, report.counts.stage1_retention_marked_records,
        "re-runs count existing markers"
    );
    let after = table_digest(
        &s.data.derived_db(),
        "derived",
        "id, record_type, ts_utc, payload, run_id, source_record_id",
    )
    .expect("digest");
    assert_eq!(before, after);
}
