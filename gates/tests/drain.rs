//! Draining a generated spool under every activity state: a missing, stale, garbled or active
//! signal pauses the `auto` budget (fail-closed), an idle one drains everything, marked handoffs
//! are skipped, failures are reported per handoff, and the single-writer lock is respected.

use std::fs;
use std::path::{Path, PathBuf};

use autocapture_core::base::clock::SteppingClock;
use autocapture_core::stage1::drain::{
    Budget, DrainOptions, DrainReport, DrainState, HandoffStatus, drain,
};
use autocapture_core::stage1::ingest::IngestOptions;
use autocapture_core::stage1::marker::{self, MarkerState};
use autocapture_core::store::DataRoot;
use autocapture_core::store::lock_data_root;
use time::OffsetDateTime;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-02-21 08:00:00 UTC);

struct Setup {
    _dir: tempfile::TempDir,
    spool: PathBuf,
    data: DataRoot,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("temp dir");
    let (spool, _) = autocapture_gates::corpus::build::spool(dir.path(), 9, 60, 3).expect("spool");
    let data = DataRoot::new(dir.path().join("data"));
    Setup {
        _dir: dir,
        spool,
        data,
    }
}

fn write_signal(data: &DataRoot, body: &str) {
    let dir = data.root.join("activity");
    fs::create_dir_all(&dir).expect("mkdir");
    fs::write(dir.join("activity_signal.json"), body).expect("write signal");
}

fn signal(ts: &str, user_active: bool) -> String {
    format!(
        r#"{{"ts_utc": "{ts}", "idle_seconds": 240.5, "user_active": {user_active}, "source": "test", "seq": 1}}"#
    )
}

fn options(budget: Budget) -> DrainOptions {
    DrainOptions {
        budget,
        activity_signal: None,
        fresh_seconds: 5,
        include_marked: false,
        fail_fast: false,
        ingest: IngestOptions::default(),
        cores: 2,
    }
}

/// Drains with a clock that starts at `NOW` and advances `step_ms` per reading.
fn run(setup: &Setup, options: &DrainOptions, step_ms: i64) -> DrainReport {
    let clock = SteppingClock::new(NOW, time::Duration::milliseconds(step_ms));
    drain(&setup.spool, &setup.data, options, &clock, &mut |_| {}).expect("drain runs")
}

fn statuses(report: &DrainReport) -> Vec<HandoffStatus> {
    report.handoffs.iter().map(|h| h.status).collect()
}

fn markers(spool: &Path) -> usize {
    autocapture_core::stage1::drain::list_handoffs(spool)
        .expect("list")
        .iter()
        .filter(|h| matches!(marker::read(h), MarkerState::Valid(_)))
        .count()
}

/// With `auto`, a signal that cannot be trusted pauses the drain before anything is written.
#[track_caller]
fn check_paused(signal_body: Option<&str>, reason: &str) {
    let setup = setup();
    if let Some(body) = signal_body {
        write_signal(&setup.data, body);
    }
    let report = run(&setup, &options(Budget::Auto), 1);
    assert_eq!(report.state, DrainState::PausedActive);
    assert_eq!(report.activity.reason, reason, "{}", report.activity.detail);
    assert_eq!(statuses(&report), vec![HandoffStatus::NotRun; 3]);
    assert_eq!(markers(&setup.spool), 0);
    assert!(
        !setup.data.metadata_db().exists(),
        "nothing written while paused"
    );
}

#[test]
fn missing_signal_pauses() {
    check_paused(None, "signal_missing");
}

#[test]
fn stale_signal_pauses() {
    check_paused(Some(&signal("2026-02-21T07:59:50Z", false)), "signal_stale");
}

#[test]
fn garbled_signal_pauses() {
    check_paused(Some("{\"ts_utc\": 12, \"idle"), "signal_invalid");
}

#[test]
fn active_user_pauses() {
    check_paused(Some(&signal("2026-02-21T07:59:59Z", true)), "user_active");
}

