//! The audit log on real files: append, read back, and a planted tamper of every kind that
//! `verify` must catch at the right line.

use std::fs;
use std::path::Path;

use autocapture_core::audit::{
    AuditError, AuditEvent, AuditHead, AuditKey, AuditLog, BreakKind, verify,
};
use autocapture_core::contract::{canonical_json, sha256_hex};
use serde_json::{Value, json};
use time::macros::datetime;

fn event(n: u64) -> AuditEvent {
    AuditEvent {
        action: "handoff.ingest".into(),
        actor: "autocapture".into(),
        outcome: "ok".into(),
        details: json!({"handoff": format!("/spool/h{n}"), "rows": n}),
    }
}

/// A log in `<dir>/data` with its own key in `<dir>/cfg`, outside the DataRoot.
fn log_in(dir: &Path) -> AuditLog {
    fs::create_dir_all(dir.join("data")).expect("data dir");
    AuditLog::in_data_root(&dir.join("data")).with_key_file(dir.join("cfg").join("audit.key"))
}

fn key_of(log: &AuditLog) -> AuditKey {
    log.existing_key().expect("key").expect("the key exists")
}

/// A log of `n` lines in a fresh temp dir.
fn log_with(n: u64) -> (tempfile::TempDir, AuditLog) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = log_in(dir.path());
    for i in 1..=n {
        let at = datetime!(2026-02-20 19:40:00 UTC) + time::Duration::seconds(i as i64);
        log.append(&event(i), at).expect("append");
    }
    (dir, log)
}

fn lines(path: &Path) -> Vec<String> {
    let text = fs::read_to_string(path).expect("read log");
    text.lines().map(str::to_owned).collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    fs::write(path, text).expect("write log");
}

/// Applies `tamper` to a 5-line log and expects `verify` to report `kind` at `line`.
#[track_caller]
fn check(tamper: impl FnOnce(&Path), line: u64, kind: BreakKind) {
    let (_dir, log) = log_with(5);
    tamper(log.path());
    match log.verify() {
        Err(AuditError::Broken {
            line: got_line,
            kind: got_kind,
            ..
        }) => assert_eq!((got_line, got_kind), (line, kind)),
        other => panic!("expected a break at line {line} ({kind:?}), got {other:?}"),
    }
}

#[test]
fn append_then_verify_round_trip() {
    let (_dir, log) = log_with(3);
    let head = log.verify().expect("intact log verifies");
    assert_eq!(head.lines, 3);
    let written = lines(log.path());
    let parsed: Vec<Value> = written
        .iter()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(parsed[0]["seq"], 1);
    assert_eq!(parsed[0]["prev_hash"], Value::Null);
    assert_eq!(parsed[0]["ts_utc"], "2026-02-20T19:40:01.000000Z");
    assert_eq!(parsed[1]["prev_hash"], parsed[0]["hash"]);
    assert_eq!(parsed[2]["prev_hash"], parsed[1]["hash"]);
    assert_eq!(head.last_hash.as_deref(), parsed[2]["hash"].as_str());
    assert!(head.authenticated);
    let key = key_of(&log);
    // Each hash is sha256 of the canonical line without `hash` and `mac`, each mac authenticates
    // its hash under the key, and each line is canonical.
    for (text, value) in written.iter().zip(&parsed) {
        let mut unsealed = value.clone();
        let object = unsealed.as_object_mut().expect("object");
        let hash = object.remove("hash").expect("hash field");
        let mac = object.remove("mac").expect("mac field");
        assert_eq!(value["key_id"], json!(key.id()));
        assert_eq!(value["schema_version"], json!(2));
        assert_eq!(
            hash,
            sha256_hex(&canonical_json(&unsealed).expect("canonical"))
        );
        assert_eq!(mac, json!(key.mac(hash.as_str().expect("hex"))));
        assert_eq!(
            text.as_bytes(),
            canonical_json(value).expect("canonical").as_slice()
        );
    }
}

#[test]
fn missing_log_is_empty_and_first_append_creates_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = log_in(dir.path());
    assert_eq!(log.verify().expect("empty").lines, 0);
    log.append(&event(1), datetime!(2026-02-20 19:40:00 UTC))
        .expect("append");
    assert_eq!(log.verify().expect("one line").lines, 1);
}

#[test]
fn edited_line_is_caught() {
    let tamper = |p: &Path| {
        let mut l = lines(p);
        l[2] = l[2].replace("\"rows\":3", "\"rows\":4");
        write_lines(p, &l);
    };
    check(tamper, 3, BreakKind::HashMismatch);
}

