//! The `sla` gate (contract §10): judges the deployment profile (`fixtures/sla/deployment.json`
//! or `--sla-input`) calibrated by a processing trace of that deployment: the trace the profile
//! names, or `--sla-trace` (the release is blocked when it fails). The report names the trace
//! (as given, and its sha256) and its percentiles. The corpus's own live Stage-2 timings are
//! measured beside it for information only (they check the Stage-2 trace writer, never the
//! verdict). It also judges the committed profiles whose verdicts are known
//! (`fixtures/sla/known/pass` must pass, `known/fail` must fail) and a planted starved copy of the
//! deployment, so the gate shows it can fail. Draws the deployment's burn-down chart.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use autocapture_core::stage2::TRACE_FILE;
use autocapture_core::store::DERIVED_DIR;
use serde_json::json;

use crate::contract::{default_contracts_dir, schemas::ContractSet, workspace_root};
use crate::corpus::build::BUILD_TIME;
use crate::harness::gate::{Chart, Check, Evidence, Gate, GateContext, GateOutcome};
use crate::sla::chart::burn_down_svg;
use crate::sla::estimate::{Estimate, Percentiles, SlaVerdict, estimate, percentiles};
use crate::sla::inputs::{
    CalibrationSource, Inputs, SlaInputError, TraceSource, load_inputs, parse_profile, parse_trace,
    read_trace_file,
};

pub struct SlaGate;

/// The profile judged when `--sla-input` is not given.
pub const DEPLOYMENT_PROFILE: &str = "fixtures/sla/deployment.json";
/// Committed profiles with known verdicts, one folder per verdict.
pub const KNOWN_PROFILES: &str = "fixtures/sla/known";

/// The corpus's own Stage-2 run: reported for information, never judged.
struct CorpusStage2 {
    samples_us: Vec<u64>,
    frames_processed: u64,
    invalid_lines: u64,
}

/// The Stage-2 service times of the run's shared indexed DataRoot, and how many of its trace
/// lines failed the processing-trace schema.
fn corpus_stage2(ctx: &GateContext, set: &ContractSet) -> anyhow::Result<CorpusStage2> {
    let indexed = ctx.shared.indexed()?;
    let trace_path = indexed.data.root.join(DERIVED_DIR).join(TRACE_FILE);
    let text = std::fs::read_to_string(&trace_path)
        .with_context(|| format!("read {}", trace_path.display()))?;
    Ok(CorpusStage2 {
        invalid_lines: invalid_trace_lines(&text, &trace_path, set)?,
        samples_us: parse_trace(&text, &trace_path)?,
        frames_processed: indexed.report.frames_processed,
    })
}

/// How many non-blank lines of a processing trace fail its schema.
fn invalid_trace_lines(text: &str, path: &Path, set: &ContractSet) -> anyhow::Result<u64> {
    let mut invalid = 0;
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value = serde_json::from_str(line)
            .with_context(|| format!("parse {} line {}", path.display(), index + 1))?;
        invalid += u64::from(!set.validate("processing-trace", &value)?.is_empty());
    }
    Ok(invalid)
}

/// The deployment being judged, calibrated by its processing trace.
struct Deployment {
    profile: PathBuf,
    inputs: Inputs,
    trace: TraceSource,
    trace_text: String,
    scale: u32,
}

