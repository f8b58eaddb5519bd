//! The optional configuration document (`contracts/config.schema.json`), from `--config F` or the
//! `AUTOCAPTURE_CONFIG` environment variable (the flag wins). Every key is optional and takes the
//! schema's default; command-line flags override it. Unknown sections and keys are reported as
//! warnings (`config_key_unknown`) and ignored, so an older binary still starts with a newer
//! file; a known key with a bad value fails closed (`config_invalid`), and so does a server bind
//! that is not on loopback (`config_bind_not_loopback`), whatever the command. See
//! `docs/config.md`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::activity::DEFAULT_FRESH_SECONDS;
use crate::stage1::ingest::ImportMode;
use crate::uia::UiaSettings;
use serde::Serialize;
use serde_json::Value;

/// The environment variable naming a configuration file when `--config` is not given.
pub const CONFIG_ENV: &str = "AUTOCAPTURE_CONFIG";

/// What a key may hold (mirrors the schema; the `contract` gate checks that both agree on the
/// schema's fixtures).
#[derive(Debug, Clone, Copy)]
enum Kind {
    Int {
        min: i64,
        max: i64,
    },
    Bool,
    OneOf(&'static [&'static str]),
    /// A non-empty string or null.
    PathOrNull,
    /// `host:port` on loopback.
    Bind,
    /// A positive integer followed by `h` or `d`.
    Horizon,
}

/// Every known section and key.
const KEYS: &[(&str, &[(&str, Kind)])] = &[
    (
        "uia",
        &[
            ("max_focus_nodes", Kind::Int { min: 1, max: 8192 }),
            ("max_context_nodes", Kind::Int { min: 1, max: 8192 }),
            ("max_operable_nodes", Kind::Int { min: 1, max: 8192 }),
            ("drop_offscreen", Kind::Bool),
            ("allow_latest_snapshot_fallback", Kind::Bool),
            ("require_hash_match", Kind::Bool),
        ],
    ),
    (
        "activity",
        &[
            ("signal_path", Kind::PathOrNull),
            ("fresh_seconds", Kind::Int { min: 1, max: 3600 }),
        ],
    ),
    (
        "ingest",
        &[
            ("mode", Kind::OneOf(&["hardlink", "copy"])),
            ("strict", Kind::Bool),
            ("ledger_fast_path", Kind::Bool),
        ],
    ),
    (
        "server",
        &[
            ("bind", Kind::Bind),
            (
                "popup_timeout_ms",
                Kind::Int {
                    min: 1,
                    max: 600_000,
                },
            ),
            ("token_route", Kind::Bool),
        ],
    ),
    (
        "query",
        &[
            ("max_citations_default", Kind::Int { min: 1, max: 32 }),
            ("require_citations", Kind::Bool),
        ],
    ),
    ("storage", &[("retention_evidence", Kind::Horizon)]),
];

/// A problem that did not stop the program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigWarning {
    pub code: &'static str,
    /// `section` or `section.key`.
    pub key: String,
    pub message: String,
}

/// Why the configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub code: &'static str,
    pub message: String,
    pub path: PathBuf,
    pub key: Option<String>,
}

/// The settings in effect, defaults filled in.
#[derive(Debug, Clone)]
pub struct Config {
    pub uia: UiaSettings,
    pub activity_signal: Option<PathBuf>,
    pub fresh_seconds: u32,
    pub ingest_mode: ImportMode,
    pub ingest_strict: bool,
    pub ledger_fast_path: bool,
    pub bind: String,
    pub popup_timeout: Duration,
    pub token_route: bool,
    pub max_citations_default: usize,
    pub warnings: Vec<ConfigWarning>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            uia: UiaSettings::default(),
            activity_signal: None,
            fresh_seconds: DEFAULT_FRESH_SECONDS,
            ingest_mode: ImportMode::Hardlink,
            ingest_strict: true,
            ledger_fast_path: true,
            bind: "127.0.0.1:8787".to_owned(),
            popup_timeout: crate::server::POPUP_TIMEOUT,
            token_route: true,
            max_citations_default: 8,
            warnings: Vec::new(),
        }
    }
}

/// The configuration named by `flag`, else by `AUTOCAPTURE_CONFIG`, else the defaults.
pub fn load(flag: Option<&Path>) -> Result<Config, ConfigError> {
    let from_env = std::env::var_os(CONFIG_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    match flag.map(Path::to_path_buf).or(from_env) {
        None => Ok(Config::default()),
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|e| ConfigError {
                code: "config_unreadable",
                message: format!("read config {}: {e}", path.display()),
                path: path.clone(),
                key: None,
            })?;
            parse(&text, &path)
        }
    }
}

