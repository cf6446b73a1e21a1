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

use crate::keys::TrustedKey;
use ops_core::atomic;
use ops_core::error::{Category, OpsError};
use ops_core::timefmt;
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};

/// Schema version of `manifest.json`.
pub const MANIFEST_VERSION: u32 = 1;
pub const MANIFEST_FILE: &str = "manifest.json";
pub const PARTIAL_PREFIX: &str = ".partial-";
/// A set being deleted: renamed first, so that a crash never leaves half a set under its
/// final name.
pub const DELETING_PREFIX: &str = ".deleting-";
pub const GLOBALS_DIR: &str = "_globals";
/// The last verification result of a set, written by backup-verify.
pub const VERIFY_FILE: &str = "verify.json";
/// A pin: a set holding this file is never deleted by retention.
pub const KEEP_FILE: &str = "KEEP";
/// The manifest's detached minisign signature (ADR 0014), written just before it.
pub const SIGNATURE_FILE: &str = "manifest.json.minisig";
/// Where the set's off-site copies are, written by backup-copy.
pub const OFFSITE_FILE: &str = "offsite.json";
/// In a database's directory: the database was retired on purpose (dropped, moved
/// elsewhere). Freshness is not judged for it until a newer set appears (ADR 0018).
pub const RETIRED_FILE: &str = "RETIRED";
/// Files a complete set may hold besides those its manifest lists.
pub const SET_OWN_FILES: [&str; 5] = [
    MANIFEST_FILE,
    SIGNATURE_FILE,
    VERIFY_FILE,
    KEEP_FILE,
    OFFSITE_FILE,
];

/// Encodes a database name as a directory name: every byte outside `[A-Za-z0-9_-]`, and a
/// leading `_`, becomes `%XX`. Entries starting with `.` or `_` are thus pgops' own.
pub fn encode_db_dir(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, b) in name.bytes().enumerate() {
        let plain = b.is_ascii_alphanumeric() || b == b'-' || (b == b'_' && i > 0);
        if plain {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The inverse of [`encode_db_dir`]; `None` for anything it could not have produced.
pub fn decode_db_dir(dir: &str) -> Option<String> {
    let bytes = dir.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                if hex.chars().any(|c| c.is_ascii_lowercase()) {
                    return None;
                }
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b if b.is_ascii_alphanumeric() || b == b'-' || (b == b'_' && i > 0) => {
                out.push(b);
                i += 1;
            }
            _ => return None,
        }
    }
    let name = String::from_utf8(out).ok()?;
    (encode_db_dir(&name) == dir && !name.is_empty()).then_some(name)
}

/// What a set holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SetKind {
    Database,
    Globals,
}

/// The archive format pg_dump wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DumpFormat {
    Custom,
    Plain,
}

impl DumpFormat {
    pub fn extension(self) -> &'static str {
        match self {
            DumpFormat::Custom => "dump",
            DumpFormat::Plain => "sql",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    Zstd,
    Gzip,
    None,
}

/// How pgops compressed a file: `zstd[:LEVEL]`, `gzip[:LEVEL]` or `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compression {
    pub algorithm: Algorithm,
    pub level: Option<i32>,
}

impl Compression {
    pub const DEFAULT_ZSTD_LEVEL: i32 = 1;
    pub const DEFAULT_GZIP_LEVEL: i32 = 6;

    pub fn extension(&self) -> &'static str {
        match self.algorithm {
            Algorithm::Zstd => ".zst",
            Algorithm::Gzip => ".gz",
            Algorithm::None => "",
        }
    }
}

impl std::str::FromStr for Compression {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, level) = match s.split_once(':') {
            Some((n, l)) => (
                n,
                Some(
                    l.parse::<i32>()
                        .map_err(|_| format!("invalid compression level {l:?}"))?,
                ),
            ),
            None => (s, None),
        };
        let (algorithm, range, default) = match name {
            "zstd" => (Algorithm::Zstd, 1..=19, Self::DEFAULT_ZSTD_LEVEL),
            "gzip" => (Algorithm::Gzip, 1..=9, Self::DEFAULT_GZIP_LEVEL),
            "none" if level.is_none() => {
                return Ok(Compression {
                    algorithm: Algorithm::None,
                    level: None,
                })
            }
            _ => {
                return Err(format!(
                    "unknown compression {s:?}: expected zstd[:1-19], gzip[:1-9] or none"
                ))
            }
        };
        let level = level.unwrap_or(default);
        if !range.contains(&level) {
            return Err(format!(
                "{name} level {level} is out of range {}..={}",
                range.start(),
                range.end()
            ));
        }
        Ok(Compression {
            algorithm,
            level: Some(level),
        })
    }
}

