//! The `ingest` gate: Stage 1 on a private copy of the corpus is complete (every row and media
//! file, a valid marker per handoff), idempotent (a re-ingest copies nothing and changes
//! nothing), order-independent (reverse order gives the same evidence), restartable (a failed
//! ingest leaves no marker and the DataRoot unchanged, and the repaired rerun converges), and bad
//! handoffs fail with their documented codes.

use std::path::Path;
use std::time::Instant;

use autocapture_core::base::clock::SystemClock;
use autocapture_core::stage1::ingest::{ImportMode, IngestOptions, ingest_handoff};
use autocapture_core::stage1::marker::{self, MarkerState};
use autocapture_core::store::DataRoot;
use serde_json::{Value, json};

use crate::corpus::copies::{copy_tree, private_spool, truth};
use crate::corpus::digest::digest;
use crate::harness::gate::{Gate, GateContext, GateOutcome};

pub struct IngestGate;

fn options(ctx: &GateContext) -> IngestOptions {
    IngestOptions {
        mode: ImportMode::Hardlink,
        strict: true,
        workers: ctx.jobs,
        cpu_cap: None,
        ..IngestOptions::default()
    }
}

/// Plants one fault in a copy of `handoff` and expects `code`, no marker, no DataRoot change.
fn check_bad(
    outcome: &mut GateOutcome,
    ctx: &GateContext,
    handoff: &Path,
    name: &str,
    code: &str,
    damage: impl FnOnce(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let copy = ctx.work.join("bad").join(name);
    copy_tree(handoff, &copy)?;
    let _ = std::fs::remove_file(copy.join(marker::MARKER_FILE));
    damage(&copy)?;
    let data = DataRoot::new(ctx.work.join("bad_data").join(name));
    let before = digest(&data.root)?;
    let result = ingest_handoff(&copy, &data, &options(ctx), &SystemClock);
    let got = result.as_ref().err().map(|e| e.code()).unwrap_or("ok");
    outcome.check_eq(
        &format!("bad handoff: {name}"),
        Some(&copy.display().to_string()),
        json!(code),
        json!(got),
    );
    outcome.check(
        &format!("bad handoff: {name}: no marker, DataRoot unchanged"),
        matches!(marker::read(&copy), MarkerState::Missing) && digest(&data.root)? == before,
        "a failed ingest left a marker or changed the DataRoot",
    );
    Ok(())
}

fn first_frame_blob(handoff: &Path) -> anyhow::Result<std::path::PathBuf> {
    let db = autocapture_core::handoff::HandoffDb::open(handoff)?;
    let mut found = None;
    db.for_each_row(|_, row| -> anyhow::Result<()> {
        if found.is_none()
            && let Some(payload) = row.payload_object()
            && payload.get("record_type").and_then(Value::as_str) == Some("evidence.capture.frame")
            && let Some(blob) = payload.get("blob_path").and_then(Value::as_str)
            && let Ok(relpath) = autocapture_core::handoff::normalize_media_ref(blob)
        {
            found = Some(handoff.join("media").join(relpath));
        }
        Ok(())
    })?;
    found.ok_or_else(|| anyhow::anyhow!("no frame in {}", handoff.display()))
}

impl Gate for IngestGate {
    fn name(&self) -> &'static str {
        "ingest"
    }

    /// A few seconds: ahead of the sub-second gates.
    fn weight(&self) -> u32 {
        4
    }

    fn run(&self, ctx: &GateContext) -> anyhow::Result<GateOutcome> {
        let mut outcome = GateOutcome::default();
        let truth = truth(&ctx.corpus)?;
        let (_, handoffs) = private_spool(&ctx.corpus, &ctx.work)?;
        let data = DataRoot::new(ctx.work.join("data"));
        let started = Instant::now();
        let (mut rows, mut media) = (0u64, 0u64);
        for (handoff, expected) in handoffs
            .iter()
            .zip(truth["handoffs"].as_array().into_iter().flatten())
        {
            let report = ingest_handoff(handoff, &data, &options(ctx), &SystemClock)?;
            let name = report.layout;
            outcome.check_eq(
                &format!("first ingest copies every row ({name})"),
                Some(&handoff.display().to_string()),
                expected["rows"].clone(),
                json!(report.counts.metadata_rows_copied),
            );
            outcome.check_eq(
                &format!("first ingest imports every media file ({name})"),
                Some(&handoff.display().to_string()),
                expected["media_files"].clone(),
                json!(report.counts.media_files_linked + report.counts.media_files_copied),
            );
            outcome.check(
                &format!("marker written ({name})"),
                matches!(marker::read(handoff), MarkerState::Valid(_)),
                "no valid v1 marker after a successful ingest",
            );
            rows += report.rows_seen;
            media += report.media_files_seen;
        }
        let elapsed = started.elapsed().as_secs_f64().max(1e-9);
        outcome.measure("rows", rows);
        outcome.measure("media_files", media);
        outcome.measure("ingest_ms", (elapsed * 1000.0) as u64);
        outcome.measure("rows_per_s", (rows as f64 / elapsed).round());

        let before = digest(&data.root)?;
        let mut copied = 0;
        for handoff in &handoffs {
            let report = ingest_handoff(handoff, &data, &options(ctx), &SystemClock)?;
            copied += report.counts.metadata_rows_copied
                + report.counts.media_files_linked
                + report.counts.media_files_copied;
        }
        outcome.check_eq("re-ingest copies nothing", None, json!(0), json!(copied));
        outcome.check(
            "re-ingest leaves the DataRoot unchanged",
            digest(&data.root)? == before,
            "the logical digest changed",
        );

        let reverse = DataRoot::new(ctx.work.join("data_reverse"));
        for handoff in handoffs.iter().rev() {
            ingest_handoff(
                handoff,
                &reverse,
                &IngestOptions {
                    mode: ImportMode::Copy,
                    ..options(ctx)
                },
                &SystemClock,
            )?;
        }
        let reversed = digest(&reverse.root)?;
        outcome.check(
            "reverse order, copy mode: same evidence and media",
            reversed.metadata == before.metadata && reversed.media == before.media,
            "the evidence or media digests differ",
        );

        // Restartable: a failing ingest changes nothing; the repaired rerun converges.
        let first = handoffs
            .first()
            .ok_or_else(|| anyhow::anyhow!("the corpus has no handoff"))?;
        let broken = ctx.work.join("restart").join("handoff");
        copy_tree(first, &broken)?;
        let _ = std::fs::remove_file(broken.join(marker::MARKER_FILE));
        let blob = first_frame_blob(&broken)?;
        let good = std::fs::read(&blob)?;
        let mut bad = good.clone();
        if let Some(last) = bad.last_mut() {
            *last ^= 0xff;
        }
        std::fs::write(&blob, &bad)?;
        let restart = DataRoot::new(ctx.work.join("restart").join("data"));
        let failed = ingest_handoff(&broken, &restart, &options(ctx), &SystemClock);
        outcome.check_eq(
            "restart: damaged blob fails",
            None,
            json!("media_hash_mismatch"),
            json!(failed.as_ref().err().map(|e| e.code())),
        );
        outcome.check(
            "restart: no marker after the failure",
            matches!(marker::read(&broken), MarkerState::Missing),
            "marker present after a failed ingest",
        );
        std::fs::write(&blob, &good)?;
        ingest_handoff(&broken, &restart, &options(ctx), &SystemClock)?;
        let single = DataRoot::new(ctx.work.join("restart").join("reference"));
        ingest_handoff(&broken, &single, &options(ctx), &SystemClock)?;
        outcome.check(
            "restart: the rerun converges to the crash-free DataRoot",
            digest(&restart.root)?.metadata == digest(&single.root)?.metadata,
            "digests differ",
        );

        check_bad(
            &mut outcome,
            ctx,
            first,
            "metadata.db missing",
            "handoff_metadata_missing",
            |h| Ok(std::fs::remove_file(h.join("metadata.db"))?),
        )?;
        check_bad(
            &mut outcome,
            ctx,
            first,
            "metadata.db garbage",
            "handoff_metadata_corrupt",
            |h| Ok(std::fs::write(h.join("metadata.db"), b"garbage")?),
        )?;
        check_bad(
            &mut outcome,
            ctx,
            first,
            "symlink in media",
            "media_not_regular",
            |h| {
                Ok(std::os::unix::fs::symlink(
                    "/etc/hostname",
                    h.join("media").join("link.blob"),
                )?)
            },
        )?;
        check_bad(
            &mut outcome,
            ctx,
            first,
            "blob missing",
            "media_ref_missing",
            |h| Ok(std::fs::remove_file(first_frame_blob(h)?)?),
        )?;
        Ok(outcome)
    }
}