/// Parses and checks a configuration document read from `path`.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let invalid = |key: Option<String>, message: String| ConfigError {
        code: "config_invalid",
        message: format!("config {}: {message}", path.display()),
        path: path.to_path_buf(),
        key,
    };
    let document: Value =
        serde_json::from_str(text).map_err(|e| invalid(None, format!("not JSON: {e}")))?;
    let Value::Object(sections) = document else {
        return Err(invalid(None, "not a JSON object".into()));
    };
    let mut config = Config::default();
    for (section, body) in &sections {
        let Some((_, keys)) = KEYS.iter().find(|(name, _)| name == section) else {
            config.warnings.push(ConfigWarning {
                code: "config_key_unknown",
                key: section.clone(),
                message: format!("unknown section {section:?} ignored"),
            });
            continue;
        };
        let Value::Object(body) = body else {
            return Err(invalid(
                Some(section.clone()),
                format!("section {section} is not an object"),
            ));
        };
        for (key, value) in body {
            let name = format!("{section}.{key}");
            let Some((_, kind)) = keys.iter().find(|(k, _)| k == key) else {
                config.warnings.push(ConfigWarning {
                    code: "config_key_unknown",
                    key: name.clone(),
                    message: format!("unknown key {name} ignored"),
                });
                continue;
            };
            check(*kind, value).map_err(|problem| match kind {
                Kind::Bind => ConfigError {
                    code: "config_bind_not_loopback",
                    message: format!(
                        "config {}: {name} {value}: {problem}; only 127.0.0.0/8, localhost and [::1] are allowed",
                        path.display()
                    ),
                    path: path.to_path_buf(),
                    key: Some(name.clone()),
                },
                _ => invalid(Some(name.clone()), format!("{name} {value}: {problem}")),
            })?;
            apply(&mut config, &name, value);
        }
    }
    Ok(config)
}

fn check(kind: Kind, value: &Value) -> Result<(), String> {
    match kind {
        Kind::Int { min, max } => match value.as_i64() {
            Some(n) if (min..=max).contains(&n) => Ok(()),
            _ => Err(format!("must be an integer in {min}..{max}")),
        },
        Kind::Bool => value
            .as_bool()
            .map(|_| ())
            .ok_or_else(|| "must be true or false".to_owned()),
        Kind::OneOf(allowed) => match value.as_str() {
            Some(s) if allowed.contains(&s) => Ok(()),
            _ => Err(format!("must be one of {}", allowed.join(", "))),
        },
        Kind::PathOrNull => match value {
            Value::Null => Ok(()),
            Value::String(s) if !s.is_empty() => Ok(()),
            _ => Err("must be a non-empty path or null".to_owned()),
        },
        Kind::Bind => {
            let text = value.as_str().ok_or("must be a host:port string")?;
            loopback_bind(text)
        }
        Kind::Horizon => {
            let text = value.as_str().unwrap_or_default();
            let digits = text.strip_suffix(['h', 'd']).unwrap_or_default();
            if !digits.is_empty()
                && !digits.starts_with('0')
                && digits.bytes().all(|b| b.is_ascii_digit())
            {
                Ok(())
            } else {
                Err("must be a positive integer followed by h or d".to_owned())
            }
        }
    }
}

/// `host:port` with a loopback host: `127.x.y.z`, `localhost` or `[::1]`, and a port.
fn loopback_bind(text: &str) -> Result<(), String> {
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| "not host:port".to_owned())?;
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("port {port:?} is not a number"));
    }
    let loopback = host == "localhost"
        || host == "[::1]"
        || (host.split('.').count() == 4
            && host.starts_with("127.")
            && host.parse::<std::net::Ipv4Addr>().is_ok());
    if loopback {
        Ok(())
    } else {
        Err(format!("host {host} is not on loopback"))
    }
}

