//! The one way a set comes into a local directory of sets: begin (`.partial-<id>`) → add
//! files → publish (manifest, signature, one rename), or drop it and it is gone. pgdump-run
//! writes new sets through it, backup-copy and the restores bring sealed sets back through
//! it; no tool names a partial itself.

use super::{remove_partial, write_signed_manifest, Manifest, PARTIAL_PREFIX};
use crate::keys::SigningKey;
use ops_core::{atomic, timefmt, OpsError};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A set being written. Dropped unpublished, it removes its `.partial-<id>` (and its
/// database's directory, when this writer made it and nothing else is in it): a failed or
/// killed writer never leaves anything that looks complete, nor an empty directory that a
/// freshness check would trip on.
#[derive(Debug)]
pub struct SetWriter {
    dir: PathBuf,
    partial: PathBuf,
    id: String,
    started: timefmt::Timestamp,
    made_dir: bool,
    published: bool,
}

impl SetWriter {
    /// Begins a new set in the directory of sets `dir` (made if missing), its id the start
    /// time to the second: the next second when a set or partial of this id exists.
    pub fn new_set(dir: &Path) -> Result<SetWriter, OpsError> {
        let made_dir = Self::prepare(dir)?;
        loop {
            let now = timefmt::Timestamp::now();
            let id = timefmt::set_id(now);
            let partial = dir.join(format!("{PARTIAL_PREFIX}{id}"));
            if !dir.join(&id).exists() && !partial.exists() {
                let mut w = SetWriter {
                    dir: dir.to_path_buf(),
                    partial,
                    id,
                    started: now,
                    made_dir,
                    published: false,
                };
                w.create()?;
                return Ok(w);
            }
            std::thread::sleep(Duration::from_millis(
                1000 - now.as_millisecond().rem_euclid(1000) as u64,
            ));
        }
    }

    /// Begins a copy of the set `id` (brought back from elsewhere with its id) in `dir`.
    /// A `.partial-<id>` an interrupted copy left is removed first: the caller holds the
    /// catalog's lock, so no other writer owns it.
    pub fn copy_of(dir: &Path, id: &str) -> Result<SetWriter, OpsError> {
        let started = timefmt::parse_set_id(id).ok_or_else(|| {
            OpsError::validation("invalid_set_id", format!("{id:?} is not a set id"))
        })?;
        let made_dir = Self::prepare(dir)?;
        let mut w = SetWriter {
            dir: dir.to_path_buf(),
            partial: dir.join(format!("{PARTIAL_PREFIX}{id}")),
            id: id.to_string(),
            started,
            made_dir,
            published: false,
        };
        if w.partial.exists() {
            remove_partial(&w.partial).map_err(|e| OpsError::io_at("removing", &w.partial, &e))?;
        }
        w.create()?;
        Ok(w)
    }

    fn prepare(dir: &Path) -> Result<bool, OpsError> {
        let made_dir = !dir.exists();
        atomic::create_private_dir_all(dir).map_err(|e| OpsError::io_at("creating", dir, &e))?;
        Ok(made_dir)
    }

    fn create(&mut self) -> Result<(), OpsError> {
        atomic::create_private_dir(&self.partial)
            .and_then(|()| atomic::fsync_dir(&self.dir))
            .map_err(|e| OpsError::io_at("creating", &self.partial, &e))
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn started(&self) -> timefmt::Timestamp {
        self.started
    }

    /// Where the set's files are written until it is published.
    pub fn path(&self) -> &Path {
        &self.partial
    }

    /// Where the set will lie once published.
    pub fn final_path(&self) -> PathBuf {
        self.dir.join(&self.id)
    }

    /// Writes `manifest` (and its signature, with `signing`) and publishes the set.
    pub fn publish(
        self,
        manifest: &Manifest,
        signing: Option<&SigningKey>,
    ) -> Result<PathBuf, OpsError> {
        write_signed_manifest(&self.partial, manifest, signing)
            .map_err(|e| OpsError::io_at("writing the manifest into", &self.partial, &e))?;
        self.publish_as_written()
    }

    /// Publishes the set whose manifest (and signature) were written with its files, as
    /// its backup host wrote them: one rename, never over an existing set.
    pub fn publish_as_written(mut self) -> Result<PathBuf, OpsError> {
        let final_dir = self.final_path();
        atomic::publish_dir(&self.partial, &final_dir)
            .map_err(|e| OpsError::io_at("publishing", &final_dir, &e))?;
        self.published = true;
        Ok(final_dir)
    }
}

impl Drop for SetWriter {
    fn drop(&mut self) {
        if self.published {
            return;
        }
        if let Err(e) = remove_partial(&self.partial) {
            eprintln!("pgops: could not remove {}: {e}", self.partial.display());
        }
        if self.made_dir {
            // Only an empty directory goes: anything else in it is not this writer's.
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(id: &str) -> Manifest {
        serde_json::from_value(serde_json::json!({
            "v": 1, "id": id, "kind": "database", "database": "app", "status": "complete",
            "started_at": "", "finished_at": "", "duration_ms": 0, "server_version": "16",
            "pg_dump_version": "16", "format": "custom",
            "compression": {"algorithm": "none", "level": null},
            "files": [], "tables": [], "large_objects": 0, "database_size": null,
            "connection": {}, "tool": {"name": "t", "version": "0"}, "correlation_id": "c"
        }))
        .unwrap()
    }

    #[test]
    fn a_set_is_published_whole_or_leaves_nothing() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("app");
        let w = SetWriter::new_set(&dir).unwrap();
        assert!(w.path().is_dir());
        assert!(w
            .path()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with(PARTIAL_PREFIX));
        drop(w);
        assert!(
            !dir.exists(),
            "a writer that made the directory takes it away again"
        );

        let w = SetWriter::new_set(&dir).unwrap();
        let id = w.id().to_string();
        std::fs::write(w.path().join("app.dump"), b"x").unwrap();
        let published = w.publish(&manifest(&id), None).unwrap();
        assert_eq!(published, dir.join(&id));
        assert!(published.join("manifest.json").is_file());
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no partial left"
        );
    }

    #[test]
    fn a_copy_replaces_what_an_interrupted_copy_left_but_never_a_published_set() {
        let root = tempfile::tempdir().unwrap();
        let id = "20261124T030001Z";
        let stale = root.path().join(format!("{PARTIAL_PREFIX}{id}"));
        std::fs::create_dir(&stale).unwrap();
        std::fs::write(stale.join("half"), b"x").unwrap();
        let w = SetWriter::copy_of(root.path(), id).unwrap();
        assert!(!w.path().join("half").exists());
        std::fs::write(w.path().join("manifest.json"), b"{}").unwrap();
        w.publish_as_written().unwrap();
        let again = SetWriter::copy_of(root.path(), id).unwrap();
        assert!(
            again.publish_as_written().is_err(),
            "a published set is never replaced"
        );
        assert!(root.path().join(id).join("manifest.json").is_file());
        assert!(SetWriter::copy_of(root.path(), "not-an-id").is_err());
    }
}
