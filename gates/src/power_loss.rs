//! Simulated power loss over the file operations of the media import and the marker protocol.
//!
//! - [`RecordingFs`] does every [`FileOps`] operation for real and logs it as an [`Op`].
//! - [`explore`] replays every prefix of a log as the states a power loss could leave: a file's
//!   data written but not synced is kept, dropped (empty) or torn (half); a folder entry made
//!   (create, link, rename, remove) but not followed by a sync of its folder (or a `syncfs`) may or
//!   may not have reached the disk. In no state may a marker be visible unless the database
//!   commit returned and every media file of the handoff is whole.
//! - [`plant`] takes operations out of a log, to show that a protocol missing one is caught.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use autocapture_core::base::fsops::{FileOps, RealFs};

/// One logged operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    CreateDir(PathBuf),
    /// A new file and the bytes written to it.
    WriteNew {
        path: PathBuf,
        bytes: Vec<u8>,
    },
    SyncFile(PathBuf),
    /// A second name for a file; `bytes` are its contents (for files made before the log began).
    HardLink {
        from: PathBuf,
        to: PathBuf,
        bytes: Vec<u8>,
    },
    Rename {
        from: PathBuf,
        to: PathBuf,
    },
    Remove(PathBuf),
    SyncDir(PathBuf),
    SyncFs,
    /// A database commit returned (with `synchronous=FULL`: durable from here on).
    Committed,
}

/// Does the operations on the real file system and logs them.
#[derive(Debug, Default)]
pub struct RecordingFs {
    ops: Mutex<Vec<Op>>,
}

impl RecordingFs {
    pub fn ops(&self) -> Vec<Op> {
        self.ops.lock().map(|ops| ops.clone()).unwrap_or_default()
    }

    fn log<T>(&self, result: io::Result<T>, op: impl FnOnce() -> Op) -> io::Result<T> {
        if result.is_ok()
            && let Ok(mut ops) = self.ops.lock()
        {
            ops.push(named(op()));
        }
        result
    }
}

/// `path` with a `/proc/self/fd/N` prefix (Stage 1 writes the marker through its handle on the
/// handoff folder) replaced by the folder's name, so the log names real paths.
fn real(path: PathBuf) -> PathBuf {
    let Ok(rest) = path.strip_prefix("/proc/self/fd") else {
        return path;
    };
    let mut parts = rest.components();
    let Some(fd) = parts.next() else { return path };
    match std::fs::read_link(Path::new("/proc/self/fd").join(fd)) {
        Ok(dir) => dir.join(parts.as_path()),
        Err(_) => path,
    }
}

fn named(op: Op) -> Op {
    match op {
        Op::CreateDir(p) => Op::CreateDir(real(p)),
        Op::WriteNew { path, bytes } => Op::WriteNew {
            path: real(path),
            bytes,
        },
        Op::SyncFile(p) => Op::SyncFile(real(p)),
        Op::HardLink { from, to, bytes } => Op::HardLink {
            from: real(from),
            to: real(to),
            bytes,
        },
        Op::Rename { from, to } => Op::Rename {
            from: real(from),
            to: real(to),
        },
        Op::Remove(p) => Op::Remove(real(p)),
        Op::SyncDir(p) => Op::SyncDir(real(p)),
        other => other,
    }
}

impl FileOps for RecordingFs {
    fn create_dir(&self, path: &Path) -> io::Result<()> {
        self.log(RealFs.create_dir(path), || Op::CreateDir(path.into()))
    }

    fn write_new(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        self.log(RealFs.write_new(path, bytes), || Op::WriteNew {
            path: path.into(),
            bytes: bytes.to_vec(),
        })
    }

    fn copy_new(&self, source: &Path, dest: &Path) -> io::Result<String> {
        let sha = RealFs.copy_new(source, dest)?;
        let bytes = std::fs::read(dest)?;
        self.log(Ok(sha), || Op::WriteNew {
            path: dest.into(),
            bytes,
        })
    }

    fn sync_file(&self, path: &Path) -> io::Result<()> {
        self.log(RealFs.sync_file(path), || Op::SyncFile(path.into()))
    }

    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        let result = RealFs.hard_link(from, to);
        let bytes = if result.is_ok() {
            std::fs::read(to)?
        } else {
            Vec::new()
        };
        self.log(result, || Op::HardLink {
            from: from.into(),
            to: to.into(),
            bytes,
        })
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.log(RealFs.rename(from, to), || Op::Rename {
            from: from.into(),
            to: to.into(),
        })
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.log(RealFs.remove_file(path), || Op::Remove(path.into()))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.log(RealFs.sync_dir(dir), || Op::SyncDir(dir.into()))
    }

    fn sync_fs(&self, path: &Path) -> io::Result<()> {
        self.log(RealFs.sync_fs(path), || Op::SyncFs)
    }

    fn committed(&self, _what: &str) {
        if let Ok(mut ops) = self.ops.lock() {
            ops.push(Op::Committed);
        }
    }
}

/// What a state with a marker must hold.
#[derive(Debug, Clone)]
pub struct Expected {
    pub marker: PathBuf,
    pub marker_bytes: Vec<u8>,
    /// Every media file of the handoff at its DataRoot path, with its bytes.
    pub media: Vec<(PathBuf, Vec<u8>)>,
}

