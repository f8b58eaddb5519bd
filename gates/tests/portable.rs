//! A copy of `autocapture-gates` handed to someone else: copied into an empty folder and run from
//! another one, with no cargo, no checkout and a bare environment, `keygen`, `fixtures
//! generate`, `sla estimate` and `verify` work from their built-in assets, and a command that
//! does need a checkout says which files it looked for and how to point it at one. (`golden`
//! from a copy is in `tests/golden.rs`.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use autocapture_gates::contract::workspace_root;
use autocapture_gates::harness::keys;

#[path = "support/reports.rs"]
mod reports;

/// The harness binary copied into `dir/bin`.
fn copied_harness(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    let copy = bin.join("autocapture-gates");
    std::fs::copy(env!("CARGO_BIN_EXE_autocapture-gates"), &copy).expect("copy the harness");
    copy
}

/// Runs the copy in `cwd` with a bare environment: no cargo, no CARGO_* variables.
fn run_in(copy: &Path, cwd: &Path, args: &[&str]) -> Output {
    Command::new(copy)
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .output()
        .expect("run the copied harness")
}

fn ok(output: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{what}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn a_copied_harness_works_outside_the_checkout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = copied_harness(dir.path());
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("cwd");

    ok(
        &run_in(&copy, &elsewhere, &["keygen", "--out", "release.key"]),
        "keygen",
    );
    assert!(elsewhere.join("release.key.pub.pem").is_file());

    ok(
        &run_in(
            &copy,
            &elsewhere,
            &[
                "fixtures",
                "generate",
                "--out",
                "corpus",
                "--seed",
                "3",
                "--frames",
                "60",
                "--handoffs",
                "1",
            ],
        ),
        "fixtures generate",
    );
    assert!(elsewhere.join("corpus/truth.json").is_file());

    // The committed deployment profile and its trace, copied beside each other as a user would.
    let checkout = workspace_root().expect("a checkout");
    std::fs::create_dir_all(elsewhere.join("traces")).expect("traces dir");
    std::fs::copy(
        checkout.join("fixtures/sla/deployment.json"),
        elsewhere.join("deployment.json"),
    )
    .expect("copy profile");
    std::fs::copy(
        checkout.join("fixtures/sla/traces/production-like.ndjson"),
        elsewhere.join("traces/production-like.ndjson"),
    )
    .expect("copy trace");
    let estimate = ok(
        &run_in(
            &copy,
            &elsewhere,
            &["sla", "estimate", "--input", "deployment.json", "--json"],
        ),
        "sla estimate",
    );
    assert!(estimate.contains("\"verdict\":\"pass\""), "{estimate}");

    let key = keys::load_signing(&elsewhere.join("release.key")).expect("key");
    let results = reports::plan_run(&dir.path().join("run"), &[], reports::all_pass);
    let (report, _, _) = reports::sign_run(&results, &elsewhere, "report", &key, false);
    let verified = ok(
        &run_in(
            &copy,
            &elsewhere,
            &[
                "verify",
                path_str(&report),
                "--public-key",
                "release.key.pub.pem",
            ],
        ),
        "verify",
    );
    assert!(verified.starts_with("verified: signed by"), "{verified}");

    // A command that reads the checkout names what it looked for.
    let output = run_in(&copy, &elsewhere, &["contract", "check"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no checkout of this workspace at")
            && stderr.contains("contracts/contract.lock.json")
            && stderr.contains("AUTOCAPTURE_GATES_ROOT"),
        "{stderr}"
    );
    // … and finds the checkout it is pointed at.
    let output = Command::new(&copy)
        .args(["contract", "check"])
        .current_dir(&elsewhere)
        .env("AUTOCAPTURE_GATES_ROOT", &checkout)
        .output()
        .expect("run");
    ok(&output, "contract check with AUTOCAPTURE_GATES_ROOT");
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}
