//! Media files of a handoff on their way into the DataRoot (contract §1.4, §2).
//!
//! - [`check_tree`] walks the handoff's `media/` (refusing anything that is not a directory or a
//!   regular file), hashes every file on `workers` threads and decides, against the DataRoot,
//!   whether it must be imported or is already there; results go to a scratch database. It runs
//!   on its own thread while the ingest scans the rows.
//! - [`import_checked`] links (or copies, verified and fsynced) every file marked for import.
//!   It also runs on its own thread, while the ingest copies the rows.
//!
//! Nothing outside the handoff's `media/` is ever read, and an existing file in the DataRoot is
//! never overwritten.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::base::crash;
use crate::base::durable::temp_path_for;
use crate::base::fsops::FileOps;
use crate::base::pace::{Pacer, pace};
use crate::stage1::error::{IngestError, io_err, store_err};
use crate::stage1::options::ImportMode;
use crate::stage1::stamp::FileStamp;
use crate::stage1::tree;

/// Folder of the DataRoot where copies are made before they are linked into `media/`; only the
/// lock holder writes there, and every ingest removes it before and after it runs.
pub const TEMP_DIR: &str = ".ingest-tmp";

/// Files checked per parallel batch.
const BATCH: usize = 256;

/// Schema of the scratch database shared by the media threads and the ingest.
pub const SCRATCH_SCHEMA: &str = "
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
CREATE TABLE checked (relpath TEXT PRIMARY KEY, size INTEGER NOT NULL, sha256 TEXT NOT NULL, import INTEGER NOT NULL, linked INTEGER NOT NULL,
    dev INTEGER NOT NULL, ino INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL);
CREATE TABLE imported (relpath TEXT PRIMARY KEY, dev INTEGER NOT NULL, ino INTEGER NOT NULL);
";

/// What [`check_tree`] found.
#[derive(Debug, Default, Clone, Copy)]
pub struct TreeCheck {
    pub files: u64,
    pub present: u64,
}

/// A file the DataRoot recorded when it imported it.
struct KnownMedia {
    sha256: String,
    size: u64,
    dev: u64,
    ino: u64,
}

/// A file as the walk of the tree listed it: its path under `media/` and its `lstat`.
struct Listed {
    relpath: String,
    meta: fs::Metadata,
}

struct Checked {
    relpath: String,
    size: u64,
    sha256: String,
    /// The DataRoot does not hold the file yet.
    import: bool,
    /// Imported already, as a link made and then hashed here.
    linked: bool,
    /// The handoff file's stamp once its bytes were verified: any later write moves it.
    stamp: FileStamp,
}

/// Where the media check links and copies.
pub struct CheckPlan<'a> {
    pub media_root: &'a Path,
    pub dest_root: &'a Path,
    /// The DataRoot's evidence database, whose `media_files` table lets a file that is the very
    /// inode imported earlier skip hashing.
    pub known_db: &'a Path,
    pub scratch: &'a Path,
    pub workers: usize,
    pub mode: ImportMode,
    pub fs: &'a dyn FileOps,
    /// Counters bumped per batch of files checked.
    pub progress: Option<&'a crate::stage1::progress::IngestProgress>,
}

