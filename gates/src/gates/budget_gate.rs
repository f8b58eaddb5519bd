//! The `budget` gate: Stage 1 stays within its resource caps and Stage 2 stays out of the user's
//! way. Every figure is read from outside the program (`getrusage` of a child run under
//! `autocapture-gates measure`), on the real `autocapture` binary:
//!
//! - a Stage-1 ingest of a large generated handoff peaks at most at the RSS cap (100 MiB);
//! - `handoff drain --budget active-safe` uses at most its CPU share of one core (with a
//!   tolerance for process start-up), while the same ingest at `idle-max` is measured well above
//!   it (the control that shows the measurement can tell the two apart);
//! - `stage2 run` under a fresh "active" signal indexes nothing and writes no trace in the
//!   DataRoot the paced drain filled, while the same command under an "idle" signal does index
//!   it (the control that shows the check can see work).
//!
//! The handoffs are generated in [`Gate::prepare`], beside the other gates; alone, the gate only
//! measures.

use std::path::{Path, PathBuf};

use anyhow::Context;
use autocapture_core::contract::format_ts_utc;
use autocapture_core::stage1::drain::{ACTIVE_SAFE_CPU_CAP, list_handoffs};
use autocapture_core::stage2::TRACE_FILE;
use autocapture_core::store::{DERIVED_DIR, DataRoot};
use serde_json::{Value, json};

use crate::harness::gate::{Gate, GateContext, GateOutcome};
use crate::probe::measure::{Measured, measure_child};

/// A measured `active-safe` share may exceed the cap by this factor (process start-up, the last
/// burst before exit).
pub const CPU_TOLERANCE: f64 = 1.2;

pub struct BudgetGate {
    /// Peak RSS allowed to a Stage-1 ingest.
    pub rss_cap_mib: f64,
    /// The share of one core `active-safe` may use.
    pub active_safe_cap: f64,
    /// Frames of the large handoff (the RSS cap is judged on it).
    pub frames: u64,
    /// Frames of the handoff drained at `active-safe`: long enough that process start-up is a
    /// small part of the measured share, short enough that the pacing is not most of the run.
    pub paced_frames: u64,
}

impl Default for BudgetGate {
    fn default() -> Self {
        BudgetGate {
            rss_cap_mib: 100.0,
            active_safe_cap: ACTIVE_SAFE_CPU_CAP,
            frames: 20_000,
            paced_frames: 5_000,
        }
    }
}

fn signal(path: &Path, active: bool) -> anyhow::Result<()> {
    let now = format_ts_utc(time::OffsetDateTime::now_utc());
    let body = if active {
        json!({"ts_utc": now, "idle_seconds": 0, "user_active": true})
    } else {
        json!({"ts_utc": now, "idle_seconds": 900, "user_active": false})
    };
    std::fs::write(path, body.to_string()).with_context(|| format!("write {}", path.display()))
}

fn report(run: &Measured, what: &str) -> anyhow::Result<Value> {
    anyhow::ensure!(
        run.exit_code == Some(0),
        "{what} exited with {:?}: {} {}",
        run.exit_code,
        run.stderr_tail.trim(),
        // The CLI reports its errors as JSON on stdout.
        run.stdout.chars().take(2000).collect::<String>().trim()
    );
    serde_json::from_str(&run.stdout).with_context(|| format!("read the JSON report of {what}"))
}

/// The two generated handoffs the gate measures on: the large one and the paced one's spool.
struct Inputs {
    large: PathBuf,
    paced_spool: PathBuf,
}

impl BudgetGate {
    /// Generates the gate's handoffs into `ctx.work` (once: [`Gate::prepare`] or the first call;
    /// a folder left half-built is built again).
    fn inputs(&self, ctx: &GateContext) -> anyhow::Result<Inputs> {
        let dir = ctx.work.join("inputs");
        crate::corpus::build::once(&dir, || {
            crate::corpus::build::spool(&dir.join("large"), ctx.seed, self.frames, 1)?;
            crate::corpus::build::spool(&dir.join("paced"), ctx.seed, self.paced_frames, 1)?;
            Ok(())
        })?;
        let large = list_handoffs(&dir.join("large").join("spool"))?
            .into_iter()
            .next()
            .context("the generated spool has no handoff")?;
        Ok(Inputs {
            large,
            paced_spool: dir.join("paced").join("spool"),
        })
    }
}

