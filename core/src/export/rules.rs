//! The sanitisation rules of an export (`autocapture.export.rules.v1`, schema
//! `contracts/export-rules.schema.json`): which kinds of personal data to redact, whether to
//! reduce process paths to executable names, which apps' windows to drop, and extra patterns.
//! [`Rules::default`] is what `autocapture export` applies without `--rules`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::contract::{canonical_json, sha256_hex};

/// The `schema` value of a rules document.
pub const RULES_SCHEMA: &str = "autocapture.export.rules.v1";

/// Password managers whose windows are dropped by default (executable names, any case).
pub const DEFAULT_DROP_APPS: [&str; 9] = [
    "1password.exe",
    "bitwarden.exe",
    "dashlane.exe",
    "enpass.exe",
    "keepass.exe",
    "keepassxc.exe",
    "keeper.exe",
    "lastpass.exe",
    "nordpass.exe",
];

/// Which built-in kinds of personal data to redact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redact {
    pub email: bool,
    pub phone: bool,
    pub payment_card: bool,
    pub national_id: bool,
}

/// An extra pattern to redact, counted under `name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomPattern {
    pub name: String,
    pub regex: String,
}

/// A rules document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    pub schema: String,
    pub redact: Redact,
    pub reduce_process_paths: bool,
    /// Executable names (`keepass.exe`) whose windows, frames, snapshots and docs are dropped.
    pub drop_apps: Vec<String>,
    #[serde(default)]
    pub patterns: Vec<CustomPattern>,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            schema: RULES_SCHEMA.to_owned(),
            redact: Redact {
                email: true,
                phone: true,
                payment_card: true,
                national_id: true,
            },
            reduce_process_paths: true,
            drop_apps: DEFAULT_DROP_APPS.iter().map(|s| (*s).to_owned()).collect(),
            patterns: Vec::new(),
        }
    }
}

impl Rules {
    /// Parses a rules document, checking what serde cannot: the schema name, pattern names and
    /// app names. Patterns are compiled by the sanitiser, which reports bad ones the same way.
    pub fn parse(bytes: &[u8]) -> Result<Rules, String> {
        let rules: Rules = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if rules.schema != RULES_SCHEMA {
            return Err(format!("schema {:?} is not {RULES_SCHEMA}", rules.schema));
        }
        for app in &rules.drop_apps {
            if app.trim().is_empty() || app.contains(['/', '\\']) {
                return Err(format!("drop_apps entry {app:?} is not an executable name"));
            }
        }
        for pattern in &rules.patterns {
            let valid = pattern
                .name
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase())
                && pattern
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !valid {
                return Err(format!("pattern name {:?} is not snake_case", pattern.name));
            }
        }
        Ok(rules)
    }

    /// sha256 of the canonical JSON of the rules, recorded in the manifest.
    pub fn sha256(&self) -> String {
        let value = serde_json::to_value(self).unwrap_or(Value::Null);
        // The rules hold strings, booleans and arrays only: canonical JSON cannot fail on them.
        canonical_json(&value)
            .map(|bytes| sha256_hex(&bytes))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Result<(), &str>) {
        match (Rules::parse(text.as_bytes()), expected) {
            (Ok(_), Ok(())) => {}
            (Err(got), Err(want)) => assert!(got.contains(want), "{got:?} lacks {want:?}"),
            (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn parse_accepts_and_refuses() {
        let default = serde_json::to_string(&Rules::default()).expect("encode");
        check(&default, Ok(()));
        check("{", Err("EOF"));
        check(
            r#"{"schema":"autocapture.export.rules.v2","redact":{"email":true,"phone":true,"payment_card":true,"national_id":true},"reduce_process_paths":true,"drop_apps":[]}"#,
            Err("is not autocapture.export.rules.v1"),
        );
        check(
            r#"{"schema":"autocapture.export.rules.v1","redact":{"email":true,"phone":true,"payment_card":true,"national_id":true},"reduce_process_paths":true,"drop_apps":["C:\\x\\keepass.exe"]}"#,
            Err("not an executable name"),
        );
        check(
            r#"{"schema":"autocapture.export.rules.v1","redact":{"email":true,"phone":true,"payment_card":true,"national_id":true},"reduce_process_paths":true,"drop_apps":[],"patterns":[{"name":"Ticket","regex":"x"}]}"#,
            Err("not snake_case"),
        );
        check(
            r#"{"schema":"autocapture.export.rules.v1","redact":{"email":true},"reduce_process_paths":true,"drop_apps":[]}"#,
            Err("missing field"),
        );
        check(
            r#"{"schema":"autocapture.export.rules.v1","redact":{"email":true,"phone":true,"payment_card":true,"national_id":true},"reduce_process_paths":true,"drop_apps":[],"extra":1}"#,
            Err("unknown field"),
        );
    }

    #[test]
    fn rules_hash_is_stable() {
        assert_eq!(Rules::default().sha256(), Rules::default().sha256());
        let mut other = Rules::default();
        other.redact.phone = false;
        assert_ne!(Rules::default().sha256(), other.sha256());
    }
}
