//! A gate is a value: a name, what it proves, and a `run` that returns checks, measurements and
//! evidence. Its verdict is data, not an error: `fail` when a check does not hold, `error` when
//! the gate could not run (or made no check at all: a gate that proves nothing never passes).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::shared::Shared;

/// A gate's verdict. `Skipped` only ever marks a gate of the plan that a run did not select
/// (`run --gate …`); a gate that ran is `pass`, `fail` or `error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Skipped,
    Fail,
    Error,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Skipped => "skipped",
            Verdict::Fail => "fail",
            Verdict::Error => "error",
        }
    }
}

/// One thing a gate checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// What a failing check looked at: which record, expected vs actual.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    pub check: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Evidence {
    /// The evidence in words: its detail, or what was expected and what was found.
    pub fn describe(&self) -> String {
        self.detail.clone().unwrap_or_else(|| {
            let show = |v: &Option<Value>| v.as_ref().map(Value::to_string).unwrap_or_default();
            format!(
                "expected {}, got {}",
                show(&self.expected),
                show(&self.actual)
            )
        })
    }
}

/// A chart a gate drew, shown inline in `summary.html`.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub title: String,
    /// A self-contained `<svg>` element.
    pub svg: String,
}

/// What a gate's run produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GateOutcome {
    pub checks: Vec<Check>,
    /// Figures: counts, ratios, latencies. Keys ending in `_ms`, `_s`, `_per_s` or `_ratio` are
    /// timings and keys ending in `_mib` resource readings; both are left out of the determinism
    /// signature.
    pub measurements: BTreeMap<String, Value>,
    pub evidence: Vec<Evidence>,
    pub charts: Vec<Chart>,
    /// What the gate generated or read besides the run's corpus, by name and sha256 (a second
    /// story's corpus): subjects of the signed report.
    pub inputs: Vec<(String, String)>,
}

impl GateOutcome {
    /// Records a check; a failing one also gets an evidence entry.
    pub fn check(&mut self, name: &str, passed: bool, detail: impl Into<String>) -> bool {
        let detail = detail.into();
        if !passed {
            self.evidence.push(Evidence {
                check: name.to_owned(),
                record: None,
                expected: None,
                actual: None,
                detail: Some(detail.clone()),
            });
        }
        self.checks.push(Check {
            name: name.to_owned(),
            passed,
            detail: if passed { String::new() } else { detail },
        });
        passed
    }

    /// Records an equality check with expected and actual values as evidence.
    pub fn check_eq(
        &mut self,
        name: &str,
        record: Option<&str>,
        expected: Value,
        actual: Value,
    ) -> bool {
        let passed = expected == actual;
        self.checks.push(Check {
            name: name.to_owned(),
            passed,
            detail: if passed {
                String::new()
            } else {
                format!("expected {expected}, got {actual}")
            },
        });
        if !passed {
            self.evidence.push(Evidence {
                check: name.to_owned(),
                record: record.map(str::to_owned),
                expected: Some(expected),
                actual: Some(actual),
                detail: None,
            });
        }
        passed
    }

    pub fn measure(&mut self, key: &str, value: impl Into<Value>) {
        self.measurements.insert(key.to_owned(), value.into());
    }

    /// `pass` when every check held, `fail` when one did not, `error` when there were none.
    pub fn verdict(&self) -> Verdict {
        if self.checks.is_empty() {
            Verdict::Error
        } else if self.checks.iter().all(|c| c.passed) {
            Verdict::Pass
        } else {
            Verdict::Fail
        }
    }
}

/// The system the query gates exercise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Target {
    /// The core library in this process.
    Embedded,
    /// A popup endpoint on loopback.
    Url(String),
}

