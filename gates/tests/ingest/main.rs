//! Stage-1 ingest on real generated handoffs: copies everything once, nothing twice, the same
//! DataRoot whatever the order, a marker that validates, and for every bad input a stable error
//! code, no marker, and a DataRoot left exactly as it was.
//!
//! - `refusals`: bad inputs, each with its code, no marker and the DataRoot unchanged.
//! - `promise`: what lands is what was checked, in the folder that was ingested, value for
//!   value.

mod promise;
mod refusals;

use std::fs;
use std::path::{Path, PathBuf};

use autocapture_core::base::clock::SteppingClock;
use autocapture_core::stage1::ingest::{
    ImportMode, IngestError, IngestOptions, IngestReport, ingest_handoff,
};
use autocapture_core::stage1::marker::{self, MarkerState};
use autocapture_core::store::DataRoot;
use autocapture_gates::contract::{default_contracts_dir, schemas::ContractSet};
use autocapture_gates::corpus::digest::{DataRootDigest, digest};
use rusqlite::Connection;
use serde_json::Value;
use time::macros::datetime;

struct Corpus {
    dir: tempfile::TempDir,
    handoffs: Vec<PathBuf>,
}

impl Corpus {
    fn data_root(&self, name: &str) -> DataRoot {
        DataRoot::new(self.dir.path().join(name))
    }
}

fn corpus(frames: u64, handoffs: u32) -> Corpus {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_, handoffs) =
        autocapture_gates::corpus::build::spool(dir.path(), 5, frames, handoffs).expect("spool");
    Corpus { dir, handoffs }
}

fn options(mode: ImportMode) -> IngestOptions {
    IngestOptions {
        mode,
        strict: true,
        workers: 2,
        cpu_cap: None,
        ..IngestOptions::default()
    }
}

fn ingest(
    handoff: &Path,
    data_root: &DataRoot,
    opts: &IngestOptions,
) -> Result<IngestReport, IngestError> {
    let clock = SteppingClock::new(
        datetime!(2026-02-21 08:00:00 UTC),
        time::Duration::milliseconds(3),
    );
    ingest_handoff(handoff, data_root, opts, &clock)
}

fn truth_rows(corpus: &Corpus) -> Vec<u64> {
    let truth: Value = serde_json::from_str(
        &fs::read_to_string(corpus.dir.path().join("spool/truth.json")).expect("truth"),
    )
    .expect("json");
    truth["handoffs"]
        .as_array()
        .expect("handoffs")
        .iter()
        .map(|h| h["rows"].as_u64().unwrap_or(0))
        .collect()
}

