//! The checks of one row of `metadata.db`: its id (present, TEXT, `{run_id}/{kind}/{seq}`, its
//! run equal to the row's `run_id`, unique by bytes in the handoff and the spool), its payload
//! (a JSON object as Stage 1 parses it, within the parser's depth), its record type (known,
//! columns agreeing with the payload) and the payload against its record type's schema.

use std::collections::HashMap;

use autocapture_core::base::bounded_json;
use autocapture_core::contract::{RecordId, run_of};
use autocapture_core::handoff::{Cell, METADATA_DB, RowValues};
use serde_json::{Map, Value};

use super::database::RawRow;
use super::report::{Collector, Finding};
use super::schema;
use crate::contract::schemas::ContractSet;
use crate::corpus::check::schema_for_record_type;

/// Where an id was first seen and the digest of its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    handoff: usize,
    digest: [u8; 32],
}

/// The ids seen, by bytes, with the handoff that held each first.
#[derive(Debug, Default)]
pub struct IdIndex {
    seen: HashMap<String, Seen>,
}

impl IdIndex {
    /// The index of the handoff that holds `id`.
    pub fn handoff_of(&self, id: &str) -> Option<usize> {
        self.seen.get(id).map(|s| s.handoff)
    }

    /// Takes every id of `other` (a later handoff's) that this index does not hold yet.
    pub fn absorb(&mut self, other: IdIndex) {
        for (id, seen) in other.seen {
            self.seen.entry(id).or_insert(seen);
        }
    }
}

/// What the other checks need of a row that has a usable id.
#[derive(Debug, Clone)]
pub struct RowSeen {
    pub id: String,
    /// The column's record type, else the payload's.
    pub record_type: Option<String>,
    /// The payload, when it is a JSON object (sections bounded as Stage 1 reads them).
    pub payload: Option<Value>,
}

/// What a row is checked against.
pub struct RowContext<'a> {
    pub set: &'a ContractSet,
    /// Ids of the earlier handoffs of the spool.
    pub earlier: &'a IdIndex,
    /// The names of the spool's handoffs, by index.
    pub names: &'a [String],
    /// This handoff's index, and its ids so far.
    pub index: usize,
    pub current: IdIndex,
}

