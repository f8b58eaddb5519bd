//! The rules `conform spool` checks: one stable snake_case id each, what it means, the error or
//! reason code Stage 1 gives the same fault (where it has one) and what Stage 1 does with it
//! (`closed`: it refuses the handoff or the value; `open`: it warns or tolerates and goes on).
//! `docs/conformance.md` lists the same table; a test keeps the two equal.

use serde::Serialize;

/// What Stage 1 does with a fault: the `x-failure` vocabulary of the contract schemas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// Refused: an error code, no marker (or, for the signal, the user counts as active).
    Closed,
    /// Tolerated: a warning or a count, the ingest goes on.
    Open,
}

impl Failure {
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Closed => "closed",
            Failure::Open => "open",
        }
    }

    /// The schema annotation's word (`x-failure`), if it is one.
    pub fn parse(word: &str) -> Option<Failure> {
        match word {
            "closed" => Some(Failure::Closed),
            "open" => Some(Failure::Open),
            _ => None,
        }
    }
}

/// One rule of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub id: &'static str,
    pub meaning: &'static str,
    /// Stage 1's code for the same fault, where it has one.
    pub code: Option<&'static str>,
    pub failure: Failure,
}

const fn rule(
    id: &'static str,
    code: Option<&'static str>,
    failure: Failure,
    meaning: &'static str,
) -> Rule {
    Rule {
        id,
        meaning,
        code,
        failure,
    }
}

use Failure::{Closed, Open};

