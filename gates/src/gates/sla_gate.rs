//! The `sla` gate (contract §10): calibrates the estimator from a real Stage-2 run over a private
//! copy of the corpus and judges the deployment profile with it (the release is blocked when it
//! fails); judges the committed profiles whose verdicts are known (`fixtures/sla/known/pass`
//! must pass, `known/fail` must fail), and a planted starved copy of the deployment, so the gate
//! shows it can fail. Draws the deployment's burn-down chart.

use std::path::{Path, PathBuf};

use autocapture_core::stage2::TRACE_FILE;
use autocapture_core::store::DERIVED_DIR;
use serde_json::json;

use crate::contract::{default_contracts_dir, schemas::ContractSet, workspace_root};
use crate::fixtures::build::BUILD_TIME;
use crate::harness::gate::{Chart, Gate, GateContext, GateOutcome};
use crate::sla::chart::burn_down_svg;
use crate::sla::estimate::{Estimate, SlaVerdict, estimate};
use crate::sla::inputs::{Inputs, load_inputs, parse_trace};

pub struct SlaGate;

/// The profile judged when `--sla-input` is not given.
pub const DEPLOYMENT_PROFILE: &str = "fixtures/sla/deployment.json";
/// Committed profiles with known verdicts, one folder per verdict.
pub const KNOWN_PROFILES: &str = "fixtures/sla/known";

/// Ingests and indexes a private copy of the corpus; returns the Stage-2 service-time samples
/// and how many trace lines failed the processing-trace schema.
fn calibrate(ctx: &GateContext, set: &ContractSet) -> anyhow::Result<(Vec<u64>, u64, u64)> {
    let (data, report) = super::support::indexed_copy(ctx)?;
    let trace_path = data.root.join(DERIVED_DIR).join(TRACE_FILE);
    let text = std::fs::read_to_string(&trace_path)?;
    let mut invalid = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let value = serde_json::from_str(line)?;
        invalid += u64::from(!set.validate("processing-trace", &value)?.is_empty());
    }
    Ok((
        parse_trace(&text, &trace_path)?,
        report.frames_processed,
        invalid,
    ))
}

fn profiles(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn figures(e: &Estimate) -> serde_json::Value {
    json!({
        "verdict": e.verdict.as_str(),
        "max_oldest_age_hours": e.p99.max_oldest_age_hours,
        "first_risk_crossing_hours": e.p99.first_risk_crossing_hours,
        "risk_age_hours": e.risk_age_hours,
        "headroom_ratio": e.p99.headroom_ratio,
    })
}

impl Gate for SlaGate {
    fn name(&self) -> &'static str {
        "sla"
    }

    fn proves(&self) -> &'static str {
        "projected backlog clears before the 144 h reap boundary at p99 throughput with margin"
    }

    fn run(&self, ctx: &GateContext) -> anyhow::Result<GateOutcome> {
        let mut outcome = GateOutcome::default();
        let set = ContractSet::load(&default_contracts_dir()?)?;
        let (samples, frames, invalid_lines) = calibrate(ctx, &set)?;
        outcome.check_eq(
            "one trace line per processed frame",
            None,
            json!(frames),
            json!(samples.len()),
        );
        outcome.check_eq(
            "every trace line validates",
            None,
            json!(0),
            json!(invalid_lines),
        );
        outcome.measure("calibration_samples", samples.len() as u64);

        let root = workspace_root()?;
        let deployment_path = ctx
            .sla_input
            .clone()
            .unwrap_or_else(|| root.join(DEPLOYMENT_PROFILE));
        let deployment = Inputs {
            samples_us: samples.clone(),
            ..load_inputs(&deployment_path)?
        };
        let judged = estimate(&deployment, BUILD_TIME, true);
        let p = judged.percentiles;
        outcome.measure("stage2_p50_ms", p.p50_us as f64 / 1000.0);
        outcome.measure("stage2_p95_ms", p.p95_us as f64 / 1000.0);
        outcome.measure("stage2_p99_ms", p.p99_us as f64 / 1000.0);
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
        let name = format!(
            "deployment profile {} passes at p99",
            stem(&deployment_path)
        );
        if judged.verdict != SlaVerdict::Pass {
            outcome.evidence.push(crate::harness::gate::Evidence {
                check: name.clone(),
                record: Some(deployment_path.display().to_string()),
                expected: Some(json!("pass")),
                actual: Some(figures(&judged)),
                detail: None,
            });
        }
        outcome.checks.push(crate::harness::gate::Check {
            passed: judged.verdict == SlaVerdict::Pass,
            detail: if judged.verdict == SlaVerdict::Pass {
                String::new()
            } else {
                format!(
                    "a record reaches {:.1} h unprocessed after {:.2} h",
                    judged.risk_age_hours,
                    judged.p99.first_risk_crossing_hours.unwrap_or_default()
                )
            },
            name,
        });
        if let Some(svg) = burn_down_svg(
            &format!("{} (live calibration)", stem(&deployment_path)),
            &judged,
        ) {
            std::fs::write(ctx.work.join("burn-down.svg"), &svg)?;
            outcome.charts.push(Chart {
                title: format!("burn-down of {}", stem(&deployment_path)),
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
                if let Some(svg) = burn_down_svg(&stem(&path), &e) {
                    std::fs::write(ctx.work.join(format!("burn-down-{}.svg", stem(&path))), svg)?;
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
