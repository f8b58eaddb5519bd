//! A document checked against its contract schema ([`ContractSet`], the one validation path of
//! the harness), each violation turned into a finding that carries the violated field's own
//! annotation: its `x-validation` text as the rule's words and its `x-failure` as the fail
//! mode, found by walking the schema (and the schemas it `$ref`s) along the instance path.

use serde_json::Value;

use super::report::Finding;
use super::rules::Failure;
use crate::contract::schemas::{ContractSet, ID_PREFIX};

/// Longest message kept from a violation (the validator quotes the instance, which may be huge).
const MAX_MESSAGE: usize = 300;

/// The annotation that governs a violation: the deepest annotated property on its path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Governing {
    /// Dotted field path (`operables[].rect`); empty at the document's root.
    pub field: String,
    pub validation: Option<String>,
    pub failure: Option<Failure>,
}

fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

/// `node`, or the schema its `$ref` names when that is another contract schema.
fn deref<'a>(set: &'a ContractSet, node: &'a Value) -> &'a Value {
    node.get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix(ID_PREFIX))
        .and_then(|stem| set.docs.get(stem))
        .map_or(node, |doc| &doc.value)
}

/// The annotation of the property at `pointer` of a `stem` document (and, for a missing
/// property, of `required` below it).
pub fn governing(
    set: &ContractSet,
    stem: &str,
    pointer: &str,
    required: Option<&str>,
) -> Governing {
    let mut found = Governing::default();
    let Some(doc) = set.docs.get(stem) else {
        return found;
    };
    let mut node = &doc.value;
    let mut field = String::new();
    let note = |definition: &Value, field: &str, found: &mut Governing| {
        let failure = definition
            .get("x-failure")
            .and_then(Value::as_str)
            .and_then(Failure::parse);
        if failure.is_some() {
            *found = Governing {
                field: field.to_owned(),
                validation: definition
                    .get("x-validation")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                failure,
            };
        }
    };
    let segments: Vec<String> = pointer
        .split('/')
        .skip(1)
        .filter(|s| !s.is_empty())
        .map(unescape)
        .chain(required.map(str::to_owned))
        .collect();
    for segment in segments {
        node = deref(set, node);
        if let Some(definition) = node.get("properties").and_then(|p| p.get(&segment)) {
            if !field.is_empty() {
                field.push('.');
            }
            field.push_str(&segment);
            node = definition;
            note(node, &field, &mut found);
        } else if segment.parse::<usize>().is_ok()
            && let Some(items) = node.get("items").filter(|i| i.is_object())
        {
            field.push_str("[]");
            node = items;
        } else {
            break;
        }
    }
    found
}

/// The root `anyOf` of required sets of a `stem` schema (`[[width, height], [frame_width,
/// frame_height]]`), when it has one.
fn any_of_required(set: &ContractSet, stem: &str) -> Option<Vec<Vec<String>>> {
    let alternatives = set.docs.get(stem)?.value.get("anyOf")?.as_array()?;
    alternatives
        .iter()
        .map(|alternative| {
            alternative
                .get("required")?
                .as_array()?
                .iter()
                .map(|name| name.as_str().map(str::to_owned))
                .collect()
        })
        .collect()
}

/// Stage 1's code for a violation of `field` of a `stem` document, where one exists.
pub fn field_code(stem: &str, field: &str) -> Option<&'static str> {
    match (stem, field) {
        ("frame", "" | "width" | "height" | "frame_width" | "frame_height") => {
            Some("frame_dims_missing")
        }
        ("frame" | "input-batch", "blob_path") => Some("media_ref_unsafe"),
        ("uia-snapshot", "record_type" | "record_id" | "content_hash") => {
            Some("uia_snapshot_invalid")
        }
        ("uia-snapshot", "hwnd" | "window" | "window.title" | "window.pid") => {
            Some("uia_linkage_missing")
        }
        ("activity-signal", _) => Some("signal_invalid"),
        _ => None,
    }
}

fn clip(text: &str) -> String {
    if text.len() <= MAX_MESSAGE {
        return text.to_owned();
    }
    let mut end = MAX_MESSAGE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Every violation of `value` against the `stem` schema as a finding of `rule` at `file`.
pub fn findings(
    set: &ContractSet,
    stem: &str,
    value: &Value,
    rule: &str,
    file: &str,
) -> anyhow::Result<Vec<Finding>> {
    let mut out = Vec::new();
    for violation in set.validate(stem, value)? {
        let (pointer, message) = violation
            .split_once(": ")
            .unwrap_or(("", violation.as_str()));
        let required = message
            .strip_suffix(" is a required property")
            .and_then(|quoted| serde_json::from_str::<String>(quoted).ok());
        let mut governing = governing(set, stem, pointer, required.as_deref());
        let mut shown = clip(message);
        if pointer.is_empty()
            && message.contains("anyOf")
            && let Some(alternatives) = any_of_required(set, stem)
        {
            // Say which fields are missing instead of quoting the whole document; the fail
            // mode is the first alternative's first field's.
            let first = alternatives.first().and_then(|a| a.first()).cloned();
            let wanted: Vec<String> = alternatives.iter().map(|a| a.join(" and ")).collect();
            shown = format!("needs {}", wanted.join(", or "));
            if let Some(first) = first {
                governing = Governing {
                    field: String::new(),
                    ..self::governing(set, stem, "", Some(&first))
                };
            }
        }
        let at = if pointer.is_empty() { "/" } else { pointer };
        let rule_text = governing
            .validation
            .as_deref()
            .map(|v| format!(" (contract: {v})"))
            .unwrap_or_default();
        let mut finding = Finding::new(rule, file, format!("{stem} {at}: {shown}{rule_text}"));
        if let Some(code) = field_code(stem, &governing.field) {
            finding = finding.code(Some(code));
        }
        if let Some(failure) = governing.failure {
            finding = finding.failure(failure);
        }
        out.push(finding);
    }
    Ok(out)
}
