//! What a run says on stderr while it runs: the corpus, then each gate as it starts and as it
//! ends with its verdict and time, then the total. On a terminal the running gates are live
//! spinners (indicatif) with the finished lines printed above them; otherwise plain lines.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::gate::Verdict;

enum Mode {
    Off,
    Plain,
    Terminal(MultiProgress),
}

/// The run's progress reporter; shared by the threads that run gates.
pub struct RunProgress {
    mode: Mode,
    total: usize,
    done: AtomicUsize,
    started: Instant,
    /// Sum of the gates' own times, to show what running them side by side saved.
    gate_ms: Mutex<u64>,
}

/// A gate that has started: its spinner on a terminal.
pub struct Running {
    name: String,
    bar: Option<ProgressBar>,
}

const PREFIX: &str = "autocapture-gates";

impl RunProgress {
    /// Reports when `enabled`: live on a terminal (`stderr` is one), plain lines otherwise.
    pub fn new(enabled: bool, total: usize) -> RunProgress {
        let mode = if !enabled {
            Mode::Off
        } else if std::io::stderr().is_terminal() {
            Mode::Terminal(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
        } else {
            Mode::Plain
        };
        RunProgress {
            mode,
            total,
            done: AtomicUsize::new(0),
            started: Instant::now(),
            gate_ms: Mutex::new(0),
        }
    }

    /// A line of its own.
    pub fn say(&self, line: &str) {
        match &self.mode {
            Mode::Off => {}
            Mode::Plain => eprintln!("{PREFIX}: {line}"),
            Mode::Terminal(multi) => {
                if multi.println(format!("{PREFIX}: {line}")).is_err() {
                    eprintln!("{PREFIX}: {line}");
                }
            }
        }
    }

    /// `name` has started.
    pub fn start(&self, name: &str) -> Running {
        let bar = match &self.mode {
            Mode::Off => None,
            Mode::Plain => {
                eprintln!("{PREFIX}: {name} started");
                None
            }
            Mode::Terminal(multi) => {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {prefix} running {elapsed}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(name.to_owned());
                bar.enable_steady_tick(Duration::from_millis(200));
                Some(bar)
            }
        };
        Running {
            name: name.to_owned(),
            bar,
        }
    }

    /// `running` has ended with `verdict` after `ms`.
    pub fn finish(&self, running: Running, verdict: Verdict, ms: u64) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Ok(mut sum) = self.gate_ms.lock() {
            *sum += ms;
        }
        if let Some(bar) = &running.bar {
            bar.finish_and_clear();
        }
        self.say(&format!(
            "[{done}/{}] {} {} in {:.1} s",
            self.total,
            running.name,
            verdict.as_str(),
            ms as f64 / 1000.0
        ));
    }

    /// The closing line: wall time of the gates, the sum of their own times, and the harness's
    /// own peak RSS (its children, measured by the gates that judge them, are not in it).
    pub fn total(&self) {
        let sum = self.gate_ms.lock().map(|s| *s).unwrap_or_default();
        let peak = peak_rss_mib()
            .map(|mib| format!("; peak RSS of the harness {mib:.0} MiB"))
            .unwrap_or_default();
        self.say(&format!(
            "{} gates in {:.1} s wall (their own times add up to {:.1} s){peak}",
            self.done.load(Ordering::Relaxed),
            self.started.elapsed().as_secs_f64(),
            sum as f64 / 1000.0
        ));
    }
}

/// This process's peak resident set (`VmHWM` of `/proc/self/status`), in MiB; `None` where
/// the kernel does not say.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
