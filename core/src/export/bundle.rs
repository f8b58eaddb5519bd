//! Writing a bundle: [`export`] selects evidence through the read-only query handle, sanitises
//! it, writes every file into a temp directory beside the output (fsynced), writes the manifest
//! last, renames the directory into place and appends one audit line. A failure removes the temp
//! directory, so no partial bundle is ever left; the DataRoot's evidence, derived rows and media
//! are only read.
//!
//! Bundle layout: `records/metadata.ndjson` and `records/derived.ndjson` (one JSON object per
//! line: id, record_type, ts_utc, run_id, [source_record_id,] payload), `answer.json` (query
//! selections), `rules.json` (the rules applied), `media/<relpath>` (with media), and
//! `manifest.json`.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Value, json};

use super::error::ExportError;
use super::manifest::{
    MANIFEST_FILE, MANIFEST_SCHEMA, Manifest, ManifestCounts, ManifestFile, ManifestSelection,
    render_value,
};
use super::rules::Rules;
use super::sanitize::{Redactions, Sanitizer};
use super::select::{FRAME_RECORD_TYPE, Row, Selected, Selection, select};
use crate::audit::{AuditEvent, AuditLog};
use crate::base::clock::Clock;
use crate::base::durable::temp_path_for;
use crate::base::fsops::fsync_dir;
use crate::contract::{ContractIdentity, format_ts_utc, sha256_file, sha256_hex};
use crate::handoff::{media_refs, normalize_media_ref};
use crate::query::QueryHandle;
use crate::store::DataRoot;

/// The audit action of an export.
pub const AUDIT_ACTION: &str = "export";

/// What to export and how.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub selection: Selection,
    pub include_media: bool,
    pub rules: Rules,
}

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    pub out: PathBuf,
    pub bundle_digest: String,
    /// Files written, the manifest included.
    pub files: u64,
    pub counts: ManifestCounts,
}

/// The largest rules file read; a rules file is a few hundred bytes of patterns.
pub const MAX_RULES_BYTES: u64 = 1024 * 1024;

/// Reads and parses a rules file (`--rules F`): a regular file of at most [`MAX_RULES_BYTES`].
pub fn load_rules(path: &Path) -> Result<Rules, ExportError> {
    let unreadable = |source| ExportError::RulesUnreadable {
        path: path.to_path_buf(),
        source,
    };
    let file = crate::base::fsops::open_regular(fs::File::options().read(true), path)
        .map_err(unreadable)?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(file, MAX_RULES_BYTES + 1),
        &mut bytes,
    )
    .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_RULES_BYTES {
        return Err(ExportError::RulesInvalid {
            path: path.to_path_buf(),
            reason: format!("larger than {MAX_RULES_BYTES} bytes"),
        });
    }
    let rules = Rules::parse(&bytes).map_err(|reason| ExportError::RulesInvalid {
        path: path.to_path_buf(),
        reason,
    })?;
    Sanitizer::new(&rules).map_err(|reason| ExportError::RulesInvalid {
        path: path.to_path_buf(),
        reason,
    })?;
    Ok(rules)
}

/// Refuses an output that exists and is not an empty directory, or that lies inside the
/// DataRoot (writing there would change what it stores).
fn check_out(data_root: &DataRoot, out: &Path) -> Result<(), ExportError> {
    match fs::symlink_metadata(out) {
        Ok(meta) if meta.is_dir() => {
            let mut entries = fs::read_dir(out).map_err(|source| ExportError::OutUnwritable {
                path: out.to_path_buf(),
                source,
            })?;
            if entries.next().is_some() {
                return Err(ExportError::OutNotEmpty {
                    path: out.to_path_buf(),
                });
            }
        }
        Ok(_) => {
            return Err(ExportError::OutNotEmpty {
                path: out.to_path_buf(),
            });
        }
        Err(_) => {}
    }
    let absolute = |p: &Path| -> PathBuf {
        let joined = if p.is_absolute() {
            p.to_path_buf()
        } else {
            std::env::current_dir().unwrap_or_default().join(p)
        };
        // Resolve the deepest existing ancestor so symlinks and `..` cannot hide the relation.
        let mut existing = joined.as_path();
        let mut rest = Vec::new();
        while !existing.exists() {
            match (existing.parent(), existing.file_name()) {
                (Some(parent), Some(name)) => {
                    rest.push(name.to_owned());
                    existing = parent;
                }
                _ => break,
            }
        }
        let mut resolved = existing
            .canonicalize()
            .unwrap_or_else(|_| existing.to_path_buf());
        for name in rest.iter().rev() {
            resolved.push(name);
        }
        resolved
    };
    let (root, target) = (absolute(&data_root.root), absolute(out));
    if target.starts_with(&root) {
        return Err(ExportError::OutInsideDataRoot {
            path: out.to_path_buf(),
            data_root: data_root.root.clone(),
        });
    }
    Ok(())
}

