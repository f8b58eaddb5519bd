//! Errors of the contract recipes, each with a stable snake_case code.

use thiserror::Error;

/// A contract recipe could not be applied to its input.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ContractError {
    /// Canonical JSON admits integers only; the path names the offending value.
    #[error("canonicalize json: float value at {path}")]
    FloatInCanonicalJson { path: String },
    /// Two object keys became equal after NFC normalisation.
    #[error("canonicalize json: keys collide after NFC normalisation at {path}: {key:?}")]
    DuplicateKeyAfterNfc { path: String, key: String },
    /// A timestamp is not ISO-8601 with an explicit offset.
    #[error("parse timestamp {value:?}: {reason}")]
    TimestampInvalid { value: String, reason: String },
    /// A record id does not have the `{run}/{kind}/{seq}` form.
    #[error("parse record id {value:?}: {reason}")]
    RecordIdInvalid { value: String, reason: String },
    /// A `rid_` component is not valid unpadded base64url of UTF-8.
    #[error("decode rid component {value:?}")]
    RidInvalid { value: String },
    /// A contract schema file is not valid JSON or not canonicalizable.
    #[error("read contract schema {file}: {reason}")]
    SchemaInvalid { file: String, reason: String },
}

impl ContractError {
    /// The stable code printed by the CLI and recorded in reports.
    pub fn code(&self) -> &'static str {
        match self {
            ContractError::FloatInCanonicalJson { .. } => "canonical_json_float",
            ContractError::DuplicateKeyAfterNfc { .. } => "canonical_json_duplicate_key",
            ContractError::TimestampInvalid { .. } => "timestamp_invalid",
            ContractError::RecordIdInvalid { .. } => "record_id_invalid",
            ContractError::RidInvalid { .. } => "rid_invalid",
            ContractError::SchemaInvalid { .. } => "contract_schema_invalid",
        }
    }
}
