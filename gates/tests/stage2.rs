//! Stage 2 on a real ingested DataRoot: it refuses to run unless a fresh signal says idle, makes
//! every Stage-1-complete frame searchable, stops within one frame when the signal goes stale,
//! resumes without duplicates, writes a valid processing trace, and the completeness audit agrees.

use std::fs;
use std::path::Path;

use autocapture_core::base::clock::SteppingClock;
use autocapture_core::contract::sha256_file;
use autocapture_core::stage1::completeness;
use autocapture_core::stage2::{Stage2Options, Stage2Report, Stage2State, run_stage2, stage2_db};
use autocapture_core::store::DataRoot;
use autocapture_gates::contract::{default_contracts_dir, schemas::ContractSet};
use rusqlite::Connection;
use serde_json::Value;
use time::OffsetDateTime;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-02-21 02:00:00 UTC);

struct Setup {
    _dir: tempfile::TempDir,
    data: DataRoot,
    truth: Value,
}

/// A DataRoot holding a whole generated corpus.
fn setup(frames: u64) -> Setup {
    let dir = tempfile::tempdir().expect("temp dir");
    let (data, truth) = autocapture_gates::corpus::build::ingested(dir.path(), 8, frames, 2)
        .expect("ingested DataRoot");
    Setup {
        _dir: dir,
        data,
        truth,
    }
}

fn write_signal(data: &DataRoot, body: &str) {
    fs::write(data.root.join("activity_signal.json"), body).expect("write signal");
}

fn idle_signal(ts: &str) -> String {
    format!(r#"{{"ts_utc": "{ts}", "idle_seconds": 900, "user_active": false}}"#)
}

fn run(data: &DataRoot, step_ms: i64) -> Stage2Report {
    let clock = SteppingClock::new(NOW, time::Duration::milliseconds(step_ms));
    let options = Stage2Options {
        activity_signal: None,
        fresh_seconds: 5,
        gate_override: Default::default(),
    };
    run_stage2(data, &options, &clock).expect("stage 2 runs")
}

fn count(db: &Path, sql: &str) -> u64 {
    Connection::open(db)
        .expect("open")
        .query_row(sql, [], |r| r.get::<_, i64>(0))
        .expect("count") as u64
}

fn complete_frames(data: &DataRoot) -> u64 {
    count(
        &data.derived_db(),
        "SELECT count(*) FROM derived WHERE record_type = 'derived.ingest.stage1.complete'",
    )
}

/// The entries of `after` that differ from `before` (added, removed or changed), by path.
fn changed(
    before: &std::collections::BTreeMap<String, String>,
    after: &std::collections::BTreeMap<String, String>,
) -> Vec<String> {
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .cloned()
        .collect()
}

/// Every file under `root` with its sha256, by relative path; SQLite's housekeeping left out,
/// as the query-readonly gate does: the shared-memory index (`-shm`) and an empty write-ahead
/// log (a reader closing last removes it).
fn files(root: &Path) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            let rel = path.strip_prefix(root).expect("under root");
            if path.is_dir() {
                stack.push(path.clone());
            } else {
                let name = rel.to_string_lossy();
                let empty = fs::metadata(&path).is_ok_and(|m| m.len() == 0);
                if name.ends_with("-shm") || (name.ends_with("-wal") && empty) {
                    continue;
                }
                out.insert(name.into_owned(), sha256_file(&path).expect("hash").0);
            }
        }
    }
    out
}

#[track_caller]
fn check_refused(signal: Option<&str>, reason: &str) {
    let s = setup(60);
    if let Some(body) = signal {
        write_signal(&s.data, body);
    }
    // Fail closed: the gate is read first, and nothing is created, locked or written.
    let before = files(&s.data.root);
    let report = run(&s.data, 1);
    assert_eq!(report.state, Stage2State::PausedActive);
    assert_eq!(report.activity.reason, reason, "{}", report.activity.detail);
    assert_eq!(report.frames_processed, 0);
    assert!(!stage2_db(&s.data).exists(), "the index was created");
    assert_eq!(changed(&before, &files(&s.data.root)), Vec::<String>::new());
    assert_eq!(report.frames_searchable, 0);
    assert_eq!(report.frames_pending, complete_frames(&s.data));
}