/// One stored file of a set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub name: String,
    /// Size and SHA-256 of the bytes on disk.
    pub bytes: u64,
    pub sha256: String,
    /// Size of what pg_dump wrote, before compression.
    pub raw_bytes: u64,
    /// SHA-256 of what pg_dump wrote: recorded by sets before ADR 0008 (and checked for
    /// them); newer sets rely on the stored SHA-256 and the codec's content checksum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_sha256: Option<String>,
    /// zstd files written as independent frames (ADR 0010): the raw size of every frame
    /// but the last. Readers decode such frames in parallel and refuse bigger ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_raw_bytes: Option<u64>,
}

/// Rows of one table as counted in the dump stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRows {
    pub schema: String,
    pub name: String,
    pub rows: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
}

/// `manifest.json`: what a set holds and how it was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub v: u32,
    pub id: String,
    pub kind: SetKind,
    /// The real database name (the directory holds its encoding).
    pub database: String,
    pub status: String,
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: u64,
    pub server_version: String,
    pub pg_dump_version: String,
    pub format: DumpFormat,
    pub compression: Compression,
    pub files: Vec<FileEntry>,
    pub tables: Vec<TableRows>,
    pub large_objects: u64,
    pub database_size: Option<u64>,
    /// Host, port, user, database, sslmode: never a password.
    pub connection: serde_json::Value,
    pub tool: ToolInfo,
    pub correlation_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The database's own properties, which a plain pg_dump archive leaves out: what
    /// backup-restore re-applies (absent in sets taken before they were recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_properties: Option<DatabaseProperties>,
}

/// The major version in a version string: `16.4 (Debian 16.4-1)` → 16,
/// `pg_dump (PostgreSQL) 18.1` → 18.
pub fn major_of(version: &str) -> Option<u32> {
    version
        .split(|c: char| !c.is_ascii_digit() && c != '.')
        .find(|w| !w.is_empty() && w.chars().next().is_some_and(|c| c.is_ascii_digit()))?
        .split('.')
        .next()?
        .parse()
        .ok()
}

impl Manifest {
    /// The oldest server major this set restores into, when that is newer than the server
    /// it came from: a pg_dump newer than the server writes an archive only its own major's
    /// pg_restore reads (ADR 0006), so a reinstalled server of the same major cannot take
    /// it back. `None` when it restores into the source's own major.
    pub fn restores_only_into(&self) -> Option<u32> {
        let server = major_of(&self.server_version)?;
        let dump = major_of(&self.pg_dump_version)?;
        (dump > server).then_some(dump)
    }
}

/// What `ALTER DATABASE`, `COMMENT ON DATABASE` and `GRANT … ON DATABASE` set: not in a
/// pg_dump archive made without `--create`, so recorded beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseProperties {
    pub owner: String,
    pub comment: Option<String>,
    /// -1: no limit.
    pub connection_limit: i32,
    /// `ALTER DATABASE … SET`: `name=value`, as the server stores them.
    pub settings: Vec<String>,
    /// `ALTER ROLE … IN DATABASE … SET`.
    pub role_settings: Vec<RoleSetting>,
    /// The database's ACL (`aclitem` text, e.g. `app=c/postgres`); `None`: the defaults.
    pub acl: Option<Vec<String>>,
}

/// One `ALTER ROLE role IN DATABASE … SET name=value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleSetting {
    pub role: String,
    pub setting: String,
}

impl Manifest {
    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

/// The outcome of one check of a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Pass,
    Fail,
    /// Not run, because an earlier fault makes it meaningless (said in the reason).
    Skip,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    pub name: String,
    pub status: CheckStatus,
    pub reason: String,
}

/// What verification concluded about a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    /// This build cannot check the set (unknown manifest version, unsupported archive).
    Unverifiable,
}

/// `verify.json`: the last verification of a set. Retention and drills read it: a set whose
/// record says `fail` never counts as a good backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyRecord {
    pub v: u32,
    pub id: String,
    pub database: String,
    pub verified_at: String,
    pub verdict: Verdict,
    pub checks: Vec<CheckResult>,
    pub tool: ToolInfo,
    pub correlation_id: String,
}

