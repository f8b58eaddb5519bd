//! Loads every `*.schema.json` of a contracts directory and validates documents against them.
//! Schemas refer to each other by `urn:autocapture:contract:<stem>` ids, resolved from the same
//! directory: validation never reaches the network.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use jsonschema::{Draft, Registry, Validator};
use serde_json::Value;

/// The `$id` prefix of every contract schema.
pub const ID_PREFIX: &str = "urn:autocapture:contract:";

/// One schema file: its stem (`frame` for `frame.schema.json`), text and parsed value.
#[derive(Debug, Clone)]
pub struct SchemaDoc {
    pub stem: String,
    pub file_name: String,
    pub text: String,
    pub value: Value,
}

/// All schemas of a contracts directory, with a compiled validator for each.
pub struct ContractSet {
    pub dir: PathBuf,
    pub docs: BTreeMap<String, SchemaDoc>,
    validators: BTreeMap<String, Validator>,
}

impl std::fmt::Debug for ContractSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContractSet")
            .field("dir", &self.dir)
            .field("stems", &self.docs.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ContractSet {
    /// Loads and compiles every schema in `dir`. Each must declare `$id` = prefix + its stem and
    /// be a valid 2020-12 schema.
    pub fn load(dir: &Path) -> anyhow::Result<ContractSet> {
        let mut docs = BTreeMap::new();
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("read contracts dir {}", dir.display()))?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".schema.json"))
            .collect();
        entries.sort();
        if entries.is_empty() {
            bail!("no *.schema.json in {}", dir.display());
        }
        for file_name in entries {
            let path = dir.join(&file_name);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("read {}", path.display()))?;
            let value: Value =
                serde_json::from_str(&text).with_context(|| format!("parse {}", path.display()))?;
            let stem = file_name.trim_end_matches(".schema.json").to_owned();
            let expected_id = format!("{ID_PREFIX}{stem}");
            if value.get("$id").and_then(Value::as_str) != Some(expected_id.as_str()) {
                bail!("{}: $id must be {expected_id:?}", path.display());
            }
            jsonschema::meta::validate(&value)
                .map_err(|e| anyhow::anyhow!("{}: not a valid JSON Schema: {e}", path.display()))?;
            docs.insert(
                stem.clone(),
                SchemaDoc {
                    stem,
                    file_name,
                    text,
                    value,
                },
            );
        }
        let registry = docs
            .values()
            .try_fold(Registry::new(), |builder, doc| {
                builder.add(format!("{ID_PREFIX}{}", doc.stem), doc.value.clone())
            })
            .and_then(|builder| builder.prepare())
            .map_err(|e| anyhow::anyhow!("register contract schemas: {e}"))?;
        let mut validators = BTreeMap::new();
        for doc in docs.values() {
            let validator = jsonschema::options()
                .with_draft(Draft::Draft202012)
                .with_registry(&registry)
                .build(&doc.value)
                .map_err(|e| anyhow::anyhow!("compile {}: {e}", doc.file_name))?;
            validators.insert(doc.stem.clone(), validator);
        }
        Ok(ContractSet {
            dir: dir.to_path_buf(),
            docs,
            validators,
        })
    }

    pub fn stems(&self) -> impl Iterator<Item = &str> {
        self.docs.keys().map(String::as_str)
    }

    /// Validates `instance` against the schema `stem`; returns every violation as
    /// `"<instance pointer>: <message>"` (empty when valid).
    pub fn validate(&self, stem: &str, instance: &Value) -> anyhow::Result<Vec<String>> {
        let validator = self
            .validators
            .get(stem)
            .with_context(|| format!("no contract schema named {stem:?}"))?;
        Ok(validator
            .iter_errors(instance)
            .map(|e| format!("{}: {}", e.instance_path(), e))
            .collect())
    }
}