/// A bundle being written in its temp directory.
struct Writer {
    dir: PathBuf,
    files: Vec<ManifestFile>,
    dirs: BTreeSet<PathBuf>,
}

impl Writer {
    fn err(&self, path: &Path) -> impl Fn(std::io::Error) -> ExportError + use<> {
        let path = path.to_path_buf();
        move |source| ExportError::OutUnwritable {
            path: path.clone(),
            source,
        }
    }

    fn target(&mut self, relpath: &str) -> Result<PathBuf, ExportError> {
        let path = self.dir.join(relpath);
        if let Some(parent) = path.parent()
            && self.dirs.insert(parent.to_path_buf())
        {
            fs::create_dir_all(parent).map_err(self.err(parent))?;
        }
        Ok(path)
    }

    /// Writes `bytes` as `relpath`, fsynced, and lists it.
    fn write(&mut self, relpath: &str, bytes: &[u8]) -> Result<(), ExportError> {
        let path = self.target(relpath)?;
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(self.err(&path))?;
        file.write_all(bytes).map_err(self.err(&path))?;
        file.sync_all().map_err(self.err(&path))?;
        self.files.push(ManifestFile {
            path: relpath.to_owned(),
            sha256: sha256_hex(bytes),
            size: bytes.len() as u64,
        });
        Ok(())
    }

    /// Copies the DataRoot media file `source` as `relpath`, fsynced, and lists it with the
    /// hash of the bytes copied.
    fn copy(&mut self, relpath: &str, source: &Path, record_id: &str) -> Result<(), ExportError> {
        let path = self.target(relpath)?;
        let media_err = |reason: String| ExportError::MediaUnreadable {
            path: source.to_path_buf(),
            record_id: record_id.to_owned(),
            reason,
        };
        let meta = fs::symlink_metadata(source).map_err(|e| media_err(e.to_string()))?;
        if !meta.is_file() {
            return Err(media_err("not a regular file".into()));
        }
        fs::copy(source, &path).map_err(|e| media_err(e.to_string()))?;
        File::open(&path)
            .and_then(|f| f.sync_all())
            .map_err(self.err(&path))?;
        let (sha256, size) = sha256_file(&path).map_err(self.err(&path))?;
        self.files.push(ManifestFile {
            path: relpath.to_owned(),
            sha256,
            size,
        });
        Ok(())
    }

    fn sync_dirs(&self) -> Result<(), ExportError> {
        for dir in self.dirs.iter().chain(std::iter::once(&self.dir)) {
            fsync_dir(dir).map_err(self.err(dir))?;
        }
        Ok(())
    }
}

/// A row as one NDJSON line: the payload sanitised (as JSON when it parses, else as text).
fn record_line(row: &Row, derived: bool, sanitizer: &Sanitizer, counts: &mut Redactions) -> String {
    let mut line = json!({
        "id": row.id,
        "record_type": row.record_type,
        "ts_utc": row.ts_utc,
        "run_id": row.run_id,
    });
    if derived {
        line["source_record_id"] = json!(row.source_record_id);
    }
    match row.payload_json() {
        Some(mut payload) => {
            sanitizer.sanitize_value(&mut payload, counts);
            line["payload"] = payload;
        }
        None => {
            line["payload_text"] = json!(sanitizer.redact_text(&row.payload, counts));
        }
    }
    line.to_string()
}

/// The sanitised selection, ready to write.
struct Prepared {
    metadata: Vec<String>,
    derived: Vec<String>,
    /// (relpath under media/, record id) of each kept frame's media.
    media: BTreeSet<(String, String)>,
    answer: Option<Value>,
    counts: ManifestCounts,
}

