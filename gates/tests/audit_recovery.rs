//! A full disk during the audit append, with the real binary under a real `RLIMIT_FSIZE`: the
//! ingest that hits it fails with no marker and leaves a torn line; once space is back, the next
//! ingest quarantines the torn bytes, records the repair and writes its marker, whose audit head
//! the log holds. Damage that is not a torn append still refuses appends and repairs.

use std::path::{Path, PathBuf};

use autocapture_core::audit::{AuditEvent, AuditHead, AuditLog, verify};
use autocapture_core::contract::sha256_hex;
use autocapture_core::stage1::marker::{self, MarkerState};
use autocapture_gates::corpus::build;
use autocapture_gates::probe::measure::{Limits, measure_child_limited};
use serde_json::{Value, json};
use time::macros::datetime;

fn bins() -> (PathBuf, PathBuf) {
    let harness = PathBuf::from(env!("CARGO_BIN_EXE_autocapture-gates"));
    let bin = autocapture_gates::harness::bins::autocapture_beside(&harness).expect("autocapture");
    (harness, bin)
}

/// `autocapture handoff ingest --json` of `handoff` into `data`, under `limits`.
fn ingest(handoff: &Path, data: &Path, limits: &Limits) -> (Option<i32>, Value) {
    let (harness, bin) = bins();
    let (handoff, data) = (handoff.display().to_string(), data.display().to_string());
    let measured = measure_child_limited(
        &harness,
        &bin,
        &[
            "handoff",
            "ingest",
            "--handoff-root",
            &handoff,
            "--data-dir",
            &data,
            "--json",
        ],
        limits,
    )
    .expect("run the ingest");
    let out = serde_json::from_str(measured.stdout.trim()).unwrap_or(Value::Null);
    (measured.exit_code, out)
}

fn audit(args: &[&str], data: &Path) -> (bool, Value) {
    let (_, bin) = bins();
    let output = std::process::Command::new(bin)
        .arg("audit")
        .args(args)
        .args(["--json", "--data-dir"])
        .arg(data)
        .output()
        .expect("run audit");
    let out = serde_json::from_slice(output.stdout.trim_ascii()).unwrap_or(Value::Null);
    (output.status.success(), out)
}

fn bytes_after_last_newline(log: &Path) -> Vec<u8> {
    let text = std::fs::read(log).expect("read log");
    let start = text
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |pos| pos + 1);
    text[start..].to_vec()
}

fn timeout() -> Limits {
    Limits {
        timeout_ms: Some(120_000),
        ..Limits::default()
    }
}

#[test]
fn a_full_disk_during_the_audit_append_is_repaired_by_the_next_ingest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, handoffs) = build::spool(dir.path(), 7, 60, 2).expect("spool");
    let data = dir.path().join("data");
    let (code, out) = ingest(&handoffs[0], &data, &timeout());
    assert_eq!(code, Some(0), "{out}");
    // Make the log the largest file of the DataRoot, so the limit below bites on it alone.
    let log = AuditLog::in_data_root(&data);
    log.append(
        &AuditEvent {
            action: "test.padding".into(),
            actor: "audit_recovery test".into(),
            outcome: "ok".into(),
            details: json!({"padding": "x".repeat(900_000)}),
        },
        datetime!(2026-02-21 08:00:00 UTC),
    )
    .expect("pad the log");
    let size = std::fs::metadata(log.path()).expect("log").len();

    let full = Limits {
        file_size_bytes: Some(size + 64),
        ..timeout()
    };
    let (code, out) = ingest(&handoffs[1], &data, &full);
    assert_eq!(code, Some(2), "{out}");
    let failed = out["error"]["code"].as_str().unwrap_or_default();
    assert!(
        ["data_dir_full", "audit_io"].contains(&failed),
        "the full disk is reported as such: {out}"
    );
    assert!(matches!(marker::read(&handoffs[1]), MarkerState::Missing));
    let torn = bytes_after_last_newline(log.path());
    assert!(
        !torn.is_empty() && torn.starts_with(b"{\"action\":\""),
        "the failed append left a torn line: {:?}",
        String::from_utf8_lossy(&torn)
    );
    let (ok, verified) = audit(&["verify"], &data);
    assert!(!ok, "a torn log does not verify");
    assert_eq!(verified["error"]["code"], "audit_line_truncated");

    // Space is back: the next ingest repairs and goes on.
    let (code, out) = ingest(&handoffs[1], &data, &timeout());
    assert_eq!(code, Some(0), "{out}");
    let MarkerState::Valid(written) = marker::read(&handoffs[1]) else {
        panic!("the rerun writes its marker");
    };
    let lines: Vec<Value> = std::fs::read_to_string(log.path())
        .expect("log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a whole line"))
        .collect();
    let repairs: Vec<&Value> = lines
        .iter()
        .filter(|l| l["action"] == "audit.repair")
        .collect();
    assert!(!repairs.is_empty(), "the repair is on record");
    let quarantined: Vec<Vec<u8>> = repairs
        .iter()
        .map(|r| {
            let path = r["details"]["quarantine"].as_str().expect("quarantine");
            let bytes = std::fs::read(path).expect("the quarantined bytes are kept");
            assert_eq!(r["details"]["torn_sha256"], json!(sha256_hex(&bytes)));
            assert_eq!(r["details"]["torn_bytes"], json!(bytes.len()));
            bytes
        })
        .collect();
    assert!(
        quarantined.contains(&torn),
        "the torn bytes the full disk left are quarantined"
    );
    let marker_path = handoffs[1].join(marker::MARKER_FILE);
    let marker_arg = marker_path.display().to_string();
    let (ok, verified) = audit(&["verify", "--witness", &marker_arg], &data);
    assert!(
        ok,
        "the repaired log verifies against the marker: {verified}"
    );
    assert_eq!(verified["authenticated"], true);
    let key = log.existing_key().expect("key").expect("the key exists");
    let head = verify(
        log.path(),
        Some(&AuditHead::witness(
            written.audit_head.seq,
            written.audit_head.hash.clone(),
        )),
        Some(&key),
    )
    .expect("the marker's head is in the log");
    assert_eq!(head.lines, lines.len() as u64);
    assert_eq!(
        lines.last().expect("a line")["action"],
        "handoff.ingest",
        "the ingest's outcome is the last line"
    );
}

