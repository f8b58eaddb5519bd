//! Helpers the gates share: private copies of the corpus, its handoffs and truth.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::Value;

/// Copies the tree at `from` to `to` (regular files and directories only).
pub fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("create {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("read {}", from.display()))? {
        let entry = entry?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        let meta = std::fs::symlink_metadata(&source)?;
        if meta.is_dir() {
            copy_tree(&source, &target)?;
        } else if meta.is_file() {
            std::fs::copy(&source, &target)
                .with_context(|| format!("copy {}", source.display()))?;
        }
    }
    Ok(())
}

/// A private copy of the corpus under `work`, and its handoffs in order.
pub fn private_spool(corpus: &Path, work: &Path) -> anyhow::Result<(PathBuf, Vec<PathBuf>)> {
    let spool = work.join("spool");
    copy_tree(corpus, &spool)?;
    let handoffs = autocapture_core::drain::list_handoffs(&spool)?;
    Ok((spool, handoffs))
}

/// The corpus's `truth.json`.
pub fn truth(corpus: &Path) -> anyhow::Result<Value> {
    let path = corpus.join("truth.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}
