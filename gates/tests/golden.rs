//! The strict golden end to end: on each golden story, the forty cases on its corpus (seed 7,
//! 2,400 frames) through the embedded core and through the real `autocapture serve` on an
//! ephemeral loopback port; the same templates on a second seed; a target serving another corpus
//! is caught (by the run and by the gate); and the `golden` command reports 40/40.

use std::path::{Path, PathBuf};
use std::process::Command;

use autocapture_gates::corpus::build;
use autocapture_gates::corpus::story::Story;
use autocapture_gates::gates::golden_gate::GoldenGate;
use autocapture_gates::golden::report::GoldenReport;
use autocapture_gates::golden::run::{DEFAULT_CASES, REPRO_RUNS, run_golden};
use autocapture_gates::golden::stories::{GOLDEN_STORIES, GoldenStory};
use autocapture_gates::harness::gate::{Gate, GateContext, Target, Verdict};
use autocapture_gates::probe::server::ProcessServer;

const FRAMES: u64 = 2400;

#[track_caller]
fn assert_strict_pass(report: &GoldenReport, errors: &[String]) {
    assert!(errors.is_empty(), "{errors:?}");
    assert!(report.passed, "{}", report.table());
    assert_eq!(
        (
            report.evaluated_total,
            report.evaluated_passed,
            report.evaluated_failed,
            report.rows_skipped,
            report.query_counters_total,
        ),
        (40, 40, 0, 0, 0),
        "{}",
        report.table()
    );
    // Every phrasing of every case was asked on every run and passed.
    assert!(report.phrasings_total >= 40 * 3, "{}", report.table());
    assert_eq!(report.phrasings_passed, report.phrasings_total);
    assert_eq!(report.latency.samples, report.phrasings_total * REPRO_RUNS);
}

/// The `autocapture` binary of this build, built when missing.
fn autocapture_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile dir");
    let bin = profile_dir.join("autocapture");
    if !bin.is_file() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", "autocapture-core", "--bins"])
            .status()
            .expect("run cargo");
        assert!(status.success() && bin.is_file(), "build autocapture");
    }
    bin
}

/// The story's corpus (seed, 2,400 frames, three handoffs) ingested and indexed in `dir`.
fn indexed(
    story: &GoldenStory,
    dir: &Path,
    seed: u64,
) -> (autocapture_core::store::DataRoot, serde_json::Value) {
    let story = Story::parse(story.story).expect("the story parses");
    let (_, data, truth) = build::indexed_of(&story, dir, seed, FRAMES, 3).expect("indexed corpus");
    (data, truth)
}

