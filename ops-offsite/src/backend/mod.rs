//! Where a catalog lives: a local directory or an S3-compatible object store, behind one
//! small synchronous trait, so that no tool needs to know which it has.
//!
//! Keys are `/`-separated paths relative to the catalog's root (`<db>/<set id>/<file>`).
//! Writes stream (memory stays flat whatever the object size) and report the SHA-256 of
//! what was written, computed on the way: a store's own ETag is not a content hash.

pub mod local;
mod profile;
pub mod s3;

pub use ops_catalog::codec::Hashing;
use ops_core::{Category, OpsError};
use std::io::Read;
use std::time::Duration;

/// One object right under a listed directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub name: String,
    pub size: u64,
}

/// What is right under a directory: sub-directories (prefixes) and objects.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DirListing {
    pub dirs: Vec<String>,
    pub objects: Vec<ObjectInfo>,
}

/// What a write stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub size: u64,
    pub sha256: String,
}

/// Object Lock's two modes: under `Governance` a principal with
/// `s3:BypassGovernanceRetention` may still delete a version early; under `Compliance` no
/// one can, the account's root included, until the date.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum RetentionMode {
    Governance,
    Compliance,
}

impl RetentionMode {
    /// The mode as S3 writes it (`GOVERNANCE`), or as pgops's flags do (`governance`).
    pub fn parse(text: &str) -> Option<RetentionMode> {
        match text.to_ascii_lowercase().as_str() {
            "governance" => Some(RetentionMode::Governance),
            "compliance" => Some(RetentionMode::Compliance),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            RetentionMode::Governance => "governance",
            RetentionMode::Compliance => "compliance",
        }
    }

    pub fn s3_name(self) -> &'static str {
        match self {
            RetentionMode::Governance => "GOVERNANCE",
            RetentionMode::Compliance => "COMPLIANCE",
        }
    }
}

/// An object's retention: no version of it can be deleted or overwritten before `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    pub mode: RetentionMode,
    pub until: jiff::Timestamp,
}

/// What a store offers against deletion.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Protection {
    /// Every version of an object is kept (a delete only hides it behind a marker).
    pub versioning: bool,
    /// Object Lock is enabled on the bucket.
    pub object_lock: bool,
    /// The bucket's default retention rule: every new version is locked this long.
    pub default_retention: Option<(RetentionMode, Duration)>,
}

/// One version of an object, or a delete marker, with its key relative to the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectVersion {
    pub key: String,
    pub version_id: String,
    /// The key's current version (or marker).
    pub latest: bool,
    pub modified: jiff::Timestamp,
    pub size: u64,
    pub delete_marker: bool,
}

/// Whether a write may replace an existing object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutMode {
    Overwrite,
    /// Only if nothing is there (a conditional write on object stores): how manifests are
    /// published, so two writers never replace each other's.
    Create,
}

/// Why a store operation failed, with a stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("{0}: not found")]
    NotFound(String),
    #[error("{0}: exists already")]
    Exists(String),
    #[error("access denied: {0}")]
    Denied(String),
    #[error("the bucket does not exist: {0} (create it, e.g. `aws s3 mb s3://BUCKET`, with Object Lock if you want it, or check the bucket name, AWS_REGION and AWS_ENDPOINT_URL)")]
    NoBucket(String),
    #[error("cannot reach the store: {0}")]
    Unreachable(String),
    #[error("no progress for {0:?}: the transfer stalled")]
    Stalled(Duration),
    #[error("{0}")]
    Invalid(String),
    /// A lock was asked of a store that cannot honour it.
    #[error("{0}")]
    LockUnsupported(String),
    /// A locked version the store refused to delete.
    #[error("{0}")]
    Locked(String),
    /// What this kind of store cannot do (versions of a directory).
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Other(String),
}

impl StoreError {
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::NotFound(_) => "store_not_found",
            StoreError::Exists(_) => "store_exists",
            StoreError::Denied(_) => "store_denied",
            StoreError::NoBucket(_) => "store_bucket_missing",
            StoreError::Unreachable(_) => "store_unreachable",
            StoreError::Stalled(_) => "stalled",
            StoreError::Invalid(_) => "invalid_location",
            StoreError::LockUnsupported(_) => "lock_unsupported",
            StoreError::Locked(_) => "set_locked",
            StoreError::Unsupported(_) => "store_unsupported",
            StoreError::Other(_) => "store_failed",
        }
    }

    /// The error a tool reports, with what it was doing.
    pub fn to_ops_error(&self, context: &str) -> OpsError {
        let category = match self {
            StoreError::Invalid(_)
            | StoreError::LockUnsupported(_)
            | StoreError::Unsupported(_) => Category::Validation,
            StoreError::Denied(_) => Category::Authz,
            StoreError::Stalled(_) => Category::Timeout,
            // A locked set fails alone; the run goes on with the others.
            StoreError::NotFound(_) | StoreError::Exists(_) | StoreError::Locked(_) => {
                Category::Integrity
            }
            _ => Category::Dependency,
        };
        OpsError::new(self.code(), category, format!("{context}: {self}"))
    }
}