/// Every rule, in the order reports and JUnit list them.
pub const RULES: &[Rule] = &[
    rule(
        "spool_entry_symlink",
        None,
        Open,
        "an entry of the spool is a symlink: the drain never follows one, so nothing behind it is ingested",
    ),
    rule(
        "handoff_unreadable",
        Some("io_error"),
        Closed,
        "a file or folder of the handoff could not be read (permissions, an I/O error)",
    ),
    rule(
        "not_closed",
        Some("handoff_changed_during_ingest"),
        Closed,
        "the handoff is still being written: a metadata.db-wal, a non-empty metadata.db-journal, or the database or a media file changed between the first and the last look",
    ),
    rule(
        "metadata_missing",
        Some("handoff_metadata_missing"),
        Closed,
        "no metadata.db (a spool folder without one is skipped by the drain)",
    ),
    rule(
        "metadata_corrupt",
        Some("handoff_metadata_corrupt"),
        Closed,
        "metadata.db is not a regular file, not a readable UTF-8 SQLite database, or fails SQLite's quick_check",
    ),
    rule(
        "metadata_table_missing",
        Some("handoff_metadata_table_missing"),
        Closed,
        "neither a metadata nor a records table, or the table has no id or payload column",
    ),
    rule(
        "metadata_columns",
        None,
        Open,
        "the metadata table is not metadata(id TEXT PRIMARY KEY, record_type TEXT, ts_utc TEXT, payload TEXT, run_id TEXT) (record_id and payload_json accepted), or records lacks record_type or ts_utc",
    ),
    rule(
        "metadata_indexes",
        None,
        Open,
        "the metadata table lacks an index on record_type, ts_utc or run_id",
    ),
    rule(
        "row_id_missing",
        Some("handoff_row_id_missing"),
        Closed,
        "a row whose id is NULL or empty",
    ),
    rule(
        "row_id_not_text",
        Some("metadata_id_not_text"),
        Closed,
        "a row whose id is not UTF-8 TEXT (an INTEGER, REAL or BLOB, or bytes that are not UTF-8)",
    ),
    rule(
        "record_id_form",
        None,
        Open,
        "an id that is not {run_id}/{kind}/{seq} with three non-empty parts and kind equal to the record type",
    ),
    rule(
        "run_id_prefix",
        None,
        Open,
        "the id's run (before its first /) differs from the row's run_id, or the run_id column is empty or holds a /",
    ),
    rule(
        "record_id_duplicate",
        None,
        Open,
        "an id held twice (by bytes) with the same values, in the handoff or in an earlier handoff of the spool",
    ),
    rule(
        "record_id_conflict",
        Some("metadata_id_conflict"),
        Closed,
        "an id held twice (by bytes) with other values in a carried column, in the handoff or in an earlier handoff of the spool",
    ),
    rule(
        "payload_not_json",
        Some("payloads_not_json"),
        Open,
        "a payload that is not a JSON object (NULL, a number, bytes that are not UTF-8 JSON, another JSON value)",
    ),
    rule(
        "payload_too_deep",
        Some("payloads_not_json"),
        Open,
        "a payload nesting deeper than the 128 levels Stage 1's JSON parser reads: kept raw, counted as not JSON",
    ),
    rule(
        "record_type_unknown",
        None,
        Open,
        "a row whose record type (column, else payload) is missing or is not a producer record type of the contract",
    ),
    rule(
        "column_payload_mismatch",
        None,
        Open,
        "the record_type, ts_utc or run_id column differs from the same field of the payload",
    ),
    rule(
        "payload_schema",
        None,
        Closed,
        "the payload breaks its record type's JSON Schema (contracts/*.schema.json); the code and fail mode are the field's",
    ),
    rule(
        "media_ref_unsafe",
        Some("media_ref_unsafe"),
        Closed,
        "a media ref with a .. component, a drive letter or NUL after normalisation, or naming no file",
    ),
    rule(
        "media_ref_absolute",
        None,
        Open,
        "a media ref that is an absolute path with no media/ component: Stage 1 strips the leading / and reads it below media/",
    ),
    rule(
        "media_ref_missing",
        Some("media_ref_missing"),
        Closed,
        "a media ref naming no file under the handoff's media/",
    ),
    rule(
        "media_not_regular",
        Some("media_not_regular"),
        Closed,
        "a symlink, FIFO, socket or device under media/ (or media/ itself is not a folder)",
    ),
    rule(
        "media_name_invalid",
        Some("media_name_invalid"),
        Closed,
        "a file name under media/ that is not UTF-8",
    ),
    rule(
        "content_hash_mismatch",
        Some("media_hash_mismatch"),
        Closed,
        "a frame's blob whose sha256 differs from the frame's content_hash",
    ),
    rule(
        "uia_ref_unresolved",
        Some("lookup_failed"),
        Open,
        "a frame's uia_ref.record_id names no row of the handoff (nor of an earlier handoff of the spool)",
    ),
    rule(
        "uia_snapshot_invalid",
        Some("uia_snapshot_invalid"),
        Open,
        "the row a uia_ref names is not a JSON object, not an evidence.uia.snapshot, or its record_id or content_hash differs from the ref",
    ),
    rule(
        "uia_linkage_missing",
        Some("uia_linkage_missing"),
        Open,
        "a referenced snapshot without hwnd, window title or window pid > 0: its docs could never validate",
    ),
    rule(
        "uia_docs_invalid",
        Some("uia_docs_invalid"),
        Open,
        "the UIA docs Stage 1 builds from a referenced snapshot do not validate (for example a focus path with no node left)",
    ),
    rule(
        "uia_section_too_long",
        None,
        Open,
        "a snapshot section (focus_path, context_peers, operables) with more than 65,536 items: Stage 1 reads the first 65,536",
    ),
    rule(
        "activity_signal_unreadable",
        Some("signal_unreadable"),
        Closed,
        "activity/activity_signal.json is not a regular file of at most 64 KiB",
    ),
    rule(
        "activity_signal_schema",
        Some("signal_invalid"),
        Closed,
        "activity/activity_signal.json is not JSON, breaks contracts/activity-signal.schema.json, or its ts_utc is no real instant",
    ),
];

/// The rule `id` of the catalogue.
///
/// # Panics
/// When `id` is not in [`RULES`]: every id the checker uses is a literal of this file.
pub fn get(id: &str) -> &'static Rule {
    RULES
        .iter()
        .find(|rule| rule.id == id)
        .unwrap_or_else(|| panic!("conform rule {id:?} is not in the catalogue"))
}

/// The rules that look at rows: not checked when the database could not be read.
pub const ROW_RULES: &[&str] = &[
    "row_id_missing",
    "row_id_not_text",
    "record_id_form",
    "run_id_prefix",
    "record_id_duplicate",
    "record_id_conflict",
    "payload_not_json",
    "payload_too_deep",
    "record_type_unknown",
    "column_payload_mismatch",
    "payload_schema",
    "media_ref_unsafe",
    "media_ref_absolute",
    "media_ref_missing",
    "content_hash_mismatch",
    "uia_ref_unresolved",
    "uia_snapshot_invalid",
    "uia_linkage_missing",
    "uia_docs_invalid",
    "uia_section_too_long",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_snake_case_and_row_rules_exist() {
        let mut ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
        assert!(
            ids.iter()
                .all(|id| id.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        );
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), RULES.len());
        for id in ROW_RULES {
            assert_eq!(get(id).id, *id);
        }
    }
}
