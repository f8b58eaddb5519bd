//! The runner's two parts: gates side by side with the preparation of the gates that run alone,
//! then those gates one at a time with nothing beside them; a preparation that fails makes its
//! gate `error` without running it; the shared indexed DataRoot is built once for the whole run.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use autocapture_core::base::clock::SteppingClock;
use autocapture_gates::harness::gate::{Gate, GateContext, GateOutcome, Verdict};
use autocapture_gates::harness::runner::{RunOptions, run_gates};

#[path = "support/planted.rs"]
mod planted;
use time::macros::datetime;

/// Gates running at this moment, and the most an alone gate ever saw beside it.
static RUNNING: AtomicUsize = AtomicUsize::new(0);
static SEEN_BESIDE_ALONE: AtomicUsize = AtomicUsize::new(0);
/// The shared DataRoot each gate was given, in the order they asked.
static SHARED_ROOTS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

struct Beside(&'static str);

impl Gate for Beside {
    fn name(&self) -> &'static str {
        self.0
    }
    fn proves(&self) -> &'static str {
        "runs side by side and reads the shared DataRoot"
    }
    fn run(&self, ctx: &GateContext) -> anyhow::Result<GateOutcome> {
        RUNNING.fetch_add(1, Ordering::SeqCst);
        let indexed = ctx.shared.indexed();
        std::thread::sleep(std::time::Duration::from_millis(30));
        RUNNING.fetch_sub(1, Ordering::SeqCst);
        let indexed = indexed?;
        SHARED_ROOTS
            .lock()
            .expect("roots")
            .push(indexed.data.root.clone());
        let mut outcome = GateOutcome::default();
        outcome.check(
            "the shared DataRoot is indexed",
            indexed.report.frames_processed > 0,
            "",
        );
        Ok(outcome)
    }
}

struct Alone {
    name: &'static str,
    fail_prepare: bool,
}

impl Gate for Alone {
    fn name(&self) -> &'static str {
        self.name
    }
    fn proves(&self) -> &'static str {
        "runs alone after preparing beside the others"
    }
    fn runs_alone(&self) -> bool {
        true
    }
    fn prepare(&self, ctx: &GateContext) -> anyhow::Result<()> {
        anyhow::ensure!(!self.fail_prepare, "planted: the inputs cannot be built");
        std::fs::write(ctx.work.join("prepared"), b"")?;
        Ok(())
    }
    fn run(&self, ctx: &GateContext) -> anyhow::Result<GateOutcome> {
        SEEN_BESIDE_ALONE.fetch_max(RUNNING.load(Ordering::SeqCst), Ordering::SeqCst);
        let mut outcome = GateOutcome::default();
        outcome.check(
            "prepared in this run's work folder before running",
            ctx.work.join("prepared").is_file(),
            format!("no {}", ctx.work.join("prepared").display()),
        );
        Ok(outcome)
    }
}

#[test]
fn alone_gates_prepare_beside_the_others_and_run_alone_and_the_shared_data_root_is_built_once_per_repeat()
 {
    let registry: Vec<Box<dyn Gate>> = vec![
        Box::new(Alone {
            name: "alone",
            fail_prepare: false,
        }),
        Box::new(Beside("beside-1")),
        Box::new(Alone {
            name: "alone-unprepared",
            fail_prepare: true,
        }),
        Box::new(Beside("beside-2")),
        Box::new(Beside("beside-3")),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    let options = RunOptions {
        jobs: 3,
        seed: 5,
        frames: 60,
        keep_work: true,
        ..planted::options(dir.path(), &[], 2)
    };
    let clock = SteppingClock::new(
        datetime!(2026-02-21 09:00:00 UTC),
        time::Duration::seconds(1),
    );
    let results = run_gates(&registry, &options, &clock).expect("run");
    let verdicts: Vec<(&str, Verdict)> = results
        .gates
        .iter()
        .map(|g| (g.name.as_str(), g.verdict))
        .collect();
    assert_eq!(
        verdicts,
        vec![
            ("alone", Verdict::Pass),
            ("beside-1", Verdict::Pass),
            ("alone-unprepared", Verdict::Error),
            ("beside-2", Verdict::Pass),
            ("beside-3", Verdict::Pass),
        ]
    );
    let unprepared = &results.gates[2];
    assert!(
        unprepared.checks.is_empty(),
        "a gate whose preparation failed does not run"
    );
    assert!(
        unprepared.evidence[0]
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains("prepare: planted: the inputs cannot be built"),
        "{:?}",
        unprepared.evidence
    );
    assert_eq!(
        SEEN_BESIDE_ALONE.load(Ordering::SeqCst),
        0,
        "nothing ran beside a gate that runs alone"
    );
    for repeat in ["0", "1"] {
        assert!(
            dir.path()
                .join("work/alone")
                .join(repeat)
                .join("prepared")
                .is_file(),
            "each repeat is prepared in its own folder"
        );
    }
    let roots = SHARED_ROOTS.lock().expect("roots").clone();
    assert_eq!(roots.len(), 6, "three gates, two repeats each");
    let distinct: std::collections::BTreeSet<&PathBuf> = roots.iter().collect();
    assert_eq!(
        distinct.len(),
        2,
        "one shared DataRoot per repeat, built again for the second: {roots:?}"
    );
    for root in distinct {
        assert_eq!(roots.iter().filter(|r| *r == root).count(), 3);
        assert!(root.starts_with(dir.path().join("work").join("shared")));
    }
}