#[test]
fn idle_user_drains_everything_then_skips_marked() {
    let setup = setup();
    write_signal(&setup.data, &signal("2026-02-21T07:59:59Z", false));
    let report = run(&setup, &options(Budget::Auto), 1);
    assert_eq!(report.state, DrainState::Completed);
    assert_eq!(statuses(&report), vec![HandoffStatus::Ingested; 3]);
    assert_eq!(report.workers, 2);
    assert!(report.totals.rows_copied > 0);
    assert_eq!(report.totals.media_files_linked, 60);
    assert_eq!(markers(&setup.spool), 3);

    let again = run(&setup, &options(Budget::Auto), 1);
    assert_eq!(statuses(&again), vec![HandoffStatus::SkippedMarked; 3]);

    let include = DrainOptions {
        include_marked: true,
        ..options(Budget::Auto)
    };
    let reingest = run(&setup, &include, 1);
    assert_eq!(statuses(&reingest), vec![HandoffStatus::Ingested; 3]);
    assert_eq!(reingest.totals.rows_copied, 0);
}

#[test]
fn becoming_stale_mid_drain_pauses_before_the_next_handoff() {
    let setup = setup();
    write_signal(&setup.data, &signal("2026-02-21T08:00:00Z", false));
    // Each clock reading advances 2 s; an ingest reads the clock several times, so the signal
    // (fresh for 5 s) goes stale after the first handoff.
    let report = run(&setup, &options(Budget::Auto), 2_000);
    assert_eq!(report.state, DrainState::PausedActive);
    assert_eq!(
        statuses(&report),
        vec![
            HandoffStatus::Ingested,
            HandoffStatus::NotRun,
            HandoffStatus::NotRun
        ]
    );
    assert_eq!(report.activity.reason, "signal_stale");
    assert_eq!(markers(&setup.spool), 1);
}

#[test]
fn active_safe_works_while_the_user_is_active_with_one_throttled_worker() {
    let setup = setup();
    write_signal(&setup.data, &signal("2026-02-21T07:59:59Z", true));
    let report = run(&setup, &options(Budget::ActiveSafe), 1);
    assert_eq!(report.state, DrainState::Completed);
    assert_eq!(report.workers, 1);
    assert_eq!(report.activity.reason, "user_active");
    assert_eq!(markers(&setup.spool), 3);
}

#[test]
fn idle_max_ignores_activity() {
    let setup = setup();
    let report = run(&setup, &options(Budget::IdleMax), 1);
    assert_eq!(report.state, DrainState::Completed);
    assert_eq!(report.activity.reason, "signal_missing");
    assert_eq!(markers(&setup.spool), 3);
}

fn break_second_handoff(setup: &Setup) {
    let handoffs = autocapture_core::stage1::drain::list_handoffs(&setup.spool).expect("list");
    fs::write(handoffs[1].join("metadata.db"), b"garbage, not sqlite").expect("corrupt");
}

#[test]
fn a_failing_handoff_is_reported_and_the_rest_continue() {
    let setup = setup();
    break_second_handoff(&setup);
    let report = run(&setup, &options(Budget::IdleMax), 1);
    assert_eq!(report.state, DrainState::Failed);
    assert_eq!(
        statuses(&report),
        vec![
            HandoffStatus::Ingested,
            HandoffStatus::Failed,
            HandoffStatus::Ingested
        ]
    );
    assert_eq!(
        report.handoffs[1].error.as_ref().map(|e| e.code),
        Some("handoff_metadata_corrupt")
    );
    assert_eq!(markers(&setup.spool), 2);
}

#[test]
fn fail_fast_stops_at_the_first_failure() {
    let setup = setup();
    break_second_handoff(&setup);
    let report = run(
        &setup,
        &DrainOptions {
            fail_fast: true,
            ..options(Budget::IdleMax)
        },
        1,
    );
    assert_eq!(
        statuses(&report),
        vec![
            HandoffStatus::Ingested,
            HandoffStatus::Failed,
            HandoffStatus::NotRun
        ]
    );
}

