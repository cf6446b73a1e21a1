//! The catalog: backup sets on disk.
//!
//! ```text
//! <backup-dir>/
//!   .lock                          flock: writers exclusive, readers shared
//!   <db-dir>/                      one per database, name encoded (see encode_db_dir)
//!     20261124T030001Z/            a complete set, named by its start time in UTC
//!       manifest.json
//!       <db-dir>.dump.zst
//!     .partial-20261124T040001Z/   a set being written: no tool looks inside
//!   _globals/…                     pg_dumpall --globals-only, same layout
//! ```
//! A set appears under its final name only once complete (see [`ops_core::atomic`]).
//!
//! - `layout`: names and layout; `records`: manifests, verdicts, off-site copies and
//!   retirements with their readers and writers; `rule`: the set rule and the scan;
//!   this module: opening, creating and listing a catalog, and deletion.

mod layout;
mod records;
mod rule;
mod writer;

pub use layout::*;
pub use records::*;
pub use rule::*;
pub use writer::SetWriter;

use crate::keys::TrustedKey;
use ops_core::atomic;
use ops_core::error::{Category, OpsError};
use ops_core::timefmt;
use std::fs;
use std::path::{Path, PathBuf};

/// The backup directory.
#[derive(Debug, Clone)]
pub struct Catalog {
    root: PathBuf,
    trust: Option<TrustedKey>,
}

impl Catalog {
    pub fn new(root: impl Into<PathBuf>) -> Catalog {
        Catalog {
            root: root.into(),
            trust: None,
        }
    }

    /// The catalog whose sets count only when their manifest's signature checks against
    /// `trust` (every set directory it lists applies the rule).
    pub fn with_trust(mut self, trust: Option<TrustedKey>) -> Catalog {
        self.trust = trust;
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Opens an existing catalog and takes its lock (`catalog_missing` if there is none).
    pub fn open(
        root: &Path,
        mode: crate::lock::LockMode,
        lock_timeout: std::time::Duration,
    ) -> Result<(Catalog, crate::lock::CatalogLock), OpsError> {
        if !root.is_dir() {
            return Err(OpsError::new(
                "catalog_missing",
                Category::Io,
                format!("{} is not a directory", root.display()),
            ));
        }
        let lock = crate::lock::CatalogLock::acquire(root, mode, lock_timeout)
            .map_err(|e| e.to_ops_error())?;
        Ok((Catalog::new(root), lock))
    }

    /// Opens the catalog a writer (pgdump-run) fills, creating it if missing, and takes its
    /// lock exclusively.
    pub fn create(
        root: &Path,
        lock_timeout: std::time::Duration,
    ) -> Result<(Catalog, crate::lock::CatalogLock), OpsError> {
        let catalog = Catalog::new(root);
        catalog
            .ensure_root()
            .map_err(|e| OpsError::io(format!("creating {}", root.display()), &e))?;
        let lock =
            crate::lock::CatalogLock::acquire(root, crate::lock::LockMode::Exclusive, lock_timeout)
                .map_err(|e| e.to_ops_error())?;
        Ok((catalog, lock))
    }

    /// [`list`](Self::list), with the error a tool reports.
    pub fn listing(&self) -> Result<Listing, OpsError> {
        self.list()
            .map_err(|e| OpsError::io_at("listing", &self.root, &e))
    }

    /// Creates the root if missing, private (0700, like every directory pgops makes: the
    /// dumps hold the whole database). An existing root keeps the mode its owner gave it.
    pub fn ensure_root(&self) -> std::io::Result<()> {
        atomic::create_private_dir_all(&self.root)
    }

    /// The directory of a database's sets (the name is encoded, never joined raw).
    pub fn db_dir(&self, database: &str) -> PathBuf {
        self.root.join(encode_db_dir(database))
    }

    pub fn globals_dir(&self) -> PathBuf {
        self.root.join(GLOBALS_DIR)
    }

    /// The directory of a database's sets (`Some(name)`) or of the globals sets (`None`).
    pub fn set_dir(&self, database: Option<&str>) -> SetDir {
        SetDir {
            database: database.map(str::to_string),
            path: match database {
                Some(db) => self.db_dir(db),
                None => self.globals_dir(),
            },
            trust: self.trust.clone(),
        }
    }

    /// Every set directory of the catalog, and the entries it does not know (anything but
    /// pgops' own, [`OWN_ENTRIES`]).
    pub fn list(&self) -> std::io::Result<Listing> {
        let mut listing = Listing::default();
        let mut entries: Vec<_> = fs::read_dir(&self.root)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            let is_dir = e.file_type()?.is_dir();
            if OWN_ENTRIES.contains(&name.as_str()) {
                continue;
            }
            let database = if !is_dir {
                None
            } else if name == GLOBALS_DIR {
                Some(None)
            } else {
                decode_db_dir(&name).map(Some)
            };
            match database {
                Some(database) => listing.set_dirs.push(SetDir {
                    database,
                    path: e.path(),
                    trust: self.trust.clone(),
                }),
                None => listing.unknown.push(Unknown { path: e.path() }),
            }
        }
        Ok(listing)
    }

