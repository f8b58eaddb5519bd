//! The one walk of a handoff's media tree: every entry below a folder that is not itself a
//! folder, in name order, with its path relative to the root and its `lstat` metadata (symlinks
//! are seen, never followed). Stamping the tree and checking it walk it the same way; a stamp,
//! which needs no order, walks it on several threads ([`walk_parallel`]).

use std::ffi::OsString;
use std::fs::{self, Metadata};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

/// Calls `visit(path, relpath, metadata)` for every non-folder entry below the folder `root`,
/// folders in name order, depth first. `on_io` turns an IO failure at a path into the caller's
/// error; `visit`'s error ends the walk.
pub fn walk<E>(
    root: &Path,
    on_io: &dyn Fn(&Path, io::Error) -> E,
    visit: &mut dyn FnMut(&Path, &Path, &Metadata) -> Result<(), E>,
) -> Result<(), E> {
    walk_below(root, Path::new(""), on_io, visit)
}

fn walk_below<E>(
    dir: &Path,
    rel_dir: &Path,
    on_io: &dyn Fn(&Path, io::Error) -> E,
    visit: &mut dyn FnMut(&Path, &Path, &Metadata) -> Result<(), E>,
) -> Result<(), E> {
    for (name, entry) in read_folder(dir, on_io)? {
        let path = dir.join(&name);
        // `lstat` relative to the open folder (`fstatat` without following a symlink): the same
        // answer as by the full path, without resolving every component again for each file.
        let meta = entry.metadata().map_err(|e| on_io(&path, e))?;
        let relpath = rel_dir.join(&name);
        if meta.is_dir() {
            walk_below(&path, &relpath, on_io, visit)?;
        } else {
            visit(&path, &relpath, &meta)?;
        }
    }
    Ok(())
}

/// What [`walk_parallel`] does with each entry: `(accumulator, path, relpath, metadata)`.
pub type Fold<'a, A, E> = dyn Fn(&mut A, &Path, &Path, &Metadata) -> Result<(), E> + Sync + 'a;

/// Like [`walk`], on `threads` threads and in no particular order: each thread folds the
/// entries it meets into its own accumulator (made by `init`), and the accumulators are
/// returned. Folders are shared out as they are found. The first error ends the walk.
pub fn walk_parallel<A: Send, E: Send>(
    root: &Path,
    threads: usize,
    init: &(dyn Fn() -> A + Sync),
    on_io: &(dyn Fn(&Path, io::Error) -> E + Sync),
    visit: &Fold<'_, A, E>,
) -> Result<Vec<A>, E> {
    struct Queue {
        /// Folders not read yet: (path, path relative to the root).
        dirs: Vec<(PathBuf, PathBuf)>,
        /// Folders being read.
        busy: usize,
        failed: bool,
    }
    let state = Mutex::new(Queue {
        dirs: vec![(root.to_path_buf(), PathBuf::new())],
        busy: 0,
        failed: false,
    });
    let ready = Condvar::new();
    let lock = || {
        state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    };
    let worker = || -> Result<A, E> {
        let mut acc = init();
        loop {
            let (dir, rel_dir) = {
                let mut queue = lock();
                loop {
                    if queue.failed {
                        return Ok(acc);
                    }
                    if let Some(next) = queue.dirs.pop() {
                        queue.busy += 1;
                        break next;
                    }
                    if queue.busy == 0 {
                        return Ok(acc);
                    }
                    queue = ready
                        .wait(queue)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                }
            };
            let mut subdirs = Vec::new();
            // A panic (in `visit`) must still release the folder, or the others would wait for
            // it forever; it is raised again once they know.
            let listed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                read_folder(&dir, on_io).and_then(|entries| {
                    for (name, entry) in entries {
                        let path = dir.join(&name);
                        let meta = entry.metadata().map_err(|e| on_io(&path, e))?;
                        let relpath = rel_dir.join(&name);
                        if meta.is_dir() {
                            subdirs.push((path, relpath));
                        } else {
                            visit(&mut acc, &path, &relpath, &meta)?;
                        }
                    }
                    Ok(())
                })
            }));
            let mut queue = lock();
            queue.busy -= 1;
            queue.dirs.append(&mut subdirs);
            queue.failed |= !matches!(listed, Ok(Ok(())));
            drop(queue);
            ready.notify_all();
            match listed {
                Ok(listed) => listed?,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads.max(1)).map(|_| scope.spawn(worker)).collect();
        let mut out = Vec::with_capacity(handles.len());
        let mut first_error = None;
        for handle in handles {
            match handle.join() {
                Ok(Ok(acc)) => out.push(acc),
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(out),
        }
    })
}

/// The entries of the folder `dir` with their names, in name order.
fn read_folder<E>(
    dir: &Path,
    on_io: &dyn Fn(&Path, io::Error) -> E,
) -> Result<Vec<(OsString, fs::DirEntry)>, E> {
    let mut entries: Vec<(OsString, fs::DirEntry)> = fs::read_dir(dir)
        .map_err(|e| on_io(dir, e))?
        .map(|entry| entry.map(|e| (e.file_name(), e)))
        .collect::<Result<_, _>>()
        .map_err(|e| on_io(dir, e))?;
    // Name order within a folder, which is the order of the full paths component by component.
    entries.sort_unstable_by(|a, b| a.0.as_encoded_bytes().cmp(b.0.as_encoded_bytes()));
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

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

    #[test]
    fn the_parallel_walk_sees_what_the_walk_sees_and_stops_at_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        for folder in 0..6 {
            for sub in 0..3 {
                let path = root.join(format!("f{folder}/s{sub}"));
                fs::create_dir_all(&path).expect("mkdir");
                for file in 0..4 {
                    fs::write(path.join(format!("{file}.blob")), b"x").expect("write");
                }
            }
        }
        std::os::unix::fs::symlink(root.join("f0"), root.join("f0/link")).expect("symlink");
        let mut sequential = Vec::new();
        walk(root, &|_, e| e, &mut |_, relpath, meta| {
            sequential.push((relpath.to_path_buf(), meta.ino()));
            Ok(())
        })
        .expect("walks");
        for threads in [1, 2, 4] {
            let parts = walk_parallel(
                root,
                threads,
                &Vec::new,
                &|_, e| e,
                &|part: &mut Vec<(PathBuf, u64)>, _, relpath, meta| {
                    part.push((relpath.to_path_buf(), meta.ino()));
                    Ok(())
                },
            )
            .expect("walks");
            let mut parallel: Vec<_> = parts.into_iter().flatten().collect();
            parallel.sort();
            assert_eq!(parallel, sequential, "{threads} threads");
        }
        let stopped = walk_parallel(root, 2, &|| (), &|_, e| e, &|_, _, relpath, _| {
            if relpath.ends_with("s1/2.blob") {
                Err(io::Error::other("stop"))
            } else {
                Ok(())
            }
        });
        assert_eq!(stopped.expect_err("stopped").to_string(), "stop");
    }
}
