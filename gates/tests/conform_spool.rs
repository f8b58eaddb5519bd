//! `conform spool` on real spools (real SQLite files and folders, no mocks): generated corpora
//! conform and are left untouched; every hostile case that damages the producer's own files is
//! found, by file, row and rule, with Stage 1's code, and the other cases are listed with the
//! reason they are not the producer's (the two lists must cover the case file exactly); an open
//! write transaction and a live WAL are `not_closed`; the real binary's exit codes, JSON and
//! JUnit; and planted faults give exactly their finding.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use autocapture_gates::conform::{self, ConformReport, Finding, HandoffReport, RULES};
use autocapture_gates::corpus::build;
use autocapture_gates::corpus::copies::copy_tree;
use autocapture_gates::corpus::story::Story;
use autocapture_gates::golden::stories::GOLDEN_STORIES;
use autocapture_gates::hostile::corpus::{Base, default_dir, load};
use autocapture_gates::hostile::damage;
use autocapture_gates::probe::measure::Limits;

const BIN: &str = env!("CARGO_BIN_EXE_autocapture-gates");

/// Every entry below `dir` with its kind, length and modification time.
fn listing(dir: &Path) -> BTreeMap<PathBuf, (bool, u64, std::time::SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).expect("read_dir") {
            let path = entry.expect("entry").path();
            let meta = std::fs::symlink_metadata(&path).expect("stat");
            if meta.is_dir() {
                stack.push(path.clone());
            }
            let modified = meta.modified().expect("mtime");
            out.insert(path, (meta.is_dir(), meta.len(), modified));
        }
    }
    out
}

fn generated(out: &Path, story: &Story, seed: u64, frames: u64, handoffs: u32) -> PathBuf {
    build::spool_of(story, out, seed, frames, handoffs)
        .expect("generate")
        .0
}

fn handoff_named<'r>(report: &'r ConformReport, name: &str) -> &'r HandoffReport {
    report
        .handoffs
        .iter()
        .find(|h| h.name == name)
        .unwrap_or_else(|| panic!("no handoff {name} in the report"))
}

fn lines(findings: &[Finding]) -> Vec<String> {
    findings.iter().map(Finding::line).collect()
}

#[test]
fn generated_corpora_of_both_stories_at_two_seeds_conform_and_are_left_untouched() {
    let second = Story::parse(GOLDEN_STORIES[1].story).expect("second story");
    let stories = [
        ("workday", Story::default_story().expect("story")),
        ("second", second),
    ];
    for (name, story) in &stories {
        for seed in [7, 1234] {
            let dir = tempfile::tempdir().expect("temp dir");
            let spool = generated(dir.path(), story, seed, 180, 3);
            let before = listing(&spool);
            let report = conform::check_spool(&spool).expect("check");
            let found: Vec<String> = report
                .findings()
                .map(|(h, f)| format!("{h}: {}", f.line()))
                .collect();
            assert!(found.is_empty(), "{name} seed {seed}: {found:#?}");
            assert!(report.conforming);
            assert_eq!(report.handoffs.len(), 3, "{name} seed {seed}");
            let layouts: BTreeSet<_> = report.handoffs.iter().filter_map(|h| h.layout).collect();
            assert_eq!(layouts.len(), 3, "all three table layouts: {layouts:?}");
            for h in &report.handoffs {
                assert!(h.rows > 0 && h.frames > 0, "{}: nothing read", h.name);
                assert_eq!(h.blobs_verified, h.frames, "{}: every blob hashed", h.name);
                assert_eq!(
                    h.checked.len(),
                    RULES.len(),
                    "{}: every rule checked",
                    h.name
                );
            }
            assert_eq!(before, listing(&spool), "the check wrote into the spool");
        }
    }
}

