//! Named crash points: the places in Stage 1 and Stage 2 where the `crash` gate kills the process
//! to prove that no crash loses data or leaves a marker without its data.
//!
//! [`point`] and [`planted`] do nothing unless the process's `main` called [`arm`], and only the
//! `autocapture-crashpoints` binary's does (it is built with `autocapture` by the same cargo
//! invocation, from the same library, so no crate is compiled twice). The shipping `autocapture`
//! never arms them, whatever its environment. An armed process reads two environment variables:
//! - `AUTOCAPTURE_CRASH_AT=<name>` or `<name>@<n>`: the point, and which arrival (default 1).
//! - `AUTOCAPTURE_CRASH_MODE=abort|pause|stop`: `abort` calls [`std::process::abort`]; `pause`
//!   sleeps so that a parent can send `SIGKILL`; `stop` stops the process with `SIGSTOP` and goes
//!   on when the parent sends `SIGCONT` (the `hostile` gate's mutation explorer changes the
//!   handoff meanwhile).
//!
//! In both modes the process first prints [`REACHED`] and the name on stderr, so a parent knows
//! where it died. [`POINTS`] is the registry every name must be in.

/// Environment variable naming the armed point.
pub const ENV_AT: &str = "AUTOCAPTURE_CRASH_AT";
/// Environment variable choosing how the process dies there.
pub const ENV_MODE: &str = "AUTOCAPTURE_CRASH_MODE";
/// What an armed process prints on stderr (followed by the point's name) when it gets there.
pub const REACHED: &str = "crash point reached: ";

/// Which program runs a point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// `autocapture handoff ingest`.
    Ingest,
    /// `autocapture stage2 run`.
    Stage2,
}

/// One crash point of the registry.
#[derive(Debug, Clone, Copy)]
pub struct CrashPoint {
    pub name: &'static str,
    pub stage: Stage,
    /// Media is copied (not linked) when the point lies on the copy path.
    pub needs_copy: bool,
    pub what: &'static str,
}

const fn ingest(name: &'static str, what: &'static str) -> CrashPoint {
    CrashPoint {
        name,
        stage: Stage::Ingest,
        needs_copy: false,
        what,
    }
}

/// Every crash point, in the order a run reaches them.
pub const POINTS: &[CrashPoint] = &[
    ingest(
        "ingest.after_lock",
        "the instance lock is held, nothing read",
    ),
    ingest(
        "ingest.after_scan",
        "rows scanned and media hashed into temp and scratch tables; nothing written",
    ),
    ingest(
        "ingest.mid_row_copy",
        "the first row is copied inside the open write transaction",
    ),
    ingest(
        "media.between_files",
        "one media file imported, the next not yet",
    ),
    CrashPoint {
        name: "media.after_temp_write",
        stage: Stage::Ingest,
        needs_copy: true,
        what: "a copied media file's temp is written, not synced",
    },
    CrashPoint {
        name: "media.after_fsync",
        stage: Stage::Ingest,
        needs_copy: true,
        what: "a copied media file's temp is synced, not linked into place",
    },
    CrashPoint {
        name: "media.after_link",
        stage: Stage::Ingest,
        needs_copy: true,
        what: "a copied media file is linked into place, its temp not removed, its folder not synced",
    },
    ingest(
        "ingest.before_media_sync",
        "every media file imported, not yet made durable by syncfs",
    ),
    ingest(
        "ingest.before_commit",
        "rows, media index and Stage-1 markers written, not committed",
    ),
    ingest(
        "ingest.after_commit",
        "the write transaction committed, the ledger not yet recorded",
    ),
    ingest(
        "ingest.after_ledger",
        "the ledger entry recorded, no audit line yet",
    ),
    ingest(
        "ingest.after_unlock",
        "audit line appended and lock released, no marker yet",
    ),
    ingest(
        "marker.before_temp",
        "stale marker temps removed, no temp written",
    ),
    ingest(
        "marker.after_temp_write",
        "the marker's temp is written, not synced",
    ),
    ingest(
        "marker.after_fsync",
        "the marker's temp is synced, not renamed",
    ),
    ingest(
        "marker.after_rename",
        "the marker is renamed into place, its directory not synced",
    ),
    ingest(
        "marker.after_dir_fsync",
        "the marker and its directory are synced",
    ),
    CrashPoint {
        name: "stage2.mid_batch",
        stage: Stage::Stage2,
        needs_copy: false,
        what: "the first frame of a batch is indexed inside its transaction",
    },
    CrashPoint {
        name: "stage2.before_watermark",
        stage: Stage::Stage2,
        needs_copy: false,
        what: "every frame of a batch is indexed, the watermark not saved",
    },
    CrashPoint {
        name: "stage2.before_commit",
        stage: Stage::Stage2,
        needs_copy: false,
        what: "a batch's index rows and watermark are written, not committed",
    },
    CrashPoint {
        name: "stage2.after_index_commit",
        stage: Stage::Stage2,
        needs_copy: false,
        what: "a batch's index rows committed with its watermark, no trace lines yet",
    },
    CrashPoint {
        name: "stage2.after_trace",
        stage: Stage::Stage2,
        needs_copy: false,
        what: "a batch's trace lines appended",
    },
];