/// Walks, hashes and checks every file under `media_root`, writing one `checked` row per file
/// into the scratch database. In hardlink mode a file the DataRoot lacks is linked into place
/// first and hashed there, so the bytes verified are the bytes the DataRoot holds (see
/// [`check_file`]); linked files also get their `imported` row.
pub fn check_tree(
    plan: &CheckPlan<'_>,
    pacer: Option<&Arc<Pacer>>,
) -> Result<TreeCheck, IngestError> {
    let (media_root, scratch, known_db) = (plan.media_root, plan.scratch, plan.known_db);
    let mut summary = TreeCheck::default();
    if fs::symlink_metadata(media_root).is_err() {
        return Ok(summary);
    }
    // The scratch database is thrown away after the run (and before the next): no journal, no
    // sync, on this connection as on the ingest's.
    let out = Connection::open(scratch)
        .and_then(|out| {
            out.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")?;
            Ok(out)
        })
        .map_err(store_err(scratch))?;
    let known = open_known(known_db)?;
    let mut batch: Vec<Listed> = Vec::with_capacity(BATCH);
    let flush = |batch: &mut Vec<Listed>, summary: &mut TreeCheck| -> Result<(), IngestError> {
        let known: Vec<Option<KnownMedia>> = batch
            .iter()
            .map(|listed| lookup_known(known.as_ref(), known_db, &listed.relpath))
            .collect::<Result<_, _>>()?;
        let checked = check_batch(plan, batch, &known);
        let tx = out.unchecked_transaction().map_err(store_err(scratch))?;
        // Every link made is recorded, even when a later file of the batch failed, so that a
        // failed ingest can take them out of the DataRoot again.
        let mut first_error = None;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO checked (relpath, size, sha256, import, linked, dev, ino, mtime_ns, ctime_ns)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(store_err(scratch))?;
            let mut imported = tx
                .prepare_cached("INSERT INTO imported (relpath, dev, ino) VALUES (?1, ?2, ?3)")
                .map_err(store_err(scratch))?;
            for file in checked {
                let file = match file {
                    Ok(file) => file,
                    Err(e) => {
                        first_error.get_or_insert(e);
                        continue;
                    }
                };
                let stamp = file.stamp;
                insert
                    .execute(params![
                        file.relpath,
                        file.size as i64,
                        file.sha256,
                        file.import,
                        file.linked,
                        stamp.dev as i64,
                        stamp.ino as i64,
                        stamp.mtime_ns,
                        stamp.ctime_ns
                    ])
                    .map_err(store_err(scratch))?;
                if file.linked {
                    imported
                        .execute(params![file.relpath, stamp.dev as i64, stamp.ino as i64])
                        .map_err(store_err(scratch))?;
                }
                summary.files += 1;
                summary.present += u64::from(!file.import);
            }
        }
        tx.commit().map_err(store_err(scratch))?;
        if let Some(error) = first_error {
            return Err(error);
        }
        if let Some(progress) = plan.progress {
            progress.media_checked(
                batch.len() as u64,
                batch.iter().map(|listed| listed.meta.len()).sum(),
            );
        }
        batch.clear();
        pace(pacer);
        Ok(())
    };
    if !fs::symlink_metadata(media_root)
        .map_err(io_err(media_root))?
        .is_dir()
    {
        return Err(IngestError::MediaNotRegular {
            path: media_root.to_path_buf(),
        });
    }
    let on_io = |path: &Path, e: std::io::Error| io_err(path)(e);
    tree::walk(media_root, &on_io, &mut |path, relpath, meta| {
        if !meta.is_file() {
            return Err(IngestError::MediaNotRegular {
                path: path.to_path_buf(),
            });
        }
        let relpath = relpath
            .to_str()
            .ok_or_else(|| IngestError::MediaNameInvalid {
                path: path.to_path_buf(),
            })?;
        batch.push(Listed {
            relpath: relpath.to_owned(),
            meta: meta.clone(),
        });
        if batch.len() == BATCH {
            flush(&mut batch, &mut summary)?;
        }
        Ok(())
    })?;
    if !batch.is_empty() {
        flush(&mut batch, &mut summary)?;
    }
    Ok(summary)
}

fn open_known(known_db: &Path) -> Result<Option<Connection>, IngestError> {
    if !known_db.is_file() {
        return Ok(None);
    }
    let conn = Connection::open_with_flags(
        known_db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(store_err(known_db))?;
    let has_table: bool = conn
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE name = 'media_files'",
            [],
            |row| row.get(0),
        )
        .map_err(store_err(known_db))?;
    // An empty table knows no file: nothing to look up (this connection sees only what was
    // committed before the ingest began, and nothing is committed until the check is over).
    let has_rows = has_table
        && conn
            .query_row("SELECT EXISTS (SELECT 1 FROM media_files)", [], |row| {
                row.get(0)
            })
            .map_err(store_err(known_db))?;
    Ok(has_rows.then_some(conn))
}

fn lookup_known(
    conn: Option<&Connection>,
    known_db: &Path,
    relpath: &str,
) -> Result<Option<KnownMedia>, IngestError> {
    let Some(conn) = conn else { return Ok(None) };
    let mut stmt = conn
        .prepare_cached("SELECT sha256, size, dev, ino FROM media_files WHERE relpath = ?1")
        .map_err(store_err(known_db))?;
    stmt.query_row([relpath], |row| {
        Ok(KnownMedia {
            sha256: row.get(0)?,
            size: row.get::<_, i64>(1)? as u64,
            dev: row.get::<_, Option<i64>>(2)?.unwrap_or(-1) as u64,
            ino: row.get::<_, Option<i64>>(3)?.unwrap_or(-1) as u64,
        })
    })
    .optional()
    .map_err(store_err(known_db))
}

