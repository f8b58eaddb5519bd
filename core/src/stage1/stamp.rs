//! Stamps of a handoff's files: enough to tell that the handoff changed while it was ingested.
//!
//! A file's stamp is `(dev, inode, size, mtime, ctime)`. Every write moves the ctime and no
//! program can set it back (setting the mtime back moves it too), and a replaced file has another
//! inode, so a file whose stamp is unchanged holds the bytes it held when the stamp was taken.
//! The database's stamp adds the first bytes of `metadata.db` (SQLite's header, with its change
//! counter) and of `metadata.db-wal` (the WAL header, with its salts): a writer that appends, or
//! rewrites the database in place, changes it. `-shm` is runtime state and is left out.
//!
//! Stage 1 stamps the database before it opens it and each media file when it has verified the
//! bytes that reach the DataRoot; just before the marker the handoff is stamped again and must
//! match (see `ingest`).

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::handoff::{MEDIA_DIR, METADATA_DB};
use crate::stage1::tree;

/// The database files of a handoff that carry its rows.
const DB_FILES: [&str; 3] = ["metadata.db", "metadata.db-wal", "metadata.db-journal"];
/// Header bytes read from `metadata.db` (SQLite's database header).
const DB_HEADER: usize = 100;
/// Header bytes read from `metadata.db-wal` (the WAL header).
const WAL_HEADER: usize = 32;

/// One file's identity and last change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    /// A regular file (not a folder, symlink, FIFO, socket or device).
    pub regular: bool,
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
}

impl FileStamp {
    pub fn of(meta: &fs::Metadata) -> FileStamp {
        FileStamp {
            regular: meta.is_file(),
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: meta.mtime().saturating_mul(1_000_000_000) + meta.mtime_nsec(),
            ctime_ns: meta.ctime().saturating_mul(1_000_000_000) + meta.ctime_nsec(),
        }
    }
}

/// The database's files (absent ones as `None`) and header bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbStamp {
    files: Vec<(&'static str, Option<FileStamp>)>,
    headers: Vec<u8>,
}

impl DbStamp {
    /// Each database file by name, `None` when absent (or an empty `-wal` / `-journal`).
    pub fn files(&self) -> &[(&'static str, Option<FileStamp>)] {
        &self.files
    }
}

/// A whole handoff: its database and every file under `media/` by relative path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoffStamp {
    pub db: DbStamp,
    pub media: BTreeMap<String, FileStamp>,
}

