//! `contracts/contract.lock.json` pins the contract identity (`contract_version`,
//! `schema_hash`) and the sha256 of every contract file's bytes; `compat-matrix.json` lists
//! which repository and Hypervisor versions speak which contract. [`check`] reports every way
//! the committed lock disagrees with the files, the build and the matrix.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use autocapture_core::contract::{
    CONTRACT_VERSION, ContractIdentity, SchemaFile, schema_hash_of, sha256_hex,
};
use serde::{Deserialize, Serialize};

pub const LOCK_FILE: &str = "contract.lock.json";
pub const COMPAT_FILE: &str = "compat-matrix.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContractLock {
    pub contract_version: String,
    pub schema_hash: String,
    pub files: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompatRow {
    pub repo_version: String,
    pub hypervisor_version: String,
    pub contract_version: String,
    pub schema_hash: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompatMatrix {
    pub rows: Vec<CompatRow>,
}

/// The schema files of `dir`, sorted by name.
pub fn schema_files(dir: &Path) -> anyhow::Result<Vec<SchemaFile>> {
    let mut files = Vec::new();
    for name in json_file_names(dir)? {
        if name.ends_with(".schema.json") {
            let text =
                std::fs::read_to_string(dir.join(&name)).with_context(|| format!("read {name}"))?;
            files.push(SchemaFile { name, text });
        }
    }
    Ok(files)
}

fn json_file_names(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("read contracts dir {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json") && name != LOCK_FILE)
        .collect();
    names.sort();
    Ok(names)
}

/// The lock as the files in `dir` say it should be.
pub fn compute(dir: &Path) -> anyhow::Result<ContractLock> {
    let schema_hash = schema_hash_of(&schema_files(dir)?)?;
    let mut files = BTreeMap::new();
    for name in json_file_names(dir)? {
        let bytes = std::fs::read(dir.join(&name)).with_context(|| format!("read {name}"))?;
        files.insert(name, sha256_hex(&bytes));
    }
    Ok(ContractLock {
        contract_version: CONTRACT_VERSION.to_owned(),
        schema_hash,
        files,
    })
}

/// Pretty JSON with 2-space indent and a trailing newline (keys sorted by the struct/map order).
pub fn render<T: Serialize>(value: &T) -> anyhow::Result<String> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    Ok(text)
}

pub fn read_lock(dir: &Path) -> anyhow::Result<ContractLock> {
    let path = dir.join(LOCK_FILE);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parse {}", path.display()))
}

pub fn read_compat(dir: &Path) -> anyhow::Result<CompatMatrix> {
    let path = dir.join(COMPAT_FILE);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parse {}", path.display()))
}

/// Every disagreement between the committed lock, the files, this build's embedded schemas and
/// the compatibility matrix. Empty means fresh.
pub fn check(dir: &Path) -> anyhow::Result<Vec<String>> {
    let expected = compute(dir)?;
    let mut problems = Vec::new();
    match read_lock(dir) {
        Err(e) => problems.push(format!("{LOCK_FILE}: {e:#}")),
        Ok(committed) => {
            if committed.contract_version != expected.contract_version {
                problems.push(format!(
                    "{LOCK_FILE}: contract_version {} but the build implements {}",
                    committed.contract_version, expected.contract_version
                ));
            }
            if committed.schema_hash != expected.schema_hash {
                problems.push(format!(
                    "{LOCK_FILE}: schema_hash {} but the schemas hash to {}",
                    committed.schema_hash, expected.schema_hash
                ));
            }
            let names: std::collections::BTreeSet<&String> = committed
                .files
                .keys()
                .chain(expected.files.keys())
                .collect();
            for name in names {
                match (committed.files.get(name), expected.files.get(name)) {
                    (Some(a), Some(b)) if a != b => {
                        problems.push(format!("{LOCK_FILE}: {name} changed (locked {a}, now {b})"))
                    }
                    (Some(_), None) => {
                        problems.push(format!("{LOCK_FILE}: {name} is locked but missing"))
                    }
                    (None, Some(_)) => {
                        problems.push(format!("{LOCK_FILE}: {name} is not in the lock"))
                    }
                    _ => {}
                }
            }
        }
    }
    let embedded = ContractIdentity::embedded()?;
    if embedded.schema_hash != expected.schema_hash {
        problems.push(format!(
            "this build embeds schema_hash {} but {} hashes to {}: rebuild",
            embedded.schema_hash,
            dir.display(),
            expected.schema_hash
        ));
    }
    match read_compat(dir) {
        Err(e) => problems.push(format!("{COMPAT_FILE}: {e:#}")),
        Ok(matrix) => {
            let repo_version = env!("CARGO_PKG_VERSION");
            let current = matrix.rows.iter().any(|row| {
                row.repo_version == repo_version
                    && row.contract_version == expected.contract_version
                    && row.schema_hash == expected.schema_hash
                    && row.status == "compatible"
            });
            if !current {
                problems.push(format!(
                    "{COMPAT_FILE}: no compatible row for repo {repo_version}, contract {} and schema_hash {}",
                    expected.contract_version, expected.schema_hash
                ));
            }
            for row in &matrix.rows {
                if row.contract_version == expected.contract_version
                    && row.schema_hash != expected.schema_hash
                {
                    problems.push(format!(
                        "{COMPAT_FILE}: row for contract {} (hypervisor {}) names schema_hash {}; one contract version has one schema_hash",
                        row.contract_version, row.hypervisor_version, row.schema_hash
                    ));
                }
            }
        }
    }
    Ok(problems)
}