/// Lines of the Stage-2 processing trace (0 when there is none).
fn trace_lines(data: &DataRoot) -> usize {
    std::fs::read_to_string(data.root.join(DERIVED_DIR).join(TRACE_FILE))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

impl Gate for BudgetGate {
    fn name(&self) -> &'static str {
        "budget"
    }

    /// It measures CPU share and peak RSS of children: nothing may run beside it.
    fn runs_alone(&self) -> bool {
        true
    }

    /// Its preparation (25,000 generated frames) starts early, after the two longest gates.
    fn weight(&self) -> u32 {
        8
    }

    /// Generates the handoffs, beside the other gates.
    fn prepare(&self, ctx: &GateContext) -> anyhow::Result<()> {
        self.inputs(ctx).map(drop)
    }

    fn run(&self, ctx: &GateContext) -> anyhow::Result<GateOutcome> {
        let bin = ctx
            .autocapture_bin
            .as_deref()
            .context("the budget gate runs the real autocapture binary; none was given")?;
        let harness = ctx
            .harness_bin
            .as_deref()
            .context("the budget gate measures through `autocapture-gates measure`; no harness binary was given")?;
        let mut outcome = GateOutcome::default();
        let inputs = self.inputs(ctx)?;
        let handoff = &inputs.large;
        let arg = |p: &Path| p.display().to_string();

        // 1. Peak RSS of a Stage-1 ingest, flat out.
        let data = DataRoot::new(ctx.work.join("data"));
        let ingest = measure_child(
            harness,
            bin,
            &[
                "handoff",
                "ingest",
                "--handoff-root",
                &arg(handoff),
                "--data-dir",
                &arg(&data.root),
                "--json",
            ],
        )?;
        let ingested = report(&ingest, "handoff ingest")?;
        let rows = ingested["rows_seen"].as_u64().unwrap_or(0);
        outcome.measure("ingest_rows", rows);
        outcome.measure("ingest_peak_rss_mib", round2(ingest.max_rss_mib()));
        outcome.measure("ingest_cpu_share_ratio", round2(ingest.cpu_share()));
        outcome.measure("ingest_wall_ms", ingest.wall_ms);
        outcome.check(
            "the large handoff is ingested",
            rows >= self.frames,
            format!("{rows} rows for {} frames", self.frames),
        );
        outcome.check(
            "Stage-1 peak RSS within the cap",
            ingest.max_rss_mib() <= self.rss_cap_mib,
            format!(
                "peak RSS {:.1} MiB over the cap of {:.0} MiB",
                ingest.max_rss_mib(),
                self.rss_cap_mib
            ),
        );

        // 2. active-safe holds its CPU share; idle-max is the control.
        let spool = &inputs.paced_spool;
        let active_signal = ctx.work.join("active_signal.json");
        signal(&active_signal, true)?;
        let paced_data = DataRoot::new(ctx.work.join("data-active-safe"));
        let paced = measure_child(
            harness,
            bin,
            &[
                "handoff",
                "drain",
                "--spool-root",
                &arg(spool),
                "--data-dir",
                &arg(&paced_data.root),
                "--budget",
                "active-safe",
                "--activity-signal",
                &arg(&active_signal),
                "--include-marked",
                "--json",
            ],
        )?;
        let drained = report(&paced, "handoff drain --budget active-safe")?;
        outcome.measure("active_safe_cpu_share_ratio", round2(paced.cpu_share()));
        outcome.measure("active_safe_wall_ms", paced.wall_ms);
        outcome.measure("active_safe_peak_rss_mib", round2(paced.max_rss_mib()));
        let ingested_count = drained["totals"]["ingested"].as_u64().unwrap_or(0);
        outcome.check(
            "active-safe ingests while the user is active",
            ingested_count == 1,
            format!("drain report: {drained}"),
        );
        let limit = self.active_safe_cap * CPU_TOLERANCE;
        outcome.check(
            "active-safe within its CPU cap",
            paced.cpu_share() <= limit,
            format!(
                "used {:.2} of a core; the cap is {:.2} (with tolerance {limit:.2})",
                paced.cpu_share(),
                self.active_safe_cap
            ),
        );
        outcome.check(
            "control: an uncapped ingest is measured above the cap",
            ingest.cpu_share() > limit,
            format!(
                "the uncapped ingest used only {:.2} of a core, so the measurement cannot tell it from a capped one",
                ingest.cpu_share()
            ),
        );

        // 3. Stage 2 does nothing while the signal says active; the control sees it work (on the
        // paced drain's DataRoot: its frames are not indexed yet).
        signal(&active_signal, true)?;
        let stage2 = |signal_file: &Path| -> anyhow::Result<(Measured, Value)> {
            let run = measure_child(
                harness,
                bin,
                &[
                    "stage2",
                    "run",
                    "--data-dir",
                    &arg(&paced_data.root),
                    "--activity-signal",
                    &arg(signal_file),
                    "--json",
                ],
            )?;
            let value: Value = serde_json::from_str(&run.stdout).unwrap_or(Value::Null);
            Ok((run, value))
        };
        let trace_before = trace_lines(&paced_data);
        let (active_run, active_report) = stage2(&active_signal)?;
        let trace_after = trace_lines(&paced_data);
        outcome.measure(
            "stage2_active_cpu_ms",
            active_run.user_ms + active_run.sys_ms,
        );
        outcome.check_eq(
            "Stage 2 does no work while the user is active",
            None,
            json!({"state": "paused_active", "frames_processed": 0, "trace_lines_added": 0}),
            json!({
                "state": active_report["state"],
                "frames_processed": active_report["frames_processed"],
                "trace_lines_added": trace_after - trace_before,
            }),
        );
        let idle_signal = ctx.work.join("idle_signal.json");
        signal(&idle_signal, false)?;
        let (_, idle_report) = stage2(&idle_signal)?;
        let processed = idle_report["frames_processed"].as_u64().unwrap_or(0);
        outcome.check(
            "control: under an idle signal Stage 2 works and the check sees it",
            processed > 0 && trace_lines(&paced_data) > trace_after,
            format!("idle run report: {idle_report}"),
        );
        Ok(outcome)
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