/// Writes `value` as pretty JSON, atomically: the one way a set's records are written.
fn write_json(path: &Path, value: &impl Serialize) -> std::io::Result<()> {
    let mut text = serde_json::to_vec_pretty(value).expect("catalog records serialize");
    text.push(b'\n');
    atomic::write_file(path, &text)
}

/// Writes `verify.json` atomically into a set.
pub fn write_verify(set_dir: &Path, record: &VerifyRecord) -> std::io::Result<()> {
    write_json(&set_dir.join(VERIFY_FILE), record)
}

/// One destination holding a copy of a set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsiteCopy {
    /// The catalog location (`s3://bucket/prefix` or a directory): never a secret.
    pub destination: String,
    /// `seal` or `plain`.
    pub mode: String,
    /// When backup-copy last found the copy complete there (it wrote it, or saw it).
    pub confirmed_at: String,
}

/// `offsite.json`: where a set's copies are, as backup-copy last saw them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsiteRecord {
    pub v: u32,
    pub copies: Vec<OffsiteCopy>,
}

/// Records in `set_dir` that `destination` holds the set, complete, now (one entry per
/// destination, replaced).
pub fn record_offsite(set_dir: &Path, destination: &str, mode: &str) -> std::io::Result<()> {
    let path = set_dir.join(OFFSITE_FILE);
    let mut record: OffsiteRecord = fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    record.v = 1;
    // Recorded as shown: a location never carries a secret into a file.
    let destination = ops_core::redact::scrub(destination);
    let destination = destination.as_str();
    record.copies.retain(|c| c.destination != destination);
    record.copies.push(OffsiteCopy {
        destination: destination.to_string(),
        mode: mode.to_string(),
        confirmed_at: timefmt::now_rfc3339(),
    });
    write_json(&path, &record)
}

/// `RETIRED`: why and by whom a database's backups stopped on purpose. Its sets stay, and
/// retention goes on applying to them; only freshness stops being judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retirement {
    pub v: u32,
    pub retired_at: String,
    /// Who retired it (user name and uid).
    pub by: serde_json::Value,
    pub reason: Option<String>,
}

impl Retirement {
    pub fn new(reason: Option<String>, by: serde_json::Value) -> Retirement {
        Retirement {
            v: 1,
            retired_at: timefmt::now_rfc3339(),
            by,
            reason,
        }
    }

    /// When it was retired (`None`: the record does not say, it is still a retirement).
    pub fn at(&self) -> Option<timefmt::Timestamp> {
        self.retired_at.parse().ok()
    }

    /// Whether the retirement is in force given the newest set's start: a set started
    /// after the retirement means the database is backed up again (it came back, or was
    /// retired by mistake), and then it is judged like any other.
    pub fn in_force(&self, newest_set: Option<timefmt::Timestamp>) -> bool {
        match (self.at(), newest_set) {
            (Some(at), Some(newest)) => newest <= at,
            _ => true,
        }
    }
}

/// Writes `RETIRED` into a database's directory.
pub fn write_retirement(db_dir: &Path, r: &Retirement) -> std::io::Result<()> {
    write_json(&db_dir.join(RETIRED_FILE), r)
}

