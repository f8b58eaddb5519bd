//! How a Stage-1 ingest runs: [`IngestOptions`] and the [`ImportMode`] of its media.

use serde::Serialize;

use crate::uia::UiaSettings;

/// How media files reach the DataRoot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportMode {
    /// Hardlink, falling back to a verified copy when linking is impossible (another filesystem).
    Hardlink,
    /// Always copy.
    Copy,
}

#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub mode: ImportMode,
    /// Strict: every media reference must resolve, in the handoff or already in the DataRoot.
    pub strict: bool,
    /// Threads used to hash media (at least 1).
    pub workers: usize,
    /// With a cap in (0, 1), the whole ingest pauses between units of work (rows, media batches,
    /// SQLite steps) so that the process uses at most this share of one core (the `active-safe`
    /// budget). `None` runs flat out.
    pub cpu_cap: Option<f64>,
    /// Answer an unchanged re-ingest from the ledger (see [`crate::stage1::ledger`]). Off (a rollback
    /// flag, `ingest.ledger_fast_path` in the configuration), every ingest takes the full path:
    /// rows re-read, media re-hashed; the result and the ledger entry are the same.
    pub ledger_fast_path: bool,
    /// How UIA docs are derived (the configuration's `uia` section).
    pub uia: UiaSettings,
    /// Counters the ingest bumps as it goes, for a progress line (see
    /// [`crate::stage1::progress`]).
    pub progress: Option<std::sync::Arc<crate::stage1::progress::IngestProgress>>,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            mode: ImportMode::Hardlink,
            strict: true,
            workers: 1,
            cpu_cap: None,
            ledger_fast_path: true,
            uia: UiaSettings::default(),
            progress: None,
        }
    }
}
