//! Bad inputs: each gives its stable code, no marker, and leaves the DataRoot as it was.

use super::*;

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
    let measured = autocapture_gates::probe::measure::measure_child_limited(
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
        &autocapture_gates::probe::measure::Limits {
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
