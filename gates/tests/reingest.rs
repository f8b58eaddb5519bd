//! Re-ingest through the ledger: an unchanged handoff answers from its ledger entry with the same
//! marker content as a full re-ingest; any change to the handoff's files, the options, or the
//! DataRoot's copy of its media sends it down the full path, which repairs and re-records.

use std::fs;
use std::path::{Path, PathBuf};

use autocapture_core::base::clock::SteppingClock;
use autocapture_core::stage1::ingest::{ImportMode, IngestOptions, IngestReport, ingest_handoff};
use autocapture_core::stage1::marker::{self, MarkerState};
use autocapture_core::store::DataRoot;
use autocapture_gates::corpus::digest::digest;
use rusqlite::Connection;
use time::macros::datetime;

fn options(mode: ImportMode, strict: bool) -> IngestOptions {
    IngestOptions {
        mode,
        strict,
        workers: 2,
        cpu_cap: None,
        ..IngestOptions::default()
    }
}

fn ingest(handoff: &Path, data: &DataRoot, opts: &IngestOptions) -> IngestReport {
    let clock = SteppingClock::new(
        datetime!(2026-02-21 08:00:00 UTC),
        time::Duration::milliseconds(3),
    );
    ingest_handoff(handoff, data, opts, &clock).expect("ingest")
}

fn marker_body(handoff: &Path) -> (marker::MarkerCounts, marker::MarkerIntegrity) {
    match marker::read(handoff) {
        MarkerState::Valid(m) => (m.counts, m.integrity),
        other => panic!("no valid marker: {other:?}"),
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    handoff: PathBuf,
    data: DataRoot,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_, handoffs) =
        autocapture_gates::corpus::build::spool(dir.path(), 9, 200, 1).expect("spool");
    let data = DataRoot::new(dir.path().join("data"));
    Setup {
        handoff: handoffs[0].clone(),
        data,
        _dir: dir,
    }
}

#[test]
fn an_unchanged_handoff_answers_from_the_ledger_like_a_full_reingest() {
    let s = setup();
    let opts = options(ImportMode::Hardlink, true);
    let first = ingest(&s.handoff, &s.data, &opts);
    assert!(!first.unchanged);
    let before = digest(&s.data.root).expect("digest");
    let second = ingest(&s.handoff, &s.data, &opts);
    assert!(second.unchanged, "the second ingest read everything again");
    let from_ledger = marker_body(&s.handoff);
    assert_eq!(digest(&s.data.root).expect("digest"), before);
    assert_eq!(second.rows_seen, first.rows_seen);
    assert_eq!(second.media_files_seen, first.media_files_seen);
    assert_eq!(second.counts.metadata_rows_copied, 0);

    // The same handoff re-read in full (a non-strict run changes the options, so no ledger hit
    // for its signature) reports the same presence counts and digests.
    let full = ingest(&s.handoff, &s.data, &options(ImportMode::Hardlink, false));
    assert!(!full.unchanged, "other options must not match the ledger");
    let (full_counts, full_integrity) = marker_body(&s.handoff);
    assert_eq!(from_ledger.1, full_integrity);
    assert_eq!(from_ledger.0, full_counts);
    assert_eq!(digest(&s.data.root).expect("digest"), before);
}

#[test]
fn a_new_row_in_the_handoff_takes_the_full_path() {
    let s = setup();
    let opts = options(ImportMode::Hardlink, true);
    let first = ingest(&s.handoff, &s.data, &opts);
    let conn = Connection::open(s.handoff.join("metadata.db")).expect("open handoff");
    let table: String = conn
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('metadata', 'records')",
            [],
            |r| r.get(0),
        )
        .expect("table");
    let (id_col, payload_col): (String, String) = if table == "records" {
        ("record_id".into(), "json".into())
    } else {
        let cols: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info('metadata')")
            .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
            .expect("columns");
        if cols.iter().any(|c| c == "id") {
            ("id".into(), "payload".into())
        } else {
            (cols[0].clone(), cols[1].clone())
        }
    };
    conn.execute(
        &format!("INSERT INTO {table} ({id_col}, {payload_col}) VALUES ('zz_ledger_test_row', '{{\"record_type\":\"derived.text.note\",\"text\":\"late\"}}')"),
        [],
    )
    .expect("add a row");
    drop(conn);
    let again = ingest(&s.handoff, &s.data, &opts);
    assert!(!again.unchanged, "a changed metadata.db matched the ledger");
    assert_eq!(again.counts.metadata_rows_copied, 1);
    assert_eq!(again.rows_seen, first.rows_seen + 1);
    // Recorded again: the next run is a ledger hit with the new row counted.
    let third = ingest(&s.handoff, &s.data, &opts);
    assert!(third.unchanged);
    assert_eq!(third.rows_seen, first.rows_seen + 1);
}

#[test]
fn a_media_file_missing_from_the_data_root_is_restored_by_the_full_path() {
    let s = setup();
    let opts = options(ImportMode::Hardlink, true);
    ingest(&s.handoff, &s.data, &opts);
    let before = digest(&s.data.root).expect("digest");
    let victim = walk_first_file(&s.data.media_dir());
    fs::remove_file(&victim).expect("remove a DataRoot media file");
    let again = ingest(&s.handoff, &s.data, &opts);
    assert!(
        !again.unchanged,
        "a DataRoot missing a media file matched the ledger"
    );
    assert!(
        victim.is_file(),
        "the full path did not restore {}",
        victim.display()
    );
    assert_eq!(digest(&s.data.root).expect("digest").media, before.media);
}

#[test]
fn a_touched_media_file_takes_the_full_path() {
    let s = setup();
    let opts = options(ImportMode::Copy, true);
    ingest(&s.handoff, &s.data, &opts);
    let file = walk_first_file(&s.handoff.join("media"));
    // Same bytes written again: the ctime moves, so the signature does.
    let bytes = fs::read(&file).expect("read");
    fs::write(&file, &bytes).expect("rewrite");
    let again = ingest(&s.handoff, &s.data, &opts);
    assert!(!again.unchanged);
    assert!(ingest(&s.handoff, &s.data, &opts).unchanged);
}

fn walk_first_file(dir: &Path) -> PathBuf {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            return walk_first_file(&path);
        }
        if path.is_file() {
            return path;
        }
    }
    panic!("no file under {}", dir.display())
}
