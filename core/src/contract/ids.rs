//! Record ids, the `rid()` component and the derived-id recipe (contract §1.2).
//!
//! A record id has the form `{run_id}/{kind}/{seq}`. Derived records are named
//! `{run}/{type}/{rid(source_id)}` where `run` is the source id's text before its first `/`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::error::ContractError;

/// The prefix of every `rid()` component.
pub const RID_PREFIX: &str = "rid_";

/// `rid(s) = "rid_" + base64url_without_padding(utf8(s))`.
pub fn rid(source: &str) -> String {
    let mut out = String::with_capacity(RID_PREFIX.len() + source.len().div_ceil(3) * 4);
    out.push_str(RID_PREFIX);
    URL_SAFE_NO_PAD.encode_string(source.as_bytes(), &mut out);
    out
}

/// Inverse of [`rid`]: the original string, or an error when `component` is not a rid.
pub fn rid_decode(component: &str) -> Result<String, ContractError> {
    let invalid = || ContractError::RidInvalid {
        value: component.to_owned(),
    };
    let encoded = component.strip_prefix(RID_PREFIX).ok_or_else(invalid)?;
    let bytes = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| invalid())?;
    String::from_utf8(bytes).map_err(|_| invalid())
}

/// The run of a record id: the text before its first `/`, or the whole id when it has none.
pub fn run_of(record_id: &str) -> &str {
    match record_id.split_once('/') {
        Some((run, _)) => run,
        None => record_id,
    }
}

/// The id of a record derived from `source_id`: `{run}/{record_type}/{rid(source_id)}`.
pub fn derived_id(source_id: &str, record_type: &str) -> String {
    format!("{}/{}/{}", run_of(source_id), record_type, rid(source_id))
}

/// The executable name of a Windows or POSIX process path (`C:\\x\\y.exe` → `y.exe`).
pub fn process_name(process_path: &str) -> &str {
    process_path
        .rsplit(['\\', '/'])
        .next()
        .unwrap_or(process_path)
}

/// A parsed `{run_id}/{kind}/{seq}` record id. The kind may itself not contain `/`; the
/// sequence part is everything after the second `/` (a derived id's rid component, or a number).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId {
    pub run_id: String,
    pub kind: String,
    pub seq: String,
}

impl RecordId {
    /// Build the id of record number `seq` of `kind` in `run_id`.
    pub fn new(run_id: &str, kind: &str, seq: u64) -> Self {
        RecordId {
            run_id: run_id.to_owned(),
            kind: kind.to_owned(),
            seq: seq.to_string(),
        }
    }

    /// Parse a record id; all three parts must be non-empty.
    pub fn parse(value: &str) -> Result<Self, ContractError> {
        let invalid = |reason: &str| ContractError::RecordIdInvalid {
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        if value.contains('\0') {
            return Err(invalid("contains NUL"));
        }
        let mut parts = value.splitn(3, '/');
        let run_id = parts.next().unwrap_or_default();
        let kind = parts.next().ok_or_else(|| invalid("missing kind"))?;
        let seq = parts.next().ok_or_else(|| invalid("missing sequence"))?;
        if run_id.is_empty() || kind.is_empty() || seq.is_empty() {
            return Err(invalid("empty part"));
        }
        Ok(RecordId {
            run_id: run_id.to_owned(),
            kind: kind.to_owned(),
            seq: seq.to_owned(),
        })
    }
}

impl std::fmt::Display for RecordId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.run_id, self.kind, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_rid(source: &str, expected: &str) {
        assert_eq!(rid(source), expected);
        assert_eq!(rid_decode(expected).as_deref(), Ok(source));
    }

    #[test]
    fn rid_fixed_vectors() {
        check_rid(
            "run1/evidence.capture.frame/0",
            "rid_cnVuMS9ldmlkZW5jZS5jYXB0dXJlLmZyYW1lLzA",
        );
        check_rid("", "rid_");
        check_rid("f", "rid_Zg");
        check_rid("fo", "rid_Zm8");
        check_rid("foo", "rid_Zm9v");
        // base64url alphabet: '>' and '?' encode to '-' and '_' rather than '+' and '/'.
        check_rid(">>>???", "rid_Pj4-Pz8_");
        check_rid("é", "rid_w6k");
    }

    #[test]
    fn rid_decode_rejects_garbage() {
        for bad in ["cnVu", "rid_!!", "rid_Zg==", "rid__w"] {
            assert_eq!(
                rid_decode(bad).map_err(|e| e.code()),
                Err("rid_invalid"),
                "{bad}"
            );
        }
    }

    #[test]
    fn derived_id_recipe() {
        assert_eq!(
            derived_id(
                "run1/evidence.capture.frame/0",
                "derived.ingest.stage1.complete"
            ),
            "run1/derived.ingest.stage1.complete/rid_cnVuMS9ldmlkZW5jZS5jYXB0dXJlLmZyYW1lLzA"
        );
        // A source id without '/' is its own run.
        assert_eq!(
            derived_id("orphan", "retention.eligible"),
            "orphan/retention.eligible/rid_b3JwaGFu"
        );
    }

    #[test]
    fn record_id_round_trip() {
        let id = RecordId::parse("run1/evidence.capture.frame/42").expect("valid id");
        assert_eq!(id, RecordId::new("run1", "evidence.capture.frame", 42));
        assert_eq!(id.to_string(), "run1/evidence.capture.frame/42");
        let derived = RecordId::parse("run1/derived.sst.text/extra/rid_abc").expect("valid id");
        assert_eq!(derived.seq, "extra/rid_abc");
        for bad in ["", "run1", "run1/kind", "run1//3", "/k/3", "a/b/\0"] {
            assert!(RecordId::parse(bad).is_err(), "{bad:?}");
        }
    }
}
