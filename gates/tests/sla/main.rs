//! The retention SLA estimator: hand-computed cases, synthetic bursts, bad inputs with their
//! codes, the committed profiles, and monotonicity properties of the verdict.
//! The `sla` gate itself is tried in `gate`: it judges a deployment by its trace, fails a slow
//! or starved one, and refuses missing or inline-calibrated traces.

mod gate;

use std::path::{Path, PathBuf};

use autocapture_core::contract::sha256_hex;
use autocapture_gates::contract::{default_contracts_dir, schemas::ContractSet, workspace_root};
use autocapture_gates::gates::sla_gate::SlaGate;
use autocapture_gates::harness::gate::{Gate, GateContext, GateOutcome, Verdict};
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
    let svg = autocapture_gates::sla::chart::burn_down_svg("burst <week>", &e)
        .expect("render")
        .expect("series");
    let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    let named = |name: &str| {
        doc.descendants()
            .find(|n| n.attribute("data-name") == Some(name))
            .unwrap_or_else(|| panic!("no element named {name}"))
    };
    for curve in ["backlog (records)", "oldest pending age (h)"] {
        let points = named(curve).attribute("points").expect("points");
        assert!(
            points.split(' ').count() > 100,
            "{curve} has too few points"
        );
    }
    assert!(named("risk age (h)").attribute("y1").is_some());
    assert!(named("reap boundary (h)").attribute("y1").is_some());
    assert!(svg.contains("burst &lt;week&gt;"), "the title is escaped");
    // A failing profile: the oldest age crosses the risk line, and the crossing is marked.
    assert!(
        svg.contains("risk age (h)") && svg.contains(": crossed at "),
        "{svg}"
    );
    assert!(svg.contains("class=\"marker\""), "the crossing is marked");
    for axis in [
        "backlog (records)",
        "oldest pending age (hours)",
        "hours from ",
    ] {
        assert!(svg.contains(axis), "axis label {axis}");
    }
    let without = estimate(&load_inputs(&path).expect("profile"), MONDAY, false);
    assert!(
        autocapture_gates::sla::chart::burn_down_svg("x", &without)
            .expect("render")
            .is_none()
    );
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
