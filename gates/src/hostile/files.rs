//! File helpers the hostile suite shares: every file under a folder, and a rewrite that size and
//! modification time alone do not show.

use std::fs;
use std::path::{Path, PathBuf};

/// Rewrites `path` in place with every bit flipped (same size) and sets its modification time
/// back: a write that size and mtime alone do not show.
pub fn rewrite_keeping_mtime(path: &Path) -> std::io::Result<()> {
    let before = fs::metadata(path)?;
    let flipped: Vec<u8> = fs::read(path)?.iter().map(|b| !b).collect();
    fs::write(path, flipped)?;
    fs::File::options()
        .write(true)
        .open(path)?
        .set_modified(before.modified()?)
}

/// Every file below `dir`.
pub fn files_under(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if fs::symlink_metadata(&path)?.is_dir() {
            files_under(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}
