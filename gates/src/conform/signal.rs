//! The producer's activity signal in a handoff (`activity/activity_signal.json`, contract §6),
//! when there is one: a regular file of at most 64 KiB (what the activity gate reads), JSON,
//! valid against `contracts/activity-signal.schema.json`, with a `ts_utc` that is a real instant.
//! Its age is not judged: a closed handoff's signal is old by the time anyone reads it.

use std::path::Path;

use autocapture_core::contract::parse_ts_utc;
use serde_json::Value;

use super::report::{Collector, Finding};
use super::schema;
use crate::contract::schemas::ContractSet;

/// The signal's path relative to the handoff.
pub const SIGNAL_FILE: &str = "activity/activity_signal.json";
/// The largest signal the activity gate reads.
const MAX_SIGNAL_BYTES: u64 = 64 * 1024;

/// Checks the handoff's activity signal, if it has one.
pub fn check_signal(set: &ContractSet, handoff: &Path, out: &mut Collector) {
    out.checked(&["activity_signal_unreadable", "activity_signal_schema"]);
    let path = handoff.join(SIGNAL_FILE);
    let unreadable =
        |message: String| Finding::new("activity_signal_unreadable", SIGNAL_FILE, message);
    match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => return out.add(unreadable(format!("stat: {e}"))),
        Ok(meta) if !meta.is_file() => {
            return out.add(unreadable("not a regular file".to_owned()));
        }
        Ok(meta) if meta.len() > MAX_SIGNAL_BYTES => {
            return out.add(unreadable(format!(
                "{} bytes, over the {MAX_SIGNAL_BYTES} the activity gate reads",
                meta.len()
            )));
        }
        Ok(_) => {}
    }
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) => return out.add(unreadable(format!("read: {e}"))),
    };
    let value: Value = match serde_json::from_slice(&bytes) {
        Ok(value) => value,
        Err(e) => {
            return out.add(Finding::new(
                "activity_signal_schema",
                SIGNAL_FILE,
                format!("not JSON: {e}"),
            ));
        }
    };
    match schema::findings(
        set,
        "activity-signal",
        &value,
        "activity_signal_schema",
        SIGNAL_FILE,
    ) {
        Ok(findings) if !findings.is_empty() => findings.into_iter().for_each(|f| out.add(f)),
        Ok(_) => {
            if let Some(ts) = value.get("ts_utc").and_then(Value::as_str)
                && let Err(e) = parse_ts_utc(ts)
            {
                out.add(Finding::new(
                    "activity_signal_schema",
                    SIGNAL_FILE,
                    format!("ts_utc {ts:?} is no real instant: {e}"),
                ));
            }
        }
        Err(e) => out.add(Finding::new(
            "activity_signal_schema",
            SIGNAL_FILE,
            format!("{e:#}"),
        )),
    }
}