/// Files whose names mark them as temporary, anywhere under `dir`.
fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with(".tmp"))
            {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn first_ingest_copies_everything_and_a_second_changes_nothing() {
    let corpus = corpus(300, 3);
    let data = corpus.data_root("data");
    let rows = truth_rows(&corpus);
    for (handoff, expected_rows) in corpus.handoffs.iter().zip(&rows) {
        let report = ingest(handoff, &data, &options(ImportMode::Hardlink)).expect("first ingest");
        assert_eq!(
            report.counts.metadata_rows_copied, *expected_rows,
            "{}",
            report.layout
        );
        assert_eq!(report.rows_seen, *expected_rows);
        assert_eq!(report.counts.media_files_linked, 100);
        assert_eq!(report.counts.media_files_copied, 0);
        assert_eq!(report.payloads_not_json, 0);
        assert!(report.counts.stage1_complete_records > 0);
        assert!(matches!(marker::read(handoff), MarkerState::Valid(_)));
    }
    let before = digest(&data.root).expect("digest");
    assert_eq!(before.metadata.rows, rows.iter().sum::<u64>());
    assert_eq!(before.media.rows, 300);
    for handoff in &corpus.handoffs {
        let report = ingest(handoff, &data, &options(ImportMode::Hardlink)).expect("re-ingest");
        assert_eq!(report.counts.metadata_rows_copied, 0);
        assert_eq!(
            report.counts.media_files_linked + report.counts.media_files_copied,
            0
        );
        assert_eq!(report.media_files_present, 100);
        assert_eq!(report.counts.bytes_ingested, 0);
    }
    assert_eq!(
        digest(&data.root).expect("digest"),
        before,
        "re-ingest changed the DataRoot"
    );
    assert!(
        temp_files(corpus.dir.path()).is_empty(),
        "{:?}",
        temp_files(corpus.dir.path())
    );
    autocapture_core::audit::AuditLog::in_data_root(&data.root)
        .verify()
        .expect("audit chain verifies");
}

#[test]
fn ingest_order_does_not_change_the_evidence() {
    let corpus = corpus(240, 3);
    let (forward, backward) = (corpus.data_root("forward"), corpus.data_root("backward"));
    for handoff in &corpus.handoffs {
        ingest(handoff, &forward, &options(ImportMode::Hardlink)).expect("forward");
    }
    for handoff in corpus.handoffs.iter().rev() {
        ingest(handoff, &backward, &options(ImportMode::Copy)).expect("backward");
    }
    let (a, b) = (
        digest(&forward.root).expect("digest"),
        digest(&backward.root).expect("digest"),
    );
    assert_eq!(a.metadata, b.metadata);
    assert_eq!(a.media, b.media);
    assert_eq!(a.derived.rows, b.derived.rows);
}

#[test]
fn marker_validates_and_digests_match_a_reingest() {
    let corpus = corpus(120, 1);
    let data = corpus.data_root("data");
    let handoff = &corpus.handoffs[0];
    let first = ingest(handoff, &data, &options(ImportMode::Hardlink)).expect("ingest");
    let text = fs::read_to_string(handoff.join("reap_eligible.json")).expect("marker");
    assert!(
        text.ends_with("}\n") && text.contains("\n  \"counts\": {"),
        "2-space indent, trailing newline"
    );
    let value: Value = serde_json::from_str(&text).expect("json");
    let set = ContractSet::load(&default_contracts_dir().expect("a checkout")).expect("contracts");
    assert_eq!(
        set.validate("reap-eligible", &value).expect("validate"),
        Vec::<String>::new()
    );
    assert_eq!(value["integrity"]["rows_count"], first.rows_seen);
    assert_eq!(value["ingest_run_id"], "ingest_20260221T080000000000Z");
    let again = ingest(handoff, &data, &options(ImportMode::Hardlink)).expect("re-ingest");
    assert_eq!(
        again.integrity, first.integrity,
        "the digests describe the handoff, not the run"
    );
    // Every derived record (markers and UIA docs) validates against its schema.
    let conn = Connection::open(data.derived_db()).expect("derived db");
    let mut stmt = conn
        .prepare("SELECT id, record_type, payload FROM derived ORDER BY id")
        .expect("query");
    let rows: Vec<(String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows");
    let mut kinds = std::collections::BTreeMap::new();
    for (id, record_type, payload) in &rows {
        let stem = match record_type.as_str() {
            "derived.ingest.stage1.complete" => "stage1-complete",
            "retention.eligible" => "retention-eligible",
            kind if kind.starts_with("obs.uia.") => "uia-doc",
            other => panic!("unexpected derived record type {other}"),
        };
        let value: Value = serde_json::from_str(payload).expect("json");
        assert_eq!(
            set.validate(stem, &value).expect("validate"),
            Vec::<String>::new(),
            "{id}"
        );
        *kinds.entry(record_type.clone()).or_insert(0) += 1;
    }
    assert_eq!(kinds.len(), 5, "{kinds:?}");
}

#[test]
fn copy_mode_and_a_real_cross_device_fallback_import_the_same_bytes() {
    let corpus = corpus(90, 1);
    let copied = corpus.data_root("copied");
    let report =
        ingest(&corpus.handoffs[0], &copied, &options(ImportMode::Copy)).expect("copy mode");
    assert_eq!(
        (
            report.counts.media_files_linked,
            report.counts.media_files_copied
        ),
        (0, 90)
    );
    // /dev/shm is another filesystem on Linux: hardlinks into it fail with EXDEV.
    let shm = Path::new("/dev/shm");
    let other_fs = shm.is_dir()
        && fs::metadata(shm)
            .map(|m| std::os::unix::fs::MetadataExt::dev(&m))
            .ok()
            != fs::metadata(corpus.dir.path())
                .map(|m| std::os::unix::fs::MetadataExt::dev(&m))
                .ok();
    let fallback_dir = if other_fs {
        tempfile::tempdir_in(shm).expect("tmpfs dir")
    } else {
        tempfile::tempdir().expect("dir")
    };
    let fallback = DataRoot::new(fallback_dir.path().join("data"));
    let report = ingest(
        &corpus.handoffs[0],
        &fallback,
        &options(if other_fs {
            ImportMode::Hardlink
        } else {
            ImportMode::Copy
        }),
    )
    .expect("fallback");
    assert_eq!(
        (
            report.counts.media_files_linked,
            report.counts.media_files_copied
        ),
        (0, 90)
    );
    assert_eq!(
        digest(&copied.root).expect("digest").media,
        digest(&fallback.root).expect("digest").media
    );
    assert!(temp_files(fallback_dir.path()).is_empty());
}

fn first_frame_blob(handoff: &Path) -> PathBuf {
    let conn = Connection::open(handoff.join("metadata.db")).expect("open");
    let (table, payload) = table_and_payload(&conn);
    let json: String = conn
        .query_row(&format!("SELECT {payload} FROM {table} WHERE record_type = 'evidence.capture.frame' ORDER BY 1 LIMIT 1"), [], |r| r.get(0))
        .expect("frame");
    let frame: Value = serde_json::from_str(&json).expect("json");
    let blob = frame["blob_path"]
        .as_str()
        .expect("blob_path")
        .replace('\\', "/");
    handoff
        .join("media")
        .join(blob.split_once("media/").expect("media/").1)
}

fn table_and_payload(conn: &Connection) -> (&'static str, &'static str) {
    let has_records: bool = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'records'",
            [],
            |r| r.get(0),
        )
        .expect("q");
    if has_records {
        ("records", "json")
    } else {
        ("metadata", "payload")
    }
}