/// Appends up to `limit` first bytes of `path` when it is a regular file (a FIFO or a folder
/// in its place is never opened: the stamp alone records it, and reading the handoff refuses it).
fn first_bytes(path: &Path, limit: usize, out: &mut Vec<u8>) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    match crate::base::fsops::open_regular(fs::File::options().read(true), path) {
        Ok(file) => {
            file.take(limit as u64).read_to_end(out)?;
            Ok(())
        }
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound
                    | io::ErrorKind::InvalidInput
                    | io::ErrorKind::PermissionDenied
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Stamps the database files of `handoff_root`.
pub fn db_stamp(handoff_root: &Path) -> io::Result<DbStamp> {
    let mut files = Vec::with_capacity(DB_FILES.len());
    for name in DB_FILES {
        let stamp = match fs::symlink_metadata(handoff_root.join(name)) {
            // An empty `-wal` or `-journal` holds nothing: a reader opening a WAL database
            // creates an empty `-wal`, and that is no change.
            Ok(meta) if name != METADATA_DB && meta.is_file() && meta.len() == 0 => None,
            Ok(meta) => Some(FileStamp::of(&meta)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        files.push((name, stamp));
    }
    let mut headers = Vec::with_capacity(DB_HEADER + WAL_HEADER);
    first_bytes(&handoff_root.join(METADATA_DB), DB_HEADER, &mut headers)?;
    headers.push(b'|');
    first_bytes(
        &handoff_root.join(format!("{METADATA_DB}-wal")),
        WAL_HEADER,
        &mut headers,
    )?;
    Ok(DbStamp { files, headers })
}

/// Stamps every entry under `<handoff_root>/media` (folders are walked; anything else that is
/// not a regular file is stamped too, so that it shows up as a difference).
pub fn media_stamps(handoff_root: &Path) -> io::Result<BTreeMap<String, FileStamp>> {
    let root = handoff_root.join(MEDIA_DIR);
    let mut out = BTreeMap::new();
    match fs::symlink_metadata(&root) {
        Ok(meta) if meta.is_dir() => {
            let parts = tree::walk_parallel(
                &root,
                walk_threads(),
                &Vec::new,
                &|_, e| e,
                &|part: &mut Vec<(String, FileStamp)>, _, relpath, meta| {
                    part.push((relpath.to_string_lossy().into_owned(), FileStamp::of(meta)));
                    Ok(())
                },
            )?;
            out = parts.into_iter().flatten().collect();
        }
        Ok(meta) => {
            out.insert(String::new(), FileStamp::of(&meta));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    Ok(out)
}

/// Threads that stamp a media tree: its folders are shared out among them.
fn walk_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// The handoff is not what was verified; the words say what differs. Carried inside an
/// `io::Error` by the marker write's check.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Changed(pub String);

/// `Err(Changed)` (in an `io::Error`) when the handoff reached through `handoff_root` no longer
/// matches `verified`. Each file is compared as the walk meets it; only a handoff that differs
/// is stamped whole, to say how.
pub fn check(handoff_root: &Path, verified: &HandoffStamp) -> io::Result<()> {
    if db_stamp(handoff_root)? == verified.db && media_matches(handoff_root, &verified.media)? {
        return Ok(());
    }
    match difference(verified, &take(handoff_root)?) {
        None => Ok(()),
        Some(detail) => Err(io::Error::other(Changed(detail))),
    }
}

/// Whether the files under `<handoff_root>/media` are exactly `verified`: the same paths, each
/// with the same stamp. `false` as soon as one differs.
fn media_matches(handoff_root: &Path, verified: &BTreeMap<String, FileStamp>) -> io::Result<bool> {
    enum Stop {
        Io(io::Error),
        Differs,
    }
    let root = handoff_root.join(MEDIA_DIR);
    match fs::symlink_metadata(&root) {
        Ok(meta) if meta.is_dir() => {}
        // `media` that is not a folder is stamped under the empty path; let `difference` judge.
        Ok(_) => return Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(verified.is_empty()),
        Err(e) => return Err(e),
    }
    let walked = tree::walk_parallel(
        &root,
        walk_threads(),
        &|| 0usize,
        &|_, e| Stop::Io(e),
        &|seen: &mut usize, _, relpath, meta| match relpath
            .to_str()
            .and_then(|relpath| verified.get(relpath))
        {
            Some(stamp) if *stamp == FileStamp::of(meta) => {
                *seen += 1;
                Ok(())
            }
            _ => Err(Stop::Differs),
        },
    );
    match walked {
        // Every file seen was verified, with its stamp; none is missing when the counts agree.
        Ok(seen) => Ok(seen.iter().sum::<usize>() == verified.len()),
        Err(Stop::Differs) => Ok(false),
        Err(Stop::Io(e)) => Err(e),
    }
}

/// Stamps the whole handoff.
pub fn take(handoff_root: &Path) -> io::Result<HandoffStamp> {
    Ok(HandoffStamp {
        db: db_stamp(handoff_root)?,
        media: media_stamps(handoff_root)?,
    })
}

/// The first difference between what was verified and what the handoff holds now, in words;
/// `None` when they match.
pub fn difference(verified: &HandoffStamp, now: &HandoffStamp) -> Option<String> {
    if verified.db != now.db {
        let changed: Vec<&str> = verified
            .db
            .files
            .iter()
            .zip(&now.db.files)
            .filter(|(a, b)| a != b)
            .map(|(a, _)| a.0)
            .collect();
        return Some(if changed.is_empty() {
            "the database header changed".to_owned()
        } else {
            format!("{} changed", changed.join(", "))
        });
    }
    for (relpath, stamp) in &verified.media {
        match now.media.get(relpath) {
            None => return Some(format!("media/{relpath} was removed")),
            Some(now) if now != stamp => {
                let what = if (now.dev, now.ino) != (stamp.dev, stamp.ino) {
                    "was replaced"
                } else {
                    "was written"
                };
                return Some(format!("media/{relpath} {what}"));
            }
            Some(_) => {}
        }
    }
    now.media
        .keys()
        .find(|relpath| !verified.media.contains_key(*relpath))
        .map(|relpath| format!("media/{relpath} was added"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handoff() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(dir.path().join("metadata.db"), b"SQLite format 3\0rest").expect("db");
        fs::create_dir_all(dir.path().join("media/a")).expect("media");
        fs::write(dir.path().join("media/a/one.png"), b"one").expect("one");
        dir
    }

    fn check_words(dir: &Path, verified: &HandoffStamp) -> Option<String> {
        match check(dir, verified) {
            Ok(()) => None,
            Err(e) => Some(
                e.get_ref()
                    .and_then(|inner| inner.downcast_ref::<Changed>())
                    .expect("a change")
                    .0
                    .clone(),
            ),
        }
    }

    #[test]
    fn the_check_says_what_the_difference_says() {
        let dir = handoff();
        fs::create_dir_all(dir.path().join("media/b")).expect("media");
        fs::write(dir.path().join("media/b/two.png"), b"two").expect("two");
        let verified = take(dir.path()).expect("stamp");
        assert_eq!(check_words(dir.path(), &verified), None);
        fs::write(dir.path().join("media/b/three.png"), b"3").expect("add");
        assert_eq!(
            check_words(dir.path(), &verified).as_deref(),
            Some("media/b/three.png was added")
        );
        fs::remove_file(dir.path().join("media/b/three.png")).expect("rm");
        assert_eq!(check_words(dir.path(), &verified), None);
        fs::write(dir.path().join("media/b/two.png"), b"2").expect("rewrite");
        assert_eq!(
            check_words(dir.path(), &verified).as_deref(),
            Some("media/b/two.png was written")
        );
        fs::remove_dir_all(dir.path().join("media")).expect("rm media");
        assert_eq!(
            check_words(dir.path(), &verified).as_deref(),
            Some("media/a/one.png was removed")
        );
    }

    #[test]
    fn an_untouched_handoff_matches_itself() {
        let dir = handoff();
        let first = take(dir.path()).expect("stamp");
        assert_eq!(difference(&first, &take(dir.path()).expect("stamp")), None);
    }

    #[test]
    fn a_rewrite_with_the_mtime_set_back_is_seen() {
        let dir = handoff();
        let first = take(dir.path()).expect("stamp");
        let path = dir.path().join("media/a/one.png");
        let before = fs::metadata(&path).expect("meta");
        fs::write(&path, b"two").expect("rewrite");
        let mtime = before.modified().expect("mtime");
        fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|file| file.set_modified(mtime))
            .expect("set the mtime back");
        assert_eq!(
            fs::metadata(&path).expect("meta").modified().ok(),
            Some(mtime)
        );
        assert_eq!(
            difference(&first, &take(dir.path()).expect("stamp")).as_deref(),
            Some("media/a/one.png was written")
        );
    }

    #[test]
    fn added_removed_and_appended_files_are_seen() {
        let dir = handoff();
        let first = take(dir.path()).expect("stamp");
        fs::write(dir.path().join("media/a/two.png"), b"2").expect("add");
        assert_eq!(
            difference(&first, &take(dir.path()).expect("stamp")).as_deref(),
            Some("media/a/two.png was added")
        );
        fs::remove_file(dir.path().join("media/a/two.png")).expect("rm");
        fs::remove_file(dir.path().join("media/a/one.png")).expect("rm");
        assert_eq!(
            difference(&first, &take(dir.path()).expect("stamp")).as_deref(),
            Some("media/a/one.png was removed")
        );
        let again = handoff();
        let first = take(again.path()).expect("stamp");
        fs::write(again.path().join("metadata.db-wal"), b"").expect("an empty wal");
        assert_eq!(
            difference(&first, &take(again.path()).expect("stamp")),
            None
        );
        fs::write(again.path().join("metadata.db-wal"), b"frames").expect("wal");
        assert_eq!(
            difference(&first, &take(again.path()).expect("stamp")).as_deref(),
            Some("metadata.db-wal changed")
        );
    }
}
