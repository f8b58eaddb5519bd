//! Stage-1 ingest on real generated handoffs: copies everything once, nothing twice, the same
//! DataRoot whatever the order, a marker that validates, and for every bad input a stable error
//! code, no marker, and a DataRoot left exactly as it was.

use std::fs;
use std::path::{Path, PathBuf};

use autocapture_core::base::clock::SteppingClock;
use autocapture_core::stage1::ingest::{
    ImportMode, IngestError, IngestOptions, IngestReport, ingest_handoff,
};
use autocapture_core::stage1::marker::{self, MarkerState};
use autocapture_core::store::DataRoot;
use autocapture_gates::contract::{default_contracts_dir, schemas::ContractSet};
use autocapture_gates::dataroot::{DataRootDigest, digest};
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
        autocapture_gates::fixtures::build::spool(dir.path(), 5, frames, handoffs).expect("spool");
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

/// Breaks a fresh handoff with `damage`, ingests it into a DataRoot that already holds another
/// handoff, and expects `code`, no marker, and the DataRoot's content unchanged.
#[track_caller]
fn check_failure(damage: impl FnOnce(&Path, &DataRoot), code: &str) {
    let corpus = corpus(60, 2);
    let data = corpus.data_root("data");
    ingest(&corpus.handoffs[0], &data, &options(ImportMode::Hardlink)).expect("baseline ingest");
    let target = &corpus.handoffs[1];
    damage(target, &data);
    let before: DataRootDigest = digest(&data.root).expect("digest");
    let err = ingest(target, &data, &options(ImportMode::Hardlink)).expect_err("must fail");
    assert_eq!(err.code(), code, "{err}");
    assert!(
        matches!(marker::read(target), MarkerState::Missing),
        "no marker on failure"
    );
    assert_eq!(
        digest(&data.root).expect("digest"),
        before,
        "DataRoot changed by a failed ingest"
    );
    assert!(temp_files(corpus.dir.path()).is_empty());
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

fn set_first_frame_blob_path(handoff: &Path, blob_path: &str) {
    let conn = Connection::open(handoff.join("metadata.db")).expect("open");
    let (table, payload) = table_and_payload(&conn);
    let sql = format!(
        "UPDATE {table} SET {payload} = json_set({payload}, '$.blob_path', ?1) WHERE id = (SELECT id FROM {table} WHERE record_type = 'evidence.capture.frame' ORDER BY id LIMIT 1)"
    );
    assert_eq!(conn.execute(&sql, [blob_path]).expect("update"), 1);
}

#[test]
fn missing_metadata_db() {
    check_failure(
        |h, _| fs::remove_file(h.join("metadata.db")).expect("rm"),
        "handoff_metadata_missing",
    );
}

#[test]
fn garbage_metadata_db() {
    check_failure(
        |h, _| {
            fs::write(h.join("metadata.db"), b"this is not a database, just text").expect("write")
        },
        "handoff_metadata_corrupt",
    );
}

#[test]
fn truncated_metadata_db() {
    check_failure(
        |h, _| {
            let bytes = fs::read(h.join("metadata.db")).expect("read");
            fs::write(h.join("metadata.db"), &bytes[..bytes.len() / 3]).expect("truncate");
        },
        "handoff_metadata_corrupt",
    );
}

#[test]
fn neither_table() {
    check_failure(
        |h, _| {
            fs::remove_file(h.join("metadata.db")).expect("rm");
            Connection::open(h.join("metadata.db"))
                .expect("create")
                .execute_batch("CREATE TABLE events (x TEXT)")
                .expect("ddl");
        },
        "handoff_metadata_table_missing",
    );
}

#[test]
fn parent_traversal_ref() {
    check_failure(
        |h, _| set_first_frame_blob_path(h, "media/../../../etc/passwd"),
        "media_ref_unsafe",
    );
}

#[test]
fn drive_letter_ref() {
    check_failure(
        |h, _| set_first_frame_blob_path(h, "media/C:/Windows/win.ini"),
        "media_ref_unsafe",
    );
}

#[test]
fn symlink_in_media() {
    check_failure(
        |h, _| {
            std::os::unix::fs::symlink("/etc/passwd", h.join("media").join("evil.blob"))
                .expect("symlink")
        },
        "media_not_regular",
    );
}

#[test]
fn fifo_in_media() {
    check_failure(
        |h, _| {
            nix::unistd::mkfifo(
                &h.join("media").join("pipe.blob"),
                nix::sys::stat::Mode::from_bits_truncate(0o644),
            )
            .expect("mkfifo")
        },
        "media_not_regular",
    );
}

#[test]
fn missing_media_in_strict_mode() {
    check_failure(
        |h, _| fs::remove_file(first_frame_blob(h)).expect("rm"),
        "media_ref_missing",
    );
}

#[test]
fn blob_does_not_match_its_content_hash() {
    check_failure(
        |h, _| {
            let blob = first_frame_blob(h);
            let mut bytes = fs::read(&blob).expect("read");
            let last = bytes.len() - 1;
            bytes[last] ^= 0xff;
            fs::write(&blob, bytes).expect("write");
        },
        "media_hash_mismatch",
    );
}

#[test]
fn a_different_file_already_in_the_data_dir() {
    check_failure(
        |h, data| {
            let blob = first_frame_blob(h);
            let rel = blob.strip_prefix(h.join("media")).expect("under media");
            let dest = data.media_dir().join(rel);
            fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
            fs::write(&dest, b"someone else's bytes").expect("write");
        },
        "media_conflict",
    );
}

#[test]
fn lock_held_by_another_writer() {
    let corpus = corpus(30, 1);
    let data = corpus.data_root("data");
    data.create_dirs().expect("dirs");
    let _held = autocapture_core::store::lock_data_root(&data).expect("first lock");
    let err =
        ingest(&corpus.handoffs[0], &data, &options(ImportMode::Hardlink)).expect_err("lock held");
    assert_eq!(err.code(), "instance_lock_held");
    assert!(matches!(
        marker::read(&corpus.handoffs[0]),
        MarkerState::Missing
    ));
}

#[test]
fn data_dir_that_is_a_file() {
    let corpus = corpus(30, 1);
    let path = corpus.dir.path().join("data");
    fs::write(&path, b"not a dir").expect("write");
    let err = ingest(
        &corpus.handoffs[0],
        &DataRoot::new(&path),
        &options(ImportMode::Hardlink),
    )
    .expect_err("unwritable");
    assert_eq!(err.code(), "data_dir_unwritable");
    assert!(matches!(
        marker::read(&corpus.handoffs[0]),
        MarkerState::Missing
    ));
}

#[test]
fn row_without_id() {
    check_failure(
        |h, _| {
            let conn = Connection::open(h.join("metadata.db")).expect("open");
            let (table, payload) = table_and_payload(&conn);
            conn.execute(&format!("INSERT INTO {table} (id, record_type, ts_utc, {payload}) VALUES (NULL, 'x', 'y', '{{}}')"), [])
                .expect("insert");
        },
        "handoff_row_id_missing",
    );
}

#[test]
fn non_json_payloads_are_kept_raw_and_counted() {
    let corpus = corpus(30, 1);
    let data = corpus.data_root("data");
    let conn = Connection::open(corpus.handoffs[0].join("metadata.db")).expect("open");
    conn.execute(
        "INSERT INTO metadata (id, record_type, ts_utc, payload, run_id) VALUES ('run1/odd/1', 'odd', '2026-02-20T09:00:00Z', 'not json {', 'run1'), ('run1/odd/2', 'odd', NULL, X'00FF10', 'run1')",
        [],
    )
    .expect("insert");
    let report =
        ingest(&corpus.handoffs[0], &data, &options(ImportMode::Hardlink)).expect("not fatal");
    assert_eq!(report.payloads_not_json, 2);
    let db = Connection::open(data.metadata_db()).expect("open");
    let text: String = db
        .query_row(
            "SELECT payload FROM metadata WHERE id = 'run1/odd/1'",
            [],
            |r| r.get(0),
        )
        .expect("row");
    assert_eq!(text, "not json {");
    let blob: Vec<u8> = db
        .query_row(
            "SELECT payload FROM metadata WHERE id = 'run1/odd/2'",
            [],
            |r| r.get(0),
        )
        .expect("row");
    assert_eq!(blob, vec![0x00, 0xff, 0x10], "payload bytes unchanged");
}

#[test]
fn missing_media_without_strict_is_a_warning() {
    let corpus = corpus(30, 1);
    let data = corpus.data_root("data");
    fs::remove_file(first_frame_blob(&corpus.handoffs[0])).expect("rm");
    let opts = IngestOptions {
        strict: false,
        ..options(ImportMode::Hardlink)
    };
    let report = ingest(&corpus.handoffs[0], &data, &opts).expect("non-strict");
    assert_eq!(report.media_refs_missing, 1);
    assert_eq!(report.warnings.len(), 1);
    assert_eq!(report.warnings[0].code, "media_ref_missing");
    assert!(matches!(
        marker::read(&corpus.handoffs[0]),
        MarkerState::Valid(_)
    ));
}

/// Regression: a row whose id the DataRoot already held with another payload was silently
/// ignored (`INSERT OR IGNORE`) while the marker promised it; it is `metadata_id_conflict`.
#[test]
fn regression_duplicate_id_with_different_payload_fails() {
    check_failure(
        |h, data| {
            let db = Connection::open(data.metadata_db()).expect("open");
            let id: String = db
                .query_row("SELECT min(id) FROM metadata", [], |r| r.get(0))
                .expect("an id");
            Connection::open(h.join("metadata.db"))
                .expect("open")
                .execute(
                    "INSERT INTO records (id, record_type, ts_utc, json) VALUES (?1, 'x', '2026-02-20T09:00:00Z', '{\"other\":1}')",
                    [id],
                )
                .expect("insert");
        },
        "metadata_id_conflict",
    );
}

/// Regression: one id twice in a table without a primary key, with two payloads, lost one.
#[test]
fn regression_duplicate_id_within_a_handoff_fails() {
    check_failure(
        |h, _| {
            Connection::open(h.join("metadata.db"))
                .expect("open")
                .execute_batch(
                    "CREATE TABLE copy AS SELECT * FROM records; DROP TABLE records; ALTER TABLE copy RENAME TO records;
                     INSERT INTO records SELECT id, record_type, ts_utc, '{\"other\":1}' FROM records WHERE id = (SELECT min(id) FROM records);",
                )
                .expect("duplicate");
        },
        "metadata_id_conflict",
    );
}

/// Regression: a blob appended to after it was hashed was hardlinked into the DataRoot
/// unverified; it is `media_changed`, no marker, and the link is taken back.
#[test]
fn regression_media_changed_after_hash_fails_and_leaves_the_data_root() {
    let corpus = corpus(60, 2);
    let data = corpus.data_root("data");
    ingest(&corpus.handoffs[0], &data, &options(ImportMode::Hardlink)).expect("baseline ingest");
    let before = digest(&data.root).expect("digest");
    let clock = SteppingClock::new(
        datetime!(2026-02-21 08:00:00 UTC),
        time::Duration::milliseconds(3),
    );
    let err = autocapture_core::stage1::ingest::ingest_handoff_on(
        &autocapture_gates::hostile::corpus::GrowingSource::default(),
        &corpus.handoffs[1],
        &data,
        &options(ImportMode::Hardlink),
        &clock,
    )
    .expect_err("must fail");
    assert_eq!(err.code(), "media_changed", "{err}");
    assert!(matches!(
        marker::read(&corpus.handoffs[1]),
        MarkerState::Missing
    ));
    assert_eq!(digest(&data.root).expect("digest"), before);
}

/// Regression: past RLIMIT_FSIZE the binary died by SIGXFSZ; it now reports `data_dir_full`
/// (exit 2), writes no marker and leaves the DataRoot's content as it was.
#[test]
fn regression_disk_full_is_data_dir_full_not_a_signal() {
    let harness = Path::new(env!("CARGO_BIN_EXE_autocapture-gates"));
    let bin = autocapture_gates::harness::bins::autocapture_beside(harness).expect("autocapture");
    let corpus = corpus(60, 2);
    let data = corpus.data_root("data");
    ingest(&corpus.handoffs[0], &data, &options(ImportMode::Hardlink)).expect("baseline ingest");
    let before = digest(&data.root).expect("digest");
    let (handoff, dir) = (
        corpus.handoffs[1].display().to_string(),
        data.root.display().to_string(),
    );
    let measured = autocapture_gates::measure::measure_child_limited(
        harness,
        &bin,
        &[
            "handoff",
            "ingest",
            "--handoff-root",
            &handoff,
            "--data-dir",
            &dir,
            "--json",
        ],
        &autocapture_gates::measure::Limits {
            file_size_bytes: Some(64 * 1024),
            timeout_ms: Some(60_000),
            ..Default::default()
        },
    )
    .expect("run");
    assert_eq!(measured.exit_code, Some(2), "{measured:?}");
    let out: Value = serde_json::from_str(&measured.stdout).expect("json");
    assert_eq!(out["error"]["code"], "data_dir_full", "{out}");
    assert!(matches!(
        marker::read(&corpus.handoffs[1]),
        MarkerState::Missing
    ));
    assert_eq!(digest(&data.root).expect("digest"), before);
}

/// Which operation a [`Meddling`] file system meddles before.
#[derive(Clone, Copy, PartialEq)]
enum Before {
    /// A hard link (the media import).
    Link,
    /// Writing the marker's temp file.
    MarkerTemp,
}

/// The real file system, except that `meddle` runs once, just before the first operation of
/// kind `before` (it gets that operation's source path).
struct Meddling<F: Fn(&Path) -> std::io::Result<()> + Sync> {
    before: Before,
    meddle: F,
    done: std::sync::atomic::AtomicBool,
}

impl<F: Fn(&Path) -> std::io::Result<()> + Sync> Meddling<F> {
    fn new(before: Before, meddle: F) -> Self {
        Meddling {
            before,
            meddle,
            done: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn at(&self, kind: Before, path: &Path) -> std::io::Result<()> {
        if kind == self.before && !self.done.swap(true, std::sync::atomic::Ordering::SeqCst) {
            (self.meddle)(path)?;
        }
        Ok(())
    }

    fn meddled(&self) -> bool {
        self.done.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl<F: Fn(&Path) -> std::io::Result<()> + Sync> autocapture_core::base::fsops::FileOps
    for Meddling<F>
{
    fn create_dir(&self, path: &Path) -> std::io::Result<()> {
        autocapture_core::base::fsops::RealFs.create_dir(path)
    }
    fn write_new(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let is_marker = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains(marker::MARKER_FILE));
        if is_marker {
            self.at(Before::MarkerTemp, path)?;
        }
        autocapture_core::base::fsops::RealFs.write_new(path, bytes)
    }
    fn copy_new(&self, source: &Path, dest: &Path) -> std::io::Result<String> {
        autocapture_core::base::fsops::RealFs.copy_new(source, dest)
    }
    fn sync_file(&self, path: &Path) -> std::io::Result<()> {
        autocapture_core::base::fsops::RealFs.sync_file(path)
    }
    fn hard_link(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        self.at(Before::Link, from)?;
        autocapture_core::base::fsops::RealFs.hard_link(from, to)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        autocapture_core::base::fsops::RealFs.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        autocapture_core::base::fsops::RealFs.remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        autocapture_core::base::fsops::RealFs.sync_dir(dir)
    }
    fn sync_fs(&self, path: &Path) -> std::io::Result<()> {
        autocapture_core::base::fsops::RealFs.sync_fs(path)
    }
}

/// Every media file the DataRoot recorded hashes to the sha256 it recorded.
fn recorded_hashes_hold(data: &DataRoot) -> usize {
    let conn = Connection::open(data.metadata_db()).expect("open");
    let mut stmt = conn
        .prepare("SELECT relpath, sha256 FROM media_files")
        .expect("prepare");
    let rows: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    for (relpath, sha256) in &rows {
        let bytes = fs::read(data.media_dir().join(relpath)).expect("media file");
        assert_eq!(
            &autocapture_core::contract::sha256_hex(&bytes),
            sha256,
            "{relpath}: the DataRoot's bytes are not the recorded ones"
        );
    }
    rows.len()
}

#[test]
fn a_source_rewritten_between_check_and_link_never_lands_unverified() {
    let corpus = corpus(12, 1);
    let handoff = &corpus.handoffs[0];
    let data = corpus.data_root("data");
    // The first link out of the handoff first rewrites its source (a writer racing the import).
    let hook = Meddling::new(
        Before::Link,
        autocapture_gates::hostile::files::rewrite_keeping_mtime,
    );
    let clock = SteppingClock::new(
        datetime!(2026-02-21 08:00:00 UTC),
        time::Duration::milliseconds(3),
    );
    let result = autocapture_core::stage1::ingest::ingest_handoff_on(
        &hook,
        handoff,
        &data,
        &options(ImportMode::Hardlink),
        &clock,
    );
    assert!(hook.meddled(), "no link was made");
    match result {
        // The rewritten file was a frame's blob: its declared hash no longer matches.
        Err(e) => {
            assert_eq!(e.code(), "media_hash_mismatch", "{e}");
            assert!(matches!(marker::read(handoff), MarkerState::Missing));
            let mut left = Vec::new();
            let mut dirs = vec![data.media_dir()];
            while let Some(dir) = dirs.pop() {
                for entry in fs::read_dir(&dir).expect("read") {
                    let path = entry.expect("entry").path();
                    if path.is_dir() {
                        dirs.push(path);
                    } else {
                        left.push(path);
                    }
                }
            }
            assert!(
                left.is_empty(),
                "a failed ingest left media in the DataRoot: {left:?}"
            );
        }
        // Any other file: the DataRoot holds the bytes that were hashed.
        Ok(report) => {
            assert!(report.counts.media_files_linked > 0);
            assert!(recorded_hashes_hold(&data) > 0);
        }
    }
}

#[test]
fn a_media_file_with_another_hard_link_is_copied_not_linked() {
    let corpus = corpus(6, 1);
    let handoff = &corpus.handoffs[0];
    let blob = first_frame_blob(handoff);
    let outside = corpus.dir.path().join("outside-link");
    fs::hard_link(&blob, &outside).expect("a second name outside the handoff");
    let data = corpus.data_root("data");
    let report = ingest(handoff, &data, &options(ImportMode::Hardlink)).expect("ingest");
    assert_eq!(report.counts.media_files_copied, 1, "{report:?}");
    assert!(report.counts.media_files_linked > 0);
    let relpath = blob
        .strip_prefix(handoff.join("media"))
        .expect("under media");
    let kept = fs::metadata(data.media_dir().join(relpath)).expect("kept");
    let source = fs::metadata(&blob).expect("source");
    use std::os::unix::fs::MetadataExt;
    assert_ne!(
        kept.ino(),
        source.ino(),
        "linked although it had another name"
    );
    // Bytes written through the outside name no longer reach the DataRoot.
    fs::write(&outside, b"changed through another name").expect("write");
    assert_eq!(
        recorded_hashes_hold(&data),
        report.integrity.media_count as usize
    );
}

#[test]
fn a_real_payload_reingests_without_a_conflict() {
    let corpus = corpus(4, 1);
    let handoff = &corpus.handoffs[0];
    let conn = Connection::open(handoff.join("metadata.db")).expect("open");
    let (table, payload) = table_and_payload(&conn);
    let id: String = conn
        .query_row(
            &format!(
                "SELECT name FROM pragma_table_info('{table}') WHERE name IN ('id', 'record_id')"
            ),
            [],
            |r| r.get(0),
        )
        .expect("the id column");
    conn.execute(
        &format!("INSERT INTO {table} ({id}, {payload}) VALUES ('real/payload/1', 1e300)"),
        [],
    )
    .expect("insert");
    drop(conn);
    let data = corpus.data_root("data");
    let opts = IngestOptions {
        ledger_fast_path: false,
        ..options(ImportMode::Copy)
    };
    ingest(handoff, &data, &opts).expect("first ingest");
    let again = ingest(handoff, &data, &opts).expect("a re-ingest of the same rows");
    assert_eq!(again.counts.metadata_rows_copied, 0);
    assert!(matches!(marker::read(handoff), MarkerState::Valid(_)));
}

/// Regression: the marker was written by path, so a handoff folder renamed away and replaced
/// between the commit and the marker got the marker into the new folder, whose rows were never
/// ingested. It goes to the folder that was ingested.
#[test]
fn regression_the_marker_goes_to_the_folder_that_was_ingested() {
    let corpus = corpus(6, 1);
    let handoff = corpus.handoffs[0].canonicalize().expect("canonical");
    let moved = corpus.dir.path().join("moved-away");
    // As the marker's temp is written, the folder is renamed away and another (holding a copy
    // of its database) takes its name.
    let hook = Meddling::new(Before::MarkerTemp, |_: &Path| {
        fs::rename(&handoff, &moved)?;
        fs::create_dir(&handoff)?;
        fs::copy(moved.join("metadata.db"), handoff.join("metadata.db")).map(|_| ())
    });
    let clock = SteppingClock::new(
        datetime!(2026-02-21 08:00:00 UTC),
        time::Duration::milliseconds(3),
    );
    let data = corpus.data_root("data");
    autocapture_core::stage1::ingest::ingest_handoff_on(
        &hook,
        &handoff,
        &data,
        &options(ImportMode::Hardlink),
        &clock,
    )
    .expect("ingest");
    assert!(hook.meddled(), "no marker was written");
    assert!(
        matches!(marker::read(&moved), MarkerState::Valid(_)),
        "the ingested folder has no marker"
    );
    assert!(
        matches!(marker::read(&handoff), MarkerState::Missing),
        "the folder put in its place got the marker"
    );
    let temps: Vec<_> = fs::read_dir(&handoff)
        .expect("read")
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().contains(marker::MARKER_FILE))
        .collect();
    assert!(temps.is_empty(), "{temps:?}");
}

/// A frame whose UIA snapshot and blob came in an earlier handoff finds both in the DataRoot:
/// the snapshot lookup reads the stored payload (TEXT, as the capture side writes it) and the
/// frame gets its UIA docs, with no failed lookup.
#[test]
fn a_frame_finds_its_snapshot_in_the_data_root() {
    let corpus = corpus(40, 4);
    let data = corpus.data_root("data");
    let opts = IngestOptions {
        uia: autocapture_core::uia::UiaSettings {
            allow_latest_snapshot_fallback: false,
            ..Default::default()
        },
        ..options(ImportMode::Hardlink)
    };
    let (earlier, later) = (&corpus.handoffs[0], &corpus.handoffs[3]);
    ingest(earlier, &data, &opts).expect("earlier handoff");
    let conn = Connection::open(later.join("metadata.db")).expect("open");
    conn.execute(
        "ATTACH ?1 AS earlier",
        [earlier.join("metadata.db").to_string_lossy()],
    )
    .expect("attach");
    let copied = conn
        .execute(
            "INSERT INTO metadata (id, record_type, ts_utc, payload, run_id)
             SELECT id || '-again', record_type, ts_utc, payload, run_id FROM earlier.metadata
             WHERE record_type = 'evidence.capture.frame' ORDER BY id LIMIT 1",
            [],
        )
        .expect("copy a frame");
    assert_eq!(copied, 1);
    drop(conn);
    let report = ingest(later, &data, &opts).expect("later handoff");
    assert!(
        report.uia_problems.is_empty(),
        "frames without UIA docs: {:?}",
        report.uia_problems
    );
    assert_eq!(report.counts.stage1_uia_frames_missing_count, 0);
}

/// `integrity.rows_sha256` as the contract doc (§4.1) writes its recipe, recomputed from the
/// handoff's stored values: `{id}\t{row digest}\n` in id byte order, the row digest over the
/// seven carried columns, each as its storage class and bytes.
fn rows_sha256_by_the_recipe(handoff: &Path) -> String {
    use sha2::{Digest, Sha256};
    let conn = Connection::open(handoff.join("metadata.db")).expect("open");
    let mut stmt = conn
        .prepare("SELECT id, record_type, ts_utc, payload, run_id, nonce_b64, ciphertext_b64, key_id FROM metadata ORDER BY id COLLATE BINARY")
        .expect("prepare");
    let mut rows = stmt.query([]).expect("query");
    let mut all = Sha256::new();
    while let Some(row) = rows.next().expect("row") {
        let mut one = Sha256::new();
        for i in 1..8 {
            match row.get_ref(i).expect("value") {
                rusqlite::types::ValueRef::Null => one.update(b"n"),
                rusqlite::types::ValueRef::Integer(n) => {
                    one.update(b"i");
                    one.update(n.to_be_bytes());
                }
                rusqlite::types::ValueRef::Real(x) => {
                    one.update(b"r");
                    one.update(x.to_bits().to_be_bytes());
                }
                rusqlite::types::ValueRef::Text(bytes) => {
                    one.update(b"t");
                    one.update((bytes.len() as u64).to_be_bytes());
                    one.update(bytes);
                }
                rusqlite::types::ValueRef::Blob(bytes) => {
                    one.update(b"b");
                    one.update((bytes.len() as u64).to_be_bytes());
                    one.update(bytes);
                }
            }
        }
        all.update(row.get::<_, String>(0).expect("id").as_bytes());
        all.update(b"\t");
        all.update(hex::encode(one.finalize()).as_bytes());
        all.update(b"\n");
    }
    hex::encode(all.finalize())
}

/// The rows digest covers every carried column with its storage class: handoffs that differ
/// only in a ciphertext, in a key id, or in a payload's class (the text `'5'` against the
/// integer `5`) give different digests, each the recipe's.
#[test]
fn rows_sha256_covers_every_column_with_its_storage_class() {
    let dir = tempfile::tempdir().expect("temp dir");
    let variants = [
        ("base", "'c2VjcmV0'", "'k1'", "'5'"),
        ("ciphertext", "'c2VjcmV1'", "'k1'", "'5'"),
        ("key", "'c2VjcmV0'", "'k2'", "'5'"),
        ("class", "'c2VjcmV0'", "'k1'", "5"),
    ];
    let mut digests = std::collections::BTreeSet::new();
    for (name, ciphertext, key, payload) in variants {
        let handoff = dir.path().join(name).join("handoff");
        fs::create_dir_all(&handoff).expect("dir");
        Connection::open(handoff.join("metadata.db"))
            .expect("open")
            .execute_batch(&format!(
                "CREATE TABLE metadata (id TEXT PRIMARY KEY, record_type, ts_utc, payload, run_id,
                     nonce_b64, ciphertext_b64, key_id);
                 INSERT INTO metadata VALUES
                   ('run1/enc/0', 'enc', '2026-02-20T09:00:00Z', '{{}}', 'run1', 'bm9uY2U=', {ciphertext}, {key}),
                   ('run1/num/0', 'num', NULL, {payload}, NULL, NULL, NULL, NULL),
                   ('run1/blob/0', 'blob', 7, X'00FF', 2.5, NULL, NULL, NULL);"
            ))
            .expect("rows");
        let data = DataRoot::new(dir.path().join(name).join("data"));
        let report = ingest(&handoff, &data, &options(ImportMode::Hardlink)).expect("ingest");
        assert_eq!(
            report.integrity.rows_sha256,
            rows_sha256_by_the_recipe(&handoff),
            "{name}"
        );
        assert_eq!(report.integrity.rows_count, 3);
        digests.insert(report.integrity.rows_sha256);
    }
    assert_eq!(digests.len(), 4, "each change moves the digest");
}