/// Checks a batch of files on up to `workers` threads, keeping the batch's order; each file's
/// result is its own, so that the links made before a failure are all known.
fn check_batch(
    plan: &CheckPlan<'_>,
    batch: &[Listed],
    known: &[Option<KnownMedia>],
) -> Vec<Result<Checked, IngestError>> {
    let chunk = batch.len().div_ceil(plan.workers.max(1)).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = batch
            .chunks(chunk)
            .zip(known.chunks(chunk))
            .map(|(files, known)| {
                scope.spawn(move || {
                    files
                        .iter()
                        .zip(known)
                        .map(|(listed, known)| check_file(plan, listed, known.as_ref()))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(batch.len());
        for handle in handles {
            match handle.join() {
                Ok(part) => out.extend(part),
                Err(_) => out.push(Err(IngestError::Io {
                    path: plan.media_root.to_path_buf(),
                    source: io::Error::other("a hashing thread panicked"),
                })),
            }
        }
        out
    })
}

/// A file changed under the ingest.
fn changed(relpath: &str, detail: String) -> IngestError {
    IngestError::MediaChanged {
        relpath: relpath.to_owned(),
        detail,
    }
}

/// Hashes the open `file`, whose metadata was `before`, and returns its hash with its stamp,
/// which must not have moved while it was read (a writer at work).
fn hash_steady(
    file: &File,
    before: &fs::Metadata,
    path: &Path,
    relpath: &str,
) -> Result<(String, FileStamp), IngestError> {
    let before = FileStamp::of(before);
    let (sha256, len) = sha256_of(file).map_err(io_err(path))?;
    let after = FileStamp::of(&file.metadata().map_err(io_err(path))?);
    if before != after || len != after.size {
        return Err(changed(
            relpath,
            format!(
                "written while hashed ({} bytes before, {len} read, {} after)",
                before.size, after.size
            ),
        ));
    }
    Ok((sha256, after))
}

/// Lowercase hex sha256 of everything `file` yields, and the number of bytes read, through one
/// read buffer per thread (the `sha2` crate picks the CPU's SHA extensions when it has them).
fn sha256_of(mut file: &File) -> io::Result<(String, u64)> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    thread_local! {
        static BUFFER: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 64 * 1024]);
    }
    BUFFER.with_borrow_mut(|buf| {
        let mut hasher = Sha256::new();
        let mut total = 0u64;
        loop {
            let n = match file.read(buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            hasher.update(&buf[..n]);
            total += n as u64;
        }
        Ok((hex::encode(hasher.finalize()), total))
    })
}