/// After an idle run indexed part of the DataRoot, a run under a non-idle signal changes
/// nothing and reports what the index already holds.
#[test]
fn a_refused_run_after_a_partial_one_reports_the_index_and_changes_nothing() {
    let s = setup(60);
    write_signal(&s.data, &idle_signal("2026-02-21T02:00:00Z"));
    let first = run(&s.data, 1);
    assert_eq!(first.state, Stage2State::Completed);
    std::fs::remove_file(s.data.root.join("activity_signal.json")).expect("remove the signal");
    let before = files(&s.data.root);
    let refused = run(&s.data, 1);
    assert_eq!(refused.state, Stage2State::PausedActive);
    assert_eq!(refused.activity.reason, "signal_missing");
    assert_eq!(changed(&before, &files(&s.data.root)), Vec::<String>::new());
    assert_eq!(refused.frames_searchable, first.frames_searchable);
    assert_eq!(refused.frames_pending, first.frames_pending);
    assert_eq!(refused.watermark, first.watermark);
}

#[test]
fn refuses_without_a_signal() {
    check_refused(None, "signal_missing");
}

#[test]
fn refuses_with_a_stale_signal() {
    check_refused(Some(&idle_signal("2026-02-21T01:59:00Z")), "signal_stale");
}

#[test]
fn refuses_with_a_corrupt_signal() {
    check_refused(
        Some("{\"ts_utc\": \"2026-02-21T02:00:00Z\", \"idle_seconds\": \"a lot\"}"),
        "signal_invalid",
    );
}

#[test]
fn refuses_while_the_user_is_active() {
    check_refused(
        Some(r#"{"ts_utc": "2026-02-21T02:00:00Z", "idle_seconds": 0, "user_active": true}"#),
        "user_active",
    );
}

#[test]
fn every_stage1_complete_frame_becomes_searchable() {
    let s = setup(300);
    write_signal(&s.data, &idle_signal("2026-02-21T02:00:00Z"));
    let report = run(&s.data, 1);
    assert_eq!(report.state, Stage2State::Completed);
    let complete = complete_frames(&s.data);
    assert!(complete > 0);
    assert_eq!(report.frames_processed, complete);
    assert_eq!(report.frames_searchable, complete);
    assert_eq!(report.frames_pending, 0);
    let db = stage2_db(&s.data);
    // No complete frame is missing from the index, and every frame with docs finds its docs.
    let conn = Connection::open(&db).expect("open");
    conn.execute(
        "ATTACH DATABASE ?1 AS d",
        [s.data.derived_db().to_string_lossy()],
    )
    .expect("attach");
    let missing: u64 = conn
        .query_row(
            "SELECT count(*) FROM d.derived x WHERE x.record_type = 'derived.ingest.stage1.complete'
             AND NOT EXISTS (SELECT 1 FROM search_frames f WHERE f.frame_id = x.source_record_id)",
            [],
            |r| r.get(0),
        )
        .expect("anti-join");
    assert_eq!(missing, 0, "complete frames missing from the index");
    let docs = count(
        &s.data.derived_db(),
        "SELECT count(*) FROM derived WHERE record_type LIKE 'obs.uia.%'",
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM search_docs"),
        docs,
        "every UIA doc is indexed once"
    );
    conn.execute(
        "INSERT INTO search_fts(search_fts) VALUES ('integrity-check')",
        [],
    )
    .expect("FTS index is consistent");
    // Text from the story is found, with provenance.
    let (frame, bboxes, fingerprint): (String, String, String) = conn
        .query_row(
            "SELECT d.source_record_id, d.bboxes, d.provider_fingerprint FROM search_fts JOIN search_docs d ON d.rowid = search_fts.rowid
             WHERE search_fts MATCH 'Globex' ORDER BY bm25(search_fts) LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("a hit for Globex");
    assert!(frame.contains("/evidence.capture.frame/"));
    assert!(bboxes.starts_with('['));
    assert!(fingerprint.contains("settings_hash"));
    // One stage-2 marker per frame; the trace has one valid line per frame.
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM derived WHERE record_type = 'derived.ingest.stage2.complete'"
        ),
        complete
    );
    let set = ContractSet::load(&default_contracts_dir().expect("a checkout")).expect("contracts");
    let trace = fs::read_to_string(s.data.root.join("derived/stage2_trace.ndjson")).expect("trace");
    assert_eq!(trace.lines().count() as u64, complete);
    for line in trace.lines().take(50) {
        let value: Value = serde_json::from_str(line).expect("json");
        assert_eq!(
            set.validate("processing-trace", &value).expect("validate"),
            Vec::<String>::new()
        );
    }
    // The completeness audit agrees.
    let audit = completeness::audit(&s.data).expect("audit");
    assert_eq!(
        audit.frames_total,
        s.truth["frames_total"].as_u64().expect("frames")
    );
    assert_eq!(audit.frames_queryable, complete);
    assert_eq!(
        audit.blocked.values().sum::<u64>(),
        audit.frames_total - complete
    );
    assert_eq!(
        audit.blocked.get("stage1_incomplete_uia_ref").copied(),
        s.truth["frames_without_uia"].as_u64()
    );
    assert!(
        audit.windows_total >= 2,
        "the lunch lock splits the day: {:?}",
        audit.windows
    );
}

