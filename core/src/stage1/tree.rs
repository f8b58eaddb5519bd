//! The one walk of a handoff's media tree: every entry below a folder that is not itself a
//! folder, in name order, with its path relative to the root and its `lstat` metadata (symlinks
//! are seen, never followed). Stamping the tree and checking it walk it the same way.

use std::fs::{self, Metadata};
use std::io;
use std::path::{Path, PathBuf};

/// Calls `visit(path, relpath, metadata)` for every non-folder entry below the folder `root`,
/// folders in name order, depth first. `on_io` turns an IO failure at a path into the caller's
/// error; `visit`'s error ends the walk.
pub fn walk<E>(
    root: &Path,
    on_io: &dyn Fn(&Path, io::Error) -> E,
    visit: &mut dyn FnMut(&Path, &Path, &Metadata) -> Result<(), E>,
) -> Result<(), E> {
    walk_below(root, root, on_io, visit)
}

fn walk_below<E>(
    root: &Path,
    dir: &Path,
    on_io: &dyn Fn(&Path, io::Error) -> E,
    visit: &mut dyn FnMut(&Path, &Path, &Metadata) -> Result<(), E>,
) -> Result<(), E> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| on_io(dir, e))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(|e| on_io(dir, e))?;
    entries.sort();
    for path in entries {
        let meta = fs::symlink_metadata(&path).map_err(|e| on_io(&path, e))?;
        if meta.is_dir() {
            walk_below(root, &path, on_io, visit)?;
        } else {
            let relpath = path.strip_prefix(root).unwrap_or(&path);
            visit(&path, relpath, &meta)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_non_folder_entry_is_visited_in_name_order_and_symlinks_are_not_followed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        fs::create_dir_all(root.join("b/inner")).expect("mkdir");
        fs::create_dir_all(root.join("a")).expect("mkdir");
        fs::write(root.join("b/inner/z.png"), b"z").expect("write");
        fs::write(root.join("b/y.png"), b"y").expect("write");
        fs::write(root.join("a/x.png"), b"x").expect("write");
        std::os::unix::fs::symlink(root.join("a"), root.join("c")).expect("symlink");
        let mut seen = Vec::new();
        walk(root, &|_, e| e, &mut |_, relpath, meta| {
            seen.push((relpath.to_string_lossy().into_owned(), meta.is_symlink()));
            Ok(())
        })
        .expect("walks");
        assert_eq!(
            seen,
            [
                ("a/x.png".to_owned(), false),
                ("b/inner/z.png".to_owned(), false),
                ("b/y.png".to_owned(), false),
                ("c".to_owned(), true),
            ]
        );
        let stopped = walk(root, &|_, e| e, &mut |_, _, _| {
            Err(io::Error::other("stop"))
        });
        assert_eq!(stopped.expect_err("stopped").to_string(), "stop");
    }
}
