//! The flags of tools that read sealed catalogs.

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
