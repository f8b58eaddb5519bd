//! A DataRoot no one can write here, seen by the real `autocapture`: as root a private read-only
//! bind mount (the harness's `measure --read-only`), otherwise a folder without write permission.
//! Queries answer with citations and `stage1 audit` reports, with SQLite's shared-memory files
//! present or not; a DataRoot whose write-ahead log still holds commits is refused with
//! `data_root_unreadable`, never answered without them.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use autocapture_gates::corpus::build;
use autocapture_gates::harness::bins::autocapture_beside;
use autocapture_gates::probe::measure::Measured;
use serde_json::Value;

const HARNESS: &str = env!("CARGO_BIN_EXE_autocapture-gates");

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Every folder under `root` (and `root`) made writable or not.
fn set_writable(root: &Path, writable: bool) {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            }
        }
        let mode = if writable { 0o755 } else { 0o555 };
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
}

/// `autocapture ARGS` with `data` unwritable for it: exit code, stdout, stderr.
fn run_read_only(data: &Path, args: &[&OsStr]) -> (Option<i32>, String, String) {
    let bin = autocapture_beside(Path::new(HARNESS)).expect("the autocapture binary");
    if is_root() {
        let output = Command::new(HARNESS)
            .arg("measure")
            .arg("--read-only")
            .arg(data)
            .arg("--")
            .arg(&bin)
            .args(args)
            .env("TZ", "UTC")
            .output()
            .expect("run measure");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let measured: Measured = serde_json::from_slice(&output.stdout).expect("measured");
        (measured.exit_code, measured.stdout, measured.stderr_tail)
    } else {
        set_writable(data, false);
        let output = Command::new(&bin)
            .args(args)
            .env("TZ", "UTC")
            .output()
            .expect("run autocapture");
        set_writable(data, true);
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

/// The SQLite side files (`-shm`, `-wal`) under `root`.
fn side_files(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for dir in [root.to_path_buf(), root.join("derived")] {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            let name = path.to_string_lossy();
            if name.ends_with("-shm") || name.ends_with("-wal") {
                found.push(path);
            }
        }
    }
    found
}

/// A question asked with `--json`: the exit code, the answer, and stdout with stderr.
fn query(data: &Path, question: &str) -> (Option<i32>, Value, String) {
    let (code, stdout, stderr) = run_read_only(
        data,
        &[
            "query".as_ref(),
            "--data-dir".as_ref(),
            data.as_os_str(),
            "--json".as_ref(),
            question.as_ref(),
        ],
    );
    let answer = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (code, answer, format!("{stdout}{stderr}"))
}

#[test]
fn a_data_root_no_one_can_write_is_queried_and_audited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, _) = build::indexed(dir.path(), 7, 300, 2).expect("indexed DataRoot");
    let root = data.root.clone();
    for shared_memory_present in [true, false] {
        if !shared_memory_present {
            // As a backup or a cleanly closed DataRoot has it: no side files at all.
            for side in side_files(&root) {
                assert!(
                    std::fs::metadata(&side).expect("side file").len() == 0
                        || side.to_string_lossy().ends_with("-shm"),
                    "a write-ahead log with commits: {}",
                    side.display()
                );
                std::fs::remove_file(&side).expect("remove");
            }
        }
        let (code, answer, stderr) = query(&root, "which window had focus at 10:20:10?");
        assert_eq!(code, Some(0), "shm {shared_memory_present}: {stderr}");
        assert_eq!(answer["state"], "ok", "{answer}");
        assert!(
            answer["citations"]
                .as_array()
                .is_some_and(|c| !c.is_empty()),
            "{answer}"
        );
        let (code, stdout, stderr) = run_read_only(
            &root,
            &[
                "stage1".as_ref(),
                "audit".as_ref(),
                "--data-dir".as_ref(),
                root.as_os_str(),
                "--json".as_ref(),
            ],
        );
        assert_eq!(code, Some(0), "shm {shared_memory_present}: {stderr}");
        let report: Value = serde_json::from_str(&stdout).expect("audit JSON");
        assert!(report.is_object(), "{report}");
    }
}

/// The planted violation: a write-ahead log that still holds commits cannot be read without
/// SQLite's shared memory, and an immutable read would leave them out; the query is refused.
#[test]
fn a_write_ahead_log_holding_commits_is_refused_not_ignored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, _) = build::indexed(dir.path(), 7, 300, 2).expect("indexed DataRoot");
    let root = data.root.clone();
    for side in side_files(&root) {
        std::fs::remove_file(&side).expect("remove");
    }
    // A writer that commits and never closes: its commits stay in the -wal file.
    let writer = rusqlite::Connection::open(root.join("metadata.db")).expect("open");
    writer
        .execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
             CREATE TABLE planted_commit (x INTEGER); INSERT INTO planted_commit VALUES (1);",
        )
        .expect("commit into the WAL");
    let wal = root.join("metadata.db-wal");
    assert!(std::fs::metadata(&wal).expect("wal").len() > 0);
    // Copy the DataRoot as it is now (a snapshot with a hot log, as a crash leaves it).
    let copy = dir.path().join("copy");
    std::fs::create_dir_all(copy.join("derived")).expect("mkdir");
    for entry in walk(&root) {
        let rel = entry.strip_prefix(&root).expect("under root");
        if rel.to_string_lossy().ends_with("-shm") {
            continue;
        }
        if let Some(parent) = copy.join(rel).parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::copy(&entry, copy.join(rel)).expect("copy");
    }
    drop(writer);
    let (code, _, output) = query(&copy, "which window had focus at 10:20:10?");
    assert_ne!(code, Some(0), "answered without the log's commits");
    assert!(output.contains("data_root_unreadable"), "{output}");
}

fn walk(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}
