//! The `sla` gate: the default deployment judged by its trace, whatever the corpus; slow and
//! starved deployments fail; missing and inline-calibrated traces are refused.

use super::*;

/// A generated corpus of `frames` frames under `dir`.
fn corpus(dir: &Path, seed: u64, frames: u64) -> PathBuf {
    let corpus = dir.join(format!("corpus-{seed}-{frames}"));
    autocapture_gates::corpus::generate::generate(
        &autocapture_gates::corpus::story::Story::default_story().expect("story"),
        &autocapture_gates::corpus::generate::GenerateOptions {
            out: corpus.clone(),
            seed,
            frames,
            handoffs: 2,
        },
    )
    .expect("corpus");
    corpus
}

/// The `sla` gate's context over `corpus`, with a fresh work folder under `dir`.
fn sla_context(
    dir: &Path,
    corpus: PathBuf,
    sla_input: Option<PathBuf>,
    sla_trace: Option<PathBuf>,
) -> GateContext {
    let work = dir.join(format!(
        "work-{}",
        corpus.file_name().and_then(|n| n.to_str()).unwrap_or("x")
    ));
    std::fs::create_dir_all(&work).expect("work dir");
    GateContext {
        sla_input,
        sla_trace,
        ..GateContext::new(corpus, work)
    }
}

fn failing_checks(outcome: &GateOutcome) -> Vec<&str> {
    outcome
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.name.as_str())
        .collect()
}

fn file_sha256(path: &Path) -> String {
    sha256_hex(&std::fs::read(path).expect("test fixture"))
}

/// The gate's figures about the judged deployment (everything but the corpus's own timings).
fn deployment_figures(outcome: &GateOutcome) -> Vec<(&String, &serde_json::Value)> {
    outcome
        .measurements
        .iter()
        .filter(|(key, _)| key.starts_with("deployment_") || key.starts_with("known_"))
        .collect()
}

// Guards the judgement: the default deployment is judged on the trace its profile names, and
// the same figures come out whatever corpus the gate indexed beside it.
#[test]
fn sla_gate_judges_the_default_deployment_by_its_trace_not_the_corpus() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = workspace_root().expect("a checkout").join("fixtures/sla");
    let small = corpus(dir.path(), 11, 60);
    let large = corpus(dir.path(), 7, 120);
    let outcomes: Vec<GateOutcome> = [small, large]
        .into_iter()
        .map(|corpus| {
            let ctx = sla_context(dir.path(), corpus, None, None);
            SlaGate.run(&ctx).expect("the gate runs")
        })
        .collect();
    // What the profile and its trace say, computed here without the gate.
    let expected = estimate(
        &load_inputs(&root.join("deployment.json")).expect("test fixture"),
        time::macros::datetime!(2026-02-16 00:00:00 UTC),
        false,
    );
    let expected_headroom = expected.p99.headroom_ratio.expect("arrivals");
    assert!(
        (5.0..5.3).contains(&expected_headroom),
        "{expected_headroom}"
    );
    for outcome in &outcomes {
        assert_eq!(outcome.verdict(), Verdict::Pass, "{:#?}", outcome.evidence);
        let m = &outcome.measurements;
        assert_eq!(m["deployment_profile"], "fixtures/sla/deployment.json");
        assert_eq!(m["deployment_trace"], "traces/production-like.ndjson");
        assert_eq!(m["deployment_trace_from"], "profile");
        assert_eq!(
            m["deployment_trace_sha256"],
            file_sha256(&root.join("traces/production-like.ndjson"))
        );
        assert_eq!(m["deployment_trace_samples"], 1000);
        assert_eq!(m["deployment_trace_p50_ms"], 149.884);
        assert_eq!(m["deployment_trace_p95_ms"], 562.781);
        assert_eq!(m["deployment_trace_p99_ms"], 921.792);
        assert_eq!(m["deployment_headroom_ratio"], expected_headroom);
        assert_eq!(m["deployment_verdict"], "pass");
        // The corpus's own Stage-2 run is reported beside, under its own names.
        for key in [
            "corpus_stage2_p50_ms",
            "corpus_stage2_p95_ms",
            "corpus_stage2_p99_ms",
        ] {
            assert!(m[key].is_f64(), "{key}: {:?}", m.get(key));
        }
    }
    // Different corpora (a different number of Stage-2 samples), the same judgement.
    assert_ne!(
        outcomes[0].measurements["corpus_stage2_samples"],
        outcomes[1].measurements["corpus_stage2_samples"]
    );
    assert_eq!(
        deployment_figures(&outcomes[0]),
        deployment_figures(&outcomes[1])
    );
}

