//! Recovery from a torn final line: the bytes an interrupted append left (the disk filled, the
//! process died mid-write) are moved aside into `<log>.quarantine/` and replaced by an
//! `audit.repair` line that records their length and sha256, so Stage 1 is not wedged and the
//! damage stays on record.
//!
//! Only a tail that is detectably this program's own unfinished line is repaired: bytes after the
//! last newline that are the start of a canonical audit line (`{"action":"…`), no longer than a
//! line may be, after a chain that verifies and authenticates whole. Anything else (an edited,
//! reordered or deleted line, a foreign tail) still refuses appends with its code.
//!
//! Steps, each durable before the next, so a crash at any point is finished by the next append:
//! the torn bytes are written to `pending-after-<seq>-<sha256>.torn`; the log is cut back to its
//! last newline; the repair line is appended; the file is renamed to `after-<seq>-<sha256>.torn`.
//! A `pending-` file found later is recorded (unless the last line already records it) and
//! renamed.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde_json::json;
use time::OffsetDateTime;

use super::{
    AuditError, AuditEvent, AuditKey, AuditLine, AuditLog, BreakKind, MAX_LINE_BYTES, Tail,
    authenticate, check_line, read_tail_line, seal, walk,
};
use crate::base::fsops::fsync_dir;
use crate::contract::sha256_hex;

/// The action of the line that records a repair.
pub const REPAIR_ACTION: &str = "audit.repair";
/// How every canonical audit line starts (its keys are sorted, `action` first).
const LINE_START: &[u8] = b"{\"action\":\"";
const PENDING: &str = "pending-";

/// One torn tail moved aside and recorded.
#[derive(Debug, Clone)]
pub struct Repair {
    pub torn_bytes: u64,
    pub torn_sha256: String,
    pub quarantine: PathBuf,
    pub line: AuditLine,
}

/// The folder beside `log` that holds quarantined tails.
pub fn quarantine_dir(log: &Path) -> PathBuf {
    let name = log
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    log.with_file_name(format!("{name}.quarantine"))
}

/// Whether `fragment` (the bytes after the last newline) can be the start of one of our lines.
fn looks_like_our_line(fragment: &[u8]) -> bool {
    fragment.len() <= MAX_LINE_BYTES
        && (LINE_START.starts_with(fragment)
            || fragment.starts_with(LINE_START)
            || crate::base::crash::planted("audit_repair_any_tail"))
}

fn broken(path: &Path, kind: BreakKind, detail: String) -> AuditError {
    AuditError::Broken {
        path: path.to_path_buf(),
        line: 0,
        kind,
        detail,
    }
}

/// Brings the locked log to a whole, authenticated tail (repairing a torn one and finishing an
/// interrupted repair) and returns the repairs made and the last line's seq and hash.
pub(super) fn settle(
    log: &AuditLog,
    file: &mut File,
    key: &AuditKey,
    now: OffsetDateTime,
) -> Result<(Vec<Repair>, u64, Option<String>), AuditError> {
    let path = log.path();
    let io = |source| AuditError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tail = match read_tail_line(file).map_err(io)? {
        Tail::Torn { start, bytes } => {
            let fragment = bytes.ok_or_else(|| {
                broken(
                    path,
                    BreakKind::NotJson,
                    format!("last line is longer than {MAX_LINE_BYTES} bytes; refusing to append"),
                )
            })?;
            if !looks_like_our_line(&fragment) {
                return Err(broken(
                    path,
                    BreakKind::Truncated,
                    "last line has no newline and is not the start of an audit line; refusing \
                     to append"
                        .into(),
                ));
            }
            quarantine(log, file, key, start, &fragment)?;
            // The log now ends at its last whole line.
            read_tail_line(file).map_err(io)?
        }
        whole => whole,
    };
    let last = match tail {
        Tail::Empty => None,
        Tail::Line(bytes) => Some(
            check_line(&bytes)
                .and_then(|line| authenticate(&line, key).map(|()| line))
                .map_err(|(kind, detail)| {
                    broken(
                        path,
                        kind,
                        format!("last line: {detail}; refusing to append"),
                    )
                })?,
        ),
        Tail::Torn { .. } => {
            return Err(broken(
                path,
                BreakKind::Truncated,
                "last line has no newline after the repair; refusing to append".into(),
            ));
        }
    };
    finish_pending(log, file, key, now, last)
}

