//! backup-bucket's command line.

use std::time::Duration;

/// Shown after the flags in `--help`, and as the man page's EXAMPLES.
const EXAMPLES: &str = "Examples:
  backup-bucket check s3://backups/pgops            (what the bucket and these credentials allow)
  backup-bucket versions s3://backups/pgops --as-of 2026-12-06T02:00:00Z
                                                    (what was hidden or overwritten since)
  backup-bucket recover s3://backups/pgops --as-of 2026-12-06T02:00:00Z
                                                    (bring every key back to that time)";

/// What an operator does with the bucket itself: check that it protects the copies (Object
/// Lock, versioning) and what the current credentials can do there (proven with a canary
/// object, never with data); list what was hidden or overwritten after a point in time,
/// and bring it back from the versions the bucket kept.
#[derive(Debug, clap::Parser)]
#[command(name = "backup-bucket", version = ops_core::cli::VERSION, verbatim_doc_comment, after_help = EXAMPLES)]
pub struct Args {
    #[command(flatten)]
    pub human: ops_core::human::HumanArgs,
    #[command(subcommand)]
    pub command: Command,
    /// How long one request is retried (5xx, throttling, resets).
    #[arg(long, value_parser = ops_core::duration::parse, default_value = "1m", value_name = "DURATION", global = true)]
    pub retry_timeout: Duration,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// The bucket's Object Lock, versioning and default retention, and what these
    /// credentials can do there (write, read, list, hide, delete for good), proven with a
    /// canary object under `.pgops-canary/`. Exit 1 when the copies are not safe from
    /// these credentials.
    Check(Location),
    /// Every key whose state differs from what it was at --as-of: hidden behind delete
    /// markers, overwritten, or added since. Changes nothing.
    Versions(AsOf),
    /// Brings every key back to its version at --as-of: delete markers above it removed,
    /// an overwritten key's old version copied on top (with its lock). Nothing else is
    /// deleted; keys added since are left. Needs credentials allowed to list versions and
    /// delete delete markers (s3:ListBucketVersions, s3:DeleteObjectVersion): the
    /// operator's, not the backup host's.
    Recover(Recover),
    /// Re-seals every set to new age recipients (key rotation): each set unsealed with
    /// --identity and every check made, sealed again to the new recipients, its envelope
    /// replaced and signed with --signing-key, then its old objects removed (those the
    /// store still locks stay until their date). Run where the identity is, never on the
    /// backup host; give the host the new recipients before or after.
    Reseal(Reseal),
}

#[derive(Debug, Clone, clap::Args)]
pub struct Reseal {
    #[command(flatten)]
    pub location: Location,
    /// The identity that opens the sets now (PGOPS_IDENTITY_FILE).
    #[command(flatten)]
    pub identity: ops_offsite::cli::IdentityArgs,
    /// A new recipient: an age public key (age1…) or an SSH public key (repeatable).
    #[arg(short = 'r', long = "recipient", value_name = "KEY")]
    pub recipients: Vec<String>,
    /// A file of new recipients, one a line (repeatable).
    #[arg(short = 'R', long = "recipients-file", value_name = "FILE")]
    pub recipients_files: Vec<std::path::PathBuf>,
    #[command(flatten)]
    pub signing: ops_catalog::cli::SigningArgs,
    #[command(flatten)]
    pub trust: ops_catalog::cli::TrustArgs,
}

#[derive(Debug, Clone, clap::Args)]
pub struct Location {
    /// The catalog in the bucket: s3://BUCKET[/PREFIX] (AWS_* settings).
    #[arg(value_name = "LOCATION")]
    pub location: String,
}

#[derive(Debug, Clone, clap::Args)]
pub struct AsOf {
    #[command(flatten)]
    pub location: Location,
    /// The point in time: RFC 3339 (2026-12-06T02:00:00Z), or a duration meaning that long
    /// ago (36h).
    #[arg(long, value_name = "TIME", value_parser = parse_as_of)]
    pub as_of: jiff::Timestamp,
}

#[derive(Debug, Clone, clap::Args)]
pub struct Recover {
    #[command(flatten)]
    pub as_of: AsOf,
    /// Say what would be brought back; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `--as-of`: a timestamp, or a duration before now.
pub fn parse_as_of(text: &str) -> Result<jiff::Timestamp, String> {
    if let Some(t) = ops_core::timefmt::parse_rfc3339(text) {
        return Ok(t);
    }
    let ago = ops_core::duration::parse(text).map_err(|_| {
        format!("{text:?}: expected a time (2026-12-06T02:00:00Z) or a duration ago (36h)")
    })?;
    jiff::SignedDuration::try_from(ago)
        .ok()
        .and_then(|d| jiff::Timestamp::now().checked_sub(d).ok())
        .ok_or_else(|| format!("{text:?}: too long ago"))
}

impl ops_core::cli::ToolArgs for Args {
    fn human(&self) -> &ops_core::human::HumanArgs {
        &self.human
    }
}

impl Args {
    /// The action `run.finished` names.
    pub fn action(&self) -> &'static str {
        match &self.command {
            Command::Check(_) => "check",
            Command::Versions(_) => "versions",
            Command::Recover(_) => "recover",
            Command::Reseal(_) => "reseal",
        }
    }

    pub fn location(&self) -> &str {
        match &self.command {
            Command::Check(l) => &l.location,
            Command::Versions(a) => &a.location.location,
            Command::Recover(r) => &r.as_of.location.location,
            Command::Reseal(r) => &r.location.location,
        }
    }
}
