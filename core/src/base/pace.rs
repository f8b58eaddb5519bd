//! Process-wide CPU pacing for the `active-safe` budget: the process's CPU time (every thread,
//! user and system, from `getrusage`) is held to a share of the wall time since the pacer
//! started. Work loops call [`Pacer::pace`] between units of work; long SQL statements reach it
//! through SQLite's progress handler ([`Pacer::attach`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::resource::{UsageWho, getrusage};

/// SQLite virtual-machine steps between two progress-handler calls.
const SQL_STEPS: i32 = 20_000;
/// The pacer aims this far below the cap, leaving room for the steps it cannot interrupt
/// (process start, a `syncfs`, the marker's fsyncs).
const MARGIN: f64 = 0.85;
/// Pauses shorter than this are not worth a sleep.
const MIN_PAUSE: Duration = Duration::from_millis(2);

/// CPU time of this process so far.
pub fn process_cpu() -> Duration {
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(usage) => {
            let (user, system) = (usage.user_time(), usage.system_time());
            let micros = |t: nix::sys::time::TimeVal| {
                Duration::from_secs(t.tv_sec().max(0) as u64)
                    + Duration::from_micros(t.tv_usec().max(0) as u64)
            };
            micros(user) + micros(system)
        }
        Err(_) => Duration::ZERO,
    }
}

/// Holds the process's CPU share since `new` under `cap` of one core (aiming at
/// [`MARGIN`] of it).
#[derive(Debug)]
pub struct Pacer {
    cap: f64,
    started: Instant,
    cpu_at_start: Duration,
}

impl Pacer {
    /// A pacer for `cap` in (0, 1); `None` for no cap (or a cap of 1 or more).
    pub fn new(cap: Option<f64>) -> Option<Arc<Pacer>> {
        let cap = cap.filter(|c| c.is_finite() && *c > 0.0 && *c < 1.0)?;
        Some(Arc::new(Pacer {
            cap: cap * MARGIN,
            started: Instant::now(),
            cpu_at_start: process_cpu(),
        }))
    }

    /// How long to pause now so the CPU share falls back to the cap.
    pub fn pause_needed(&self) -> Duration {
        let used = process_cpu().saturating_sub(self.cpu_at_start);
        let allowed_wall = used.div_f64(self.cap);
        allowed_wall.saturating_sub(self.started.elapsed())
    }

    /// Sleeps while the process is over its share.
    pub fn pace(&self) {
        let pause = self.pause_needed();
        if pause >= MIN_PAUSE {
            std::thread::sleep(pause);
        }
    }

    /// Paces inside long statements on `conn` too.
    pub fn attach(self: &Arc<Self>, conn: &rusqlite::Connection) {
        let pacer = Arc::clone(self);
        conn.progress_handler(
            SQL_STEPS,
            Some(move || {
                pacer.pace();
                false
            }),
        );
    }
}

/// Paces when there is a pacer.
pub fn pace(pacer: Option<&Arc<Pacer>>) {
    if let Some(pacer) = pacer {
        pacer.pace();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_pacer_without_a_cap_below_one() {
        for cap in [
            None,
            Some(0.0),
            Some(-1.0),
            Some(1.0),
            Some(2.0),
            Some(f64::NAN),
        ] {
            assert!(Pacer::new(cap).is_none(), "{cap:?}");
        }
        assert!(Pacer::new(Some(0.25)).is_some());
    }

    /// CPU time of the calling thread only.
    fn thread_cpu() -> Duration {
        let usage = getrusage(UsageWho::RUSAGE_THREAD).expect("getrusage");
        let micros = |t: nix::sys::time::TimeVal| {
            Duration::from_secs(t.tv_sec().max(0) as u64)
                + Duration::from_micros(t.tv_usec().max(0) as u64)
        };
        micros(usage.user_time()) + micros(usage.system_time())
    }

    #[test]
    fn busy_work_is_held_to_the_cap() {
        let pacer = Pacer::new(Some(0.2)).expect("pacer");
        let started = Instant::now();
        let cpu_start = thread_cpu();
        let mut x = 0u64;
        while thread_cpu().saturating_sub(cpu_start) < Duration::from_millis(60) {
            for i in 0..100_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
            pacer.pace();
        }
        std::hint::black_box(x);
        let cpu = thread_cpu().saturating_sub(cpu_start).as_secs_f64();
        let wall = started.elapsed().as_secs_f64();
        // The pacer holds the whole process to the cap; other test threads burning CPU only
        // make it sleep more, so this thread's share is judged, not the process's.
        assert!(
            cpu / wall <= 0.2 * 1.5,
            "cpu {cpu:.3} s over wall {wall:.3} s"
        );
    }
}
