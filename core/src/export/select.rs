//! Which evidence an export takes: the records cited by a query's answer, explicit record ids,
//! or the frames of a time range; each frame brings the records it references (UIA snapshot,
//! window, input) and its Stage-1 derived records (markers and the snapshot's three UIA docs).
//! Everything is read through the read-only [`QueryHandle`].

use std::collections::BTreeSet;

use rusqlite::types::ValueRef;
use serde_json::Value;

use super::error::ExportError;
use crate::contract::{format_ts_utc, parse_ts_utc};
use crate::query::{self, Answer, QueryHandle, QueryOptions};
use crate::uia::{Section, doc_id};

/// The record type of a captured frame.
pub const FRAME_RECORD_TYPE: &str = "evidence.capture.frame";
/// The record type of a UIA snapshot.
pub const SNAPSHOT_RECORD_TYPE: &str = "evidence.uia.snapshot";

/// What to export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// The records cited by the answer to a query.
    Query { text: String, max_citations: usize },
    /// Records by id (evidence or derived).
    Records(Vec<String>),
    /// Frames with `from <= ts_utc < to` (ISO-8601 with an offset).
    TimeRange { from: String, to: String },
}

/// A row as read from the DataRoot.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub id: String,
    pub record_type: Option<String>,
    pub ts_utc: Option<String>,
    pub run_id: Option<String>,
    /// Set for derived rows.
    pub source_record_id: Option<String>,
    /// The stored payload text (lossy UTF-8 of its bytes).
    pub payload: String,
}

impl Row {
    /// The payload parsed as JSON, when it is JSON.
    pub fn payload_json(&self) -> Option<Value> {
        serde_json::from_str(&self.payload).ok()
    }
}

/// The selected rows, in id order, and the answer when selected by query.
#[derive(Debug, Clone, Default)]
pub struct Selected {
    pub metadata: Vec<Row>,
    pub derived: Vec<Row>,
    pub answer: Option<Answer>,
}

fn store_err(handle: &QueryHandle) -> impl Fn(rusqlite::Error) -> ExportError + '_ {
    move |e| ExportError::Store {
        path: handle.root().to_path_buf(),
        reason: e.to_string(),
    }
}

fn text(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<String>> {
    Ok(match row.get_ref(i)? {
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Integer(n) => Some(n.to_string()),
        ValueRef::Real(x) => Some(x.to_string()),
        ValueRef::Null => None,
    })
}

fn metadata_row(handle: &QueryHandle, id: &str) -> Result<Option<Row>, ExportError> {
    let rows = handle
        .rows(
            "SELECT id, record_type, ts_utc, run_id, payload FROM metadata WHERE id = ?1",
            [id],
            |r| {
                Ok(Row {
                    id: r.get(0)?,
                    record_type: text(r, 1)?,
                    ts_utc: text(r, 2)?,
                    run_id: text(r, 3)?,
                    source_record_id: None,
                    payload: text(r, 4)?.unwrap_or_default(),
                })
            },
        )
        .map_err(store_err(handle))?;
    Ok(rows.into_iter().next())
}

fn derived_rows(handle: &QueryHandle, sql: &str, key: &str) -> Result<Vec<Row>, ExportError> {
    if !handle.has_derived {
        return Ok(Vec::new());
    }
    handle
        .rows(sql, [key], |r| {
            Ok(Row {
                id: r.get(0)?,
                record_type: text(r, 1)?,
                ts_utc: text(r, 2)?,
                run_id: text(r, 3)?,
                source_record_id: text(r, 5)?,
                payload: text(r, 4)?.unwrap_or_default(),
            })
        })
        .map_err(store_err(handle))
}

const DERIVED_BY_ID: &str = "SELECT id, record_type, ts_utc, run_id, payload, source_record_id FROM d.derived WHERE id = ?1";
const DERIVED_BY_SOURCE: &str = "SELECT id, record_type, ts_utc, run_id, payload, source_record_id FROM d.derived WHERE source_record_id = ?1";

/// Normalises a time bound to the DataRoot's `ts_utc` text form.
fn bound(value: &str) -> Result<String, ExportError> {
    parse_ts_utc(value)
        .map(format_ts_utc)
        .map_err(|e| ExportError::TimeInvalid {
            value: value.to_owned(),
            reason: e.to_string(),
        })
}

/// Collects the rows of a selection.
struct Collector<'h> {
    handle: &'h QueryHandle,
    metadata: std::collections::BTreeMap<String, Row>,
    derived: std::collections::BTreeMap<String, Row>,
}