#[test]
fn a_signal_going_stale_stops_it_and_a_rerun_finishes_without_duplicates() {
    let s = setup(300);
    write_signal(&s.data, &idle_signal("2026-02-21T02:00:00Z"));
    // Every clock reading advances 20 ms; the signal (fresh for 5 s) goes stale mid-run.
    let first = run(&s.data, 20);
    assert_eq!(first.state, Stage2State::PausedActive);
    assert_eq!(first.activity.reason, "signal_stale");
    let complete = complete_frames(&s.data);
    assert!(
        first.frames_processed > 0 && first.frames_processed < complete,
        "{} of {complete}",
        first.frames_processed
    );
    // Stopped within one frame: at 3 clock readings per frame (gate, trace, marker), 5 s of
    // freshness covers at most 5000 / 20 / 3 frames.
    assert!(
        first.frames_processed <= 5000 / 20 / 3 + 1,
        "{}",
        first.frames_processed
    );
    let db = stage2_db(&s.data);
    assert_eq!(
        count(&db, "SELECT count(*) FROM search_frames"),
        first.frames_processed,
        "the partial batch committed"
    );
    let second = run(&s.data, 1);
    assert_eq!(second.state, Stage2State::Completed);
    assert_eq!(first.frames_processed + second.frames_processed, complete);
    assert_eq!(count(&db, "SELECT count(*) FROM search_frames"), complete);
    assert_eq!(
        count(&db, "SELECT count(*) FROM search_docs"),
        count(
            &db,
            "SELECT count(*) FROM (SELECT DISTINCT doc_id FROM search_docs)"
        )
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM search_fts"),
        count(&db, "SELECT count(*) FROM search_docs"),
        "no duplicate index rows"
    );
    assert_eq!(count(&db, "SELECT count(*) FROM derived"), complete);
    let trace = fs::read_to_string(s.data.root.join("derived/stage2_trace.ndjson")).expect("trace");
    assert_eq!(
        trace.lines().count() as u64,
        complete,
        "one trace line per frame across both runs"
    );
    assert_eq!(second.watermark.map(|w| w.frames_total), Some(complete));
    let third = run(&s.data, 1);
    assert_eq!(third.frames_processed, 0, "nothing left to do");
}

