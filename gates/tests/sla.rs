//! The retention SLA estimator: hand-computed cases, synthetic bursts, bad inputs with their
//! codes, the committed profiles, and monotonicity properties of the verdict.

use std::path::{Path, PathBuf};

use autocapture_core::contract::sha256_hex;
use autocapture_gates::contract::{default_contracts_dir, schemas::ContractSet, workspace_root};
use autocapture_gates::gates::sla_gate::SlaGate;
use autocapture_gates::harness::gate::{Gate, GateContext, GateOutcome, Target, Verdict};
use autocapture_gates::sla::estimate::{SlaVerdict, estimate, nearest_rank, percentiles};
use autocapture_gates::sla::inputs::{
    BacklogGroup, CalibrationSource, HOURS_PER_WEEK, Inputs, SlaInputError, TraceSource,
    load_inputs, parse_inputs, parse_profile, read_trace_file,
};
use proptest::prelude::*;
use time::OffsetDateTime;
use time::macros::datetime;

/// Monday 00:00 UTC: hour 0 of the week.
const MONDAY: OffsetDateTime = datetime!(2026-02-16 00:00:00 UTC);

fn inputs(samples_us: Vec<u64>, workers: u32, idle: f64, arrivals: u64) -> Inputs {
    Inputs {
        now: None,
        horizon_hours: 144,
        margin: 0.2,
        samples_us,
        workers,
        idle_schedule: vec![idle; HOURS_PER_WEEK],
        arrival_profile: vec![arrivals; HOURS_PER_WEEK],
        backlog: Vec::new(),
    }
}

fn backlog(hours_ago: i64, count: u64) -> BacklogGroup {
    BacklogGroup {
        capture: MONDAY - time::Duration::hours(hours_ago),
        count,
    }
}

fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() < 1e-9
}

#[test]
fn nearest_rank_percentiles_are_exact() {
    let hundred: Vec<u64> = (1..=100).collect();
    let p = percentiles(&hundred);
    assert_eq!((p.p50_us, p.p95_us, p.p99_us), (50, 95, 99));
    // n = 3: ranks ceil(1.5) = 2, ceil(2.85) = 3, ceil(2.97) = 3.
    let p = percentiles(&[5, 1, 3]);
    assert_eq!((p.p50_us, p.p95_us, p.p99_us), (3, 5, 5));
    // n = 20: p95 is rank 19, p99 rank 20 (the contract's ceil(q·n) − 1 index).
    let twenty: Vec<u64> = (1..=20).map(|i| i * 10).collect();
    assert_eq!(nearest_rank(&twenty, 95), 190);
    assert_eq!(nearest_rank(&twenty, 99), 200);
    assert_eq!(nearest_rank(&[7], 99), 7);
    assert_eq!(nearest_rank(&[], 99), 0);
}

#[test]
fn catch_up_of_a_backlog_is_exact() {
    // 100 records of 1 s on one always-idle worker: 100 s.
    let mut one = inputs(vec![1_000_000], 1, 1.0, 0);
    one.backlog = vec![backlog(1, 100)];
    let e = estimate(&one, MONDAY, false);
    assert!(close(
        e.p99.projected_catchup_hours.expect("test fixture"),
        100.0 / 3600.0
    ));
    // Oldest age: captured an hour before, still pending at the end of the first minute.
    assert!(close(e.p99.max_oldest_age_hours, 61.0 / 60.0));
    assert!(close(e.p99.capacity_per_idle_hour, 3600.0));
    assert!(close(e.mean_based.lag_hours, 100.0 / 3600.0));
    assert_eq!(e.verdict, SlaVerdict::Pass);
    assert_eq!(e.p99.headroom_ratio, None, "nothing arrives");
    // Two workers idle a quarter of each hour: half the rate, 200 s.
    let mut quarter = inputs(vec![1_000_000], 2, 0.25, 0);
    quarter.backlog = vec![backlog(0, 100)];
    let e = estimate(&quarter, MONDAY, false);
    assert!(close(
        e.p99.projected_catchup_hours.expect("test fixture"),
        200.0 / 3600.0
    ));
    // The mean-based lag ignores idle time and workers.
    assert!(close(e.mean_based.lag_hours, 100.0 / 3600.0));
}

