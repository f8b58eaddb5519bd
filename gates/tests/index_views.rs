//! The views Stage 2 keeps beside its index, built incrementally (including a handoff ingested
//! late, with older timestamps), equal a rebuild from scratch, and every answer the engine reads
//! from them equals a computation over every frame and doc: focus runs (durations, timelines)
//! and distinct contents with their spans (first and last seen).

use std::collections::BTreeMap;

use autocapture_core::base::clock::SteppingClock;
use autocapture_core::query::{self, QueryHandle, QueryOptions};
use autocapture_core::stage1::ingest::{IngestOptions, ingest_handoff};
use autocapture_core::stage2::focus_runs::{self, GAP_CAP_US, micros};
use autocapture_core::store::DataRoot;
use autocapture_gates::corpus::build::{self, BUILD_TIME};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rusqlite::Connection;

struct Frame {
    ts: String,
    title: String,
    process: String,
}

fn stage2(data: &DataRoot) {
    let clock = SteppingClock::new(BUILD_TIME, time::Duration::ZERO);
    autocapture_gates::corpus::build::index_while_idle(data, &clock).expect("stage 2");
}

fn runs_table(conn: &Connection) -> Vec<focus_runs::Run> {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {} FROM focus_runs ORDER BY start_ts, start_frame_id",
            focus_runs::COLUMNS
        ))
        .expect("prepare");
    stmt.query_map([], focus_runs::Run::from_row)
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

fn frames(conn: &Connection) -> Vec<Frame> {
    let mut stmt = conn
        .prepare("SELECT ts_utc, window_title, process_name FROM search_frames WHERE ts_utc != '' ORDER BY ts_utc, frame_id")
        .expect("prepare");
    stmt.query_map([], |r| {
        Ok(Frame {
            ts: r.get(0)?,
            title: r.get(1)?,
            process: r.get(2)?,
        })
    })
    .expect("query")
    .collect::<Result<_, _>>()
    .expect("rows")
}

/// Frame by frame: each matching frame with a next frame in the range counts the gap, capped.
fn brute_force_seconds(frames: &[Frame], needle: &str, from: &str, to: &str) -> Option<u64> {
    let inside: Vec<&Frame> = frames
        .iter()
        .filter(|f| f.ts.as_str() >= from && f.ts.as_str() <= to)
        .collect();
    let mut total = 0i64;
    let mut any = false;
    for pair in inside.windows(2) {
        let f = pair[0];
        if f.title.to_lowercase().contains(needle) || f.process.to_lowercase().contains(needle) {
            let gap = micros(&pair[1].ts).expect("ts") - micros(&f.ts).expect("ts");
            total += gap.min(GAP_CAP_US);
            any = true;
        }
    }
    any.then(|| (total as f64 / 1e6).round() as u64)
}

/// Frame by frame: consecutive frames of one title in the range are one segment.
fn brute_force_timeline(frames: &[Frame], from: &str, to: &str) -> Vec<(String, String, String)> {
    let mut segments: Vec<(String, String, String)> = Vec::new();
    for f in frames
        .iter()
        .filter(|f| f.ts.as_str() >= from && f.ts.as_str() <= to)
    {
        // A capture gap longer than the focus cap (the user away) starts a new visit.
        let micros = |ts: &str| {
            autocapture_core::contract::parse_ts_utc(ts)
                .map(|t| (t.unix_timestamp_nanos() / 1000) as i64)
                .unwrap_or(0)
        };
        match segments.last_mut() {
            Some(last)
                if last.2 == f.title
                    && micros(&f.ts) - micros(&last.1)
                        <= autocapture_core::stage2::focus_runs::GAP_CAP_US =>
            {
                last.1 = f.ts.clone()
            }
            _ => segments.push((f.ts.clone(), f.ts.clone(), f.title.clone())),
        }
    }
    segments
}

/// Three handoffs ingested out of order, Stage 2 after each.
fn late_ingested() -> (tempfile::TempDir, DataRoot) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_spool, handoffs) = build::spool(dir.path(), 11, 1500, 3).expect("spool");
    let data = DataRoot::new(dir.path().join("data"));
    let clock = SteppingClock::new(BUILD_TIME, time::Duration::milliseconds(1));
    let ingest = |handoff: &std::path::Path| {
        ingest_handoff(handoff, &data, &IngestOptions::default(), &clock).expect("ingest");
    };
    // The last handoff first, then the first one: Stage 2's second run meets older frames.
    ingest(&handoffs[2]);
    stage2(&data);
    ingest(&handoffs[0]);
    stage2(&data);
    ingest(&handoffs[1]);
    stage2(&data);
    (dir, data)
}

