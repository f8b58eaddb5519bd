//! An operator runs Stage 2 by hand: the hint of a `not_available_yet` answer is a runnable
//! command naming the real DataRoot; without `--now` a missing signal pauses with nothing
//! written; `--now` runs and is audited; a fresh signal that the user is active still pauses
//! `--now`, and only `--even-if-active` overrides it. All through the real binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn bin() -> PathBuf {
    let harness = Path::new(env!("CARGO_BIN_EXE_autocapture-gates"));
    autocapture_gates::harness::bins::autocapture_beside(harness).expect("autocapture")
}

fn autocapture(args: &[&str]) -> (Option<i32>, Value) {
    let output = Command::new(bin())
        .args(args)
        .env("TZ", "UTC")
        .output()
        .expect("run autocapture");
    let document = serde_json::from_slice(output.stdout.trim_ascii()).unwrap_or(Value::Null);
    (output.status.code(), document)
}

fn stage2(data: &Path, extra: &[&str]) -> Value {
    let data = data.display().to_string();
    let mut args = vec!["stage2", "run", "--json", "--data-dir", data.as_str()];
    args.extend_from_slice(extra);
    let (code, document) = autocapture(&args);
    assert_eq!(code, Some(0), "{document}");
    document
}

fn by_hand_lines(data: &Path) -> usize {
    std::fs::read_to_string(data.join("audit.ndjson"))
        .unwrap_or_default()
        .matches("\"stage2.run_by_hand\"")
        .count()
}

#[test]
fn an_operator_runs_stage_2_by_hand_from_the_hint() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A path a shell would split: the hint must quote it.
    let parent = dir.path().join("with space");
    std::fs::create_dir(&parent).expect("mkdir");
    let (data, _) =
        autocapture_gates::corpus::build::ingested(&parent, 8, 120, 1).expect("ingested");
    let root = data.root.clone();
    let root_text = root.display().to_string();

    // The answer says what to run, with the real path.
    let (code, answer) = autocapture(&[
        "query",
        "--json",
        "--data-dir",
        &root_text,
        "what was I doing at 10:00?",
    ]);
    assert_eq!(code, Some(0), "{answer}");
    assert_eq!(answer["state"], "not_available_yet", "{answer}");
    let hint = answer["not_available"]["how_to_produce"]
        .as_str()
        .expect("a hint");
    assert!(
        hint.starts_with(&format!("autocapture stage2 run --data-dir '{root_text}' ")),
        "{hint}"
    );
    assert!(hint.contains("--now"), "{hint}");

    // Following it as printed, with no signal: paused, nothing written, exit 0.
    let before = std::fs::read(root.join("audit.ndjson")).expect("audit");
    let paused = stage2(&root, &[]);
    assert_eq!(paused["state"], "paused_active", "{paused}");
    assert_eq!(paused["activity"]["reason"], "signal_missing", "{paused}");
    assert!(!root.join("derived").join("stage2.db").exists());
    assert_eq!(
        std::fs::read(root.join("audit.ndjson")).expect("audit"),
        before
    );

    // A fresh signal that the user is active stops --now too.
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format");
    let signal = root.join("activity_signal.json");
    std::fs::write(
        &signal,
        format!(r#"{{"ts_utc": "{now}", "idle_seconds": 0, "user_active": true}}"#),
    )
    .expect("signal");
    let active = stage2(&root, &["--now"]);
    assert_eq!(active["state"], "paused_active", "{active}");
    assert_eq!(active["activity"]["reason"], "user_active", "{active}");
    assert_eq!(by_hand_lines(&root), 0);

    // Without a signal, --now runs, and says so in the audit log.
    std::fs::remove_file(&signal).expect("remove the signal");
    let ran = stage2(&root, &["--now"]);
    assert_eq!(ran["state"], "completed", "{ran}");
    assert_eq!(ran["activity"]["reason"], "operator_override", "{ran}");
    assert!(ran["frames_processed"].as_u64().unwrap_or(0) > 0, "{ran}");
    assert_eq!(by_hand_lines(&root), 1);
    let (code, answer) = autocapture(&[
        "query",
        "--json",
        "--data-dir",
        &root_text,
        "what was I doing at 10:00?",
    ]);
    assert_eq!(code, Some(0));
    assert_ne!(answer["state"], "not_available_yet", "{answer}");

    // --even-if-active overrides an active signal, and needs --now.
    std::fs::write(
        &signal,
        format!(r#"{{"ts_utc": "{now}", "idle_seconds": 0, "user_active": true}}"#),
    )
    .expect("signal");
    let forced = stage2(&root, &["--now", "--even-if-active"]);
    assert_eq!(forced["state"], "completed", "{forced}");
    assert_eq!(by_hand_lines(&root), 2);
    let (code, _) = autocapture(&[
        "stage2",
        "run",
        "--data-dir",
        &root_text,
        "--even-if-active",
    ]);
    assert_eq!(code, Some(2), "--even-if-active alone is a usage error");
}

/// `--now` on a DataRoot another process holds: refused with the lock's code, and no
/// `stage2.run_by_hand` line, since nothing ran.
#[test]
fn a_run_by_hand_refused_for_a_held_lock_is_not_audited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, _) =
        autocapture_gates::corpus::build::ingested(dir.path(), 9, 60, 1).expect("ingested");
    let before = by_hand_lines(&data.root);
    let held = autocapture_core::store::lock_data_root(&data).expect("hold the lock");
    let root = data.root.display().to_string();
    let (code, document) = autocapture(&["stage2", "run", "--json", "--now", "--data-dir", &root]);
    drop(held);
    assert_ne!(code, Some(0), "{document}");
    assert_eq!(
        document["error"]["code"], "instance_lock_held",
        "{document}"
    );
    assert_eq!(
        by_hand_lines(&data.root),
        before,
        "a refused run wrote an audit line"
    );
    // Once free, the same command runs and is audited once.
    let document = stage2(&data.root, &["--now"]);
    assert_eq!(by_hand_lines(&data.root), before + 1, "{document}");
}
