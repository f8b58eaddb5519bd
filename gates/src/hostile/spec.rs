//! The hostile corpus's case specs: one `[[case]]` table of `fixtures/hostile/*.toml` each, with
//! the damage, the command and the documented outcome; [`load`] reads them all.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::probe::measure::Limits;

/// What a case expects the command to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Exit != 0 with `expect` as the error code.
    Error,
    /// Exit 0 with `expect` among the report's warning, UIA-problem or payload codes.
    Warning,
    /// Exit 0 with no such code.
    Ok,
    /// The drain paused with `expect` as the activity reason.
    Paused,
    /// Exit != 0 with `expect` as the error code, found after the DataRoot commit: the DataRoot
    /// keeps the rows and media that were checked, and there is no marker (a later run retries).
    Retry,
}

/// Which program runs the damaged handoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CaseCommand {
    /// `autocapture handoff ingest --json`.
    #[default]
    Ingest,
    /// `autocapture handoff drain --budget auto --json` over a spool holding the handoff.
    Drain,
    /// Stage 1 called in this process with a file-system hook.
    InProcess,
}

/// One case of `fixtures/hostile/*.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseSpec {
    pub name: String,
    pub why: String,
    pub damage: String,
    #[serde(default)]
    pub command: CaseCommand,
    #[serde(default = "default_outcome")]
    pub outcome: Outcome,
    pub expect: String,
    pub marker: Option<bool>,
    pub path: Option<String>,
    pub text: Option<String>,
    pub hex: Option<String>,
    pub offset: Option<u64>,
    pub keep_bytes: Option<u64>,
    pub keep_fraction: Option<f64>,
    pub sql: Option<String>,
    pub depth: Option<usize>,
    pub nodes: Option<usize>,
    pub rect: Option<String>,
    pub age_s: Option<i64>,
    pub as_mib: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub fsize_bytes: Option<u64>,
}

fn default_outcome() -> Outcome {
    Outcome::Error
}

impl CaseSpec {
    /// Whether a marker may exist after the run.
    pub fn marker_allowed(&self) -> bool {
        self.marker
            .unwrap_or(matches!(self.outcome, Outcome::Ok | Outcome::Warning))
    }

    pub(super) fn limits(&self) -> Limits {
        Limits {
            address_space_mib: Some(self.as_mib.unwrap_or(1024)),
            file_size_bytes: self.fsize_bytes,
            timeout_ms: Some(self.timeout_ms.unwrap_or(20_000)),
            read_only: Vec::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    case: Vec<CaseSpec>,
}

/// `fixtures/hostile` of the workspace.
pub fn default_dir() -> anyhow::Result<PathBuf> {
    Ok(crate::contract::workspace_root()?
        .join("fixtures")
        .join("hostile"))
}

/// Every case of every `*.toml` under `dir`, in file then case order; names must be unique.
pub fn load(dir: &Path) -> anyhow::Result<Vec<CaseSpec>> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    let mut names = BTreeSet::new();
    for file in files {
        let text = fs::read_to_string(&file).with_context(|| format!("read {}", file.display()))?;
        let parsed: CaseFile =
            toml::from_str(&text).with_context(|| format!("parse {}", file.display()))?;
        for case in parsed.case {
            if !names.insert(case.name.clone()) {
                bail!("{}: case {:?} is defined twice", file.display(), case.name);
            }
            cases.push(case);
        }
    }
    anyhow::ensure!(!cases.is_empty(), "no hostile case under {}", dir.display());
    Ok(cases)
}
