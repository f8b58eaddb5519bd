//! Captured text never drives the terminal: a window title holding `ESC]0;…BEL` (retitle),
//! `ESC[2J` (clear), a newline and U+202E (right-to-left override) is printed by `autocapture
//! query` as inert escapes on one line, while `--json` keeps the exact string. Real story,
//! real ingest and index, the real binary.

use std::path::Path;
use std::process::Command;

use autocapture_core::base::clock::SteppingClock;
use autocapture_gates::corpus::build::{BUILD_TIME, index_while_idle, ingest_spool, spool_of};
use autocapture_gates::corpus::story::{DEFAULT_STORY, Story};
use autocapture_gates::harness::bins::autocapture_beside;

const HARNESS: &str = env!("CARGO_BIN_EXE_autocapture-gates");

/// The planted title, as TOML writes it and as the screen held it.
const PLANTED_TOML: &str =
    r#"title = "Save As\u001b]0;pwned\u0007\u001b[2J\nforged line\u202eexe.fdp""#;
const PLANTED: &str = "Save As\u{1b}]0;pwned\u{7}\u{1b}[2J\nforged line\u{202e}exe.fdp";

#[test]
fn control_characters_in_captured_text_are_inert_in_human_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = DEFAULT_STORY.replacen(r#"title = "Save As""#, PLANTED_TOML, 1);
    assert_ne!(text, DEFAULT_STORY, "the title is planted");
    let story = Story::parse(&text).expect("the planted story parses");
    let (spool, _) = spool_of(&story, dir.path(), 7, 900, 3).expect("spool");
    let data = ingest_spool(&spool, dir.path()).expect("ingest");
    index_while_idle(&data, &SteppingClock::new(BUILD_TIME, time::Duration::ZERO))
        .expect("stage 2");
    let bin = autocapture_beside(Path::new(HARNESS)).expect("the autocapture binary");
    let ask = |json: bool| {
        let mut command = Command::new(&bin);
        command.arg("query").arg("--data-dir").arg(&data.root);
        if json {
            command.arg("--json");
        }
        let output = command
            .arg("which window had focus at 10:20:30?")
            .output()
            .expect("run autocapture query");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).expect("utf-8")
    };

    let human = ask(false);
    assert!(
        human.contains("forged line"),
        "the planted window answers: {human}"
    );
    for raw in ['\u{1b}', '\u{7}', '\u{202e}'] {
        assert!(
            !human.contains(raw),
            "raw {raw:?} reached the terminal: {human:?}"
        );
    }
    assert!(
        human.contains(r"Save As\x1b]0;pwned\x07\x1b[2J\nforged line\u{202e}exe.fdp"),
        "{human}"
    );
    // The newline inside the title is an escape: the title does not forge a line of its own.
    assert!(
        !human.lines().any(|line| line.starts_with("forged line")),
        "{human}"
    );

    // --json keeps the exact string.
    let document: serde_json::Value = serde_json::from_str(ask(true).trim()).expect("json");
    assert_eq!(document["fields"]["window_title"], PLANTED);
}

#[test]
fn error_messages_naming_a_hostile_path_are_inert() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hostile = dir.path().join("data\u{1b}[2J\u{202e}");
    let bin = autocapture_beside(Path::new(HARNESS)).expect("the autocapture binary");
    let output = Command::new(&bin)
        .args(["stage1", "audit", "--data-dir"])
        .arg(&hostile)
        .output()
        .expect("run autocapture");
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).expect("utf-8");
    assert!(stderr.contains(r"data\x1b[2J\u{202e}"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('\u{202e}'),
        "{stderr:?}"
    );
}
