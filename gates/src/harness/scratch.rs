//! Where a run keeps its corpus and the gates' work copies (the scratch), apart from the outputs
//! a reader keeps (`--out`).
//!
//! The gates make tens of thousands of short-lived files: private copies of the corpus, one
//! DataRoot per kill and per hostile case. Nothing they prove depends on the file system those
//! copies live on: a kill stops a process and the page cache survives it, power loss is replayed
//! from recorded operations ([`crate::power_loss`]), disk limits are rlimits, and the `budget`
//! gate reads CPU share and peak RSS from `getrusage`, which the pacer itself holds to. A new
//! file costs far more on a disk file system than in memory, though (on some virtual disks most
//! of a run's time), so by default the scratch is a private folder (mode 0700) in [`RAM_DIR`]
//! when that is a RAM file system (tmpfs) with at least [`RAM_FREE_MIN`] free, and `--out`
//! itself otherwise. `--scratch DIR` puts the private folder in `DIR` instead. The report names
//! the scratch's file system (`environment.scratch_fs`).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use nix::sys::statfs::{self, FsType};

/// The RAM file system looked for.
pub const RAM_DIR: &str = "/dev/shm";
/// Free space the RAM file system must have (a run's copies peak at about 1 GiB).
pub const RAM_FREE_MIN: u64 = 4 << 30;

/// The folder a run keeps its `corpus/` and `work/` in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scratch {
    pub dir: PathBuf,
    /// True when the folder was made for this run (and goes with the copies); false when it is
    /// `--out`.
    pub private: bool,
}

impl Scratch {
    /// The copies kept in `out` itself (`out/corpus`, `out/work`).
    pub fn in_out(out: &Path) -> Scratch {
        Scratch {
            dir: out.to_owned(),
            private: false,
        }
    }

    /// The run's scratch: a new private folder in `parent` when given; else one in [`RAM_DIR`]
    /// when it is a RAM file system with room; else `out`.
    /// A default that cannot be made in [`RAM_DIR`] falls back to `out`.
    pub fn choose(out: &Path, parent: Option<&Path>) -> anyhow::Result<Scratch> {
        match parent {
            Some(parent) => {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("create {}", parent.display()))?;
                Scratch::private_in(parent)
            }
            None if ram_has_room(Path::new(RAM_DIR)) => Ok(
                Scratch::private_in(Path::new(RAM_DIR)).unwrap_or_else(|_| Scratch::in_out(out))
            ),
            None => Ok(Scratch::in_out(out)),
        }
    }

    /// A new folder with a random name in `parent`, mode 0711: only the run's user may list or
    /// change it, and others may pass through it to the one folder a hostile case opens to
    /// another user (`hostile::security`).
    fn private_in(parent: &Path) -> anyhow::Result<Scratch> {
        let dir = tempfile::Builder::new()
            .prefix("autocapture-gates-")
            .permissions(std::fs::Permissions::from_mode(0o711))
            .tempdir_in(parent)
            .with_context(|| format!("make a private folder in {}", parent.display()))?
            .keep();
        Ok(Scratch { dir, private: true })
    }

    /// The corpus's folder.
    pub fn corpus(&self) -> PathBuf {
        self.dir.join("corpus")
    }

    /// The gates' work folders' parent.
    pub fn work(&self) -> PathBuf {
        self.dir.join("work")
    }

    /// Removes the corpus and the work copies, and the folder itself when it was made for the
    /// run.
    pub fn remove(&self) -> anyhow::Result<()> {
        let dirs = match self.private {
            true => vec![self.dir.clone()],
            false => vec![self.work(), self.corpus()],
        };
        for dir in dirs {
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("remove {}", dir.display()))?;
            }
        }
        Ok(())
    }
}

/// True when `dir` is a tmpfs with at least [`RAM_FREE_MIN`] free, and the memory it takes from
/// is there too: the machine's available memory and, inside a memory-limited control group, the
/// headroom under its limit (tmpfs pages count against the writer's group).
fn ram_has_room(dir: &Path) -> bool {
    let is_ram = statfs::statfs(dir).is_ok_and(|s| s.filesystem_type() == statfs::TMPFS_MAGIC);
    let free = nix::sys::statvfs::statvfs(dir)
        .map(|s| s.blocks_available().saturating_mul(s.fragment_size()))
        .unwrap_or(0);
    is_ram && free >= RAM_FREE_MIN && memory_headroom().is_some_and(|m| m >= RAM_FREE_MIN)
}