/// Checks one handoff file, as `listed` by the walk of the tree:
/// - the DataRoot lacks it, hardlink mode, and the file has no other name than the handoff's:
///   link it into place, then hash it there (the link is the DataRoot's file, so the bytes
///   hashed are the bytes kept; a write between hash and link cannot slip through). The link is
///   tried first: a name already in the DataRoot makes it fail, and that file is judged below;
/// - the DataRoot holds this very inode, recorded with its hash at import: nothing to read;
/// - the DataRoot holds another file there: its bytes must hash the same;
/// - otherwise hash it here; the import copies it and checks the copy's hash.
///
/// A file with other hard links (outside the handoff) is copied, never linked: its bytes could
/// change through those names after the reap.
fn check_file(
    plan: &CheckPlan<'_>,
    listed: &Listed,
    known: Option<&KnownMedia>,
) -> Result<Checked, IngestError> {
    let (relpath, source_meta) = (listed.relpath.as_str(), &listed.meta);
    let size = source_meta.len();
    let source = plan.media_root.join(relpath);
    let dest = plan.dest_root.join(relpath);
    if !source_meta.is_file() {
        return Err(IngestError::MediaNotRegular { path: source });
    }
    let checked = |sha256: String, import: bool, linked: bool, stamp: FileStamp| Checked {
        relpath: relpath.to_owned(),
        size,
        sha256,
        import,
        linked,
        stamp,
    };
    if plan.mode == ImportMode::Hardlink && source_meta.nlink() == 1 {
        // The folder is made only when the link finds it missing. A link and the folders made
        // for it become durable with every other by the one `syncfs` before the commit (the
        // ingest's write phase), so no folder is synced here one by one.
        let linked = match plan.fs.hard_link(&source, &dest) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && source.is_file() => {
                if let Some(parent) = dest.parent() {
                    create_dirs(plan.fs, plan.dest_root, parent, false)?;
                }
                plan.fs.hard_link(&source, &dest)
            }
            other => other,
        };
        match linked {
            Ok(()) => {
                crash::point("media.between_files");
                return verify_link(relpath, &dest, source_meta)
                    .map(|(sha256, stamp)| checked(sha256, true, true, stamp))
                    .inspect_err(|_| {
                        let _ = plan.fs.remove_file(&dest);
                    });
            }
            // The DataRoot holds a file there: judged below, as any file already there.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            // Another file system or no links allowed: the import copies it.
            Err(_) => {}
        }
    }
    let dest_meta = match fs::symlink_metadata(&dest) {
        Ok(meta) => Some(meta),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err(&dest)(e)),
    };
    if let Some(dest_meta) = &dest_meta {
        if !dest_meta.is_file() {
            return Err(IngestError::MediaConflict {
                relpath: relpath.to_owned(),
            });
        }
        // The very inode recorded at import: its bytes are the ones hashed then.
        let same_inode =
            dest_meta.dev() == source_meta.dev() && dest_meta.ino() == source_meta.ino();
        if let Some(known) = known
            && same_inode
            && known.size == size
            && dest_meta.len() == size
            && known.dev == dest_meta.dev()
            && known.ino == dest_meta.ino()
        {
            return Ok(checked(
                known.sha256.clone(),
                false,
                false,
                FileStamp::of(source_meta),
            ));
        }
    }
    let file = File::open(&source).map_err(io_err(&source))?;
    let opened = file.metadata().map_err(io_err(&source))?;
    let (sha256, stamp) = hash_steady(&file, &opened, &source, relpath)?;
    if stamp != FileStamp::of(source_meta) || stamp.size != size {
        return Err(changed(
            relpath,
            format!("{size} bytes when listed, {} when hashed", stamp.size),
        ));
    }
    if dest_meta.is_some() && hash_file(&dest)?.0 != sha256 {
        return Err(IngestError::MediaConflict {
            relpath: relpath.to_owned(),
        });
    }
    Ok(checked(sha256, dest_meta.is_none(), false, stamp))
}

/// Hashes the link just made at `dest`: it must be the inode listed, with no name but the
/// handoff's and this one, unchanged since it was listed and while it was read.
fn verify_link(
    relpath: &str,
    dest: &Path,
    listed: &fs::Metadata,
) -> Result<(String, FileStamp), IngestError> {
    let file = File::open(dest).map_err(io_err(dest))?;
    let meta = file.metadata().map_err(io_err(dest))?;
    if (meta.dev(), meta.ino()) != (listed.dev(), listed.ino()) {
        return Err(changed(relpath, "replaced before it was linked".to_owned()));
    }
    if meta.nlink() != 2 {
        return Err(changed(
            relpath,
            format!(
                "{} names once linked; the handoff's and the DataRoot's were expected",
                meta.nlink()
            ),
        ));
    }
    // The link moved the ctime; size and mtime must still be those listed.
    let listed = FileStamp::of(listed);
    let (sha256, stamp) = hash_steady(&file, &meta, dest, relpath)?;
    if (stamp.size, stamp.mtime_ns) != (listed.size, listed.mtime_ns) {
        return Err(changed(relpath, "written before it was linked".to_owned()));
    }
    Ok((sha256, stamp))
}

fn hash_file(path: &Path) -> Result<(String, u64), IngestError> {
    let file = File::open(path).map_err(io_err(path))?;
    sha256_of(&file).map_err(io_err(path))
}

/// What [`import_checked`] did.
#[derive(Debug, Default, Clone, Copy)]
pub struct ImportSummary {
    pub linked: u64,
    pub copied: u64,
    pub bytes: u64,
}