/// The hostile cases that damage the producer's own files: the rule and Stage-1 code of a
/// finding they must give, the start of its `file`, and whether it must name a row.
#[rustfmt::skip]
const PRODUCER_FAULTS: &[(&str, &str, &str, &str, bool)] = &[
    ("metadata_missing", "metadata_missing", "handoff_metadata_missing", "metadata.db", false),
    ("metadata_truncated", "metadata_corrupt", "handoff_metadata_corrupt", "metadata.db", false),
    ("metadata_truncated_in_header", "metadata_corrupt", "handoff_metadata_corrupt", "metadata.db", false),
    ("metadata_pages_overwritten", "metadata_corrupt", "handoff_metadata_corrupt", "metadata.db", false),
    ("metadata_not_sqlite", "metadata_corrupt", "handoff_metadata_corrupt", "metadata.db", false),
    ("metadata_empty_file", "metadata_table_missing", "handoff_metadata_table_missing", "metadata.db", false),
    ("metadata_is_a_directory", "metadata_corrupt", "handoff_metadata_corrupt", "metadata.db", false),
    ("metadata_wrong_tables", "metadata_table_missing", "handoff_metadata_table_missing", "metadata.db", false),
    ("metadata_table_without_payload", "metadata_table_missing", "handoff_metadata_table_missing", "metadata.db", false),
    ("row_id_null", "row_id_missing", "handoff_row_id_missing", "metadata.db", true),
    ("row_id_empty", "row_id_missing", "handoff_row_id_missing", "metadata.db", true),
    // The id is the first handoff's, which is in the same spool (and so in the DataRoot).
    ("duplicate_id_across_handoffs", "record_id_conflict", "metadata_id_conflict", "metadata.db", true),
    ("duplicate_id_within_handoff", "record_id_conflict", "metadata_id_conflict", "metadata.db", true),
    ("payload_not_utf8", "payload_not_json", "payloads_not_json", "metadata.db", true),
    ("payload_not_json", "payload_not_json", "payloads_not_json", "metadata.db", true),
    ("payload_deeply_nested", "payload_too_deep", "payloads_not_json", "metadata.db", true),
    ("frame_deeply_nested_field", "payload_too_deep", "payloads_not_json", "metadata.db", true),
    ("ref_parent_traversal", "media_ref_unsafe", "media_ref_unsafe", "metadata.db", true),
    ("ref_absolute_path", "media_ref_missing", "media_ref_missing", "media/etc/passwd", true),
    ("ref_drive_letter", "media_ref_unsafe", "media_ref_unsafe", "metadata.db", true),
    ("ref_backslash_traversal", "media_ref_unsafe", "media_ref_unsafe", "metadata.db", true),
    ("ref_nul", "media_ref_unsafe", "media_ref_unsafe", "metadata.db", true),
    ("ref_names_no_file", "media_ref_unsafe", "media_ref_unsafe", "metadata.db", true),
    ("media_symlink_file", "media_not_regular", "media_not_regular", "media/evil.blob", false),
    ("media_symlink_dir", "media_not_regular", "media_not_regular", "media/evil", false),
    ("media_fifo", "media_not_regular", "media_not_regular", "media/pipe.blob", false),
    ("media_name_not_utf8", "media_name_invalid", "media_name_invalid", "media/bad", false),
    ("media_wrong_content_hash", "content_hash_mismatch", "media_hash_mismatch", "media/", true),
    ("media_bytes_changed", "content_hash_mismatch", "media_hash_mismatch", "media/", true),
    ("media_blob_missing", "media_ref_missing", "media_ref_missing", "media/", true),
    ("uia_snapshot_million_nodes", "uia_section_too_long", "", "metadata.db", true),
    ("uia_rect_nan", "uia_snapshot_invalid", "uia_snapshot_invalid", "metadata.db", true),
    ("uia_rect_infinity", "uia_snapshot_invalid", "uia_snapshot_invalid", "metadata.db", true),
    ("uia_rect_not_numbers", "payload_schema", "", "metadata.db", true),
    ("frame_without_dimensions", "payload_schema", "frame_dims_missing", "metadata.db", true),
    ("uia_snapshot_wrong_content_hash", "uia_snapshot_invalid", "uia_snapshot_invalid", "metadata.db", true),
    ("uia_linkage_missing", "uia_linkage_missing", "uia_linkage_missing", "metadata.db", true),
    // The snapshot row is gone from the handoff; the fallback the case plants is the DataRoot's.
    ("uia_sidecar_corrupt", "uia_ref_unresolved", "lookup_failed", "metadata.db", true),
    ("uia_sidecar_wrong_hash", "uia_ref_unresolved", "lookup_failed", "metadata.db", true),
    // The row is the first handoff's, re-sent with a ciphertext.
    ("encrypted_column_differs", "record_id_conflict", "metadata_id_conflict", "metadata.db", true),
    ("id_integer_and_text", "row_id_not_text", "metadata_id_not_text", "metadata.db", true),
    ("id_nocase_duplicates", "record_id_conflict", "metadata_id_conflict", "metadata.db", true),
    ("payload_real", "payload_not_json", "payloads_not_json", "metadata.db", true),
    ("payload_integer_and_blob", "payload_not_json", "payloads_not_json", "metadata.db", true),
    ("window_meta_blob_payload", "payload_not_json", "payloads_not_json", "metadata.db", true),
];

