//! Command-line flags.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// Shown after the flags in `--help`.
const EXAMPLES: &str = "Examples:
  restore-drill -d shop --ephemeral --rto-target 60m          in a private throwaway cluster
  restore-drill -d shop --jobs 2 --compare-live               against the live database
  pgdump-run -d shop | restore-drill -                        the set just taken
  restore-drill history --backup-dir /var/backups/pgops       a month-by-month summary
  restore-drill -d shop --dry-run                             which set, restored where
  restore-drill --all --ephemeral                             every database, one after another
  restore-drill --all --due 30d --max 1                       the one waiting longest, if due";

/// Restore a backup set into an empty scratch database, prove it, measure RTO and data loss.
///
/// The set: the newest of -d DB that did not fail verification, --backup-id, or (with -) the
/// set named by a backup.completed or verify.passed event on stdin. Its checksum is checked
/// first. The target: a new database pgops_drill_<db>_<time> on the server the connection
/// flags and libpq environment name, or with --ephemeral a private temporary cluster. It is
/// dropped (or the cluster deleted) whatever happens, unless --keep. JSON lines on stdout:
/// drill.completed or drill.failed, run.finished; the report is appended to the history.
/// Exit 0 proven, 1 the drill failed, 2 invalid invocation, 3 could not run.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "restore-drill",
    version = ops_core::cli::VERSION, after_help = EXAMPLES,
    disable_help_flag = true,
    args_conflicts_with_subcommands = true
)]
pub struct Args {
    #[command(flatten)]
    pub human: ops_core::human::HumanArgs,
    #[command(flatten)]
    pub help: ops_core::cli::LongHelp,
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub drill: DrillArgs,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// One line per month: drills, successes, median and worst RTO, worst RPO, trend.
    History(HistoryArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct HistoryArgs {
    /// Only drills younger than this (e.g. 365d).
    #[arg(long, value_parser = ops_core::duration::parse, value_name = "DURATION")]
    pub since: Option<Duration>,
    /// The history file (default: <backup-dir>/_drills.jsonl).
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct DrillArgs {
    #[command(flatten)]
    pub conn: ops_pg::cli::ConnArgs,
    /// The database whose backup to drill.
    #[arg(short = 'd', long = "dbname", value_name = "DB", value_parser = ops_core::cli::database_name)]
    pub dbname: Option<String>,
    /// Drill every database of the catalog, one after another (a local catalog; not with
    /// -d, --backup-id or -).
    #[arg(long, conflicts_with_all = ["dbname", "backup_id", "stdin"])]
    pub all: bool,
    /// With --all: only the databases whose last passing drill is older than this, or that
    /// never passed one (drill.skipped for the others); the longest waiting first.
    #[arg(long, requires = "all", value_parser = ops_core::duration::parse, value_name = "DURATION")]
    pub due: Option<Duration>,
    /// With --all: at most this many drills this run; the others wait for the next.
    #[arg(long, requires = "all", value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub max: Option<u16>,
    #[command(flatten)]
    pub catalog: ops_catalog::cli::CatalogArgs,
    #[command(flatten)]
    pub trust: ops_catalog::cli::TrustArgs,
    /// Drill this set instead of the newest.
    #[arg(long, value_name = "ID")]
    pub backup_id: Option<String>,
    #[command(flatten)]
    pub identity: ops_offsite::cli::IdentityArgs,
    /// Sealed catalogs: the drill's proof is written beside the set in the bucket, signed
    /// with this key (PGOPS_SIGNING_KEY); without it no proof is kept there.
    #[command(flatten)]
    pub signing: ops_catalog::cli::SigningArgs,
    /// Restore into a private temporary cluster, not the target server.
    #[arg(long)]
    pub ephemeral: bool,
    #[command(flatten)]
    pub jobs: ops_core::cli::JobsArgs,
    /// Keep the scratch database (or ephemeral cluster) afterwards.
    #[arg(long)]
    pub keep: bool,
    /// Count the live source tables too and report rows this backup would lose today.
    #[arg(long)]
    pub compare_live: bool,
    /// A file of SQL statements, one per line, each returning true.
    #[arg(long, value_name = "FILE")]
    pub check_sql: Option<PathBuf>,
    /// A drill slower than this fails (PGOPS_RTO_TARGET: the same setting ops-status and
    /// its alerts read).
    #[arg(long, env = "PGOPS_RTO_TARGET", value_parser = ops_core::duration::parse, default_value = "60m", value_name = "DURATION")]
    pub rto_target: Duration,
    /// Where the report is appended (default: <backup-dir>/_drills.jsonl; none for a
    /// sealed catalog unless given).
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
    /// Restore owners and privileges, with the roles of the newest globals set first.
    #[arg(long)]
    pub with_owners: bool,
    #[command(flatten)]
    pub pg_bin: ops_pg::cli::PgBinArgs,
    /// Say which set would be drilled and where (drill.planned); restore nothing, create
    /// nothing, record nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// `-`: drill the set named by a backup.completed or verify.passed event on stdin.
    #[arg(value_name = "-")]
    pub stdin: Option<String>,
}

impl ops_core::cli::ToolArgs for Args {
    fn human(&self) -> &ops_core::human::HumanArgs {
        &self.human
    }
}
