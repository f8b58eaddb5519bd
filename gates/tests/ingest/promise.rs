//! The marker's promise under meddling: what lands in the DataRoot is what was checked, the
//! marker goes to the folder that was ingested, and rows are kept value for value.

use super::*;

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