/// Removes `RETIRED` from a database's directory; `false` when there was none.
pub fn remove_retirement(db_dir: &Path) -> std::io::Result<bool> {
    match fs::remove_file(db_dir.join(RETIRED_FILE)) {
        Ok(()) => atomic::fsync_dir(db_dir).map(|()| true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// A reference to a complete set on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetRef {
    pub id: String,
    pub path: PathBuf,
}

impl SetRef {
    pub fn manifest_path(&self) -> PathBuf {
        self.path.join(MANIFEST_FILE)
    }

    pub fn read_manifest(&self) -> Result<Manifest, OpsError> {
        read_manifest(&self.manifest_path())
    }

    /// The set's last verification: `None` if never verified; an unreadable record counts
    /// as `None` too (it proves nothing either way).
    pub fn read_verify(&self) -> Option<VerifyRecord> {
        let bytes = fs::read(self.path.join(VERIFY_FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Where the set's off-site copies are (none recorded: empty).
    pub fn read_offsite(&self) -> OffsiteRecord {
        fs::read(self.path.join(OFFSITE_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// True if the set is pinned (holds a `KEEP` file).
    pub fn is_pinned(&self) -> bool {
        self.path.join(KEEP_FILE).exists()
    }

    /// The set's start time, from its id.
    pub fn started(&self) -> timefmt::Timestamp {
        timefmt::parse_set_id(&self.id).expect("a SetRef id is a set id")
    }
}

pub fn read_manifest(path: &Path) -> Result<Manifest, OpsError> {
    load_manifest(path).map(|(_, m)| m)
}

/// Reads a manifest once: its bytes (what a signature covers) and what they say.
pub fn load_manifest(path: &Path) -> Result<(Vec<u8>, Manifest), OpsError> {
    let text =
        fs::read(path).map_err(|e| OpsError::io(format!("reading {}", path.display()), &e))?;
    let m: Manifest = serde_json::from_slice(&text).map_err(|e| {
        OpsError::new(
            "manifest_invalid",
            Category::Integrity,
            format!("{}: {e}", path.display()),
        )
    })?;
    if m.v != MANIFEST_VERSION {
        return Err(OpsError::new(
            "manifest_version_unknown",
            Category::Integrity,
            format!(
                "{}: manifest version {} is not known to this build",
                path.display(),
                m.v
            ),
        ));
    }
    Ok((text, m))
}

/// Writes a manifest atomically into `dir`.
pub fn write_manifest(dir: &Path, m: &Manifest) -> std::io::Result<()> {
    write_signed_manifest(dir, m, None)
}

/// A directory under the catalog root that pgops did not make or does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unknown {
    pub path: PathBuf,
}

/// A directory of sets: one database's, or `_globals`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetDir {
    /// The database name; `None` for `_globals`.
    pub database: Option<String>,
    pub path: PathBuf,
    /// The key every set's manifest must be signed with (ADR 0014); `None`: signatures
    /// are not checked.
    pub trust: Option<TrustedKey>,
}

/// What the catalog root holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub set_dirs: Vec<SetDir>,
    /// Entries pgops did not create: reported, never touched.
    pub unknown: Vec<Unknown>,
}

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

/// What pgops itself keeps at a catalog's root besides database directories: the lock,
/// the drill history, backup-copy's journals and a copy's descriptor. Never reported as
/// unknown.
pub const OWN_ENTRIES: [&str; 4] = [
    ".lock",
    crate::drills::DRILLS_FILE,
    COPY_STATE_DIR,
    DESCRIPTOR,
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

/// How far past now a set may start before its id is taken for a clock error, not a time:
/// hosts with NTP drift by seconds; a set hours or years ahead came from a clock that jumped.
pub const CLOCK_SKEW_TOLERANCE: std::time::Duration = std::time::Duration::from_secs(300);

/// The clock rule of every set, wherever it lies: one that starts later than `now` plus
/// [`CLOCK_SKEW_TOLERANCE`] came from a clock that was wrong (then or now). Such a set is
/// never the newest, never anchors `--keep-within` and never makes a database look fresh.
/// Returns why, or `None` for a set of the past.
pub fn clock_skew(started: timefmt::Timestamp, now: timefmt::Timestamp) -> Option<String> {
    let limit = now
        .checked_add(CLOCK_SKEW_TOLERANCE)
        .unwrap_or(timefmt::Timestamp::MAX);
    (started > limit).then(|| {
        format!(
            "starts {} s after now: a clock was wrong when it was taken, or is now",
            timefmt::seconds_between(now, started)
        )
    })
}

/// Why a directory named like a set is not taken for one. The same rule for every tool:
/// such a directory fills no retention period, is never restored, is never the newest set,
/// and is reported, never deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rejection {
    /// A symbolic link or anything but a real directory: pgops never follows links in a
    /// catalog, so what a set holds is always what lies in it.
    NotADirectory,
    /// No `manifest.json` as a regular file, or one that does not parse or has an unknown
    /// version.
    ManifestInvalid,
    /// The manifest names another id, kind or database than where the set lies (a set
    /// copied or moved by hand).
    Misplaced,
    /// A file the manifest lists is a link or not a regular file (a missing one leaves a
    /// set that fails verification).
    FileNotPlain,
    /// The set starts later than now plus [`CLOCK_SKEW_TOLERANCE`].
    ClockSkew,
    /// The catalog trusts a signing key and the manifest's signature is missing or does
    /// not check against it: a forged or altered set, never restored nor counted.
    SignatureInvalid,
}

impl Rejection {
    /// The stable code events carry.
    pub fn code(self) -> &'static str {
        match self {
            Rejection::NotADirectory => "set_not_a_directory",
            Rejection::ManifestInvalid => "manifest_invalid",
            Rejection::Misplaced => "set_misplaced",
            Rejection::FileNotPlain => "set_file_not_plain",
            Rejection::ClockSkew => "clock_skew",
            Rejection::SignatureInvalid => crate::keys::SIGNATURE_INVALID,
        }
    }
}

/// A directory named like a set that is not one, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub set: SetRef,
    pub why: Rejection,
    pub reason: String,
}

/// A set whose manifest was read and matches where it lies.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedSet {
    pub set: SetRef,
    pub manifest: Manifest,
}

/// What one directory of sets holds, from one listing: usable and rejected sets, oldest
/// first, and every other entry (partials, deletions, strays) for the tools that report them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DirSets {
    pub sets: Vec<CheckedSet>,
    pub rejected: Vec<Rejected>,
    /// Entry names not named by a set id, sorted (pgops' own `RETIRED` excluded).
    pub others: Vec<String>,
    /// The directory's `RETIRED` record, whether or not a newer set overrides it; a file
    /// that cannot be read as one still retires (with no time, nothing overrides it).
    pub retirement: Option<Retirement>,
}

impl DirSets {
    /// The retirement, if it is in force (no set started after it).
    pub fn retired(&self) -> Option<&Retirement> {
        let newest = self.sets.last().map(|s| s.set.started());
        self.retirement.as_ref().filter(|r| r.in_force(newest))
    }

    /// The newest usable set that `keep` accepts.
    pub fn newest_where(&self, keep: impl Fn(&CheckedSet) -> bool) -> Option<&CheckedSet> {
        self.sets.iter().rev().find(|s| keep(s))
    }
}

impl SetDir {
    /// The kind of set this directory holds.
    pub fn kind(&self) -> SetKind {
        if self.database.is_some() {
            SetKind::Database
        } else {
            SetKind::Globals
        }
    }

    /// How a person names it: the database, or `_globals`.
    pub fn label(&self) -> &str {
        self.database.as_deref().unwrap_or(GLOBALS_DIR)
    }

    /// The one rule every tool applies before it takes `set` (which lies in this directory)
    /// for a set: see [`Rejection`]. `now` bounds its start ([`clock_skew`]); `None` when
    /// the set was named explicitly, whose bytes are what they are whatever its clock said.
    pub fn check(
        &self,
        set: SetRef,
        now: Option<timefmt::Timestamp>,
    ) -> Result<CheckedSet, Rejected> {
        let reject = |set: SetRef, why, reason: String| Err(Rejected { set, why, reason });
        match fs::symlink_metadata(&set.path) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                let reason =
                    "a link or a file named like a set: pgops never follows links in a catalog";
                return reject(set, Rejection::NotADirectory, reason.into());
            }
            Err(e) => {
                let reason = format!("cannot read it: {e}");
                return reject(set, Rejection::NotADirectory, reason);
            }
        }
        let mpath = set.manifest_path();
        if !fs::symlink_metadata(&mpath).is_ok_and(|m| m.is_file()) {
            let reason = "no manifest.json as a regular file".into();
            return reject(set, Rejection::ManifestInvalid, reason);
        }
        let (bytes, manifest) = match load_manifest(&mpath) {
            Ok((_, m)) if m.files.is_empty() => {
                return reject(set, Rejection::ManifestInvalid, "it lists no file".into())
            }
            Ok(loaded) => loaded,
            Err(e) => return reject(set, Rejection::ManifestInvalid, e.message),
        };
        if let Some(trust) = &self.trust {
            if let Err(reason) = check_signature(trust, &set.path, &bytes) {
                return reject(set, Rejection::SignatureInvalid, reason);
            }
        }
        let problems = manifest.placement_problems(self, &set.id);
        if !problems.is_empty() {
            return reject(set, Rejection::Misplaced, problems.join("; "));
        }
        // A missing file leaves a set that fails verification; a link is never a set's file.
        if let Some(bad) = manifest.files.iter().find(|f| {
            !is_plain_name(&f.name)
                || fs::symlink_metadata(set.path.join(&f.name)).is_ok_and(|m| !m.is_file())
        }) {
            let reason = format!("{:?} is a link or not a regular file", bad.name);
            return reject(set, Rejection::FileNotPlain, reason);
        }
        if let Some(reason) = now.and_then(|now| clock_skew(set.started(), now)) {
            return reject(set, Rejection::ClockSkew, reason);
        }
        Ok(CheckedSet { set, manifest })
    }

    /// Every entry of this directory, from one listing: those named like a set
    /// (`<set id>`) checked by [`check`](Self::check) against `now` (sets from the future
    /// are rejected as [`Rejection::ClockSkew`]), the rest in `others`. A missing directory
    /// has none.
    pub fn scan(&self, now: timefmt::Timestamp) -> std::io::Result<DirSets> {
        let mut out = DirSets::default();
        let rd = match fs::read_dir(&self.path) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        let mut ids = Vec::new();
        for e in rd {
            let name = e?.file_name().to_string_lossy().into_owned();
            if timefmt::parse_set_id(&name).is_some() {
                ids.push(name);
            } else if name == RETIRED_FILE {
                out.retirement = Some(read_retirement(&self.path.join(&name)));
            } else {
                out.others.push(name);
            }
        }
        ids.sort();
        out.others.sort();
        for id in ids {
            let set = SetRef {
                path: self.path.join(&id),
                id,
            };
            match self.check(set, Some(now)) {
                Ok(s) => out.sets.push(s),
                Err(r) => out.rejected.push(r),
            }
        }
        Ok(out)
    }

    /// The set named `id` in this directory, checked (its start is not bounded: it was
    /// asked for by name); `None` when no entry has that name.
    pub fn set_named(&self, id: &str) -> Option<Result<CheckedSet, Rejected>> {
        timefmt::parse_set_id(id)?;
        let path = self.path.join(id);
        fs::symlink_metadata(&path).ok()?;
        let set = SetRef {
            id: id.to_string(),
            path,
        };
        Some(self.check(set, None))
    }
}