/// A clock that rewrites the signal file to "active" at its `flip_at`-th reading: the signal
/// really flips while Stage 2 runs.
struct FlippingClock {
    readings: std::sync::atomic::AtomicU64,
    flip_at: u64,
    signal: std::path::PathBuf,
}

impl autocapture_core::base::clock::Clock for FlippingClock {
    fn now(&self) -> OffsetDateTime {
        let n = self
            .readings
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n == self.flip_at {
            fs::write(
                &self.signal,
                r#"{"ts_utc": "2026-02-21T02:00:00Z", "idle_seconds": 0, "user_active": true}"#,
            )
            .expect("flip");
        }
        NOW
    }
}

#[test]
fn flipping_the_signal_to_active_stops_within_one_frame() {
    let s = setup(200);
    write_signal(&s.data, &idle_signal("2026-02-21T02:00:00Z"));
    let clock = FlippingClock {
        readings: std::sync::atomic::AtomicU64::new(0),
        flip_at: 31,
        signal: s.data.root.join("activity_signal.json"),
    };
    let options = Stage2Options {
        activity_signal: None,
        fresh_seconds: 5,
        gate_override: Default::default(),
    };
    let report = run_stage2(&s.data, &options, &clock).expect("stage 2");
    assert_eq!(report.state, Stage2State::PausedActive);
    assert_eq!(report.activity.reason, "user_active");
    // Reading 0 is the start gate; each frame reads the gate, the trace time and the marker time,
    // so the flip at reading 31 is seen by the gate of frame 11.
    assert_eq!(report.frames_processed, 10);
    assert_eq!(
        count(&stage2_db(&s.data), "SELECT count(*) FROM search_frames"),
        10
    );
}

#[test]
fn derived_text_records_are_searchable_too() {
    let s = setup(60);
    let conn = Connection::open(s.data.metadata_db()).expect("open");
    conn.execute(
        "INSERT INTO metadata (id, record_type, ts_utc, payload, run_id) VALUES ('run1/derived.text.ocr/1', 'derived.text.ocr', '2026-02-20T09:03:00Z', ?1, 'run1')",
        [r#"{"record_type": "derived.text.ocr", "text": "quarterly zeppelin maintenance", "source_record_id": "run1/evidence.capture.frame/3", "provider_id": "ocr.test"}"#],
    )
    .expect("insert");
    write_signal(&s.data, &idle_signal("2026-02-21T02:00:00Z"));
    run(&s.data, 1);
    let db = stage2_db(&s.data);
    let hit: String = Connection::open(&db)
        .expect("open")
        .query_row(
            "SELECT d.source_record_id FROM search_fts JOIN search_docs d ON d.rowid = search_fts.rowid WHERE search_fts MATCH 'zeppelin'",
            [],
            |r| r.get(0),
        )
        .expect("the text record is found");
    assert_eq!(hit, "run1/evidence.capture.frame/3");
    let again = run(&s.data, 1);
    assert_eq!(again.docs_indexed, 0, "indexed once");
    assert_eq!(
        count(&db, "SELECT count(*) FROM search_fts"),
        count(&db, "SELECT count(*) FROM search_docs")
    );
}

#[test]
fn a_held_lock_stops_stage2() {
    let s = setup(30);
    write_signal(&s.data, &idle_signal("2026-02-21T02:00:00Z"));
    let _held = autocapture_core::store::lock_data_root(&s.data).expect("lock");
    let clock = SteppingClock::new(NOW, time::Duration::milliseconds(1));
    let err = run_stage2(
        &s.data,
        &Stage2Options {
            activity_signal: None,
            fresh_seconds: 5,
            gate_override: Default::default(),
        },
        &clock,
    )
    .expect_err("lock held");
    assert_eq!(err.code(), "instance_lock_held");
}