fn prepare(selected: &Selected, sanitizer: &Sanitizer) -> Prepared {
    let mut counts = ManifestCounts::default();
    let mut dropped: BTreeSet<&str> = BTreeSet::new();
    for row in &selected.metadata {
        if row
            .payload_json()
            .and_then(|p| sanitizer.dropped_app(&p))
            .is_some()
        {
            dropped.insert(&row.id);
        }
    }
    // A derived row goes with its source frame, and a UIA doc with its snapshot.
    let derived_dropped = |row: &Row| {
        row.source_record_id
            .as_deref()
            .is_some_and(|s| dropped.contains(s))
            || row.payload_json().is_some_and(|p| {
                p.get("uia_record_id")
                    .and_then(Value::as_str)
                    .is_some_and(|s| dropped.contains(s))
                    || sanitizer.dropped_app(&p).is_some()
            })
    };
    let mut metadata = Vec::new();
    let mut media = BTreeSet::new();
    for row in &selected.metadata {
        if dropped.contains(row.id.as_str()) {
            continue;
        }
        if row.record_type.as_deref() == Some(FRAME_RECORD_TYPE)
            && let Some(payload) = row.payload_json()
        {
            for media_ref in media_refs(&payload) {
                if let Ok(relpath) = normalize_media_ref(&media_ref.raw) {
                    media.insert((relpath, row.id.clone()));
                }
            }
        }
        metadata.push(record_line(row, false, sanitizer, &mut counts.redactions));
    }
    let mut derived = Vec::new();
    let mut dropped_derived = BTreeSet::new();
    for row in &selected.derived {
        if derived_dropped(row) {
            dropped_derived.insert(row.id.as_str());
            continue;
        }
        derived.push(record_line(row, true, sanitizer, &mut counts.redactions));
    }
    let answer = selected.answer.as_ref().map(|answer| {
        let mut value = serde_json::to_value(answer).unwrap_or(Value::Null);
        if let Some(citations) = value.get_mut("citations").and_then(Value::as_array_mut) {
            let before = citations.len();
            citations.retain(|c| {
                ["record_id", "frame_id", "doc_id"].iter().all(|key| {
                    c.get(*key)
                        .and_then(Value::as_str)
                        .is_none_or(|id| !dropped.contains(id) && !dropped_derived.contains(id))
                })
            });
            counts.citations = citations.len() as u64;
            counts.citations_dropped = (before - citations.len()) as u64;
        }
        sanitizer.sanitize_value(&mut value, &mut counts.redactions);
        value
    });
    counts.metadata_records = metadata.len() as u64;
    counts.derived_records = derived.len() as u64;
    counts.dropped_records = (dropped.len() + dropped_derived.len()) as u64;
    Prepared {
        metadata,
        derived,
        media,
        answer,
        counts,
    }
}

fn ndjson(lines: &[String]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for line in lines {
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
    }
    bytes
}

fn manifest_selection(selection: &Selection, sanitizer: &Sanitizer) -> ManifestSelection {
    let mut base = ManifestSelection {
        kind: String::new(),
        query: None,
        record_ids: None,
        from: None,
        to: None,
    };
    match selection {
        Selection::Query { text, .. } => {
            base.kind = "query".into();
            base.query = Some(sanitizer.redact_text(text, &mut Redactions::new()));
        }
        Selection::Records(ids) => {
            base.kind = "records".into();
            base.record_ids = Some(ids.clone());
        }
        Selection::TimeRange { from, to } => {
            base.kind = "time_range".into();
            base.from = Some(from.clone());
            base.to = Some(to.clone());
        }
    }
    base
}

/// Writes the bundle into `temp` and returns its manifest.
fn write_bundle(
    data_root: &DataRoot,
    temp: &Path,
    options: &ExportOptions,
    sanitizer: &Sanitizer,
    prepared: Prepared,
    created_at_utc: String,
) -> Result<Manifest, ExportError> {
    let mut writer = Writer {
        dir: temp.to_path_buf(),
        files: Vec::new(),
        dirs: BTreeSet::new(),
    };
    let json_err = |reason: String| ExportError::OutUnwritable {
        path: temp.to_path_buf(),
        source: std::io::Error::other(reason),
    };
    writer.write("records/metadata.ndjson", &ndjson(&prepared.metadata))?;
    writer.write("records/derived.ndjson", &ndjson(&prepared.derived))?;
    let rules = serde_json::to_value(&options.rules).map_err(|e| json_err(e.to_string()))?;
    writer.write("rules.json", &render_value(&rules).map_err(json_err)?)?;
    if let Some(answer) = &prepared.answer {
        writer.write("answer.json", &render_value(answer).map_err(json_err)?)?;
    }
    let mut counts = prepared.counts;
    if options.include_media {
        for (relpath, record_id) in &prepared.media {
            let source = data_root.media_dir().join(relpath);
            writer.copy(&format!("media/{relpath}"), &source, record_id)?;
            counts.media_files += 1;
        }
    }
    writer.files.sort_by(|a, b| a.path.cmp(&b.path));
    let identity = ContractIdentity::embedded().map_err(|e| json_err(e.to_string()))?;
    let mut manifest = Manifest {
        schema: MANIFEST_SCHEMA.to_owned(),
        created_at_utc,
        contract_version: identity.contract_version.clone(),
        schema_hash: identity.schema_hash.clone(),
        selection: manifest_selection(&options.selection, sanitizer),
        rules_sha256: options.rules.sha256(),
        include_media: options.include_media,
        counts,
        files: std::mem::take(&mut writer.files),
        bundle_digest: String::new(),
    };
    manifest.bundle_digest = manifest.compute_digest().map_err(json_err)?;
    let bytes = manifest.render().map_err(json_err)?;
    let path = temp.join(MANIFEST_FILE);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(writer.err(&path))?;
    file.write_all(&bytes).map_err(writer.err(&path))?;
    file.sync_all().map_err(writer.err(&path))?;
    writer.sync_dirs()?;
    Ok(manifest)
}