fn read_retirement(path: &Path) -> Retirement {
    fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Retirement {
            v: 1,
            retired_at: String::new(),
            by: serde_json::Value::Null,
            reason: Some(format!(
                "{} could not be read as a retirement record",
                path.display()
            )),
        })
}

/// Checks the set's `manifest.json.minisig` against `manifest` (the manifest's bytes, as
/// read once by [`load_manifest`]): what the manifest says (file hashes, row counts) is
/// then what the backup host wrote.
pub fn check_signature(trust: &TrustedKey, set: &Path, manifest: &[u8]) -> Result<(), String> {
    let signature = match fs::read_to_string(set.join(SIGNATURE_FILE)) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "the set is not signed (no {SIGNATURE_FILE}) and the catalog trusts key {}",
                trust.key_id()
            ))
        }
        Err(e) => return Err(format!("{SIGNATURE_FILE}: {e}")),
    };
    trust.verify(manifest, &signature)
}

/// Publishes a manifest with its signature: the signature first, then the manifest, so a
/// signed set is never visible unsigned.
pub fn write_signed_manifest(
    dir: &Path,
    m: &Manifest,
    key: Option<&crate::keys::SigningKey>,
) -> std::io::Result<()> {
    let mut text = serde_json::to_vec_pretty(m).expect("catalog records serialize");
    text.push(b'\n');
    if let Some(key) = key {
        atomic::write_file(
            &dir.join(SIGNATURE_FILE),
            sign_manifest(key, m, &text).as_bytes(),
        )?;
    }
    atomic::write_file(&dir.join(MANIFEST_FILE), &text)
}