/// Line 2 edited and its hash recomputed, as a writer without the key would.
fn rehash_line_2(p: &Path) {
    let mut l = lines(p);
    let mut value: Value = serde_json::from_str(&l[1]).expect("json");
    value["outcome"] = json!("failed");
    let object = value.as_object_mut().expect("object");
    object.remove("hash");
    let mac = object.remove("mac").expect("mac");
    let hash = sha256_hex(&canonical_json(&value).expect("canonical"));
    value["hash"] = json!(hash);
    value["mac"] = mac;
    l[1] = String::from_utf8(canonical_json(&value).expect("canonical")).expect("utf8");
    write_lines(p, &l);
}

#[test]
fn edited_line_with_recomputed_hash_fails_its_mac() {
    check(rehash_line_2, 2, BreakKind::MacMismatch);
}

#[test]
fn without_the_key_a_recomputed_hash_breaks_only_the_next_link() {
    let (_dir, log) = log_with(5);
    rehash_line_2(log.path());
    match verify(log.path(), None, None) {
        Err(AuditError::Broken { line, kind, .. }) => {
            assert_eq!((line, kind), (3, BreakKind::ChainMismatch))
        }
        other => panic!("expected a chain break at line 3, got {other:?}"),
    }
}

#[test]
fn a_history_rechained_without_the_key_fails_at_line_1() {
    let tamper = |p: &Path| {
        let mut prev = Value::Null;
        let mut out = Vec::new();
        for text in lines(p) {
            let mut value: Value = serde_json::from_str(&text).expect("json");
            value["details"] = json!({"rewritten": true});
            value["prev_hash"] = prev.clone();
            let object = value.as_object_mut().expect("object");
            object.remove("hash");
            let mac = object.remove("mac").expect("mac");
            let hash = sha256_hex(&canonical_json(&value).expect("canonical"));
            value["hash"] = json!(hash);
            value["mac"] = mac;
            prev = value["hash"].clone();
            out.push(String::from_utf8(canonical_json(&value).expect("canonical")).expect("utf8"));
        }
        write_lines(p, &out);
    };
    check(tamper, 1, BreakKind::MacMismatch);
}

#[test]
fn a_line_of_another_key_is_unknown() {
    let (dir, log) = log_with(3);
    let other = AuditLog::in_data_root(&dir.path().join("data"))
        .with_key_file(dir.path().join("other").join("audit.key"));
    fs::create_dir_all(dir.path().join("data2")).expect("dir");
    let stranger = AuditLog::in_data_root(&dir.path().join("data2"))
        .with_key_file(dir.path().join("other").join("audit.key"));
    stranger
        .append(&event(9), datetime!(2026-02-20 20:00:00 UTC))
        .expect("append");
    // The stranger's line put in place of line 3: its own hash holds, the key is not ours.
    let original = lines(log.path());
    let mut l = original.clone();
    l[2] = lines(stranger.path())[0].clone();
    write_lines(log.path(), &l);
    match verify(log.path(), None, Some(&key_of(&log))) {
        Err(AuditError::Broken { line, kind, .. }) => {
            assert_eq!((line, kind), (3, BreakKind::KeyUnknown))
        }
        other => panic!("expected an unknown key at line 3, got {other:?}"),
    }
    // And appending to our log with the other key is refused at the tail.
    write_lines(log.path(), &original);
    let err = other
        .append(&event(10), datetime!(2026-02-20 20:00:00 UTC))
        .expect_err("another key");
    assert_eq!(err.code(), "audit_key_unknown");
}

#[test]
fn an_unauthenticated_layout_1_line_is_refused() {
    let tamper = |p: &Path| {
        let mut l = lines(p);
        let mut value: Value = serde_json::from_str(&l[0]).expect("json");
        let object = value.as_object_mut().expect("object");
        object.remove("mac");
        object.remove("key_id");
        object.remove("hash");
        value["schema_version"] = json!(1);
        let hash = sha256_hex(&canonical_json(&value).expect("canonical"));
        value["hash"] = json!(hash);
        l[0] = String::from_utf8(canonical_json(&value).expect("canonical")).expect("utf8");
        write_lines(p, &l);
    };
    check(tamper, 1, BreakKind::Unauthenticated);
}

#[test]
fn a_key_inside_the_data_root_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = AuditLog::in_data_root(dir.path()).with_key_file(dir.path().join("audit.key"));
    let err = log
        .append(&event(1), datetime!(2026-02-20 20:00:00 UTC))
        .expect_err("key beside the log");
    assert_eq!(err.code(), "audit_key_in_data_root");
    assert!(!log.path().exists(), "nothing was written");
}

#[test]
fn deleted_line_is_caught() {
    let tamper = |p: &Path| {
        let mut l = lines(p);
        l.remove(1);
        write_lines(p, &l);
    };
    check(tamper, 2, BreakKind::ChainMismatch);
}

#[test]
fn deleted_first_line_is_caught() {
    let tamper = |p: &Path| {
        let mut l = lines(p);
        l.remove(0);
        write_lines(p, &l);
    };
    check(tamper, 1, BreakKind::ChainMismatch);
}

