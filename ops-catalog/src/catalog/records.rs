//! The records a catalog keeps, with their readers and writers: manifests (and their
//! signatures), verification verdicts, off-site copies, retirements.

use super::*;
use crate::keys::TrustedKey;
use ops_core::atomic;
use ops_core::error::{Category, OpsError};
use ops_core::timefmt;
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::Path;

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
    /// `pg_dump -Fd`: the set's directory holds the archive's own files (`toc.dat`, one
    /// `<dump id>.dat` per table, large objects), each compressed as the set is, so that it
    /// is itself a directory archive for `pg_restore` (ADR 0027).
    Directory,
}

impl DumpFormat {
    /// The extension of a single-file archive (`<db>.dump`, `<db>.sql`); a directory
    /// archive keeps pg_dump's own names.
    pub fn extension(self) -> &'static str {
        match self {
            DumpFormat::Custom => "dump",
            DumpFormat::Plain => "sql",
            DumpFormat::Directory => "dir",
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TableRows {
    pub schema: String,
    pub name: String,
    pub rows: u64,
    /// The columns the dump's COPY wrote, in order: what a restore's digest reads back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
    /// The multiset digest of the rows as the dump wrote them (`xxh3-128-sum:<hex>`, ADR
    /// 0026); absent in sets taken before digests were recorded: those prove counts only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
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
    /// The session settings under which pg_dump wrote the rows that the digests cover
    /// (`DateStyle`, `TimeZone`, `bytea_output`, …): a restore reads the rows back under
    /// the same ones, or text that means the same value would digest differently.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest_settings: Option<std::collections::BTreeMap<String, String>>,
    /// Taken from a hot standby: where its replay stood.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby: Option<StandbySource>,
}

/// Where a set taken from a hot standby stands (issue #27): the primary's data up to the
/// WAL position the standby had replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StandbySource {
    /// `pg_last_wal_replay_lsn()` when the dump started.
    pub replay_lsn: String,
    /// `pg_last_xact_replay_timestamp()`: when the primary committed the last transaction
    /// the set holds (the data's true age); `None` before any replay.
    pub replayed_at: Option<String>,
    /// Replay was paused for the dump (`--standby-replay pause`).
    pub replay_paused: bool,
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
    /// The dump's own file (the first: globals sets list the server's settings after it; a
    /// directory archive lists its `toc.dat` first, then its other files).
    pub fn dump_file(&self) -> Result<&FileEntry, ops_core::OpsError> {
        self.files.first().ok_or_else(|| {
            ops_core::OpsError::new(
                "manifest_invalid",
                ops_core::Category::Integrity,
                "the manifest lists no file",
            )
        })
    }

    /// The files of the archive itself: every file of a directory archive, else the
    /// first (a globals set's server settings are kept beside its archive).
    pub fn archive_files(&self) -> &[FileEntry] {
        match self.format {
            DumpFormat::Directory => &self.files,
            _ => &self.files[..self.files.len().min(1)],
        }
    }

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
pub(crate) fn write_json(path: &Path, value: &impl Serialize) -> std::io::Result<()> {
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
/// The one spelling of an off-site destination, wherever one is written or compared
/// (`offsite.json`, health's `PGOPS_REMOTE`, the metrics' labels): never a secret, no
/// trailing slash.
pub fn destination_name(location: &str) -> String {
    ops_core::redact::scrub(location.trim())
        .trim_end_matches('/')
        .to_string()
}

pub fn record_offsite(set_dir: &Path, destination: &str, mode: &str) -> std::io::Result<()> {
    let path = set_dir.join(OFFSITE_FILE);
    let mut record: OffsiteRecord = fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    record.v = 1;
    // Recorded as shown: a location never carries a secret into a file.
    let destination = destination_name(destination);
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

/// Checks the set's `manifest.json.minisig` against `manifest` (the manifest's bytes, as
/// read once by [`load_manifest`]): what the manifest says (file hashes, row counts) is
/// then what the backup host wrote.
pub fn check_signature(trust: &TrustedKey, set: &Path, manifest: &[u8]) -> Result<String, String> {
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
    trust.signer(manifest, &signature)
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

pub(crate) fn read_retirement(path: &Path) -> Retirement {
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