/// The error of copying one set to or from a store: the store's (with what was being
/// done), the set's own, or a set another process on this host is busy with.
#[derive(Debug)]
pub enum TransferError {
    Store(StoreError, String),
    Set(OpsError),
    /// Another copy on this host is writing this set: skipped, not failed.
    Busy,
}

impl TransferError {
    pub fn to_ops_error(&self) -> OpsError {
        match self {
            TransferError::Store(e, what) => e.to_ops_error(what),
            TransferError::Set(e) => e.clone(),
            TransferError::Busy => OpsError::new(
                "copy_in_progress",
                Category::Io,
                "another copy on this host is writing this set",
            ),
        }
    }

    /// Whether it stops the whole run: the destination, not this set, is the problem
    /// (credentials, bucket, endpoint, stall, location), or a wrong identity, which fails
    /// every set alike.
    pub fn is_run_level(&self) -> bool {
        match self {
            TransferError::Store(e, _) => matches!(
                e,
                StoreError::Denied(_)
                    | StoreError::NoBucket(_)
                    | StoreError::Unreachable(_)
                    | StoreError::Stalled(_)
                    | StoreError::Invalid(_)
                    | StoreError::LockUnsupported(_)
            ),
            TransferError::Set(e) => e.code == "wrong_identity",
            TransferError::Busy => false,
        }
    }

    /// A store error, with what was being done.
    pub fn store(what: impl Into<String>) -> impl FnOnce(StoreError) -> TransferError {
        let what = what.into();
        move |e| TransferError::Store(e, what)
    }
}

/// Reads back the size the store reports for `key`, just written with `written` bytes:
/// `store_size_mismatch` if they differ (a store that lost or padded bytes).
pub fn check_written_size(dst: &dyn Store, key: &str, written: u64) -> Result<(), TransferError> {
    let reported = dst
        .size(key)
        .map_err(TransferError::store(format!("checking {key}")))?;
    if reported == Some(written) {
        return Ok(());
    }
    Err(TransferError::Set(OpsError::new(
        "store_size_mismatch",
        Category::Integrity,
        format!("{key}: the store reports {reported:?} bytes after writing {written}"),
    )))
}

/// Checks that what was read from the local file `path` while writing `key` (`read`) is
/// what its manifest records; if not, removes `key` (never leave it there) and fails the
/// set with `source_mismatch`.
pub fn check_source(
    dst: &dyn Store,
    key: &str,
    path: &std::path::Path,
    read: (u64, &str),
    manifest: (u64, &str),
) -> Result<(), TransferError> {
    if read == manifest {
        return Ok(());
    }
    let _ = dst.delete(key);
    Err(TransferError::Set(OpsError::new(
        "source_mismatch",
        Category::Integrity,
        format!(
            "{}: read {} bytes with SHA-256 {}, the manifest says {} bytes, {}: run backup-verify on the source",
            path.display(),
            read.0,
            read.1,
            manifest.0,
            manifest.1
        ),
    )))
}

/// A place that holds a catalog.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Where it is, for people: a directory or `s3://bucket/prefix` (never a secret).
    fn location(&self) -> String;
    /// What is right under `dir` (`""` for the root).
    fn list_dir(&self, dir: &str) -> Result<DirListing, StoreError>;
    /// Every object anywhere under `dir`, with its path relative to `dir`
    /// (`<set id>/<file>`): one listing where a directory at a time would take one request
    /// per set.
    fn list_tree(&self, dir: &str) -> Result<Vec<ObjectInfo>, StoreError>;
    /// The size of `key`, `None` if there is no such object.
    fn size(&self, key: &str) -> Result<Option<u64>, StoreError>;
    /// Reads `key` as a stream.
    fn open(&self, key: &str) -> Result<Box<dyn Read + Send>, StoreError>;
    /// Writes `key` from `src`, streaming. `size_hint` (when known) chooses the part size of
    /// a multipart upload. Nothing is visible under `key` unless the whole write succeeded.
    fn put(
        &self,
        key: &str,
        src: &mut dyn Read,
        size_hint: Option<u64>,
        mode: PutMode,
    ) -> Result<Stored, StoreError>;
    /// Removes `key` (no error if it is gone already). On a versioned bucket this hides
    /// it behind a delete marker; [`purge`](Store::purge) removes it for good.
    fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Removes `key` and, where the store keeps versions, every version of it: what a
    /// deletion by retention means (a delete marker frees nothing). A locked version fails
    /// with `Locked`.
    fn purge(&self, key: &str) -> Result<(), StoreError> {
        self.delete(key)
    }
    /// What the store offers against deletion (a directory: nothing).
    fn protection(&self) -> Result<Protection, StoreError> {
        Ok(Protection::default())
    }
    /// The retention every object written from now on gets: the one asked for
    /// ([`StoreOptions::retention`]) or the bucket's default rule; `None` if none.
    fn write_retention(&self) -> Option<Retention> {
        None
    }
    /// Every version and delete marker under `dir` (`""`: the whole catalog), keys
    /// relative to the catalog's root.
    fn versions(&self, _dir: &str) -> Result<Vec<ObjectVersion>, StoreError> {
        Err(StoreError::Unsupported(format!(
            "{} keeps no versions",
            self.location()
        )))
    }
    /// Makes `version` the current content of `key` again (nothing deleted), with the
    /// retention given.
    fn restore_version(
        &self,
        _key: &str,
        _version: &str,
        _retention: Option<&Retention>,
    ) -> Result<(), StoreError> {
        Err(StoreError::Unsupported(format!(
            "{} keeps no versions",
            self.location()
        )))
    }
    /// Deletes one version or delete marker of `key`.
    fn delete_version(&self, _key: &str, _version: &str) -> Result<(), StoreError> {
        Err(StoreError::Unsupported(format!(
            "{} keeps no versions",
            self.location()
        )))
    }
    /// The retention of `key` (its current version, or `version`) as the store enforces
    /// it.
    fn retention(
        &self,
        _key: &str,
        _version: Option<&str>,
    ) -> Result<Option<Retention>, StoreError> {
        Ok(None)
    }
}

