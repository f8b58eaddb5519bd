//! Advisory whole-file locks (`flock`). The kernel releases them when the holder dies, so the
//! lock of a killed process never blocks the next one.

use std::fs::File;
use std::io;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// An exclusive lock held on an open file until this guard is dropped.
#[derive(Debug)]
pub struct ExclusiveLock {
    _flock: Flock<File>,
}

/// What a non-blocking lock attempt found.
#[derive(Debug)]
pub enum TryLock {
    Acquired(ExclusiveLock),
    /// Another open file description holds the lock.
    Held,
}

/// Blocks until an exclusive lock on `file` is held.
pub fn lock_exclusive(file: File) -> io::Result<ExclusiveLock> {
    Flock::lock(file, FlockArg::LockExclusive)
        .map(|flock| ExclusiveLock { _flock: flock })
        .map_err(|(_, errno)| io::Error::from(errno))
}

/// Takes an exclusive lock on `file` without waiting.
pub fn try_lock_exclusive(file: File) -> io::Result<TryLock> {
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(flock) => Ok(TryLock::Acquired(ExclusiveLock { _flock: flock })),
        Err((_, Errno::EWOULDBLOCK)) => Ok(TryLock::Held),
        Err((_, errno)) => Err(io::Error::from(errno)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_open_sees_the_lock_until_release() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("x.lock");
        let open = || {
            File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .expect("open")
        };
        let first = match try_lock_exclusive(open()).expect("lock") {
            TryLock::Acquired(lock) => lock,
            TryLock::Held => panic!("fresh file reported held"),
        };
        assert!(matches!(
            try_lock_exclusive(open()).expect("try"),
            TryLock::Held
        ));
        drop(first);
        assert!(matches!(
            try_lock_exclusive(open()).expect("try"),
            TryLock::Acquired(_)
        ));
    }
}
