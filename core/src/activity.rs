//! The activity signal and the foreground gate (contract §6). The Hypervisor writes whether the
//! user is active; heavy work runs only while a fresh signal says the user is idle. Anything
//! else (missing, stale, from the future, unreadable, invalid) counts as active: fail-closed.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::contract::parse_ts_utc;

/// How old a signal may be and still count (contract default: 5 s).
pub const DEFAULT_FRESH_SECONDS: u32 = 5;
/// Signals larger than this are not read.
const MAX_SIGNAL_BYTES: u64 = 64 * 1024;

/// The signal file as the Hypervisor writes it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ActivitySignal {
    pub ts_utc: String,
    pub idle_seconds: f64,
    pub user_active: bool,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub seq: Option<u64>,
}

/// Whether heavy work may run now, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActivityState {
    pub idle: bool,
    /// `idle`, `user_active`, `signal_missing`, `signal_stale`, `signal_future`,
    /// `signal_unreadable`, `signal_invalid`; `operator_override` when [`GateOverride`] let it
    /// through.
    pub reason: &'static str,
    pub detail: String,
    pub idle_seconds: Option<f64>,
    pub signal_path: Option<PathBuf>,
}

impl ActivityState {
    fn active(
        reason: &'static str,
        detail: impl Into<String>,
        path: Option<&Path>,
    ) -> ActivityState {
        ActivityState {
            idle: false,
            reason,
            detail: detail.into(),
            idle_seconds: None,
            signal_path: path.map(Path::to_path_buf),
        }
    }
}

/// How an operator who runs heavy work by hand overrides the idle gate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GateOverride {
    /// The gate as it is: only a fresh idle signal lets work run.
    #[default]
    None,
    /// Run although the signal is missing, stale or unreadable; a fresh signal saying the user
    /// is active still stops the work.
    Now,
    /// Run whatever the signal says.
    EvenIfActive,
}

impl GateOverride {
    /// `state` as this override lets it through: idle with reason `operator_override` (the
    /// signal's own reason and detail kept in `detail`) where it applies, else unchanged.
    pub fn apply(self, state: ActivityState) -> ActivityState {
        let applies = match self {
            GateOverride::None => false,
            GateOverride::Now => !state.idle && state.reason != "user_active",
            GateOverride::EvenIfActive => !state.idle,
        };
        if !applies {
            return state;
        }
        ActivityState {
            idle: true,
            reason: "operator_override",
            detail: format!("run by hand despite {}: {}", state.reason, state.detail),
            ..state
        }
    }
}

/// The signal file to read: the explicit path if given, else `<data_root>/activity/
/// activity_signal.json`, then `<data_root>/activity_signal.json` (the first that exists).
pub fn signal_path(data_root: &Path, explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_path_buf());
    }
    [
        data_root.join("activity").join("activity_signal.json"),
        data_root.join("activity_signal.json"),
    ]
    .into_iter()
    .find(|p| p.exists())
}

/// Reads the signal at `path` and decides, at `now`, whether the user is idle.
pub fn read_state(path: Option<&Path>, now: OffsetDateTime, fresh_seconds: u32) -> ActivityState {
    let Some(path) = path else {
        return ActivityState::active("signal_missing", "no activity signal file", None);
    };
    let bytes = match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return ActivityState::active(
                "signal_missing",
                format!("{} does not exist", path.display()),
                Some(path),
            );
        }
        Err(e) => return ActivityState::active("signal_unreadable", e.to_string(), Some(path)),
        Ok(meta) if !meta.is_file() || meta.len() > MAX_SIGNAL_BYTES => {
            return ActivityState::active(
                "signal_unreadable",
                "not a regular file of at most 64 KiB",
                Some(path),
            );
        }
        Ok(_) => match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => return ActivityState::active("signal_unreadable", e.to_string(), Some(path)),
        },
    };
    let signal: ActivitySignal = match serde_json::from_slice(&bytes) {
        Ok(signal) => signal,
        Err(e) => return ActivityState::active("signal_invalid", e.to_string(), Some(path)),
    };
    decide(&signal, now, fresh_seconds, Some(path))
}

