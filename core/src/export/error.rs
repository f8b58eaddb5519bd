//! `ExportError`: why an export could not write its bundle, each with a stable `code()`.

use std::path::PathBuf;

use thiserror::Error;

use crate::audit::AuditError;
use crate::query::engine::QueryError;
use crate::query::handle::HandleError;

/// Why an export failed. No bundle is left behind in any case.
#[derive(Debug, Error)]
pub enum ExportError {
    #[error("read rules {path}: {source}")]
    RulesUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parse rules {path}: {reason}")]
    RulesInvalid { path: PathBuf, reason: String },
    #[error("select records: unknown record ids {}", ids.join(", "))]
    RecordUnknown { ids: Vec<String> },
    #[error("parse time {value:?}: {reason}")]
    TimeInvalid { value: String, reason: String },
    #[error("select time range: --from {from} is after --to {to}")]
    RangeReversed { from: String, to: String },
    #[error("select evidence: {what} selects no records")]
    SelectionEmpty { what: String },
    #[error("open the DataRoot: {0}")]
    Handle(#[from] HandleError),
    #[error("answer the query: {0}")]
    Query(#[from] QueryError),
    #[error("read the DataRoot {path}: {reason}")]
    Store { path: PathBuf, reason: String },
    #[error("write bundle into {path}: it exists and is not an empty directory")]
    OutNotEmpty { path: PathBuf },
    #[error("write bundle into {path}: it lies inside the DataRoot {data_root}")]
    OutInsideDataRoot { path: PathBuf, data_root: PathBuf },
    #[error("write bundle {path}: {source}")]
    OutUnwritable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("read media {path} of record {record_id}: {reason}")]
    MediaUnreadable {
        path: PathBuf,
        record_id: String,
        reason: String,
    },
    #[error("append the audit line: {0}")]
    Audit(#[from] AuditError),
}

impl ExportError {
    /// The stable snake_case code the CLI prints (documented in `docs/export.md`).
    pub fn code(&self) -> &'static str {
        match self {
            ExportError::RulesUnreadable { .. } => "export_rules_unreadable",
            ExportError::RulesInvalid { .. } => "export_rules_invalid",
            ExportError::RecordUnknown { .. } => "export_record_unknown",
            ExportError::TimeInvalid { .. } => "export_time_invalid",
            ExportError::RangeReversed { .. } => "export_range_reversed",
            ExportError::SelectionEmpty { .. } => "export_selection_empty",
            ExportError::Handle(inner) => inner.code(),
            ExportError::Query(inner) => inner.code(),
            ExportError::Store { .. } => "export_store_error",
            ExportError::OutNotEmpty { .. } => "export_out_not_empty",
            ExportError::OutInsideDataRoot { .. } => "export_out_inside_data_root",
            ExportError::OutUnwritable { .. } => "export_out_unwritable",
            ExportError::MediaUnreadable { .. } => "export_media_unreadable",
            ExportError::Audit(inner) => inner.code(),
        }
    }

    /// True for failures of the environment (files, permissions, the store) rather than of the
    /// request: the CLI exits 2 for these and 1 for bad input.
    pub fn is_environment(&self) -> bool {
        matches!(
            self,
            ExportError::Handle(_)
                | ExportError::Store { .. }
                | ExportError::OutUnwritable { .. }
                | ExportError::MediaUnreadable { .. }
                | ExportError::Audit(_)
        ) || matches!(self, ExportError::Query(QueryError::Store(_)))
    }
}
