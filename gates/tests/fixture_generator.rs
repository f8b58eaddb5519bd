//! The fixture generator on real directories: determinism, schema validity of everything it
//! writes, the table layouts Stage 1 must read, ground truth that matches the story, and clear
//! errors for broken stories and unsafe output dirs.

use std::collections::BTreeMap;
use std::path::Path;

use autocapture_core::contract::sha256_file;
use autocapture_gates::contract::{default_contracts_dir, schemas::ContractSet};
use autocapture_gates::corpus::check::check_spool;
use autocapture_gates::corpus::generate::{GenerateOptions, generate};
use autocapture_gates::corpus::story::{DEFAULT_STORY, Story};
use rusqlite::{Connection, OpenFlags};
use serde_json::Value;

fn options(out: &Path, seed: u64, frames: u64, handoffs: u32) -> GenerateOptions {
    GenerateOptions {
        out: out.to_path_buf(),
        seed,
        frames,
        handoffs,
    }
}

/// Generates the default story into a fresh temp dir.
fn corpus(seed: u64, frames: u64, handoffs: u32) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let story = Story::default_story().expect("default story parses");
    generate(
        &story,
        &options(&dir.path().join("spool"), seed, frames, handoffs),
    )
    .expect("generate");
    dir
}

/// Every file under `root` with its sha256, by relative path.
fn tree_digest(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .expect("under root")
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, sha256_file(&path).expect("hash").0);
            }
        }
    }
    out
}

fn truth(dir: &Path) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(dir.join("spool").join("truth.json")).expect("read truth"),
    )
    .expect("parse truth")
}

#[test]
fn same_seed_gives_identical_bytes() {
    let (a, b) = (corpus(11, 400, 3), corpus(11, 400, 3));
    let (da, db) = (tree_digest(a.path()), tree_digest(b.path()));
    assert!(da.len() > 400, "every frame has a blob: {} files", da.len());
    assert_eq!(da, db);
}

