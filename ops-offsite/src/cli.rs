//! The flags of tools that read or write sealed catalogs.

use crate::backend::{Retention, RetentionMode};
use crate::keys::Identities;
use ops_core::OpsError;
use std::path::PathBuf;

/// `--identity`, for every tool that decrypts a sealed catalog.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct IdentityArgs {
    /// Sealed catalogs (s3://): the age identity that decrypts the sets (PGOPS_IDENTITY_FILE);
    /// never kept on the backup host.
    #[arg(long, env = "PGOPS_IDENTITY_FILE", value_name = "FILE")]
    pub identity: Option<PathBuf>,
}

impl IdentityArgs {
    /// The identities, read (`None` when none is configured).
    pub fn load(&self) -> Result<Option<Identities>, OpsError> {
        self.identity
            .as_deref()
            .map(Identities::from_file)
            .transpose()
    }

    /// The identities, which unsealing cannot do without.
    pub fn require(&self) -> Result<Identities, OpsError> {
        self.load()?.ok_or_else(identity_required)
    }
}

/// The error of a sealed catalog to decrypt without an identity.
pub fn identity_required() -> OpsError {
    OpsError::validation(
        "identity_required",
        "a sealed catalog is encrypted: pass --identity (PGOPS_IDENTITY_FILE)",
    )
}

/// `--object-lock` and `--object-lock-for`: copies the store itself refuses to delete.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ObjectLockArgs {
    /// Lock every object written in the bucket with S3 Object Lock (PGOPS_OBJECT_LOCK):
    /// `compliance` (no one can delete it before the date, the account's root included)
    /// or `governance` (only a principal allowed to bypass governance can). The bucket
    /// must have Object Lock enabled, else the run is refused (lock_unsupported).
    #[arg(long, env = "PGOPS_OBJECT_LOCK", value_name = "MODE", value_parser = parse_mode, requires = "object_lock_for")]
    pub object_lock: Option<RetentionMode>,
    /// How long each copy stays locked from the time it is written (PGOPS_OBJECT_LOCK_FOR):
    /// at least the off-site retention (backup-rotate's --keep-within on the bucket), so
    /// that rotation finds the sets it deletes unlocked.
    #[arg(long, env = "PGOPS_OBJECT_LOCK_FOR", value_name = "DURATION", value_parser = ops_core::duration::parse, requires = "object_lock")]
    pub object_lock_for: Option<std::time::Duration>,
}

fn parse_mode(text: &str) -> Result<RetentionMode, String> {
    RetentionMode::parse(text).ok_or_else(|| format!("{text:?}: expected compliance or governance"))
}

impl ObjectLockArgs {
    /// The retention of objects written now, if a lock is asked for.
    pub fn retention(&self, now: jiff::Timestamp) -> Result<Option<Retention>, OpsError> {
        let (Some(mode), Some(period)) = (self.object_lock, self.object_lock_for) else {
            return Ok(None);
        };
        let until = jiff::SignedDuration::try_from(period)
            .ok()
            .and_then(|d| now.checked_add(d).ok())
            .filter(|_| !period.is_zero())
            .ok_or_else(|| {
                OpsError::validation(
                    "invalid_argument",
                    "--object-lock-for: a lock of zero or beyond the calendar cannot be set",
                )
            })?;
        Ok(Some(Retention { mode, until }))
    }
}
