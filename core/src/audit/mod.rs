//! The append-only, hash-chained, authenticated audit log of privileged actions (`audit.ndjson`,
//! contract §8).
//!
//! Each line is the canonical JSON of `{schema_version, seq, ts_utc, action, actor, outcome,
//! details, prev_hash, key_id, hash, mac}` with `hash = sha256(canonical(line without hash and
//! mac))`, `prev_hash` the previous line's hash (null on the first line) and `mac` the
//! HMAC-SHA256 of `hash` under the audit key ([`key`]), held outside the DataRoot. Appends hold an
//! exclusive `flock` on the log, check and authenticate the tail before extending it, and fsync.
//! A torn final line left by a failed append is quarantined and recorded ([`repair`]); any other
//! break refuses appends. [`verify`] walks the whole chain and names the first broken line.

pub mod key;
pub mod repair;

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

pub use key::{AUDIT_KEY_ENV, AuditKey, default_key_path};
pub use repair::Repair;

/// File name of the audit log inside a DataRoot.
pub const AUDIT_FILE_NAME: &str = "audit.ndjson";
/// The `schema_version` written on every line (1 was the unauthenticated layout).
pub const AUDIT_SCHEMA_VERSION: u64 = 2;
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
    pub key_id: String,
    pub hash: String,
    pub mac: String,
}

/// The end of a verified chain: how many lines, the last line's hash, and whether every line was
/// authenticated with the key (false when verified without it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditHead {
    pub lines: u64,
    pub last_hash: Option<String>,
    #[serde(default)]
    pub authenticated: bool,
}

impl AuditHead {
    /// A head recorded elsewhere (a reap marker's `audit_head`), to verify against.
    pub fn witness(seq: u64, hash: impl Into<String>) -> AuditHead {
        AuditHead {
            lines: seq,
            last_hash: Some(hash.into()),
            authenticated: false,
        }
    }
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
    /// The line at a recorded head's sequence has another hash (the history was rewritten).
    WitnessMismatch,
    /// The line's `mac` does not authenticate its hash under the key (made without the key).
    MacMismatch,
    /// The line names another key than the one verifying it.
    KeyUnknown,
    /// A `schema_version` 1 line: it carries no `mac`, so anyone could have written it.
    Unauthenticated,
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
            BreakKind::WitnessMismatch => "audit_witness_mismatch",
            BreakKind::MacMismatch => "audit_mac_mismatch",
            BreakKind::KeyUnknown => "audit_key_unknown",
            BreakKind::Unauthenticated => "audit_line_unauthenticated",
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
    #[error("audit key {path}: {detail}")]
    Key {
        path: PathBuf,
        code: &'static str,
        detail: String,
    },
}

impl AuditError {
    pub fn code(&self) -> &'static str {
        match self {
            AuditError::Io { .. } => "audit_io",
            AuditError::Broken { kind, .. } => kind.code(),
            AuditError::EventInvalid { .. } => "audit_event_invalid",
            AuditError::Key { code, .. } => code,
        }
    }
}

/// The audit log of one DataRoot.
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
    key_path: Option<PathBuf>,
}

impl AuditLog {
    /// The log at `<data_root>/audit.ndjson` (created on first append), with the key at
    /// [`default_key_path`].
    pub fn in_data_root(data_root: &Path) -> Self {
        AuditLog::at(data_root.join(AUDIT_FILE_NAME))
    }