#[test]
fn reordered_lines_are_caught() {
    let tamper = |p: &Path| {
        let mut l = lines(p);
        l.swap(3, 4);
        write_lines(p, &l);
    };
    check(tamper, 4, BreakKind::ChainMismatch);
}

#[test]
fn torn_last_line_is_caught() {
    let tamper = |p: &Path| {
        let bytes = fs::read(p).expect("read");
        fs::write(p, &bytes[..bytes.len() - 20]).expect("truncate");
    };
    check(tamper, 5, BreakKind::Truncated);
}

#[test]
fn reformatted_line_is_caught() {
    let tamper = |p: &Path| {
        let mut l = lines(p);
        l[0] = l[0].replacen(',', ", ", 1);
        write_lines(p, &l);
    };
    check(tamper, 1, BreakKind::NotCanonical);
}

#[test]
fn garbage_line_is_caught() {
    let tamper = |p: &Path| {
        let mut l = lines(p);
        l.insert(2, "not json".into());
        write_lines(p, &l);
    };
    check(tamper, 3, BreakKind::NotJson);
}

#[test]
fn cut_tail_is_caught_against_a_recorded_head() {
    let (_dir, log) = log_with(5);
    let recorded = log.verify().expect("intact");
    let mut l = lines(log.path());
    l.truncate(3);
    write_lines(log.path(), &l);
    // The shorter chain is intact on its own…
    assert_eq!(log.verify().expect("prefix verifies").lines, 3);
    // …but not against the head recorded before the cut.
    let key = key_of(&log);
    let err = verify(log.path(), Some(&recorded), Some(&key)).expect_err("tail missing");
    assert_eq!(err.code(), "audit_tail_missing");
    // A head recorded before the current end still verifies.
    let second: Value = serde_json::from_str(&l[1]).expect("json");
    let early = AuditHead::witness(2, second["hash"].as_str().expect("hash"));
    assert_eq!(
        verify(log.path(), Some(&early), Some(&key))
            .expect("reaches head")
            .lines,
        3
    );
    // A witness whose line has another hash: the history was rewritten.
    let rewritten = AuditHead::witness(2, "0".repeat(64));
    let err = verify(log.path(), Some(&rewritten), Some(&key)).expect_err("rewritten");
    assert_eq!(err.code(), "audit_witness_mismatch");
}

#[test]
fn append_repairs_a_torn_tail_of_its_own_and_keeps_the_bytes() {
    let (_dir, log) = log_with(2);
    let bytes = fs::read(log.path()).expect("read");
    // The last line without its newline: an append cut one byte short.
    fs::write(log.path(), &bytes[..bytes.len() - 1]).expect("drop newline");
    let line = log
        .append(&event(3), datetime!(2026-02-20 20:00:00 UTC))
        .expect("repaired, then appended");
    assert_eq!(
        line.seq, 3,
        "line 2 was moved aside and the repair is line 2"
    );
    let l = lines(log.path());
    let repair: Value = serde_json::from_str(&l[1]).expect("json");
    assert_eq!(repair["action"], "audit.repair");
    let torn_start = bytes[..bytes.len() - 1]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let torn = &bytes[torn_start..bytes.len() - 1];
    assert_eq!(repair["details"]["torn_sha256"], json!(sha256_hex(torn)));
    let kept = fs::read(repair["details"]["quarantine"].as_str().expect("path")).expect("kept");
    assert_eq!(kept, torn);
    assert_eq!(log.verify().expect("verifies").lines, 3);
}

#[test]
fn append_refuses_to_bury_a_foreign_tail() {
    let (_dir, log) = log_with(2);
    let mut bytes = fs::read(log.path()).expect("read");
    bytes.extend_from_slice(b"written by someone else");
    fs::write(log.path(), &bytes).expect("append garbage");
    let err = log
        .append(&event(3), datetime!(2026-02-20 20:00:00 UTC))
        .expect_err("foreign tail");
    assert_eq!(err.code(), "audit_line_truncated");
    assert_eq!(fs::read(log.path()).expect("read"), bytes, "log unchanged");
}

#[test]
fn append_refuses_to_extend_an_edited_tail() {
    let (_dir, log) = log_with(2);
    let mut l = lines(log.path());
    l[1] = l[1].replace("\"rows\":2", "\"rows\":9");
    write_lines(log.path(), &l);
    let err = log
        .append(&event(3), datetime!(2026-02-20 20:00:00 UTC))
        .expect_err("edited tail");
    assert_eq!(err.code(), "audit_hash_mismatch");
}

#[test]
fn append_refuses_floats_in_details() {
    let (_dir, log) = log_with(1);
    let mut bad = event(2);
    bad.details = json!({"ratio": 0.5});
    let err = log
        .append(&bad, datetime!(2026-02-20 20:00:00 UTC))
        .expect_err("float");
    assert_eq!(err.code(), "audit_event_invalid");
    assert_eq!(log.verify().expect("still intact").lines, 1);
}
