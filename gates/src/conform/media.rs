//! A handoff's media: every entry under `media/` (Stage 1 imports them all) is a regular file
//! with a UTF-8 name, walked without following a symlink (`stage1::tree`); and every media ref
//! of a payload (found and normalised by the core's `handoff::media_refs` and
//! `normalize_media_ref`) is safe, names a regular file reached through real folders only, and,
//! for a frame's `blob_path`, hashes to the frame's `content_hash`.

use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use autocapture_core::base::fsops::open_regular;
use autocapture_core::contract::digest::sha256_reader;
use autocapture_core::handoff::{MEDIA_DIR, MediaRef, media_refs, normalize_media_ref};
use serde_json::Value;

use super::report::{Collector, Finding};

/// What the walk of `media/` found.
#[derive(Debug, Default)]
pub struct MediaTree {
    pub files: u64,
    /// Paths (relative to the handoff) already reported as not regular.
    reported: BTreeSet<String>,
}

/// Walks `<handoff>/media`: every entry must be a regular file with a UTF-8 name.
pub fn check_tree(handoff: &Path, out: &mut Collector) -> MediaTree {
    out.checked(&[
        "media_not_regular",
        "media_name_invalid",
        "handoff_unreadable",
    ]);
    let mut tree = MediaTree::default();
    let root = handoff.join(MEDIA_DIR);
    match std::fs::symlink_metadata(&root) {
        Err(e) if e.kind() == ErrorKind::NotFound => return tree,
        Err(e) => {
            out.add(Finding::new(
                "handoff_unreadable",
                MEDIA_DIR,
                format!("stat: {e}"),
            ));
            return tree;
        }
        Ok(meta) if !meta.is_dir() => {
            out.add(Finding::new(
                "media_not_regular",
                MEDIA_DIR,
                "media is not a folder (a symlink or a file): nothing under it is read",
            ));
            tree.reported.insert(MEDIA_DIR.to_owned());
            return tree;
        }
        Ok(_) => {}
    }
    let walked = autocapture_core::stage1::tree::walk(
        &root,
        &|path, e| (path.to_path_buf(), e),
        &mut |_, relpath, meta| {
            let shown = format!("{MEDIA_DIR}/{}", relpath.to_string_lossy());
            if relpath.to_str().is_none() {
                out.add(Finding::new(
                    "media_name_invalid",
                    shown.clone(),
                    "a file name that is not UTF-8 cannot be stored as a relpath",
                ));
            }
            if meta.is_file() {
                tree.files += 1;
            } else {
                let kind = meta.file_type();
                let what = if kind.is_symlink() {
                    "a symlink (it could reach outside the handoff)"
                } else {
                    use std::os::unix::fs::FileTypeExt;
                    if kind.is_fifo() {
                        "a FIFO"
                    } else if kind.is_socket() {
                        "a socket"
                    } else {
                        "a device"
                    }
                };
                out.add(Finding::new(
                    "media_not_regular",
                    shown.clone(),
                    format!("{what}, not a regular file"),
                ));
                tree.reported.insert(shown);
            }
            Ok(())
        },
    );
    if let Err((path, e)) = walked {
        let shown = path
            .strip_prefix(handoff)
            .map_or_else(|_| path.clone(), Path::to_path_buf);
        out.add(Finding::new(
            "handoff_unreadable",
            shown.to_string_lossy(),
            format!("walk media: {e}"),
        ));
    }
    tree
}

/// Where a normalised ref leads.
enum Resolved {
    File(PathBuf),
    Missing(String),
    /// A symlink or another non-regular entry on the way (its path relative to the handoff).
    NotRegular(String),
}