/// The gate over a parsed signal (pure: time is passed in).
pub fn decide(
    signal: &ActivitySignal,
    now: OffsetDateTime,
    fresh_seconds: u32,
    path: Option<&Path>,
) -> ActivityState {
    let ts = match parse_ts_utc(&signal.ts_utc) {
        Ok(ts) => ts,
        Err(e) => return ActivityState::active("signal_invalid", e.to_string(), path),
    };
    if !signal.idle_seconds.is_finite() || signal.idle_seconds < 0.0 {
        return ActivityState::active(
            "signal_invalid",
            "idle_seconds is not a finite number >= 0",
            path,
        );
    }
    let age = (now - ts).as_seconds_f64();
    let fresh = f64::from(fresh_seconds);
    if age > fresh {
        return ActivityState::active(
            "signal_stale",
            format!("signal is {age:.1} s old (fresh within {fresh_seconds} s)"),
            path,
        );
    }
    if age < -fresh {
        return ActivityState::active(
            "signal_future",
            format!("signal is {:.1} s in the future", -age),
            path,
        );
    }
    if signal.user_active {
        return ActivityState {
            idle_seconds: Some(signal.idle_seconds),
            ..ActivityState::active("user_active", "the user is active", path)
        };
    }
    ActivityState {
        idle: true,
        reason: "idle",
        detail: format!("idle for {} s", signal.idle_seconds),
        idle_seconds: Some(signal.idle_seconds),
        signal_path: path.map(Path::to_path_buf),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn signal(ts: &str, idle: f64, active: bool) -> ActivitySignal {
        ActivitySignal {
            ts_utc: ts.into(),
            idle_seconds: idle,
            user_active: active,
            source: None,
            seq: None,
        }
    }

    #[track_caller]
    fn check(s: ActivitySignal, expected: &str) {
        let now = datetime!(2026-02-20 12:00:10 UTC);
        let state = decide(&s, now, DEFAULT_FRESH_SECONDS, None);
        assert_eq!(state.reason, expected, "{}", state.detail);
        assert_eq!(state.idle, expected == "idle");
    }

    #[test]
    fn gate_cases() {
        check(signal("2026-02-20T12:00:08Z", 120.0, false), "idle");
        check(signal("2026-02-20T12:00:05Z", 120.0, false), "idle");
        check(
            signal("2026-02-20T12:00:04.999Z", 120.0, false),
            "signal_stale",
        );
        check(signal("2026-02-20T12:00:08Z", 0.0, true), "user_active");
        check(signal("2026-02-20T12:00:30Z", 10.0, false), "signal_future");
        check(signal("2026-02-20 12:00:08", 10.0, false), "signal_invalid");
        check(
            signal("2026-02-20T12:00:08Z", f64::NAN, false),
            "signal_invalid",
        );
        check(
            signal("2026-02-20T12:00:08Z", -1.0, false),
            "signal_invalid",
        );
    }

    #[test]
    fn files_that_cannot_be_trusted_mean_active() {
        let dir = tempfile::tempdir().expect("temp dir");
        let now = datetime!(2026-02-20 12:00:10 UTC);
        let path = dir.path().join("activity_signal.json");
        assert_eq!(read_state(Some(&path), now, 5).reason, "signal_missing");
        assert_eq!(read_state(None, now, 5).reason, "signal_missing");
        std::fs::write(&path, b"{not json").expect("write");
        assert_eq!(read_state(Some(&path), now, 5).reason, "signal_invalid");
        std::fs::write(
            &path,
            br#"{"ts_utc": "2026-02-20T12:00:09Z", "user_active": false}"#,
        )
        .expect("write");
        assert_eq!(
            read_state(Some(&path), now, 5).reason,
            "signal_invalid",
            "idle_seconds is required"
        );
        std::fs::write(&path, br#"{"ts_utc": "2026-02-20T12:00:09Z", "idle_seconds": 42.5, "user_active": false, "seq": 3}"#).expect("write");
        assert!(read_state(Some(&path), now, 5).idle);
        assert_eq!(
            read_state(Some(dir.path()), now, 5).reason,
            "signal_unreadable"
        );
        // The DataRoot locations, in order.
        assert_eq!(signal_path(dir.path(), None), Some(path.clone()));
        std::fs::create_dir_all(dir.path().join("activity")).expect("mkdir");
        std::fs::write(
            dir.path().join("activity").join("activity_signal.json"),
            b"{}",
        )
        .expect("write");
        assert_eq!(
            signal_path(dir.path(), None),
            Some(dir.path().join("activity").join("activity_signal.json"))
        );
    }
}
