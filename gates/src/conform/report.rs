//! What `conform spool` found: each [`Finding`] (file relative to the handoff, the row at fault,
//! the rule, Stage 1's code for the fault and its fail mode, a message), gathered per handoff
//! into a [`HandoffReport`] and over the whole spool into a [`ConformReport`]. Serialised as the
//! `--json` document (schema `autocapture.conform.report.v1`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Serialize;

use super::rules::{self, Failure};

/// The `schema` of the JSON report.
pub const REPORT_SCHEMA: &str = "autocapture.conform.report.v1";
/// Findings kept per rule and handoff; the rest are only counted (`counts`).
pub const MAX_FINDINGS_PER_RULE: usize = 100;

/// One contract violation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The file at fault, relative to the handoff (`metadata.db`, `media/run1/a.blob`, `.` for
    /// the handoff folder itself).
    pub file: String,
    /// The record id of the row at fault, when a row is at fault and its id is UTF-8 TEXT.
    pub row_id: Option<String>,
    /// SQLite's rowid of the row at fault, when its id cannot name it (NULL, empty, not TEXT).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rowid: Option<i64>,
    /// The rule broken (`rules::RULES`).
    pub rule: &'static str,
    /// The code Stage 1 gives the same fault, where it has one.
    pub code: Option<&'static str>,
    /// What Stage 1 does with it.
    pub failure: Failure,
    pub message: String,
}

impl Finding {
    /// A finding of `rule` at `file`, with the rule's code and fail mode.
    pub fn new(rule: &str, file: impl Into<String>, message: impl Into<String>) -> Finding {
        let rule = rules::get(rule);
        Finding {
            file: file.into(),
            row_id: None,
            rowid: None,
            rule: rule.id,
            code: rule.code,
            failure: rule.failure,
            message: message.into(),
        }
    }

    /// The row at fault, by its id.
    pub fn row(mut self, id: &str) -> Finding {
        self.row_id = Some(id.to_owned());
        self
    }

    /// The row at fault, by SQLite's rowid (for a row whose id cannot name it).
    pub fn rowid(mut self, rowid: Option<i64>) -> Finding {
        self.rowid = rowid;
        self
    }

    /// Another code than the rule's (a schema field's own).
    pub fn code(mut self, code: Option<&'static str>) -> Finding {
        self.code = code;
        self
    }

    /// Another fail mode than the rule's (a schema field's own).
    pub fn failure(mut self, failure: Failure) -> Finding {
        self.failure = failure;
        self
    }

    /// `file [row]: rule [code] (failure): message`, one line.
    pub fn line(&self) -> String {
        let row = match (&self.row_id, self.rowid) {
            (Some(id), _) => format!(" row {id}"),
            (None, Some(rowid)) => format!(" rowid {rowid}"),
            (None, None) => String::new(),
        };
        let code = self.code.map(|c| format!(" [{c}]")).unwrap_or_default();
        format!(
            "{}{row}: {}{code} ({}): {}",
            self.file,
            self.rule,
            self.failure.as_str(),
            self.message
        )
    }
}

/// Whether the checked path was a spool or one handoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RootKind {
    Spool,
    Handoff,
}

/// Everything found in one handoff (or one spool entry that should have been one).
#[derive(Debug, Clone, Default, Serialize)]
pub struct HandoffReport {
    /// The folder's name in the spool.
    pub name: String,
    pub path: PathBuf,
    /// `canonical`, `canonical_alt_columns` or `legacy`, when the database could be read.
    pub layout: Option<&'static str>,
    pub rows: u64,
    pub frames: u64,
    pub media_files: u64,
    pub blobs_verified: u64,
    /// The rules whose checks ran (the others could not: no database, no rows).
    pub checked: Vec<&'static str>,
    /// Findings per rule, every one counted.
    pub counts: BTreeMap<&'static str, u64>,
    /// The findings, at most [`MAX_FINDINGS_PER_RULE`] per rule, in the order found.
    pub findings: Vec<Finding>,
    pub duration_ms: u64,
}

impl HandoffReport {
    pub fn conforming(&self) -> bool {
        self.counts.is_empty()
    }

    pub fn total_findings(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Whether the checks of `rule` ran on this handoff.
    pub fn was_checked(&self, rule: &str) -> bool {
        self.checked.contains(&rule)
    }
}

/// Gathers the findings of one handoff while it is checked.
#[derive(Debug, Default)]
pub struct Collector {
    findings: Vec<Finding>,
    counts: BTreeMap<&'static str, u64>,
    checked: BTreeSet<&'static str>,
}

impl Collector {
    pub fn add(&mut self, finding: Finding) {
        let count = self.counts.entry(finding.rule).or_insert(0);
        *count += 1;
        if *count <= MAX_FINDINGS_PER_RULE as u64 {
            self.findings.push(finding);
        }
    }

    /// Marks the checks of `rules` as run.
    pub fn checked(&mut self, ids: &[&str]) {
        for id in ids {
            self.checked.insert(rules::get(id).id);
        }
    }

    /// Findings of `rule` so far.
    pub fn count(&self, rule: &str) -> u64 {
        self.counts.get(rule).copied().unwrap_or(0)
    }

    /// Moves what was gathered into `report`; `checked` in catalogue order.
    pub fn finish(self, report: &mut HandoffReport) {
        report.checked = rules::RULES
            .iter()
            .map(|r| r.id)
            .filter(|id| self.checked.contains(id))
            .collect();
        report.counts = self.counts;
        report.findings = self.findings;
    }
}

/// The whole check.
#[derive(Debug, Clone, Serialize)]
pub struct ConformReport {
    /// [`REPORT_SCHEMA`].
    pub schema: &'static str,
    /// The path given, as given.
    pub root: PathBuf,
    pub kind: RootKind,
    /// The contract the handoffs were checked against.
    pub contract_version: String,
    pub schema_hash: String,
    /// No finding in any handoff.
    pub conforming: bool,
    pub handoffs_checked: u64,
    pub findings_total: u64,
    pub handoffs: Vec<HandoffReport>,
    pub duration_ms: u64,
}

impl ConformReport {
    /// Every finding kept, with the name of its handoff.
    pub fn findings(&self) -> impl Iterator<Item = (&str, &Finding)> {
        self.handoffs
            .iter()
            .flat_map(|h| h.findings.iter().map(move |f| (h.name.as_str(), f)))
    }
}

/// What stops the check before any handoff is judged (exit 2): a missing or unreadable spool,
/// a spool with nothing in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConformError {
    pub code: &'static str,
    pub message: String,
    pub path: PathBuf,
}
