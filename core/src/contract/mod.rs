//! The shared contract: record ids, canonical JSON, digests, timestamps and the contract identity.
//!
//! Everything else in the crate depends on this module and it depends on nothing else in the crate.
//! - [`ids`]: `rid()` components, record ids and the derived-id recipe (contract §1.2).
//! - [`canonical`]: canonical JSON bytes (contract §8).
//! - [`digest`]: sha256 of bytes, files and canonical values.
//! - [`timestamp`]: ISO-8601 UTC timestamps and the `ingest_run_id` format.
//! - [`identity`]: `contract_version` and `schema_hash` over the embedded schemas.

pub mod canonical;
pub mod digest;
pub mod error;
pub mod identity;
pub mod ids;
pub mod timestamp;

pub use canonical::{canonical_json, canonical_json_string};
pub use digest::{Sha256Hex, sha256_canonical, sha256_file, sha256_hex};
pub use error::ContractError;
pub use identity::{
    CONTRACT_VERSION, ContractIdentity, SchemaFile, embedded_schemas, schema_hash_of,
};
pub use ids::{RecordId, derived_id, process_name, rid, rid_decode, run_of};
pub use timestamp::{format_ts_utc, ingest_run_id, parse_ts_utc};
