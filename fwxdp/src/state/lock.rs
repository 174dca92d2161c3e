//! Serialises fwxdp invocations that change or read pinned state.

use std::{fs::File, io, path::PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// The lock file; a regular file because a bpffs cannot hold one.
pub const LOCK_FILE: &str = "/run/fwxdp.lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot open lock file {path}")]
    Open { path: PathBuf, source: io::Error },
    #[error("cannot lock {path}")]
    Lock { path: PathBuf, source: nix::Error },
}

/// An exclusive lock held until dropped.
#[derive(Debug)]
pub struct StateLock {
    _lock: Flock<File>,
}

impl StateLock {
    /// Blocks until no other fwxdp invocation holds the lock.
    pub fn acquire() -> Result<Self, LockError> {
        let path = PathBuf::from(LOCK_FILE);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| LockError::Open {
                path: path.clone(),
                source,
            })?;
        let lock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, source)| LockError::Lock { path, source })?;
        Ok(Self { _lock: lock })
    }
}