/// Copies every file the scratch database (attached to `conn` as `m`) marks for import and did
/// not link, and records each in its `imported` table: a verified copy whose hash must be the
/// one checked. Runs inside the ingest's transaction.
pub fn import_checked(
    conn: &Connection,
    scratch: &Path,
    media_root: &Path,
    dest_root: &Path,
    temp_dir: &Path,
    pacer: Option<&Arc<Pacer>>,
    fs: &dyn FileOps,
) -> Result<ImportSummary, IngestError> {
    let mut summary = ImportSummary::default();
    let mut created_dirs: BTreeSet<PathBuf> = BTreeSet::new();
    let mut last = String::new();
    loop {
        let batch: Vec<(String, u64, String)> = {
            let mut stmt = conn
                .prepare_cached("SELECT relpath, size, sha256 FROM m.checked WHERE import AND NOT linked AND relpath > ?1 ORDER BY relpath LIMIT ?2")
                .map_err(store_err(scratch))?;
            let rows = stmt
                .query_map(params![last, BATCH as i64], |row| {
                    Ok((row.get(0)?, row.get::<_, i64>(1)? as u64, row.get(2)?))
                })
                .map_err(store_err(scratch))?;
            rows.collect::<Result<_, _>>().map_err(store_err(scratch))?
        };
        let Some((final_path, ..)) = batch.last() else {
            break;
        };
        last = final_path.clone();
        pace(pacer);
        for (relpath, size, sha256) in &batch {
            let source = media_root.join(relpath);
            let dest = dest_root.join(relpath);
            if let Some(parent) = dest.parent()
                && !created_dirs.contains(parent)
            {
                create_dirs_durably(fs, dest_root, parent)?;
                created_dirs.insert(parent.to_path_buf());
            }
            copy_verified(fs, &source, &dest, temp_dir, sha256)?;
            summary.copied += 1;
            summary.bytes += size;
            let meta = std::fs::metadata(&dest).map_err(io_err(&dest))?;
            conn.execute(
                "INSERT INTO m.imported (relpath, dev, ino) VALUES (?1, ?2, ?3)",
                params![relpath, meta.dev() as i64, meta.ino() as i64],
            )
            .map_err(store_err(scratch))?;
            crash::point("media.between_files");
        }
    }
    let (linked, bytes): (i64, i64) = conn
        .query_row(
            "SELECT count(*), coalesce(sum(size), 0) FROM m.checked WHERE linked",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .map_err(store_err(scratch))?;
    summary.linked = linked as u64;
    summary.bytes += bytes as u64;
    Ok(summary)
}

/// Creates `dir` (under `root`) and fsyncs the parent of every directory it creates.
fn create_dirs_durably(fs: &dyn FileOps, root: &Path, dir: &Path) -> Result<(), IngestError> {
    create_dirs(fs, root, dir, true)
}

/// Creates `dir` (under `root`); with `sync`, fsyncs the parent of every directory it creates.
fn create_dirs(fs: &dyn FileOps, root: &Path, dir: &Path, sync: bool) -> Result<(), IngestError> {
    let mut missing = Vec::new();
    let mut current = dir.to_path_buf();
    while !current.exists() && current.starts_with(root) {
        missing.push(current.clone());
        if !current.pop() {
            break;
        }
    }
    for path in missing.iter().rev() {
        match fs.create_dir(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err(path)(e)),
        }
        if sync && let Some(parent) = path.parent() {
            fs.sync_dir(parent).map_err(io_err(parent))?;
        }
    }
    Ok(())
}

/// Copies `source` to `dest` through a temp file in `temp_dir` (same filesystem): copy while
/// hashing, check the hash, fsync, link into place (never replacing a file), fsync the folder.
fn copy_verified(
    fs: &dyn FileOps,
    source: &Path,
    dest: &Path,
    temp_dir: &Path,
    expected_sha256: &str,
) -> Result<(), IngestError> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match fs.create_dir(temp_dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_err(temp_dir)(e)),
    }
    let temp = temp_path_for(temp_dir, &name);
    let result = (|| -> Result<(), IngestError> {
        let actual = fs.copy_new(source, &temp).map_err(io_err(&temp))?;
        if actual != expected_sha256 {
            return Err(IngestError::MediaHashMismatch {
                relpath: dest.display().to_string(),
                record_id: String::new(),
                expected: expected_sha256.to_owned(),
                actual,
            });
        }
        crash::point("media.after_temp_write");
        fs.sync_file(&temp).map_err(io_err(&temp))?;
        crash::point("media.after_fsync");
        // `link` + `unlink` rather than `rename`: it fails instead of replacing a file that
        // appeared at `dest` meanwhile.
        fs.hard_link(&temp, dest).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                IngestError::MediaConflict {
                    relpath: dest.display().to_string(),
                }
            } else {
                io_err(dest)(e)
            }
        })?;
        crash::point("media.after_link");
        fs.remove_file(&temp).map_err(io_err(&temp))?;
        fs.sync_dir(dir).map_err(io_err(dir))
    })();
    if result.is_err() {
        let _ = fs.remove_file(&temp);
    }
    result
}
