//! Durable files and directories: a crash at any moment leaves the old state or the new one.
//!
//! Recipe: write into a temporary name in the same directory, fsync the file, rename it over
//! the final name, fsync the directory. Everything pgops creates is private: files 0600,
//! directories 0700, whatever the umask. Run as root, everything it creates takes the owner
//! and group of the directory it is created in ([`inherit_owner`]): a catalog owned by
//! `postgres` stays usable by the units that run as `postgres` after a root run.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

pub const FILE_MODE: u32 = 0o600;
pub const DIR_MODE: u32 = 0o700;

/// When running as root, gives `path` the owner and group of the directory it is in, so
/// that a root run (port-audit, an operator's `sudo`) never leaves files in a catalog or
/// state directory that its owner's units cannot read, append to or lock (`Permission
/// denied` on every later run). Best effort: a file system that refuses (NFS root squash)
/// keeps root's ownership, which is reported on stderr, and the write itself stands.
pub fn inherit_owner(path: &Path) {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return;
    };
    let (Ok(d), Ok(f)) = (fs::metadata(parent), fs::symlink_metadata(path)) else {
        return;
    };
    if (f.uid(), f.gid()) != (d.uid(), d.gid()) {
        if let Err(e) = std::os::unix::fs::lchown(path, Some(d.uid()), Some(d.gid())) {
            eprintln!(
                "pgops: warning: could not give {} to its directory's owner ({}:{}): {e}",
                path.display(),
                d.uid(),
                d.gid()
            );
        }
    }
}

/// Creates a new private file; fails if it exists.
pub fn create_private_file(path: &Path) -> io::Result<File> {
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)?;
    inherit_owner(path);
    Ok(f)
}

/// Creates one private directory; fails if it exists.
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    fs::DirBuilder::new().mode(DIR_MODE).create(path)?;
    inherit_owner(path);
    Ok(())
}

/// Creates a private directory if it is missing (and its parent's entry durably).
pub fn ensure_private_dir(path: &Path) -> io::Result<()> {
    match create_private_dir(path) {
        Ok(()) => {
            if let Some(parent) = path.parent() {
                fsync_dir(parent)?;
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates a private directory and its missing parents (each 0700).
pub fn create_private_dir_all(path: &Path) -> io::Result<()> {
    let missing: Vec<&Path> = path.ancestors().take_while(|p| !p.exists()).collect();
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)?;
    // Outermost first: each takes the owner of the one it was made in.
    for p in missing.iter().rev() {
        inherit_owner(p);
    }
    Ok(())
}

/// Makes a directory's entries (creations, renames, deletions) durable.
pub fn fsync_dir(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

/// Writes `bytes` to `path` atomically and durably, replacing any existing file.
pub fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_file_mode(path, bytes, FILE_MODE)
}

/// [`write_file`] with the file's `mode` (before the umask): for files meant for other
/// users, such as the metrics node_exporter reads.
pub fn write_file_mode(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no parent"))?;
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    // The temporary name ends in `.tmp`, never in the final name's extension: readers
    // that pick files by extension (node_exporter's `*.prom`) must not see a partial one.
    let tmp = dir.join(format!(
        ".tmp-{}-{}.tmp",
        std::process::id(),
        name.to_string_lossy()
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        inherit_owner(&tmp);
        fs::rename(&tmp, path)?;
        fsync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Renames a finished directory into place and makes the rename durable. `to` must not exist.
pub fn publish_dir(from: &Path, to: &Path) -> io::Result<()> {
    fsync_dir(from)?;
    if to.exists() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} already exists", to.display()),
        ));
    }
    fs::rename(from, to)?;
    if let Some(parent) = to.parent() {
        fsync_dir(parent)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn write_file_is_private_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.json");
        write_file(&p, b"one").unwrap();
        write_file(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn as_root_what_is_created_takes_its_directory_owner() {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        let top = tempfile::tempdir().unwrap();
        let dir = top.path().join("catalog");
        fs::create_dir(&dir).unwrap();
        std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
        write_file(&dir.join("verify.json"), b"{}").unwrap();
        create_private_dir_all(&dir.join("db/.partial-x")).unwrap();
        drop(create_private_file(&dir.join("db/.partial-x/f")).unwrap());
        for p in ["verify.json", "db", "db/.partial-x", "db/.partial-x/f"] {
            let m = fs::symlink_metadata(dir.join(p)).unwrap();
            assert_eq!((m.uid(), m.gid()), (65534, 65534), "{p}");
        }
        // Where root owns the directory, nothing changes.
        write_file(&top.path().join("r"), b"x").unwrap();
        assert_eq!(fs::metadata(top.path().join("r")).unwrap().uid(), 0);
    }

    #[test]
    fn publish_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        create_private_dir(&a).unwrap();
        create_private_dir(&b).unwrap();
        assert!(publish_dir(&a, &b).is_err());
        assert!(a.exists());
        fs::remove_dir(&b).unwrap();
        publish_dir(&a, &b).unwrap();
        assert!(!a.exists() && b.is_dir());
        assert_eq!(
            fs::metadata(&b).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }
}
