//! The Hypervisor's sister contract document: the `contract_version` and `schema_hash` the
//! producer side implements. Release signoff records it and requires it to equal ours.

use std::path::Path;

use anyhow::Context;
use autocapture_core::contract::ContractIdentity;
use serde::{Deserialize, Serialize};

/// The sister document as the Hypervisor's repository publishes it.
#[derive(Debug, Clone, Deserialize)]
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

/// Reads the sister document at `path` and compares it with this build's contract.
pub fn checkpoint(path: &Path) -> anyhow::Result<SisterCheckpoint> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("read sister document {}", path.display()))?;
    let sister: SisterDocument = serde_json::from_str(&text)
        .with_context(|| format!("parse sister document {}", path.display()))?;
    let ours = ContractIdentity::embedded()?;
    Ok(SisterCheckpoint {
        matches: sister.contract_version == ours.contract_version
            && sister.schema_hash == ours.schema_hash,
        hypervisor_version: sister.hypervisor_version,
        contract_version: sister.contract_version,
        schema_hash: sister.schema_hash,
    })
}
