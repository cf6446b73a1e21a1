//! Opening a catalog by its location: the only place in pgops that tells a bucket (or a
//! sealed directory) from a local catalog (ADR 0023). Tools get a [`Sets`] and never ask
//! where its bytes lie.

use crate::backend::{self, Store, StoreError, StoreOptions};
use crate::sealed::open::{check_descriptor, scan_dir, set_dirs};
use crate::sealed::write::delete_sealed;
use ops_catalog::catalog::{Catalog, KEEP_FILE};
use ops_catalog::keys::TrustedKey;
use ops_catalog::lock::{CatalogLock, LockMode};
use ops_catalog::sets::{Dirs, Finished, ListedSet, LocalSets, OtherEntry, RefusedSet};
use ops_catalog::sets::{ScannedDir, Sets, SetsDir};
use ops_core::{timefmt, OpsError};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// How a tool opens a catalog.
#[derive(Debug, Clone)]
pub struct Open {
    /// The lock a local catalog is taken under (a sealed one has none: its writers publish
    /// with conditional writes).
    pub mode: LockMode,
    pub lock_timeout: Duration,
    /// The key sets must be signed with: optional locally, required for a sealed catalog,
    /// which is trusted only through its signatures.
    pub trust: Option<TrustedKey>,
}

/// Whether `location` holds sealed sets: every object-store location does (what leaves
/// the host is always encrypted); a directory does when its descriptor says so.
pub fn is_sealed(location: &str) -> bool {
    is_object_store(location)
        || std::fs::read(Path::new(location).join(crate::sealed::DESCRIPTOR))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|v| v["layout"] == "sealed")
}

/// Whether `location` names an object store (`s3://bucket/prefix`): what goes there is
/// always sealed.
pub fn is_object_store(location: &str) -> bool {
    location.starts_with("s3://")
}

/// Opens the catalog at `location`: a local catalog under its lock, or a sealed one (its
/// descriptor read, `public_key_required` without a trusted key).
pub fn open(location: &Path, how: &Open) -> Result<Box<dyn Sets>, OpsError> {
    match location.to_str().filter(|l| is_sealed(l)) {
        Some(l) => Ok(Box::new(SealedSets::open(l, how.trust.clone())?)),
        None => {
            let (catalog, lock): (Catalog, CatalogLock) =
                Catalog::open(location, how.mode, how.lock_timeout)?;
            Ok(Box::new(LocalSets::new(
                catalog.with_trust(how.trust.clone()),
                lock,
            )))
        }
    }
}

/// A sealed catalog: sets are signed envelopes over encrypted objects (ADR 0014). Only
/// envelopes and listings are read: no identity is needed to scan, rotate or delete.
#[derive(Debug)]
pub struct SealedSets {
    location: String,
    store: Box<dyn Store>,
    trust: TrustedKey,
    /// What the last verification of this catalog found failed, per directory of sets by
    /// its key (the encoded name: a database may be named `_globals`)
    /// (`remote-verify/<hash>.json` in the state directory), as a local set's
    /// `verify.json`: e.g. a ciphertext altered in place, which no listing shows.
    failed: BTreeMap<String, Vec<String>>,
}

impl SealedSets {
    pub fn open(location: &str, trust: Option<TrustedKey>) -> Result<SealedSets, OpsError> {
        let trust = trust.ok_or_else(ops_catalog::cli::public_key_required)?;
        let store = backend::open_location(location, &StoreOptions::default())
            .map_err(|e| e.to_ops_error("opening the catalog"))?;
        check_descriptor(store.as_ref())?;
        Ok(SealedSets {
            failed: crate::sealed::remotely_failed(location),
            location: location.trim_end_matches('/').to_string(),
            store,
            trust,
        })
    }

    fn at(&self) -> impl Fn(StoreError) -> OpsError + '_ {
        move |e| e.to_ops_error(&format!("reading {}", self.location))
    }

    fn place(&self, dir: &SetsDir, id: &str) -> String {
        format!("{}/{id}", dir.place)
    }
}

impl Sets for SealedSets {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn dirs(&self, wants: &dyn Fn(&str) -> bool) -> Result<Dirs, OpsError> {
        let dirs = set_dirs(self.store.as_ref(), wants).map_err(self.at())?;
        Ok(Dirs {
            dirs: dirs
                .into_iter()
                .map(|(key, label)| SetsDir {
                    place: format!("{}/{key}", self.location),
                    label,
                    key,
                })
                .collect(),
            unknown: Vec::new(),
        })
    }

    fn scan(&self, dir: &SetsDir, now: timefmt::Timestamp) -> Result<ScannedDir, OpsError> {
        let scanned =
            scan_dir(self.store.as_ref(), &dir.key, &self.trust, now).map_err(self.at())?;
        let failed_here = self.failed.get(&dir.key);
        let sets = scanned
            .sets
            .iter()
            .map(|s| ListedSet {
                id: s.id.clone(),
                started: s.started(),
                place: self.place(dir, &s.id),
                failed: s.damage_text().or_else(|| {
                    failed_here
                        .is_some_and(|f| f.contains(&s.id))
                        .then(|| "its verification failed in the bucket".to_string())
                }),
                pinned: scanned
                    .objects
                    .contains_key(&format!("{}/{KEEP_FILE}", s.id)),
            })
            .collect();
        let refused = scanned
            .rejected
            .iter()
            .map(|r| RefusedSet {
                id: r.id.clone(),
                place: self.place(dir, &r.id),
                code: r.code,
                reason: r.reason.clone(),
            })
            .collect();
        let others = scanned
            .incomplete
            .iter()
            .map(|id| OtherEntry {
                id: Some(id.clone()),
                place: self.place(dir, id),
                code: Some("set_incomplete"),
                reason: "objects without an envelope: a copy in progress or interrupted; kept"
                    .to_string(),
            })
            .collect();
        Ok(ScannedDir {
            sets,
            refused,
            others,
        })
    }

    fn finish_deletions(&self, _dir: &SetsDir, _dry_run: bool) -> Vec<Finished> {
        // A sealed set's deletion removes its envelope first: what a crash leaves is
        // objects without an envelope, reported by `scan` as incomplete.
        Vec::new()
    }

    fn delete(&self, dir: &SetsDir, id: &str) -> Result<(), OpsError> {
        // Listed again, not taken from the scan: a copy may have added objects since, and
        // every object under the set goes with it (one LIST per deleted set).
        let listed: Vec<String> = self
            .store
            .list_tree(&format!("{}/{id}", dir.key))
            .map_err(self.at())?
            .into_iter()
            .map(|o| o.name)
            .collect();
        delete_sealed(self.store.as_ref(), &dir.key, id, &listed)
    }
}
