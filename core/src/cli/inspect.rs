//! The commands that look: `stage1 audit`, `audit verify` and `contract show`; and `audit
//! repair`, which only finishes what an interrupted append began.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{CodedError, Reply, exit, report_document, require_data_dir};
use crate::audit;
use crate::contract::ContractIdentity;
use crate::stage1::completeness;
use crate::store::DataRoot;

pub(super) fn stage1_audit(data_dir: PathBuf) -> Result<Reply, CodedError> {
    require_data_dir(&data_dir)?;
    let report = completeness::audit(&DataRoot::new(&data_dir)).map_err(|e| {
        CodedError::new(
            "data_root_store_error",
            format!("failed to audit {}: {e}", data_dir.display()),
            exit::ENVIRONMENT,
        )
    })?;
    let document = report_document(&report, true)?;
    let blocked: Vec<String> = report
        .blocked
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let human = format!(
        "{} frames, {} queryable in {} windows; blocked: {}",
        report.frames_total,
        report.frames_queryable,
        report.windows_total,
        if blocked.is_empty() {
            "none".to_owned()
        } else {
            blocked.join(", ")
        }
    );
    Ok(Reply {
        ok: true,
        json: document,
        human,
    })
}

pub(super) fn contract_show() -> Result<Reply, CodedError> {
    let identity = ContractIdentity::embedded()
        .map_err(|e| CodedError::new(e.code(), e.to_string(), exit::ENVIRONMENT))?;
    Ok(Reply {
        ok: true,
        json: json!({"ok": true, "contract_version": identity.contract_version, "schema_hash": identity.schema_hash}),
        human: format!(
            "contract_version {}\nschema_hash {}",
            identity.contract_version, identity.schema_hash
        ),
    })
}

pub(super) fn audit_verify(
    data_dir: PathBuf,
    witnesses: &[PathBuf],
    chain_only: bool,
) -> Result<Reply, CodedError> {
    require_dir(&data_dir)?;
    let log = audit::AuditLog::in_data_root(&data_dir);
    let key = if chain_only {
        None
    } else {
        match log.existing_key().map_err(audit_error)? {
            Some(key) => Some(key),
            None => {
                let path = log.key_path().map_err(audit_error)?;
                let mut error = CodedError::new(
                    "audit_key_missing",
                    format!(
                        "no audit key at {}: lines cannot be authenticated (--chain-only checks \
                         the chain alone)",
                        path.display()
                    ),
                    exit::FAILED,
                );
                error.extra = json!({"path": path.to_string_lossy()});
                return Err(error);
            }
        }
    };
    let mut heads = Vec::new();
    for path in witnesses {
        heads.push((path, witness_of(path)?));
    }
    let mut head = audit::verify(log.path(), None, key.as_ref()).map_err(audit_error)?;
    for (path, witness) in &heads {
        audit::verify(log.path(), Some(witness), key.as_ref()).map_err(|e| {
            let mut error = audit_error(e);
            error.extra["witness"] = json!(path.to_string_lossy());
            error
        })?;
    }
    head.authenticated = key.is_some();
    Ok(Reply {
        ok: true,
        json: json!({
            "ok": true,
            "lines": head.lines,
            "last_hash": head.last_hash,
            "authenticated": head.authenticated,
            "key_id": key.as_ref().map(|k| k.id()),
            "witnesses": heads.len(),
        }),
        human: format!(
            "audit ok: {} lines, {}{}, head {}",
            head.lines,
            match &key {
                Some(key) => format!("every line authenticated with key {}", key.id()),
                None => "chain only (lines not authenticated)".to_owned(),
            },
            if heads.is_empty() {
                String::new()
            } else {
                format!(", {} witness(es) held", heads.len())
            },
            head.last_hash.as_deref().unwrap_or("(empty)"),
        ),
    })
}

pub(super) fn audit_repair(data_dir: PathBuf) -> Result<Reply, CodedError> {
    require_dir(&data_dir)?;
    let log = audit::AuditLog::in_data_root(&data_dir);
    let repairs = log
        .repair(crate::base::clock::Clock::now(
            &crate::base::clock::SystemClock,
        ))
        .map_err(audit_error)?;
    let listed: Vec<Value> = repairs
        .iter()
        .map(|r| {
            json!({"torn_bytes": r.torn_bytes, "torn_sha256": r.torn_sha256,
                   "quarantine": r.quarantine.to_string_lossy(), "seq": r.line.seq})
        })
        .collect();
    let human = if repairs.is_empty() {
        format!("audit log {}: nothing to repair", log.path().display())
    } else {
        repairs
            .iter()
            .map(|r| {
                format!(
                    "repaired: {} torn bytes (sha256 {}) moved to {}, recorded as line {}",
                    r.torn_bytes,
                    r.torn_sha256,
                    r.quarantine.display(),
                    r.line.seq
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    Ok(Reply {
        ok: true,
        json: json!({"ok": true, "repairs": listed}),
        human,
    })
}

fn require_dir(data_dir: &Path) -> Result<(), CodedError> {
    if data_dir.is_dir() {
        return Ok(());
    }
    let mut error = CodedError::new(
        "data_dir_missing",
        format!("data dir {} is not a directory", data_dir.display()),
        exit::ENVIRONMENT,
    );
    error.extra = json!({"path": data_dir.to_string_lossy()});
    Err(error)
}

/// The `audit_head` of a reap marker, as a head the log must hold.
fn witness_of(path: &Path) -> Result<audit::AuditHead, CodedError> {
    let parsed: Result<Value, String> = std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()));
    let head = parsed.and_then(|v| {
        match (
            v["audit_head"]["seq"].as_u64(),
            v["audit_head"]["hash"].as_str(),
        ) {
            (Some(seq), Some(hash)) => Ok(audit::AuditHead::witness(seq, hash)),
            _ => Err("no audit_head {seq, hash}".to_owned()),
        }
    });
    head.map_err(|detail| {
        let mut error = CodedError::new(
            "audit_witness_invalid",
            format!("witness {}: {detail}", path.display()),
            exit::FAILED,
        );
        error.extra = json!({"path": path.to_string_lossy()});
        error
    })
}

/// A broken chain or line is the log's fault (exit 1); anything else the environment's (2).
fn audit_error(e: audit::AuditError) -> CodedError {
    match e {
        audit::AuditError::Broken {
            path,
            line,
            kind,
            detail,
        } => {
            let mut error = CodedError::new(
                kind.code(),
                format!(
                    "audit log {} is broken at line {line}: {detail}",
                    path.display()
                ),
                exit::FAILED,
            );
            error.extra = json!({"path": path.to_string_lossy(), "line": line});
            error
        }
        audit::AuditError::Key { path, code, detail } => {
            let mut error = CodedError::new(
                code,
                format!("audit key {}: {detail}", path.display()),
                exit::ENVIRONMENT,
            );
            error.extra = json!({"path": path.to_string_lossy()});
            error
        }
        e => CodedError::new(e.code(), format!("audit log: {e}"), exit::ENVIRONMENT),
    }
}
