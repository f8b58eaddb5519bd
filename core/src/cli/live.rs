//! A live progress line on stderr while an ingest or a drain runs, only when stderr is a
//! terminal: drawn at once and redrawn every 200 ms from the ingest's counters
//! ([`IngestProgress`]), with rates; a drain adds its handoff count and the last handoff's state,
//! redrawn as each handoff ends.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::base::terminal::safe_text;
use crate::stage1::progress::IngestProgress;

/// What the drawing thread and the caller share.
struct Shared {
    bar: indicatif::ProgressBar,
    progress: Arc<IngestProgress>,
    prefix: Mutex<String>,
    started: Instant,
    stop: AtomicBool,
}

impl Shared {
    fn redraw(&self) {
        let line = self
            .progress
            .read()
            .line(self.started.elapsed().as_secs_f64());
        let prefix = self.prefix.lock().map(|p| p.clone()).unwrap_or_default();
        self.bar.set_message(safe_text(&format!("{prefix}{line}")));
        self.bar.force_draw();
    }
}

/// The line and the thread that redraws it; cleared when dropped.
pub(super) struct Live {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Live {
    /// Starts the line with `template` (indicatif's), or `None` when stderr is not a terminal.
    pub(super) fn start(template: &str) -> Option<Live> {
        if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            return None;
        }
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(template)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        let shared = Arc::new(Shared {
            bar,
            progress: Arc::new(IngestProgress::default()),
            prefix: Mutex::new(String::new()),
            started: Instant::now(),
            stop: AtomicBool::new(false),
        });
        shared.redraw();
        let thread = {
            let shared = shared.clone();
            std::thread::spawn(move || {
                while !shared.stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(200));
                    shared.redraw();
                }
            })
        };
        Some(Live {
            shared,
            thread: Some(thread),
        })
    }

    /// The counters to hand to the ingest.
    pub(super) fn progress(&self) -> Arc<IngestProgress> {
        self.shared.progress.clone()
    }

    /// Sets the number of handoffs a drain will take.
    pub(super) fn set_handoffs(&self, handoffs: u64) {
        self.shared.bar.set_length(handoffs);
        self.shared.redraw();
    }

    /// One more handoff done: `text` (its name and state) goes before the counters.
    pub(super) fn handoff_done(&self, text: String) {
        if let Ok(mut prefix) = self.shared.prefix.lock() {
            *prefix = text;
        }
        self.shared.bar.inc(1);
        self.shared.redraw();
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.shared.redraw();
        self.shared.bar.finish_and_clear();
    }
}
