//! The contract documents on disk (`contracts/`): loading and validating against the JSON
//! Schemas ([`schemas`]), the five required annotations ([`annotations`]), the lock file and
//! compatibility matrix ([`lock`]), and the generated human contract doc ([`doc`]).

pub mod annotations;
pub mod doc;
pub mod lock;
pub mod schemas;

use std::path::{Path, PathBuf};

use anyhow::Context;

/// Names a checkout to use instead of the one around the current directory.
pub const ROOT_ENV: &str = "AUTOCAPTURE_GATES_ROOT";
/// What makes a folder a checkout of this workspace.
const MARKERS: [&str; 3] = ["contracts/contract.lock.json", "fixtures", "core/src"];

fn is_checkout(dir: &Path) -> bool {
    MARKERS.iter().all(|marker| dir.join(marker).exists())
}

/// The checkout the harness gates: `$AUTOCAPTURE_GATES_ROOT`, else the current directory or the
/// nearest folder above it that holds `contracts/contract.lock.json`, `fixtures/` and
/// `core/src/`. Found at run time, never compiled in, so a copied harness binary reads the
/// checkout it is run in; commands that need none (`golden`, `fixtures generate`,
/// `sla estimate`, `keygen`, `verify`) use their built-in assets instead.
pub fn workspace_root() -> anyhow::Result<PathBuf> {
    if let Some(root) = std::env::var_os(ROOT_ENV) {
        let root = PathBuf::from(root);
        anyhow::ensure!(
            is_checkout(&root),
            "${ROOT_ENV} is {}, which is not a checkout of this workspace (it must hold {})",
            root.display(),
            MARKERS.join(", ")
        );
        return Ok(root);
    }
    let here = std::env::current_dir().context("read the current directory")?;
    here.ancestors()
        .find(|dir| is_checkout(dir))
        .map(Path::to_path_buf)
        .with_context(|| {
            format!(
                "no checkout of this workspace at {} or above it (a checkout holds {}); this command reads the checkout's files: run it inside one or set ${ROOT_ENV}",
                here.display(),
                MARKERS.join(", ")
            )
        })
}

/// The checkout's `contracts/` directory.
pub fn default_contracts_dir() -> anyhow::Result<PathBuf> {
    Ok(workspace_root()?.join("contracts"))
}
