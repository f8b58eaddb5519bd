//! The reap marker's promise, checked from outside: a handoff that carries a marker must have
//! every row (all carried columns, storage class and bytes) and every media file in the DataRoot
//! as the handoff holds them now. The mutation explorer, the hostile corpus and the property
//! runs of generated handoff databases all judge a marked handoff with [`broken`].

use std::path::{Path, PathBuf};

use autocapture_core::handoff::{Cell, HandoffDb, MEDIA_DIR};
use rusqlite::{Connection, OpenFlags, OptionalExtension};

/// The handoff's media files, in path order.
pub fn media_files(handoff: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    super::files::files_under(&handoff.join(MEDIA_DIR), &mut out)?;
    out.sort();
    Ok(out)
}

/// What of `handoff` (which has a marker) the DataRoot at `data` does not hold as it is.
pub fn broken(handoff: &Path, data: &Path) -> anyhow::Result<Vec<String>> {
    let name = handoff
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut found = Vec::new();
    let db = match HandoffDb::open(handoff) {
        Ok(db) => db,
        Err(e) => {
            return Ok(vec![format!(
                "{name}: marked, but its database does not read: {e}"
            )]);
        }
    };
    let kept = Connection::open_with_flags(
        data.join("metadata.db"),
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    );
    let kept = match kept {
        Ok(kept) => kept,
        Err(e) => {
            return Ok(vec![format!(
                "{name}: marked, but the DataRoot does not read: {e}"
            )]);
        }
    };
    let mut stmt = kept.prepare(
        "SELECT record_type, ts_utc, payload, run_id, nonce_b64, ciphertext_b64, key_id FROM metadata WHERE id = ?1",
    )?;
    let scanned = db.for_each_row(|_, row| -> anyhow::Result<()> {
        let stored: Option<Vec<Cell>> = stmt
            .query_row([&row.id], |r| {
                (0..7)
                    .map(|i| r.get_ref(i).map(Cell::from))
                    .collect::<Result<Vec<_>, _>>()
            })
            .optional()?;
        let v = &row.values;
        let wanted = [
            &v.record_type,
            &v.ts_utc,
            &v.payload,
            &v.run_id,
            &v.nonce_b64,
            &v.ciphertext_b64,
            &v.key_id,
        ];
        match stored {
            None => found.push(format!("{name}: row {} is not in the DataRoot", row.id)),
            Some(stored) => {
                // A NULL type, time or run is filled from the payload; every other value must be
                // the handoff's own.
                let differs =
                    wanted.iter().zip(&stored).enumerate().any(|(i, (w, s))| {
                        !(*w == s || (matches!(i, 0 | 1 | 3) && **w == Cell::Null))
                    });
                if differs {
                    found.push(format!("{name}: row {} differs in the DataRoot", row.id));
                }
            }
        }
        Ok(())
    });
    if let Err(e) = scanned {
        found.push(format!("{name}: marked, but its rows do not read: {e:#}"));
    }
    let media_root = handoff.join(MEDIA_DIR);
    if media_root.is_dir() {
        for path in media_files(handoff)? {
            let relpath = path.strip_prefix(&media_root)?;
            let kept = data.join(MEDIA_DIR).join(relpath);
            let same = match (std::fs::read(&path), std::fs::read(&kept)) {
                (Ok(a), Ok(b)) => a == b,
                _ => false,
            };
            if !same {
                found.push(format!(
                    "{name}: media/{} is not in the DataRoot with the same bytes",
                    relpath.display()
                ));
            }
        }
    }
    found.truncate(5);
    Ok(found)
}
