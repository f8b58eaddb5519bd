//! The concurrency cases of the hostile suite on a generated corpus with the real `autocapture`
//! binary (every case passes, the load test's figures are reported), and the load verdict on
//! planted runs (an error, a missing answer, a slow p99) that it must fail.

use std::path::{Path, PathBuf};

use autocapture_gates::corpus::generate::{GenerateOptions, generate};
use autocapture_gates::corpus::story::Story;
use autocapture_gates::harness::gate::GateContext;
use autocapture_gates::hostile::Family;
use autocapture_gates::hostile::concurrency::{LoadRun, judge_load, percentile, run};

const HARNESS: &str = env!("CARGO_BIN_EXE_autocapture-gates");

fn context(dir: &Path) -> GateContext {
    let corpus = dir.join("corpus");
    generate(
        &Story::default_story().expect("story"),
        &GenerateOptions {
            out: corpus.clone(),
            seed: 7,
            frames: 600,
            handoffs: 3,
        },
    )
    .expect("corpus");
    let work = dir.join("work");
    std::fs::create_dir_all(&work).expect("work");
    GateContext {
        jobs: 2,
        autocapture_bin: Some(
            autocapture_gates::harness::bins::autocapture_beside(Path::new(HARNESS))
                .expect("autocapture binary"),
        ),
        harness_bin: Some(PathBuf::from(HARNESS)),
        ..GateContext::new(corpus, work)
    }
}

#[test]
fn concurrency_cases_pass_on_real_processes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ctx = context(dir.path());
    let before =
        autocapture_gates::corpus::digest::tree_digest(&ctx.corpus).expect("corpus digest");
    let (cases, figures) = run(&ctx).expect("cases ran");
    for case in &cases {
        eprintln!(
            "{:<50} expected {:<24} observed {:<24} {}",
            case.name, case.expected, case.observed, case.detail
        );
    }
    assert_eq!(cases.len(), 4);
    assert!(cases.iter().all(|c| c.family == Family::Concurrency));
    let failed: Vec<_> = cases.iter().filter(|c| !c.passed()).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    eprintln!("{figures:#?}");
    assert_eq!(figures["load_errors"], 0);
    assert_eq!(figures["load_requests"], 320);
    for key in [
        "load_p50_ms",
        "load_p95_ms",
        "load_p99_ms",
        "load_unloaded_p99_ms",
    ] {
        assert!(figures[key].as_f64().is_some_and(|v| v > 0.0), "{key}");
    }
    assert_eq!(
        autocapture_gates::corpus::digest::tree_digest(&ctx.corpus).expect("corpus digest"),
        before,
        "the shared corpus is never changed"
    );
}

fn steady(n: usize, ms: f64) -> LoadRun {
    LoadRun {
        latencies_ms: vec![ms; n],
        errors: Vec::new(),
    }
}

#[test]
fn the_load_verdict_fails_planted_runs() {
    let baseline = steady(40, 2.0);
    assert_eq!(judge_load(&baseline, &steady(320, 15.0), 320), Ok(()));
    // Slower than 10x but within the popup budget still holds.
    assert_eq!(judge_load(&baseline, &steady(320, 900.0), 320), Ok(()));
    let mut failing = steady(320, 3.0);
    failing.errors.push("status 500".into());
    assert!(judge_load(&baseline, &failing, 320).is_err(), "an error");
    assert!(
        judge_load(&baseline, &steady(319, 3.0), 320).is_err(),
        "a request without an answer"
    );
    let mut slow = steady(300, 3.0);
    slow.latencies_ms.extend(vec![2000.0; 20]);
    assert!(
        judge_load(&baseline, &slow, 320).is_err(),
        "a p99 over 10x the baseline and over the budget"
    );
}

#[test]
fn percentiles_are_nearest_rank() {
    let samples: Vec<f64> = (1..=100).map(f64::from).collect();
    assert_eq!(percentile(&samples, 0.5), 50.0);
    assert_eq!(percentile(&samples, 0.95), 95.0);
    assert_eq!(percentile(&samples, 0.99), 99.0);
    assert_eq!(percentile(&[7.0], 0.99), 7.0);
    assert_eq!(percentile(&[], 0.99), 0.0);
}
