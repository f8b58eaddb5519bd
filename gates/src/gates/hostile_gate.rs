//! The `hostile` gate: every part of the adversarial suite (see [`crate::hostile`]) reports its
//! cases; the gate counts them by family and fails on any case that did not give its documented
//! outcome, lost data or panicked, naming the case.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context;
use serde_json::json;

use crate::harness::gate::{Gate, GateContext, GateOutcome};
use crate::hostile::{CaseReport, Family};

/// One part of the suite: runs its cases and reports each.
pub type Part = Box<dyn Fn(&GateContext) -> anyhow::Result<Vec<CaseReport>> + Send + Sync>;

/// Cases the corpus must hold at least.
pub const MIN_CORPUS_CASES: usize = 30;

pub struct HostileGate {
    /// The parts, by name, the longest first (they run side by side in this order).
    pub parts: Vec<(&'static str, Part)>,
}

impl Default for HostileGate {
    fn default() -> HostileGate {
        HostileGate {
            parts: vec![
                ("security", Box::new(crate::hostile::security::cases)),
                ("mutation", Box::new(crate::hostile::mutation::cases)),
                ("concurrency", Box::new(crate::hostile::concurrency::cases)),
                ("corpus", Box::new(crate::hostile::corpus::cases)),
                ("property", Box::new(crate::hostile::property::cases)),
                ("fuzz", Box::new(crate::hostile::fuzz::cases)),
            ],
        }
    }
}

fn family_name(family: Family) -> &'static str {
    match family {
        Family::Corpus => "corpus",
        Family::Property => "property",
        Family::Fuzz => "fuzz",
        Family::Concurrency => "concurrency",
        Family::Security => "security",
        Family::Mutation => "mutation",
    }
}

/// The gate's verdict over `reports`.
pub fn judge(reports: &[CaseReport], outcome: &mut GateOutcome) {
    let mut by_family: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new();
    for report in reports {
        let entry = by_family.entry(family_name(report.family)).or_default();
        entry.0 += 1;
        entry.1 += u64::from(report.passed());
        entry.2 += report.inputs;
        let name = format!("{}: {}", family_name(report.family), report.name);
        if report.expected != report.observed {
            outcome.check_eq(
                &name,
                Some(&report.detail),
                json!(report.expected),
                json!(report.observed),
            );
        } else {
            outcome.check(
                &name,
                report.passed(),
                format!(
                    "{} data lost, {} panics: {}",
                    report.data_lost, report.panics, report.detail
                ),
            );
        }
    }
    let data_lost: u64 = reports.iter().map(|r| r.data_lost).sum();
    let panics: u64 = reports.iter().map(|r| r.panics).sum();
    let documented = reports.iter().filter(|r| r.expected == r.observed).count();
    outcome.measure("cases_tried", reports.len() as u64);
    outcome.measure(
        "inputs_tried",
        reports.iter().map(|r| r.inputs).sum::<u64>(),
    );
    outcome.measure("errors_as_documented", documented as u64);
    outcome.measure("data_lost", data_lost);
    outcome.measure("panics", panics);
    for (family, (tried, passed, inputs)) in &by_family {
        outcome.measure(&format!("{family}_cases"), *tried);
        outcome.measure(&format!("{family}_passed"), *passed);
        outcome.measure(&format!("{family}_inputs"), *inputs);
    }
    outcome.check_eq("data lost", None, json!(0), json!(data_lost));
    outcome.check_eq("panics", None, json!(0), json!(panics));
    let corpus = by_family.get("corpus").map_or(0, |c| c.0);
    outcome.check(
        "the corpus holds at least 30 cases",
        corpus >= MIN_CORPUS_CASES as u64,
        format!("{corpus} corpus cases"),
    );
}

impl Gate for HostileGate {
    fn name(&self) -> &'static str {
        "hostile"
    }

    /// The longest gate (hundreds of child processes): it starts first.
    fn weight(&self) -> u32 {
        40
    }

    /// The parts run side by side on `ctx.jobs` threads (each in its own work folder); their
    /// reports are judged in the parts' order.
    fn run(&self, ctx: &GateContext) -> anyhow::Result<GateOutcome> {
        type Done = (u64, anyhow::Result<Vec<CaseReport>>);
        let done: Mutex<Vec<Option<Done>>> =
            Mutex::new((0..self.parts.len()).map(|_| None).collect());
        let next = Mutex::new(0..self.parts.len());
        std::thread::scope(|scope| {
            for _ in 0..ctx.jobs.clamp(1, self.parts.len().max(1)) {
                scope.spawn(|| {
                    while let Some(i) = next.lock().ok().and_then(|mut n| n.next()) {
                        let started = Instant::now();
                        let found = (self.parts[i].1)(ctx);
                        let ms = started.elapsed().as_millis() as u64;
                        if let Ok(mut done) = done.lock() {
                            done[i] = Some((ms, found));
                        }
                    }
                });
            }
        });
        let done = done
            .into_inner()
            .map_err(|_| anyhow::anyhow!("a thread running a hostile part panicked"))?;
        let mut outcome = GateOutcome::default();
        let mut reports = Vec::new();
        for ((name, _), slot) in self.parts.iter().zip(done) {
            let (ms, found) = slot.with_context(|| format!("part {name} did not run"))?;
            let found = found?;
            outcome.measure(&format!("{name}_ms"), ms);
            outcome.check(
                &format!("part {name} tried cases"),
                !found.is_empty(),
                "the part reported no case",
            );
            reports.extend(found);
        }
        judge(&reports, &mut outcome);
        Ok(outcome)
    }
}
