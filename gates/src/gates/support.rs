//! Helpers the gates share: private copies of the corpus (as files, or ingested and indexed),
//! its handoffs and truth.

use std::path::{Path, PathBuf};

use anyhow::Context;
use autocapture_core::base::clock::SteppingClock;
use autocapture_core::stage1::ingest::{IngestOptions, ingest_handoff};
use autocapture_core::stage2::{Stage2Options, Stage2Report, run_stage2};
use autocapture_core::store::DataRoot;
use serde_json::Value;

use crate::fixtures::build::{BUILD_TIME, write_idle_signal};
use crate::harness::gate::GateContext;

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
    let handoffs = autocapture_core::stage1::drain::list_handoffs(&spool)?;
    Ok((spool, handoffs))
}

/// A private copy of the corpus ingested into `work/data` and indexed by Stage 2 under a fresh
/// idle signal, with a clock standing at [`BUILD_TIME`]; and Stage 2's report.
pub fn indexed_copy(ctx: &GateContext) -> anyhow::Result<(DataRoot, Stage2Report)> {
    let (_, handoffs) = private_spool(&ctx.corpus, &ctx.work)?;
    let data = DataRoot::new(ctx.work.join("data"));
    let clock = SteppingClock::new(BUILD_TIME, time::Duration::ZERO);
    for handoff in &handoffs {
        ingest_handoff(handoff, &data, &IngestOptions::default(), &clock)?;
    }
    write_idle_signal(&data)?;
    let report = run_stage2(
        &data,
        &Stage2Options {
            activity_signal: None,
            fresh_seconds: 5,
        },
        &clock,
    )?;
    Ok((data, report))
}

/// The corpus's `truth.json`.
pub fn truth(corpus: &Path) -> anyhow::Result<Value> {
    let path = corpus.join("truth.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}
