//! backup-copy's command line.

use std::path::PathBuf;
use std::time::Duration;

/// Copy complete, verified backup sets that the destination lacks.
///
/// Examples:
///   backup-copy --no-encrypt /var/backups/pgops s3://backups/pgops   (off-site)
///   backup-copy /var/backups/pgops /mnt/second-disk/pgops    (a second disk)
///   backup-copy --dry-run --no-encrypt /var/backups/pgops s3://backups/pgops
#[derive(Debug, clap::Parser)]
#[command(name = "backup-copy", version, verbatim_doc_comment)]
pub struct Args {
    /// The catalog to copy from (a directory).
    #[arg(value_name = "SRC")]
    pub source: PathBuf,
    /// The catalog to copy to: a directory, or s3://BUCKET[/PREFIX] (AWS_* settings).
    #[arg(value_name = "DST")]
    pub destination: String,
    #[command(flatten)]
    pub select: ops_catalog::cli::SelectArgs,
    /// Copy sets that no backup-verify run has passed yet (by default only passed sets go).
    #[arg(long)]
    pub unverified: bool,
    /// Send database content to an object store unencrypted. Off-site copies are meant to
    /// be encrypted with age (issue #11, not in this build yet): until then an s3://
    /// destination needs this flag, so that no one ships plaintext dumps by accident.
    #[arg(long)]
    pub no_encrypt: bool,
    /// Say what would be copied; copy nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// A transfer that moves no bytes for this long fails as `stalled`.
    #[arg(long, value_parser = ops_core::duration::parse, default_value = "2m", value_name = "DURATION")]
    pub stall_timeout: Duration,
    /// How long one request to the destination is retried (5xx, throttling, resets).
    #[arg(long, value_parser = ops_core::duration::parse, default_value = "1m", value_name = "DURATION")]
    pub retry_timeout: Duration,
    #[command(flatten)]
    pub lock: ops_catalog::cli::LockArgs,
}