// Guards the release block: the same deployment on a slow machine's trace fails the gate, and
// the evidence names that trace.
#[test]
fn sla_gate_fails_the_deployment_on_a_slow_trace() {
    let dir = tempfile::tempdir().expect("temp dir");
    let slow = workspace_root()
        .expect("a checkout")
        .join("fixtures/sla/traces/slow.ndjson");
    let ctx = sla_context(
        dir.path(),
        corpus(dir.path(), 7, 60),
        None,
        Some(slow.clone()),
    );
    let outcome = SlaGate.run(&ctx).expect("the gate runs");
    assert_eq!(outcome.verdict(), Verdict::Fail);
    assert_eq!(
        failing_checks(&outcome),
        ["deployment profile deployment passes at p99"]
    );
    let given = slow.display().to_string();
    let m = &outcome.measurements;
    assert_eq!(m["deployment_trace"], given.as_str());
    assert_eq!(m["deployment_trace_from"], "--sla-trace");
    assert_eq!(m["deployment_trace_sha256"], file_sha256(&slow));
    assert_eq!(m["deployment_trace_samples"], 400);
    assert_eq!(m["deployment_trace_p99_ms"], 7374.336);
    assert_eq!(m["deployment_verdict"], "fail");
    let headroom = m["deployment_headroom_ratio"].as_f64().expect("headroom");
    assert!(headroom < 1.0, "{headroom}");
    let evidence = &outcome.evidence[0];
    assert_eq!(
        evidence.record.as_deref(),
        Some("fixtures/sla/deployment.json")
    );
    let actual = evidence.actual.as_ref().expect("figures");
    assert_eq!(actual["trace"], given.as_str());
    assert_eq!(actual["trace_sha256"], file_sha256(&slow));
    assert_eq!(actual["verdict"], "fail");
    assert!(
        outcome
            .checks
            .iter()
            .any(|c| !c.passed && c.detail.contains(&given)),
        "the failing check names the trace"
    );
}

// Guards the known-profile and chart checks: a starved deployment fails on the committed trace.
#[test]
fn sla_gate_fails_on_a_deployment_that_misses_the_sla() {
    let dir = tempfile::tempdir().expect("temp dir");
    let starved = workspace_root()
        .expect("a checkout")
        .join("fixtures/sla/known/fail/starved-idle-week.json");
    let ctx = sla_context(
        dir.path(),
        corpus(dir.path(), 7, 120),
        Some(starved.clone()),
        None,
    );
    let work = ctx.work.clone();
    let outcome = SlaGate.run(&ctx).expect("the gate runs");
    assert_eq!(outcome.verdict(), Verdict::Fail);
    assert_eq!(
        failing_checks(&outcome),
        ["deployment profile starved-idle-week passes at p99"]
    );
    assert_eq!(
        outcome.evidence[0].record.as_deref(),
        Some("fixtures/sla/known/fail/starved-idle-week.json")
    );
    // The trace as the profile gives it, relative to the profile.
    assert_eq!(
        outcome.measurements["deployment_trace"],
        "../../traces/production-like.ndjson"
    );
    // One sample per indexed frame (frames captured on a locked screen have nothing to index).
    let samples = outcome.measurements["corpus_stage2_samples"].as_u64();
    assert!(samples.is_some_and(|n| n > 0 && n <= 120), "{samples:?}");
    assert_eq!(outcome.charts.len(), 1);
    assert!(work.join("burn-down.svg").is_file());
}

// Guards the inputs: a missing trace is refused with its code and name before any indexing.
#[test]
fn sla_gate_refuses_a_missing_trace_before_indexing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("no-such-trace.ndjson");
    let ctx = sla_context(
        dir.path(),
        dir.path().join("no-corpus"),
        None,
        Some(missing.clone()),
    );
    let error = SlaGate
        .run(&ctx)
        .expect_err("a missing trace cannot be judged");
    let input_error = error
        .downcast_ref::<SlaInputError>()
        .unwrap_or_else(|| panic!("not an input error: {error:#}"));
    assert_eq!(input_error.code(), "sla_trace_unreadable");
    assert!(
        error.to_string().contains("no-such-trace.ndjson"),
        "{error:#}"
    );
    assert!(!ctx.work.join("data").exists(), "nothing was indexed");
}

// Guards the provenance: a profile without a trace cannot be judged unless one is given.
#[test]
fn sla_gate_refuses_a_profile_calibrated_by_inline_samples() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = std::fs::read_to_string(
        workspace_root()
            .expect("a checkout")
            .join("fixtures/sla/deployment.json"),
    )
    .expect("test fixture");
    let mut doc: serde_json::Value = serde_json::from_str(&text).expect("test fixture");
    doc["calibration"] = serde_json::json!({"samples_us": [1000, 2000]});
    let profile = dir.path().join("inline.json");
    std::fs::write(&profile, doc.to_string()).expect("write");
    let ctx = sla_context(
        dir.path(),
        dir.path().join("no-corpus"),
        Some(profile),
        None,
    );
    let error = SlaGate.run(&ctx).expect_err("no trace to judge by");
    let message = format!("{error:#}");
    assert!(
        message.contains("inline.json") && message.contains("--sla-trace"),
        "{message}"
    );
}

