//! Command-line flags.

use clap::Parser;
use std::time::Duration;

/// Shown after the flags in `--help`.
const EXAMPLES: &str = "Examples:
  backup-verify --latest --max-age 26h --backup-dir /var/backups/pgops
  backup-verify --all-sets --jobs 2                           weekly: every set
  pgdump-run --all | backup-verify -                          the sets this run made
  pgdump-run --all | backup-verify - --forward                in a unit: both runs' events reach the journal
  backup-verify --backup-dir s3://bucket/pgops --read-data    the off-site copy, ciphertext read";

/// Prove pgops backup sets intact, complete and fresh.
///
/// Each set gets seven named checks (manifest, signature, files, checksum, decode,
/// structure, rows), each
/// pass/fail/skip with a reason, and a verdict: pass, fail or unverifiable. The catalog gets
/// freshness per database. JSON lines on stdout: verify.passed, verify.failed, verify.stale,
/// verify.finding, run.finished. Exit 0 only when every set passed and every database is
/// fresh; 1 otherwise (a run that checked nothing too); 2 invalid invocation; 3 could not run.
///
/// With `-`, reads pgdump-run's JSON lines on stdin and verifies exactly the sets its
/// backup.completed events name: `pgdump-run --all | backup-verify -`.
#[derive(Debug, Clone, Parser)]
#[command(name = "backup-verify", version = ops_core::cli::VERSION, after_help = EXAMPLES)]
pub struct Args {
    #[command(flatten)]
    pub human: ops_core::human::HumanArgs,
    #[command(flatten)]
    pub catalog: ops_catalog::cli::CatalogArgs,
    #[command(flatten)]
    pub trust: ops_catalog::cli::TrustArgs,
    #[command(flatten)]
    pub select: ops_catalog::cli::SelectArgs,
    /// Verify the newest set of each database (the default).
    #[arg(long, conflicts_with = "all_sets")]
    pub latest: bool,
    /// Verify every set.
    #[arg(long)]
    pub all_sets: bool,
    /// Sealed catalogs (s3://): download every object and check its SHA-256 against the
    /// signed envelope (without it: presence and sizes only).
    #[arg(long)]
    pub read_data: bool,
    /// Sealed catalogs: read (or with --identity, fully prove) only the N-th of M parts of
    /// the sets, the others get the presence check (e.g. a weekly 1/4..4/4 reads each set
    /// monthly). Implies --read-data.
    #[arg(long, value_name = "N/M", value_parser = crate::subset::Subset::parse)]
    pub read_data_subset: Option<crate::subset::Subset>,
    /// With a sealed catalog, the identity gives the full proof (decode, structure, rows).
    #[command(flatten)]
    pub identity: ops_offsite::cli::IdentityArgs,
    /// Sealed catalogs: each set's proof is written beside it in the bucket, signed with
    /// this key (the backup host's, PGOPS_SIGNING_KEY); without it no proof is kept there.
    #[command(flatten)]
    pub signing: ops_catalog::cli::SigningArgs,
    /// A database whose newest passing set is older than this is stale.
    #[arg(long, value_parser = ops_core::duration::parse, default_value = "26h", value_name = "DURATION")]
    pub max_age: Duration,
    /// A database that must have a fresh passing set (repeatable).
    #[arg(long = "expect-database", value_name = "DB")]
    pub expect: Vec<String>,
    /// Do not write verify.json into the sets.
    #[arg(long)]
    pub no_record: bool,
    #[command(flatten)]
    pub jobs: ops_core::cli::JobsArgs,
    /// `-`: verify the sets named by backup.completed events on stdin.
    #[arg(value_name = "-")]
    pub stdin: Option<String>,
    /// With `-`: write the events read on stdin to stdout first, as they came, so that the
    /// end of a pipe (a systemd unit's journal) keeps the producer's events too.
    #[arg(long, requires = "stdin")]
    pub forward: bool,
}

impl ops_core::cli::ToolArgs for Args {
    fn human(&self) -> &ops_core::human::HumanArgs {
        &self.human
    }
}