/// A column's value as Stage 1 reads it as text (TEXT, or an INTEGER as its digits).
pub fn cell_text(cell: &Cell) -> Option<String> {
    match cell {
        Cell::Text(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Cell::Integer(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A snapshot may be wrapped as `{payload: {...}}` (contract §1.3): the document inside.
pub fn unwrapped(payload: &Map<String, Value>) -> &Map<String, Value> {
    match payload.get("payload") {
        Some(Value::Object(inner)) if !payload.contains_key("record_type") => inner,
        _ => payload,
    }
}

/// A JSON value as SQLite's `json_extract` returns it into a column.
fn json_cell(value: &Value) -> Cell {
    match value {
        Value::Null => Cell::Null,
        Value::Bool(b) => Cell::Integer(i64::from(*b)),
        Value::Number(n) => n
            .as_i64()
            .map(Cell::Integer)
            .unwrap_or_else(|| Cell::Real(n.as_f64().unwrap_or_default())),
        Value::String(s) => Cell::Text(s.as_bytes().to_vec()),
        other => Cell::Text(other.to_string().into_bytes()),
    }
}

/// The row's values as the DataRoot would hold them: a NULL `record_type`, `ts_utc` or
/// `run_id` filled from the payload, as Stage 1 fills it.
fn effective(values: &RowValues, payload: Option<&Map<String, Value>>) -> RowValues {
    let fill = |cell: &Cell, field: &str| match (cell, payload.and_then(|p| p.get(field))) {
        (Cell::Null, Some(value)) => json_cell(value),
        _ => cell.clone(),
    };
    RowValues {
        record_type: fill(&values.record_type, "record_type"),
        ts_utc: fill(&values.ts_utc, "ts_utc"),
        run_id: fill(&values.run_id, "run_id"),
        ..values.clone()
    }
}

fn digest(values: &RowValues) -> [u8; 32] {
    let mut out = [0u8; 32];
    if let Ok(bytes) = hex::decode(values.sha256_hex()) {
        out.copy_from_slice(&bytes[..32.min(bytes.len())]);
    }
    out
}

/// The id, or the finding that it cannot be one.
fn id_of(row: &RawRow) -> Result<String, Box<Finding>> {
    let fault = |rule: &str, what: String| {
        Err(Box::new(
            Finding::new(rule, METADATA_DB, what).rowid(row.rowid),
        ))
    };
    match &row.id {
        Cell::Null => fault("row_id_missing", "the id is NULL".to_owned()),
        Cell::Text(bytes) if bytes.is_empty() => {
            fault("row_id_missing", "the id is empty".to_owned())
        }
        Cell::Text(bytes) => match std::str::from_utf8(bytes) {
            Ok(id) => Ok(id.to_owned()),
            Err(_) => fault(
                "row_id_not_text",
                format!("the id is TEXT that is not UTF-8 ({} bytes)", bytes.len()),
            ),
        },
        Cell::Integer(n) => fault("row_id_not_text", format!("the id is the INTEGER {n}")),
        Cell::Real(x) => fault("row_id_not_text", format!("the id is the REAL {x}")),
        Cell::Blob(bytes) => fault(
            "row_id_not_text",
            format!("the id is a BLOB of {} bytes", bytes.len()),
        ),
    }
}

/// The payload as Stage 1 parses it, or the finding that it is not a JSON object.
fn payload_of(id: &str, values: &RowValues) -> Result<Map<String, Value>, Box<Finding>> {
    let not_json = |what: String| {
        Err(Box::new(
            Finding::new("payload_not_json", METADATA_DB, what).row(id),
        ))
    };
    let (bytes, class) = match &values.payload {
        Cell::Text(bytes) => (bytes, "TEXT"),
        Cell::Blob(bytes) => (bytes, "BLOB"),
        Cell::Null => return not_json("the payload is NULL".to_owned()),
        Cell::Integer(n) => return not_json(format!("the payload is the INTEGER {n}")),
        Cell::Real(x) => return not_json(format!("the payload is the REAL {x}")),
    };
    match bounded_json::parse(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => {
            let kind = match other {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            };
            not_json(format!("the {class} payload is JSON {kind}, not an object"))
        }
        Err(e) if e.to_string().starts_with("recursion limit exceeded") => Err(Box::new(
            Finding::new(
                "payload_too_deep",
                METADATA_DB,
                format!("the {class} payload nests deeper than 128 levels ({e})"),
            )
            .row(id),
        )),
        Err(e) if std::str::from_utf8(bytes).is_err() => {
            not_json(format!("the {class} payload is not UTF-8 ({e})"))
        }
        Err(e) => not_json(format!("the {class} payload is not JSON ({e})")),
    }
}

/// Checks `row`; `None` when its id cannot name it (the finding says why).
pub fn check_row(ctx: &mut RowContext, row: &RawRow, out: &mut Collector) -> Option<RowSeen> {
    let id = match id_of(row) {
        Ok(id) => id,
        Err(finding) => {
            out.add(*finding);
            return None;
        }
    };
    let values = &row.values;
    let payload = match payload_of(&id, values) {
        Ok(map) => Some(Value::Object(map)),
        Err(finding) => {
            out.add(*finding);
            None
        }
    };
    let object = payload.as_ref().and_then(Value::as_object);
    // The document the schema describes: the payload, or what its `payload` wrapper holds.
    let doc_value = payload.as_ref().map(|p| match (p.get("payload"), object) {
        (Some(inner @ Value::Object(_)), Some(map)) if !map.contains_key("record_type") => inner,
        _ => p,
    });
    let doc = doc_value.and_then(Value::as_object);
    let field = |name: &str| doc.and_then(|d| d.get(name)).and_then(Value::as_str);
    let record_type =
        cell_text(&values.record_type).or_else(|| field("record_type").map(str::to_owned));
    let run_id = cell_text(&values.run_id).or_else(|| field("run_id").map(str::to_owned));

    // Unique by bytes, in this handoff and the spool.
    let digest = digest(&effective(values, object));
    let prior = match ctx.current.seen.get(&id) {
        Some(seen) => Some(("an earlier row of this handoff".to_owned(), *seen)),
        None => ctx.earlier.seen.get(&id).map(|seen| {
            let name = ctx.names.get(seen.handoff).map_or("?", String::as_str);
            (format!("handoff {name}"), *seen)
        }),
    };
    match prior {
        Some((where_, seen)) if seen.digest == digest => out.add(
            Finding::new(
                "record_id_duplicate",
                METADATA_DB,
                format!("{where_} holds this id with the same values"),
            )
            .row(&id),
        ),
        Some((where_, _)) => out.add(
            Finding::new(
                "record_id_conflict",
                METADATA_DB,
                format!("{where_} holds this id with other values (Stage 1 refuses the second)"),
            )
            .row(&id),
        ),
        None => {
            ctx.current.seen.insert(
                id.clone(),
                Seen {
                    handoff: ctx.index,
                    digest,
                },
            );
        }
    }

    match RecordId::parse(&id) {
        Err(e) => out.add(Finding::new("record_id_form", METADATA_DB, e.to_string()).row(&id)),
        Ok(parsed) => {
            if let Some(kind) = record_type.as_deref().filter(|k| *k != parsed.kind) {
                out.add(
                    Finding::new(
                        "record_id_form",
                        METADATA_DB,
                        format!(
                            "the id's kind {:?} is not the record type {kind:?}",
                            parsed.kind
                        ),
                    )
                    .row(&id),
                );
            }
        }
    }
    if let Some(column) = cell_text(&values.run_id)
        && (column.is_empty() || column.contains('/'))
    {
        out.add(
            Finding::new(
                "run_id_prefix",
                METADATA_DB,
                format!("the run_id column {column:?} is empty or holds a /"),
            )
            .row(&id),
        );
    } else if let Some(run) = run_id.as_deref()
        && run_of(&id) != run
    {
        out.add(
            Finding::new(
                "run_id_prefix",
                METADATA_DB,
                format!(
                    "the id's run {:?} is not the row's run_id {run:?}",
                    run_of(&id)
                ),
            )
            .row(&id),
        );
    }
    for (cell, name) in [
        (&values.record_type, "record_type"),
        (&values.ts_utc, "ts_utc"),
        (&values.run_id, "run_id"),
    ] {
        if let (Some(column), Some(inside)) = (cell_text(cell), field(name))
            && column != inside
        {
            out.add(
                Finding::new(
                    "column_payload_mismatch",
                    METADATA_DB,
                    format!("the {name} column is {column:?}, the payload's {inside:?}"),
                )
                .row(&id),
            );
        }
    }

    match record_type
        .as_deref()
        .map(|rt| (rt, schema_for_record_type(rt)))
    {
        None => out.add(
            Finding::new(
                "record_type_unknown",
                METADATA_DB,
                "no record_type in the column nor in the payload",
            )
            .row(&id),
        ),
        Some((rt, None)) => out.add(
            Finding::new(
                "record_type_unknown",
                METADATA_DB,
                format!("{rt:?} is not a producer record type of the contract"),
            )
            .row(&id),
        ),
        Some((_, Some(stem))) => {
            if let Some(value) = doc_value {
                match schema::findings(ctx.set, stem, value, "payload_schema", METADATA_DB) {
                    Ok(findings) => findings.into_iter().for_each(|f| out.add(f.row(&id))),
                    Err(e) => out.add(
                        Finding::new("payload_schema", METADATA_DB, format!("{e:#}")).row(&id),
                    ),
                }
            }
        }
    }
    Some(RowSeen {
        id,
        record_type,
        payload,
    })
}
