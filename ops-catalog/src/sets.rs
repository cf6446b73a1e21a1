//! The one face every tool works against, wherever the sets lie (ADR 0023): list the
//! directories of sets, scan one into the sets that count and the entries that do not,
//! finish what an interrupted deletion left, delete a set.
//!
//! The catalog on a local directory ([`LocalSets`]) is the first implementation; a sealed
//! catalog (a bucket, or a sealed directory) is `ops_offsite`'s, and `ops_offsite::open` is
//! the only place that tells them apart. What a set *is* (its storage's set rule, the one
//! clock rule [`catalog::clock_skew`], "a failed or damaged set is failed") is settled by
//! the scan; what a set is *worth* (retention, min-keep, pins) is decided above the face,
//! by the same code for every storage.

use crate::catalog::{self, Catalog, SetDir, SetRef, Verdict};
use crate::lock::CatalogLock;
use ops_core::{timefmt, OpsError};

/// A directory of sets: one database's, or `_globals`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetsDir {
    /// How a person names it: the database, or `_globals`.
    pub label: String,
    /// Where it lies, for people (a path, or `s3://bucket/prefix/<dir>`).
    pub place: String,
    /// The storage's own name for it (the encoded directory name).
    pub key: String,
}

/// A set that passed its storage's set rule, with what the storage knows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedSet {
    pub id: String,
    pub started: timefmt::Timestamp,
    /// Where it lies, for people.
    pub place: String,
    /// Why it cannot be counted as restorable, when it cannot: its verification failed
    /// (locally, or in the bucket), or the listing shows it damaged. Such a set fills no
    /// retention period and is never min-keep.
    pub failed: Option<String>,
    /// Pinned (`KEEP`): never deleted by retention.
    pub pinned: bool,
}

/// An entry named like a set that is not taken for one: reported, never counted, never
/// deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedSet {
    pub id: String,
    pub place: String,
    /// The stable code (`signature_invalid`, `set_misplaced`, `clock_skew`, …).
    pub code: &'static str,
    pub reason: String,
}

/// Anything else in a directory of sets (a backup being written, a copy in progress, a
/// stray entry), with what it is: reported, never touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherEntry {
    pub id: Option<String>,
    pub place: String,
    /// A stable code where the storage has one (`set_incomplete`).
    pub code: Option<&'static str>,
    pub reason: String,
}

/// What one directory of sets holds: sets oldest first, then what is not a set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScannedDir {
    pub sets: Vec<ListedSet>,
    pub refused: Vec<RefusedSet>,
    pub others: Vec<OtherEntry>,
}

/// A deletion a crash interrupted, finished (or not) by [`Sets::finish_deletions`].
#[derive(Debug)]
pub struct Finished {
    pub id: String,
    pub place: String,
    pub result: Result<(), OpsError>,
}

/// The directories of sets of a catalog, and the entries at its root that are not
/// pgops's (reported, never touched).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dirs {
    pub dirs: Vec<SetsDir>,
    pub unknown: Vec<String>,
}

/// Where a catalog's sets lie, as every tool sees them.
pub trait Sets: std::fmt::Debug {
    /// Where, for people (never a secret).
    fn location(&self) -> String;
    /// The directories of sets whose label `wants` selects.
    fn dirs(&self, wants: &dyn Fn(&str) -> bool) -> Result<Dirs, OpsError>;
    /// One directory: every entry judged by the storage's set rule and the clock rule
    /// against `now`.
    fn scan(&self, dir: &SetsDir, now: timefmt::Timestamp) -> Result<ScannedDir, OpsError>;
    /// Finishes (unless `dry_run`) the deletions a crash interrupted in `dir`.
    fn finish_deletions(&self, dir: &SetsDir, dry_run: bool) -> Vec<Finished>;
    /// Deletes the set `id` of `dir`, as retention decided. A `Dependency` error (the
    /// storage is unreachable, access denied) stops the run; any other fails this set.
    fn delete(&self, dir: &SetsDir, id: &str) -> Result<(), OpsError>;
    /// The local catalog, for what only a catalog on the backup host has: pins and
    /// retirement markers (in a bucket, they would be the one unsigned thing there).
    fn local(&self) -> Option<&Catalog> {
        None
    }
}

/// How long a `.partial-<id>` may be a backup still being written.
const PARTIAL_IN_PROGRESS_SECS: i64 = 86_400;

/// A catalog on a local directory, held under its lock while this value lives.
#[derive(Debug)]
pub struct LocalSets {
    catalog: Catalog,
    _lock: CatalogLock,
}