fn apply(config: &mut Config, name: &str, value: &Value) {
    let int = || value.as_i64().unwrap_or_default().max(0) as u64;
    let flag = || value.as_bool().unwrap_or_default();
    match name {
        "uia.max_focus_nodes" => config.uia.max_focus_nodes = int() as usize,
        "uia.max_context_nodes" => config.uia.max_context_nodes = int() as usize,
        "uia.max_operable_nodes" => config.uia.max_operable_nodes = int() as usize,
        "uia.drop_offscreen" => config.uia.drop_offscreen = flag(),
        "uia.allow_latest_snapshot_fallback" => config.uia.allow_latest_snapshot_fallback = flag(),
        "uia.require_hash_match" => config.uia.require_hash_match = flag(),
        "activity.signal_path" => config.activity_signal = value.as_str().map(PathBuf::from),
        "activity.fresh_seconds" => config.fresh_seconds = int() as u32,
        "ingest.mode" => {
            config.ingest_mode = if value.as_str() == Some("copy") {
                ImportMode::Copy
            } else {
                ImportMode::Hardlink
            }
        }
        "ingest.strict" => config.ingest_strict = flag(),
        "ingest.ledger_fast_path" => config.ledger_fast_path = flag(),
        "server.bind" => config.bind = value.as_str().unwrap_or_default().to_owned(),
        "server.popup_timeout_ms" => config.popup_timeout = Duration::from_millis(int()),
        "server.token_route" => config.token_route = flag(),
        "query.max_citations_default" => config.max_citations_default = int() as usize,
        // Citations are always required: `false` is valid in the schema and has no effect.
        "query.require_citations" if !flag() => config.warnings.push(ConfigWarning {
            code: "config_value_ignored",
            key: name.to_owned(),
            message: "query.require_citations false has no effect: answers always cite".into(),
        }),
        // Validated here; retention is applied by the Hypervisor and judged by the sla gate.
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<Config, ConfigError> {
        parse(text, Path::new("c.json"))
    }

    #[test]
    fn loopback_binds_only() {
        for good in [
            "127.0.0.1:8787",
            "127.5.6.7:1",
            "localhost:80",
            "[::1]:9000",
        ] {
            assert_eq!(loopback_bind(good), Ok(()), "{good}");
        }
        for bad in [
            "0.0.0.0:8787",
            "[::]:8787",
            "10.0.0.1:80",
            "127.0.0.1",
            "127.0.0.1:",
            "127.0.0.1:123456",
            "127.1:80",
            "localhost.evil.com:80",
        ] {
            assert!(loopback_bind(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn values_apply_and_defaults_hold() {
        let config = parsed(
            r#"{"ingest": {"ledger_fast_path": false, "mode": "copy"}, "uia": {"require_hash_match": false, "max_focus_nodes": 10},
                "activity": {"fresh_seconds": 30, "signal_path": "/run/s.json"}, "server": {"popup_timeout_ms": 250},
                "query": {"max_citations_default": 3}, "storage": {"retention_evidence": "144h"}}"#,
        )
        .expect("valid");
        assert!(!config.ledger_fast_path);
        assert_eq!(config.ingest_mode, ImportMode::Copy);
        assert!(config.ingest_strict, "untouched keys keep their default");
        assert!(!config.uia.require_hash_match);
        assert_eq!(config.uia.max_focus_nodes, 10);
        assert_eq!(config.uia.max_context_nodes, 96);
        assert_eq!(config.fresh_seconds, 30);
        assert_eq!(config.activity_signal, Some(PathBuf::from("/run/s.json")));
        assert_eq!(config.popup_timeout, Duration::from_millis(250));
        assert_eq!(config.max_citations_default, 3);
        assert!(config.warnings.is_empty());
    }

    #[test]
    fn bad_values_name_their_key() {
        for (text, key) in [
            (
                r#"{"storage": {"retention_evidence": "0d"}}"#,
                "storage.retention_evidence",
            ),
            (
                r#"{"storage": {"retention_evidence": "6w"}}"#,
                "storage.retention_evidence",
            ),
            (
                r#"{"activity": {"signal_path": ""}}"#,
                "activity.signal_path",
            ),
            (
                r#"{"query": {"max_citations_default": 33}}"#,
                "query.max_citations_default",
            ),
            (r#"{"uia": {"drop_offscreen": 1}}"#, "uia.drop_offscreen"),
        ] {
            let error = parsed(text).expect_err(text);
            assert_eq!(error.code, "config_invalid", "{text}");
            assert_eq!(error.key.as_deref(), Some(key), "{text}");
        }
        let error = parsed(r#"{"server": {"bind": "0.0.0.0:1"}}"#).expect_err("open bind");
        assert_eq!(error.code, "config_bind_not_loopback");
    }

    #[test]
    fn unknown_keys_and_ignored_values_warn() {
        let config = parsed(
            r#"{"extra": 1, "uia": {"new_knob": true}, "query": {"require_citations": false}}"#,
        )
        .expect("accepted");
        let codes: Vec<(&str, &str)> = config
            .warnings
            .iter()
            .map(|w| (w.code, w.key.as_str()))
            .collect();
        assert_eq!(
            codes,
            vec![
                ("config_key_unknown", "extra"),
                ("config_value_ignored", "query.require_citations"),
                ("config_key_unknown", "uia.new_knob"),
            ]
        );
    }
}