/// What [`explore`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exploration {
    pub states: u64,
    pub violating_states: u64,
    /// The first few violations, in words.
    pub examples: Vec<String>,
}

/// How data written but not synced survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unsynced {
    Kept,
    Dropped,
    Torn,
}

/// Up to this many unsynced folder entries, every subset of them is tried; above it, all, none
/// and each one alone left out.
const SUBSET_LIMIT: usize = 8;

/// The folders an operation changes entries of.
fn entry_dirs(op: &Op) -> Vec<&Path> {
    match op {
        Op::CreateDir(p) | Op::WriteNew { path: p, .. } | Op::Remove(p) => {
            p.parent().into_iter().collect()
        }
        Op::HardLink { to, .. } => to.parent().into_iter().collect(),
        Op::Rename { from, to } => from.parent().into_iter().chain(to.parent()).collect(),
        _ => Vec::new(),
    }
}

/// Inode of each file-creating op and the inode each sync or link refers to, from the log as run.
fn inodes(ops: &[Op]) -> Vec<Option<usize>> {
    let mut names: BTreeMap<&Path, usize> = BTreeMap::new();
    let mut next = 0;
    ops.iter()
        .map(|op| match op {
            Op::WriteNew { path, .. } => {
                next += 1;
                names.insert(path, next);
                Some(next)
            }
            Op::HardLink { from, to, .. } => {
                let inode = names.get(from.as_path()).copied().unwrap_or_else(|| {
                    next += 1;
                    next
                });
                names.insert(to, inode);
                Some(inode)
            }
            Op::SyncFile(path) => names.get(path.as_path()).copied(),
            Op::Rename { from, to } => {
                let inode = names.remove(from.as_path());
                if let Some(inode) = inode {
                    names.insert(to, inode);
                }
                inode
            }
            Op::Remove(path) => names.remove(path.as_path()),
            _ => None,
        })
        .collect()
}

/// Every crash state of every prefix of `ops`, checked against `expected`.
pub fn explore(ops: &[Op], expected: &Expected) -> Exploration {
    let inode_of = inodes(ops);
    let mut found = Exploration::default();
    for k in 0..=ops.len() {
        let prefix = &ops[..k];
        let synced_all_at = prefix.iter().rposition(|op| *op == Op::SyncFs);
        // An entry change is durable when its folder (or the whole file system) was synced after.
        let durable_entry = |i: usize| -> bool {
            synced_all_at.is_some_and(|s| s > i)
                || entry_dirs(&prefix[i]).iter().all(|dir| {
                    prefix[i + 1..]
                        .iter()
                        .any(|later| matches!(later, Op::SyncDir(d) if d == dir))
                })
        };
        let unsynced_entries: Vec<usize> = (0..k)
            .filter(|&i| !entry_dirs(&prefix[i]).is_empty() && !durable_entry(i))
            .collect();
        // A file's data is durable when it was synced (or the file system was) after its write.
        let mut data_synced: BTreeSet<usize> = BTreeSet::new();
        for (i, op) in prefix.iter().enumerate() {
            match op {
                Op::SyncFile(_) => data_synced.extend(inode_of[i]),
                Op::SyncFs => data_synced.extend(inode_of[..i].iter().flatten()),
                _ => {}
            }
        }
        let mut contents: BTreeMap<usize, (Vec<u8>, bool)> = BTreeMap::new();
        for (i, op) in prefix.iter().enumerate() {
            match (op, inode_of[i]) {
                (Op::WriteNew { bytes, .. }, Some(inode)) => {
                    contents.insert(inode, (bytes.clone(), data_synced.contains(&inode)));
                }
                (Op::HardLink { bytes, .. }, Some(inode)) => {
                    // A file from before the log is on disk already.
                    contents.entry(inode).or_insert((bytes.clone(), true));
                }
                _ => {}
            }
        }
        let any_unsynced_data = contents.values().any(|(_, synced)| !synced);
        let committed = prefix.contains(&Op::Committed);
        let subsets: Vec<BTreeSet<usize>> = if unsynced_entries.len() <= SUBSET_LIMIT {
            (0u32..1 << unsynced_entries.len())
                .map(|mask| {
                    unsynced_entries
                        .iter()
                        .enumerate()
                        .filter(|(bit, _)| mask & (1 << bit) != 0)
                        .map(|(_, &i)| i)
                        .collect()
                })
                .collect()
        } else {
            let all: BTreeSet<usize> = unsynced_entries.iter().copied().collect();
            let mut choices = vec![all.clone(), BTreeSet::new()];
            for i in &unsynced_entries {
                let mut one_lost = all.clone();
                one_lost.remove(i);
                choices.push(one_lost);
            }
            choices
        };
        let data_modes: &[Unsynced] = if any_unsynced_data {
            &[Unsynced::Kept, Unsynced::Dropped, Unsynced::Torn]
        } else {
            &[Unsynced::Kept]
        };
        for lost in &subsets {
            for &mode in data_modes {
                found.states += 1;
                let state = apply(prefix, &inode_of, |i| !lost.contains(&i));
                if let Some(problem) = judge(&state, &contents, mode, committed, expected) {
                    found.violating_states += 1;
                    if found.examples.len() < 3 {
                        found.examples.push(format!(
                            "after {k} of {} operations, unsynced data {mode:?}, {} entry changes lost: {problem}",
                            ops.len(),
                            lost.len()
                        ));
                    }
                }
            }
        }
    }
    found
}

