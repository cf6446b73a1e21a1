//! The catalog lock: `flock` on `<backup-dir>/.lock`; writers exclusive, readers shared.
//!
//! `flock` locks die with the process, so a killed run never leaves the catalog locked.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    Shared,
    Exclusive,
}

/// A held lock; released on drop.
#[derive(Debug)]
pub struct CatalogLock {
    _file: File,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("the catalog lock {0} is held by another run")]
    Busy(String),
    #[error("cannot open the catalog lock {0}: {1}")]
    Io(String, io::Error),
}

impl LockError {
    pub fn to_ops_error(&self) -> ops_core::OpsError {
        match self {
            LockError::Busy(_) => ops_core::OpsError::new(
                "lock_busy",
                ops_core::Category::Timeout,
                format!("{self}; waited for --lock-timeout"),
            ),
            LockError::Io(path, e) => {
                ops_core::OpsError::io_at("catalog lock", std::path::Path::new(path), e)
            }
        }
    }
}

impl CatalogLock {
    /// Takes the lock on `<dir>/.lock`, polling until `timeout` has passed.
    pub fn acquire(
        dir: &Path,
        mode: LockMode,
        timeout: Duration,
    ) -> Result<CatalogLock, LockError> {
        Self::acquire_file(&dir.join(".lock"), mode, timeout)
    }

    /// Takes the lock on the file `path` (created if missing), polling until `timeout`.
    pub fn acquire_file(
        path: &Path,
        mode: LockMode,
        timeout: Duration,
    ) -> Result<CatalogLock, LockError> {
        let shown = path.display().to_string();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(ops_core::atomic::FILE_MODE)
            .open(path)
            .map_err(|e| LockError::Io(shown.clone(), e))?;
        ops_core::atomic::inherit_owner(path);
        let op = match mode {
            LockMode::Shared => libc::LOCK_SH,
            LockMode::Exclusive => libc::LOCK_EX,
        } | libc::LOCK_NB;
        let deadline = Instant::now() + timeout;
        loop {
            // SAFETY: the descriptor belongs to `file`, which outlives the call.
            if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
                return Ok(CatalogLock { _file: file });
            }
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EWOULDBLOCK)
                && err.kind() != io::ErrorKind::Interrupted
            {
                return Err(LockError::Io(shown, err));
            }
            if Instant::now() >= deadline {
                return Err(LockError::Busy(shown));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_excludes_and_shared_shares() {
        let dir = tempfile::tempdir().unwrap();
        let short = Duration::from_millis(120);
        let w = CatalogLock::acquire(dir.path(), LockMode::Exclusive, short).unwrap();
        assert!(matches!(
            CatalogLock::acquire(dir.path(), LockMode::Shared, short),
            Err(LockError::Busy(_))
        ));
        drop(w);
        let r1 = CatalogLock::acquire(dir.path(), LockMode::Shared, short).unwrap();
        let _r2 = CatalogLock::acquire(dir.path(), LockMode::Shared, short).unwrap();
        assert!(CatalogLock::acquire(dir.path(), LockMode::Exclusive, short).is_err());
        drop(r1);
    }
}
