//! A catalog in a local directory (a disk, a second disk, an NFS mount).

use super::{check_key, DirListing, Hashing, ObjectInfo, PutMode, Store, StoreError, Stored};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    pub fn new(root: impl Into<PathBuf>) -> LocalStore {
        LocalStore { root: root.into() }
    }

    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }
}

fn io_error(what: &Path, e: std::io::Error) -> StoreError {
    match e.kind() {
        std::io::ErrorKind::NotFound => StoreError::NotFound(what.display().to_string()),
        std::io::ErrorKind::PermissionDenied => StoreError::Denied(what.display().to_string()),
        std::io::ErrorKind::AlreadyExists => StoreError::Exists(what.display().to_string()),
        _ => StoreError::Other(format!("{}: {e}", what.display())),
    }
}

impl Store for LocalStore {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    /// Real directories and regular files only: a link is neither (the catalog's rule).
    fn list_dir(&self, dir: &str) -> Result<DirListing, StoreError> {
        let path = if dir.is_empty() {
            self.root.clone()
        } else {
            self.path(dir)?
        };
        let mut out = DirListing::default();
        let rd = match fs::read_dir(&path) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io_error(&path, e)),
        };
        for e in rd {
            let e = e.map_err(|e| io_error(&path, e))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let ft = e.file_type().map_err(|err| io_error(&e.path(), err))?;
            if ft.is_dir() {
                out.dirs.push(name);
            } else if ft.is_file() {
                let size = e.metadata().map_err(|err| io_error(&e.path(), err))?.len();
                out.objects.push(ObjectInfo { name, size });
            }
        }
        out.dirs.sort();
        out.objects.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Regular files only, links not followed (the catalog's rule).
    fn list_tree(&self, dir: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        let base = self.path(dir)?;
        let mut out = Vec::new();
        for e in walkdir::WalkDir::new(&base)
            .min_depth(1)
            .sort_by_file_name()
        {
            let e = match e {
                Ok(e) => e,
                Err(e)
                    if e.io_error()
                        .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound) =>
                {
                    return Ok(out)
                }
                Err(e) => return Err(StoreError::Other(format!("{}: {e}", base.display()))),
            };
            if e.file_type().is_file() {
                let size = e
                    .metadata()
                    .map_err(|err| StoreError::Other(err.to_string()))?
                    .len();
                let rel = e.path().strip_prefix(&base).expect("under the base");
                let name = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push(ObjectInfo { name, size });
            }
        }
        Ok(out)
    }

    fn size(&self, key: &str) -> Result<Option<u64>, StoreError> {
        let path = self.path(key)?;
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(&path, e)),
        }
    }

    fn open(&self, key: &str) -> Result<Box<dyn Read + Send>, StoreError> {
        let path = self.path(key)?;
        let f = fs::File::open(&path).map_err(|e| io_error(&path, e))?;
        Ok(Box::new(std::io::BufReader::with_capacity(
            ops_core::chunks::CHUNK,
            f,
        )))
    }

    /// Into a private temporary file beside the target, fsynced, then renamed (Overwrite)
    /// or hard-linked (Create: fails if the name exists) into place.
    fn put(
        &self,
        key: &str,
        src: &mut dyn Read,
        _size_hint: Option<u64>,
        mode: PutMode,
    ) -> Result<Stored, StoreError> {
        let path = self.path(key)?;
        let dir = path.parent().expect("a key has a parent");
        ops_core::atomic::create_private_dir_all(dir).map_err(|e| io_error(dir, e))?;
        let name = path
            .file_name()
            .expect("a key names a file")
            .to_string_lossy();
        // What a writer killed here before left is removed first: nothing else would ever
        // remove it, and a set published around it would fail verification for ever.
        remove_dead_temporaries(dir).map_err(|e| io_error(dir, e))?;
        let tmp = dir.join(format!(".{name}{TEMP_INFIX}{}", std::process::id()));
        let mut f = ops_core::atomic::create_private_file(&tmp).map_err(|e| io_error(&tmp, e))?;
        let mut src = Hashing::new(src);
        let mut buf = vec![0u8; ops_core::chunks::CHUNK];
        let written = loop {
            match super::fill(&mut src, &mut buf, key) {
                Ok(0) => break f.sync_all().map_err(|e| io_error(&tmp, e)),
                Ok(n) => {
                    if let Err(e) = f.write_all(&buf[..n]) {
                        break Err(io_error(&tmp, e));
                    }
                }
                Err(e) => break Err(e),
            }
        }
        .map(|()| super::stored(src));
        ops_core::failpoint::hit("store.local.before_place");
        let placed = written.and_then(|s| {
            match mode {
                PutMode::Overwrite => fs::rename(&tmp, &path),
                PutMode::Create => fs::hard_link(&tmp, &path).and_then(|()| fs::remove_file(&tmp)),
            }
            .map_err(|e| io_error(&path, e))?;
            ops_core::atomic::fsync_dir(dir).map_err(|e| io_error(dir, e))?;
            Ok(s)
        });
        if placed.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        placed
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path(key)?;
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error(&path, e)),
            _ => Ok(()),
        }
    }
}