    /// Complete sets in `dir`, oldest first. A complete set is a directory named by a set id
    /// that holds a manifest.
    pub fn sets_in(dir: &Path) -> std::io::Result<Vec<SetRef>> {
        Ok(dirs_named(dir, "")?
            .into_iter()
            .filter(|(_, path)| path.join(MANIFEST_FILE).is_file())
            .map(|(id, path)| SetRef { id, path })
            .collect())
    }

    /// Partial sets left in `dir` (`.partial-<id>`), which only a crash leaves behind once
    /// no writer holds the catalog lock.
    pub fn partials_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        Ok(dirs_named(dir, PARTIAL_PREFIX)?
            .into_iter()
            .map(|(_, p)| p)
            .collect())
    }

    /// Stale partials anywhere in the catalog.
    pub fn stale_partials(&self) -> std::io::Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        if !self.root.is_dir() {
            return Ok(out);
        }
        for dir in self.list()?.set_dirs {
            out.extend(Self::partials_in(&dir.path)?);
        }
        Ok(out)
    }
}

/// The file that makes a catalog self-describing (a copy's layout, format and keys): a new
/// machine reads it with no local state.
pub const DESCRIPTOR: &str = "pgops-catalog.json";
/// Where backup-copy keeps its journals of copies to off-site stores, in the source catalog.
pub const COPY_STATE_DIR: &str = ".copy-state";

/// pgdump-run's marker while it holds a standby's replay paused (ADR 0027): a run that
/// finds it left by a dead run resumes that standby's replay.
pub const STANDBY_MARKER: &str = ".standby-replay-paused";

/// What pgops itself keeps at a catalog's root besides database directories: the lock,
/// the drill history, backup-copy's journals, a copy's descriptor and the standby marker.
/// Never reported as unknown.
pub const OWN_ENTRIES: [&str; 5] = [
    ".lock",
    crate::drills::DRILLS_FILE,
    COPY_STATE_DIR,
    DESCRIPTOR,
    STANDBY_MARKER,
];

/// "the catalog has no database …" naming those it has: the error of every tool given a
/// database the catalog does not hold (a typo restores, drills or retires nothing).
pub fn database_not_in_catalog(name: &str, dirs: &[SetDir], nothing_done: &str) -> OpsError {
    let known: Vec<&str> = dirs.iter().filter_map(|d| d.database.as_deref()).collect();
    OpsError::validation(
        "database_not_in_catalog",
        format!(
            "the catalog has no database {name:?} (it has: {}): {nothing_done}",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ),
    )
}

/// The newest sets of a directory as a person reads them in a message: `20261124T030001Z
/// (passed), 20261123T030001Z (not verified) and 4 older`.
pub fn sets_text(sets: &DirSets) -> String {
    let shown: Vec<String> = sets
        .sets
        .iter()
        .rev()
        .take(5)
        .map(|s| {
            let verdict = match s.set.read_verify().map(|r| r.verdict) {
                Some(Verdict::Pass) => "passed",
                Some(Verdict::Fail) => "failed",
                Some(_) => "not checked",
                None => "not verified",
            };
            format!("{} ({verdict})", s.set.id)
        })
        .collect();
    match sets.sets.len() {
        0 => "no set".into(),
        n if n > shown.len() => format!("{} and {} older", shown.join(", "), n - shown.len()),
        _ => shown.join(", "),
    }
}

