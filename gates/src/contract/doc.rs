//! Generates the field tables of `docs/handoff-stage1-contract.md` from the schemas: per
//! document, a table of field, type, owner, source, sink, validation and failure mode. The doc's
//! hand-written sections (everything before [`MARKER`]) are kept as they are. The committed doc
//! is checked against a fresh rendering by the test suite, so the tables cannot go stale.

use std::fmt::Write as _;

use serde_json::Value;

use super::annotations::properties;
use super::lock::ContractLock;
use super::schemas::{ContractSet, ID_PREFIX};

/// Path of the generated doc relative to the workspace root.
pub const DOC_PATH: &str = "docs/handoff-stage1-contract.md";

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn type_of(definition: &Value) -> String {
    if let Some(reference) = definition.get("$ref").and_then(Value::as_str) {
        return format!("see `{}`", reference.trim_start_matches(ID_PREFIX));
    }
    if let Some(constant) = definition.get("const") {
        return format!("const `{constant}`");
    }
    if let Some(values) = definition.get("enum").and_then(Value::as_array) {
        let names: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
        return format!("one of {}", names.join(", "));
    }
    match definition.get("type") {
        Some(Value::String(name)) => name.clone(),
        Some(Value::Array(names)) => names
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" \\| "),
        _ => "any".to_owned(),
    }
}

fn text(definition: &Value, key: &str) -> String {
    cell(definition.get(key).and_then(Value::as_str).unwrap_or(""))
}

/// The line that separates the hand-written sections from the generated field tables.
pub const MARKER: &str = "<!-- Everything below is generated from contracts/*.schema.json by `cargo run -p autocapture-gates -- contract doc`. Edit the schemas, not this part. -->";

/// The hand-written part of a committed doc: everything before [`MARKER`].
pub fn prose(committed: &str) -> Result<&str, String> {
    committed
        .split_once(MARKER)
        .map(|(prose, _)| prose.trim_end())
        .ok_or_else(|| format!("{DOC_PATH} has no generated-part marker line"))
}

/// The doc as it should be: the committed prose, the marker, then fresh field tables.
pub fn regenerate(
    set: &ContractSet,
    lock: &ContractLock,
    committed: &str,
) -> Result<String, String> {
    Ok(format!(
        "{}\n\n{MARKER}\n\n{}",
        prose(committed)?,
        render_tables(set, lock)
    ))
}

/// A problem line when the committed doc differs from its regeneration, naming every field row
/// (as `Section: field`) that was added, removed or changed.
pub fn staleness(committed: &str, rendered: &str) -> Option<String> {
    if committed == rendered {
        return None;
    }
    let before = field_rows(committed);
    let after = field_rows(rendered);
    let mut drifted: Vec<&str> = before
        .iter()
        .filter(|(key, row)| after.get(*key) != Some(*row))
        .chain(after.iter().filter(|(key, _)| !before.contains_key(*key)))
        .map(|(key, _)| key.as_str())
        .collect();
    drifted.sort_unstable();
    drifted.dedup();
    let fields = if drifted.is_empty() {
        String::new()
    } else {
        format!(" (fields drifted: {})", drifted.join(", "))
    };
    Some(format!(
        "{DOC_PATH} is stale{fields}: run `cargo run -p autocapture-gates -- contract doc`"
    ))
}

/// Every field row of the generated tables keyed `Section: field`, with the whole row.
fn field_rows(doc: &str) -> std::collections::BTreeMap<String, &str> {
    let mut rows = std::collections::BTreeMap::new();
    let mut section = "";
    for line in doc.lines() {
        if let Some(heading) = line.strip_prefix("### ") {
            section = heading;
        } else if let Some(rest) = line.strip_prefix("| `")
            && let Some((field, _)) = rest.split_once("` |")
        {
            rows.insert(format!("{section}: {field}"), line);
        }
    }
    rows
}

/// The generated part: the contract identity and a field table per schema.
pub fn render_tables(set: &ContractSet, lock: &ContractLock) -> String {
    let mut out = String::new();
    out.push_str("## Field tables\n\n");
    let _ = writeln!(out, "- `contract_version`: `{}`", lock.contract_version);
    let _ = writeln!(out, "- `schema_hash`: `{}`\n", lock.schema_hash);
    out.push_str(
        "Columns: **owner** writes the field (`repo` or `hypervisor`); **source** is where its value comes \
         from; **sink** is who reads it; **validation** is the rule; **failure** says what a bad value does: \
         `closed` rejects it (with an error code), `open` warns and the pipeline continues.\n\n",
    );
    out.push_str("### Documents\n\n");
    for doc in set.docs.values() {
        let title = doc
            .value
            .get("x-contract-doc")
            .and_then(Value::as_str)
            .unwrap_or(&doc.stem);
        let _ = writeln!(
            out,
            "- [{title}](#{}) — `contracts/{}`",
            doc.stem, doc.file_name
        );
    }
    out.push('\n');
    for doc in set.docs.values() {
        let title = doc
            .value
            .get("x-contract-doc")
            .and_then(Value::as_str)
            .unwrap_or(&doc.stem);
        let _ = writeln!(out, "<a id=\"{}\"></a>\n### {title}\n", doc.stem);
        let _ = writeln!(
            out,
            "Schema `contracts/{}`, `$id` `{}{}`.\n",
            doc.file_name, ID_PREFIX, doc.stem
        );
        if let Some(description) = doc.value.get("description").and_then(Value::as_str) {
            let _ = writeln!(out, "{description}\n");
        }
        let extra = match doc.value.get("additionalProperties") {
            Some(Value::Bool(false)) => "Unknown top-level fields are rejected.",
            _ => "Unknown top-level fields are allowed and preserved.",
        };
        let _ = writeln!(out, "{extra}\n");
        out.push_str("| field | type | owner | source | sink | validation | failure |\n");
        out.push_str("|---|---|---|---|---|---|---|\n");
        for property in properties(&doc.value) {
            let d = &property.definition;
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} | {} |",
                cell(&property.field),
                cell(&type_of(d)),
                text(d, "x-owner"),
                text(d, "x-source"),
                text(d, "x-sink"),
                text(d, "x-validation"),
                text(d, "x-failure"),
            );
        }
        out.push('\n');
    }
    out
}
