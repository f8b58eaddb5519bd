//! The contract's identity: `contract_version` (semver) and `schema_hash`.
//!
//! `schema_hash` is the lowercase hex sha256 of the canonical JSON of one object whose keys are
//! the file names of every `contracts/*.schema.json` and whose values are those files' parsed
//! JSON. The schemas are embedded at build time, so a binary reports the contract it was built
//! against; the Hypervisor's sister document carries the same pair.

use std::sync::OnceLock;

use serde_json::{Map, Value};

use super::digest::sha256_canonical;
use super::error::ContractError;

include!(concat!(env!("OUT_DIR"), "/embedded_schemas.rs"));

/// The semantic version of the contract this build implements.
pub const CONTRACT_VERSION: &str = "3.0.0";

/// One contract schema file: its file name and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaFile {
    pub name: String,
    pub text: String,
}

/// The pair that identifies a contract on both sides.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContractIdentity {
    pub contract_version: String,
    pub schema_hash: String,
}

/// The schema files embedded in this build, sorted by file name.
pub fn embedded_schemas() -> Vec<SchemaFile> {
    EMBEDDED_SCHEMAS
        .iter()
        .map(|(name, text)| SchemaFile {
            name: (*name).to_owned(),
            text: (*text).to_owned(),
        })
        .collect()
}

/// `schema_hash` of a set of schema files (order does not matter).
pub fn schema_hash_of(files: &[SchemaFile]) -> Result<String, ContractError> {
    let mut object = Map::new();
    for file in files {
        let parsed: Value =
            serde_json::from_str(&file.text).map_err(|e| ContractError::SchemaInvalid {
                file: file.name.clone(),
                reason: e.to_string(),
            })?;
        object.insert(file.name.clone(), parsed);
    }
    sha256_canonical(&Value::Object(object)).map_err(|e| ContractError::SchemaInvalid {
        file: "contracts/*.schema.json".to_owned(),
        reason: e.to_string(),
    })
}

impl ContractIdentity {
    /// The identity of the contract embedded in this build. The schemas are checked by the
    /// test suite, so an error here means the build embedded a broken schema file.
    pub fn embedded() -> Result<&'static ContractIdentity, ContractError> {
        static IDENTITY: OnceLock<Result<ContractIdentity, ContractError>> = OnceLock::new();
        IDENTITY
            .get_or_init(|| {
                Ok(ContractIdentity {
                    contract_version: CONTRACT_VERSION.to_owned(),
                    schema_hash: schema_hash_of(&embedded_schemas())?,
                })
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::digest::sha256_hex;

    fn file(name: &str, text: &str) -> SchemaFile {
        SchemaFile {
            name: name.into(),
            text: text.into(),
        }
    }

    #[test]
    fn schema_hash_recipe_fixed_vector() {
        let files = [
            file("b.schema.json", "{ \"type\": \"object\" }"),
            file("a.schema.json", "{\"title\":\"A\"}"),
        ];
        let expected =
            sha256_hex(br#"{"a.schema.json":{"title":"A"},"b.schema.json":{"type":"object"}}"#);
        assert_eq!(schema_hash_of(&files).as_deref(), Ok(expected.as_str()));
        // Formatting of the files does not matter; their content does.
        let reformatted = [
            file("a.schema.json", "{\n  \"title\": \"A\"\n}"),
            file("b.schema.json", "{\"type\":\"object\"}"),
        ];
        assert_eq!(schema_hash_of(&files), schema_hash_of(&reformatted));
        let changed = [
            file("a.schema.json", "{\"title\":\"B\"}"),
            file("b.schema.json", "{\"type\":\"object\"}"),
        ];
        assert_ne!(schema_hash_of(&files), schema_hash_of(&changed));
    }

    #[test]
    fn schema_hash_rejects_floats_and_bad_json() {
        let err =
            schema_hash_of(&[file("a.schema.json", "{\"minimum\": 0.5}")]).expect_err("float");
        assert_eq!(err.code(), "contract_schema_invalid");
        let err = schema_hash_of(&[file("a.schema.json", "{")]).expect_err("bad json");
        assert_eq!(err.code(), "contract_schema_invalid");
    }

    #[test]
    fn embedded_identity_is_stable() {
        let identity = ContractIdentity::embedded().expect("embedded schemas are valid");
        assert_eq!(identity.contract_version, CONTRACT_VERSION);
        assert_eq!(
            identity.schema_hash,
            schema_hash_of(&embedded_schemas()).expect("valid")
        );
        assert_eq!(identity.schema_hash.len(), 64);
    }
}