#[test]
fn a_record_never_processed_crosses_the_risk_age_then_is_reaped() {
    let mut never = inputs(vec![1_000], 1, 0.0, 0);
    never.backlog = vec![backlog(0, 1)];
    let e = estimate(&never, MONDAY, true);
    assert_eq!(e.verdict, SlaVerdict::Fail);
    assert!(close(e.risk_age_hours, 115.2));
    assert!(close(
        e.p99.first_risk_crossing_hours.expect("test fixture"),
        115.2
    ));
    assert!(close(
        e.p99.first_reap_crossing_hours.expect("test fixture"),
        144.0
    ));
    assert!(close(e.p99.reaped_records, 1.0));
    assert_eq!(e.p99.projected_catchup_hours, None);
    assert!(close(e.p99.max_oldest_age_hours, 144.0));
    let series = e.series.expect("test fixture");
    assert_eq!(series.backlog_records.len(), 144 * 60);
    assert!(close(series.backlog_records[0], 1.0));
    assert!(close(
        *series.backlog_records.last().expect("test fixture"),
        0.0
    ));
}

#[test]
fn margin_moves_the_risk_age() {
    // Idle only in the last weekday hour: Monday 00:00's record waits until Sunday 23:00.
    let mut late = inputs(vec![1_000], 1, 0.0, 0);
    late.idle_schedule[HOURS_PER_WEEK - 1] = 1.0;
    late.backlog = vec![backlog(0, 1)];
    late.horizon_hours = 200;
    late.margin = 0.2; // risk at 160 h: 167 h of waiting crosses it
    assert_eq!(estimate(&late, MONDAY, false).verdict, SlaVerdict::Fail);
    late.horizon_hours = 210;
    late.margin = 0.0; // risk at 210 h: done in the first minute of hour 167
    let e = estimate(&late, MONDAY, false);
    assert_eq!(e.verdict, SlaVerdict::Pass);
    assert!(close(e.p99.max_oldest_age_hours, 167.0));
}

/// A week with office-hours arrivals and evening idle time; `burst` adds a storm on Tuesday.
fn office_week(burst_per_hour: u64, evening_idle: f64) -> Inputs {
    let mut week = inputs(vec![500_000; 10], 1, 0.0, 0);
    for day in 0..5 {
        for hour in 8..18 {
            week.arrival_profile[day * 24 + hour] = 600;
        }
        for hour in 18..23 {
            week.idle_schedule[day * 24 + hour] = evening_idle;
        }
    }
    for hour in 8..18 {
        week.arrival_profile[24 + hour] += burst_per_hour;
    }
    week
}

#[test]
fn synthetic_bursts_fail_and_more_idle_absorbs_them() {
    // 6,000 frames a day against 7,200 per idle hour at 0.5 s: evenings clear each day.
    assert_eq!(
        estimate(&office_week(0, 1.0), MONDAY, false).verdict,
        SlaVerdict::Pass
    );
    // A 10-hour storm of 20,000/h on Tuesday: its last record (206,000 after Monday's) must be
    // done 115.2 h later, Saturday 13:12, but the four evenings before hold only 144,000.
    let storm = estimate(&office_week(20_000, 1.0), MONDAY, false);
    assert_eq!(storm.verdict, SlaVerdict::Fail);
    assert!(storm.p99.first_risk_crossing_hours.is_some());
    // The mean-based estimator sees no backlog and no burst: it passes.
    assert_eq!(storm.mean_based.verdict, SlaVerdict::Pass);
    // Idle around the clock at the weekend adds 13.2 h × 7,200 = 95,040 by then: it clears.
    let mut weekend = office_week(20_000, 1.0);
    for hour in 5 * 24..7 * 24 {
        weekend.idle_schedule[hour] = 1.0;
    }
    assert_eq!(estimate(&weekend, MONDAY, false).verdict, SlaVerdict::Pass);
    // Starved of idle time, even the normal week fails.
    assert_eq!(
        estimate(&office_week(0, 0.05), MONDAY, false).verdict,
        SlaVerdict::Fail
    );
}

