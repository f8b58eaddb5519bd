//! The fuzz cases of the hostile suite: every committed seed and regression input replays clean
//! through its target, a target without seeds fails, libFuzzer's output is read for executions
//! and crashes (a planted crash report is caught), and slow mode without `cargo fuzz` fails with
//! the install hint instead of passing.

use std::path::Path;

use autocapture_gates::harness::gate::GateContext;
use autocapture_gates::hostile::fuzz::{
    self, INSTALL_HINT, fuzz_command, inputs_in, parse_libfuzzer, replay, run_cargo_fuzz,
};
use autocapture_gates::hostile::targets::Target;

#[test]
fn every_committed_seed_and_regression_replays_clean() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ctx = GateContext::new(dir.path().join("no-corpus"), dir.path().join("work"));
    let cases = fuzz::cases(&ctx).expect("fuzz cases");
    assert_eq!(cases.len(), Target::ALL.len(), "default mode only replays");
    let root = fuzz::fuzz_dir().expect("a checkout");
    for (case, target) in cases.iter().zip(Target::ALL) {
        assert_eq!(case.name, format!("fuzz/{}/replay", target.name()));
        assert!(case.passed(), "{case:?}");
        let seeds = inputs_in(&root.join("corpus").join(target.name())).expect("seeds");
        let regressions =
            inputs_in(&root.join("regressions").join(target.name())).expect("regressions");
        assert!(!seeds.is_empty(), "{} has no seed", target.name());
        assert_eq!(case.inputs, (seeds.len() + regressions.len()) as u64);
    }
}

#[test]
fn every_target_has_a_fuzz_binary_and_seeds() {
    let root = fuzz::fuzz_dir().expect("a checkout");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("fuzz/Cargo.toml");
    assert!(manifest.contains("cargo-fuzz = true"));
    for target in Target::ALL {
        let source = root
            .join("fuzz_targets")
            .join(format!("{}.rs", target.name()));
        let text = std::fs::read_to_string(&source).expect("fuzz target source");
        assert!(text.contains("fuzz_one(Target::"), "{}", source.display());
        assert!(manifest.contains(&format!("name = \"{}\"", target.name())));
        assert_eq!(Target::from_name(target.name()), Some(target));
    }
}

#[test]
fn a_target_without_seeds_fails_its_replay() {
    let dir = tempfile::tempdir().expect("temp dir");
    let case = replay(
        Target::ActivitySignal,
        &dir.path().join("empty-fuzz"),
        None,
        &dir.path().join("keep"),
    )
    .expect("replay");
    assert_eq!(case.observed, "seed_corpus_missing");
    assert!(!case.passed());
}

#[test]
fn libfuzzer_output_gives_executions_and_crashes() {
    let clean = "INFO: Seed: 7\n#2\tINITED cov: 120 ft: 130 corp: 2/700b exec/s: 0 rss: 40Mb\n#4096\tpulse  cov: 300 ft: 500 corp: 40/3Kb exec/s: 2048 rss: 60Mb\n#52311\tDONE   cov: 512 ft: 901 corp: 77/9Kb lim: 4096 exec/s: 871 rss: 90Mb\nDone 52311 runs in 60 second(s)\n";
    let run = parse_libfuzzer(clean);
    assert_eq!(run.executions, 52311);
    assert_eq!(run.crash, None);
    // A planted crash report: the panic, libFuzzer's signal line and the artifact.
    let crashed = "#1024\tNEW    cov: 200 ft: 210 corp: 5/1Kb exec/s: 0 rss: 50Mb\n\nthread '<unnamed>' panicked at core/src/uia.rs:350:9:\nattempt to multiply with overflow\n==4242== ERROR: libFuzzer: deadly signal\nMS: 2 ChangeByte-CrossOver-; base unit: 0\nartifact_prefix='/w/artifacts/'; Test unit written to /w/artifacts/crash-3f2a\n";
    let run = parse_libfuzzer(crashed);
    assert_eq!(run.executions, 1024);
    assert!(
        run.crash
            .as_deref()
            .is_some_and(|c| c.contains("panicked at")),
        "{run:?}"
    );
    assert_eq!(run.artifact.as_deref(), Some("/w/artifacts/crash-3f2a"));
    let timeout = "#77\tpulse\nALARM: working on the last Unit for 3 seconds\n==1== ERROR: libFuzzer: timeout after 3 seconds\n";
    assert!(parse_libfuzzer(timeout).crash.is_some());
}

#[test]
fn slow_mode_without_cargo_fuzz_fails_with_the_install_hint() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("no-such-cargo");
    let case = run_cargo_fuzz(
        missing.as_os_str(),
        Target::QueryText,
        &fuzz::fuzz_dir().expect("a checkout"),
        &dir.path().join("run"),
        5,
        7,
    )
    .expect("case");
    assert_eq!(case.observed, "cargo_fuzz_missing");
    assert!(case.detail.contains(INSTALL_HINT), "{}", case.detail);
    assert!(!case.passed());
}

#[test]
fn the_fuzz_command_writes_new_inputs_outside_the_committed_seeds() {
    let work = Path::new("/w/run/query_text");
    let command = fuzz_command(
        "cargo".as_ref(),
        Target::QueryText,
        Path::new("/repo/fuzz"),
        work,
        30,
        7,
    );
    let args: Vec<String> = command
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let name = args.iter().position(|a| a == "query_text").expect("target");
    assert_eq!(args[name + 1], "/w/run/query_text/corpus");
    assert_eq!(args[name + 2], "/repo/fuzz/corpus/query_text");
    for wanted in [
        "--sanitizer",
        "none",
        "--debug-assertions",
        "-max_total_time=30",
        "-seed=7",
        "-timeout=2",
    ] {
        assert!(args.iter().any(|a| a == wanted), "{wanted} in {args:?}");
    }
}