/// The hostile cases that are not a fault of the producer's files, and why. The damaged
/// handoff of each (where it still exists) must conform.
#[rustfmt::skip]
const NOT_PRODUCER_FAULTS: &[(&str, &str)] = &[
    ("payload_huge_string", "inside the contract: no length limit on a title (outcome ok)"),
    ("uia_rect_reversed", "inside the contract: a reversed rect is swapped by the normalisation the contract documents (outcome ok)"),
    ("uia_rect_huge", "inside the contract: finite coordinates are clamped to the frame as documented (outcome ok)"),
    ("media_conflict_in_data_root", "DataRoot damage: other bytes already in the DataRoot"),
    ("media_grows_during_import", "in_process: a file-system fault injected mid-ingest"),
    ("row_appended_during_ingest", "in_process: a write injected at the DataRoot commit"),
    ("media_rewritten_during_ingest", "in_process: a rewrite injected at the DataRoot commit"),
    ("signal_stale", "drain activity case: the DataRoot's signal, not the handoff's"),
    ("signal_future", "drain activity case: the DataRoot's signal, not the handoff's"),
    ("signal_garbled", "drain activity case: the DataRoot's signal, not the handoff's"),
    ("signal_missing", "drain activity case: no DataRoot signal; the handoff is untouched"),
    ("signal_fresh_idle", "drain activity control case on the DataRoot's signal"),
    ("disk_full", "environment: the DataRoot's file-size limit"),
    ("data_dir_read_only", "environment: the DataRoot cannot be written"),
    ("data_dir_is_a_file", "environment: the data dir path names a file"),
    ("data_dir_in_handoff", "placement: the operator's DataRoot put inside the handoff"),
    ("data_dir_in_spool", "placement: the operator's DataRoot put inside the spool"),
    ("handoff_root_missing", "the handoff is gone (reaped): nothing of the producer's is left to judge"),
];

#[test]
fn the_case_classification_covers_the_hostile_corpus_exactly() {
    let cases: BTreeSet<String> = load(&default_dir().expect("checkout"))
        .expect("cases")
        .into_iter()
        .map(|c| c.name)
        .collect();
    let producer: BTreeSet<String> = PRODUCER_FAULTS.iter().map(|c| c.0.to_owned()).collect();
    let other: BTreeSet<String> = NOT_PRODUCER_FAULTS.iter().map(|c| c.0.to_owned()).collect();
    assert_eq!(
        producer.len(),
        PRODUCER_FAULTS.len(),
        "a producer case listed twice"
    );
    assert_eq!(
        other.len(),
        NOT_PRODUCER_FAULTS.len(),
        "a case listed twice"
    );
    assert!(
        producer.is_disjoint(&other),
        "classified both ways: {:?}",
        producer.intersection(&other).collect::<Vec<_>>()
    );
    let complement: BTreeSet<String> = cases.difference(&producer).cloned().collect();
    assert_eq!(
        other, complement,
        "NOT_PRODUCER_FAULTS must be exactly the cases not in PRODUCER_FAULTS (classify every new case)"
    );
}