/// Moves the finished temp directory to `out` (over an empty directory if there is one).
fn publish(temp: &Path, out: &Path) -> Result<(), ExportError> {
    let err = |source| ExportError::OutUnwritable {
        path: out.to_path_buf(),
        source,
    };
    if out.is_dir() {
        // Checked empty before; remove it so the rename works on every platform.
        fs::remove_dir(out).map_err(err)?;
    }
    fs::rename(temp, out).map_err(err)?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        fsync_dir(parent).map_err(err)?;
    }
    Ok(())
}

fn selection_details(selection: &Selection) -> Value {
    match selection {
        Selection::Query { text, .. } => json!({"kind": "query", "query": text}),
        Selection::Records(ids) => json!({"kind": "records", "record_ids": ids}),
        Selection::TimeRange { from, to } => json!({"kind": "time_range", "from": from, "to": to}),
    }
}

/// Exports the selected evidence of `data_root` into a new bundle at `out`, then appends one
/// audit line (`action: export`) to the DataRoot's audit log, also when the export fails after
/// the DataRoot was opened.
pub fn export(
    data_root: &DataRoot,
    out: &Path,
    options: &ExportOptions,
    clock: &dyn Clock,
) -> Result<ExportReport, ExportError> {
    let sanitizer = Sanitizer::new(&options.rules).map_err(|reason| ExportError::RulesInvalid {
        path: PathBuf::from("<rules>"),
        reason,
    })?;
    check_out(data_root, out)?;
    let handle = QueryHandle::open(data_root)?;
    let audit = AuditLog::in_data_root(&data_root.root);
    let result = run(data_root, out, options, &sanitizer, &handle, clock);
    drop(handle);
    let now = clock.now();
    let event = match &result {
        Ok(report) => AuditEvent {
            action: AUDIT_ACTION.into(),
            actor: "autocapture".into(),
            outcome: "ok".into(),
            details: json!({
                "out": out.display().to_string(),
                "selection": selection_details(&options.selection),
                "include_media": options.include_media,
                "rules_sha256": options.rules.sha256(),
                "bundle_digest": report.bundle_digest,
                "files": report.files,
                "metadata_records": report.counts.metadata_records,
                "derived_records": report.counts.derived_records,
                "media_files": report.counts.media_files,
                "dropped_records": report.counts.dropped_records,
            }),
        },
        Err(error) => AuditEvent {
            action: AUDIT_ACTION.into(),
            actor: "autocapture".into(),
            outcome: "failed".into(),
            details: json!({
                "out": out.display().to_string(),
                "selection": selection_details(&options.selection),
                "code": error.code(),
                "error": error.to_string(),
            }),
        },
    };
    match (result, audit.append(&event, now)) {
        (Ok(report), Ok(_)) => Ok(report),
        (Ok(_), Err(audit_error)) => {
            // An export the log does not record is not left behind.
            let _ = fs::remove_dir_all(out);
            Err(audit_error.into())
        }
        (Err(error), _) => Err(error),
    }
}

fn run(
    data_root: &DataRoot,
    out: &Path,
    options: &ExportOptions,
    sanitizer: &Sanitizer,
    handle: &QueryHandle,
    clock: &dyn Clock,
) -> Result<ExportReport, ExportError> {
    let selected = select(handle, &options.selection)?;
    let prepared = prepare(&selected, sanitizer);
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bundle".into());
    fs::create_dir_all(&parent).map_err(|source| ExportError::OutUnwritable {
        path: parent.clone(),
        source,
    })?;
    let temp = temp_path_for(&parent, &format!("{name}.export"));
    fs::create_dir(&temp).map_err(|source| ExportError::OutUnwritable {
        path: temp.clone(),
        source,
    })?;
    let created_at_utc = format_ts_utc(clock.now());
    let written = write_bundle(
        data_root,
        &temp,
        options,
        sanitizer,
        prepared,
        created_at_utc,
    )
    .and_then(|manifest| publish(&temp, out).map(|()| manifest));
    match written {
        Ok(manifest) => Ok(ExportReport {
            out: out.to_path_buf(),
            bundle_digest: manifest.bundle_digest,
            files: manifest.files.len() as u64 + 1,
            counts: manifest.counts,
        }),
        Err(error) => {
            let _ = fs::remove_dir_all(&temp);
            Err(error)
        }
    }
}
