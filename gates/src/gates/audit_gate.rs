//! The `audit` gate: every privileged action (here, each Stage-1 ingest, successful or not)
//! leaves a line in the DataRoot's hash-chained audit log, the chain verifies, and each kind of
//! tampering with a copy of the log (edit, deletion, reordering, truncation, a cut tail checked
//! against a recorded head) is detected at the right line.

use std::path::Path;

use autocapture_core::audit::{AuditError, AuditHead, AuditKey, AuditLog, verify};
use autocapture_core::base::clock::SystemClock;
use autocapture_core::contract::sha256_hex;
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
        let key = log.existing_key()?;
        outcome.check(
            "the audit key exists outside the DataRoot",
            key.as_ref()
                .is_some_and(|k| !k.path().starts_with(&data.root)),
            format!("{key:?}"),
        );
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
        // Each ingest that may change the DataRoot records its beginning, then its outcome.
        let expected_lines = 2 * (handoffs.len() as u64 + 1);
        outcome.check_eq(
            "a begin and an outcome line per ingest",
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
            parsed.iter().enumerate().all(|(i, v)| {
                v["action"]
                    == if i % 2 == 0 {
                        "handoff.ingest.begin"
                    } else {
                        "handoff.ingest"
                    }
            }) && outcomes.iter().filter(|o| **o == "ok").count() == handoffs.len()
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
        let got = match verify(&torn, None, key.as_ref()) {
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
        let got = verify(&cut, Some(&recorded), key.as_ref())
            .err()
            .map(|e| e.code())
            .unwrap_or("verified");
        outcome.check_eq(
            "tamper detected: tail cut after the head was recorded",
            None,
            json!("audit_tail_missing"),
            json!(got),
        );
        authenticity(&mut outcome, ctx, &text, key.as_ref())?;
        torn_tail_repaired(&mut outcome, ctx, &data, &handoffs[0], &options)?;
        Ok(outcome)
    }
}

/// A line edited with its hash recomputed, and a history rewritten from line 1 and re-chained,
/// pass the chain check; only the key catches them.
fn authenticity(
    outcome: &mut GateOutcome,
    ctx: &GateContext,
    text: &str,
    key: Option<&AuditKey>,
) -> anyhow::Result<()> {
    let original: Vec<Value> = text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let forged = forge::line_2_edited(&original);
    let rechained = forge::rechained_from_line_1(&original);
    for (name, lines) in [
        ("a line forged without the key", &forged),
        ("a history re-chained from line 1", &rechained),
    ] {
        let copy = ctx.work.join(format!("{}.ndjson", name.replace(' ', "-")));
        std::fs::write(&copy, forge::render(lines))?;
        let chain_only = verify(&copy, None, None).err().map(|e| e.code());
        let keyed = match verify(&copy, None, key) {
            Err(AuditError::Broken { line, kind, .. }) => {
                json!({"code": kind.code(), "line": line})
            }
            Err(other) => json!({"code": other.code()}),
            Ok(_) => json!({"code": "verified"}),
        };
        let line = if name.starts_with("a line") { 2 } else { 1 };
        outcome.check_eq(
            &format!("tamper detected: {name}"),
            Some(&copy.display().to_string()),
            json!({"chain_only": null, "with_key": {"code": "audit_mac_mismatch", "line": line}}),
            json!({"chain_only": chain_only, "with_key": keyed}),
        );
    }
    Ok(())
}