/// Follows `relpath` below `<handoff>/media` one component at a time, never through a symlink.
fn resolve(handoff: &Path, relpath: &str) -> std::io::Result<Resolved> {
    let mut path = handoff.join(MEDIA_DIR);
    let mut shown = MEDIA_DIR.to_owned();
    let parts: Vec<&str> = std::iter::once("").chain(relpath.split('/')).collect();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            path.push(part);
            shown = format!("{shown}/{part}");
        }
        let last = i + 1 == parts.len();
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Resolved::Missing(format!("{shown} does not exist")));
            }
            Err(e) => return Err(e),
            Ok(meta) if meta.file_type().is_symlink() => return Ok(Resolved::NotRegular(shown)),
            Ok(meta) if last && meta.is_file() => return Ok(Resolved::File(path)),
            Ok(_) if last => return Ok(Resolved::NotRegular(shown)),
            Ok(meta) if !meta.is_dir() => {
                return Ok(Resolved::Missing(format!("{shown} is not a folder")));
            }
            Ok(_) => {}
        }
    }
    Ok(Resolved::Missing(format!("{shown} names no file")))
}

/// Whether a ref is an absolute path with no `media/` component.
fn absolute_outside_media(raw: &str) -> bool {
    let slashed = raw.replace('\\', "/");
    let trimmed = slashed.trim();
    trimmed.starts_with('/') && !(trimmed.starts_with("/media/") || trimmed.contains("/media/"))
}

/// Checks every media ref of the row `id`'s `payload`; a frame's `blob_path` is hashed and
/// compared with its `content_hash`. Counts the blobs verified.
pub fn check_refs(
    handoff: &Path,
    id: &str,
    is_frame: bool,
    payload: &Value,
    tree: &MediaTree,
    out: &mut Collector,
) -> u64 {
    let declared = payload
        .get("content_hash")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .filter(|h| !h.is_empty());
    let mut verified = 0;
    for MediaRef { key, raw } in media_refs(payload) {
        let quoted: String = raw.chars().take(200).collect();
        let relpath = match normalize_media_ref(&raw) {
            Ok(relpath) => relpath,
            Err(reason) => {
                out.add(
                    Finding::new(
                        "media_ref_unsafe",
                        autocapture_core::handoff::METADATA_DB,
                        format!("{key} {quoted:?} {}", reason.reason()),
                    )
                    .row(id),
                );
                continue;
            }
        };
        let shown = format!("{MEDIA_DIR}/{relpath}");
        if absolute_outside_media(&raw) {
            out.add(
                Finding::new(
                    "media_ref_absolute",
                    shown.clone(),
                    format!("{key} {quoted:?} is an absolute path outside any media/ folder; Stage 1 reads it as {shown}"),
                )
                .row(id),
            );
        }
        let file = match resolve(handoff, &relpath) {
            Ok(Resolved::File(file)) => file,
            Ok(Resolved::Missing(why)) => {
                out.add(
                    Finding::new(
                        "media_ref_missing",
                        shown,
                        format!("{key} {quoted:?}: {why}"),
                    )
                    .row(id),
                );
                continue;
            }
            Ok(Resolved::NotRegular(at)) => {
                if !tree.reported.contains(&at) {
                    out.add(
                        Finding::new(
                            "media_not_regular",
                            at.clone(),
                            format!("{key} {quoted:?} goes through {at}, which is not a regular file or folder"),
                        )
                        .row(id),
                    );
                }
                continue;
            }
            Err(e) => {
                out.add(Finding::new("handoff_unreadable", shown, format!("stat: {e}")).row(id));
                continue;
            }
        };
        let Some(expected) = declared
            .as_deref()
            .filter(|_| is_frame && key.eq_ignore_ascii_case("blob_path"))
        else {
            continue;
        };
        let hashed =
            open_regular(std::fs::File::options().read(true), &file).and_then(sha256_reader);
        match hashed {
            Ok((actual, _)) if actual == expected => verified += 1,
            Ok((actual, bytes)) => out.add(
                Finding::new(
                    "content_hash_mismatch",
                    shown,
                    format!(
                        "the {bytes} bytes hash to {actual}; the frame's content_hash is {expected}"
                    ),
                )
                .row(id),
            ),
            Err(e) => {
                out.add(Finding::new("handoff_unreadable", shown, format!("read: {e}")).row(id))
            }
        }
    }
    verified
}
