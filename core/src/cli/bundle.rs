//! `autocapture export`: write a sanitised evidence bundle, and verify one.

use serde_json::json;

use super::{CodedError, ExportArgs, Reply, exit, report_document};
use crate::base::clock::SystemClock;
use crate::export::{self, ExportOptions, Rules, Selection};
use crate::store::DataRoot;

fn export_error(error: export::ExportError) -> CodedError {
    let status = if error.is_environment() {
        exit::ENVIRONMENT
    } else {
        exit::FAILED
    };
    let mut coded = CodedError::new(error.code(), format!("failed to export: {error}"), status);
    match &error {
        export::ExportError::RecordUnknown { ids } => coded.extra = json!({"record_ids": ids}),
        export::ExportError::RulesInvalid { path, .. }
        | export::ExportError::RulesUnreadable { path, .. }
        | export::ExportError::OutNotEmpty { path }
        | export::ExportError::OutInsideDataRoot { path, .. }
        | export::ExportError::OutUnwritable { path, .. } => coded.extra = json!({"path": path}),
        _ => {}
    }
    coded
}

pub(super) fn export_bundle(args: &ExportArgs) -> Result<Reply, CodedError> {
    // clap makes both required when no subcommand is given.
    let (Some(data_dir), Some(out)) = (&args.data_dir, &args.out) else {
        return Err(CodedError::new(
            "usage",
            "export needs --data-dir and --out",
            exit::ENVIRONMENT,
        ));
    };
    let selection = match (&args.query, &args.from, &args.to) {
        (Some(text), _, _) => Selection::Query {
            text: text.clone(),
            max_citations: args.max_citations,
        },
        (None, Some(from), Some(to)) => Selection::TimeRange {
            from: from.clone(),
            to: to.clone(),
        },
        _ => Selection::Records(args.records.clone()),
    };
    let rules = match &args.rules {
        Some(path) => export::load_rules(path).map_err(export_error)?,
        None => Rules::default(),
    };
    let report = export::export(
        &DataRoot::new(data_dir),
        out,
        &ExportOptions {
            selection,
            include_media: args.include_media,
            rules,
        },
        &SystemClock,
    )
    .map_err(export_error)?;
    let document = report_document(&report, true)?;
    let c = &report.counts;
    let redactions: Vec<String> = c
        .redactions
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let human = format!(
        "exported {} records, {} derived, {} media files into {} ({} files)\n  dropped {} records; redactions: {}\n  bundle digest {}",
        c.metadata_records,
        c.derived_records,
        c.media_files,
        report.out.display(),
        report.files,
        c.dropped_records,
        if redactions.is_empty() {
            "none".to_owned()
        } else {
            redactions.join(", ")
        },
        report.bundle_digest
    );
    Ok(Reply {
        ok: true,
        json: document,
        human,
    })
}

pub(super) fn export_verify(dir: &std::path::Path) -> Result<Reply, CodedError> {
    let report = export::verify_bundle(dir).map_err(|e| {
        CodedError::new(
            e.code(),
            format!("failed to verify: {e}"),
            exit::ENVIRONMENT,
        )
    })?;
    if let Some(first) = report.problems.first() {
        let mut error = CodedError::new(
            first.code,
            format!(
                "bundle {} does not verify: {}: {} ({} problems)",
                dir.display(),
                first.path,
                first.detail,
                report.problems.len()
            ),
            exit::FAILED,
        );
        error.extra = json!({"path": first.path, "problems": report.problems});
        return Err(error);
    }
    Ok(Reply {
        ok: true,
        json: json!({
            "ok": true,
            "dir": report.dir,
            "files_checked": report.files_checked,
            "bundle_digest": report.bundle_digest,
        }),
        human: format!(
            "bundle ok: {} files, digest {}",
            report.files_checked,
            report.bundle_digest.as_deref().unwrap_or_default()
        ),
    })
}
