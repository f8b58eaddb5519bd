//! What several gates of a run read and none of them changes, built by the first gate that asks
//! (once per repeat of the run), while the others that ask wait for it: the corpus ingested and
//! indexed.
//!
//! A gate that would change it makes its own copy. The `query-readonly` gate asks its questions
//! on it and checks that no byte of it changed meanwhile, so a gate writing into it while that
//! gate runs is caught there; the gates that read it are reviewed not to write.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use autocapture_core::stage2::Stage2Report;
use autocapture_core::store::DataRoot;

/// The corpus ingested into a DataRoot and indexed by Stage 2 (clock at
/// [`crate::corpus::build::BUILD_TIME`]), and Stage 2's report.
#[derive(Debug)]
pub struct Indexed {
    pub data: DataRoot,
    pub report: Stage2Report,
}

/// The run's shared inputs, built on first use under `dir`.
pub struct Shared {
    corpus: PathBuf,
    dir: PathBuf,
    /// `None` until first asked; then the DataRoot, or why it could not be built (every later
    /// asker gets the same error rather than building again).
    indexed: Mutex<Option<Result<Arc<Indexed>, String>>>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("corpus", &self.corpus)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Shared inputs of `corpus`, to be built under `dir` (which need not exist yet).
    pub fn new(corpus: &Path, dir: &Path) -> Shared {
        Shared {
            corpus: corpus.to_owned(),
            dir: dir.to_owned(),
            indexed: Mutex::new(None),
        }
    }

    /// The corpus ingested and indexed, read-only: built by the first caller; the others wait.
    pub fn indexed(&self) -> anyhow::Result<Arc<Indexed>> {
        let mut slot = self
            .indexed
            .lock()
            .map_err(|_| anyhow::anyhow!("a gate panicked while building the shared DataRoot"))?;
        let built = slot.get_or_insert_with(|| {
            crate::corpus::copies::indexed_copy_of(&self.corpus, &self.dir.join("indexed"))
                .map(|(data, report)| Arc::new(Indexed { data, report }))
                .map_err(|e| format!("build the shared indexed DataRoot: {e:#}"))
        });
        built.clone().map_err(anyhow::Error::msg)
    }
}