#[test]
fn another_seed_changes_bytes_not_story_truth() {
    let (a, b) = (corpus(11, 400, 3), corpus(12, 400, 3));
    assert_ne!(tree_digest(a.path()), tree_digest(b.path()));
    let windows = |t: &Value| -> Vec<(String, String)> {
        t["focus_timeline"]
            .as_array()
            .expect("timeline")
            .iter()
            .map(|s| {
                (
                    s["window"].as_str().unwrap_or("").to_owned(),
                    s["title"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(windows(&truth(a.path())), windows(&truth(b.path())));
}

#[test]
fn everything_written_validates_against_the_contract() {
    let dir = corpus(7, 600, 3);
    let set =
        ContractSet::load(&default_contracts_dir().expect("a checkout")).expect("contracts load");
    let report = check_spool(&set, &dir.path().join("spool"), true).expect("check spool");
    assert_eq!(report.problems, Vec::<String>::new());
    assert_eq!(report.handoffs, 3);
    assert_eq!(report.blobs_verified, 600);
    assert_eq!(report.signals_validated, 3);
    let t = truth(dir.path());
    let rows: u64 = t["handoffs"]
        .as_array()
        .expect("handoffs")
        .iter()
        .map(|h| h["rows"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(report.rows, rows);
    assert_eq!(report.rows_validated, rows);
}

#[test]
fn handoffs_use_the_canonical_legacy_and_alternate_layouts() {
    let dir = corpus(7, 300, 4);
    let spool = dir.path().join("spool");
    let mut names: Vec<_> = std::fs::read_dir(&spool)
        .expect("spool")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    names.sort();
    assert_eq!(names.len(), 4);
    let schema = |handoff: &Path| -> String {
        let conn = Connection::open_with_flags(
            handoff.join("metadata.db"),
            OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("open");
        conn.query_row(
            "SELECT group_concat(sql, ';') FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .expect("schema")
    };
    assert!(schema(&names[0]).contains("metadata (id TEXT PRIMARY KEY"));
    assert!(
        schema(&names[1])
            .contains("records (id TEXT PRIMARY KEY, record_type TEXT, ts_utc TEXT, json TEXT)")
    );
    assert!(
        schema(&names[2]).contains("record_id TEXT PRIMARY KEY")
            && schema(&names[2]).contains("payload_json")
    );
    assert!(schema(&names[3]).contains("metadata (id TEXT PRIMARY KEY"));
    // The legacy handoff names blobs by absolute Windows path and uses the old dimension fields.
    let conn = Connection::open_with_flags(
        names[1].join("metadata.db"),
        OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open");
    let json: String = conn
        .query_row(
            "SELECT json FROM records WHERE record_type = 'evidence.capture.frame' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .expect("legacy frame");
    let frame: Value = serde_json::from_str(&json).expect("frame json");
    let blob_path = frame["blob_path"].as_str().expect("blob_path");
    assert!(
        blob_path.starts_with("C:\\ProgramData\\Hypervisor\\spool\\handoff_0002_"),
        "{blob_path}"
    );
    assert!(blob_path.contains("\\media\\run1\\"), "{blob_path}");
    assert!(frame.get("frame_width").is_some() && frame.get("width").is_none());
}

#[test]
fn truth_matches_the_story() {
    let dir = corpus(7, 1200, 3);
    let t = truth(dir.path());
    assert_eq!(t["frames_total"], 1200);
    let timeline = t["focus_timeline"].as_array().expect("timeline");
    let at = |ts: &str| -> String {
        timeline
            .iter()
            .rev()
            .find(|s| s["start_ts_utc"].as_str().unwrap_or("") <= ts)
            .and_then(|s| s["window"].as_str())
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(at("2026-02-20T09:00:30Z"), "mail");
    assert_eq!(at("2026-02-20T10:20:10Z"), "save_dialog");
    assert_eq!(at("2026-02-20T10:21:40Z"), "editor");
    assert_eq!(at("2026-02-20T12:45:00Z"), "locked");
    assert_eq!(at("2026-02-20T17:26:00Z"), "locked");
    // Segments start exactly at the story's focus events (every event has a frame).
    assert!(timeline.iter().any(
        |s| s["window"] == "save_dialog" && s["start_ts_utc"] == "2026-02-20T10:20:00.000000Z"
    ));
    // The locked screen has no UIA: those frames are not Stage-1 complete.
    assert!(t["frames_without_uia"].as_u64().unwrap_or(0) > 0);
    // Priya's question arrived while the dialog was open and was first seen when chat had focus.
    let seen = &t["texts"]["can you confirm the Globex amount before 11?"];
    assert_eq!(seen["window"], "chat");
    assert_eq!(seen["first"]["ts_utc"], "2026-02-20T10:22:00.000000Z");
    let events = t["events"].as_array().expect("events");
    assert!(
        events.iter().all(|e| e["frame_id"].is_string()),
        "every event has a frame showing it"
    );
    // Screens: each content change of the foreground window, in order, with on-screen boxes.
    let screens = t["screens"].as_array().expect("screens");
    assert_eq!(screens[0]["window"], "mail");
    assert!(
        screens
            .windows(2)
            .all(|pair| pair[0]["ts_utc"].as_str() <= pair[1]["ts_utc"].as_str())
    );
    for screen in screens {
        for node in screen["nodes"].as_array().expect("nodes") {
            let b: Vec<i64> = node["bbox"]
                .as_array()
                .expect("bbox")
                .iter()
                .filter_map(serde_json::Value::as_i64)
                .collect();
            assert!(
                b[0] <= b[2] && b[1] <= b[3] && b[2] <= 1920 && b[3] <= 1080,
                "{node}"
            );
        }
    }
    let save_as = screens
        .iter()
        .find(|sc| sc["window"] == "save_dialog")
        .expect("the Save As dialog was on screen");
    assert_eq!(save_as["ts_utc"], "2026-02-20T10:20:00.000000Z");
    assert!(
        save_as["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .any(|n| n["name"] == "Cancel" && n["role"] == "button")
    );
}

#[test]
fn fewer_frames_than_events_still_works() {
    let dir = corpus(3, 5, 1);
    let t = truth(dir.path());
    assert_eq!(t["frames_total"], 5);
}

#[test]
fn refuses_a_non_empty_output_dir() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("keep.txt"), b"user data").expect("write");
    let story = Story::default_story().expect("story");
    let err = generate(&story, &options(dir.path(), 1, 10, 1)).expect_err("non-empty dir");
    assert!(err.to_string().contains("not empty"), "{err}");
    assert_eq!(
        std::fs::read(dir.path().join("keep.txt")).expect("read"),
        b"user data"
    );
}

/// A broken story fails with the event at fault.
#[track_caller]
fn check_story_error(replace: &str, with: &str, expected: &str) {
    assert!(DEFAULT_STORY.contains(replace), "story has {replace:?}");
    let text = DEFAULT_STORY.replacen(replace, with, 1);
    let error = match Story::parse(&text) {
        Err(e) => e.to_string(),
        Ok(story) => {
            let dir = tempfile::tempdir().expect("temp dir");
            generate(&story, &options(&dir.path().join("spool"), 1, 200, 1))
                .expect_err("generation fails")
                .to_string()
        }
    };
    assert!(error.contains(expected), "{error}");
}

#[test]
fn broken_stories_name_the_fault() {
    check_story_error(
        "at = \"09:06:30\"\ndo = \"focus\"\nwindow = \"chat\"",
        "at = \"09:06:30\"\ndo = \"focus\"\nwindow = \"nope\"",
        "unknown window \"nope\"",
    );
    check_story_error(
        "at = \"09:05:00\"",
        "at = \"08:05:00\"",
        "events must be in time order",
    );
    check_story_error(
        "at = \"17:25:00\"",
        "at = \"18:25:00\"",
        "after the end of the day",
    );
    check_story_error(
        "section = \"inbox\"\ntext = \"Priya",
        "section = \"outbox\"\ntext = \"Priya",
        "has no section \"outbox\"",
    );
    check_story_error(
        "at = \"10:05:00\"\ndo = \"focus\"\nwindow = \"editor\"",
        "at = \"10:05:00\"\ndo = \"focus\"\nwindow = \"compose\"",
        "is not open",
    );
    check_story_error(
        "hwnd = \"0x2C4D\"",
        "hwnd = \"0x1A2B\"",
        "duplicate \"0x1A2B\"",
    );
}