#[test]
fn a_held_lock_fails_the_drain_before_any_work() {
    let setup = setup();
    setup.data.create_dirs().expect("dirs");
    let _held = lock_data_root(&setup.data).expect("lock");
    let clock = SteppingClock::new(NOW, time::Duration::milliseconds(1));
    let err = drain(
        &setup.spool,
        &setup.data,
        &options(Budget::IdleMax),
        &clock,
        &mut |_| {},
    )
    .expect_err("lock held");
    assert_eq!(err.code(), "instance_lock_held");
    assert_eq!(markers(&setup.spool), 0);
}

#[test]
fn symlinked_and_marker_less_dirs_are_not_handoffs() {
    let setup = setup();
    let outside = setup.spool.parent().expect("parent").join("outside");
    fs::create_dir_all(&outside).expect("mkdir");
    fs::write(outside.join("metadata.db"), b"").expect("write");
    std::os::unix::fs::symlink(&outside, setup.spool.join("zz_symlinked")).expect("symlink");
    fs::create_dir_all(setup.spool.join("empty_dir")).expect("mkdir");
    let handoffs = autocapture_core::stage1::drain::list_handoffs(&setup.spool).expect("list");
    assert_eq!(handoffs.len(), 3);
}

/// Handoffs marked by an ingest into another DataRoot are reported as such, naming it, and are
/// ingested here only with `--include-marked`; a symlink in the spool is reported, never
/// followed, and its target never ingested.
#[test]
fn handoffs_marked_for_another_data_dir_and_spool_symlinks_are_reported() {
    let setup = setup();
    let elsewhere = DataRoot::new(setup._dir.path().join("elsewhere"));
    let idle = signal("2026-02-21T07:59:59Z", false);
    write_signal(&elsewhere, &idle);
    let clock = SteppingClock::new(NOW, time::Duration::milliseconds(1));
    let first = drain(
        &setup.spool,
        &elsewhere,
        &options(Budget::Auto),
        &clock,
        &mut |_| {},
    )
    .expect("drain elsewhere");
    assert_eq!(statuses(&first), vec![HandoffStatus::Ingested; 3]);
    // Outside the spool, a real handoff folder the spool points at by a symlink.
    let outside = setup._dir.path().join("outside");
    let (outside_spool, _) =
        autocapture_gates::corpus::build::spool(&outside, 9, 20, 1).expect("spool");
    let target =
        autocapture_core::stage1::drain::list_handoffs(&outside_spool).expect("list")[0].clone();
    std::os::unix::fs::symlink(&target, setup.spool.join("zz-link")).expect("symlink");

    write_signal(&setup.data, &idle);
    let report = run(&setup, &options(Budget::Auto), 1);
    assert_eq!(
        statuses(&report),
        vec![
            HandoffStatus::MarkedElsewhere,
            HandoffStatus::MarkedElsewhere,
            HandoffStatus::MarkedElsewhere,
            HandoffStatus::SkippedSymlink,
        ]
    );
    let elsewhere_path = elsewhere.root.canonicalize().expect("canonical");
    for outcome in &report.handoffs[..3] {
        assert_eq!(
            outcome.marked_for.as_deref(),
            Some(elsewhere_path.to_str().expect("utf8")),
            "{}",
            outcome.name
        );
    }
    assert_eq!(report.totals.marked_elsewhere, 3);
    assert_eq!(report.totals.skipped_symlinks, 1);
    assert_eq!(report.totals.handoffs, 3, "a symlink is not a handoff");
    assert_eq!(report.state, DrainState::Completed);
    assert!(
        matches!(marker::read(&target), MarkerState::Missing),
        "the symlink's target was ingested"
    );

    let include = DrainOptions {
        include_marked: true,
        ..options(Budget::Auto)
    };
    let here = run(&setup, &include, 1);
    assert_eq!(
        statuses(&here)[..3],
        [HandoffStatus::Ingested; 3],
        "--include-marked ingests them here"
    );
    let again = run(&setup, &options(Budget::Auto), 1);
    assert_eq!(statuses(&again)[..3], [HandoffStatus::SkippedMarked; 3]);
}
