//! The producer's steps: the adapter's `write_handoff` and `close_handoff` write handoffs into
//! a spool, and what they wrote is judged by `conform spool`'s own checks
//! ([`crate::conform::check_spool`]), each step by the rules of [`STEP_RULES`], plus the exact
//! facts the scenario names (the first frame's id, the id form, the UIA fallback's sidecar).

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use autocapture_core::contract::sha256_hex;
use autocapture_core::handoff::Cell;
use autocapture_core::stage1::stamp;
use serde_json::Value;

use super::world::{HypervisorWorld, fail, require};
use crate::conform::adapter::{CAPTURE_SCHEMA, CaptureInput, Verb};
use crate::conform::database;
use crate::conform::report::{ConformReport, Finding};

/// How long the harness waits after `close_handoff` before it looks at the handoff: a writer
/// still at work shows itself in the files meanwhile.
const SETTLE: Duration = Duration::from_millis(300);

/// The `conform spool` rules each producer step judges (every rule of the catalogue is judged by
/// at least one step).
pub const STEP_RULES: &[(&str, &[&str])] = &[
    (
        "the handoff holds metadata.db and every media file its rows reference",
        &[
            "spool_entry_symlink",
            "handoff_unreadable",
            "metadata_missing",
            "metadata_corrupt",
            "metadata_table_missing",
            "metadata_columns",
            "metadata_indexes",
            "payload_not_json",
            "payload_too_deep",
            "record_type_unknown",
            "column_payload_mismatch",
            "payload_schema",
            "media_ref_unsafe",
            "media_ref_absolute",
            "media_ref_missing",
            "media_not_regular",
            "media_name_invalid",
            "content_hash_mismatch",
            "activity_signal_unreadable",
            "activity_signal_schema",
        ],
    ),
    (
        "no process of the Hypervisor still writes to it",
        &["not_closed"],
    ),
    (
        "the row's id is {string}",
        &[
            "row_id_missing",
            "row_id_not_text",
            "record_id_form",
            "run_id_prefix",
        ],
    ),
    (
        "the row's id is stored as TEXT",
        &["row_id_missing", "row_id_not_text"],
    ),
    (
        "no other row of the handoff or of an earlier handoff has that id with other values",
        &["record_id_conflict", "record_id_duplicate"],
    ),
    (
        "every record id of the handoff has the form {string}",
        &[
            "row_id_missing",
            "row_id_not_text",
            "record_id_form",
            "run_id_prefix",
        ],
    ),
    (
        "the frame's uia_ref names the snapshot's record_id and content_hash",
        &[
            "uia_ref_unresolved",
            "uia_snapshot_invalid",
            "uia_linkage_missing",
            "uia_docs_invalid",
            "uia_section_too_long",
        ],
    ),
];

/// The rules of the step `text` in [`STEP_RULES`].
fn rules_of(text: &str) -> &'static [&'static str] {
    STEP_RULES
        .iter()
        .find(|(step, _)| *step == text)
        .map_or(&[], |(_, rules)| rules)
}

/// One row of a handoff as stored: its id (text when it is TEXT) and its payload as JSON.
struct Row {
    id: Option<String>,
    record_type: Option<String>,
    payload: Value,
}

fn text(cell: &Cell) -> Option<String> {
    match cell {
        Cell::Text(bytes) => String::from_utf8(bytes.clone()).ok(),
        _ => None,
    }
}

/// Every row of the handoff at `path`, in id order.
fn rows(path: &Path) -> anyhow::Result<Vec<Row>> {
    let opened =
        database::reopen(path).with_context(|| format!("open {}/metadata.db", path.display()))?;
    let mut out = Vec::new();
    database::for_each_row(&opened, |row| {
        let payload = match &row.values.payload {
            Cell::Text(bytes) | Cell::Blob(bytes) => {
                serde_json::from_slice(bytes).unwrap_or(Value::Null)
            }
            _ => Value::Null,
        };
        let record_type = text(&row.values.record_type)
            .or_else(|| payload["record_type"].as_str().map(str::to_owned));
        out.push(Row {
            id: text(&row.id),
            record_type,
            payload,
        });
    })?;
    Ok(out)
}

impl HypervisorWorld {
    pub fn finished_writing_a_handoff(&mut self) -> anyhow::Result<()> {
        self.write_all()
    }

    pub fn captures_in_run(&mut self, run_id: &str) -> anyhow::Result<()> {
        self.capture.run_id = run_id.to_owned();
        self.capture.session.frames = 3;
        Ok(())
    }

    pub fn writes_two_handoffs(&mut self) -> anyhow::Result<()> {
        self.capture.session.frames = 24;
        self.capture.session.handoffs = 2;
        Ok(())
    }

    pub fn walks_a_snapshot_for_the_fallback(&mut self) -> anyhow::Result<()> {
        self.capture.fallback = true;
        Ok(())
    }

