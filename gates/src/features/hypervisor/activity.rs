//! The activity publisher's steps and the contract identity's. The adapter's `refresh_activity`
//! runs as the Hypervisor's publisher does, until the harness stops it; meanwhile the signal is
//! read every [`SAMPLE_EVERY`] for [`WATCH`] (longer than the 5 s freshness window): each read
//! must be whole JSON valid against the contract, saying the state asked, never older than 5 s.
//! The identity scenario compares the producer's `contract_version` and `schema_hash` with what
//! the real `autocapture contract show --json` prints.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use autocapture_core::contract::parse_ts_utc;
use serde_json::Value;

use super::world::{HypervisorWorld, Sample, fail, require};
use crate::conform::adapter::{Verb, stop_group};
use crate::conform::identity::{IdentityCheck, MISMATCH_CODE, ProducerIdentity};
use crate::conform::report::Collector;

/// How long the publisher is watched.
const WATCH: Duration = Duration::from_millis(6500);
/// How often the signal is read meanwhile.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// How soon the first signal must be there.
const FIRST_WITHIN: Duration = Duration::from_secs(2);
/// The freshness window of the activity gate (contract §6), and the reader's slack.
const FRESH: Duration = Duration::from_secs(5);
const SLACK: Duration = Duration::from_millis(250);

impl HypervisorWorld {
    pub fn user_at_keyboard(&mut self) -> anyhow::Result<()> {
        self.active = Some(true);
        Ok(())
    }

    fn signal_path(&mut self) -> anyhow::Result<std::path::PathBuf> {
        Ok(self
            .folder("publisher")?
            .join("activity")
            .join("activity_signal.json"))
    }

    pub fn publisher_runs(&mut self) -> anyhow::Result<()> {
        let settings = self.settings()?;
        let signal = self.signal_path()?;
        let state = if self.active.unwrap_or(true) {
            "active"
        } else {
            "idle"
        };
        let mut vars = self.common_vars()?;
        vars.extend([
            ("signal", signal.display().to_string()),
            ("state", state.to_owned()),
        ]);
        let mut child = settings
            .adapter
            .spawn(Verb::RefreshActivity, &vars, &self.env())?;
        let started = Instant::now();
        while started.elapsed() < WATCH {
            self.samples.push(Sample {
                at: time::OffsetDateTime::now_utc(),
                elapsed_ms: started.elapsed().as_millis() as u64,
                bytes: std::fs::read(&signal).ok(),
            });
            std::thread::sleep(SAMPLE_EVERY);
        }
        stop_group(&mut child, Duration::from_secs(2));
        Ok(())
    }

    pub fn signal_carries_fields(&mut self) -> anyhow::Result<()> {
        let first = self
            .samples
            .iter()
            .find(|s| s.bytes.is_some())
            .ok_or_else(|| {
                fail(
                    "activity_signal_missing",
                    format!(
                        "refresh_activity wrote no signal in {} s",
                        WATCH.as_secs_f64()
                    ),
                )
            })?;
        require(
            first.elapsed_ms <= FIRST_WITHIN.as_millis() as u64,
            "activity_signal_missing",
            || format!("the first signal came after {} ms", first.elapsed_ms),
        )?;
        let expected = self.active.unwrap_or(true);
        for sample in self.samples.iter().filter(|s| s.bytes.is_some()) {
            let bytes = sample.bytes.as_deref().unwrap_or_default();
            let value: Value = serde_json::from_slice(bytes).map_err(|e| {
                fail(
                    "activity_signal_torn",
                    format!(
                        "a read at {} ms found no whole JSON document ({e}): write it to a temp file and rename it",
                        sample.elapsed_ms
                    ),
                )
            })?;
            require(
                value["user_active"] == Value::Bool(expected),
                "activity_state_wrong",
                || format!("asked for user_active {expected}, the signal says {value}"),
            )?;
        }
        // The last signal judged by `conform spool`'s own check of a handoff's signal.
        let publisher = self.folder("publisher")?;
        let mut out = Collector::default();
        crate::conform::signal::check_signal(
            &crate::conform::embedded_contracts()?,
            &publisher,
            &mut out,
        );
        let mut report = crate::conform::report::HandoffReport::default();
        out.finish(&mut report);
        match report.findings.first() {
            Some(finding) => Err(fail(finding.rule, finding.line())),
            None => Ok(()),
        }
    }

    pub fn signal_stays_fresh(&mut self) -> anyhow::Result<()> {
        let limit = (FRESH + SLACK).as_secs_f64();
        for sample in self.samples.iter().skip_while(|s| s.bytes.is_none()) {
            let Some(bytes) = &sample.bytes else {
                return Err(fail(
                    "activity_signal_missing",
                    format!("the signal was gone at {} ms", sample.elapsed_ms),
                ));
            };
            let value: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
            let ts = value["ts_utc"].as_str().unwrap_or_default();
            let at = parse_ts_utc(ts)
                .map_err(|e| fail("activity_signal_schema", format!("ts_utc {ts:?}: {e}")))?;
            let age = (sample.at - at).as_seconds_f64();
            require(age <= limit, "activity_signal_stale", || {
                format!(
                    "at {} ms the signal was {age:.1} s old: it must be rewritten at least every 5 s",
                    sample.elapsed_ms
                )
            })?;
        }
        Ok(())
    }

    pub fn sister_document(&mut self, path: &str) -> anyhow::Result<()> {
        let settings = self.settings()?;
        self.producer = Some(match &settings.producer {
            Some(producer) => producer.clone(),
            None => ProducerIdentity::from_sister(&settings.workspace.join(path))
                .map_err(|e| fail(e.code(), e.to_string()))?,
        });
        Ok(())
    }

    pub fn run_words(&mut self, command: &str) -> anyhow::Result<()> {
        let words: Vec<String> = command.split_whitespace().map(str::to_owned).collect();
        ensure!(
            words.first().map(String::as_str) == Some("autocapture"),
            "not an autocapture command: {command}"
        );
        self.outcome = Some(self.settings()?.autocapture(&words[1..])?);
        Ok(())
    }

    pub fn command_succeeds(&mut self) -> anyhow::Result<()> {
        let outcome = self.outcome.clone().context("no command has run")?;
        let json: Value = serde_json::from_str(outcome.stdout.trim()).unwrap_or(Value::Null);
        require(
            outcome.succeeded() && json["ok"] == Value::Bool(true),
            "command_failed",
            || outcome.describe(),
        )
    }

    pub fn identity_matches(&mut self) -> anyhow::Result<()> {
        let producer = self.producer.clone().context("no sister document")?;
        let outcome = self.outcome.clone().context("no command has run")?;
        let shown: Value = serde_json::from_str(outcome.stdout.trim()).unwrap_or(Value::Null);
        let check = IdentityCheck::of(producer)?;
        ensure!(
            shown["contract_version"] == Value::String(check.contract_version.clone())
                && shown["schema_hash"] == Value::String(check.schema_hash.clone()),
            "autocapture contract show printed {shown}, not this build's contract"
        );
        require(check.matches, MISMATCH_CODE, || check.differences())
    }
}