#[test]
fn golden_passes_on_each_story_on_the_embedded_core_and_through_autocapture_serve() {
    for story in &GOLDEN_STORIES {
        let dir = tempfile::tempdir().expect("tempdir");
        let (data, truth) = indexed(story, dir.path(), 7);
        let (report, errors) = run_golden(
            story.cases,
            None,
            &truth,
            &Target::Embedded,
            Some(&data),
            REPRO_RUNS,
        )
        .expect("embedded run");
        assert_strict_pass(&report, &errors);

        let served =
            ProcessServer::start(&autocapture_bin(), &data.root).expect("autocapture serve starts");
        let served_url = format!("http://{}", served.addr);
        let target = Target::parse(&served_url).expect("loopback URL");
        let (over_http, errors) =
            run_golden(story.cases, None, &truth, &target, None, REPRO_RUNS).expect("URL run");
        assert_strict_pass(&over_http, &errors);
        // Both targets give the same answers.
        let states = |r: &GoldenReport| {
            r.rows
                .iter()
                .map(|row| {
                    (
                        row.id.clone(),
                        row.answer_state.clone(),
                        row.summary.clone(),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(states(&report), states(&over_http), "{}", story.name);
    }
}

/// No tuning to the cases: the same templates, instantiated from another seed's truth.
#[test]
fn golden_passes_on_each_story_on_a_second_seed() {
    for story in &GOLDEN_STORIES {
        let dir = tempfile::tempdir().expect("tempdir");
        let (data, truth) = indexed(story, dir.path(), 1234);
        let (report, errors) = run_golden(
            story.cases,
            None,
            &truth,
            &Target::Embedded,
            Some(&data),
            REPRO_RUNS,
        )
        .expect("embedded run");
        assert_strict_pass(&report, &errors);
    }
}

/// A planted violation: expectations from one corpus, answers from another (other frame
/// times, other frame ids) must fail with the cases named.
#[test]
fn a_target_serving_another_corpus_fails_strictly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, _) = build::indexed(&dir.path().join("served"), 7, 1200, 3).expect("served corpus");
    let (spool, _) = build::spool(&dir.path().join("expected"), 7, FRAMES, 3).expect("spool");
    let truth = build::truth(&spool).expect("truth");
    let (report, _) = run_golden(
        DEFAULT_CASES,
        None,
        &truth,
        &Target::Embedded,
        Some(&data),
        REPRO_RUNS,
    )
    .expect("run");
    assert!(!report.passed);
    assert!(report.evaluated_failed > 0, "{}", report.table());
    assert!(
        report
            .failure_reasons
            .iter()
            .any(|r| r.starts_with("strict_failed_nonzero")),
        "{:?}",
        report.failure_reasons
    );
    // Frame-exact cases are among the failures.
    let failed: Vec<&str> = report
        .rows
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.id.as_str())
        .collect();
    assert!(failed.contains(&"first_seen_tracking"), "{failed:?}");

    // The gate, pointed at a real server of the wrong corpus, fails with evidence.
    let served =
        ProcessServer::start(&autocapture_bin(), &data.root).expect("autocapture serve starts");
    let served_url = format!("http://{}", served.addr);
    let work = dir.path().join("gate-work");
    std::fs::create_dir_all(&work).expect("work dir");
    let ctx = GateContext {
        target: Target::parse(&served_url).expect("loopback URL"),
        ..GateContext::new(spool, work)
    };
    let outcome = GoldenGate.run(&ctx).expect("the gate runs");
    assert_eq!(outcome.verdict(), Verdict::Fail);
    let failing: Vec<&str> = outcome
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.name.as_str())
        .collect();
    assert!(
        failing.contains(&"workday: strict: failed == 0"),
        "{failing:?}"
    );
    assert!(
        failing.contains(&"workday: case first_seen_tracking"),
        "{failing:?}"
    );
    // A URL serves one corpus: the other story is not asked there, and that is not a pass.
    assert!(failing.contains(&"support-night: asked"), "{failing:?}");
}

#[test]
/// The command from a copy of the harness outside any checkout, with the built-in case file.
fn the_golden_command_reports_40_of_40() {
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("autocapture-gates");
    std::fs::copy(env!("CARGO_BIN_EXE_autocapture-gates"), &copy).expect("copy the harness");
    let output = Command::new(&copy)
        .arg("golden")
        .arg("--out")
        .arg(dir.path().join("out"))
        .args(["--frames", "1200"])
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("TZ", "UTC")
        .output()
        .expect("run golden");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("evaluated 40 passed 40 failed 0 skipped 0"),
        "{stdout}"
    );
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/golden-report.json")).expect("report"),
    )
    .expect("report JSON");
    for key in [
        "evaluated_total",
        "evaluated_passed",
        "evaluated_failed",
        "rows_skipped",
        "failure_reasons",
    ] {
        assert!(report.get(key).is_some(), "{key}");
    }
    let row = &report["rows"][0];
    for key in [
        "id",
        "question",
        "passed",
        "answer_state",
        "summary",
        "checks",
    ] {
        assert!(row.get(key).is_some(), "rows[0].{key}");
    }
    // JUnit: one test case per question asked, every one passing.
    let junit = std::fs::read_to_string(dir.path().join("out/golden-junit.xml")).expect("junit");
    let asked = report["phrasings_total"].as_u64().expect("phrasings_total");
    assert!(asked >= 120, "{asked}");
    assert_eq!(junit.matches("<testcase ").count() as u64, asked, "{junit}");
    assert!(!junit.contains("<failure"), "{junit}");
}

