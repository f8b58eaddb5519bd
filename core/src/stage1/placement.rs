//! Where a DataRoot may lie relative to what Stage 1 reads. The Hypervisor deletes a handoff
//! once it carries a reap marker, and owns its spool: a DataRoot inside a handoff or the spool
//! would be deleted with them, and a handoff or spool inside the DataRoot would be reaped out of
//! it. Both are refused before anything is created, each with its own code. Paths are compared
//! after resolving symlinks (a DataRoot that does not exist yet is resolved through its nearest
//! existing ancestor), component by component, so `/data` and `/data2` are apart.

use std::io;
use std::path::{Component, Path, PathBuf};

use thiserror::Error;

/// What Stage 1 reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Handoff,
    Spool,
}

impl Source {
    fn name(self) -> &'static str {
        match self {
            Source::Handoff => "handoff",
            Source::Spool => "spool",
        }
    }
}

/// A DataRoot and a source that overlap.
#[derive(Debug, Error)]
pub enum PlacementError {
    #[error(
        "place data dir {data_root}: it lies inside the {} {source_root}, which the Hypervisor deletes",
        .source_kind.name()
    )]
    DataRootInside {
        data_root: PathBuf,
        source_root: PathBuf,
        source_kind: Source,
    },
    #[error(
        "place data dir {data_root}: the {} {source_root} lies inside it, and its reaping would delete DataRoot files",
        .source_kind.name()
    )]
    SourceInside {
        data_root: PathBuf,
        source_root: PathBuf,
        source_kind: Source,
    },
    #[error("resolve {path}: {source}")]
    Resolve { path: PathBuf, source: io::Error },
}

impl PlacementError {
    pub fn code(&self) -> &'static str {
        match self {
            PlacementError::DataRootInside {
                source_kind: Source::Handoff,
                ..
            } => "data_dir_inside_handoff",
            PlacementError::DataRootInside {
                source_kind: Source::Spool,
                ..
            } => "data_dir_inside_spool",
            PlacementError::SourceInside {
                source_kind: Source::Handoff,
                ..
            } => "handoff_inside_data_dir",
            PlacementError::SourceInside {
                source_kind: Source::Spool,
                ..
            } => "spool_inside_data_dir",
            PlacementError::Resolve { .. } => "data_dir_unwritable",
        }
    }
}

/// `path` with symlinks resolved, component by component; from the first component that does
/// not exist yet on, the rest is applied as creating it would (`..` goes up, `.` stays).
pub fn resolve(path: &Path) -> io::Result<PathBuf> {
    let mut resolved = PathBuf::new();
    let mut exists = true;
    for component in std::path::absolute(path)?.components() {
        match component {
            Component::Prefix(_) | Component::RootDir => resolved.push(component),
            Component::CurDir => {}
            // A resolved prefix holds no symlink, so its parent is its `..`.
            Component::ParentDir => {
                resolved.pop();
            }
            Component::Normal(name) => {
                resolved.push(name);
                if exists && std::fs::symlink_metadata(&resolved).is_ok() {
                    resolved = resolved.canonicalize()?;
                } else {
                    exists = false;
                }
            }
        }
    }
    Ok(resolved)
}

/// Refuses a DataRoot that lies inside `source` (or is it) and a `source` inside the DataRoot.
pub fn check_apart(
    source_kind: Source,
    source: &Path,
    data_root: &Path,
) -> Result<(), PlacementError> {
    let resolve_at = |path: &Path| {
        resolve(path).map_err(|e| PlacementError::Resolve {
            path: path.to_path_buf(),
            source: e,
        })
    };
    let source_root = resolve_at(source)?;
    let data_root = resolve_at(data_root)?;
    if data_root.starts_with(&source_root) {
        return Err(PlacementError::DataRootInside {
            data_root,
            source_root,
            source_kind,
        });
    }
    if source_root.starts_with(&data_root) {
        return Err(PlacementError::SourceInside {
            data_root,
            source_root,
            source_kind,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(source_kind: Source, source: &Path, data: &Path) -> Option<&'static str> {
        check_apart(source_kind, source, data)
            .err()
            .map(|e| e.code())
    }

    #[test]
    fn overlaps_are_refused_and_neighbours_are_not() {
        let dir = tempfile::tempdir().expect("temp dir");
        let spool = dir.path().join("spool");
        let handoff = spool.join("h1");
        std::fs::create_dir_all(&handoff).expect("handoff");
        let data = dir.path().join("data");
        assert_eq!(code(Source::Handoff, &handoff, &data), None);
        assert_eq!(code(Source::Spool, &spool, &data), None);
        // A sibling whose name extends the source's is apart.
        assert_eq!(
            code(Source::Spool, &spool, &dir.path().join("spool2")),
            None
        );
        assert_eq!(
            code(Source::Handoff, &handoff, &handoff.join("data")),
            Some("data_dir_inside_handoff")
        );
        assert_eq!(
            code(Source::Handoff, &handoff, &handoff),
            Some("data_dir_inside_handoff")
        );
        assert_eq!(
            code(Source::Spool, &spool, &spool.join("new/../data")),
            Some("data_dir_inside_spool")
        );
        assert_eq!(
            code(Source::Spool, &spool, dir.path()),
            Some("spool_inside_data_dir")
        );
        assert_eq!(
            code(Source::Handoff, &handoff, &spool),
            Some("handoff_inside_data_dir")
        );
    }

    #[test]
    fn symlinks_do_not_hide_an_overlap() {
        let dir = tempfile::tempdir().expect("temp dir");
        let handoff = dir.path().join("handoff");
        std::fs::create_dir_all(&handoff).expect("handoff");
        let link = dir.path().join("elsewhere");
        std::os::unix::fs::symlink(&handoff, &link).expect("symlink");
        assert_eq!(
            code(Source::Handoff, &handoff, &link.join("data")),
            Some("data_dir_inside_handoff")
        );
        assert_eq!(
            code(Source::Handoff, &link, &handoff.join("data")),
            Some("data_dir_inside_handoff")
        );
    }
}
