//! The real `autocapture` and `autocapture-prime` binaries on real files: `--json` prints one
//! document, errors carry stable codes and exit codes (0 ok, 1 failed, 2 usage/environment), and
//! the deprecated name behaves identically apart from one line on stderr.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rusqlite::Connection;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const CANONICAL: &str = env!("CARGO_BIN_EXE_autocapture");
const PRIME: &str = env!("CARGO_BIN_EXE_autocapture-prime");

/// A small handoff: one frame with its blob and a UIA snapshot, canonical layout.
fn handoff(root: &Path, blob: &[u8]) -> PathBuf {
    let dir = root.join("handoff_0001");
    fs::create_dir_all(dir.join("media/run1")).expect("mkdir");
    fs::write(dir.join("media/run1/frame_0.blob"), blob).expect("blob");
    let conn = Connection::open(dir.join("metadata.db")).expect("db");
    conn.execute_batch("CREATE TABLE metadata (id TEXT PRIMARY KEY, record_type TEXT, ts_utc TEXT, payload TEXT, run_id TEXT)")
        .expect("ddl");
    let frame = json!({
        "schema_version": 1, "record_type": "evidence.capture.frame", "run_id": "run1",
        "ts_utc": "2026-02-20T09:00:00.000000Z", "width": 64, "height": 32,
        "content_hash": hex::encode(Sha256::digest(b"frame zero")), "blob_path": "media/run1/frame_0.blob",
        "uia_ref": {"record_id": "run1/evidence.uia.snapshot/0", "content_hash": "ab".repeat(32)},
        "input_ref": {"record_id": "run1/derived.input.summary/0"},
    });
    let snapshot = json!({"schema_version": 1, "record_type": "evidence.uia.snapshot", "record_id": "run1/evidence.uia.snapshot/0"});
    for (id, record_type, payload) in [
        (
            "run1/evidence.capture.frame/0",
            "evidence.capture.frame",
            frame,
        ),
        (
            "run1/evidence.uia.snapshot/0",
            "evidence.uia.snapshot",
            snapshot,
        ),
    ] {
        conn.execute(
            "INSERT INTO metadata VALUES (?1, ?2, '2026-02-20T09:00:00.000000Z', ?3, 'run1')",
            (id, record_type, payload.to_string()),
        )
        .expect("insert");
    }
    dir
}

fn run(binary: &str, args: &[&str]) -> Output {
    Command::new(binary)
        .args(args)
        .env("TZ", "UTC")
        .output()
        .expect("run binary")
}

fn stdout_json(output: &Output) -> Value {
    let text = String::from_utf8(output.stdout.clone()).expect("utf8");
    assert_eq!(text.lines().count(), 1, "exactly one line of JSON: {text}");
    serde_json::from_str(&text).expect("stdout is JSON")
}