#[test]
fn every_producer_fault_of_the_hostile_corpus_is_found_and_the_rest_conform() {
    let work = tempfile::tempdir().expect("temp dir");
    let base = Base::build(&work.path().join("base"), 7).expect("base");
    let spool = base.handoff.parent().expect("the base spool").to_path_buf();
    let target = base
        .handoff
        .file_name()
        .expect("a name")
        .to_string_lossy()
        .into_owned();
    let producer: BTreeMap<&str, _> = PRODUCER_FAULTS.iter().map(|c| (c.0, c)).collect();
    let mut failures = Vec::new();
    for case in load(&default_dir().expect("checkout")).expect("cases") {
        let root = work.path().join("cases").join(&case.name);
        let (case_spool, data) = (root.join("spool"), root.join("data"));
        copy_tree(&spool, &case_spool).expect("copy the spool");
        copy_tree(&base.data, &data).expect("copy the DataRoot");
        let handoff = case_spool.join(&target);
        damage::apply(&case, &handoff, &data, &mut Limits::default()).expect("damage");
        let report = conform::check_spool(&case_spool).expect("check");
        damage::undo(&case, &handoff, &data).expect("undo");
        let others: Vec<String> = report
            .handoffs
            .iter()
            // A DataRoot moved into the spool (`data_dir_in_spool`) looks like a handoff that
            // holds the first one's rows: rightly reported there, not the target's fault.
            .filter(|h| h.name != target && !report.handoffs.iter().any(|d| d.name == "dataroot"))
            .flat_map(|h| lines(&h.findings))
            .collect();
        if !others.is_empty() {
            failures.push(format!(
                "{}: untouched handoffs have findings: {others:#?}",
                case.name
            ));
        }
        let found = report.handoffs.iter().find(|h| h.name == target);
        match (producer.get(case.name.as_str()), found) {
            (Some((_, rule, code, file, row)), Some(h)) => {
                let hit = h.findings.iter().any(|f| {
                    f.rule == *rule
                        && f.code.unwrap_or_default() == *code
                        && f.file.starts_with(file)
                        && (!row || f.row_id.is_some() || f.rowid.is_some())
                });
                if !hit {
                    failures.push(format!(
                        "{}: no {rule} [{code}] at {file}* (row: {row}); found {:#?}",
                        case.name,
                        lines(&h.findings)
                    ));
                }
            }
            (Some(_), None) => failures.push(format!("{}: the handoff was not checked", case.name)),
            (None, Some(h)) if !h.conforming() => failures.push(format!(
                "{}: not the producer's fault, yet {:#?}",
                case.name,
                lines(&h.findings)
            )),
            (None, _) => {}
        }
        std::fs::remove_dir_all(&root).expect("clean up");
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn an_open_write_transaction_and_a_live_wal_are_not_closed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let spool = generated(
        dir.path(),
        &Story::default_story().expect("story"),
        7,
        12,
        1,
    );
    let handoff = std::fs::read_dir(&spool)
        .expect("spool")
        .map(|e| e.expect("entry").path())
        .find(|p| p.is_dir())
        .expect("a handoff");
    let db = handoff.join("metadata.db");
    let insert = "INSERT INTO metadata (id, record_type, ts_utc, payload, run_id) VALUES ('run1/x/1', 'x', NULL, '{}', 'run1')";

    // A rollback-journal writer in the middle of its transaction.
    let writer = rusqlite::Connection::open(&db).expect("writer");
    writer
        .execute_batch(&format!("BEGIN IMMEDIATE; {insert};"))
        .expect("write inside a transaction");
    let report = conform::check_spool(&handoff).expect("check");
    let h = &report.handoffs[0];
    assert!(
        h.findings
            .iter()
            .any(|f| f.rule == "not_closed" && f.file == "metadata.db-journal"),
        "{:#?}",
        lines(&h.findings)
    );
    writer.execute_batch("ROLLBACK").expect("rollback");
    drop(writer);
    let report = conform::check_spool(&handoff).expect("check");
    assert!(
        report.conforming,
        "{:#?}",
        lines(&report.handoffs[0].findings)
    );

    // The same database in WAL mode, closed: read without creating -wal or -shm beside it.
    rusqlite::Connection::open(&db)
        .and_then(|c| c.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)))
        .expect("wal");
    let before = listing(&handoff);
    let report = conform::check_spool(&handoff).expect("check");
    assert!(
        report.conforming,
        "{:#?}",
        lines(&report.handoffs[0].findings)
    );
    assert_eq!(
        before,
        listing(&handoff),
        "a closed WAL database was written beside"
    );

    // A WAL writer with its connection still open.
    let writer = rusqlite::Connection::open(&db).expect("writer");
    writer.execute_batch(insert).expect("a committed write");
    let report = conform::check_spool(&handoff).expect("check");
    let h = &report.handoffs[0];
    assert!(
        h.findings
            .iter()
            .any(|f| f.rule == "not_closed" && f.file == "metadata.db-wal"),
        "{:#?}",
        lines(&h.findings)
    );
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("TZ", "UTC")
        .output()
        .expect("run autocapture-gates")
}