/// A hand-checked scenario from a data file: (inputs document, expected verdict).
fn check_file(path: &Path, expected: SlaVerdict) {
    let inputs = load_inputs(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let e = estimate(&inputs, MONDAY, false);
    assert_eq!(e.verdict, expected, "{}", path.display());
}

#[test]
fn committed_profiles_have_their_known_verdicts_and_validate() {
    let root = workspace_root().expect("a checkout").join("fixtures/sla");
    let set =
        ContractSet::load(&default_contracts_dir().expect("a checkout")).expect("test fixture");
    let mut seen = 0;
    for (dir, verdict) in [
        ("known/pass", SlaVerdict::Pass),
        ("known/fail", SlaVerdict::Fail),
    ] {
        for entry in std::fs::read_dir(root.join(dir)).expect("test fixture") {
            let path = entry.expect("test fixture").path();
            check_file(&path, verdict);
            let value =
                serde_json::from_str(&std::fs::read_to_string(&path).expect("test fixture"))
                    .expect("test fixture");
            assert_eq!(
                set.validate("sla-input", &value).expect("test fixture"),
                Vec::<String>::new()
            );
            seen += 1;
        }
    }
    assert!(seen >= 3, "expected the normal, burst and starved profiles");
    check_file(&root.join("deployment.json"), SlaVerdict::Pass);
    // Every line of the committed trace validates as a processing-trace line.
    let trace =
        std::fs::read_to_string(root.join("traces/production-like.ndjson")).expect("test fixture");
    for line in trace.lines() {
        let value = serde_json::from_str(line).expect("test fixture");
        assert_eq!(
            set.validate("processing-trace", &value)
                .expect("test fixture"),
            Vec::<String>::new()
        );
    }
}

fn parse_err(text: &str) -> (&'static str, String) {
    let mut no_trace = |p: &Path| read_trace_file(p);
    let e =
        parse_inputs(text, Path::new("profile.json"), &mut no_trace).expect_err("must be refused");
    (e.code(), e.to_string())
}

#[test]
fn bad_inputs_give_codes_naming_the_field() {
    let week = |idle: &str, arrivals: &str| {
        format!(
            r#"{{"schema_version":1,"calibration":{{"samples_us":[1]}},"workers":1,"idle_schedule":{idle},"arrival_profile":{arrivals}{{}}}}"#
        )
    };
    let ones = serde_json::to_string(&vec![1; 168]).expect("test fixture");
    let zeros = serde_json::to_string(&vec![0; 168]).expect("test fixture");
    let good = week(&ones, &zeros).replace("{}", "");
    let mut no_trace = |p: &Path| read_trace_file(p);
    assert!(parse_inputs(&good, Path::new("p.json"), &mut no_trace).is_ok());
    for (text, code, names) in [
        ("{", "sla_input_not_json", "profile.json"),
        (&good.replace("\"workers\":1", "\"workers\":0"), "sla_input_invalid", "workers"),
        (&good.replace(&ones, "[1]"), "sla_input_invalid", "idle_schedule"),
        (&good.replacen("[1,1,", "[1,1.5,", 1), "sla_input_invalid", "idle_schedule/1"),
        (&good.replace("\"workers\"", "\"margin\":1,\"workers\""), "sla_input_invalid", "margin"),
        (&good.replace("[1]}", "[]}"), "sla_no_samples", "profile.json"),
        (&good.replace("{\"samples_us\":[1]}", "{}"), "sla_input_invalid", "calibration"),
        (&good.replace("\"workers\"", "\"now_utc\":\"2026-02-16T00:00:00Z\",\"backlog\":[{\"capture_ts_utc\":\"2026-02-17T00:00:00Z\"}],\"workers\""), "sla_input_invalid", "backlog/0/capture_ts_utc"),
        (&good.replace("\"workers\"", "\"backlog\":[{\"capture_ts_utc\":\"yesterday\"}],\"workers\""), "sla_input_invalid", "backlog/0/capture_ts_utc"),
        (&good.replace("\"workers\"", "\"extra\":1,\"workers\""), "sla_input_invalid", "extra"),
        (&good.replace("{\"samples_us\":[1]}", "{\"trace\":\"missing.ndjson\"}"), "sla_trace_unreadable", "missing.ndjson"),
    ] {
        let (actual_code, message) = parse_err(text);
        assert_eq!(actual_code, code, "{message}");
        assert!(message.contains(names), "{message} should name {names}");
    }
}

#[test]
fn a_broken_trace_line_is_named() {
    let dir = tempfile::tempdir().expect("test fixture");
    let good = std::fs::read_to_string(
        workspace_root()
            .expect("a checkout")
            .join("fixtures/sla/traces/production-like.ndjson"),
    )
    .expect("test fixture");
    let first = good.lines().next().expect("test fixture");
    std::fs::write(
        dir.path().join("t.ndjson"),
        format!(
            "{first}\n{}\n",
            first.replace("\"duration_us\"", "\"duration_ms\"")
        ),
    )
    .expect("test fixture");
    let week = format!(
        r#"{{"schema_version":1,"calibration":{{"trace":"t.ndjson"}},"workers":1,"idle_schedule":{},"arrival_profile":{}}}"#,
        serde_json::to_string(&vec![1; 168]).expect("test fixture"),
        serde_json::to_string(&vec![0; 168]).expect("test fixture")
    );
    let profile = dir.path().join("p.json");
    std::fs::write(&profile, week).expect("test fixture");
    let e = load_inputs(&profile).expect_err("must be refused");
    assert_eq!(e.code(), "sla_trace_invalid");
    assert!(e.to_string().contains("t.ndjson line 2"), "{e}");
}

fn arb_inputs() -> impl Strategy<Value = Inputs> {
    (
        prop::collection::vec(1u64..5_000_000, 1..40),
        1u32..4,
        prop::collection::vec(prop::sample::select(vec![0.0, 0.1, 0.25, 0.5, 1.0]), 168),
        prop::collection::vec(0u64..3_000, 168),
        prop::collection::vec((0i64..200, 1u64..20_000), 0..4),
        0u32..5,
    )
        .prop_map(
            |(samples_us, workers, idle_schedule, arrival_profile, groups, margin)| Inputs {
                now: None,
                horizon_hours: 144,
                margin: f64::from(margin) / 10.0,
                samples_us,
                workers,
                idle_schedule,
                arrival_profile,
                backlog: groups.into_iter().map(|(h, n)| backlog(h, n)).collect(),
            },
        )
}

fn passes(inputs: &Inputs) -> bool {
    estimate(inputs, MONDAY, false).verdict == SlaVerdict::Pass
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn more_throughput_never_turns_pass_into_fail(inputs in arb_inputs(), divisor in 1u64..8) {
        let mut faster = inputs.clone();
        faster.samples_us.iter_mut().for_each(|s| *s = (*s / divisor).max(1));
        prop_assert!(!passes(&inputs) || passes(&faster));
        let mut more_workers = inputs.clone();
        more_workers.workers += 1;
        prop_assert!(!passes(&inputs) || passes(&more_workers));
    }

    #[test]
    fn more_idle_never_turns_pass_into_fail(inputs in arb_inputs(), hour in 0usize..168, extra in 0.0f64..1.0) {
        let mut idler = inputs.clone();
        idler.idle_schedule[hour] = (idler.idle_schedule[hour] + extra).min(1.0);
        prop_assert!(!passes(&inputs) || passes(&idler));
    }

    #[test]
    fn fewer_arrivals_never_turn_pass_into_fail(inputs in arb_inputs(), hour in 0usize..168, cut in 0u64..3_000) {
        let mut fewer = inputs.clone();
        fewer.arrival_profile[hour] = fewer.arrival_profile[hour].saturating_sub(cut);
        prop_assert!(!passes(&inputs) || passes(&fewer));
    }

    #[test]
    fn a_larger_backlog_never_turns_fail_into_pass(inputs in arb_inputs(), hours_ago in 0i64..200, count in 1u64..50_000) {
        let mut larger = inputs.clone();
        larger.backlog.push(backlog(hours_ago, count));
        prop_assert!(passes(&inputs) || !passes(&larger));
    }

    #[test]
    fn p99_is_never_more_optimistic_than_p95(inputs in arb_inputs()) {
        let e = estimate(&inputs, MONDAY, false);
        prop_assert!(e.p99.verdict == SlaVerdict::Fail || e.p95.verdict == SlaVerdict::Pass);
        prop_assert!(e.p99.max_oldest_age_hours >= e.p95.max_oldest_age_hours);
    }
}

#[test]
fn burn_down_chart_is_well_formed_svg_with_both_curves_and_boundaries() {
    let path = workspace_root()
        .expect("a checkout")
        .join("fixtures/sla/known/fail/burst-week.json");
    let e = estimate(&load_inputs(&path).expect("profile"), MONDAY, true);
    let svg = autocapture_gates::sla::chart::burn_down_svg("burst <week>", &e).expect("series");
    let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    let class_of = |class: &str| {
        doc.descendants()
            .find(|n| n.attribute("class") == Some(class))
            .unwrap_or_else(|| panic!("no {class} element"))
    };
    for curve in ["backlog", "oldest-age"] {
        let points = class_of(curve).attribute("points").expect("points");
        assert!(
            points.split(' ').count() > 100,
            "{curve} has too few points"
        );
    }
    assert!(class_of("risk").attribute("y1").is_some());
    assert!(class_of("reap").attribute("y1").is_some());
    assert!(svg.contains("burst &lt;week&gt;"), "the title is escaped");
    let without = estimate(&load_inputs(&path).expect("profile"), MONDAY, false);
    assert!(autocapture_gates::sla::chart::burn_down_svg("x", &without).is_none());
}

const BIN: &str = env!("CARGO_BIN_EXE_autocapture-gates");

fn sla_estimate(args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN)
        .args(["sla", "estimate"])
        .args(args)
        .env("TZ", "UTC")
        .output()
        .expect("run autocapture-gates")
}

