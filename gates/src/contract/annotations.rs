//! Every property of every contract schema must say who owns it and how it fails:
//! `x-owner` (repo | hypervisor), `x-source`, `x-sink`, `x-validation` (non-empty words) and
//! `x-failure` (open | closed). This walks every `properties` map at every depth.

use serde_json::Value;

pub const REQUIRED: [&str; 5] = ["x-owner", "x-source", "x-sink", "x-validation", "x-failure"];

/// A property definition whose annotations are missing or invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnotationProblem {
    pub file: String,
    /// JSON pointer of the property definition inside the schema.
    pub pointer: String,
    pub problem: String,
}

/// An annotated property, for the generated doc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnotatedProperty {
    /// Dotted field path as it appears in instances (`window_ref.window.title`, `rect[]`).
    pub field: String,
    pub definition: Value,
}

/// Checks every property definition in `schema` (from `file`).
pub fn check(file: &str, schema: &Value) -> Vec<AnnotationProblem> {
    let mut problems = Vec::new();
    for (pointer, _, definition) in walk(schema) {
        for key in REQUIRED {
            let text = definition.get(key).and_then(Value::as_str).map(str::trim);
            let problem = match (key, text) {
                (_, None) => Some(format!("missing {key}")),
                (_, Some("")) => Some(format!("empty {key}")),
                ("x-owner", Some(v)) if v != "repo" && v != "hypervisor" => {
                    Some(format!("x-owner {v:?} is not repo or hypervisor"))
                }
                ("x-failure", Some(v)) if v != "open" && v != "closed" => {
                    Some(format!("x-failure {v:?} is not open or closed"))
                }
                _ => None,
            };
            if let Some(problem) = problem {
                problems.push(AnnotationProblem {
                    file: file.to_owned(),
                    pointer: pointer.clone(),
                    problem,
                });
            }
        }
    }
    problems
}

/// Every property definition in `schema` with its field path, in document order.
pub fn properties(schema: &Value) -> Vec<AnnotatedProperty> {
    walk(schema)
        .into_iter()
        .map(|(_, field, definition)| AnnotatedProperty {
            field,
            definition: definition.clone(),
        })
        .collect()
}

/// (pointer, field path, definition) of every property definition, depth first.
fn walk(schema: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    visit(schema, String::new(), String::new(), &mut out);
    out
}

fn visit<'a>(
    node: &'a Value,
    pointer: String,
    field: String,
    out: &mut Vec<(String, String, &'a Value)>,
) {
    let Some(object) = node.as_object() else {
        if let Some(items) = node.as_array() {
            for (i, item) in items.iter().enumerate() {
                visit(item, format!("{pointer}/{i}"), field.clone(), out);
            }
        }
        return;
    };
    for (key, child) in object {
        let child_pointer = format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
        match key.as_str() {
            "properties" => {
                if let Some(props) = child.as_object() {
                    for (name, definition) in props {
                        let def_pointer = format!(
                            "{child_pointer}/{}",
                            name.replace('~', "~0").replace('/', "~1")
                        );
                        let def_field = if field.is_empty() {
                            name.clone()
                        } else {
                            format!("{field}.{name}")
                        };
                        out.push((def_pointer.clone(), def_field.clone(), definition));
                        visit(definition, def_pointer, def_field, out);
                    }
                }
            }
            "items" | "prefixItems" | "additionalProperties" => {
                visit(child, child_pointer, format!("{field}[]"), out);
            }
            "$defs" => {
                if let Some(defs) = child.as_object() {
                    for (name, definition) in defs {
                        visit(
                            definition,
                            format!("{child_pointer}/{name}"),
                            format!("$defs.{name}"),
                            out,
                        );
                    }
                }
            }
            // Annotation text and examples are data, not schema structure.
            "x-owner" | "x-source" | "x-sink" | "x-validation" | "x-failure" | "examples"
            | "default" | "const" | "enum" => {}
            _ => visit(child, child_pointer, field.clone(), out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn annotated() -> Value {
        json!({"x-owner": "repo", "x-source": "s", "x-sink": "k", "x-validation": "v", "x-failure": "open", "type": "string"})
    }

    #[test]
    fn nested_and_defs_properties_are_checked() {
        let mut bad = annotated();
        bad.as_object_mut().map(|o| o.remove("x-sink"));
        let schema = json!({
            "properties": {"a": annotated(), "b": {"x-owner": "repo", "x-source": "s", "x-sink": "k", "x-validation": "v",
                "x-failure": "open", "type": "object", "properties": {"c": bad}}},
            "$defs": {"node": {"properties": {"d": {"x-owner": "someone", "x-source": "s", "x-sink": "k", "x-validation": "v", "x-failure": "maybe"}}}}
        });
        let problems = check("x.schema.json", &schema);
        let got: Vec<_> = problems
            .iter()
            .map(|p| (p.pointer.as_str(), p.problem.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "/$defs/node/properties/d",
                    "x-owner \"someone\" is not repo or hypervisor"
                ),
                (
                    "/$defs/node/properties/d",
                    "x-failure \"maybe\" is not open or closed"
                ),
                ("/properties/b/properties/c", "missing x-sink"),
            ]
        );
    }
}
