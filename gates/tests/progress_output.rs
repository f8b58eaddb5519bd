//! Progress where work takes time: `handoff ingest` and `handoff drain`, run by the real binary
//! with stderr on a pseudo-terminal, draw a line with rows, media files, rates and the phase in
//! the JSON state words; with stderr not a terminal they print no progress at all.
//! `autocapture-gates run` says each gate as it starts and ends: live spinners on a terminal,
//! plain lines otherwise, and the total.

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn bin() -> PathBuf {
    let harness = Path::new(env!("CARGO_BIN_EXE_autocapture-gates"));
    autocapture_gates::harness::bins::autocapture_beside(harness).expect("autocapture")
}

/// Runs `autocapture args` with stderr on a new pseudo-terminal; its exit code and what the
/// terminal received.
fn on_a_terminal(args: &[&str]) -> (Option<i32>, String) {
    program_on_a_terminal(&bin(), args)
}

/// Runs `program args` with stderr on a new pseudo-terminal.
fn program_on_a_terminal(program: &Path, args: &[&str]) -> (Option<i32>, String) {
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let (master, slave): (OwnedFd, OwnedFd) = (pty.master, pty.slave);
    let mut child = Command::new(program)
        .args(args)
        .env("TZ", "UTC")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            slave.as_fd().try_clone_to_owned().expect("dup"),
        ))
        .spawn()
        .expect("spawn");
    drop(slave);
    let reader = std::thread::spawn(move || {
        let mut file = std::fs::File::from(master);
        let mut seen = Vec::new();
        let mut chunk = [0u8; 4096];
        // EIO once the child and every copy of the terminal's other end are gone.
        while let Ok(n) = file.read(&mut chunk) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&chunk[..n]);
        }
        String::from_utf8_lossy(&seen).into_owned()
    });
    let status = child.wait().expect("wait");
    (status.code(), reader.join().expect("reader"))
}

#[test]
fn ingest_and_drain_show_progress_on_a_terminal_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (spool, handoffs) =
        autocapture_gates::corpus::build::spool(dir.path(), 7, 600, 2).expect("spool");
    let data = dir.path().join("data");
    let (h, d) = (
        handoffs[0].display().to_string(),
        data.display().to_string(),
    );
    let (code, seen) =
        on_a_terminal(&["handoff", "ingest", "--handoff-root", &h, "--data-dir", &d]);
    assert_eq!(code, Some(0), "{seen}");
    assert!(
        seen.contains(" rows (") && seen.contains("/s)") && seen.contains(" media files"),
        "a progress line with counts and rates: {seen:?}"
    );
    assert!(
        ["scanning:", "verifying:", "committing:", "done:"]
            .iter()
            .any(|phase| seen.contains(phase)),
        "the phase in words: {seen:?}"
    );
    assert!(
        !seen.contains("Ingested") && !seen.contains("Some("),
        "{seen:?}"
    );

    let s = spool.display().to_string();
    let drained = dir.path().join("drained");
    let dd = drained.display().to_string();
    let (code, seen) = on_a_terminal(&[
        "handoff",
        "drain",
        "--spool-root",
        &s,
        "--data-dir",
        &dd,
        "--budget",
        "idle-max",
    ]);
    assert_eq!(code, Some(0), "{seen}");
    assert!(
        seen.contains("handoffs") && seen.contains(" rows ("),
        "{seen:?}"
    );
    assert!(
        seen.contains(": ingested;") && !seen.contains("Ingested"),
        "the handoff's state in the JSON word: {seen:?}"
    );

    // Not a terminal: no progress line at all.
    let output = Command::new(bin())
        .args([
            "handoff",
            "ingest",
            "--handoff-root",
            &handoffs[1].display().to_string(),
        ])
        .args(["--data-dir", &d])
        .env("TZ", "UTC")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains(" rows ("), "{stderr}");
}

#[test]
fn a_gate_run_says_each_gate_as_it_starts_and_ends() {
    let harness = Path::new(env!("CARGO_BIN_EXE_autocapture-gates"));
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("plain").display().to_string();
    let scratch = dir.path().join("scratch").display().to_string();
    let args = [
        "run",
        "--gate",
        "bind",
        "--gate",
        "uia",
        "--frames",
        "300",
        "--scratch",
        &scratch,
    ];
    // Not a terminal: plain lines, one as each gate starts and one as it ends, and the total.
    let output = Command::new(harness)
        .args(args)
        .args(["--out", &out])
        .env("TZ", "UTC")
        .output()
        .expect("run");
    assert_eq!(
        output.status.code(),
        Some(0),
        "a partial run of passing gates"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    for gate in ["bind", "uia"] {
        let started = stderr
            .find(&format!("autocapture-gates: {gate} started\n"))
            .unwrap_or_else(|| panic!("no start line for {gate}: {stderr}"));
        let ended = stderr
            .find(&format!(" {gate} pass in "))
            .unwrap_or_else(|| panic!("no end line for {gate}: {stderr}"));
        assert!(started < ended, "{stderr}");
    }
    assert!(stderr.contains("[2/2] "), "{stderr}");
    assert!(
        stderr.contains("2 gates in ") && stderr.contains(" s wall"),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "no terminal codes in plain lines: {stderr:?}"
    );

    // A terminal: the running gate is a live spinner; the finished lines are printed above.
    let out = dir.path().join("tty").display().to_string();
    let mut args = args.to_vec();
    args.extend(["--out", &out]);
    let (code, seen) = program_on_a_terminal(harness, &args);
    assert_eq!(code, Some(0), "{seen}");
    assert!(
        seen.contains("running") && seen.contains('\u{1b}'),
        "a live spinner: {seen:?}"
    );
    assert!(
        seen.contains(" uia pass in ") && seen.contains(" bind pass in "),
        "{seen:?}"
    );
    assert!(
        !seen.contains("uia started"),
        "no plain start lines on a terminal: {seen:?}"
    );
}