/// Verifies the chain before the torn bytes, writes them to a pending quarantine file and cuts
/// them from the log.
fn quarantine(
    log: &AuditLog,
    file: &mut File,
    key: &AuditKey,
    start: u64,
    fragment: &[u8],
) -> Result<(), AuditError> {
    let path = log.path();
    let io = |at: &Path| {
        let at = at.to_path_buf();
        move |source| AuditError::Io { path: at, source }
    };
    // A repair never buries older damage: the chain before the torn bytes must be whole.
    let reader = File::open(path).map_err(io(path))?;
    let head = walk(path, reader, Some(key), start, None, &mut None)?;
    let dir = quarantine_dir(path);
    {
        use std::os::unix::fs::DirBuilderExt;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io(&dir))?;
    }
    let name = format!(
        "{PENDING}after-{}-{}.torn",
        head.lines,
        sha256_hex(fragment)
    );
    let pending = dir.join(name);
    let mut out = crate::base::fsops::open_regular(
        OpenOptions::new().write(true).create(true).truncate(true),
        &pending,
    )
    .map_err(io(&pending))?;
    out.write_all(fragment).map_err(io(&pending))?;
    out.sync_all().map_err(io(&pending))?;
    fsync_dir(&dir).map_err(io(&dir))?;
    if let Some(parent) = dir.parent() {
        fsync_dir(parent).map_err(io(parent))?;
    }
    file.set_len(start).map_err(io(path))?;
    file.sync_all().map_err(io(path))?;
    file.seek(SeekFrom::End(0)).map_err(io(path))?;
    Ok(())
}

/// Records every pending quarantine file (unless `last` already records it) and gives it its
/// final name.
fn finish_pending(
    log: &AuditLog,
    file: &mut File,
    key: &AuditKey,
    now: OffsetDateTime,
    mut last: Option<AuditLine>,
) -> Result<(Vec<Repair>, u64, Option<String>), AuditError> {
    let dir = quarantine_dir(log.path());
    let io = |at: &Path| {
        let at = at.to_path_buf();
        move |source: io::Error| AuditError::Io { path: at, source }
    };
    let mut pending: Vec<String> = match fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| name.starts_with(PENDING))
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io(&dir)(e)),
    };
    pending.sort();
    let mut repairs = Vec::new();
    for name in pending {
        let from = dir.join(&name);
        let to = dir.join(&name[PENDING.len()..]);
        let torn = fs::read(&from).map_err(io(&from))?;
        let torn_sha256 = sha256_hex(&torn);
        let recorded = last.as_ref().is_some_and(|line| {
            line.action == REPAIR_ACTION && line.details["torn_sha256"] == json!(torn_sha256)
        });
        if !recorded {
            let event = AuditEvent {
                action: REPAIR_ACTION.into(),
                actor: "autocapture".into(),
                outcome: "ok".into(),
                details: json!({
                    "torn_bytes": torn.len(),
                    "torn_sha256": torn_sha256,
                    "quarantine": to.to_string_lossy(),
                    "after_seq": last.as_ref().map_or(0, |l| l.seq),
                }),
            };
            let line = seal(
                &event,
                last.as_ref().map_or(0, |l| l.seq) + 1,
                last.as_ref().map(|l| l.hash.clone()),
                key,
                now,
            )?;
            log.write_line(file, &line)?;
            repairs.push(Repair {
                torn_bytes: torn.len() as u64,
                torn_sha256,
                quarantine: to.clone(),
                line: line.clone(),
            });
            last = Some(line);
        }
        fs::rename(&from, &to).map_err(io(&from))?;
        fsync_dir(&dir).map_err(io(&dir))?;
    }
    Ok((
        repairs,
        last.as_ref().map_or(0, |l| l.seq),
        last.map(|l| l.hash),
    ))
}
