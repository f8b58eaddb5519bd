//! Working copies of the corpus for the gates: private copies (as files, or ingested and indexed),
//! its handoffs, its truth and the first snapshot of a handoff.

use std::path::{Path, PathBuf};

use anyhow::Context;
use autocapture_core::base::clock::SteppingClock;
use autocapture_core::stage1::ingest::{IngestOptions, ingest_handoff};
use autocapture_core::stage2::Stage2Report;
use autocapture_core::store::DataRoot;
use rusqlite::{Connection, OpenFlags};
use serde_json::Value;

use crate::corpus::build::BUILD_TIME;

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

/// A copy of `corpus` under `dir` (its spool), ingested into `dir/data` and indexed by Stage 2
/// under a fresh idle signal, with a clock standing at [`BUILD_TIME`]; and Stage 2's report.
/// The gates read the run's one such copy through [`crate::harness::shared::Shared::indexed`].
pub fn indexed_copy_of(corpus: &Path, dir: &Path) -> anyhow::Result<(DataRoot, Stage2Report)> {
    let (_, handoffs) = private_spool(corpus, dir)?;
    let data = DataRoot::new(dir.join("data"));
    let clock = SteppingClock::new(BUILD_TIME, time::Duration::ZERO);
    for handoff in &handoffs {
        ingest_handoff(handoff, &data, &IngestOptions::default(), &clock)?;
    }
    let report = crate::corpus::build::index_while_idle(&data, &clock)?;
    Ok((data, report))
}

/// The corpus's `truth.json`.
pub fn truth(corpus: &Path) -> anyhow::Result<Value> {
    let path = corpus.join("truth.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

/// The first frame's snapshot id and payload in a handoff.
pub fn first_snapshot(handoff: &Path) -> anyhow::Result<(String, Value)> {
    let db = handoff.join("metadata.db");
    let conn = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let id: String = conn.query_row(
        "SELECT json_extract(payload, '$.uia_ref.record_id') FROM metadata WHERE record_type = 'evidence.capture.frame'
         AND json_extract(payload, '$.uia_ref.record_id') IS NOT NULL ORDER BY id LIMIT 1",
        [],
        |r| r.get(0),
    )?;
    let payload: String =
        conn.query_row("SELECT payload FROM metadata WHERE id = ?1", [&id], |r| {
            r.get(0)
        })?;
    Ok((id, serde_json::from_str(&payload)?))
}