/// The minisign signature of `text`, the bytes of the manifest `m` (its
/// `manifest.json.minisig`): made by pgdump-run as it publishes a set, or by backup-copy
/// as it seals a set that was taken without a signing key.
pub fn sign_manifest(key: &crate::keys::SigningKey, m: &Manifest, text: &[u8]) -> String {
    let comment = format!(
        "pgops {} set {} of {}",
        match m.kind {
            SetKind::Database => "database",
            SetKind::Globals => "globals",
        },
        m.id,
        m.database
    );
    key.sign(text, &comment)
}

/// A file name a manifest may list: one path component, no dot file, none of the set's
/// own files (manifest, verify record, pin).
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains('/')
        && !name.contains('\0')
        && !SET_OWN_FILES.contains(&name)
}

impl Manifest {
    /// What disagrees between this manifest and where it lies (`dir`, set directory
    /// `set_dir`): its id, its kind, its database.
    pub fn placement_problems(&self, dir: &SetDir, set_dir: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if self.id != set_dir {
            problems.push(format!(
                "id {} differs from the directory {set_dir}",
                self.id
            ));
        }
        if self.kind != dir.kind() {
            problems.push(format!(
                "a {:?} set in the directory of {:?}",
                self.kind,
                dir.label()
            ));
        } else if self.kind == SetKind::Database
            && dir.database.as_deref() != Some(self.database.as_str())
        {
            problems.push(format!(
                "database {:?} does not belong in the directory of {:?}",
                self.database,
                dir.label()
            ));
        }
        problems
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