/// Loads the deployment profile and the trace that calibrates it (`trace_override`, else the
/// one the profile names). A profile with inline `samples_us` and no override is refused: the
/// gate judges a deployment by a trace it can name and digest.
fn load_deployment(profile: &Path, trace_override: Option<&Path>) -> anyhow::Result<Deployment> {
    let text = std::fs::read_to_string(profile).map_err(|source| SlaInputError::Unreadable {
        path: profile.to_path_buf(),
        source,
    })?;
    let mut trace_text = String::new();
    let mut read = |path: &Path| {
        let text = read_trace_file(path)?;
        trace_text.clone_from(&text);
        Ok(text)
    };
    let loaded = parse_profile(&text, profile, trace_override, &mut read)?;
    let CalibrationSource::Trace(trace) = loaded.calibration else {
        bail!(
            "judge deployment profile {}: its calibration is inline samples_us, not a processing \
             trace; name one with calibration.trace or --sla-trace",
            profile.display()
        );
    };
    Ok(Deployment {
        profile: profile.to_path_buf(),
        inputs: loaded.inputs,
        trace,
        trace_text,
        scale: loaded.scale,
    })
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn measure_percentiles(outcome: &mut GateOutcome, prefix: &str, p: Percentiles) {
    outcome.measure(&format!("{prefix}_p50_ms"), ms(p.p50_us));
    outcome.measure(&format!("{prefix}_p95_ms"), ms(p.p95_us));
    outcome.measure(&format!("{prefix}_p99_ms"), ms(p.p99_us));
}

fn profiles(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("read {}", dir.display()))?
            .path();
        if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// `path` relative to the workspace root when it lies inside it, else as it is.
fn shown(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn figures(e: &Estimate, trace: &TraceSource) -> serde_json::Value {
    json!({
        "verdict": e.verdict.as_str(),
        "max_oldest_age_hours": e.p99.max_oldest_age_hours,
        "first_risk_crossing_hours": e.p99.first_risk_crossing_hours,
        "risk_age_hours": e.risk_age_hours,
        "headroom_ratio": e.p99.headroom_ratio,
        "p99_service_ms": ms(e.p99.service_us),
        "trace": trace.given,
        "trace_sha256": trace.sha256,
    })
}

impl Gate for SlaGate {
    fn name(&self) -> &'static str {
        "sla"
    }

    fn run(&self, ctx: &GateContext) -> anyhow::Result<GateOutcome> {
        let mut outcome = GateOutcome::default();
        let set = ContractSet::load(&default_contracts_dir()?)?;
        let root = workspace_root()?;
        let deployment_path = ctx
            .sla_input
            .clone()
            .unwrap_or_else(|| root.join(DEPLOYMENT_PROFILE));
        // Inputs first: a missing profile or trace is an error before any indexing.
        let Deployment {
            profile,
            inputs: deployment,
            trace,
            trace_text,
            scale,
        } = load_deployment(&deployment_path, ctx.sla_trace.as_deref())?;

        // For information only: the corpus's own Stage-2 run checks the trace writer; its
        // timings (a toy corpus on this machine) never reach the verdict.
        let corpus = corpus_stage2(ctx, &set)?;
        outcome.check_eq(
            "corpus Stage-2 trace: one line per processed frame",
            None,
            json!(corpus.frames_processed),
            json!(corpus.samples_us.len()),
        );
        outcome.check_eq(
            "corpus Stage-2 trace: every line validates",
            None,
            json!(0),
            json!(corpus.invalid_lines),
        );
        outcome.measure("corpus_stage2_samples", corpus.samples_us.len() as u64);
        measure_percentiles(
            &mut outcome,
            "corpus_stage2",
            percentiles(&corpus.samples_us),
        );

        // The judgement: the deployment, calibrated by its own processing trace.
        let invalid = invalid_trace_lines(&trace_text, &trace.path, &set)?;
        outcome.check_eq(
            "deployment trace: every line validates",
            Some(&trace.given),
            json!(0),
            json!(invalid),
        );
        let profile_shown = shown(&profile, &root);
        outcome.measure("deployment_profile", profile_shown.clone());
        outcome.measure("deployment_trace", trace.given.clone());
        outcome.measure(
            "deployment_trace_from",
            if trace.from_profile {
                "profile"
            } else {
                "--sla-trace"
            },
        );
        outcome.measure("deployment_trace_sha256", trace.sha256.clone());
        outcome.measure(
            "deployment_trace_samples",
            deployment.samples_us.len() as u64,
        );
        outcome.measure("deployment_trace_scale", scale);
        let judged = estimate(&deployment, BUILD_TIME, true);
        measure_percentiles(&mut outcome, "deployment_trace", judged.percentiles);
        if let Some(ratio) = judged.p99.headroom_ratio {
            outcome.measure("deployment_headroom_ratio", ratio);
        }
        outcome.measure(
            "deployment_max_oldest_age_s",
            (judged.p99.max_oldest_age_hours * 3600.0).round(),
        );
        if let Some(hours) = judged.p99.projected_catchup_hours {
            outcome.measure("deployment_catchup_s", (hours * 3600.0).round());
        }
        outcome.measure("deployment_verdict", judged.verdict.as_str());
        let name = format!("deployment profile {} passes at p99", stem(&profile));
        let passed = judged.verdict == SlaVerdict::Pass;
        if !passed {
            outcome.evidence.push(Evidence {
                check: name.clone(),
                record: Some(profile_shown),
                expected: Some(json!("pass")),
                actual: Some(figures(&judged, &trace)),
                detail: None,
            });
        }
        outcome.checks.push(Check {
            passed,
            detail: if passed {
                String::new()
            } else {
                format!(
                    "a record reaches {:.1} h unprocessed after {:.2} h at the p99 service time \
                     {:.1} ms of trace {}",
                    judged.risk_age_hours,
                    judged.p99.first_risk_crossing_hours.unwrap_or_default(),
                    ms(judged.p99.service_us),
                    trace.given
                )
            },
            name,
        });
        if let Some(svg) = burn_down_svg(
            &format!("{} (trace {})", stem(&profile), trace.given),
            &judged,
        )? {
            let chart = ctx.work.join("burn-down.svg");
            std::fs::write(&chart, &svg).with_context(|| format!("write {}", chart.display()))?;
            outcome.charts.push(Chart {
                title: format!("burn-down of {}", stem(&profile)),
                svg,
            });
        }

        // Planted: the same deployment with no idle time at all must be judged failing.
        let starved = Inputs {
            idle_schedule: vec![0.0; deployment.idle_schedule.len()],
            ..deployment.clone()
        };
        let has_work = starved.backlog.iter().any(|g| g.count > 0)
            || starved.arrival_profile.iter().any(|n| *n > 0);
        outcome.check(
            "planted: the deployment without idle time fails",
            !has_work || estimate(&starved, BUILD_TIME, false).verdict == SlaVerdict::Fail,
            "a profile that never processes anything was judged passing",
        );

        for (folder, expected) in [("pass", SlaVerdict::Pass), ("fail", SlaVerdict::Fail)] {
            let list = profiles(&root.join(KNOWN_PROFILES).join(folder))?;
            outcome.check(
                &format!("known profiles that must {folder} exist"),
                !list.is_empty(),
                format!("no profile under {KNOWN_PROFILES}/{folder}"),
            );
            for path in list {
                let inputs = load_inputs(&path)?;
                let e = estimate(&inputs, BUILD_TIME, true);
                if let Some(svg) = burn_down_svg(&stem(&path), &e)? {
                    let chart = ctx.work.join(format!("burn-down-{}.svg", stem(&path)));
                    std::fs::write(&chart, svg)
                        .with_context(|| format!("write {}", chart.display()))?;
                }
                outcome.measure(&format!("known_{}", stem(&path)), e.verdict.as_str());
                outcome.check_eq(
                    &format!(
                        "known profile {} is judged {}",
                        stem(&path),
                        expected.as_str()
                    ),
                    Some(&path.display().to_string()),
                    json!(expected.as_str()),
                    json!(e.verdict.as_str()),
                );
            }
        }
        Ok(outcome)
    }
}
