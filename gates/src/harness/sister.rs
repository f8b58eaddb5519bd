//! The Hypervisor's sister contract document: the `contract_version` and `schema_hash` the
//! producer side implements. Release signoff records it and requires it to equal ours.
//!
//! The document is either JSON (`{"contract_version": …, "schema_hash": …}`) or Markdown that
//! carries the pair in YAML-style front matter (`key: value` lines between `---` fences) or in a
//! table: a two-column field/value table, or a table whose header names two or more of the
//! fields over a row of values. Where one Markdown document carries the pair more than once,
//! every copy must agree.

use std::path::{Path, PathBuf};

use autocapture_core::contract::ContractIdentity;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::contract::workspace_root;

/// Where the committed copy of the Hypervisor's document lives.
pub const DEFAULT_SISTER: &str = "contracts/sister/hypervisor.lock.json";

/// The default sister document of this checkout.
pub fn default_sister_path() -> anyhow::Result<PathBuf> {
    Ok(workspace_root()?.join(DEFAULT_SISTER))
}

/// The sister document as the Hypervisor's repository publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SisterDocument {
    #[serde(default)]
    pub hypervisor_version: Option<String>,
    pub contract_version: String,
    pub schema_hash: String,
}

/// The checkpoint recorded in a signoff report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SisterCheckpoint {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hypervisor_version: Option<String>,
    pub contract_version: String,
    pub schema_hash: String,
    pub matches: bool,
}

/// Why a sister document could not be read.
#[derive(Debug, Error)]
pub enum SisterError {
    #[error("sister_unreadable: {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("sister_invalid: {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("sister_ambiguous: {path}: {field} is given as both {first:?} and {second:?}")]
    Ambiguous {
        path: PathBuf,
        field: &'static str,
        first: String,
        second: String,
    },
}

impl SisterError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            SisterError::Unreadable { .. } => "sister_unreadable",
            SisterError::Invalid { .. } => "sister_invalid",
            SisterError::Ambiguous { .. } => "sister_ambiguous",
        }
    }
}

/// Reads the sister document at `path` (JSON or Markdown, by content) and compares it with this
/// build's contract.
pub fn checkpoint(path: &Path) -> anyhow::Result<SisterCheckpoint> {
    let sister = read(path)?;
    let ours = ContractIdentity::embedded()?;
    Ok(SisterCheckpoint {
        matches: sister.contract_version == ours.contract_version
            && sister.schema_hash == ours.schema_hash,
        hypervisor_version: sister.hypervisor_version,
        contract_version: sister.contract_version,
        schema_hash: sister.schema_hash,
    })
}

/// Reads and parses a sister document.
pub fn read(path: &Path) -> Result<SisterDocument, SisterError> {
    let text = std::fs::read_to_string(path).map_err(|source| SisterError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text).map_err(|problem| match problem {
        Problem::Invalid(reason) => SisterError::Invalid {
            path: path.to_path_buf(),
            reason,
        },
        Problem::Ambiguous(field, first, second) => SisterError::Ambiguous {
            path: path.to_path_buf(),
            field,
            first,
            second,
        },
    })
}

