//! The bundle manifest (`manifest.json`, schema `autocapture.export.manifest.v1`, contract file
//! `contracts/export-manifest.schema.json`): what was selected, under which rules, every file
//! with its sha256 and size, and the bundle digest, the sha256 of the canonical JSON of the
//! manifest without `bundle_digest`. The file is rendered with sorted keys and 2-space indent,
//! so every byte of it is covered: a re-rendering must give the same bytes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::contract::{canonical_json, sha256_hex};

/// The `schema` value of a manifest.
pub const MANIFEST_SCHEMA: &str = "autocapture.export.manifest.v1";
/// The manifest's file name inside a bundle.
pub const MANIFEST_FILE: &str = "manifest.json";

/// How the evidence was selected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestSelection {
    /// `query`, `records` or `time_range`.
    pub kind: String,
    /// The query text, sanitised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// What the bundle holds and what sanitisation did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestCounts {
    pub metadata_records: u64,
    pub derived_records: u64,
    pub media_files: u64,
    /// Selected records left out because their window belongs to a dropped app.
    pub dropped_records: u64,
    pub citations: u64,
    /// Citations of the answer that pointed at dropped records and were removed.
    pub citations_dropped: u64,
    /// Masked matches per pattern name.
    pub redactions: BTreeMap<String, u64>,
}

/// One file of the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    /// Relative path with `/` separators.
    pub path: String,
    pub sha256: String,
    pub size: u64,
}

/// A bundle manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub schema: String,
    pub created_at_utc: String,
    pub contract_version: String,
    pub schema_hash: String,
    pub selection: ManifestSelection,
    pub rules_sha256: String,
    pub include_media: bool,
    pub counts: ManifestCounts,
    /// Every file of the bundle except the manifest, sorted by path.
    pub files: Vec<ManifestFile>,
    pub bundle_digest: String,
}

impl Manifest {
    /// The digest over every field but `bundle_digest`.
    pub fn compute_digest(&self) -> Result<String, String> {
        let mut value = serde_json::to_value(self).map_err(|e| e.to_string())?;
        if let Some(map) = value.as_object_mut() {
            map.remove("bundle_digest");
        }
        let bytes = canonical_json(&value).map_err(|e| e.to_string())?;
        Ok(sha256_hex(&bytes))
    }

    /// The manifest's bytes: sorted keys, 2-space indent, trailing newline.
    pub fn render(&self) -> Result<Vec<u8>, String> {
        let value = serde_json::to_value(self).map_err(|e| e.to_string())?;
        render_value(&value)
    }
}

/// A JSON value rendered the way bundle files are: sorted keys, 2-space indent, newline.
pub fn render_value(value: &Value) -> Result<Vec<u8>, String> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| e.to_string())?;
    bytes.push(b'\n');
    Ok(bytes)
}