impl Target {
    /// `embedded`, or an http(s) URL whose host is on loopback (anything else is refused).
    pub fn parse(text: &str) -> Result<Target, String> {
        if text == "embedded" {
            return Ok(Target::Embedded);
        }
        let rest = text
            .strip_prefix("http://")
            .or_else(|| text.strip_prefix("https://"))
            .ok_or_else(|| format!("target {text:?} is neither `embedded` nor an http(s) URL"))?;
        let authority = rest.split('/').next().unwrap_or_default();
        let host = if authority.starts_with('[') {
            authority
                .split(']')
                .next()
                .map(|h| format!("{h}]"))
                .unwrap_or_default()
        } else {
            authority.split(':').next().unwrap_or_default().to_owned()
        };
        let loopback = host == "localhost"
            || host == "[::1]"
            || host
                .parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| ip.is_loopback());
        if loopback {
            Ok(Target::Url(text.to_owned()))
        } else {
            Err(format!(
                "target {text:?} is not on loopback; only 127.0.0.0/8, localhost and [::1] are allowed"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Target::Embedded => "embedded",
            Target::Url(url) => url,
        }
    }
}

/// What every gate may use: the generated corpus, a private work dir, the target.
#[derive(Debug, Clone)]
pub struct GateContext {
    /// The generated spool (read-only for gates: copy it before changing anything).
    pub corpus: PathBuf,
    /// A fresh directory for this gate run.
    pub work: PathBuf,
    pub target: Target,
    pub seed: u64,
    pub jobs: usize,
    /// The `autocapture` binary, when a gate needs the real program.
    pub autocapture_bin: Option<PathBuf>,
    /// The `autocapture-gates` binary, when a gate measures a child (`measure`).
    pub harness_bin: Option<PathBuf>,
    /// The deployment profile the `sla` gate judges instead of `fixtures/sla/deployment.json`.
    pub sla_input: Option<PathBuf>,
    /// The processing trace that calibrates the `sla` gate's deployment profile, instead of the
    /// one the profile names (`--sla-trace`).
    pub sla_trace: Option<PathBuf>,
    /// Slow mode: gates that have a long form (fuzzing for a fixed budget) run it.
    pub slow: bool,
    /// What the gates of the run read and none changes (the corpus ingested and indexed), built
    /// once on first use.
    pub shared: Arc<Shared>,
}

impl GateContext {
    /// A context over `corpus` working in `work`, with the defaults of a plain run: the embedded
    /// target, seed 7, one job, no binaries, the committed SLA inputs, not slow. Set what differs
    /// with struct update syntax: `GateContext { jobs: 2, ..GateContext::new(corpus, work) }`.
    pub fn new(corpus: PathBuf, work: PathBuf) -> GateContext {
        GateContext {
            target: Target::Embedded,
            seed: 7,
            jobs: 1,
            autocapture_bin: None,
            harness_bin: None,
            sla_input: None,
            sla_trace: None,
            slow: false,
            shared: Arc::new(Shared::new(&corpus, &work.join("shared"))),
            corpus,
            work,
        }
    }
}

/// A gate of the registry.
pub trait Gate: Send + Sync {
    fn name(&self) -> &'static str;
    /// What the gate proves: its line of [`crate::plan::PLAN`], the one description `list`,
    /// the report and the summaries use.
    fn proves(&self) -> &'static str {
        crate::plan::proves_of(self.name())
    }
    /// Whether the gate must run with nothing else running beside it: it measures time or
    /// resources (CPU share, latency percentiles) that another gate's load would distort.
    fn runs_alone(&self) -> bool {
        false
    }
    /// Its expected share of a run's time, relative to the others (1 for most): when gates run
    /// side by side the heaviest start first, so the run does not end waiting on one.
    fn weight(&self) -> u32 {
        1
    }
    /// Builds, in `ctx.work`, what [`Gate::run`] will read, so that a gate that [`runs_alone`]
    /// spends its time alone measuring, not preparing: the runner calls it beside the other
    /// gates, before `run` and with the same context. `run` must not rely on it having been
    /// called (a gate run on its own prepares in `run`). An `Err` makes the gate's verdict
    /// `error`.
    ///
    /// [`runs_alone`]: Gate::runs_alone
    fn prepare(&self, _ctx: &GateContext) -> anyhow::Result<()> {
        Ok(())
    }
    /// Runs the gate. `Err` means it could not run: the verdict is `error`.
    fn run(&self, ctx: &GateContext) -> anyhow::Result<GateOutcome>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_must_be_loopback() {
        for ok in [
            "embedded",
            "http://127.0.0.1:8787",
            "http://127.9.9.9/api",
            "http://localhost:1",
            "https://[::1]:8787/x",
        ] {
            assert!(Target::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1:8787",
            "http://192.168.1.2",
            "http://example.com",
            "ftp://127.0.0.1",
            "127.0.0.1:8787",
            "http://127.0.0.1.evil.com",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn verdicts() {
        let mut outcome = GateOutcome::default();
        assert_eq!(outcome.verdict(), Verdict::Error, "no checks is an error");
        outcome.check("a", true, "");
        assert_eq!(outcome.verdict(), Verdict::Pass);
        outcome.check_eq("b", Some("r/1"), serde_json::json!(1), serde_json::json!(2));
        assert_eq!(outcome.verdict(), Verdict::Fail);
        assert_eq!(outcome.evidence.len(), 1);
        assert_eq!(outcome.evidence[0].record.as_deref(), Some("r/1"));
    }
}
