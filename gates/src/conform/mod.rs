//! `autocapture-gates conform spool DIR`: certifies a producer's handoffs without ingesting
//! them. Every contract violation of a spool (or of one handoff) written by any producer is
//! reported as a [`Finding`]; nothing is written into the checked folders (`metadata.db` is
//! opened read-only, see [`database`]). Rules and their codes: [`rules`]; `docs/conformance.md`.
//!
//! - [`spool`]: the walk of the spool and of each handoff between two looks (`not_closed`).
//! - [`database`]: opening, integrity, table layout, rows; [`rows`]: ids, payloads, schemas
//!   ([`schema`] maps each violation to its field's annotation); [`media`]: the media tree, refs
//!   and blob hashes; [`uia`]: `uia_ref` resolution and snapshot bounds; [`signal`]: the
//!   activity signal.
//! - [`report`]: findings and reports (the `--json` document); [`render`]: table and JUnit.
//! - [`identity`]: the producer's contract identity beside ours (both commands).
//! - `conform hypervisor`: [`adapter`] (the protocol a Hypervisor build offers), [`hypervisor`]
//!   (the run, its table, JUnit and signed report); the reference adapter's verbs: [`reference`]
//!   (producer, activity publisher, popup client), [`reaper`]; [`addresses`] (this machine's).

pub mod adapter;
pub mod addresses;
pub mod database;
pub mod hypervisor;
pub mod identity;
pub mod media;
pub mod reaper;
pub mod reference;
pub mod render;
pub mod report;
pub mod rows;
pub mod rules;
pub mod schema;
pub mod signal;
pub mod spool;
pub mod uia;

use std::path::Path;

use autocapture_core::contract::identity::embedded_schemas;

pub use report::{ConformError, ConformReport, Finding, HandoffReport, RootKind};
pub use rules::{Failure, RULES, Rule};

use crate::contract::schemas::ContractSet;

/// The contract schemas this build embeds (the contract the core it ships with implements).
pub fn embedded_contracts() -> anyhow::Result<ContractSet> {
    let dir = tempfile::tempdir()?;
    for file in embedded_schemas() {
        std::fs::write(dir.path().join(&file.name), &file.text)?;
    }
    ContractSet::load(dir.path())
}

/// Checks the spool (or the single handoff) at `path` against the embedded contract. An
/// environment problem (no such folder, nothing in it) is an error carrying a [`ConformError`].
pub fn check_spool(path: &Path) -> anyhow::Result<ConformReport> {
    check_spool_with(&embedded_contracts()?, path)
}

/// [`check_spool`] against the schemas of `set` (a checkout's `contracts/`).
pub fn check_spool_with(set: &ContractSet, path: &Path) -> anyhow::Result<ConformReport> {
    spool::check(set, path)
}