impl Collector<'_> {
    fn add_derived(&mut self, rows: Vec<Row>) {
        for row in rows {
            self.derived.entry(row.id.clone()).or_insert(row);
        }
    }

    /// Adds a snapshot's three UIA docs (those that exist).
    fn add_snapshot_docs(&mut self, snapshot_id: &str) -> Result<(), ExportError> {
        for section in Section::ALL {
            let rows = derived_rows(self.handle, DERIVED_BY_ID, &doc_id(snapshot_id, section))?;
            self.add_derived(rows);
        }
        Ok(())
    }

    /// Adds a metadata row; a frame brings its referenced records and derived rows, a
    /// snapshot its docs.
    fn add_record(&mut self, row: Row) -> Result<(), ExportError> {
        if self.metadata.contains_key(&row.id) {
            return Ok(());
        }
        let id = row.id.clone();
        let record_type = row.record_type.clone().unwrap_or_default();
        let payload = row.payload_json();
        self.metadata.insert(id.clone(), row);
        if record_type == FRAME_RECORD_TYPE {
            let payload = payload.unwrap_or(Value::Null);
            for pointer in [
                "/uia_ref/record_id",
                "/window_ref/record_id",
                "/input_ref/record_id",
                "/input_batch_ref/record_id",
            ] {
                if let Some(linked) = payload.pointer(pointer).and_then(Value::as_str)
                    && let Some(linked_row) = metadata_row(self.handle, linked)?
                {
                    self.add_record(linked_row)?;
                }
            }
            let rows = derived_rows(self.handle, DERIVED_BY_SOURCE, &id)?;
            self.add_derived(rows);
        } else if record_type == SNAPSHOT_RECORD_TYPE {
            self.add_snapshot_docs(&id)?;
        }
        Ok(())
    }

    /// Adds any record by id; false when the DataRoot has no record of that id.
    fn add_id(&mut self, id: &str) -> Result<bool, ExportError> {
        if let Some(row) = metadata_row(self.handle, id)? {
            self.add_record(row)?;
            return Ok(true);
        }
        let rows = derived_rows(self.handle, DERIVED_BY_ID, id)?;
        if rows.is_empty() {
            return Ok(false);
        }
        self.add_derived(rows);
        Ok(true)
    }
}

/// Resolves `selection` against the DataRoot behind `handle`.
pub fn select(handle: &QueryHandle, selection: &Selection) -> Result<Selected, ExportError> {
    let mut collector = Collector {
        handle,
        metadata: Default::default(),
        derived: Default::default(),
    };
    let mut answer = None;
    match selection {
        Selection::Query {
            text,
            max_citations,
        } => {
            let got = query::answer(
                handle,
                text,
                &QueryOptions {
                    max_citations: *max_citations,
                    explain: false,
                },
            )?;
            let mut cited = BTreeSet::new();
            for citation in &got.citations {
                cited.insert(citation.record_id.clone());
                cited.extend(citation.frame_id.clone());
                cited.extend(citation.doc_id.clone());
            }
            for id in &cited {
                collector.add_id(id)?;
            }
            if collector.metadata.is_empty() && collector.derived.is_empty() {
                return Err(ExportError::SelectionEmpty {
                    what: format!("the query {text:?} (answer state {:?})", got.state),
                });
            }
            answer = Some(got);
        }
        Selection::Records(ids) => {
            let mut unknown = Vec::new();
            for id in ids {
                if !collector.add_id(id)? {
                    unknown.push(id.clone());
                }
            }
            if !unknown.is_empty() {
                return Err(ExportError::RecordUnknown { ids: unknown });
            }
            if ids.is_empty() {
                return Err(ExportError::SelectionEmpty {
                    what: "an empty list of record ids".into(),
                });
            }
        }
        Selection::TimeRange { from, to } => {
            let (start, end) = (bound(from)?, bound(to)?);
            if start > end {
                return Err(ExportError::RangeReversed {
                    from: from.clone(),
                    to: to.clone(),
                });
            }
            let ids = handle
                .rows(
                    "SELECT id FROM metadata WHERE ts_utc >= ?1 AND ts_utc < ?2 AND record_type = ?3 ORDER BY ts_utc, id",
                    rusqlite::params![start, end, FRAME_RECORD_TYPE],
                    |r| r.get::<_, String>(0),
                )
                .map_err(store_err(handle))?;
            if ids.is_empty() {
                return Err(ExportError::SelectionEmpty {
                    what: format!("the time range {start} .. {end}"),
                });
            }
            for id in ids {
                collector.add_id(&id)?;
            }
        }
    }
    Ok(Selected {
        metadata: collector.metadata.into_values().collect(),
        derived: collector.derived.into_values().collect(),
        answer,
    })
}
