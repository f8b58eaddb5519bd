//! The completeness audit (`autocapture stage1 audit`): how many frames of a DataRoot can be
//! found by a query, which cannot and why, and the contiguous stretches of time that are fully
//! searchable. Read-only.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;
use serde_json::Value;

use crate::store::{DataRoot, RETENTION_RECORD_TYPE, STAGE1_COMPLETE_RECORD_TYPE, read_at_rest};

/// At most this many windows are listed (their total is always reported).
const MAX_WINDOWS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueryableWindow {
    pub start_ts_utc: String,
    pub end_ts_utc: String,
    pub frames: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CompletenessReport {
    pub frames_total: u64,
    pub frames_queryable: u64,
    /// Frames that are not queryable, by reason: `stage1_incomplete_*`, `uia_docs_invalid`,
    /// `stage2_pending`.
    pub blocked: BTreeMap<String, u64>,
    pub windows_total: u64,
    pub windows: Vec<QueryableWindow>,
}

/// Why a Stage-1-incomplete frame is incomplete (the first missing piece, contract §3).
fn incomplete_reason(frame: &Value) -> &'static str {
    let has = |path: &[&str]| {
        path.iter()
            .try_fold(frame, |v, k| v.get(k))
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    if !has(&["blob_path"]) || !has(&["content_hash"]) {
        "stage1_incomplete_blob"
    } else if !has(&["uia_ref", "record_id"]) || !has(&["uia_ref", "content_hash"]) {
        "stage1_incomplete_uia_ref"
    } else {
        "stage1_incomplete_input_ref"
    }
}

/// Audits `data_root`, read-only (immutable where SQLite could not read it otherwise:
/// [`read_at_rest`]).
pub fn audit(data_root: &DataRoot) -> rusqlite::Result<CompletenessReport> {
    read_at_rest(data_root, |uri| audit_with(data_root, uri))
}

fn audit_with(
    data_root: &DataRoot,
    uri: &dyn Fn(&Path) -> String,
) -> rusqlite::Result<CompletenessReport> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(uri(&data_root.metadata_db()), flags)?;
    conn.execute_batch("PRAGMA query_only = 1")?;
    let attach = |path: &Path, alias: &str| -> rusqlite::Result<bool> {
        if path.is_file() {
            conn.execute(&format!("ATTACH DATABASE ?1 AS {alias}"), [uri(path)])?;
            Ok(true)
        } else {
            Ok(false)
        }
    };
    let has_derived = attach(&data_root.derived_db(), "d")?;
    let has_stage2 = attach(&data_root.stage2_db(), "s")?;
    let lookup = |alias_present: bool, sql: &str| {
        if alias_present {
            sql.to_owned()
        } else {
            "0".to_owned()
        }
    };
    let sql = format!(
        "SELECT m.id, CASE WHEN typeof(m.ts_utc) = 'text' THEN m.ts_utc ELSE '' END, m.payload, {complete}, {retained}, {searchable}
         FROM metadata m WHERE m.record_type = 'evidence.capture.frame' ORDER BY 2, m.id",
        complete = lookup(has_derived, &format!("EXISTS (SELECT 1 FROM d.derived x WHERE x.source_record_id = m.id AND x.record_type = '{STAGE1_COMPLETE_RECORD_TYPE}')")),
        retained = lookup(has_derived, &format!("EXISTS (SELECT 1 FROM d.derived x WHERE x.source_record_id = m.id AND x.record_type = '{RETENTION_RECORD_TYPE}')")),
        searchable = lookup(has_stage2, "EXISTS (SELECT 1 FROM s.search_frames f WHERE f.frame_id = m.id)"),
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query([])?;
    let mut report = CompletenessReport {
        frames_total: 0,
        frames_queryable: 0,
        blocked: BTreeMap::new(),
        windows_total: 0,
        windows: Vec::new(),
    };
    let mut open: Option<QueryableWindow> = None;
    while let Some(row) = rows.next()? {
        report.frames_total += 1;
        let ts: String = row.get(1)?;
        let (complete, retained, searchable): (bool, bool, bool) =
            (row.get(3)?, row.get(4)?, row.get(5)?);
        if searchable {
            report.frames_queryable += 1;
            match &mut open {
                Some(window) => {
                    window.end_ts_utc = ts;
                    window.frames += 1;
                }
                None => {
                    open = Some(QueryableWindow {
                        start_ts_utc: ts.clone(),
                        end_ts_utc: ts,
                        frames: 1,
                    })
                }
            }
            continue;
        }
        let reason = if !complete {
            let payload: Value = crate::store::payload_json(row.get_ref(2)?);
            incomplete_reason(&payload)
        } else if !retained {
            "uia_docs_invalid"
        } else {
            "stage2_pending"
        };
        *report.blocked.entry(reason.to_owned()).or_insert(0) += 1;
        if let Some(window) = open.take() {
            report.windows_total += 1;
            if report.windows.len() < MAX_WINDOWS {
                report.windows.push(window);
            }
        }
    }
    if let Some(window) = open.take() {
        report.windows_total += 1;
        if report.windows.len() < MAX_WINDOWS {
            report.windows.push(window);
        }
    }
    Ok(report)
}
