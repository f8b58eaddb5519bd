//! The append-only, hash-chained audit log of privileged actions (`audit.ndjson`, contract §8).
//!
//! Each line is the canonical JSON of `{schema_version, seq, ts_utc, action, actor, outcome,
//! details, prev_hash, hash}` with `hash = sha256(canonical(line without hash))` and `prev_hash`
//! the previous line's hash (null on the first line). Appends hold an exclusive `flock` on the
//! log, check the tail before extending it, and fsync. [`verify`] walks the whole chain and
//! names the first broken line.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use thiserror::Error;
use time::OffsetDateTime;

use crate::base::fsops::fsync_dir;
use crate::base::lock::lock_exclusive;
use crate::contract::{canonical_json, format_ts_utc, sha256_hex};

/// File name of the audit log inside a DataRoot.
pub const AUDIT_FILE_NAME: &str = "audit.ndjson";
/// The `schema_version` written on every line.
pub const AUDIT_SCHEMA_VERSION: u64 = 1;
/// Lines longer than this are refused on append and reported as broken on verify.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// What happened, by whom, and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub action: String,
    pub actor: String,
    pub outcome: String,
    pub details: Value,
}

/// A line of the log as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditLine {
    pub schema_version: u64,
    pub seq: u64,
    pub ts_utc: String,
    pub action: String,
    pub actor: String,
    pub outcome: String,
    pub details: Value,
    pub prev_hash: Option<String>,
    pub hash: String,
}

/// The end of a verified chain: how many lines and the last line's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditHead {
    pub lines: u64,
    pub last_hash: Option<String>,
}

/// Why a line breaks the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// The last line has no terminating newline (a torn or truncated write).
    Truncated,
    /// The line is not a JSON object with the audit fields.
    NotJson,
    /// The line's bytes are not the canonical JSON of its content.
    NotCanonical,
    /// `hash` does not match the line's content (the line was edited).
    HashMismatch,
    /// `prev_hash` does not match the previous line (a line was deleted, inserted or reordered).
    ChainMismatch,
    /// `seq` is not the previous line's plus one.
    SeqGap,
    /// The chain is intact but ends before the expected head (lines were cut from the end).
    MissingTail,
}

impl BreakKind {
    pub fn code(self) -> &'static str {
        match self {
            BreakKind::Truncated => "audit_line_truncated",
            BreakKind::NotJson => "audit_line_not_json",
            BreakKind::NotCanonical => "audit_line_not_canonical",
            BreakKind::HashMismatch => "audit_hash_mismatch",
            BreakKind::ChainMismatch => "audit_chain_mismatch",
            BreakKind::SeqGap => "audit_seq_gap",
            BreakKind::MissingTail => "audit_tail_missing",
        }
    }
}

/// Errors of the audit log.
#[derive(Debug, Error)]
pub enum AuditError {
    #[error("access audit log {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("audit log {path} is broken at line {line} ({}): {detail}", kind.code())]
    Broken {
        path: PathBuf,
        line: u64,
        kind: BreakKind,
        detail: String,
    },
    #[error("encode audit event {action}: {reason}")]
    EventInvalid { action: String, reason: String },
}

impl AuditError {
    pub fn code(&self) -> &'static str {
        match self {
            AuditError::Io { .. } => "audit_io",
            AuditError::Broken { kind, .. } => kind.code(),
            AuditError::EventInvalid { .. } => "audit_event_invalid",
        }
    }
}

/// The audit log of one DataRoot.
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
}

impl AuditLog {
    /// The log at `<data_root>/audit.ndjson` (created on first append).
    pub fn in_data_root(data_root: &Path) -> Self {
        AuditLog {
            path: data_root.join(AUDIT_FILE_NAME),
        }
    }