/// A torn last line, as an append the disk interrupted leaves it, does not wedge Stage 1: the next
/// ingest quarantines the torn bytes, records the repair, and writes a marker whose audit head the
/// log holds.
fn torn_tail_repaired(
    outcome: &mut GateOutcome,
    ctx: &GateContext,
    data: &DataRoot,
    handoff: &Path,
    options: &IngestOptions,
) -> anyhow::Result<()> {
    let log = AuditLog::in_data_root(&data.root);
    let before = std::fs::read_to_string(log.path())?;
    let last = before.lines().last().unwrap_or_default();
    let torn = &last.as_bytes()[..last.len().min(57)];
    let mut file = std::fs::OpenOptions::new().append(true).open(log.path())?;
    std::io::Write::write_all(&mut file, torn)?;
    drop(file);
    let again = ctx.work.join("again");
    copy_tree(handoff, &again)?;
    let report = ingest_handoff(&again, data, options, &SystemClock);
    let after = std::fs::read_to_string(log.path()).unwrap_or_default();
    let repair = after
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["action"] == "audit.repair");
    let quarantined = repair
        .as_ref()
        .and_then(|r| r["details"]["quarantine"].as_str().map(std::fs::read))
        .and_then(Result::ok);
    let marker = autocapture_core::stage1::marker::read(&again);
    let witnessed = match &marker {
        autocapture_core::stage1::marker::MarkerState::Valid(m) => verify(
            log.path(),
            Some(&AuditHead::witness(
                m.audit_head.seq,
                m.audit_head.hash.clone(),
            )),
            log.existing_key()?.as_ref(),
        )
        .map(|h| h.lines)
        .map_err(|e| e.code()),
        other => Err(
            if matches!(
                other,
                autocapture_core::stage1::marker::MarkerState::Missing
            ) {
                "no marker"
            } else {
                "invalid marker"
            },
        ),
    };
    outcome.check_eq(
        "a torn tail is quarantined and recorded at the next ingest",
        Some(&log.path().display().to_string()),
        json!({"ingest": "ok", "repair_sha256": sha256_hex(torn), "quarantined": true,
               "marker_witness_held": true}),
        json!({
            "ingest": report.as_ref().map(|_| "ok").unwrap_or_else(|e| e.code()),
            "repair_sha256": repair.as_ref().map(|r| r["details"]["torn_sha256"].clone()),
            "quarantined": quarantined.as_deref() == Some(torn),
            "marker_witness_held": witnessed.is_ok(),
        }),
    );
    Ok(())
}

/// What a writer without the audit key can make of a log: edited lines whose hashes and links are
/// recomputed, their macs kept (shared with the `hostile` gate's audit cases).
pub mod forge {
    use autocapture_core::contract::{canonical_json, sha256_hex};
    use serde_json::{Value, json};

    /// Recomputes `line`'s hash from its content, as `audit verify` without the key checks it.
    pub fn rehash(line: &mut Value) {
        let mut unsealed = line.clone();
        if let Some(object) = unsealed.as_object_mut() {
            object.remove("hash");
            object.remove("mac");
        }
        let bytes = canonical_json(&unsealed).unwrap_or_default();
        line["hash"] = json!(sha256_hex(&bytes));
    }

    /// Re-links every line from `from` on to the one before it, rehashing each.
    fn relink(lines: &mut [Value], from: usize) {
        let mut prev = match from {
            0 => Value::Null,
            n => lines[n - 1]["hash"].clone(),
        };
        for line in lines.iter_mut().skip(from) {
            line["prev_hash"] = prev;
            rehash(line);
            prev = line["hash"].clone();
        }
    }

    /// Line 2's outcome changed to `forged`, and the chain after it made whole again.
    pub fn line_2_edited(original: &[Value]) -> Vec<Value> {
        let mut lines = original.to_vec();
        lines[1]["outcome"] = json!("forged");
        rehash(&mut lines[1]);
        relink(&mut lines, 2);
        lines
    }

    /// Line 1's details rewritten and the whole history re-chained.
    pub fn rechained_from_line_1(original: &[Value]) -> Vec<Value> {
        let mut lines = original.to_vec();
        lines[0]["details"] = json!({"rewritten": true});
        relink(&mut lines, 0);
        lines
    }

    /// The lines as a log file: canonical JSON, one per line.
    pub fn render(lines: &[Value]) -> String {
        lines
            .iter()
            .map(|l| {
                String::from_utf8(canonical_json(l).unwrap_or_default()).unwrap_or_default() + "\n"
            })
            .collect()
    }
}
