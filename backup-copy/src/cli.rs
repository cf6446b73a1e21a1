//! backup-copy's command line.

use std::path::PathBuf;
use std::time::Duration;

/// Shown after the flags in `--help`, and as the man page's EXAMPLES.
const EXAMPLES: &str = "Examples:
  backup-copy -R /etc/pgops/recipients --signing-key /etc/pgops/minisign.key \\
      /var/backups/pgops s3://backups/pgops                      (off-site)
  backup-copy --latest --identity ~/pgops.age --public-key minisign.pub \\
      s3://backups/pgops /var/backups/pgops                      (recovery: the newest sets)
  backup-copy -R recipients --signing-key k --object-lock compliance \
      --object-lock-for 40d /var/backups/pgops s3://backups/pgops  (locked copies)
  backup-copy /var/backups/pgops /mnt/second-disk/pgops          (a second disk)
  backup-copy --dry-run -R recipients --signing-key k /var/backups/pgops s3://b/p";

/// Copy complete, verified backup sets that the destination lacks.
///
/// What goes to an object store is sealed: every file encrypted with age to the
/// recipients, and a signed envelope. What comes back is checked and decrypted.
#[derive(Debug, clap::Parser)]
#[command(name = "backup-copy", version = ops_core::cli::VERSION, verbatim_doc_comment, after_help = EXAMPLES)]
pub struct Args {
    #[command(flatten)]
    pub human: ops_core::human::HumanArgs,
    /// The catalog to copy from: a directory, or s3://BUCKET[/PREFIX] (recovery).
    #[arg(value_name = "SRC")]
    pub source: String,
    /// The catalogs to copy to: directories, or s3://BUCKET[/PREFIX] (AWS_* settings);
    /// several destinations (a second provider, a second disk) are served one after the
    /// other, each reported on its own; one that fails does not stop the others.
    #[arg(value_name = "DST", required = true, num_args = 1..)]
    pub destinations: Vec<String>,
    #[command(flatten)]
    pub select: ops_catalog::cli::SelectArgs,
    /// Copy sets that no backup-verify run has passed yet (by default only passed sets go).
    #[arg(long)]
    pub unverified: bool,
    /// Only the newest good set of each database (and of the globals): what a recovery
    /// needs from the bucket, not its whole history.
    #[arg(long)]
    pub latest: bool,
    /// Encrypt to this age public key (age1…) or SSH public key (repeatable).
    #[arg(short = 'r', long = "recipient", value_name = "KEY")]
    pub recipients: Vec<String>,
    /// Encrypt to every key in this file, one a line (PGOPS_RECIPIENTS_FILE; repeatable).
    #[arg(
        short = 'R',
        long = "recipients-file",
        env = "PGOPS_RECIPIENTS_FILE",
        value_name = "FILE"
    )]
    pub recipients_files: Vec<PathBuf>,
    /// Recovery from a sealed source only.
    #[command(flatten)]
    pub identity: ops_offsite::cli::IdentityArgs,
    #[command(flatten)]
    pub signing: ops_catalog::cli::SigningArgs,
    #[command(flatten)]
    pub trust: ops_catalog::cli::TrustArgs,
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
    pub object_lock: ops_offsite::cli::ObjectLockArgs,
    #[command(flatten)]
    pub lock: ops_catalog::cli::LockArgs,
}

impl ops_core::cli::ToolArgs for Args {
    fn human(&self) -> &ops_core::human::HumanArgs {
        &self.human
    }
}