/// Flips the last byte of the first media file of `handoff`; its path relative to it.
fn flip_first_blob(handoff: &Path) -> String {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut stack = vec![handoff.join("media")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("media") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    let blob = files.first().expect("a media file");
    let mut bytes = std::fs::read(blob).expect("read");
    *bytes.last_mut().expect("not empty") ^= 0x01;
    std::fs::write(blob, bytes).expect("write");
    blob.strip_prefix(handoff)
        .expect("under the handoff")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn the_binary_exits_by_verdict_with_json_and_junit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let spool = generated(
        dir.path(),
        &Story::default_story().expect("story"),
        7,
        24,
        2,
    );
    let spool_arg = spool.to_str().expect("utf8");
    let junit = dir.path().join("conform.xml");
    let junit_arg = junit.to_str().expect("utf8");

    let good = run(&[
        "conform", "spool", spool_arg, "--json", "--junit", junit_arg,
    ]);
    assert_eq!(
        good.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&good.stdout).expect("one JSON document");
    assert_eq!(doc["schema"], "autocapture.conform.report.v1");
    assert_eq!(doc["conforming"], true);
    assert_eq!(doc["findings_total"], 0);
    assert_eq!(doc["handoffs"].as_array().map(Vec::len), Some(2));
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    let parsed = roxmltree::Document::parse(&xml).expect("JUnit is XML");
    let suites: Vec<_> = parsed
        .descendants()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 2, "one suite per handoff");
    for suite in &suites {
        let cases = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .count();
        assert_eq!(cases, RULES.len(), "one case per rule");
    }
    assert!(!xml.contains("<failure"), "{xml}");
    let table = run(&["conform", "spool", spool_arg]);
    assert_eq!(table.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&table.stdout).contains("0 finding(s): conforming"));

    let second = std::fs::read_dir(&spool)
        .expect("spool")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .max()
        .expect("a handoff");
    let blob = flip_first_blob(&second);
    let bad = run(&[
        "conform", "spool", spool_arg, "--json", "--junit", junit_arg,
    ]);
    assert_eq!(
        bad.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&bad.stdout).expect("one JSON document");
    assert_eq!(doc["conforming"], false);
    let findings: Vec<&serde_json::Value> = doc["handoffs"]
        .as_array()
        .expect("handoffs")
        .iter()
        .flat_map(|h| h["findings"].as_array().expect("findings"))
        .collect();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let finding = findings[0];
    for key in ["file", "row_id", "rule", "code", "message"] {
        assert!(finding.get(key).is_some(), "{key} missing from {finding}");
    }
    assert_eq!(finding["file"], blob.as_str());
    assert_eq!(finding["rule"], "content_hash_mismatch");
    assert_eq!(finding["code"], "media_hash_mismatch");
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    let parsed = roxmltree::Document::parse(&xml).expect("JUnit is XML");
    let failures: Vec<_> = parsed
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .collect();
    assert_eq!(failures.len(), 1);
    let message = failures[0].attribute("message").expect("a message");
    let row = finding["row_id"].as_str().expect("a row");
    assert!(
        message.contains(&blob)
            && message.contains(row)
            && message.contains("content_hash_mismatch"),
        "{message}"
    );

    let missing = dir.path().join("no-such-spool");
    let missing_arg = missing.to_str().expect("utf8");
    let gone = run(&["conform", "spool", missing_arg]);
    assert_eq!(gone.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&gone.stderr);
    assert!(
        stderr.starts_with("autocapture-gates: error[spool_unreadable]: ")
            && stderr.contains(missing_arg),
        "{stderr}"
    );
    let gone = run(&["conform", "spool", missing_arg, "--json"]);
    assert_eq!(gone.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_slice(&gone.stdout).expect("one JSON document");
    assert_eq!(doc["error"]["code"], "spool_unreadable");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let nothing = run(&["conform", "spool", empty.to_str().expect("utf8")]);
    assert_eq!(nothing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&nothing.stderr).contains("error[spool_empty]"));
}