#[test]
fn a_trace_override_replaces_the_calibration_and_keeps_the_scale() {
    let root = workspace_root().expect("a checkout").join("fixtures/sla");
    let slow = root.join("traces/slow.ndjson");
    let text = std::fs::read_to_string(root.join("deployment.json")).expect("test fixture");
    let mut doc: serde_json::Value = serde_json::from_str(&text).expect("test fixture");
    doc["calibration"] = serde_json::json!({"samples_us": [1], "scale": 2});
    let mut read = |p: &Path| read_trace_file(p);
    let profile = parse_profile(
        &doc.to_string(),
        &root.join("deployment.json"),
        Some(&slow),
        &mut read,
    )
    .expect("profile");
    assert_eq!(profile.scale, 2);
    let slow_samples: Vec<u64> = std::fs::read_to_string(&slow)
        .expect("test fixture")
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).expect("test fixture");
            value["duration_us"].as_u64().expect("test fixture") * 2
        })
        .collect();
    assert_eq!(profile.inputs.samples_us, slow_samples);
    assert_eq!(
        profile.calibration,
        CalibrationSource::Trace(TraceSource {
            given: slow.display().to_string(),
            from_profile: false,
            path: slow.clone(),
            sha256: file_sha256(&slow),
        })
    );
    // Without the override the inline samples stand, and say so.
    let inline =
        parse_profile(&doc.to_string(), Path::new("p.json"), None, &mut read).expect("profile");
    assert_eq!(inline.inputs.samples_us, [2]);
    assert_eq!(inline.calibration, CalibrationSource::Samples);
    // An empty override trace is refused, naming the trace.
    let dir = tempfile::tempdir().expect("temp dir");
    let empty = dir.path().join("empty.ndjson");
    std::fs::write(&empty, "\n").expect("write");
    let error = parse_profile(
        &doc.to_string(),
        Path::new("p.json"),
        Some(&empty),
        &mut read,
    )
    .expect_err("no samples");
    assert_eq!(error.code(), "sla_no_samples");
    assert!(error.to_string().contains("empty.ndjson"), "{error}");
}

// Guards the slow fixture: it is the first 400 lines of the production-like trace with every
// service time eight times longer (fixtures/sla/README.md), and it validates.
#[test]
fn slow_trace_is_the_production_like_trace_eight_times_slower() {
    let root = workspace_root()
        .expect("a checkout")
        .join("fixtures/sla/traces");
    let set =
        ContractSet::load(&default_contracts_dir().expect("a checkout")).expect("test fixture");
    let production =
        std::fs::read_to_string(root.join("production-like.ndjson")).expect("test fixture");
    let slow = std::fs::read_to_string(root.join("slow.ndjson")).expect("test fixture");
    let slow_lines: Vec<&str> = slow.lines().collect();
    assert_eq!(slow_lines.len(), 400);
    for (slow_line, production_line) in slow_lines.iter().zip(production.lines()) {
        let slow_value: serde_json::Value = serde_json::from_str(slow_line).expect("json");
        let mut expected: serde_json::Value = serde_json::from_str(production_line).expect("json");
        let duration = expected["duration_us"].as_u64().expect("duration");
        expected["duration_us"] = (duration * 8).into();
        let id = expected["record_id"]
            .as_str()
            .expect("id")
            .replacen("prod/", "slow/", 1);
        expected["record_id"] = id.into();
        assert_eq!(slow_value, expected);
        assert_eq!(
            set.validate("processing-trace", &slow_value)
                .expect("validate"),
            Vec::<String>::new()
        );
    }
}

// Guards the flag: `run --sla-trace` reaches the gate, which fails and names the trace.
#[test]
fn run_with_a_slow_sla_trace_exits_1_and_reports_the_trace() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let slow = workspace_root()
        .expect("a checkout")
        .join("fixtures/sla/traces/slow.ndjson");
    let output = std::process::Command::new(BIN)
        .args(["run", "--gate", "sla", "--frames", "40", "--out"])
        .arg(&out)
        .arg("--scratch")
        .arg(dir.path().join("scratch"))
        .arg("--sla-trace")
        .arg(&slow)
        .env("TZ", "UTC")
        .output()
        .expect("run autocapture-gates");
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("report.json")).expect("report.json"),
    )
    .expect("report");
    let gates = report["predicate"]["gates"].as_array().expect("gates");
    let sla = gates
        .iter()
        .find(|g| g["name"] == "sla")
        .expect("the sla gate");
    assert_eq!(sla["verdict"], "fail");
    assert_eq!(
        sla["measurements"]["deployment_trace"],
        slow.display().to_string()
    );
    assert_eq!(
        sla["measurements"]["deployment_trace_sha256"],
        file_sha256(&slow)
    );
}
