//! Durable file-system primitives: fsync of a directory, and atomic replacement of a file
//! (temp file in the same directory → write → fsync → rename → fsync the directory).
//!
//! Directory fsync is the POSIX way to make a rename or a new directory entry survive power loss.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Flushes the directory entry table of `dir` to stable storage.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

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

/// Atomically replaces `dir/name` with `bytes`: after this returns, a crash leaves either the
/// old file or the complete new one, never a mix, and no temp file on success. On failure the
/// temp file is removed (best effort) and the old file is untouched.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
    let temp = temp_path_for(dir, name);
    let target = dir.join(name);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, &target)?;
        fsync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
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
    fn write_atomic_into_missing_dir_fails_cleanly() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("nope");
        assert!(write_atomic(&missing, "x.json", b"one").is_err());
        assert!(!missing.exists());
    }
}
