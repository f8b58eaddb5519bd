//! The commands that only look: `stage1 audit`, `audit verify` and `contract show`.

use std::path::PathBuf;

use serde_json::json;

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

pub(super) fn audit_verify(data_dir: PathBuf) -> Result<Reply, CodedError> {
    if !data_dir.is_dir() {
        return Err(CodedError::new(
            "data_dir_missing",
            format!("data dir {} is not a directory", data_dir.display()),
            exit::ENVIRONMENT,
        ));
    }
    match audit::AuditLog::in_data_root(&data_dir).verify() {
        Ok(head) => Ok(Reply {
            ok: true,
            json: json!({"ok": true, "lines": head.lines, "last_hash": head.last_hash}),
            human: format!(
                "audit ok: {} lines, head {}",
                head.lines,
                head.last_hash.as_deref().unwrap_or("(empty)")
            ),
        }),
        Err(audit::AuditError::Broken {
            path,
            line,
            kind,
            detail,
        }) => {
            let mut error = CodedError::new(
                kind.code(),
                format!(
                    "audit log {} is broken at line {line}: {detail}",
                    path.display()
                ),
                exit::FAILED,
            );
            error.extra = json!({"path": path, "line": line});
            Err(error)
        }
        Err(e) => Err(CodedError::new(
            e.code(),
            format!("failed to verify audit log: {e}"),
            exit::ENVIRONMENT,
        )),
    }
}