    /// The log at an explicit path.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        AuditLog { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `event` at time `now` and returns the line written. Refuses to extend a log
    /// whose last line is torn or does not hash correctly, so damage is never buried.
    pub fn append(&self, event: &AuditEvent, now: OffsetDateTime) -> Result<AuditLine, AuditError> {
        let io_err = |source| AuditError::Io {
            path: self.path.clone(),
            source,
        };
        let created = !self.path.exists();
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&self.path)
            .map_err(io_err)?;
        let lock_handle = file.try_clone().map_err(io_err)?;
        let _lock = lock_exclusive(lock_handle).map_err(io_err)?;
        let mut file = file;
        let tail = read_tail_line(&mut file).map_err(io_err)?;
        let (prev_seq, prev_hash) = match tail {
            Tail::Empty => (0, None),
            Tail::Torn => {
                return Err(AuditError::Broken {
                    path: self.path.clone(),
                    line: 0,
                    kind: BreakKind::Truncated,
                    detail: "last line has no newline; refusing to append".into(),
                });
            }
            Tail::Line(bytes) => {
                let line = check_line(&bytes).map_err(|(kind, detail)| AuditError::Broken {
                    path: self.path.clone(),
                    line: 0,
                    kind,
                    detail: format!("last line: {detail}; refusing to append"),
                })?;
                (line.seq, Some(line.hash))
            }
        };
        let line = seal(event, prev_seq + 1, prev_hash, now)?;
        let mut bytes = encode(&line)?;
        if bytes.len() > MAX_LINE_BYTES {
            return Err(AuditError::EventInvalid {
                action: event.action.clone(),
                reason: format!("line of {} bytes exceeds {MAX_LINE_BYTES}", bytes.len()),
            });
        }
        bytes.push(b'\n');
        file.write_all(&bytes).map_err(io_err)?;
        file.sync_data().map_err(io_err)?;
        if created && let Some(parent) = self.path.parent() {
            fsync_dir(parent).map_err(io_err)?;
        }
        Ok(line)
    }

    /// Verifies the whole chain; see [`verify`].
    pub fn verify(&self) -> Result<AuditHead, AuditError> {
        verify(&self.path, None)
    }
}

/// Builds the line for `event` with its hash.
fn seal(
    event: &AuditEvent,
    seq: u64,
    prev_hash: Option<String>,
    now: OffsetDateTime,
) -> Result<AuditLine, AuditError> {
    let mut unsealed = json!({
        "schema_version": AUDIT_SCHEMA_VERSION,
        "seq": seq,
        "ts_utc": format_ts_utc(now),
        "action": event.action,
        "actor": event.actor,
        "outcome": event.outcome,
        "details": event.details,
        "prev_hash": prev_hash,
    });
    let canonical = canonical_json(&unsealed).map_err(|e| AuditError::EventInvalid {
        action: event.action.clone(),
        reason: e.to_string(),
    })?;
    let hash = sha256_hex(&canonical);
    if let Some(object) = unsealed.as_object_mut() {
        object.insert("hash".into(), Value::String(hash));
    }
    serde_json::from_value(unsealed).map_err(|e| AuditError::EventInvalid {
        action: event.action.clone(),
        reason: e.to_string(),
    })
}

fn encode(line: &AuditLine) -> Result<Vec<u8>, AuditError> {
    let value = serde_json::to_value(line).map_err(|e| AuditError::EventInvalid {
        action: line.action.clone(),
        reason: e.to_string(),
    })?;
    canonical_json(&value).map_err(|e| AuditError::EventInvalid {
        action: line.action.clone(),
        reason: e.to_string(),
    })
}

/// Checks one line on its own: parses, is canonical, and its hash matches its content.
fn check_line(bytes: &[u8]) -> Result<AuditLine, (BreakKind, String)> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| (BreakKind::NotJson, e.to_string()))?;
    let line: AuditLine =
        serde_json::from_value(value.clone()).map_err(|e| (BreakKind::NotJson, e.to_string()))?;
    let canonical = canonical_json(&value).map_err(|e| (BreakKind::NotCanonical, e.to_string()))?;
    if canonical != bytes {
        return Err((
            BreakKind::NotCanonical,
            "bytes differ from the canonical form".into(),
        ));
    }
    let mut unsealed: Map<String, Value> = value.as_object().cloned().unwrap_or_default();
    unsealed.remove("hash");
    let expected = canonical_json(&Value::Object(unsealed))
        .map(|bytes| sha256_hex(&bytes))
        .map_err(|e| (BreakKind::NotCanonical, e.to_string()))?;
    if expected != line.hash {
        return Err((
            BreakKind::HashMismatch,
            format!("hash {} but content hashes to {expected}", line.hash),
        ));
    }
    Ok(line)
}

