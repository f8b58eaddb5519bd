//! The `audit` gate: every privileged action (here, each Stage-1 ingest, successful or not)
//! leaves a line in the DataRoot's hash-chained audit log, the chain verifies, and each kind of
//! tampering with a copy of the log (edit, deletion, reordering, truncation, a cut tail checked
//! against a recorded head) is detected at the right line.

use std::path::Path;

use autocapture_core::audit::{AuditError, AuditLog, verify};
use autocapture_core::base::clock::SystemClock;
use autocapture_core::stage1::ingest::{IngestOptions, ingest_handoff};
use autocapture_core::store::DataRoot;
use serde_json::{Value, json};

use crate::corpus::copies::{copy_tree, private_spool};
use crate::harness::gate::{Gate, GateContext, GateOutcome};

pub struct AuditGate;

/// Applies `tamper` to a copy of `log` and expects a break of `code` at `line`.
fn check_tamper(
    outcome: &mut GateOutcome,
    work: &Path,
    log: &Path,
    name: &str,
    code: &str,
    line: u64,
    tamper: impl FnOnce(&mut Vec<String>),
) -> anyhow::Result<()> {
    let copy = work.join(format!("tampered-{}.ndjson", name.replace(' ', "-")));
    let mut lines: Vec<String> = std::fs::read_to_string(log)?
        .lines()
        .map(str::to_owned)
        .collect();
    tamper(&mut lines);
    std::fs::write(&copy, lines.join("\n") + "\n")?;
    let got = match AuditLog::at(&copy).verify() {
        Err(AuditError::Broken { line, kind, .. }) => json!({"code": kind.code(), "line": line}),
        Err(other) => json!({"code": other.code()}),
        Ok(_) => json!({"code": "verified"}),
    };
    outcome.check_eq(
        &format!("tamper detected: {name}"),
        Some(&copy.display().to_string()),
        json!({"code": code, "line": line}),
        got,
    );
    Ok(())
}

impl Gate for AuditGate {
    fn name(&self) -> &'static str {
        "audit"
    }

    fn proves(&self) -> &'static str {
        "privileged actions leave an append-only chain that verifies; tampering is detected"
    }

    fn run(&self, ctx: &GateContext) -> anyhow::Result<GateOutcome> {
        let mut outcome = GateOutcome::default();
        let (_, handoffs) = private_spool(&ctx.corpus, &ctx.work)?;
        let data = DataRoot::new(ctx.work.join("data"));
        let options = IngestOptions {
            workers: ctx.jobs,
            ..IngestOptions::default()
        };
        for handoff in &handoffs {
            ingest_handoff(handoff, &data, &options, &SystemClock)?;
        }
        // A failing action is audited too.
        let broken = ctx.work.join("broken");
        copy_tree(&handoffs[0], &broken)?;
        std::fs::write(broken.join("metadata.db"), b"not a database")?;
        let failed = ingest_handoff(&broken, &data, &options, &SystemClock);
        outcome.check(
            "the damaged handoff fails",
            failed.is_err(),
            "a garbage metadata.db was accepted",
        );
        let log = AuditLog::in_data_root(&data.root);
        let head = log.verify();
        let lines = head.as_ref().map(|h| h.lines).unwrap_or(0);
        outcome.measure("audit_lines", lines);
        outcome.check(
            "the chain verifies",
            head.is_ok(),
            head.as_ref()
                .err()
                .map(ToString::to_string)
                .unwrap_or_default(),
        );
        let expected_lines = handoffs.len() as u64 + 1;
        outcome.check_eq(
            "one line per privileged action",
            None,
            json!(expected_lines),
            json!(lines),
        );
        let text = std::fs::read_to_string(log.path())?;
        let parsed: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let outcomes: Vec<&str> = parsed
            .iter()
            .filter_map(|v| v["outcome"].as_str())
            .collect();
        outcome.check(
            "actions and outcomes recorded",
            parsed.iter().all(|v| v["action"] == "handoff.ingest")
                && outcomes.iter().filter(|o| **o == "ok").count() == handoffs.len()
                && outcomes
                    .last()
                    .is_some_and(|o| o.starts_with("failed:handoff_metadata_corrupt")),
            format!("outcomes {outcomes:?}"),
        );
        let path = log.path().to_path_buf();
        check_tamper(
            &mut outcome,
            &ctx.work,
            &path,
            "edited line",
            "audit_hash_mismatch",
            2,
            |l| l[1] = l[1].replacen("\"outcome\":\"ok\"", "\"outcome\":\"OK\"", 1),
        )?;
        check_tamper(
            &mut outcome,
            &ctx.work,
            &path,
            "deleted line",
            "audit_chain_mismatch",
            2,
            |l| {
                l.remove(1);
            },
        )?;
        check_tamper(
            &mut outcome,
            &ctx.work,
            &path,
            "reordered lines",
            "audit_chain_mismatch",
            1,
            |l| l.swap(0, 1),
        )?;
        check_tamper(
            &mut outcome,
            &ctx.work,
            &path,
            "half of the last line",
            "audit_line_not_json",
            lines,
            |l| {
                if let Some(last) = l.last_mut() {
                    last.truncate(last.len() / 2);
                }
            },
        )?;
        // A write torn before its newline.
        let torn = ctx.work.join("torn-no-newline.ndjson");
        std::fs::write(&torn, &text.as_bytes()[..text.len() - 10])?;
        let got = match verify(&torn, None) {
            Err(AuditError::Broken { kind, line, .. }) => {
                json!({"code": kind.code(), "line": line})
            }
            other => json!({"code": format!("{other:?}")}),
        };
        outcome.check_eq(
            "tamper detected: truncated file",
            None,
            json!({"code": "audit_line_truncated", "line": lines}),
            got,
        );
        let recorded = head.map_err(anyhow::Error::from)?;
        let cut = ctx.work.join("cut.ndjson");
        let kept: Vec<&str> = text
            .lines()
            .take(lines.saturating_sub(1) as usize)
            .collect();
        std::fs::write(&cut, kept.join("\n") + "\n")?;
        let got = verify(&cut, Some(&recorded))
            .err()
            .map(|e| e.code())
            .unwrap_or("verified");
        outcome.check_eq(
            "tamper detected: tail cut after the head was recorded",
            None,
            json!("audit_tail_missing"),
            json!(got),
        );
        Ok(outcome)
    }
}
