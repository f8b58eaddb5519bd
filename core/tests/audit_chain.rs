//! The audit log on real files: append, read back, and a planted tamper of every kind that
//! `verify` must catch at the right line.

use std::fs;
use std::path::Path;

use autocapture_core::audit::{AuditError, AuditEvent, AuditHead, AuditLog, BreakKind, verify};
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

/// A log of `n` lines in a fresh temp dir.
fn log_with(n: u64) -> (tempfile::TempDir, AuditLog) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = AuditLog::in_data_root(dir.path());
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
    // Each hash is sha256 of the canonical line without `hash`, and each line is canonical.
    for (text, value) in written.iter().zip(&parsed) {
        let mut unsealed = value.clone();
        let hash = unsealed
            .as_object_mut()
            .and_then(|o| o.remove("hash"))
            .expect("hash field");
        assert_eq!(
            hash,
            sha256_hex(&canonical_json(&unsealed).expect("canonical"))
        );
        assert_eq!(
            text.as_bytes(),
            canonical_json(value).expect("canonical").as_slice()
        );
    }
}

#[test]
fn missing_log_is_empty_and_first_append_creates_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = AuditLog::in_data_root(dir.path());
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

#[test]
fn edited_line_with_recomputed_hash_breaks_the_next_link() {
    let tamper = |p: &Path| {
        let mut l = lines(p);
        let mut value: Value = serde_json::from_str(&l[1]).expect("json");
        value["outcome"] = json!("failed");
        value.as_object_mut().expect("object").remove("hash");
        let hash = sha256_hex(&canonical_json(&value).expect("canonical"));
        value["hash"] = json!(hash);
        l[1] = String::from_utf8(canonical_json(&value).expect("canonical")).expect("utf8");
        write_lines(p, &l);
    };
    check(tamper, 3, BreakKind::ChainMismatch);
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
    let err = verify(log.path(), Some(&recorded)).expect_err("tail missing");
    assert_eq!(err.code(), "audit_tail_missing");
    // A head recorded before the current end still verifies.
    let second: Value = serde_json::from_str(&l[1]).expect("json");
    let early = AuditHead {
        lines: 2,
        last_hash: second["hash"].as_str().map(str::to_owned),
    };
    assert_eq!(
        verify(log.path(), Some(&early))
            .expect("reaches head")
            .lines,
        3
    );
}

#[test]
fn append_refuses_to_bury_a_torn_tail() {
    let (_dir, log) = log_with(2);
    let bytes = fs::read(log.path()).expect("read");
    fs::write(log.path(), &bytes[..bytes.len() - 1]).expect("drop newline");
    let err = log
        .append(&event(3), datetime!(2026-02-20 20:00:00 UTC))
        .expect_err("torn tail");
    assert_eq!(err.code(), "audit_line_truncated");
    let after = fs::read(log.path()).expect("read");
    assert_eq!(after.len(), bytes.len() - 1, "log unchanged");
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
