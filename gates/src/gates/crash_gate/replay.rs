//! The crash gate's power-loss part: a real ingest's file operations recorded through a
//! [`RecordingFs`], then every crash state a power loss could leave replayed and checked, with
//! the planted bugs of [`crate::power_loss`] that must be found.

use super::*;

/// One recorded ingest: its operations and what a marker promises.
pub struct Recorded {
    pub ops: Vec<Op>,
    pub expected: Expected,
    pub media_root: PathBuf,
}

/// Ingests `handoff` into a fresh `data` through a [`RecordingFs`].
pub fn record_ingest(handoff: &Path, data: &Path, mode: ImportMode) -> anyhow::Result<Recorded> {
    let recorder = RecordingFs::default();
    ingest_handoff_on(
        &recorder,
        handoff,
        &DataRoot::new(data),
        &IngestOptions {
            mode,
            ..IngestOptions::default()
        },
        &SystemClock,
    )?;
    let handoff = handoff.canonicalize()?;
    let media_root = DataRoot::new(data.canonicalize()?).media_dir();
    let marker = handoff.join(marker::MARKER_FILE);
    Ok(Recorded {
        ops: recorder.ops(),
        expected: Expected {
            marker_bytes: std::fs::read(&marker)?,
            marker,
            media: expected_media(&handoff, &media_root)?,
        },
        media_root,
    })
}

/// Simulated power loss: a copy-mode and a hardlink-mode ingest of a small generated handoff are
/// recorded and explored (no violating state), then explored again with each planted bug (each
/// must be found).
pub fn power_loss_check(ctx: &GateContext, outcome: &mut GateOutcome) -> anyhow::Result<()> {
    let dir = ctx.work.join("power_loss");
    let corpus = dir.join("corpus");
    generate(
        &Story::default_story()?,
        &GenerateOptions {
            out: corpus.clone(),
            seed: ctx.seed,
            frames: 16,
            handoffs: 1,
        },
    )?;
    let handoff = autocapture_core::stage1::drain::list_handoffs(&corpus)?
        .into_iter()
        .next()
        .context("the small corpus has no handoff")?;
    let _ = std::fs::remove_file(handoff.join(marker::MARKER_FILE));
    let (mut states, mut violations) = (0u64, 0u64);
    let mut recorded = Vec::new();
    for (name, mode) in [
        ("copy", ImportMode::Copy),
        ("hardlink", ImportMode::Hardlink),
    ] {
        let copy = dir.join(name).join("handoff");
        copy_tree(&handoff, &copy)?;
        let run = record_ingest(&copy, &dir.join(name).join("data"), mode)?;
        let found = explore(&run.ops, &run.expected);
        states += found.states;
        violations += found.violating_states;
        outcome.check(
            &format!("power loss, {name} mode: no crash state has a marker without its data"),
            found.violating_states == 0 && !run.expected.media.is_empty(),
            format!(
                "{} of {} states violate: {}",
                found.violating_states,
                found.states,
                found.examples.join("; ")
            ),
        );
        recorded.push(run);
    }
    outcome.measure("power_loss_states", states);
    outcome.measure("power_loss_violations", violations);
    let planted = [
        (PlantedBug::NoMediaDirSync, &recorded[0]),
        (PlantedBug::NoMediaFileSync, &recorded[0]),
        (PlantedBug::NoMarkerFileSync, &recorded[0]),
        (PlantedBug::NoSyncFs, &recorded[1]),
    ];
    let mut caught = 0u64;
    for (bug, run) in planted {
        let ops = plant(&run.ops, bug, &run.media_root, &run.expected.marker);
        let found = explore(&ops, &run.expected);
        caught += u64::from(found.violating_states > 0);
        outcome.check(
            &format!("power loss: planted {bug:?} is found"),
            ops.len() < run.ops.len() && found.violating_states > 0,
            format!(
                "no violating state among {} with the bug planted",
                found.states
            ),
        );
    }
    outcome.measure("planted_bugs_found", format!("{caught}/{}", planted.len()));
    Ok(())
}