/// The guard of every removal: `path` must be named `<prefix><set id>`.
fn refuse_unless_named(path: &Path, prefix: &str, what: &str) -> std::io::Result<()> {
    let named = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix(prefix))
        .is_some_and(|id| timefmt::parse_set_id(id).is_some());
    if named {
        Ok(())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("refusing to remove {}: not {what}", path.display()),
        ))
    }
}

/// Removes a partial set. Refuses any path that is not a `.partial-<id>` directory, so a
/// bug elsewhere can never turn this into deletion of something pgops did not create.
pub fn remove_partial(path: &Path) -> std::io::Result<()> {
    refuse_unless_named(path, PARTIAL_PREFIX, "a partial set")?;
    match fs::remove_dir_all(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(parent) = path.parent() {
        atomic::fsync_dir(parent)?;
    }
    Ok(())
}

/// `.deleting-<id>` directories in `dir`: deletions a crash interrupted.
pub fn deleting_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    Ok(dirs_named(dir, DELETING_PREFIX)?
        .into_iter()
        .map(|(_, p)| p)
        .collect())
}

/// Directories in `dir` named `<prefix><set id>`, sorted by id: `(id, path)`. A missing
/// `dir` has none.
fn dirs_named(dir: &Path, prefix: &str) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for e in rd {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(id) = name.strip_prefix(prefix) {
            if timefmt::parse_set_id(id).is_some() && e.file_type()?.is_dir() {
                out.push((id.to_string(), e.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Deletes a complete set: rename to `.deleting-<id>` (durably), then remove. Refuses
/// anything that is not a `<set id>` directory holding a manifest.
pub fn delete_set(set: &SetRef) -> std::io::Result<()> {
    let name = set
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if timefmt::parse_set_id(&name).is_none() || !set.path.join(MANIFEST_FILE).is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "refusing to delete {}: not a complete set",
                set.path.display()
            ),
        ));
    }
    let parent = set.path.parent().expect("a set has a parent");
    let doomed = parent.join(format!("{DELETING_PREFIX}{name}"));
    fs::rename(&set.path, &doomed)?;
    atomic::fsync_dir(parent)?;
    ops_core::failpoint::hit("delete_set.after_rename");
    finish_deletion(&doomed)
}

/// Removes a `.deleting-<id>` directory (and nothing else).
pub fn finish_deletion(doomed: &Path) -> std::io::Result<()> {
    refuse_unless_named(doomed, DELETING_PREFIX, "a set being deleted")?;
    fs::remove_dir_all(doomed)?;
    if let Some(parent) = doomed.parent() {
        atomic::fsync_dir(parent)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    #[test]
    fn major_versions_are_read_from_either_tool() {
        assert_eq!(major_of("16.4 (Debian 16.4-1.pgdg120+1)"), Some(16));
        assert_eq!(major_of("pg_dump (PostgreSQL) 18.1"), Some(18));
        assert_eq!(major_of("15.18"), Some(15));
        assert_eq!(major_of("unknown"), None);
    }

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn delete_set_renames_first_and_refuses_non_sets() {
        let dir = tempfile::tempdir().unwrap();
        let set = dir.path().join("20261124T030001Z");
        fs::create_dir(&set).unwrap();
        let r = SetRef {
            id: "20261124T030001Z".into(),
            path: set.clone(),
        };
        assert!(delete_set(&r).is_err(), "no manifest: not a complete set");
        fs::write(set.join(MANIFEST_FILE), b"{}").unwrap();
        delete_set(&r).unwrap();
        assert!(!set.exists());
        assert!(deleting_in(dir.path()).unwrap().is_empty());
        let other = dir.path().join("notes");
        fs::create_dir(&other).unwrap();
        assert!(finish_deletion(&other).is_err());
        assert!(other.exists());
    }

    #[test]
    fn a_retirement_holds_until_a_newer_set_appears() {
        let mut r = Retirement::new(Some("dropped".into()), serde_json::Value::Null);
        r.retired_at = "2026-11-20T12:00:00Z".into();
        let t = |s: &str| s.parse::<timefmt::Timestamp>().unwrap();
        assert!(r.in_force(None));
        assert!(r.in_force(Some(t("2026-11-20T03:00:00Z"))));
        assert!(
            !r.in_force(Some(t("2026-11-21T03:00:00Z"))),
            "backed up again"
        );
        r.retired_at = "garbage".into();
        assert!(
            r.in_force(Some(t("2030-01-01T00:00:00Z"))),
            "no time: nothing overrides it"
        );

        let dir = tempfile::tempdir().unwrap();
        let set_dir = SetDir {
            database: Some("app".into()),
            path: dir.path().to_path_buf(),
            trust: None,
        };
        assert!(set_dir
            .scan(t("2026-11-25T00:00:00Z"))
            .unwrap()
            .retirement
            .is_none());
        write_retirement(dir.path(), &r).unwrap();
        let scan = set_dir.scan(t("2026-11-25T00:00:00Z")).unwrap();
        assert_eq!(scan.retirement.as_ref(), Some(&r));
        assert!(
            scan.others.is_empty(),
            "RETIRED is pgops' own file, not a stray"
        );
        fs::write(dir.path().join(RETIRED_FILE), b"not json").unwrap();
        let scan = set_dir.scan(t("2026-11-25T00:00:00Z")).unwrap();
        assert!(
            scan.retired().is_some(),
            "an unreadable record still retires"
        );
        assert!(remove_retirement(dir.path()).unwrap());
        assert!(!remove_retirement(dir.path()).unwrap());
    }

    #[test]
    fn encoding_examples() {
        assert_eq!(encode_db_dir("app"), "app");
        assert_eq!(encode_db_dir("my_db-2"), "my_db-2");
        assert_eq!(encode_db_dir("_globals"), "%5Fglobals");
        assert_eq!(encode_db_dir(".."), "%2E%2E");
        assert_eq!(encode_db_dir("a/b c"), "a%2Fb%20c");
        assert_eq!(encode_db_dir("é"), "%C3%A9");
        assert_eq!(decode_db_dir("%2E%2E").as_deref(), Some(".."));
        assert_eq!(decode_db_dir("_globals"), None);
        assert_eq!(decode_db_dir(".partial-x"), None);
        assert_eq!(
            decode_db_dir("%2e"),
            None,
            "only the canonical encoding decodes"
        );
    }

    #[test]
    fn compression_parsing() {
        let c: Compression = "zstd".parse().unwrap();
        assert_eq!((c.algorithm, c.level), (Algorithm::Zstd, Some(1)));
        let c: Compression = "gzip:9".parse().unwrap();
        assert_eq!((c.algorithm, c.level), (Algorithm::Gzip, Some(9)));
        assert_eq!(
            "none".parse::<Compression>().unwrap().algorithm,
            Algorithm::None
        );
        assert!("zstd:0".parse::<Compression>().is_err());
        assert!("gzip:10".parse::<Compression>().is_err());
        assert!("lz4".parse::<Compression>().is_err());
        assert!("none:1".parse::<Compression>().is_err());
    }

    #[test]
    fn remove_partial_refuses_other_paths() {
        let dir = tempfile::tempdir().unwrap();
        let set = dir.path().join("20261124T030001Z");
        fs::create_dir(&set).unwrap();
        assert!(remove_partial(&set).is_err());
        assert!(set.exists());
        let p = dir.path().join(".partial-20261124T030001Z");
        fs::create_dir(&p).unwrap();
        fs::write(p.join("x"), b"x").unwrap();
        remove_partial(&p).unwrap();
        assert!(!p.exists());
    }

    proptest! {
        #[test]
        fn encoding_is_safe_and_reversible(name in "\\PC{1,63}") {
            prop_assume!(name.len() <= 63);
            let enc = encode_db_dir(&name);
            prop_assert!(!enc.starts_with('.') && !enc.starts_with('_'));
            prop_assert!(enc.bytes().all(|b| b.is_ascii_alphanumeric() || b"%_-".contains(&b)));
            prop_assert!(enc.len() <= 255);
            prop_assert_eq!(decode_db_dir(&enc), Some(name));
        }

        #[test]
        fn distinct_names_get_distinct_dirs(a in "[ -~]{1,12}", b in "[ -~]{1,12}") {
            prop_assume!(a != b);
            prop_assert_ne!(encode_db_dir(&a), encode_db_dir(&b));
        }
    }
}