/// Blanks what legitimately differs between two runs: times, run ids and temp paths.
fn normalise(mut value: Value, paths: &[&Path]) -> Value {
    fn walk(value: &mut Value, paths: &[String]) {
        match value {
            Value::Object(map) => {
                for (key, item) in map.iter_mut() {
                    if [
                        "timings",
                        "ingest_run_id",
                        "ingested_at_utc",
                        "duration_ms",
                        "frames_per_s",
                    ]
                    .contains(&key.as_str())
                    {
                        *item = Value::Null;
                    } else {
                        walk(item, paths);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| walk(item, paths)),
            Value::String(text) => {
                for path in paths {
                    *text = text.replace(path.as_str(), "<dir>");
                }
            }
            _ => {}
        }
    }
    let paths: Vec<String> = paths
        .iter()
        .map(|p| {
            p.canonicalize()
                .unwrap_or(p.to_path_buf())
                .display()
                .to_string()
        })
        .collect();
    walk(&mut value, &paths);
    value
}

/// Blanks 64-character hex digests (audit heads differ between runs by their timestamps).
fn blank_hashes(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            if word.trim_end().len() == 64 && word.trim_end().bytes().all(|b| b.is_ascii_hexdigit())
            {
                "<sha256>"
            } else {
                word
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn ingest_json_success_and_reingest() {
    let dir = tempfile::tempdir().expect("temp dir");
    let handoff = handoff(dir.path(), b"frame zero");
    let data = dir.path().join("data");
    let args = [
        "handoff",
        "ingest",
        "--handoff-root",
        handoff.to_str().expect("utf8"),
        "--data-dir",
        data.to_str().expect("utf8"),
        "--json",
    ];
    let output = run(CANONICAL, &args);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = stdout_json(&output);
    assert_eq!(report["ok"], true);
    assert_eq!(report["counts"]["metadata_rows_copied"], 2);
    assert_eq!(report["counts"]["media_files_linked"], 1);
    assert_eq!(report["counts"]["stage1_complete_records"], 1);
    assert!(report["timings"]["rows_per_s"].as_f64().is_some());
    assert!(handoff.join("reap_eligible.json").is_file());
    let again = stdout_json(&run(CANONICAL, &args));
    assert_eq!(again["counts"]["metadata_rows_copied"], 0);
    let verify = run(
        CANONICAL,
        &[
            "audit",
            "verify",
            "--data-dir",
            data.to_str().expect("utf8"),
            "--json",
        ],
    );
    // The first ingest's begin and outcome lines, and the unchanged re-ingest's outcome line.
    assert_eq!(stdout_json(&verify)["lines"], 3);
}

#[test]
fn errors_have_codes_and_exit_codes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let handoff = handoff(dir.path(), b"not the declared bytes");
    let data = dir.path().join("data");
    let (h, d) = (
        handoff.to_str().expect("utf8"),
        data.to_str().expect("utf8"),
    );
    // Bad input: exit 1, code in JSON, no marker.
    let output = run(
        CANONICAL,
        &[
            "handoff",
            "ingest",
            "--handoff-root",
            h,
            "--data-dir",
            d,
            "--json",
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    let error = stdout_json(&output);
    assert_eq!(error["ok"], false);
    assert_eq!(error["error"]["code"], "media_hash_mismatch");
    assert!(!handoff.join("reap_eligible.json").exists());
    // Without --json the code is on stderr and stdout is empty.
    let output = run(
        CANONICAL,
        &["handoff", "ingest", "--handoff-root", h, "--data-dir", d],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("error[media_hash_mismatch]"));
    // A non-loopback bind is refused before anything listens: exit 1.
    for bind in ["0.0.0.0:8787", "[::]:8787", "192.168.0.9:8787"] {
        let output = run(CANONICAL, &["serve", "--data-dir", d, "--bind", bind]);
        assert_eq!(output.status.code(), Some(1), "{bind}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("error[bind_refused]"),
            "{bind}"
        );
    }
    // Usage errors: exit 2.
    assert_eq!(
        run(CANONICAL, &["handoff", "ingest", "--bogus"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        run(
            CANONICAL,
            &[
                "handoff",
                "ingest",
                "--handoff-root",
                h,
                "--data-dir",
                d,
                "--mode",
                "teleport"
            ]
        )
        .status
        .code(),
        Some(2)
    );
    assert_eq!(run(CANONICAL, &["--help"]).status.code(), Some(0));
    // Environment: a data dir that is a file is exit 2.
    fs::write(dir.path().join("file"), b"x").expect("write");
    let output = run(
        CANONICAL,
        &[
            "handoff",
            "ingest",
            "--handoff-root",
            h,
            "--data-dir",
            dir.path().join("file").to_str().expect("utf8"),
            "--json",
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(stdout_json(&output)["error"]["code"], "data_dir_unwritable");
}

/// The Hypervisor deletes a marked handoff and owns its spool: a data dir inside either, or
/// holding either, is refused before anything is created or marked.
#[test]
fn a_data_dir_overlapping_a_handoff_or_the_spool_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let spool = dir.path().join("spool");
    let handoff = handoff(&spool, b"frame zero");
    let path = |p: &Path| p.to_str().expect("utf8").to_owned();
    let ingest = |data: &Path| {
        run(
            CANONICAL,
            &[
                "handoff",
                "ingest",
                "--handoff-root",
                &path(&handoff),
                "--data-dir",
                &path(data),
                "--json",
            ],
        )
    };
    let drain = |data: &Path| {
        run(
            CANONICAL,
            &[
                "handoff",
                "drain",
                "--spool-root",
                &path(&spool),
                "--data-dir",
                &path(data),
                "--budget",
                "idle-max",
                "--json",
            ],
        )
    };
    // (what, its output, the code, a DataRoot file that must not have been created)
    let cases: [(&str, Output, &str, PathBuf); 4] = [
        (
            "ingest into the handoff",
            ingest(&handoff.join("data")),
            "data_dir_inside_handoff",
            handoff.join("data"),
        ),
        (
            "ingest with the handoff inside the data dir",
            ingest(&spool),
            "handoff_inside_data_dir",
            spool.join(".autocapture.instance.lock"),
        ),
        (
            "drain into the spool",
            drain(&spool.join("data")),
            "data_dir_inside_spool",
            spool.join("data"),
        ),
        (
            "drain with the spool inside the data dir",
            drain(dir.path()),
            "spool_inside_data_dir",
            dir.path().join(".autocapture.instance.lock"),
        ),
    ];
    for (name, output, code, not_created) in cases {
        let document = stdout_json(&output);
        let found = document["error"]["code"].as_str().unwrap_or_default();
        assert_eq!(output.status.code(), Some(1), "{name}: {document}");
        assert_eq!(found, code, "{name}: {document}");
        assert!(
            document["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("place data dir"),
            "{name}: {document}"
        );
        assert!(
            !not_created.exists(),
            "{name}: {} was created",
            not_created.display()
        );
        assert!(
            !handoff.join("reap_eligible.json").exists(),
            "{name}: a refused run left a marker"
        );
    }
}

/// A lock file that is a FIFO would block `open` for write forever: it is refused at once with
/// its code, and nothing is ingested or marked.
#[test]
fn a_lock_file_that_is_a_fifo_is_refused_not_waited_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let handoff = handoff(dir.path(), b"frame zero");
    let data = dir.path().join("data");
    fs::create_dir_all(&data).expect("data dir");
    nix::unistd::mkfifo(
        &data.join(".autocapture.instance.lock"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .expect("mkfifo");
    let mut child = Command::new(CANONICAL)
        .args(["handoff", "ingest", "--handoff-root"])
        .arg(&handoff)
        .arg("--data-dir")
        .arg(&data)
        .arg("--json")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the ingest hung on a FIFO lock file");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output");
    let document = stdout_json(&output);
    assert_eq!(output.status.code(), Some(2), "{document}");
    assert_eq!(
        document["error"]["code"], "instance_lock_not_regular",
        "{document}"
    );
    assert!(!handoff.join("reap_eligible.json").exists());
}

#[test]
fn prime_is_the_same_program_with_one_deprecation_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let handoff_a = handoff(&a, b"frame zero");
    let handoff_b = handoff(&b, b"frame zero");
    let empty_spool = dir.path().join("empty_spool");
    fs::create_dir_all(&empty_spool).expect("mkdir");
    let cases: Vec<(Vec<String>, Vec<String>)> = {
        let s = |p: &Path| p.to_str().expect("utf8").to_owned();
        let ingest = |h: &Path, d: &Path| {
            vec![
                "handoff".into(),
                "ingest".into(),
                "--handoff-root".into(),
                s(h),
                "--data-dir".into(),
                s(d),
                "--json".into(),
            ]
        };
        let drain = |d: &Path| {
            vec![
                "handoff".into(),
                "drain".into(),
                "--spool-root".into(),
                s(&empty_spool),
                "--data-dir".into(),
                s(d),
                "--json".into(),
            ]
        };
        vec![
            (
                ingest(&handoff_a, &a.join("data")),
                ingest(&handoff_b, &b.join("data")),
            ),
            (
                ingest(&handoff_a, &a.join("data")),
                ingest(&handoff_b, &b.join("data")),
            ),
            (
                ingest(&a.join("missing"), &a.join("data")),
                ingest(&b.join("missing"), &b.join("data")),
            ),
            (drain(&a.join("data")), drain(&b.join("data"))),
            (
                vec![
                    "stage2".into(),
                    "run".into(),
                    "--data-dir".into(),
                    s(&a.join("data")),
                    "--json".into(),
                ],
                vec![
                    "stage2".into(),
                    "run".into(),
                    "--data-dir".into(),
                    s(&b.join("data")),
                    "--json".into(),
                ],
            ),
            (
                vec![
                    "stage1".into(),
                    "audit".into(),
                    "--data-dir".into(),
                    s(&a.join("data")),
                    "--json".into(),
                ],
                vec![
                    "stage1".into(),
                    "audit".into(),
                    "--data-dir".into(),
                    s(&b.join("data")),
                    "--json".into(),
                ],
            ),
            (
                vec!["contract".into(), "show".into(), "--json".into()],
                vec!["contract".into(), "show".into(), "--json".into()],
            ),
            (
                vec![
                    "audit".into(),
                    "verify".into(),
                    "--data-dir".into(),
                    s(&a.join("data")),
                ],
                vec![
                    "audit".into(),
                    "verify".into(),
                    "--data-dir".into(),
                    s(&b.join("data")),
                ],
            ),
            (
                vec!["handoff".into(), "drain".into()],
                vec!["handoff".into(), "drain".into()],
            ),
        ]
    };
    for (args_a, args_b) in cases {
        let canonical = run(
            CANONICAL,
            &args_a.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        let prime = run(
            PRIME,
            &args_b.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        assert_eq!(
            canonical.status.code(),
            prime.status.code(),
            "exit codes differ for {args_a:?}"
        );
        let (text_a, text_b) = (
            String::from_utf8_lossy(&canonical.stdout),
            String::from_utf8_lossy(&prime.stdout),
        );
        if args_a.contains(&"--json".to_owned()) {
            assert_eq!(
                normalise(stdout_json(&canonical), &[&a]),
                normalise(stdout_json(&prime), &[&b]),
                "stdout differs for {args_a:?}"
            );
        } else {
            assert_eq!(
                blank_hashes(&text_a.replace(a.to_str().expect("utf8"), "<dir>")),
                blank_hashes(&text_b.replace(b.to_str().expect("utf8"), "<dir>")),
                "stdout differs for {args_a:?}"
            );
        }
        let stderr = String::from_utf8_lossy(&prime.stderr);
        let first = stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("autocapture-prime: deprecated"),
            "{stderr}"
        );
        let rest: Vec<&str> = stderr.lines().skip(1).collect();
        let canonical_stderr =
            String::from_utf8_lossy(&canonical.stderr).replace(a.to_str().expect("utf8"), "<dir>");
        // Usage lines name the binary that was run.
        assert_eq!(
            rest.join("\n")
                .replace(b.to_str().expect("utf8"), "<dir>")
                .replace("Usage: autocapture-prime ", "Usage: autocapture "),
            canonical_stderr.trim_end(),
            "stderr differs for {args_a:?}"
        );
    }
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    let mut child = Command::new(CANONICAL)
        .args(["contract", "show"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn each_binary_names_itself_in_its_help() {
    for args in [&["--help"][..], &["handoff", "ingest", "--help"][..]] {
        let canonical = run(CANONICAL, args);
        let prime = run(PRIME, args);
        let (text_a, text_b) = (
            String::from_utf8_lossy(&canonical.stdout),
            String::from_utf8_lossy(&prime.stdout),
        );
        assert!(text_a.contains("Usage: autocapture "), "{text_a}");
        assert!(text_b.contains("Usage: autocapture-prime "), "{text_b}");
        assert_eq!(
            text_a,
            text_b.replace("autocapture-prime", "autocapture"),
            "the same help apart from the name, for {args:?}"
        );
    }
}

/// Errors name what is at fault in `--json`: the path of a missing handoff, spool or DataRoot,
/// the record of a bad row; a missing handoff and a missing spool are the same kind of fault and
/// exit the same (1).
#[test]
fn errors_name_the_path_or_record_at_fault() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("not here");
    let m = missing.to_str().expect("utf8");
    let data = dir.path().join("data");
    let d = data.to_str().expect("utf8");
    let cases: [(&[&str], &str, i32); 3] = [
        (
            &[
                "handoff",
                "ingest",
                "--handoff-root",
                m,
                "--data-dir",
                d,
                "--json",
            ],
            "handoff_root_missing",
            1,
        ),
        (
            &[
                "handoff",
                "drain",
                "--spool-root",
                m,
                "--data-dir",
                d,
                "--json",
            ],
            "spool_unreadable",
            1,
        ),
        (
            &[
                "query",
                "--data-dir",
                m,
                "--json",
                "what was I doing at 10:00?",
            ],
            "data_dir_missing",
            2,
        ),
    ];
    for (args, code, exit) in cases {
        let output = run(CANONICAL, args);
        let error = stdout_json(&output);
        assert_eq!(error["error"]["code"], code, "{args:?}: {error}");
        assert_eq!(output.status.code(), Some(exit), "{args:?}");
        let path = error["error"]["path"]
            .as_str()
            .or(error["path"].as_str())
            .unwrap_or_default();
        assert!(path.ends_with("not here"), "{args:?}: {error}");
    }
    let handoff = handoff(dir.path(), b"not the declared bytes");
    let h = handoff.to_str().expect("utf8");
    let output = run(
        CANONICAL,
        &[
            "handoff",
            "ingest",
            "--handoff-root",
            h,
            "--data-dir",
            d,
            "--json",
        ],
    );
    let error = stdout_json(&output);
    assert_eq!(error["error"]["code"], "media_hash_mismatch");
    let record = error["error"]["record_id"]
        .as_str()
        .or(error["record_id"].as_str());
    assert!(record.is_some_and(|r| r.contains('/')), "{error}");
}