/// Verifies the chain at `path` from the first line. With `expected_head`, also checks that the
/// chain reaches at least that head (a head recorded elsewhere detects lines cut from the end).
/// A missing file is an empty log.
pub fn verify(path: &Path, expected_head: Option<&AuditHead>) -> Result<AuditHead, AuditError> {
    let broken = |line: u64, kind: BreakKind, detail: String| AuditError::Broken {
        path: path.to_path_buf(),
        line,
        kind,
        detail,
    };
    let file = match File::open(path) {
        Ok(file) => Some(file),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(AuditError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let mut head = AuditHead {
        lines: 0,
        last_hash: None,
    };
    let mut seen_hashes = Vec::new();
    if let Some(file) = file {
        let mut reader = BufReader::new(file);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let n = (&mut reader)
                .take(MAX_LINE_BYTES as u64 + 1)
                .read_until(b'\n', &mut buf)
                .map_err(|source| AuditError::Io {
                    path: path.to_path_buf(),
                    source,
                })?;
            if n == 0 {
                break;
            }
            let number = head.lines + 1;
            if buf.last() != Some(&b'\n') {
                let kind = if buf.len() > MAX_LINE_BYTES {
                    BreakKind::NotJson
                } else {
                    BreakKind::Truncated
                };
                return Err(broken(
                    number,
                    kind,
                    format!("line of {} bytes without a newline", buf.len()),
                ));
            }
            let line = check_line(&buf[..buf.len() - 1])
                .map_err(|(kind, detail)| broken(number, kind, detail))?;
            if line.prev_hash != head.last_hash {
                return Err(broken(
                    number,
                    BreakKind::ChainMismatch,
                    format!(
                        "prev_hash {:?} but the previous line's hash is {:?}",
                        line.prev_hash, head.last_hash
                    ),
                ));
            }
            if line.seq != number {
                return Err(broken(
                    number,
                    BreakKind::SeqGap,
                    format!("seq {} where {number} was expected", line.seq),
                ));
            }
            head.lines = number;
            head.last_hash = Some(line.hash.clone());
            if expected_head.is_some() {
                seen_hashes.push(line.hash);
            }
        }
    }
    if let Some(expected) = expected_head {
        let reached = expected.lines <= head.lines
            && (expected.lines == 0
                || seen_hashes.get(expected.lines as usize - 1).map(Some)
                    == Some(expected.last_hash.as_ref()));
        if !reached {
            return Err(broken(
                head.lines + 1,
                BreakKind::MissingTail,
                format!(
                    "chain ends at line {} but line {} with hash {:?} was recorded",
                    head.lines, expected.lines, expected.last_hash
                ),
            ));
        }
    }
    Ok(head)
}

enum Tail {
    Empty,
    Torn,
    Line(Vec<u8>),
}

/// Reads the last line of `file` (without its newline) by scanning backwards from the end.
fn read_tail_line(file: &mut File) -> io::Result<Tail> {
    let len = file.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(Tail::Empty);
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    if last[0] != b'\n' {
        return Ok(Tail::Torn);
    }
    let body_end = len - 1;
    let mut start = body_end;
    let mut chunk = vec![0u8; 8192];
    while start > 0 {
        let read_len = (start as usize).min(chunk.len());
        let from = start - read_len as u64;
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut chunk[..read_len])?;
        if let Some(pos) = chunk[..read_len].iter().rposition(|&b| b == b'\n') {
            start = from + pos as u64 + 1;
            break;
        }
        start = from;
        if body_end - start > MAX_LINE_BYTES as u64 {
            return Ok(Tail::Torn);
        }
    }
    let mut line = vec![0u8; (body_end - start) as usize];
    file.seek(SeekFrom::Start(start))?;
    file.read_exact(&mut line)?;
    file.seek(SeekFrom::End(0))?;
    Ok(Tail::Line(line))
}