/// The names on disk after `prefix` with the entry changes `applied` says reached the disk.
fn apply(
    prefix: &[Op],
    inode_of: &[Option<usize>],
    applied: impl Fn(usize) -> bool,
) -> BTreeMap<PathBuf, usize> {
    let mut names: BTreeMap<PathBuf, usize> = BTreeMap::new();
    let mut lost_dirs: Vec<&Path> = Vec::new();
    for (i, op) in prefix.iter().enumerate() {
        let kept = !entry_dirs(op).is_empty() && applied(i);
        match op {
            Op::CreateDir(dir) if !kept => lost_dirs.push(dir),
            Op::WriteNew { path, .. } if kept => {
                names.extend(inode_of[i].map(|inode| (path.clone(), inode)));
            }
            Op::HardLink { to, .. } if kept => {
                names.extend(inode_of[i].map(|inode| (to.clone(), inode)));
            }
            Op::Rename { from, to } if kept => {
                if let Some(inode) = names.remove(from) {
                    names.insert(to.clone(), inode);
                }
            }
            Op::Remove(path) if kept => {
                names.remove(path);
            }
            _ => {}
        }
    }
    names.retain(|path, _| !lost_dirs.iter().any(|dir| path.starts_with(dir)));
    names
}

/// What is wrong with a state, if anything: a marker visible without its data.
fn judge(
    names: &BTreeMap<PathBuf, usize>,
    contents: &BTreeMap<usize, (Vec<u8>, bool)>,
    mode: Unsynced,
    committed: bool,
    expected: &Expected,
) -> Option<String> {
    let read = |path: &Path| -> Option<Vec<u8>> {
        let inode = names.get(path)?;
        let (bytes, synced) = contents.get(inode)?;
        Some(match (synced, mode) {
            (true, _) | (false, Unsynced::Kept) => bytes.clone(),
            (false, Unsynced::Dropped) => Vec::new(),
            (false, Unsynced::Torn) => bytes[..bytes.len() / 2].to_vec(),
        })
    };
    let marker = read(&expected.marker)?;
    if marker != expected.marker_bytes {
        return Some(format!(
            "the marker is visible but torn ({} of {} bytes)",
            marker.len(),
            expected.marker_bytes.len()
        ));
    }
    if !committed {
        return Some("a marker is visible before the database commit".into());
    }
    for (path, bytes) in &expected.media {
        match read(path) {
            None => {
                return Some(format!(
                    "a marker is visible but {} is missing",
                    path.display()
                ));
            }
            Some(found) if found != *bytes => {
                return Some(format!(
                    "a marker is visible but {} is not whole",
                    path.display()
                ));
            }
            Some(_) => {}
        }
    }
    None
}

/// A protocol step taken out of a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlantedBug {
    /// No `syncfs` and no folder sync after a media file is linked into place.
    NoMediaDirSync,
    /// No `syncfs` and no sync of a copied media file's data.
    NoMediaFileSync,
    /// No sync of the marker's temp before its rename.
    NoMarkerFileSync,
    /// No `syncfs` (the import in hardlink mode relies on it alone).
    NoSyncFs,
}

/// `ops` without the steps `bug` names; `media_root` is the DataRoot's `media/`.
pub fn plant(ops: &[Op], bug: PlantedBug, media_root: &Path, marker: &Path) -> Vec<Op> {
    let marker_dir = marker.parent().unwrap_or(Path::new("/"));
    ops.iter()
        .filter(|op| match (bug, op) {
            (PlantedBug::NoMediaDirSync, Op::SyncDir(dir)) => !dir.starts_with(media_root),
            (PlantedBug::NoMediaFileSync, Op::SyncFile(path)) => path.starts_with(marker_dir),
            (PlantedBug::NoMarkerFileSync, Op::SyncFile(path)) => !path.starts_with(marker_dir),
            (
                PlantedBug::NoMediaDirSync | PlantedBug::NoMediaFileSync | PlantedBug::NoSyncFs,
                Op::SyncFs,
            ) => false,
            _ => true,
        })
        .cloned()
        .collect()
}

/// Every file under `handoff/media` at its path under `data_media`, with its bytes.
pub fn expected_media(handoff: &Path, data_media: &Path) -> io::Result<Vec<(PathBuf, Vec<u8>)>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, out)?;
            } else {
                out.push(path);
            }
        }
        Ok(())
    }
    let media = handoff.join("media");
    let mut files = Vec::new();
    if media.is_dir() {
        walk(&media, &mut files)?;
    }
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let relpath = path.strip_prefix(&media).map_err(io::Error::other)?;
            Ok((data_media.join(relpath), std::fs::read(&path)?))
        })
        .collect()
}
