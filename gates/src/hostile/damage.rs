//! The damages a hostile case applies to its copy of the base handoff (or to the DataRoot it is
//! ingested into), by the `damage` name of its spec:
//!
//! | damage | does |
//! |---|---|
//! | `none` | nothing (the case is in its limits or its command) |
//! | `remove` | removes `path` |
//! | `truncate` | keeps the first `keep_bytes` or `keep_fraction` of `path` |
//! | `overwrite` | writes `keep_bytes` bytes of `hex` (repeated) at `offset` of `path` |
//! | `write` | replaces `path` with `text` |
//! | `replace_with_dir` | replaces `path` with an empty folder |
//! | `new_database` | replaces `metadata.db` with a database made by `sql` |
//! | `sql` | runs `sql` on `metadata.db` (`{first_frame}`, `{first_snapshot}` expand to ids, `{data_db}` to the case DataRoot's database) |
//! | `duplicate_baseline_id` | adds a row with an id the DataRoot holds, with another payload |
//! | `deep_payload` | adds a row whose payload nests `depth` arrays |
//! | `deep_frame_field` | gives the first frame a field nesting `depth` objects |
//! | `huge_title` | gives the first frame's window a title of `keep_bytes` bytes |
//! | `symlink` | makes `path` a symlink to `text` |
//! | `fifo` | makes `path` a FIFO |
//! | `non_utf8_name` | adds a file whose name is not UTF-8 under `path` |
//! | `flip_first_blob`, `remove_first_blob` | flips the last byte of / removes the first frame's blob |
//! | `data_conflict` | puts other bytes at the first blob's path in the DataRoot |
//! | `grow_during_import` | nothing here: the in-process run appends to a blob mid-import |
//! | `huge_snapshot` | gives the first frame's snapshot `nodes` operables |
//! | `snapshot_rect` | sets every rect of that snapshot to the raw JSON text `rect` |
//! | `fallback_snapshot` | deletes that snapshot's row and puts it in the DataRoot's fallback with the sidecar `text` |
//! | `signal` | writes the DataRoot's activity signal, `age_s` seconds old (idle), or `text` |
//! | `read_only_data_dir` | the child sees the DataRoot read-only |
//! | `data_dir_file`, `remove_handoff` | the data dir is a file / the handoff is gone |
//! | `data_dir_in_handoff`, `data_dir_in_spool` | moves the DataRoot into the handoff / the spool, leaving a symlink at the data dir path |

use std::fs;
use std::path::Path;

use anyhow::{Context, bail};
use rusqlite::Connection;
use serde_json::Value;

use super::spec::CaseSpec;
use crate::probe::measure::Limits;

const FIRST_FRAME: &str =
    "(SELECT min(id) FROM metadata WHERE record_type = 'evidence.capture.frame')";

fn first_snapshot() -> String {
    format!(
        "(SELECT json_extract(payload, '$.uia_ref.record_id') FROM metadata WHERE id = {FIRST_FRAME})"
    )
}

fn need<'a, T>(case: &'a CaseSpec, value: &'a Option<T>, field: &str) -> anyhow::Result<&'a T> {
    value
        .as_ref()
        .with_context(|| format!("case {}: damage {} needs `{field}`", case.name, case.damage))
}

fn open(handoff: &Path) -> anyhow::Result<Connection> {
    Ok(Connection::open(handoff.join("metadata.db"))?)
}