#[test]
fn sla_estimate_command_exits_by_verdict_and_reports_codes() {
    let root = workspace_root().expect("a checkout").join("fixtures/sla");
    let arg = |p: &str| root.join(p).to_string_lossy().into_owned();
    let normal = sla_estimate(&["--input", &arg("known/pass/normal-week.json")]);
    assert_eq!(normal.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&normal.stdout).starts_with("verdict pass"));
    let burst = sla_estimate(&["--input", &arg("known/fail/burst-week.json"), "--json"]);
    assert_eq!(burst.status.code(), Some(1));
    let value: serde_json::Value =
        serde_json::from_slice(&burst.stdout).expect("one JSON document");
    assert_eq!(value["ok"], true);
    assert_eq!(value["verdict"], "fail");
    assert_eq!(value["p95"]["verdict"], "pass");
    assert_eq!(value["mean_based"]["verdict"], "pass");
    assert_eq!(value["percentiles"]["p99_us"], 921_792);
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"schema_version": 1}"#).expect("write");
    let refused = sla_estimate(&["--input", bad.to_str().expect("utf8"), "--json"]);
    assert_eq!(refused.status.code(), Some(1));
    let value: serde_json::Value =
        serde_json::from_slice(&refused.stdout).expect("one JSON document");
    assert_eq!(value["ok"], false);
    assert_eq!(value["error"]["code"], "sla_input_invalid");
    let svg = dir.path().join("chart.svg");
    let charted = sla_estimate(&[
        "--input",
        &arg("deployment.json"),
        "--svg",
        svg.to_str().expect("utf8"),
    ]);
    assert_eq!(charted.status.code(), Some(0));
    assert!(
        std::fs::read_to_string(&svg)
            .expect("chart")
            .starts_with("<svg")
    );
}

/// A generated corpus of `frames` frames under `dir`.
fn corpus(dir: &Path, seed: u64, frames: u64) -> PathBuf {
    let corpus = dir.join(format!("corpus-{seed}-{frames}"));
    autocapture_gates::fixtures::generate::generate(
        &autocapture_gates::fixtures::story::Story::default_story().expect("story"),
        &autocapture_gates::fixtures::generate::GenerateOptions {
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
        corpus,
        work,
        target: Target::Embedded,
        seed: 7,
        jobs: 1,
        autocapture_bin: None,
        harness_bin: None,
        sla_input,
        sla_trace,
        slow: false,
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