enum Problem {
    Invalid(String),
    Ambiguous(&'static str, String, String),
}

const FIELDS: [&str; 3] = ["contract_version", "schema_hash", "hypervisor_version"];

fn parse(text: &str) -> Result<SisterDocument, Problem> {
    if text.trim_start().starts_with('{') {
        return serde_json::from_str(text).map_err(|e| Problem::Invalid(format!("JSON: {e}")));
    }
    let mut found = Found::default();
    front_matter(text, &mut found)?;
    tables(text, &mut found)?;
    let [contract_version, schema_hash, hypervisor_version] = found.values;
    match (contract_version, schema_hash) {
        (Some(contract_version), Some(schema_hash)) => Ok(SisterDocument {
            hypervisor_version,
            contract_version,
            schema_hash,
        }),
        (None, _) => Err(Problem::Invalid(
            "no contract_version in front matter or a table".into(),
        )),
        (_, None) => Err(Problem::Invalid(
            "no schema_hash in front matter or a table".into(),
        )),
    }
}

/// The fields seen so far, in [`FIELDS`] order.
#[derive(Default)]
struct Found {
    values: [Option<String>; 3],
}

impl Found {
    fn offer(&mut self, key: &str, value: &str) -> Result<(), Problem> {
        let key = key.trim().trim_matches('`').trim_matches('*').trim();
        let Some(index) = FIELDS.iter().position(|field| *field == key) else {
            return Ok(());
        };
        let value = unquote(value.trim().trim_matches('`').trim());
        if value.is_empty() {
            return Err(Problem::Invalid(format!("{key} is empty")));
        }
        match &self.values[index] {
            Some(first) if *first != value => {
                Err(Problem::Ambiguous(FIELDS[index], first.clone(), value))
            }
            Some(_) => Ok(()),
            None => {
                self.values[index] = Some(value);
                Ok(())
            }
        }
    }
}

fn unquote(value: &str) -> String {
    for quote in ['"', '\''] {
        if value.len() >= 2 && value.starts_with(quote) && value.ends_with(quote) {
            return value[1..value.len() - 1].to_owned();
        }
    }
    value.to_owned()
}

/// `key: value` lines between a leading `---` and the next `---`.
fn front_matter(text: &str, found: &mut Found) -> Result<(), Problem> {
    let mut lines = text.lines();
    if lines.next().map(str::trim_end) != Some("---") {
        return Ok(());
    }
    for line in lines {
        if line.trim_end() == "---" {
            return Ok(());
        }
        if let Some((key, value)) = line.split_once(':') {
            found.offer(key, value)?;
        }
    }
    Err(Problem::Invalid("front matter has no closing ---".into()))
}

/// Every Markdown table: field/value rows, or a header of field names over value rows.
fn tables(text: &str, found: &mut Found) -> Result<(), Problem> {
    let mut table: Vec<Vec<String>> = Vec::new();
    for line in text.lines().chain(std::iter::once("")) {
        let line = line.trim();
        if line.starts_with('|') {
            let cells = line
                .trim_matches('|')
                .split('|')
                .map(|cell| cell.trim().to_owned())
                .collect::<Vec<_>>();
            if !cells.iter().all(|cell| is_rule(cell)) {
                table.push(cells);
            }
        } else if !table.is_empty() {
            one_table(&std::mem::take(&mut table), found)?;
        }
    }
    Ok(())
}

fn is_rule(cell: &str) -> bool {
    !cell.is_empty() && cell.chars().all(|c| matches!(c, '-' | ':' | ' '))
}

fn one_table(rows: &[Vec<String>], found: &mut Found) -> Result<(), Problem> {
    let header = &rows[0];
    let named = |cell: &&String| FIELDS.contains(&cell.trim_matches('`'));
    // A header naming two or more fields heads value rows; otherwise rows are field | value.
    if header.iter().filter(named).count() >= 2 {
        for row in &rows[1..] {
            for (key, value) in header.iter().zip(row) {
                found.offer(key, value)?;
            }
        }
    } else {
        for row in rows {
            if let [key, value, ..] = row.as_slice() {
                found.offer(key, value)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "3bb9179f90e0f92c16669c9147e3451cb65f69369c2bd57f580985e5966207fe";

    fn pair(text: &str) -> (String, String) {
        match parse(text) {
            Ok(doc) => (doc.contract_version, doc.schema_hash),
            Err(Problem::Invalid(reason)) => panic!("invalid: {reason}"),
            Err(Problem::Ambiguous(field, ..)) => panic!("ambiguous: {field}"),
        }
    }

    #[test]
    fn front_matter_pair() {
        let text = format!(
            "---\ntitle: Hypervisor contract\ncontract_version: \"1.0.0\"\nschema_hash: {HASH}\n---\n# Notes\n"
        );
        assert_eq!(pair(&text), ("1.0.0".to_owned(), HASH.to_owned()));
    }

    #[test]
    fn field_value_table() {
        let text = format!(
            "# Contract\n\n| field | value |\n|---|---|\n| `contract_version` | 1.0.0 |\n| `schema_hash` | `{HASH}` |\n"
        );
        assert_eq!(pair(&text), ("1.0.0".to_owned(), HASH.to_owned()));
    }

    #[test]
    fn header_table() {
        let text = format!(
            "| hypervisor_version | contract_version | schema_hash |\n| :-- | :-- | :-- |\n| 2.1.0 | 1.0.0 | {HASH} |\n"
        );
        assert_eq!(pair(&text), ("1.0.0".to_owned(), HASH.to_owned()));
    }

    #[test]
    fn disagreeing_copies_are_ambiguous() {
        let text = format!(
            "---\ncontract_version: 1.0.0\nschema_hash: {HASH}\n---\n| contract_version | 1.1.0 |\n"
        );
        assert!(matches!(
            parse(&text),
            Err(Problem::Ambiguous("contract_version", _, _))
        ));
    }

    #[test]
    fn missing_or_unclosed_is_invalid() {
        assert!(matches!(
            parse("# Contract\n\ncontract_version 1.0.0\n"),
            Err(Problem::Invalid(_))
        ));
        assert!(matches!(
            parse("---\ncontract_version: 1.0.0\nschema_hash: x\n"),
            Err(Problem::Invalid(_))
        ));
        assert!(matches!(
            parse("| contract_version | 1.0.0 |\n| schema_hash |  |\n"),
            Err(Problem::Invalid(_))
        ));
        assert!(matches!(
            parse("{\"contract_version\": 1}"),
            Err(Problem::Invalid(_))
        ));
    }
}