fn payload_of(conn: &Connection, id_sql: &str) -> anyhow::Result<(String, String)> {
    Ok(conn.query_row(
        &format!("SELECT id, payload FROM metadata WHERE id = {id_sql}"),
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

fn first_blob(handoff: &Path) -> anyhow::Result<std::path::PathBuf> {
    let conn = open(handoff)?;
    let (_, payload) = payload_of(&conn, FIRST_FRAME)?;
    let frame: Value = serde_json::from_str(&payload)?;
    let raw = frame["blob_path"]
        .as_str()
        .context("the first frame has no blob_path")?;
    let relpath = autocapture_core::handoff::normalize_media_ref(raw)
        .map_err(|e| anyhow::anyhow!("blob_path {raw:?}: {e:?}"))?;
    Ok(handoff.join("media").join(relpath))
}

/// Applies `case`'s damage to `handoff` and `data`; may tighten the child's `limits`.
pub fn apply(
    case: &CaseSpec,
    handoff: &Path,
    data: &Path,
    limits: &mut Limits,
) -> anyhow::Result<()> {
    let path = || -> anyhow::Result<std::path::PathBuf> {
        Ok(handoff.join(need(case, &case.path, "path")?))
    };
    match case.damage.as_str() {
        "none" | "grow_during_import" | "append_row_at_commit" | "rewrite_media_at_commit" => {}
        "remove" => fs::remove_file(path()?)?,
        "truncate" => {
            let target = path()?;
            let bytes = fs::read(&target)?;
            let keep = match (case.keep_bytes, case.keep_fraction) {
                (Some(n), _) => n as usize,
                (None, Some(f)) => (bytes.len() as f64 * f) as usize,
                _ => bail!(
                    "case {}: truncate needs keep_bytes or keep_fraction",
                    case.name
                ),
            };
            fs::write(&target, &bytes[..keep.min(bytes.len())])?;
        }
        "overwrite" => {
            let target = path()?;
            let mut bytes = fs::read(&target)?;
            let pattern = hex::decode(need(case, &case.hex, "hex")?)?;
            let start = *need(case, &case.offset, "offset")? as usize;
            let len = *need(case, &case.keep_bytes, "keep_bytes")? as usize;
            anyhow::ensure!(
                !pattern.is_empty() && start + len <= bytes.len(),
                "case {}: overwrite outside the file ({} bytes)",
                case.name,
                bytes.len()
            );
            for (i, byte) in bytes[start..start + len].iter_mut().enumerate() {
                *byte = pattern[i % pattern.len()];
            }
            fs::write(&target, bytes)?;
        }
        "write" => fs::write(path()?, need(case, &case.text, "text")?)?,
        "replace_with_dir" => {
            let target = path()?;
            fs::remove_file(&target)?;
            fs::create_dir(&target)?;
        }
        "new_database" => {
            fs::remove_file(handoff.join("metadata.db"))?;
            open(handoff)?.execute_batch(need(case, &case.sql, "sql")?)?;
        }
        "sql" => {
            let sql = need(case, &case.sql, "sql")?
                .replace("{first_frame}", FIRST_FRAME)
                .replace("{first_snapshot}", &first_snapshot())
                .replace("{data_db}", &data.join("metadata.db").to_string_lossy());
            open(handoff)?
                .execute_batch(&sql)
                .with_context(|| format!("case {}: run its sql", case.name))?;
        }
        "duplicate_baseline_id" => {
            // The case's own copy of the DataRoot: opening the shared base would create and
            // remove its `-wal` while other cases copy it.
            let baseline = Connection::open(data.join("metadata.db"))?;
            let (id, record_type, ts, run): (String, String, String, String) = baseline
                .query_row(
                    "SELECT id, record_type, ts_utc, run_id FROM metadata WHERE record_type = 'evidence.window.meta' ORDER BY id LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .context("a window row of the baseline")?;
            open(handoff)?.execute(
                "INSERT INTO metadata (id, record_type, ts_utc, payload, run_id) VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![id, record_type, ts, r#"{"record_type":"evidence.window.meta","hostile":"a different payload"}"#, run],
            )?;
        }
        "deep_payload" => {
            let depth = *need(case, &case.depth, "depth")?;
            let payload = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            open(handoff)?.execute(
                "INSERT INTO metadata (id, record_type, ts_utc, payload, run_id) VALUES ('run1/odd/deep', 'odd', '2026-02-20T09:00:00Z', ?1, 'run1')",
                [payload],
            )?;
        }
        "deep_frame_field" => {
            let depth = *need(case, &case.depth, "depth")?;
            let conn = open(handoff)?;
            let (id, payload) = payload_of(&conn, FIRST_FRAME)?;
            let nested = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
            let text = payload
                .strip_suffix('}')
                .map(|head| format!("{head},\"hostile\":{nested}}}"))
                .context("the first frame is not a JSON object")?;
            conn.execute(
                "UPDATE metadata SET payload = ?1 WHERE id = ?2",
                rusqlite::params![text, id],
            )?;
        }
        "huge_title" => {
            let bytes = *need(case, &case.keep_bytes, "keep_bytes")? as usize;
            open(handoff)?.execute(
                &format!("UPDATE metadata SET payload = json_set(payload, '$.window_ref.window.title', ?1) WHERE id = {FIRST_FRAME}"),
                ["t".repeat(bytes)],
            )?;
        }
        "symlink" => std::os::unix::fs::symlink(need(case, &case.text, "text")?, path()?)?,
        "fifo" => nix::unistd::mkfifo(&path()?, nix::sys::stat::Mode::from_bits_truncate(0o644))?,
        "non_utf8_name" => {
            use std::os::unix::ffi::OsStrExt;
            let name = std::ffi::OsStr::from_bytes(b"bad\xff\xfename.blob");
            fs::write(path()?.join(name), b"bytes")?;
        }
        "flip_first_blob" => {
            let blob = first_blob(handoff)?;
            let mut bytes = fs::read(&blob)?;
            if let Some(last) = bytes.last_mut() {
                *last ^= 0xff;
            }
            fs::write(&blob, bytes)?;
        }
        "remove_first_blob" => fs::remove_file(first_blob(handoff)?)?,
        "data_conflict" => {
            let blob = first_blob(handoff)?;
            let relpath = blob.strip_prefix(handoff.join("media"))?;
            let dest = data.join("media").join(relpath);
            fs::create_dir_all(dest.parent().context("a blob path has a folder")?)?;
            fs::write(&dest, b"someone else's bytes")?;
        }
        "huge_snapshot" => {
            let nodes = *need(case, &case.nodes, "nodes")?;
            let conn = open(handoff)?;
            let (id, payload) = payload_of(&conn, &first_snapshot())?;
            // The snapshot with a mark where its operables go, then the nodes written straight
            // into the one string that is stored (a payload of ~150 MB is held once, not thrice).
            let skeleton = replace_section(&payload, "operables", MARK_TOKEN)?;
            let (before, after) = skeleton
                .split_once(MARK_TOKEN)
                .context("the snapshot's mark went missing")?;
            let mut snapshot = String::with_capacity(before.len() + nodes * 150 + after.len());
            snapshot.push_str(before);
            snapshot.push('[');
            for i in 0..nodes {
                if i > 0 {
                    snapshot.push(',');
                }
                let (x, y) = (i % 1000, (i / 1000) % 700);
                use std::fmt::Write as _;
                let _ = write!(
                    snapshot,
                    r#"{{"eid":"n{i}","role":"Button","name":"b{i}","aid":"","class":"","rect":[{x},{y},{},{}],"enabled":true,"offscreen":false}}"#,
                    x + 20,
                    y + 10
                );
            }
            snapshot.push(']');
            snapshot.push_str(after);
            conn.execute(
                "UPDATE metadata SET payload = ?1 WHERE id = ?2",
                rusqlite::params![snapshot, id],
            )?;
        }
        "snapshot_rect" => {
            let rect = need(case, &case.rect, "rect")?;
            let conn = open(handoff)?;
            let (id, payload) = payload_of(&conn, &first_snapshot())?;
            let mut value: Value = serde_json::from_str(&payload)?;
            const MARK: &str = "\u{1}RECT\u{1}";
            for section in ["focus_path", "context_peers", "operables"] {
                for node in value[section].as_array_mut().into_iter().flatten() {
                    node["rect"] = Value::String(MARK.to_owned());
                }
            }
            let text = serde_json::to_string(&value)?.replace(&serde_json::to_string(MARK)?, rect);
            conn.execute(
                "UPDATE metadata SET payload = ?1 WHERE id = ?2",
                rusqlite::params![text, id],
            )?;
        }
        "fallback_snapshot" => {
            let conn = open(handoff)?;
            let (id, payload) = payload_of(&conn, &first_snapshot())?;
            conn.execute("DELETE FROM metadata WHERE id = ?1", [&id])?;
            let uia = data.join("uia");
            fs::create_dir_all(&uia)?;
            fs::write(uia.join("latest.snap.json"), payload)?;
            fs::write(
                uia.join("latest.snap.sha256"),
                need(case, &case.text, "text")?,
            )?;
        }
        "signal" => {
            let text = match (&case.text, case.age_s) {
                (Some(text), _) => text.clone(),
                (None, Some(age)) => {
                    let ts = time::OffsetDateTime::now_utc() - time::Duration::seconds(age);
                    serde_json::json!({
                        "ts_utc": autocapture_core::contract::format_ts_utc(ts),
                        "idle_seconds": 600,
                        "user_active": false,
                    })
                    .to_string()
                }
                _ => bail!("case {}: signal needs text or age_s", case.name),
            };
            fs::write(data.join("activity_signal.json"), text)?;
        }
        "read_only_data_dir" => {
            if nix::unistd::geteuid().is_root() {
                // Root ignores mode bits: the child gets a read-only mount of the folder.
                limits.read_only.push(data.to_path_buf());
            } else {
                set_writable(data, false)?;
            }
        }
        "data_dir_file" => {
            fs::remove_dir_all(data)?;
            fs::write(data, b"a file where the data dir should be")?;
        }
        "remove_handoff" => fs::remove_dir_all(handoff)?,
        "data_dir_in_handoff" | "data_dir_in_spool" => {
            let host = if case.damage == "data_dir_in_handoff" {
                handoff
            } else {
                handoff.parent().context("the handoff has no spool")?
            };
            // Absolute: a relative target would be read from the link's folder, not from here.
            let inside = std::path::absolute(host.join("dataroot"))?;
            fs::rename(data, &inside)?;
            std::os::unix::fs::symlink(&inside, data)?;
        }
        other => bail!("case {}: unknown damage {other:?}", case.name),
    }
    Ok(())
}

/// Undoes what would stop the harness from reading the result (permissions).
pub fn undo(case: &CaseSpec, _handoff: &Path, data: &Path) -> anyhow::Result<()> {
    if case.damage == "read_only_data_dir" && !nix::unistd::geteuid().is_root() {
        set_writable(data, true)?;
    }
    Ok(())
}

fn set_writable(dir: &Path, writable: bool) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d)? {
            let path = entry?.path();
            if fs::symlink_metadata(&path)?.is_dir() {
                stack.push(path);
            }
        }
        let mode = if writable { 0o755 } else { 0o555 };
        fs::set_permissions(&d, fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// A token no snapshot holds, standing for a section's array until it is written.
const MARK_TOKEN: &str = "\u{1}OPERABLES\u{1}";

/// `payload` with its top-level array `section` replaced by the raw JSON text `array`.
fn replace_section(payload: &str, section: &str, array: &str) -> anyhow::Result<String> {
    let mut value: Value = serde_json::from_str(payload)?;
    const MARK: &str = "\u{1}SECTION\u{1}";
    let object = value
        .as_object_mut()
        .context("the snapshot is not a JSON object")?;
    object.insert(section.to_owned(), Value::String(MARK.to_owned()));
    Ok(serde_json::to_string(&value)?.replace(&serde_json::to_string(MARK)?, array))
}
