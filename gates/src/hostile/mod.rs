//! The adversarial suite behind the `hostile` gate: hostile handoffs built from readable specs,
//! property and fuzz runs, concurrency and faults, and security checks. Every part reports its
//! cases as [`CaseReport`]s so the gate can add them up the same way.
//!
//! - [`spec`]: the case specs of `fixtures/hostile/`; [`corpus`]: each case built into real
//!   directories and run through the real binary.
//! - [`files`]: file helpers shared by the corpus, the explorer and the promise check.
//! - [`damage`]: what each corpus case does to its handoff or DataRoot.
//! - [`mutation`]: the handoff changed at each Stage-1 point of the real ingest; the marker's
//!   promise checked after.
//! - [`promise`]: the marker's promise, judged on a marked handoff and its DataRoot.

pub mod corpus;
pub mod damage;
pub mod files;
pub mod spec;

pub mod concurrency;
pub mod mutation;
pub mod promise;
pub mod security;

use serde::Serialize;

pub mod fuzz;
pub mod generate;
pub mod property;
pub mod targets;

/// Which part of the suite a case belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// A hostile handoff directory from `fixtures/hostile/`.
    Corpus,
    /// A property run: many generated inputs through one parser or entry point.
    Property,
    /// A coverage-guided fuzz run of one target.
    Fuzz,
    /// Concurrent processes or a fault injected while another part runs.
    Concurrency,
    /// A security property of the popup server, the tokens, the audit log or the signed report.
    Security,
    /// The mutation explorer: the handoff changed while the real ingest is stopped at a point.
    Mutation,
}

/// One case tried: what was documented, what happened, and what it cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseReport {
    pub family: Family,
    pub name: String,
    /// The documented outcome: an error or warning code, or `ok`.
    pub expected: String,
    /// What the system did, in the same vocabulary.
    pub observed: String,
    /// Inputs tried (1 for a single case; the iteration count of a property or fuzz run).
    pub inputs: u64,
    /// Records or files that were retained before and are missing or changed after.
    pub data_lost: u64,
    /// Panics seen (in-process catch or a child killed by a signal it did not expect).
    pub panics: u64,
    /// The record, path or figure at fault, or what was measured.
    pub detail: String,
}

impl CaseReport {
    /// True when the case behaved as documented, lost nothing and did not panic.
    pub fn passed(&self) -> bool {
        self.expected == self.observed && self.data_lost == 0 && self.panics == 0
    }
}

/// How many runs of the real binary a part keeps going at once on `jobs` cores: twice as many
/// (at most [`MAX_RUNS_AT_ONCE`]). Each run is a short child process on a small handoff that
/// spends much of its time starting, stopped at a point, or waiting on its files (on a disk,
/// for every flushed commit and marker) rather than on a core.
pub fn runs_at_once(jobs: usize) -> usize {
    (jobs.max(1) * 2).min(MAX_RUNS_AT_ONCE)
}

/// The most children one part runs at once, whatever the cores (each holds a few descriptors of
/// the harness's).
pub const MAX_RUNS_AT_ONCE: usize = 16;