/// A temporary file of [`LocalStore::put`]: `.<name>.partial-<pid of its writer>`.
const TEMP_INFIX: &str = ".partial-";

/// Removes from `dir` the temporary files of writers that are dead (killed mid-write), and
/// returns their names. Only names of the form [`LocalStore::put`] gives its temporaries
/// are touched, and only regular files.
pub fn remove_dead_temporaries(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut removed = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(e),
    };
    for e in rd {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix('.')
            .and_then(|n| n.rsplit_once(TEMP_INFIX))
            .and_then(|(_, pid)| pid.parse::<i32>().ok())
        else {
            continue;
        };
        if pid > 0 && !ops_core::scratch::alive(pid) && e.file_type()?.is_file() {
            fs::remove_file(e.path())?;
            removed.push(name);
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_list_read_delete() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStore::new(dir.path());
        let w = s
            .put("db/1/a.dump", &mut &b"hello"[..], None, PutMode::Overwrite)
            .unwrap();
        assert_eq!(w.size, 5);
        assert_eq!(
            w.sha256,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(s.list_dir("").unwrap().dirs, ["db"]);
        assert_eq!(
            s.list_dir("db/1").unwrap().objects,
            [ObjectInfo {
                name: "a.dump".into(),
                size: 5
            }]
        );
        let mut back = String::new();
        s.open("db/1/a.dump")
            .unwrap()
            .read_to_string(&mut back)
            .unwrap();
        assert_eq!(back, "hello");
        // Create never replaces.
        s.put("db/1/m.json", &mut &b"1"[..], None, PutMode::Create)
            .unwrap();
        let again = s.put("db/1/m.json", &mut &b"2"[..], None, PutMode::Create);
        assert_eq!(again.unwrap_err().code(), "store_exists");
        assert_eq!(s.size("db/1/m.json").unwrap(), Some(1));
        assert_eq!(
            s.list_dir("db/1").unwrap().objects.len(),
            2,
            "no temporary left"
        );
        let tree: Vec<String> = s
            .list_tree("db")
            .unwrap()
            .into_iter()
            .map(|o| o.name)
            .collect();
        assert_eq!(tree, ["1/a.dump", "1/m.json"]);
        assert!(s.list_tree("nothing").unwrap().is_empty());
        s.delete("db/1/a.dump").unwrap();
        s.delete("db/1/a.dump").unwrap();
        assert_eq!(s.size("db/1/a.dump").unwrap(), None);
        assert_eq!(s.open("nope").err().unwrap().code(), "store_not_found");
    }

    #[test]
    fn a_dead_writers_temporaries_go_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // A pid no process has (above the kernel's pid_max), ours, and names that only
        // look alike.
        for n in [
            ".a.dump.partial-99999999",
            &format!(".b.partial-{}", std::process::id()),
            "c.partial-99999999",
            ".d.partial-x",
        ] {
            fs::write(d.join(n), b"x").unwrap();
        }
        let removed = remove_dead_temporaries(d).unwrap();
        assert_eq!(removed, [".a.dump.partial-99999999"]);
        assert_eq!(fs::read_dir(d).unwrap().count(), 3);
    }
}