/// Environment variable planting a known bug in the `autocapture-crashpoints` binary, so that
/// the `hostile` gate's mutation explorer proves it finds it (see [`PLANTS`]).
pub const ENV_PLANT: &str = "AUTOCAPTURE_PLANT";

/// The ingest bugs the `autocapture-crashpoints` binary can plant (the mutation explorer runs each):
/// - `skip_handoff_check`: no comparison of the handoff with what was verified, after the commit
///   or around the marker's rename;
/// - `marker_by_path`: the marker is written by the handoff's path, not through the handle on
///   the folder that was ingested.
pub const PLANTS: &[&str] = &["skip_handoff_check", "marker_by_path"];

/// The server bugs the `autocapture-crashpoints` binary can plant (the hostile gate's security part runs each):
/// - `token_any_peer`: the popup server's token route answers any peer, not only a process of
///   its own user.
pub const SERVER_PLANTS: &[&str] = &["token_any_peer"];

/// The audit bugs the `autocapture-crashpoints` binary can plant (the hostile gate's security part runs each):
/// - `audit_mac_unchecked`: verifying skips each line's mac, so a line made without the key
///   passes;
/// - `audit_repair_any_tail`: the repair quarantines any unterminated tail, not only the start
///   of an audit line, so damage can be buried.
pub const AUDIT_PLANTS: &[&str] = &["audit_mac_unchecked", "audit_repair_any_tail"];

static ARMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Arms this process's crash points and plants; only `autocapture-crashpoints` calls it, first
/// thing in its `main`.
pub fn arm() {
    ARMED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// True in a process whose `main` armed its crash points ([`arm`]).
pub fn enabled() -> bool {
    ARMED.load(std::sync::atomic::Ordering::Relaxed)
}

/// True when an armed process was told to plant bug `name` (never in `autocapture`).
pub fn planted(name: &'static str) -> bool {
    enabled() && std::env::var(ENV_PLANT).is_ok_and(|v| v == name)
}

/// Marks crash point `name`. Unless the process was armed ([`arm`]) this does nothing.
#[inline(always)]
pub fn point(name: &'static str) {
    if enabled() {
        armed::arrive(name);
    }
}

mod armed {
    use std::io::Write;
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::{ENV_AT, ENV_MODE, POINTS, REACHED};

    struct Arm {
        name: String,
        arrival: u64,
        mode: Mode,
    }

    #[derive(PartialEq)]
    enum Mode {
        Abort,
        Pause,
        Stop,
    }

    static ARM: OnceLock<Option<Arm>> = OnceLock::new();
    static ARRIVALS: AtomicU64 = AtomicU64::new(0);

    fn from_env() -> Option<Arm> {
        let at = std::env::var(ENV_AT).ok()?;
        let (name, arrival) = match at.split_once('@') {
            Some((name, n)) => (name.to_owned(), n.parse().ok()?),
            None => (at, 1),
        };
        if !POINTS.iter().any(|p| p.name == name) {
            eprintln!("{ENV_AT}: {name:?} is no crash point");
            std::process::exit(2);
        }
        let mode = match std::env::var(ENV_MODE).as_deref() {
            Ok("pause") => Mode::Pause,
            Ok("stop") => Mode::Stop,
            _ => Mode::Abort,
        };
        Some(Arm {
            name,
            arrival,
            mode,
        })
    }

    pub fn arrive(name: &'static str) {
        let Some(arm) = ARM.get_or_init(from_env) else {
            return;
        };
        if arm.name != name || ARRIVALS.fetch_add(1, Ordering::SeqCst) + 1 != arm.arrival {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{REACHED}{name}");
        let _ = err.flush();
        match arm.mode {
            // Holds every lock and file this thread has until the parent's SIGKILL.
            Mode::Pause => loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            },
            Mode::Stop => {
                drop(err);
                if nix::sys::signal::raise(nix::sys::signal::Signal::SIGSTOP).is_err() {
                    std::process::abort();
                }
            }
            Mode::Abort => std::process::abort(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unarmed_process_ignores_its_environment() {
        // Test binaries never call `arm`: whatever the environment says, nothing fires.
        assert!(!enabled());
        assert!(!planted("audit_mac_unchecked"));
        point("ingest.after_lock");
    }

    #[test]
    fn point_names_are_unique_and_dotted() {
        let mut names: Vec<&str> = POINTS.iter().map(|p| p.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), POINTS.len());
        assert!(names.iter().all(|n| n.split_once('.').is_some()));
    }
}