impl LocalSets {
    pub fn new(catalog: Catalog, lock: CatalogLock) -> LocalSets {
        LocalSets {
            catalog,
            _lock: lock,
        }
    }

    /// The directory by its key, never by its label: a database may be named `_globals`.
    fn set_dir(&self, dir: &SetsDir) -> SetDir {
        let database = catalog::decode_db_dir(&dir.key);
        self.catalog.set_dir(database.as_deref())
    }
}

/// What the local set rule's verdict file says of a set, for retention.
pub fn local_failure(set: &SetRef) -> Option<String> {
    set.read_verify()
        .is_some_and(|r| r.verdict == Verdict::Fail)
        .then(|| "its verification failed".to_string())
}

impl Sets for LocalSets {
    fn location(&self) -> String {
        self.catalog.root().display().to_string()
    }

    fn dirs(&self, wants: &dyn Fn(&str) -> bool) -> Result<Dirs, OpsError> {
        let listing = self.catalog.listing()?;
        Ok(Dirs {
            dirs: listing
                .set_dirs
                .iter()
                .filter(|d| wants(d.label()))
                .map(|d| SetsDir {
                    label: d.label().to_string(),
                    place: d.path.display().to_string(),
                    key: d
                        .path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                })
                .collect(),
            unknown: listing
                .unknown
                .iter()
                .map(|u| u.path.display().to_string())
                .collect(),
        })
    }

    fn scan(&self, dir: &SetsDir, now: timefmt::Timestamp) -> Result<ScannedDir, OpsError> {
        let set_dir = self.set_dir(dir);
        let scan = set_dir
            .scan(now)
            .map_err(|e| OpsError::io_at("listing", &set_dir.path, &e))?;
        let place = |p: &std::path::Path| p.display().to_string();
        let sets = scan
            .sets
            .iter()
            .map(|s| ListedSet {
                id: s.set.id.clone(),
                started: s.set.started(),
                place: place(&s.set.path),
                failed: local_failure(&s.set),
                pinned: s.set.is_pinned(),
            })
            .collect();
        let refused = scan
            .rejected
            .iter()
            .map(|r| RefusedSet {
                id: r.set.id.clone(),
                place: place(&r.set.path),
                code: r.why.code(),
                reason: r.reason.clone(),
            })
            .collect();
        let others = scan
            .others
            .iter()
            // Deletions in progress are finished by `finish_deletions`; the lock is pgops'.
            .filter(|n| !n.starts_with(catalog::DELETING_PREFIX) && n.as_str() != ".lock")
            .map(|name| {
                let started = name
                    .strip_prefix(catalog::PARTIAL_PREFIX)
                    .and_then(timefmt::parse_set_id);
                let reason = match started {
                    Some(s) if timefmt::seconds_between(s, now) < PARTIAL_IN_PROGRESS_SECS => {
                        "a backup being written (or died less than a day ago): left to its writer"
                    }
                    Some(_) => "a backup that never finished; the next pgdump-run removes it",
                    None => "not a complete set: never touched",
                };
                OtherEntry {
                    id: None,
                    place: place(&set_dir.path.join(name)),
                    code: None,
                    reason: reason.to_string(),
                }
            })
            .collect();
        Ok(ScannedDir {
            sets,
            refused,
            others,
        })
    }

    fn finish_deletions(&self, dir: &SetsDir, dry_run: bool) -> Vec<Finished> {
        let set_dir = self.set_dir(dir);
        catalog::deleting_in(&set_dir.path)
            .unwrap_or_default()
            .into_iter()
            .map(|doomed| {
                let id = doomed
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_prefix(catalog::DELETING_PREFIX))
                    .unwrap_or_default()
                    .to_string();
                let result = if dry_run {
                    Ok(())
                } else {
                    catalog::finish_deletion(&doomed).map_err(|e| {
                        OpsError::io(
                            format!("finishing the deletion of {}", doomed.display()),
                            &e,
                        )
                    })
                };
                Finished {
                    id,
                    place: doomed.display().to_string(),
                    result,
                }
            })
            .collect()
    }

    fn delete(&self, dir: &SetsDir, id: &str) -> Result<(), OpsError> {
        let set = SetRef {
            id: id.to_string(),
            path: self.set_dir(dir).path.join(id),
        };
        catalog::delete_set(&set)
            .map_err(|e| OpsError::io(format!("deleting {}", set.path.display()), &e))
    }

    fn local(&self) -> Option<&Catalog> {
        Some(&self.catalog)
    }
}