    pub fn generated_handoff(&mut self, layout: &str) -> anyhow::Result<()> {
        self.capture.layout = layout.to_owned();
        self.produce()
    }

    /// Every handoff of the session written (not yet closed).
    fn write_all(&mut self) -> anyhow::Result<()> {
        let settings = self.settings()?;
        let staging = self.folder("staging")?;
        let data_dir = self.folder("data")?;
        for index in 0..self.capture.session.handoffs {
            let name = format!("handoff_{:04}", index + 1);
            let input = CaptureInput {
                schema: CAPTURE_SCHEMA.to_owned(),
                scenario: self.scenario.clone(),
                run_id: self.capture.run_id.clone(),
                session: self.capture.session,
                handoff_index: index,
                layout: self.capture.layout.clone(),
                fallback_snapshot: self.capture.fallback,
            };
            let input_path = self.dir()?.join(format!("input-{index}.json"));
            std::fs::write(&input_path, serde_json::to_vec_pretty(&input)?)?;
            let handoff = staging.join(&name);
            let mut vars = self.common_vars()?;
            vars.extend([
                ("input", input_path.display().to_string()),
                ("handoff", handoff.display().to_string()),
                ("name", name.clone()),
                ("data_dir", data_dir.display().to_string()),
            ]);
            let outcome = settings
                .adapter
                .run(Verb::WriteHandoff, &vars, &self.env())?;
            require(outcome.succeeded(), "write_handoff_failed", || {
                outcome.describe()
            })?;
            require(handoff.is_dir(), "handoff_not_written", || {
                format!(
                    "write_handoff succeeded but {} is no folder",
                    handoff.display()
                )
            })?;
            self.staged.push((handoff, name));
        }
        Ok(())
    }

    /// Every staged handoff closed into the spool, then the spool checked.
    pub fn close_all(&mut self) -> anyhow::Result<()> {
        let settings = self.settings()?;
        let spool = self.folder("spool")?;
        for (handoff, name) in std::mem::take(&mut self.staged) {
            let mut vars = self.common_vars()?;
            vars.extend([
                ("handoff", handoff.display().to_string()),
                ("spool", spool.display().to_string()),
                ("name", name.clone()),
            ]);
            let outcome = settings
                .adapter
                .run(Verb::CloseHandoff, &vars, &self.env())?;
            require(outcome.succeeded(), "close_handoff_failed", || {
                outcome.describe()
            })?;
            let target = spool.join(&name);
            require(
                target.is_dir() && !handoff.exists(),
                "handoff_not_moved",
                || {
                    format!(
                        "after close_handoff, {} should be in the spool as {} (and gone from where it was written)",
                        handoff.display(),
                        target.display()
                    )
                },
            )?;
            self.written.push(target);
        }
        self.check_spool(&spool)
    }

    /// Writes and closes the whole session.
    pub fn produce(&mut self) -> anyhow::Result<()> {
        self.write_all()?;
        self.close_all()
    }

    /// `conform spool` over what the producer wrote, after [`SETTLE`], with a last look at each
    /// handoff's files: a change since it was closed is `not_closed`.
    fn check_spool(&mut self, spool: &Path) -> anyhow::Result<()> {
        let first: Vec<_> = self.written.iter().map(|h| stamp::take(h).ok()).collect();
        std::thread::sleep(SETTLE);
        let mut report = crate::conform::check_spool(spool)?;
        for (handoff, before) in self.written.iter().zip(first) {
            let name = handoff
                .file_name()
                .map(|n| n.to_string_lossy().into_owned());
            let after = stamp::take(handoff).ok();
            let changed = match (&before, &after) {
                (Some(before), Some(after)) => stamp::difference(before, after),
                _ => None,
            };
            if let (Some(what), Some(entry)) = (
                changed,
                report
                    .handoffs
                    .iter_mut()
                    .find(|h| Some(&h.name) == name.as_ref()),
            ) {
                *entry.counts.entry("not_closed").or_insert(0) += 1;
                entry.findings.push(Finding::new(
                    "not_closed",
                    ".",
                    format!("changed after close_handoff returned: {what}"),
                ));
            }
        }
        self.report = Some(report);
        Ok(())
    }

    fn report(&self) -> anyhow::Result<&ConformReport> {
        self.report
            .as_ref()
            .context("nothing the producer wrote has been checked yet")
    }

