//! The few file-system operations of the media import and the marker protocol, behind one small
//! trait: [`RealFs`] does them (and is what the ingest uses); a recorder in the gates logs them to
//! explore which states a power loss could leave.
//!
//! Every operation names its paths, so a log of them says which file and folder each touched;
//! [`FileOps::committed`] notes the point where the database commit returned.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

/// Flushes the directory entry table of `dir` to stable storage.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Opens `path` with `options` without ever blocking (`O_NONBLOCK`: a FIFO with no peer does not
/// hang the open) and refuses anything but a regular file (`InvalidInput`), so a lock or rules
/// file that is a FIFO or a device (`/dev/zero`) is an error, not a hang or an endless read.
pub fn open_regular(options: &mut OpenOptions, path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = options
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)?;
    if file.metadata()?.is_file() {
        Ok(file)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ))
    }
}

/// A folder held open, so that what is done through [`DirHandle::path`] reaches that very
/// folder even when its name is renamed away and another folder is put in its place.
#[derive(Debug)]
pub struct DirHandle {
    _dir: File,
    via: std::path::PathBuf,
}

impl DirHandle {
    /// Opens the folder `path` (not following a symlink at its last component).
    pub fn open(path: &Path) -> io::Result<DirHandle> {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
        let dir = OpenOptions::new()
            .read(true)
            .custom_flags((nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_NOFOLLOW).bits())
            .open(path)?;
        let held = dir.metadata()?;
        // `/proc/self/fd/N` names the open folder itself. Where /proc is not there, the path is
        // used, and is checked to still be the folder held.
        let proc = std::path::PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
        let via = match fs::metadata(&proc) {
            Ok(meta) if (meta.dev(), meta.ino()) == (held.dev(), held.ino()) => proc,
            _ => {
                let now = fs::symlink_metadata(path)?;
                if (now.dev(), now.ino()) != (held.dev(), held.ino()) {
                    return Err(io::Error::other(
                        "the folder was replaced while it was opened",
                    ));
                }
                path.to_path_buf()
            }
        };
        Ok(DirHandle { _dir: dir, via })
    }

    /// A path that reaches the held folder.
    pub fn path(&self) -> &Path {
        &self.via
    }
}

/// File-system operations whose durability the import and the marker depend on.
pub trait FileOps: Sync {
    /// Creates the folder `path` (its parent exists); `AlreadyExists` when it is there.
    fn create_dir(&self, path: &Path) -> io::Result<()>;
    /// Creates `path` (which must not exist) holding `bytes`, not synced.
    fn write_new(&self, path: &Path, bytes: &[u8]) -> io::Result<()>;
    /// Creates `dest` (which must not exist) holding a copy of `source`, not synced; returns the
    /// copy's sha256 (hex) as read from `source`.
    fn copy_new(&self, source: &Path, dest: &Path) -> io::Result<String>;
    /// Flushes the data of the file at `path` to stable storage.
    fn sync_file(&self, path: &Path) -> io::Result<()>;
    /// Makes `to` a second name of `from`'s file; fails when `to` exists.
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Flushes the entries of the folder `dir` to stable storage.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Flushes everything of the file system holding `path` (`syncfs`).
    fn sync_fs(&self, path: &Path) -> io::Result<()>;
    /// Notes that a database transaction has committed durably (nothing to do on a real disk).
    fn committed(&self, _what: &str) {}
}

/// The real file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealFs;

impl FileOps for RealFs {
    fn create_dir(&self, path: &Path) -> io::Result<()> {
        fs::create_dir(path)
    }

    fn write_new(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
        file.write_all(bytes)
    }

    fn copy_new(&self, source: &Path, dest: &Path) -> io::Result<String> {
        let mut input = File::open(source)?;
        let mut output = OpenOptions::new().write(true).create_new(true).open(dest)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match input.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            hasher.update(&buf[..n]);
            output.write_all(&buf[..n])?;
        }
        Ok(hex::encode(hasher.finalize()))
    }

    fn sync_file(&self, path: &Path) -> io::Result<()> {
        // fsync through a second descriptor flushes the same inode's data.
        OpenOptions::new().write(true).open(path)?.sync_all()
    }

    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::hard_link(from, to)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        fsync_dir(dir)
    }

    fn sync_fs(&self, path: &Path) -> io::Result<()> {
        let dir = File::open(path)?;
        nix::unistd::syncfs(&dir).map_err(io::Error::from)
    }
}
