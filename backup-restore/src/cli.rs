//! backup-restore's command line.

use clap::Parser;

/// Shown after the flags in `--help`.
const EXAMPLES: &str = "Examples:
  backup-restore -d shop                                  the newest verified set, as shop
  backup-restore -d shop --dry-run                        which set, what would be done
  backup-restore -d shop --target shop_copy --jobs 4      beside the original
  backup-restore -d shop --swap                           restore beside, swap when proven
  backup-restore -d shop --globals --clean                roles first, replace shop
  backup-restore -d shop --table public.orders            one table, beside the live one
  backup-restore -d shop --table public.orders --swap     ... and swapped in when proven
  backup-restore -d shop --schema app --into-schema app_back   every table of a schema
  backup-restore -d shop --backup-dir s3://bucket/pgops --identity /secure/identity.age";

/// Put a database back from a backup set.
///
/// The set: the newest of -d DB that passed verification (or --backup-id); from a sealed
/// catalog (s3://…, with --identity) the newest set that unseals, signatures and hashes
/// checked on the way. The target: a
/// database of the same name (or --target) on the server the connection flags and libpq
/// environment name. A target that exists and holds anything is never touched unless
/// --clean (drop it first) or --swap (restore beside it, recount, then rename it aside and
/// the restored one into place). Every table is recounted against the manifest. JSON
/// lines on stdout: restore.planned (--dry-run), restore.completed or restore.failed,
/// run.finished. Exit 0 restored and proven, 1 the restore or its proof failed, 2 invalid
/// invocation (a target in use without --clean/--swap), 3 could not run.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "backup-restore",
    version = ops_core::cli::VERSION,
    after_help = EXAMPLES,
    disable_help_flag = true
)]
pub struct Args {
    #[command(flatten)]
    pub human: ops_core::human::HumanArgs,
    #[command(flatten)]
    pub help: ops_core::cli::LongHelp,
    #[command(flatten)]
    pub conn: ops_pg::cli::ConnArgs,
    /// The database whose backup to restore (its name in the catalog).
    #[arg(short = 'd', long = "dbname", value_name = "DB", value_parser = ops_core::cli::database_name)]
    pub dbname: String,
    /// Restore into this database instead of the original name.
    #[arg(long, value_name = "NAME", value_parser = ops_core::cli::database_name)]
    pub target: Option<String>,
    #[command(flatten)]
    pub catalog: ops_catalog::cli::CatalogArgs,
    #[command(flatten)]
    pub trust: ops_catalog::cli::TrustArgs,
    #[command(flatten)]
    pub identity: ops_offsite::cli::IdentityArgs,
    /// Sealed catalogs: the restore's proof is written beside the set in the bucket,
    /// signed with this key (PGOPS_SIGNING_KEY); without it no proof is kept there.
    #[command(flatten)]
    pub signing: ops_catalog::cli::SigningArgs,
    /// Restore this set instead of the newest verified one.
    #[arg(long, value_name = "ID")]
    pub backup_id: Option<String>,
    /// Accept a set that was never verified (never one that failed).
    #[arg(long)]
    pub unverified: bool,
    /// A target that exists and holds anything is dropped first.
    #[arg(long, conflicts_with_all = ["swap", "table", "schema"])]
    pub clean: bool,
    /// Restore only this table (SCHEMA.NAME; repeatable; a partitioned table with its
    /// partitions) into the live database, beside the live table: in a new schema
    /// (--into-schema), with its indexes, constraints, owned sequences and grants, proven
    /// by count and digest. What cannot come back with it (foreign keys to or from other
    /// tables, views on it) is reported. A custom-format set only.
    #[arg(long, value_name = "SCHEMA.NAME")]
    pub table: Vec<String>,
    /// Restore every table of this schema (repeatable), as --table does.
    #[arg(long, value_name = "SCHEMA")]
    pub schema: Vec<String>,
    /// With --table/--schema: the new schema the tables are restored into (it must not
    /// exist). Default: pgops_restored_<time>.
    #[arg(long, value_name = "SCHEMA")]
    pub into_schema: Option<String>,
    /// Restore beside the target, recount, then rename the old one to
    /// <target>_before_<time> and the restored one into place. With --table/--schema:
    /// each live table moves to the schema pgops_before_<time> and the restored one takes
    /// its place, in one transaction, once proven.
    #[arg(long)]
    pub swap: bool,
    /// Replay the newest globals set first (roles, tablespaces), so owners and grants
    /// come back.
    #[arg(long)]
    pub globals: bool,
    /// Restore without owners and privileges (every object owned by the connecting user).
    #[arg(long)]
    pub no_owner: bool,
    #[command(flatten)]
    pub jobs: ops_core::cli::JobsArgs,
    /// Say which set, into which database, with which steps (restore.planned); change
    /// nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub pg_bin: ops_pg::cli::PgBinArgs,
}

impl ops_core::cli::ToolArgs for Args {
    fn human(&self) -> &ops_core::human::HumanArgs {
        &self.human
    }
}
