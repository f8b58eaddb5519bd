//! The contract documents on disk (`contracts/`): loading and validating against the JSON
//! Schemas ([`schemas`]), the five required annotations ([`annotations`]), the lock file and
//! compatibility matrix ([`lock`]), and the generated human contract doc ([`doc`]).

pub mod annotations;
pub mod doc;
pub mod lock;
pub mod schemas;

use std::path::PathBuf;

/// The workspace's `contracts/` directory (source tree layout is fixed).
pub fn default_contracts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("contracts")
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}
