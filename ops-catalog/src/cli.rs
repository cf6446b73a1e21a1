//! The catalog flags every tool that reads or writes a catalog shares.

use crate::catalog::Catalog;
use crate::keys::{SigningKey, TrustedKey};
use crate::lock::{CatalogLock, LockMode};
use ops_core::OpsError;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `--lock-timeout`, for every tool that takes a catalog's lock.
#[derive(Debug, Clone, clap::Args)]
pub struct LockArgs {
    /// How long to wait for another run holding the catalog lock (0s: fail at once).
    #[arg(long, value_parser = ops_core::duration::parse, default_value = "0s", value_name = "DURATION")]
    pub lock_timeout: Duration,
}

/// `--backup-dir`, one definition for every tool. Global: a tool with subcommands
/// (ops-status, `restore-drill history`) takes it before or after the subcommand.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct BackupDirArgs {
    /// The catalog directory (PGOPS_BACKUP_DIR).
    #[arg(long, env = "PGOPS_BACKUP_DIR", value_name = "DIR", global = true)]
    pub backup_dir: Option<PathBuf>,
}

/// `--backup-dir` and `--lock-timeout`, for every tool that takes a catalog's lock.
#[derive(Debug, Clone, clap::Args)]
pub struct CatalogArgs {
    #[command(flatten)]
    pub at: BackupDirArgs,
    #[command(flatten)]
    pub lock: LockArgs,
}

/// The error of a tool given no catalog.
pub fn backup_dir_missing() -> OpsError {
    OpsError::validation(
        "backup_dir_missing",
        "no backup directory: pass --backup-dir or set PGOPS_BACKUP_DIR",
    )
}

impl BackupDirArgs {
    /// The catalog named, or `backup_dir_missing`.
    pub fn dir(&self) -> Result<&Path, OpsError> {
        self.backup_dir.as_deref().ok_or_else(backup_dir_missing)
    }
}

impl CatalogArgs {
    /// The catalog named, or `backup_dir_missing`.
    pub fn dir(&self) -> Result<&Path, OpsError> {
        self.at.dir()
    }

    /// Opens the existing catalog named under its lock.
    pub fn open(&self, mode: LockMode) -> Result<(Catalog, CatalogLock), OpsError> {
        Catalog::open(self.dir()?, mode, self.lock.lock_timeout)
    }
}

/// `-d DB` (repeatable) of the tools that work on a catalog's sets: which directories of
/// sets to take, by database name, `_globals` naming the globals sets.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SelectArgs {
    /// Only these databases (repeatable; `_globals` names the globals sets).
    #[arg(short = 'd', long = "dbname", value_name = "DB", value_parser = ops_core::cli::database_name)]
    pub dbnames: Vec<String>,
}

impl SelectArgs {
    /// Whether the sets labelled `label` (a database, or `_globals`) are selected: all when
    /// no `-d` was given.
    pub fn wants(&self, label: &str) -> bool {
        self.dbnames.is_empty() || self.dbnames.iter().any(|d| d == label)
    }
}

/// `--public-key`, for every tool that reads sets: the key their manifests must be signed
/// with (ADR 0014).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TrustArgs {
    /// The minisign public key the sets must be signed with (PGOPS_PUBLIC_KEY): a set whose
    /// signature is missing or does not check is refused as signature_invalid.
    #[arg(long, env = "PGOPS_PUBLIC_KEY", value_name = "FILE")]
    pub public_key: Option<PathBuf>,
}

impl TrustArgs {
    /// The trusted key, read (`None` when no key is configured).
    pub fn load(&self) -> Result<Option<TrustedKey>, OpsError> {
        self.public_key
            .as_deref()
            .map(TrustedKey::from_file)
            .transpose()
    }

    /// The trusted key, which a sealed catalog cannot be read without.
    pub fn require(&self) -> Result<TrustedKey, OpsError> {
        self.load()?.ok_or_else(public_key_required)
    }
}

/// The error of a sealed catalog read without a trusted key.
pub fn public_key_required() -> OpsError {
    OpsError::validation(
        "public_key_required",
        "a sealed catalog is trusted only through its signatures: pass --public-key (PGOPS_PUBLIC_KEY)",
    )
}

/// `--signing-key`, for every tool that writes sets.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SigningArgs {
    /// The minisign secret key that signs each set (PGOPS_SIGNING_KEY): unencrypted
    /// (`minisign -G -W`), readable by the backup user only.
    #[arg(long, env = "PGOPS_SIGNING_KEY", value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
}

impl SigningArgs {
    /// The signing key, read (`None` when no key is configured).
    pub fn load(&self) -> Result<Option<SigningKey>, OpsError> {
        self.signing_key
            .as_deref()
            .map(SigningKey::from_file)
            .transpose()
    }
}
