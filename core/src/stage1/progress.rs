//! How far a running ingest has got, for a progress line: rows read and media files checked so
//! far, and the phase, in counters the ingest's threads bump as they go and a display thread
//! reads (relaxed atomics: a reading may be a batch behind, never torn).

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

/// The phases of an ingest, in order, by the words progress messages use.
pub const PHASES: [&str; 4] = ["scanning", "verifying", "committing", "done"];

/// Counters of one ingest, shared between the ingest and whoever shows them.
#[derive(Debug, Default)]
pub struct IngestProgress {
    rows: AtomicU64,
    media_files: AtomicU64,
    media_bytes: AtomicU64,
    phase: AtomicU8,
}

/// One reading of an [`IngestProgress`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgressReading {
    pub rows: u64,
    pub media_files: u64,
    pub media_bytes: u64,
    pub phase: &'static str,
}

impl IngestProgress {
    /// Rows read since the last call (totals add up across the ingests of a drain).
    pub fn rows_read(&self, rows: u64) {
        self.rows.fetch_add(rows, Ordering::Relaxed);
    }

    /// Media files checked since the last call, with their bytes.
    pub fn media_checked(&self, files: u64, bytes: u64) {
        self.media_files.fetch_add(files, Ordering::Relaxed);
        self.media_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Enters the phase named `PHASES[index]`.
    pub fn enter(&self, index: usize) {
        self.phase
            .store(index.min(PHASES.len() - 1) as u8, Ordering::Relaxed);
    }

    pub fn read(&self) -> ProgressReading {
        ProgressReading {
            rows: self.rows.load(Ordering::Relaxed),
            media_files: self.media_files.load(Ordering::Relaxed),
            media_bytes: self.media_bytes.load(Ordering::Relaxed),
            phase: PHASES[usize::from(self.phase.load(Ordering::Relaxed)).min(PHASES.len() - 1)],
        }
    }
}

/// Enters phase `index` of `progress`, when there is one to tell.
pub fn enter(progress: Option<&IngestProgress>, index: usize) {
    if let Some(progress) = progress {
        progress.enter(index);
    }
}

impl ProgressReading {
    /// `scanning: 12,000 rows (8,000/s), 3,000 media files, 1.2 GB (800 MB/s)` after `seconds`.
    pub fn line(&self, seconds: f64) -> String {
        let seconds = seconds.max(1e-3);
        let per_s = |n: u64| n as f64 / seconds;
        format!(
            "{}: {} rows ({:.0}/s), {} media files, {:.1} MB ({:.1} MB/s)",
            self.phase,
            self.rows,
            per_s(self.rows),
            self.media_files,
            self.media_bytes as f64 / 1e6,
            per_s(self.media_bytes) / 1e6
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_and_the_line_names_phase_and_rates() {
        let progress = IngestProgress::default();
        progress.rows_read(256);
        progress.rows_read(256);
        progress.media_checked(3, 2_000_000);
        progress.media_checked(1, 1_000_000);
        progress.enter(1);
        let reading = progress.read();
        assert_eq!(
            reading,
            ProgressReading {
                rows: 512,
                media_files: 4,
                media_bytes: 3_000_000,
                phase: "verifying"
            }
        );
        assert_eq!(
            reading.line(2.0),
            "verifying: 512 rows (256/s), 4 media files, 3.0 MB (1.5 MB/s)"
        );
        progress.enter(99);
        assert_eq!(progress.read().phase, "done");
    }
}