#[test]
fn planted_faults_give_exactly_their_finding() {
    let dir = tempfile::tempdir().expect("temp dir");
    let spool = generated(
        dir.path(),
        &Story::default_story().expect("story"),
        11,
        36,
        3,
    );
    let handoffs: Vec<PathBuf> = {
        let mut all: Vec<PathBuf> = std::fs::read_dir(&spool)
            .expect("spool")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.is_dir())
            .collect();
        all.sort();
        all
    };
    // One byte of one blob of the legacy-layout handoff (Windows paths in its refs).
    let blob = flip_first_blob(&handoffs[1]);
    let report = conform::check_spool(&spool).expect("check");
    let found: Vec<(&str, &Finding)> = report.findings().collect();
    assert_eq!(found.len(), 1, "{found:#?}");
    let (name, finding) = found[0];
    assert_eq!(
        name,
        handoffs[1].file_name().expect("name").to_string_lossy()
    );
    assert_eq!(
        (finding.rule, finding.code, finding.file.as_str()),
        (
            "content_hash_mismatch",
            Some("media_hash_mismatch"),
            blob.as_str()
        )
    );
    assert!(
        finding
            .row_id
            .as_deref()
            .is_some_and(|id| id.starts_with("run1/evidence.capture.frame/")),
        "{finding:?}"
    );
    assert_eq!(handoff_named(&report, name).counts.len(), 1);

    // The producer's activity signal of the last handoff, with a string for a number.
    let signal = handoffs[2].join("activity/activity_signal.json");
    let mut value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&signal).expect("signal")).expect("json");
    value["idle_seconds"] = serde_json::json!("ten");
    std::fs::write(&signal, value.to_string()).expect("write");
    let report = conform::check_spool(&spool).expect("check");
    let last = handoff_named(
        &report,
        &handoffs[2].file_name().expect("name").to_string_lossy(),
    );
    assert_eq!(
        last.findings
            .iter()
            .map(|f| (f.rule, f.code, f.file.as_str(), f.failure.as_str()))
            .collect::<Vec<_>>(),
        [(
            "activity_signal_schema",
            Some("signal_invalid"),
            "activity/activity_signal.json",
            "closed"
        )]
    );
    assert_eq!(report.findings_total, 2);
}

#[test]
fn the_conformance_doc_lists_every_rule_with_its_code() {
    let root = autocapture_gates::contract::workspace_root().expect("checkout");
    let doc =
        std::fs::read_to_string(root.join("docs/conformance.md")).expect("docs/conformance.md");
    let section = doc
        .split("\n## ")
        .find(|part| part.starts_with("Rules"))
        .expect("a `## Rules` section");
    let rows: BTreeMap<String, String> = section
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let id = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((id.to_owned(), (*cells.get(2)?).to_owned()))
        })
        .collect();
    for rule in RULES {
        let code = rows
            .get(rule.id)
            .unwrap_or_else(|| panic!("docs/conformance.md has no row for `{}`", rule.id));
        let expected = rule.code.map_or("—".to_owned(), |c| format!("`{c}`"));
        assert_eq!(code, &expected, "the code of `{}`", rule.id);
    }
    let extra: Vec<&String> = rows
        .keys()
        .filter(|id| !RULES.iter().any(|r| r.id == id.as_str()))
        .collect();
    assert!(extra.is_empty(), "rows for no rule: {extra:?}");
}