#[test]
fn damage_other_than_a_torn_append_is_refused_by_appends_and_repairs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path();
    let log = AuditLog::in_data_root(data);
    let event = |n: u64| AuditEvent {
        action: "handoff.ingest".into(),
        actor: "test".into(),
        outcome: "ok".into(),
        details: json!({"n": n}),
    };
    let at = datetime!(2026-02-21 08:00:00 UTC);
    for n in 0..3 {
        log.append(&event(n), at).expect("append");
    }
    let text = std::fs::read_to_string(log.path()).expect("log");
    let lines: Vec<&str> = text.lines().collect();

    // An edited middle line under a torn tail: the repair would bury it, so it is refused.
    let edited = lines[1].replacen("\"outcome\":\"ok\"", "\"outcome\":\"no\"", 1);
    std::fs::write(
        log.path(),
        format!(
            "{}\n{edited}\n{}\n{{\"action\":\"handoff",
            lines[0], lines[2]
        ),
    )
    .expect("write");
    let err = log.append(&event(9), at).expect_err("refused");
    assert_eq!(err.code(), "audit_hash_mismatch", "{err}");
    let (ok, out) = audit(&["repair"], data);
    assert!(!ok);
    assert_eq!(out["error"]["code"], "audit_hash_mismatch");
    assert!(
        !autocapture_core::audit::repair::quarantine_dir(log.path()).exists(),
        "nothing was moved aside"
    );

    // An edited last line refuses appends.
    std::fs::write(
        log.path(),
        format!(
            "{}\n{}\n{}\n",
            lines[0],
            lines[1],
            lines[2].replacen("\"outcome\":\"ok\"", "\"outcome\":\"no\"", 1)
        ),
    )
    .expect("write");
    assert_eq!(
        log.append(&event(9), at).expect_err("refused").code(),
        "audit_hash_mismatch"
    );

    // A tail that is not the start of an audit line refuses appends and repairs.
    std::fs::write(log.path(), format!("{text}garbage")).expect("write");
    assert_eq!(
        log.append(&event(9), at).expect_err("refused").code(),
        "audit_line_truncated"
    );
    let (ok, out) = audit(&["repair"], data);
    assert!(!ok);
    assert_eq!(out["error"]["code"], "audit_line_truncated");
    assert_eq!(
        std::fs::read_to_string(log.path()).expect("log"),
        format!("{text}garbage"),
        "the log is left as it was"
    );

    // A torn tail of our own is repaired by the command, once.
    std::fs::write(log.path(), format!("{text}{{\"action\":\"hand")).expect("write");
    let (ok, out) = audit(&["repair"], data);
    assert!(ok, "{out}");
    assert_eq!(out["repairs"].as_array().map(Vec::len), Some(1), "{out}");
    let (ok, out) = audit(&["repair"], data);
    assert!(ok, "{out}");
    assert_eq!(out["repairs"].as_array().map(Vec::len), Some(0), "{out}");
    let head = log.verify().expect("verifies");
    assert_eq!(head.lines, 4);
    assert!(head.authenticated);
}

#[test]
fn an_interrupted_repair_is_finished_by_the_next_append() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = AuditLog::in_data_root(dir.path());
    let event = AuditEvent {
        action: "handoff.ingest".into(),
        actor: "test".into(),
        outcome: "ok".into(),
        details: json!({}),
    };
    let at = datetime!(2026-02-21 08:00:00 UTC);
    log.append(&event, at).expect("append");
    // The state a crash leaves after the torn bytes were cut and kept, before the repair line.
    let quarantine = autocapture_core::audit::repair::quarantine_dir(log.path());
    std::fs::create_dir(&quarantine).expect("mkdir");
    let torn = b"{\"action\":\"handoff.ingest\",\"act";
    let name = format!("pending-after-1-{}.torn", sha256_hex(torn));
    std::fs::write(quarantine.join(&name), torn).expect("pending");
    let line = log.append(&event, at).expect("append");
    assert_eq!(line.seq, 3, "the repair line came first");
    let text = std::fs::read_to_string(log.path()).expect("log");
    let repair: Value = serde_json::from_str(text.lines().nth(1).expect("line 2")).expect("json");
    assert_eq!(repair["action"], "audit.repair");
    assert_eq!(repair["details"]["torn_sha256"], json!(sha256_hex(torn)));
    assert!(quarantine.join(&name["pending-".len()..]).is_file());
    assert!(!quarantine.join(&name).exists());
    assert_eq!(log.verify().expect("verifies").lines, 3);
}