    /// The first finding of `rules` (in their order) in any handoff, as the step's failure; a
    /// rule that could not be checked fails with the finding that stopped it.
    pub fn judge(&self, step: &str) -> anyhow::Result<()> {
        let rules = rules_of(step);
        let report = self.report()?;
        for rule in rules {
            for handoff in &report.handoffs {
                let count = handoff.counts.get(rule).copied().unwrap_or(0);
                if count > 0 {
                    let first = handoff.findings.iter().find(|f| f.rule == *rule);
                    return Err(fail(
                        rule,
                        format!(
                            "{count} finding(s) in {}; first: {}",
                            handoff.name,
                            first.map(Finding::line).unwrap_or_default()
                        ),
                    ));
                }
                if !handoff.was_checked(rule) {
                    let cause = handoff.findings.first();
                    return Err(fail(
                        cause.map_or(*rule, |f| f.rule),
                        format!(
                            "{rule} could not be checked in {}: {}",
                            handoff.name,
                            cause.map(Finding::line).unwrap_or_default()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn first_frame_id_is(&mut self, step: &str, expected: &str) -> anyhow::Result<()> {
        self.judge(step)?;
        let first = self.written.first().context("no handoff was written")?;
        let frames: Vec<Row> = rows(first)?
            .into_iter()
            .filter(|r| r.record_type.as_deref() == Some("evidence.capture.frame"))
            .collect();
        require(
            frames.iter().any(|r| r.id.as_deref() == Some(expected)),
            "frame_id_unexpected",
            || {
                let ids: Vec<String> = frames
                    .iter()
                    .take(3)
                    .map(|r| format!("{:?}", r.id))
                    .collect();
                format!(
                    "no frame row of the first handoff has the id {expected:?}; its first frame ids: {}",
                    ids.join(", ")
                )
            },
        )
    }

    pub fn ids_have_form(&mut self, step: &str, form: &str) -> anyhow::Result<()> {
        anyhow::ensure!(form == "{run_id}/{kind}/{seq}", "unknown id form {form:?}");
        self.judge(step)?;
        for handoff in &self.written {
            for row in rows(handoff)? {
                let id = row.id.clone().unwrap_or_default();
                let parts: Vec<&str> = id.split('/').collect();
                let well_formed = parts.len() == 3
                    && Some(parts[0]) == row.payload["run_id"].as_str()
                    && Some(parts[1]) == row.record_type.as_deref()
                    && !parts[2].is_empty()
                    && parts[2].bytes().all(|b| b.is_ascii_digit());
                require(well_formed, "record_id_form", || {
                    format!("record id {id:?} is not run_id/record_type/seq of its row")
                })?;
            }
        }
        Ok(())
    }

    pub fn frames_link_their_snapshots(&mut self, step: &str) -> anyhow::Result<()> {
        self.judge(step)?;
        let mut linked = 0;
        for handoff in &self.written {
            linked += rows(handoff)?
                .iter()
                .filter(|r| r.record_type.as_deref() == Some("evidence.capture.frame"))
                .filter(|r| r.payload["uia_ref"]["record_id"].is_string())
                .count();
        }
        require(linked > 0, "uia_ref_absent", || {
            "no frame of the handoff carries a uia_ref".to_owned()
        })
    }

    pub fn fallback_has_sidecar(&mut self) -> anyhow::Result<()> {
        let uia = self.dir()?.join("data").join("uia");
        let (json, sidecar) = (uia.join("latest.snap.json"), uia.join("latest.snap.sha256"));
        let bytes = std::fs::read(&json).map_err(|e| {
            fail(
                "fallback_snapshot_missing",
                format!("{}: {e}", json.display()),
            )
        })?;
        let snapshot: Value = serde_json::from_slice(&bytes).map_err(|e| {
            fail(
                "fallback_snapshot_invalid",
                format!("{} is not JSON: {e}", json.display()),
            )
        })?;
        let contracts = crate::conform::embedded_contracts()?;
        let violations = contracts.validate("uia-snapshot", &snapshot)?;
        require(violations.is_empty(), "fallback_snapshot_invalid", || {
            format!(
                "{} breaks the uia-snapshot schema: {}",
                json.display(),
                violations.join("; ")
            )
        })?;
        let written: Vec<String> = self
            .written
            .iter()
            .map(|h| rows(h))
            .collect::<anyhow::Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .filter_map(|r| r.id)
            .collect();
        let id = snapshot["record_id"].as_str().unwrap_or_default();
        require(
            written.iter().any(|w| w == id),
            "fallback_snapshot_invalid",
            || format!("the fallback's record_id {id:?} is no row the producer wrote"),
        )?;
        let text = std::fs::read_to_string(&sidecar).map_err(|e| {
            fail(
                "fallback_sidecar_missing",
                format!("{}: {e}", sidecar.display()),
            )
        })?;
        let first = text.split_whitespace().next().unwrap_or_default();
        let expected = sha256_hex(&bytes);
        require(first == expected, "fallback_sidecar_mismatch", || {
            format!(
                "{} says {first:?}; the sha256 of latest.snap.json is {expected}",
                sidecar.display()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_conform_rule_is_judged_by_a_producer_step() {
        for rule in crate::conform::RULES {
            assert!(
                STEP_RULES.iter().any(|(_, rules)| rules.contains(&rule.id)),
                "no producer step judges {}",
                rule.id
            );
        }
        for (step, rules) in STEP_RULES {
            for rule in *rules {
                assert_eq!(crate::conform::rules::get(rule).id, *rule, "{step}");
            }
        }
    }
}
