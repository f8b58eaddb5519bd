//! `autocapture export` and `autocapture export verify` through the real binary on a real
//! DataRoot: bundles verify, sanitisation applies, dropped apps stay out, the DataRoot's content
//! is unchanged, each export is audited, every bad input has its code and exit code and leaves
//! no bundle, and every kind of tampering with a bundle is caught.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rusqlite::Connection;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const BIN: &str = env!("CARGO_BIN_EXE_autocapture");
const MAIL: &str = "C:\\Program Files\\Northwind\\Mail\\nwmail.exe";
const KEEPASS: &str = "C:\\Program Files\\KeePass Password Safe 2\\KeePass.exe";

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("TZ", "UTC")
        .output()
        .expect("run binary")
}

fn json_of(output: &Output) -> Value {
    let text = String::from_utf8(output.stdout.clone()).expect("utf8");
    assert_eq!(text.lines().count(), 1, "one JSON document: {text}");
    serde_json::from_str(&text).expect("stdout is JSON")
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A handoff of two frames: a mail window whose title and UIA text hold personal data, and a
/// password manager window.
fn handoff(root: &Path) -> PathBuf {
    let dir = root.join("handoff_0001");
    fs::create_dir_all(dir.join("media/run1")).expect("mkdir");
    let conn = Connection::open(dir.join("metadata.db")).expect("db");
    conn.execute_batch("CREATE TABLE metadata (id TEXT PRIMARY KEY, record_type TEXT, ts_utc TEXT, payload TEXT, run_id TEXT)")
        .expect("ddl");
    let insert = |id: &str, record_type: &str, ts: &str, payload: Value| {
        conn.execute(
            "INSERT INTO metadata VALUES (?1, ?2, ?3, ?4, 'run1')",
            (id, record_type, ts, payload.to_string()),
        )
        .expect("insert");
    };
    for (seq, process, title, node) in [
        (
            0,
            MAIL,
            "Inbox - dana@northwind.example - Mail",
            "Call Priya on +1 (555) 010-2233",
        ),
        (1, KEEPASS, "Database.kdbx - KeePass", "Password: hunter2"),
    ] {
        let ts = format!("2026-02-20T09:0{seq}:00.000000Z");
        let blob = format!("frame {seq}");
        fs::write(dir.join(format!("media/run1/frame_{seq}.blob")), &blob).expect("blob");
        let snapshot_id = format!("run1/evidence.uia.snapshot/{seq}");
        let snapshot_hash = sha(format!("snapshot {seq}").as_bytes());
        let window = json!({"title": title, "process_path": process, "hwnd": "0x1A2B", "pid": 4120, "rect": [0, 0, 640, 480]});
        insert(
            &format!("run1/evidence.capture.frame/{seq}"),
            "evidence.capture.frame",
            &ts,
            json!({
                "schema_version": 1, "record_type": "evidence.capture.frame", "run_id": "run1",
                "ts_utc": ts, "width": 640, "height": 480,
                "content_hash": sha(blob.as_bytes()), "blob_path": format!("media/run1/frame_{seq}.blob"),
                "uia_ref": {"record_id": snapshot_id, "content_hash": snapshot_hash},
                "input_ref": {"record_id": format!("run1/derived.input.summary/{seq}")},
                "window_ref": {"record_id": format!("run1/evidence.window.meta/{seq}"), "ts_utc": ts, "window": window},
            }),
        );
        insert(
            &snapshot_id,
            "evidence.uia.snapshot",
            &ts,
            json!({
                "schema_version": 1, "record_type": "evidence.uia.snapshot", "record_id": snapshot_id,
                "run_id": "run1", "ts_utc": ts, "unix_ms_utc": 0, "hwnd": "0x1A2B",
                "window": {"title": title, "process_path": process, "pid": 4120},
                "focus_path": [{"eid": "e1", "role": "text", "name": node, "aid": "a1", "class": "TextBlock", "rect": [10, 10, 200, 40], "enabled": true, "offscreen": false}],
                "context_peers": [], "operables": [],
                "stats": {"walk_ms": 1, "nodes_emitted": 1, "failures": 0},
                "content_hash": snapshot_hash,
            }),
        );
        insert(
            &format!("run1/evidence.window.meta/{seq}"),
            "evidence.window.meta",
            &ts,
            json!({"schema_version": 1, "record_type": "evidence.window.meta", "run_id": "run1", "ts_utc": ts, "window": window}),
        );
    }
    dir
}

/// A DataRoot holding the handoff, and the temp dir around it.
fn data_root() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let handoff = handoff(dir.path());
    let data = dir.path().join("data");
    let out = run(&[
        "handoff",
        "ingest",
        "--handoff-root",
        handoff.to_str().expect("utf8"),
        "--data-dir",
        data.to_str().expect("utf8"),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (dir, data)
}

/// The DataRoot's logical content: every evidence and derived row, every media file.
fn content(data: &Path) -> String {
    let mut hasher = Sha256::new();
    for (db, table) in [
        ("metadata.db", "metadata"),
        ("derived/stage1_derived.db", "derived"),
    ] {
        let conn = Connection::open(data.join(db)).expect("open");
        let mut stmt = conn
            .prepare(&format!("SELECT id, payload FROM {table} ORDER BY id"))
            .expect("prepare");
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .expect("query");
        for row in rows {
            let (id, payload) = row.expect("row");
            hasher.update(format!("{id}\t{payload}\n"));
        }
    }
    let mut files: Vec<PathBuf> = fs::read_dir(data.join("media/run1"))
        .expect("media")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    for file in files {
        hasher.update(fs::read(file).expect("read media"));
    }
    hex::encode(hasher.finalize())
}

fn audit_lines(data: &Path) -> Vec<Value> {
    fs::read_to_string(data.join("audit.ndjson"))
        .expect("audit log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit line"))
        .collect()
}

fn export(data: &Path, out: &Path, selection: &[&str]) -> Output {
    let mut args = vec![
        "export",
        "--data-dir",
        data.to_str().expect("utf8"),
        "--out",
        out.to_str().expect("utf8"),
        "--json",
    ];
    args.extend_from_slice(selection);
    run(&args)
}

fn verify(dir: &Path) -> Output {
    run(&["export", "verify", dir.to_str().expect("utf8"), "--json"])
}

#[test]
fn export_by_records_verifies_sanitises_and_leaves_the_data_root_unchanged() {
    let (dir, data) = data_root();
    let before = content(&data);
    let audit_before = audit_lines(&data).len();
    let out = dir.path().join("bundle");
    let result = export(
        &data,
        &out,
        &[
            "--records",
            "run1/evidence.capture.frame/0",
            "--include-media",
        ],
    );
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let report = json_of(&result);
    assert_eq!(report["ok"], true);
    assert_eq!(
        report["counts"]["metadata_records"], 3,
        "frame, snapshot, window (no input row exists)"
    );
    assert_eq!(report["counts"]["media_files"], 1);
    // The title: in the frame, the snapshot, the window record, and 3 docs (field and text).
    assert_eq!(report["counts"]["redactions"]["email"], 9, "{report}");
    // The node name: in the snapshot, and in the focus doc's text and node list.
    assert_eq!(report["counts"]["redactions"]["phone"], 3, "{report}");

    let verified = verify(&out);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
    assert_eq!(json_of(&verified)["bundle_digest"], report["bundle_digest"]);

    let records = fs::read_to_string(out.join("records/metadata.ndjson")).expect("records");
    assert!(!records.contains("dana@northwind.example"), "{records}");
    assert!(!records.contains("555"), "{records}");
    assert!(
        !records.contains("Northwind\\\\Mail"),
        "process path reduced: {records}"
    );
    assert!(
        records.contains("\"process_path\":\"nwmail.exe\""),
        "{records}"
    );
    // Ids, times, hashes and bboxes survive so citations resolve.
    assert!(records.contains("\"id\":\"run1/evidence.capture.frame/0\""));
    assert!(records.contains("\"ts_utc\":\"2026-02-20T09:00:00.000000Z\""));
    assert!(records.contains(&sha(b"frame 0")));
    assert!(records.contains("[10,10,200,40]"));
    let derived = fs::read_to_string(out.join("records/derived.ndjson")).expect("derived");
    assert!(
        derived.contains("derived.ingest.stage1.complete"),
        "{derived}"
    );
    assert_eq!(
        fs::read(out.join("media/run1/frame_0.blob")).expect("media"),
        b"frame 0"
    );

    assert_eq!(
        content(&data),
        before,
        "the DataRoot's content is unchanged"
    );
    let audit = audit_lines(&data);
    assert_eq!(audit.len(), audit_before + 1, "one audit line per export");
    let line = audit.last().expect("line");
    assert_eq!(line["action"], "export");
    assert_eq!(line["outcome"], "ok");
    assert_eq!(line["details"]["bundle_digest"], report["bundle_digest"]);
    let audit_ok = run(&[
        "audit",
        "verify",
        "--data-dir",
        data.to_str().expect("utf8"),
    ]);
    assert!(audit_ok.status.success());
}

#[test]
fn a_time_range_drops_password_manager_windows() {
    let (dir, data) = data_root();
    let out = dir.path().join("bundle");
    let result = export(
        &data,
        &out,
        &[
            "--from",
            "2026-02-20T09:00:00Z",
            "--to",
            "2026-02-20T10:05:00+01:00",
            "--include-media",
        ],
    );
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let report = json_of(&result);
    assert!(
        report["counts"]["dropped_records"].as_u64() >= Some(3),
        "{report}"
    );
    let records = fs::read_to_string(out.join("records/metadata.ndjson")).expect("records");
    assert!(records.contains("run1/evidence.capture.frame/0"));
    assert!(
        !records.contains("run1/evidence.capture.frame/1"),
        "{records}"
    );
    assert!(!records.contains("KeePass"), "{records}");
    assert!(!out.join("media/run1/frame_1.blob").exists());
    let derived = fs::read_to_string(out.join("records/derived.ndjson")).expect("derived");
    assert!(
        !derived.contains("hunter2") && !derived.contains("KeePass"),
        "{derived}"
    );
    assert!(verify(&out).status.success());

    // A rules file that drops nothing keeps the window (and reduces nothing).
    let rules = dir.path().join("rules.json");
    fs::write(
        &rules,
        r#"{"schema": "autocapture.export.rules.v1", "redact": {"email": false, "phone": true, "payment_card": true, "national_id": true}, "reduce_process_paths": false, "drop_apps": []}"#,
    )
    .expect("rules");
    let kept = dir.path().join("kept");
    let result = export(
        &data,
        &kept,
        &[
            "--from",
            "2026-02-20T09:00:00Z",
            "--to",
            "2026-02-20T09:05:00Z",
            "--rules",
            rules.to_str().expect("utf8"),
        ],
    );
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let records = fs::read_to_string(kept.join("records/metadata.ndjson")).expect("records");
    assert!(records.contains("run1/evidence.capture.frame/1"));
    assert!(records.contains("dana@northwind.example"), "email rule off");
    assert!(records.contains("KeePass Password Safe 2"), "paths kept");
}

/// Entries of `dir` other than `keep`: temp dirs of a failed export would show here.
fn leftovers(dir: &Path, keep: &[&str]) -> Vec<String> {
    fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect()
}

#[test]
fn bad_inputs_have_codes_and_leave_no_bundle() {
    let (dir, data) = data_root();
    let root = dir.path();
    fs::write(root.join("garbage.json"), "{not json").expect("rules");
    fs::write(
        root.join("bad-regex.json"),
        r#"{"schema": "autocapture.export.rules.v1", "redact": {"email": true, "phone": true, "payment_card": true, "national_id": true}, "reduce_process_paths": true, "drop_apps": [], "patterns": [{"name": "ticket", "regex": "INC-("}]}"#,
    )
    .expect("rules");
    fs::create_dir_all(root.join("full")).expect("mkdir");
    fs::write(root.join("full/existing.txt"), "x").expect("file");
    fs::write(root.join("a-file"), "x").expect("file");
    // A rules file that would hang (a FIFO with no writer) or never end (`/dev/zero`), and one
    // past the size bound.
    nix::unistd::mkfifo(
        &root.join("fifo.json"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .expect("mkfifo");
    fs::write(root.join("huge.json"), vec![b' '; 1024 * 1024 + 1]).expect("rules");
    let frame = "run1/evidence.capture.frame/0";
    let cases: Vec<(&str, PathBuf, Vec<&str>, &str, i32)> = vec![
        (
            "unknown id",
            root.join("b1"),
            vec!["--records", frame, "run9/nope/1"],
            "export_record_unknown",
            1,
        ),
        (
            "out not empty",
            root.join("full"),
            vec!["--records", frame],
            "export_out_not_empty",
            1,
        ),
        (
            "out is a file",
            root.join("a-file"),
            vec!["--records", frame],
            "export_out_not_empty",
            1,
        ),
        (
            "out unwritable",
            root.join("a-file/bundle"),
            vec!["--records", frame],
            "export_out_unwritable",
            2,
        ),
        (
            "out inside the DataRoot",
            data.join("media/bundle"),
            vec!["--records", frame],
            "export_out_inside_data_root",
            1,
        ),
        (
            "rules do not parse",
            root.join("b2"),
            vec!["--records", frame, "--rules", "garbage.json"],
            "export_rules_invalid",
            1,
        ),
        (
            "rules pattern invalid",
            root.join("b3"),
            vec!["--records", frame, "--rules", "bad-regex.json"],
            "export_rules_invalid",
            1,
        ),
        (
            "rules are a FIFO",
            root.join("b8"),
            vec!["--records", frame, "--rules", "fifo.json"],
            "export_rules_unreadable",
            1,
        ),
        (
            "rules are a device",
            root.join("b9"),
            vec!["--records", frame, "--rules", "/dev/zero"],
            "export_rules_unreadable",
            1,
        ),
        (
            "rules over the size bound",
            root.join("b10"),
            vec!["--records", frame, "--rules", "huge.json"],
            "export_rules_invalid",
            1,
        ),
        (
            "rules missing",
            root.join("b4"),
            vec!["--records", frame, "--rules", "missing.json"],
            "export_rules_unreadable",
            1,
        ),
        (
            "time invalid",
            root.join("b5"),
            vec!["--from", "yesterday", "--to", "2026-02-20T10:00:00Z"],
            "export_time_invalid",
            1,
        ),
        (
            "range reversed",
            root.join("b6"),
            vec![
                "--from",
                "2026-02-20T10:00:00Z",
                "--to",
                "2026-02-20T09:00:00Z",
            ],
            "export_range_reversed",
            1,
        ),
        (
            "nothing selected",
            root.join("b7"),
            vec![
                "--from",
                "2026-02-21T10:00:00Z",
                "--to",
                "2026-02-21T11:00:00Z",
            ],
            "export_selection_empty",
            1,
        ),
        (
            "query syntax",
            root.join("b8"),
            vec!["--query", "app:\"mail"],
            "query_syntax",
            1,
        ),
    ];
    let before = content(&data);
    for (name, out, selection, code, exit) in cases {
        let selection: Vec<String> = selection
            .iter()
            .map(|a| {
                if a.ends_with(".json") {
                    root.join(a).display().to_string()
                } else {
                    (*a).to_owned()
                }
            })
            .collect();
        let selection: Vec<&str> = selection.iter().map(String::as_str).collect();
        let existed = out.exists();
        let result = export(&data, &out, &selection);
        assert_eq!(
            result.status.code(),
            Some(exit),
            "{name}: {}",
            String::from_utf8_lossy(&result.stdout)
        );
        let body = json_of(&result);
        assert_eq!(body["ok"], false, "{name}");
        assert_eq!(body["error"]["code"], code, "{name}: {body}");
        if !existed {
            assert!(!out.exists(), "{name}: no bundle left at {}", out.display());
        }
    }
    assert_eq!(
        leftovers(
            root,
            &[
                "data",
                "handoff_0001",
                "full",
                "a-file",
                "garbage.json",
                "bad-regex.json",
                "fifo.json",
                "huge.json"
            ]
        ),
        Vec::<String>::new(),
        "no temp dirs left behind"
    );
    assert_eq!(
        leftovers(&data.join("media"), &["run1"]),
        Vec::<String>::new()
    );
    assert_eq!(content(&data), before);
    let missing = export(
        &root.join("nowhere"),
        &root.join("b9"),
        &["--records", frame],
    );
    assert_eq!(missing.status.code(), Some(2));
    assert_eq!(json_of(&missing)["error"]["code"], "data_dir_missing");
    // Selection flags are exclusive; usage errors exit 2.
    let usage = run(&[
        "export",
        "--data-dir",
        "d",
        "--out",
        "o",
        "--query",
        "x",
        "--records",
        "y",
    ]);
    assert_eq!(usage.status.code(), Some(2));
    let help = run(&["export", "--help"]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("export_out_not_empty"));
}

fn bundle_files(dir: &Path, base: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("list") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            bundle_files(&path, base, out);
        } else {
            out.push(path.strip_prefix(base).expect("relative").to_path_buf());
        }
    }
}

#[test]
fn verify_catches_every_changed_byte_and_missing_or_extra_files() {
    let (dir, data) = data_root();
    let out = dir.path().join("bundle");
    let result = export(
        &data,
        &out,
        &[
            "--records",
            "run1/evidence.capture.frame/0",
            "--include-media",
        ],
    );
    assert!(result.status.success());
    let mut files = Vec::new();
    bundle_files(&out, &out, &mut files);
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    for relpath in &files {
        let path = out.join(relpath);
        let original = fs::read(&path).expect("read");
        for position in [0, original.len() / 2, original.len() - 1] {
            let mut changed = original.clone();
            changed[position] ^= 0x01;
            fs::write(&path, &changed).expect("tamper");
            let verdict = verify(&out);
            assert_eq!(
                verdict.status.code(),
                Some(1),
                "{relpath:?}@{position} passed"
            );
            let code = json_of(&verdict)["error"]["code"].clone();
            assert!(
                code.as_str().is_some_and(|c| c.starts_with("export_")),
                "{code}"
            );
        }
        fs::write(&path, &original).expect("restore");
        fs::remove_file(&path).expect("delete");
        let verdict = json_of(&verify(&out));
        let expected = if relpath == Path::new("manifest.json") {
            "export_manifest_missing"
        } else {
            "export_file_missing"
        };
        assert_eq!(verdict["error"]["code"], expected, "{relpath:?}");
        fs::write(&path, &original).expect("restore");
    }
    assert!(verify(&out).status.success(), "restored bundle verifies");
    fs::write(out.join("records/extra.ndjson"), "{}\n").expect("add");
    let verdict = json_of(&verify(&out));
    assert_eq!(verdict["error"]["code"], "export_file_unlisted");
    assert_eq!(verdict["error"]["path"], "records/extra.ndjson");
    let missing = run(&[
        "export",
        "verify",
        dir.path().join("nope").to_str().expect("utf8"),
        "--json",
    ]);
    assert_eq!(missing.status.code(), Some(2));
    assert_eq!(
        json_of(&missing)["error"]["code"],
        "export_bundle_unreadable"
    );
}

#[test]
fn failures_after_writing_started_leave_no_bundle() {
    let (dir, data) = data_root();
    let root = dir.path();
    // A media file gone from the DataRoot: the export fails while copying media.
    fs::remove_file(data.join("media/run1/frame_0.blob")).expect("remove media");
    let out = root.join("bundle");
    let result = export(
        &data,
        &out,
        &[
            "--records",
            "run1/evidence.capture.frame/0",
            "--include-media",
        ],
    );
    assert_eq!(result.status.code(), Some(2));
    let body = json_of(&result);
    assert_eq!(body["error"]["code"], "export_media_unreadable", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("run1/evidence.capture.frame/0")),
        "{body}"
    );
    assert!(!out.exists());
    assert_eq!(
        leftovers(root, &["data", "handoff_0001"]),
        Vec::<String>::new()
    );
    let audit = audit_lines(&data);
    let last = audit.last().expect("line");
    assert_eq!(
        (last["action"].as_str(), last["outcome"].as_str()),
        (Some("export"), Some("failed"))
    );
    assert_eq!(last["details"]["code"], "export_media_unreadable");

    // A damaged audit log (a tail that is not a torn line of its own): the bundle is written,
    // the audit line is refused, the bundle removed.
    let log = data.join("audit.ndjson");
    let mut text = fs::read(&log).expect("log");
    text.extend_from_slice(b"written by someone else");
    fs::write(&log, &text).expect("damage");
    let result = export(&data, &out, &["--records", "run1/evidence.capture.frame/0"]);
    assert_eq!(result.status.code(), Some(2));
    assert_eq!(json_of(&result)["error"]["code"], "audit_line_truncated");
    assert!(!out.exists(), "an unaudited bundle is not left behind");
    assert_eq!(
        leftovers(root, &["data", "handoff_0001"]),
        Vec::<String>::new()
    );
}