#[test]
fn incremental_runs_equal_a_rebuild_and_durations_equal_a_frame_by_frame_sum() {
    let (dir, data) = late_ingested();
    let db = data.stage2_db();
    let conn = Connection::open(&db).expect("open index");
    let incremental = runs_table(&conn);
    let copy = dir.path().join("rebuilt.db");
    std::fs::copy(&db, &copy).expect("copy index");
    let rebuilt_conn = Connection::open(&copy).expect("open copy");
    focus_runs::update(&rebuilt_conn, None).expect("rebuild");
    assert_eq!(incremental, runs_table(&rebuilt_conn));
    let frames = frames(&conn);
    assert_eq!(
        incremental.iter().map(|r| r.frames).sum::<i64>() as usize,
        frames.len(),
        "every timed frame is in exactly one run"
    );
    assert!(incremental.len() > 10 && incremental.len() < frames.len() / 4);

    let handle = QueryHandle::open(&data).expect("handle");
    let mut processes: Vec<String> = frames.iter().map(|f| f.process.to_lowercase()).collect();
    processes.sort();
    processes.dedup();
    let day = &frames[0].ts[..10];
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut checked = BTreeMap::new();
    for case in 0..60 {
        let needle = processes[case % processes.len()].trim_end_matches(".exe");
        // Range ends at random clock times, some exactly on a frame's timestamp.
        let pick = |rng: &mut ChaCha8Rng| -> String {
            if rng.random_bool(0.3) {
                frames[rng.random_range(0..frames.len())].ts.clone()
            } else {
                format!(
                    "{day}T{:02}:{:02}:{:02}.999999Z",
                    rng.random_range(7..20),
                    rng.random_range(0..60),
                    rng.random_range(0..60)
                )
            }
        };
        let (a, b) = (pick(&mut rng), pick(&mut rng));
        let (from, to) = if a <= b { (a, b) } else { (b, a) };
        let question = format!("how long was {needle} focused between {from} and {to}");
        let answer = query::answer(&handle, &question, &QueryOptions::default()).expect("answer");
        let expected = brute_force_seconds(&frames, needle, &from, &to);
        let got = answer.fields.get("focus_seconds").and_then(|v| v.as_u64());
        assert_eq!(got, expected, "{question}: {}", answer.summary);
        *checked.entry(expected.is_some()).or_insert(0) += 1;

        let timeline = query::answer(
            &handle,
            &format!("focus timeline from {from} to {to}"),
            &QueryOptions::default(),
        )
        .expect("answer");
        let got: Vec<(String, String, String)> = timeline
            .fields
            .get("timeline")
            .and_then(|v| v.as_array())
            .map(|rows| {
                rows.iter()
                    .map(|r| {
                        let text = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
                        (
                            text("start_ts_utc"),
                            text("last_seen_ts_utc"),
                            text("window_title"),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(
            got,
            brute_force_timeline(&frames, &from, &to),
            "timeline {from}..{to}"
        );
    }
    assert!(
        checked.get(&true).copied().unwrap_or(0) >= 20,
        "enough non-empty cases: {checked:?}"
    );
}

fn spans_table(conn: &Connection) -> Vec<(String, String, String, String)> {
    let mut stmt = conn
        .prepare("SELECT c.content_key, s.first_frame_id, s.last_frame_id, s.first_doc_id || '/' || s.last_doc_id FROM content_spans s JOIN search_contents c ON c.rowid = s.content_rowid ORDER BY c.content_key")
        .expect("prepare");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

#[test]
fn content_spans_equal_a_rebuild_and_first_last_seen_equal_a_scan_of_every_doc() {
    let (dir, data) = late_ingested();
    let db = data.stage2_db();
    let conn = Connection::open(&db).expect("open index");
    let incremental = spans_table(&conn);
    let docs: i64 = conn
        .query_row(
            "SELECT count(*) FROM search_docs WHERE uia_record_id != ''",
            [],
            |r| r.get(0),
        )
        .expect("docs");
    assert!(!incremental.is_empty() && (incremental.len() as i64) < docs);
    let copy = dir.path().join("rebuilt.db");
    std::fs::copy(&db, &copy).expect("copy index");
    let rebuilt = Connection::open(&copy).expect("open copy");
    rebuilt
        .execute_batch("DELETE FROM doc_contents; DELETE FROM content_spans; DELETE FROM search_contents; INSERT INTO content_fts(content_fts) VALUES ('delete-all');")
        .expect("clear");
    autocapture_core::stage2::contents::rebuild(&rebuilt).expect("rebuild");
    assert_eq!(incremental, spans_table(&rebuilt));

    // Words from the docs themselves; the brute force scans every doc and every frame.
    let words: Vec<String> = {
        let mut stmt = conn
            .prepare(
                "SELECT DISTINCT text FROM search_docs WHERE uia_record_id != '' ORDER BY text",
            )
            .expect("prepare");
        let texts: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        let mut words: Vec<String> = texts
            .iter()
            .flat_map(|t| t.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .filter(|w| w.len() >= 5 && w.chars().all(char::is_alphanumeric))
            .collect();
        words.sort();
        words.dedup();
        words
    };
    assert!(words.len() > 20, "{words:?}");
    let handle = QueryHandle::open(&data).expect("handle");
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for _ in 0..25 {
        let word = &words[rng.random_range(0..words.len())];
        for first in [true, false] {
            let order = if first { "ASC" } else { "DESC" };
            let expected: Option<String> = conn
                .query_row(
                    &format!(
                        "SELECT f.ts_utc FROM search_fts JOIN search_docs d ON d.rowid = search_fts.rowid
                         JOIN search_frames f ON f.uia_record_id = d.uia_record_id
                         WHERE search_fts MATCH ?1 AND f.ts_utc != '' ORDER BY f.ts_utc {order}, f.frame_id {order} LIMIT 1"
                    ),
                    [format!("\"{word}\"")],
                    |r| r.get(0),
                )
                .ok();
            let question = format!(
                "when did I {} see \"{word}\"",
                if first { "first" } else { "last" }
            );
            let answer =
                query::answer(&handle, &question, &QueryOptions::default()).expect("answer");
            let got = answer
                .fields
                .get("ts_utc")
                .and_then(|v| v.as_str())
                .map(str::to_owned);
            assert_eq!(got, expected, "{question}: {}", answer.summary);
        }
    }
}