    /// The log at an explicit path.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        AuditLog {
            path: path.into(),
            key_path: None,
        }
    }

    /// The same log with the key file at `key_path` instead of the default.
    pub fn with_key_file(mut self, key_path: impl Into<PathBuf>) -> Self {
        self.key_path = Some(key_path.into());
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the key is (or will be created).
    pub fn key_path(&self) -> Result<PathBuf, AuditError> {
        self.key_path
            .clone()
            .or_else(default_key_path)
            .ok_or_else(|| AuditError::Key {
                path: PathBuf::new(),
                code: "audit_key_missing",
                detail: format!("no key location: set {AUDIT_KEY_ENV}, XDG_CONFIG_HOME or HOME"),
            })
    }

    /// The key, created on first use. A key inside the log's own folder (the DataRoot) would
    /// authenticate nothing, so it is refused.
    fn key_for_append(&self) -> Result<AuditKey, AuditError> {
        let key_path = self.key_path()?;
        let key = AuditKey::load_or_create(&key_path)?;
        let folder = self.path.parent().filter(|p| !p.as_os_str().is_empty());
        let folder = folder.and_then(|p| p.canonicalize().ok());
        let key_real = key_path.canonicalize().ok();
        if let (Some(folder), Some(key_real)) = (folder, key_real)
            && key_real.starts_with(&folder)
        {
            return Err(AuditError::Key {
                path: key_path,
                code: "audit_key_in_data_root",
                detail: format!(
                    "the key lies inside {}, beside the log it would authenticate",
                    folder.display()
                ),
            });
        }
        Ok(key)
    }

    /// The key if its file exists (never created by a reader).
    pub fn existing_key(&self) -> Result<Option<AuditKey>, AuditError> {
        AuditKey::load(&self.key_path()?)
    }

    /// Appends `event` at time `now` and returns the line written. A torn last line left by a
    /// failed append is first quarantined and recorded (see [`repair`]); any other damage at the
    /// tail (a line that does not hash, or is not authenticated by the key) refuses the append,
    /// so damage is never buried.
    pub fn append(&self, event: &AuditEvent, now: OffsetDateTime) -> Result<AuditLine, AuditError> {
        let key = self.key_for_append()?;
        let created = !self.path.exists();
        let mut locked = self.open_locked()?;
        let (_, prev_seq, prev_hash) = repair::settle(self, &mut locked.file, &key, now)?;
        let line = seal(event, prev_seq + 1, prev_hash, &key, now)?;
        self.write_line(&mut locked.file, &line)?;
        if created && let Some(parent) = self.path.parent() {
            fsync_dir(parent).map_err(|source| self.io(source))?;
        }
        Ok(line)
    }

    /// Repairs a torn last line (or finishes a repair a crash interrupted) without appending
    /// anything else; empty when there was nothing to repair. Other damage is refused.
    pub fn repair(&self, now: OffsetDateTime) -> Result<Vec<Repair>, AuditError> {
        let key = self.key_for_append()?;
        if !self.path.exists() {
            return Ok(Vec::new());
        }
        let mut locked = self.open_locked()?;
        let (repaired, _, _) = repair::settle(self, &mut locked.file, &key, now)?;
        Ok(repaired)
    }

    /// Verifies the whole chain with the key when its file exists; see [`verify`].
    pub fn verify(&self) -> Result<AuditHead, AuditError> {
        let key = self.existing_key()?;
        verify(&self.path, None, key.as_ref())
    }

    fn io(&self, source: io::Error) -> AuditError {
        AuditError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn open_locked(&self) -> Result<Locked, AuditError> {
        let file = crate::base::fsops::open_regular(
            OpenOptions::new().read(true).append(true).create(true),
            &self.path,
        )
        .map_err(|source| self.io(source))?;
        let lock_handle = file.try_clone().map_err(|source| self.io(source))?;
        let lock = lock_exclusive(lock_handle).map_err(|source| self.io(source))?;
        Ok(Locked { file, _lock: lock })
    }

    /// Writes `line` and its newline at the end and syncs.
    fn write_line(&self, file: &mut File, line: &AuditLine) -> Result<(), AuditError> {
        let mut bytes = encode(line)?;
        if bytes.len() > MAX_LINE_BYTES {
            return Err(AuditError::EventInvalid {
                action: line.action.clone(),
                reason: format!("line of {} bytes exceeds {MAX_LINE_BYTES}", bytes.len()),
            });
        }
        bytes.push(b'\n');
        file.write_all(&bytes).map_err(|source| self.io(source))?;
        file.sync_data().map_err(|source| self.io(source))
    }
}

/// The log file open for appending, under its exclusive lock.
struct Locked {
    file: File,
    _lock: crate::base::lock::ExclusiveLock,
}

/// Builds the line for `event` with its hash and mac.
fn seal(
    event: &AuditEvent,
    seq: u64,
    prev_hash: Option<String>,
    key: &AuditKey,
    now: OffsetDateTime,
) -> Result<AuditLine, AuditError> {
    let unsealed = json!({
        "schema_version": AUDIT_SCHEMA_VERSION,
        "seq": seq,
        "ts_utc": format_ts_utc(now),
        "action": event.action,
        "actor": event.actor,
        "outcome": event.outcome,
        "details": event.details,
        "prev_hash": prev_hash,
        "key_id": key.id(),
    });
    let canonical = canonical_json(&unsealed).map_err(|e| AuditError::EventInvalid {
        action: event.action.clone(),
        reason: e.to_string(),
    })?;
    let hash = sha256_hex(&canonical);
    let mut sealed = unsealed;
    if let Some(object) = sealed.as_object_mut() {
        object.insert("mac".into(), Value::String(key.mac(&hash)));
        object.insert("hash".into(), Value::String(hash));
    }
    serde_json::from_value(sealed).map_err(|e| AuditError::EventInvalid {
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
    if value.get("schema_version") == Some(&json!(1)) {
        return Err((
            BreakKind::Unauthenticated,
            "a schema_version 1 line carries no mac".into(),
        ));
    }
    let line: AuditLine =
        serde_json::from_value(value.clone()).map_err(|e| (BreakKind::NotJson, e.to_string()))?;
    if line.schema_version != AUDIT_SCHEMA_VERSION {
        return Err((
            BreakKind::NotJson,
            format!(
                "schema_version {} is not {AUDIT_SCHEMA_VERSION}",
                line.schema_version
            ),
        ));
    }
    let canonical = canonical_json(&value).map_err(|e| (BreakKind::NotCanonical, e.to_string()))?;
    if canonical != bytes {
        return Err((
            BreakKind::NotCanonical,
            "bytes differ from the canonical form".into(),
        ));
    }
    let mut unsealed: Map<String, Value> = value.as_object().cloned().unwrap_or_default();
    unsealed.remove("hash");
    unsealed.remove("mac");
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

/// Checks that `line` was written with `key`.
fn authenticate(line: &AuditLine, key: &AuditKey) -> Result<(), (BreakKind, String)> {
    if crate::base::crash::planted("audit_mac_unchecked") {
        return Ok(());
    }
    if line.key_id != key.id() {
        return Err((
            BreakKind::KeyUnknown,
            format!(
                "written with key {} but the key is {}",
                line.key_id,
                key.id()
            ),
        ));
    }
    if !key.authenticates(&line.hash, &line.mac) {
        return Err((
            BreakKind::MacMismatch,
            "the mac does not authenticate the line's hash: it was not written with the key".into(),
        ));
    }
    Ok(())
}

/// Verifies the chain at `path` from the first line, and with `key` that every line was written
/// with it. With `expected_head` (a head recorded elsewhere, such as a reap marker's
/// `audit_head`), also checks that the chain holds that line: fewer lines is a cut tail
/// (`audit_tail_missing`), another hash at that sequence a rewritten history
/// (`audit_witness_mismatch`). A missing file is an empty log.
pub fn verify(
    path: &Path,
    expected_head: Option<&AuditHead>,
    key: Option<&AuditKey>,
) -> Result<AuditHead, AuditError> {
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
    let mut witnessed = None;
    let head = match file {
        Some(file) => walk(path, file, key, u64::MAX, expected_head, &mut witnessed)?,
        None => AuditHead {
            lines: 0,
            last_hash: None,
            authenticated: key.is_some(),
        },
    };
    if let Some(expected) = expected_head.filter(|e| e.lines > 0) {
        let broken = |kind: BreakKind, detail: String| AuditError::Broken {
            path: path.to_path_buf(),
            line: expected.lines.min(head.lines + 1),
            kind,
            detail,
        };
        if expected.lines > head.lines {
            return Err(broken(
                BreakKind::MissingTail,
                format!(
                    "chain ends at line {} but line {} with hash {:?} was recorded",
                    head.lines, expected.lines, expected.last_hash
                ),
            ));
        }
        if witnessed != expected.last_hash {
            return Err(broken(
                BreakKind::WitnessMismatch,
                format!(
                    "line {} has hash {:?} but {:?} was recorded",
                    expected.lines, witnessed, expected.last_hash
                ),
            ));
        }
    }
    Ok(head)
}

/// Walks the first `limit` bytes of `file` as a chain; records the hash of the line at
/// `expected_head`'s sequence in `witnessed`.
fn walk(
    path: &Path,
    file: File,
    key: Option<&AuditKey>,
    limit: u64,
    expected_head: Option<&AuditHead>,
    witnessed: &mut Option<String>,
) -> Result<AuditHead, AuditError> {
    let broken = |line: u64, kind: BreakKind, detail: String| AuditError::Broken {
        path: path.to_path_buf(),
        line,
        kind,
        detail,
    };
    let mut head = AuditHead {
        lines: 0,
        last_hash: None,
        authenticated: key.is_some(),
    };
    let mut reader = BufReader::new(file.take(limit));
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
        if let Some(key) = key {
            authenticate(&line, key).map_err(|(kind, detail)| broken(number, kind, detail))?;
        }
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
        if expected_head.is_some_and(|e| e.lines == number) {
            *witnessed = Some(line.hash.clone());
        }
        head.lines = number;
        head.last_hash = Some(line.hash);
    }
    Ok(head)
}

/// The last line of a log.
enum Tail {
    Empty,
    /// The bytes after the last newline (at `start`): an unterminated line, or `None` when longer
    /// than any line may be.
    Torn {
        start: u64,
        bytes: Option<Vec<u8>>,
    },
    Line(Vec<u8>),
}

/// Reads the last line of `file` (without its newline) by scanning backwards from the end, and
/// leaves the file positioned at its end.
fn read_tail_line(file: &mut File) -> io::Result<Tail> {
    let len = file.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(Tail::Empty);
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    let terminated = last[0] == b'\n';
    let body_end = if terminated { len - 1 } else { len };
    let mut start = body_end;
    let mut chunk = vec![0u8; 8192];
    let mut too_long = false;
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
            too_long = true;
            break;
        }
    }
    let bytes = if too_long {
        None
    } else {
        let mut line = vec![0u8; (body_end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut line)?;
        Some(line)
    };
    file.seek(SeekFrom::End(0))?;
    Ok(match (terminated, bytes) {
        (true, Some(line)) => Tail::Line(line),
        (true, None) => Tail::Torn { start, bytes: None },
        (false, bytes) => Tail::Torn { start, bytes },
    })
}
