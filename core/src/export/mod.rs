//! Explicit, sanitised export of evidence (`autocapture export`): the only place where stored
//! evidence is redacted, and only in the copy written to a bundle. The DataRoot is opened
//! read-only through the query handle; see `docs/export.md`.
//!
//! - [`rules`]: the sanitisation rules document and its defaults.
//! - [`sanitize`]: the sanitiser (patterns, process paths, dropped apps).
//! - [`select`]: which records a query, a list of ids or a time range selects.
//! - [`manifest`]: the bundle manifest and its digest.
//! - [`bundle`]: writing a bundle atomically, with an audit line.
//! - [`verify`]: checking a bundle against its manifest.
//! - [`error`]: `ExportError` and its codes.

pub mod bundle;
pub mod error;
pub mod manifest;
pub mod rules;
pub mod sanitize;
pub mod select;
pub mod verify;

pub use bundle::{ExportOptions, ExportReport, export, load_rules};
pub use error::ExportError;
pub use manifest::Manifest;
pub use rules::Rules;
pub use select::Selection;
pub use verify::{VerifyReport, verify_bundle};
