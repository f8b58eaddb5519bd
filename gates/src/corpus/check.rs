//! Validates a generated spool against the contract schemas: every row of every handoff's
//! `metadata.db` (whatever its table layout), every activity signal, and every blob's
//! `content_hash`. Used by the tests and by `run` on the embedded default corpus.

use std::path::Path;

use anyhow::Context;
use autocapture_core::contract::sha256_file;
use rusqlite::{Connection, OpenFlags};
use serde_json::Value;

use crate::contract::schemas::ContractSet;

/// The contract schema for a record type, when the contract has one.
pub fn schema_for_record_type(record_type: &str) -> Option<&'static str> {
    Some(match record_type {
        "evidence.capture.frame" => "frame",
        "evidence.uia.snapshot" => "uia-snapshot",
        "evidence.window.meta" => "window-meta",
        "derived.input.summary" => "input-summary",
        "evidence.input.batch" => "input-batch",
        _ => return None,
    })
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct CorpusReport {
    pub handoffs: u64,
    pub rows: u64,
    pub rows_validated: u64,
    pub blobs_verified: u64,
    pub signals_validated: u64,
    /// `handoff: record id: problem`, at most a few hundred.
    pub problems: Vec<String>,
}

const MAX_PROBLEMS: usize = 200;

impl CorpusReport {
    fn problem(&mut self, text: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(text);
        }
    }
}

/// Checks every handoff under `spool`; with `verify_blobs`, also re-hashes every frame blob.
pub fn check_spool(
    set: &ContractSet,
    spool: &Path,
    verify_blobs: bool,
) -> anyhow::Result<CorpusReport> {
    let mut report = CorpusReport::default();
    let mut handoffs: Vec<_> = std::fs::read_dir(spool)
        .with_context(|| format!("read spool {}", spool.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("metadata.db").is_file())
        .collect();
    handoffs.sort();
    for handoff in handoffs {
        report.handoffs += 1;
        check_handoff(set, &handoff, verify_blobs, &mut report)?;
    }
    Ok(report)
}

fn check_handoff(
    set: &ContractSet,
    handoff: &Path,
    verify_blobs: bool,
    report: &mut CorpusReport,
) -> anyhow::Result<()> {
    let name = handoff
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let conn = Connection::open_with_flags(
        handoff.join("metadata.db"),
        OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let sql = if tables.iter().any(|t| t == "metadata") {
        let columns: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info('metadata')")?
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        let id = if columns.iter().any(|c| c == "id") {
            "id"
        } else {
            "record_id"
        };
        let payload = if columns.iter().any(|c| c == "payload") {
            "payload"
        } else {
            "payload_json"
        };
        format!("SELECT {id}, record_type, {payload} FROM metadata ORDER BY {id}")
    } else {
        "SELECT id, record_type, json FROM records ORDER BY id".to_owned()
    };
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        report.rows += 1;
        let id: String = row.get(0)?;
        let record_type: String = row.get(1)?;
        let payload: String = row.get(2)?;
        let value: Value = match serde_json::from_str(&payload) {
            Ok(value) => value,
            Err(e) => {
                report.problem(format!("{name}: {id}: payload is not JSON: {e}"));
                continue;
            }
        };
        let Some(stem) = schema_for_record_type(&record_type) else {
            report.problem(format!(
                "{name}: {id}: no contract schema for record_type {record_type}"
            ));
            continue;
        };
        for violation in set.validate(stem, &value)? {
            report.problem(format!("{name}: {id}: {stem}: {violation}"));
        }
        report.rows_validated += 1;
        if verify_blobs && stem == "frame" {
            verify_blob(handoff, &name, &id, &value, report);
        }
    }
    let signal = handoff.join("activity").join("activity_signal.json");
    if signal.is_file() {
        let value: Value = serde_json::from_str(&std::fs::read_to_string(&signal)?)?;
        for violation in set.validate("activity-signal", &value)? {
            report.problem(format!("{name}: activity signal: {violation}"));
        }
        report.signals_validated += 1;
    }
    Ok(())
}

fn verify_blob(handoff: &Path, name: &str, id: &str, frame: &Value, report: &mut CorpusReport) {
    let blob_path = frame
        .get("blob_path")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .replace('\\', "/");
    let Some((_, relpath)) = blob_path.split_once("media/") else {
        report.problem(format!(
            "{name}: {id}: blob_path {blob_path:?} has no media/ component"
        ));
        return;
    };
    let expected = frame
        .get("content_hash")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match sha256_file(&handoff.join("media").join(relpath)) {
        Ok((actual, _)) if actual == expected => report.blobs_verified += 1,
        Ok((actual, _)) => report.problem(format!(
            "{name}: {id}: blob hashes to {actual}, frame says {expected}"
        )),
        Err(e) => report.problem(format!("{name}: {id}: read blob {relpath}: {e}")),
    }
}