/// Runs the harness binary with `args` in `dir`; its exit code, stdout and stderr.
fn harness(dir: &Path, args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_autocapture-gates"))
        .args(args)
        .current_dir(dir)
        .env("TZ", "UTC")
        .output()
        .expect("run the harness");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A corpus made elsewhere (here by `fixtures generate` on a story file, seed 5) is certified as
/// it is with `--corpus`: 40 of 40, its digest recorded, the given directory untouched (the
/// ingest's reap markers land in the copy). `--story` generates from a story file. A corpus
/// without its truth file is refused before anything runs.
#[test]
fn golden_certifies_a_given_corpus_and_a_given_story() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = autocapture_gates::contract::workspace_root().expect("a checkout");
    let story = root.join("fixtures/story/workday.toml");
    let corpus = dir.path().join("elsewhere");
    let (code, _, stderr) = harness(
        dir.path(),
        &[
            "fixtures".as_ref(),
            "generate".as_ref(),
            "--story".as_ref(),
            story.as_os_str(),
            "--seed".as_ref(),
            "5".as_ref(),
            "--frames".as_ref(),
            "1200".as_ref(),
            "--out".as_ref(),
            corpus.as_os_str(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let before = autocapture_gates::corpus::digest::tree_digest(&corpus)
        .expect("digest")
        .sha256;
    let out = dir.path().join("certified");
    let (code, stdout, stderr) = harness(
        dir.path(),
        &[
            "golden".as_ref(),
            "--corpus".as_ref(),
            corpus.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("evaluated 40 passed 40 failed 0 skipped 0"),
        "{stdout}"
    );
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("golden-report.json")).expect("report"),
    )
    .expect("report JSON");
    let source = &report["source"];
    assert_eq!(source["corpus"], corpus.display().to_string());
    assert_eq!(source["corpus_sha256"], before.as_str());
    assert!(source.get("story").is_none(), "{source}");
    assert_eq!(source["cases"], "built-in fixtures/golden/q40.toml");
    assert_eq!(
        autocapture_gates::corpus::digest::tree_digest(&corpus)
            .expect("digest")
            .sha256,
        before,
        "the given corpus was changed"
    );

    let out = dir.path().join("from-story");
    let (code, stdout, stderr) = harness(
        dir.path(),
        &[
            "golden".as_ref(),
            "--story".as_ref(),
            story.as_os_str(),
            "--frames".as_ref(),
            "1200".as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("golden-report.json")).expect("report"),
    )
    .expect("report JSON");
    assert_eq!(report["source"]["story"], story.display().to_string());
    assert_eq!(
        report["source"]["cases"],
        "built-in fixtures/golden/q40.toml"
    );

    // The second story, by file (its case file is found beside it) and by name (built in).
    let night = root.join("fixtures/story/support-night.toml");
    for (index, (given, story_source, cases_source)) in [
        (
            night.as_os_str(),
            night.display().to_string(),
            root.join("fixtures/golden/support-night.toml")
                .display()
                .to_string(),
        ),
        (
            "support-night".as_ref(),
            "built-in fixtures/story/support-night.toml".to_owned(),
            "built-in fixtures/golden/support-night.toml".to_owned(),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let out = dir.path().join(format!("night-{index}"));
        let (code, stdout, stderr) = harness(
            dir.path(),
            &[
                "golden".as_ref(),
                "--story".as_ref(),
                given,
                "--frames".as_ref(),
                "1200".as_ref(),
                "--out".as_ref(),
                out.as_os_str(),
            ],
        );
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        assert!(
            stdout.contains("evaluated 40 passed 40 failed 0 skipped 0"),
            "{stdout}"
        );
        let report: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join("golden-report.json")).expect("report"),
        )
        .expect("report JSON");
        assert_eq!(report["source"]["story"], story_source.as_str());
        assert_eq!(report["source"]["cases"], cases_source.as_str());
    }
    // A story with no case file beside it and no --cases is refused before anything runs.
    let lone = dir.path().join("lone.toml");
    std::fs::write(&lone, "not read").expect("write");
    let (code, _, stderr) = harness(
        dir.path(),
        &[
            "golden".as_ref(),
            "--story".as_ref(),
            lone.as_os_str(),
            "--out".as_ref(),
            dir.path().join("lone-out").as_os_str(),
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("has no case file beside it"), "{stderr}");

    std::fs::remove_file(corpus.join("truth.json")).expect("remove the truth");
    let (code, _, stderr) = harness(
        dir.path(),
        &[
            "golden".as_ref(),
            "--corpus".as_ref(),
            corpus.as_os_str(),
            "--out".as_ref(),
            dir.path().join("refused").as_os_str(),
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("has no truth.json"), "{stderr}");
}
