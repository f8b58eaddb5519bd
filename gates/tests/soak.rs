//! Short soaks: one simulated day of generated handoffs through the real drain, Stage 2 and
//! query at 2,880× (about 30 s of wall time), which must hold the estimator's projection; and the
//! same day with the user scripted active all the time, which must be caught as a burn-down
//! worse than projected. Longer soaks run through `autocapture-gates soak --days N`.

use autocapture_gates::sla::soak::{SoakOptions, soak};

fn options(dir: &std::path::Path, speedup: f64, plant_always_active: bool) -> SoakOptions {
    SoakOptions {
        days: 1,
        speedup,
        wall_minutes: None,
        frames_per_day: 160,
        out: dir.join("soak"),
        seed: 7,
        plant_always_active,
    }
}

#[test]
fn one_day_soak_holds_the_projection() {
    let dir = tempfile::tempdir().expect("temp dir");
    let report = soak(&options(dir.path(), 2880.0, false)).expect("soak runs");
    assert!(report.passed(), "{}", report.describe());
    assert_eq!(report.handoffs_landed, report.handoffs_generated);
    assert_eq!(report.handoffs_ingested, report.handoffs_landed);
    assert_eq!(report.frames_ingested, report.frames_landed);
    assert!(report.queries > 0, "{}", report.describe());
    // The day ends idle: everything ingested and indexable has been processed.
    assert!(report.frames_searchable > 0);
    assert_eq!(
        report.observations.last().map(|o| o.pending_frames),
        Some(0)
    );
    assert!(dir.path().join("soak/soak-report.json").is_file());
    assert!(dir.path().join("soak/soak-projection.svg").is_file());
}

// Guards the burn-down comparison: a Stage 2 that never gets idle time must fail the soak.
#[test]
fn planted_starved_stage2_is_worse_than_projected() {
    let dir = tempfile::tempdir().expect("temp dir");
    let report = soak(&options(dir.path(), 5760.0, true)).expect("soak runs");
    assert!(!report.passed(), "{}", report.describe());
    assert!(report.worst_excess_hours > 0.0, "{}", report.describe());
    assert!(report.lost_handoffs.is_empty(), "{}", report.describe());
    assert_eq!(report.frames_searchable, 0);
}
