//! Time as a value passed in: production code asks a [`Clock`], tests pass a fixed one.

use std::sync::atomic::{AtomicI64, Ordering};

use time::{Duration, OffsetDateTime};

/// A source of the current time.
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that starts at a fixed instant and advances by a fixed step on every reading, so
/// tests get distinct, reproducible timestamps.
#[derive(Debug)]
pub struct SteppingClock {
    micros: AtomicI64,
    step_micros: i64,
}

impl SteppingClock {
    pub fn new(start: OffsetDateTime, step: Duration) -> SteppingClock {
        SteppingClock {
            micros: AtomicI64::new((start.unix_timestamp_nanos() / 1_000) as i64),
            step_micros: step.whole_microseconds() as i64,
        }
    }
}

impl Clock for SteppingClock {
    fn now(&self) -> OffsetDateTime {
        let micros = self.micros.fetch_add(self.step_micros, Ordering::Relaxed);
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}