/// Settings of a store that are not in its location.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// A transfer that moves no bytes for this long fails as `stalled`.
    pub stall_timeout: Duration,
    /// How long one request is retried (5xx, throttling, broken connections) before the
    /// error is reported.
    pub retry_timeout: Duration,
    /// Lock every object written with this retention (S3 Object Lock); a store that
    /// cannot is refused at open with `lock_unsupported`.
    pub retention: Option<Retention>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            stall_timeout: Duration::from_secs(120),
            retry_timeout: Duration::from_secs(60),
            retention: None,
        }
    }
}

/// Opens the store a catalog location names: `s3://bucket[/prefix]`, or a local directory.
pub fn open_location(location: &str, options: &StoreOptions) -> Result<Box<dyn Store>, StoreError> {
    // The one place that tells an object store from a directory.
    match location.strip_prefix("s3://") {
        Some(rest) => Ok(Box::new(s3::S3Store::open(rest, options)?)),
        None if location.contains("://") => Err(StoreError::Invalid(format!(
            "{location:?}: only local directories and s3:// locations are supported"
        ))),
        None if options.retention.is_some() => Err(StoreError::LockUnsupported(format!(
            "{location}: a directory cannot hold locked copies (Object Lock is a bucket's)"
        ))),
        None => Ok(Box::new(local::LocalStore::new(location))),
    }
}

/// Where `key` of the catalog at `location` is, for people: `s3://b/p?profile=x` and
/// `db/id` give `s3://b/p/db/id?profile=x` (a location's setting stays at its end).
pub fn place_of(location: &str, key: &str) -> String {
    let (base, setting) = location
        .split_once('?')
        .map_or((location, None), |(b, q)| (b, Some(q)));
    let mut out = format!("{}/{key}", base.trim_end_matches('/'));
    if let Some(q) = setting {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// Splits a key into directory and name; rejects keys that could leave the root.
pub(crate) fn check_key(key: &str) -> Result<(), StoreError> {
    let bad = key.is_empty()
        || key.starts_with('/')
        || key
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..");
    if bad {
        Err(StoreError::Invalid(format!("{key:?} is not a catalog key")))
    } else {
        Ok(())
    }
}

/// Fills `buf` from a hashing reader as far as the source allows (0 at its end), as a store
/// error naming the object being written.
pub(crate) fn fill<R: Read>(
    src: &mut Hashing<R>,
    buf: &mut [u8],
    key: &str,
) -> Result<usize, StoreError> {
    ops_core::chunks::read_full(src, buf)
        .map_err(|e| StoreError::Other(format!("reading the source of {key}: {e}")))
}

/// What went through a hashing reader.
pub(crate) fn stored<R>(h: Hashing<R>) -> Stored {
    let (size, sha256) = h.finish();
    Stored { size, sha256 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_stay_inside_the_catalog() {
        for bad in ["", "/etc/passwd", "a/../b", "a//b", "./a", "a/"] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
        assert!(check_key("db/20261125T000000Z/manifest.json").is_ok());
    }

    #[test]
    fn places_keep_a_locations_setting_at_its_end() {
        assert_eq!(place_of("s3://b/p/", "db/1"), "s3://b/p/db/1");
        assert_eq!(
            place_of("s3://b/p?profile=r2", "db/1"),
            "s3://b/p/db/1?profile=r2"
        );
        assert_eq!(place_of("/var/x", "db"), "/var/x/db");
    }

    #[test]
    fn locations() {
        let o = StoreOptions::default();
        assert_eq!(
            open_location("ftp://x", &o).unwrap_err().code(),
            "invalid_location"
        );
        assert!(open_location("/tmp/x", &o)
            .unwrap()
            .location()
            .ends_with("/tmp/x"));
    }
}
