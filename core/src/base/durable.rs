//! Durable atomic replacement of a file: temp file in the same directory → write → fsync →
//! rename → fsync the directory (through [`crate::base::fsops::FileOps`]).
//!
//! Directory fsync is the POSIX way to make a rename or a new directory entry survive power loss.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A per-process unique suffix for temp files: pid, a counter and the clock's nanoseconds.
/// It only needs to avoid collisions between concurrent writers, not to be secret.
fn temp_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}{:x}{:08x}", std::process::id(), n, nanos)
}

/// The temp path used for an atomic write of `dir/name`: `dir/.{name}.{suffix}.tmp`.
pub fn temp_path_for(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}.{}.tmp", temp_suffix()))
}

/// Removes the temp files that earlier atomic writes of `dir/name` left when their process died
/// (see [`temp_path_for`]). Only the one writer of `dir/name` may call this.
pub fn remove_stale_temps(dir: &Path, name: &str) -> io::Result<()> {
    let prefix = format!(".{name}.");
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        if file_name.starts_with(&prefix)
            && file_name.ends_with(".tmp")
            && entry.file_type()?.is_file()
        {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// The crash points of one atomic write (see [`crate::base::crash`]), in the order they are reached.
#[derive(Debug, Clone, Copy)]
pub struct AtomicWritePoints {
    pub before_temp: &'static str,
    pub after_temp_write: &'static str,
    pub after_fsync: &'static str,
    pub after_rename: &'static str,
    pub after_dir_fsync: &'static str,
}

/// Atomically replaces `dir/name` with `bytes`: after this returns, a crash leaves either the
/// old file or the complete new one, never a mix, and no temp file on success. On failure the
/// temp file is removed (best effort) and the old file is untouched.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
    write_atomic_with(&crate::base::fsops::RealFs, dir, name, bytes, None, None)
}

/// A check an atomic write runs just before its rename and again once the rename is durable; an
/// error before stops the write, an error after is the write's error (the caller decides what
/// becomes of the file then).
pub type WriteCheck<'a> = &'a dyn Fn() -> io::Result<()>;

/// [`write_atomic`] through `fs`, passing the given crash points and running `check` (see
/// [`WriteCheck`]).
pub fn write_atomic_with(
    fs: &dyn crate::base::fsops::FileOps,
    dir: &Path,
    name: &str,
    bytes: &[u8],
    points: Option<&AtomicWritePoints>,
    check: Option<WriteCheck<'_>>,
) -> io::Result<PathBuf> {
    let point = |pick: fn(&AtomicWritePoints) -> &'static str| {
        if let Some(points) = points {
            crate::base::crash::point(pick(points));
        }
    };
    point(|p| p.before_temp);
    let temp = temp_path_for(dir, name);
    let target = dir.join(name);
    let result = (|| {
        fs.write_new(&temp, bytes)?;
        point(|p| p.after_temp_write);
        fs.sync_file(&temp)?;
        point(|p| p.after_fsync);
        if let Some(check) = check {
            check()?;
        }
        fs.rename(&temp, &target)?;
        point(|p| p.after_rename);
        fs.sync_dir(dir)?;
        point(|p| p.after_dir_fsync);
        if let Some(check) = check {
            check()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs.remove_file(&temp);
    }
    result.map(|()| target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().expect("temp dir");
        write_atomic(dir.path(), "x.json", b"one").expect("first write");
        let target = write_atomic(dir.path(), "x.json", b"two").expect("second write");
        assert_eq!(fs::read(&target).expect("read back"), b"two");
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("x.json")]);
    }

    #[test]
    fn stale_temps_of_the_name_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().expect("temp dir");
        let stale = temp_path_for(dir.path(), "x.json");
        fs::write(&stale, b"half").expect("plant a stale temp");
        fs::write(dir.path().join(".y.json.1.tmp"), b"other").expect("another name's temp");
        fs::write(dir.path().join("x.json"), b"kept").expect("the file itself");
        remove_stale_temps(dir.path(), "x.json").expect("clean");
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .collect();
        names.sort();
        assert_eq!(names, vec![".y.json.1.tmp".to_owned(), "x.json".to_owned()]);
    }

    #[test]
    fn write_atomic_into_missing_dir_fails_cleanly() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("nope");
        assert!(write_atomic(&missing, "x.json", b"one").is_err());
        assert!(!missing.exists());
    }
}