/// Bytes of memory this process's copies could still take: `MemAvailable`, or less when its
/// memory control group (v1 or v2) has a lower headroom under its limit. `None` when unknown.
fn memory_headroom() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let available = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()?
        .saturating_mul(1024);
    Some(group_headroom().map_or(available, |g| g.min(available)))
}

/// The headroom under this process's memory control group's limit, when it has one.
fn group_headroom() -> Option<u64> {
    let groups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    groups.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let path = path.trim_start_matches('/');
        let (dir, limit, usage) = if controllers.is_empty() {
            (
                Path::new("/sys/fs/cgroup").join(path),
                "memory.max",
                "memory.current",
            )
        } else if controllers.split(',').any(|c| c == "memory") {
            (
                Path::new("/sys/fs/cgroup/memory").join(path),
                "memory.limit_in_bytes",
                "memory.usage_in_bytes",
            )
        } else {
            return None;
        };
        let read = |name: &str| -> Option<u64> {
            std::fs::read_to_string(dir.join(name))
                .ok()?
                .trim()
                .parse()
                .ok()
        };
        Some(read(limit)?.saturating_sub(read(usage)?))
    })
}

/// The name of the file system `path` is on (`tmpfs`, `ext4`, …; else its magic number).
pub fn fs_name(path: &Path) -> String {
    let Ok(stat) = statfs::statfs(path) else {
        return "unknown".to_owned();
    };
    let kind = stat.filesystem_type();
    let known: [(FsType, &str); 7] = [
        (statfs::TMPFS_MAGIC, "tmpfs"),
        (statfs::EXT4_SUPER_MAGIC, "ext4"),
        (statfs::XFS_SUPER_MAGIC, "xfs"),
        (statfs::BTRFS_SUPER_MAGIC, "btrfs"),
        (statfs::OVERLAYFS_SUPER_MAGIC, "overlayfs"),
        (statfs::NFS_SUPER_MAGIC, "nfs"),
        (statfs::FUSE_SUPER_MAGIC, "fuse"),
    ];
    known
        .iter()
        .find(|(magic, _)| *magic == kind)
        .map_or_else(|| format!("{kind:?}"), |(_, name)| (*name).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_parent_gets_a_private_folder_that_goes_whole() {
        let parent = tempfile::tempdir().expect("temp dir");
        let out = parent.path().join("out");
        let scratch = Scratch::choose(&out, Some(parent.path())).expect("scratch");
        assert!(scratch.private && scratch.dir.starts_with(parent.path()));
        let mode = std::fs::metadata(&scratch.dir)
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o711,
            "only the run's user may list or change it"
        );
        std::fs::create_dir_all(scratch.work().join("g")).expect("work");
        std::fs::create_dir_all(scratch.corpus()).expect("corpus");
        scratch.remove().expect("remove");
        assert!(!scratch.dir.exists());
    }

    #[test]
    fn copies_in_out_go_and_the_outputs_stay() {
        let out = tempfile::tempdir().expect("temp dir");
        let scratch = Scratch::in_out(out.path());
        std::fs::create_dir_all(scratch.work().join("g")).expect("work");
        std::fs::create_dir_all(scratch.corpus()).expect("corpus");
        std::fs::write(out.path().join("report.json"), b"{}").expect("report");
        scratch.remove().expect("remove");
        assert!(!scratch.work().exists() && !scratch.corpus().exists());
        assert!(out.path().join("report.json").is_file());
    }

    #[test]
    fn the_memory_headroom_is_read_on_linux() {
        let headroom = memory_headroom().expect("/proc/meminfo has MemAvailable");
        assert!(headroom > 0);
    }

    #[test]
    fn file_systems_are_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert!(!fs_name(dir.path()).is_empty());
        assert_eq!(fs_name(Path::new("/no/such/folder")), "unknown");
        if statfs::statfs(RAM_DIR).is_ok_and(|s| s.filesystem_type() == statfs::TMPFS_MAGIC) {
            assert_eq!(fs_name(Path::new(RAM_DIR)), "tmpfs");
        }
    }
}
