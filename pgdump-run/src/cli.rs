//! Command-line flags. Connection flags mirror pg_dump's; passwords never come from a flag.

use clap::Parser;
use ops_catalog::catalog::{Compression, DumpFormat};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    Custom,
    Plain,
}

impl From<FormatArg> for DumpFormat {
    fn from(f: FormatArg) -> DumpFormat {
        match f {
            FormatArg::Custom => DumpFormat::Custom,
            FormatArg::Plain => DumpFormat::Plain,
        }
    }
}

/// Shown after the flags in `--help`.
const EXAMPLES: &str = "Examples:
  pgdump-run --all --backup-dir /var/backups/pgops            every database, and the globals
  pgdump-run -d shop -d billing --jobs 2 --compress zstd:6
  pgdump-run -h pg.internal -p 5432 -U backup -d shop --timeout 2h
  pgdump-run --all | backup-verify -                          verify exactly what was taken
  pgdump-run --all --exclude-database 'test_*' --dry-run      what would be backed up";

/// Take PostgreSQL logical backups into a catalog of provably complete backup sets.
///
/// Writes JSON lines on stdout (backup.started, backup.completed, backup.failed,
/// run.finished). Exit codes: 0 all backups complete, 1 a backup failed, 2 invalid
/// invocation, 3 could not run (server unreachable, lock busy, timeout, interrupted).
#[derive(Debug, Clone, Parser)]
#[command(name = "pgdump-run", version = ops_core::cli::VERSION, after_help = EXAMPLES, disable_help_flag = true)]
pub struct Args {
    #[command(flatten)]
    pub human: ops_core::human::HumanArgs,
    #[command(flatten)]
    pub help: ops_core::cli::LongHelp,
    #[command(flatten)]
    pub conn: ops_pg::cli::ConnArgs,
    /// Database to back up (repeatable). The first may be a conninfo string or a
    /// postgresql:// URI, which then also sets the connection.
    #[arg(short = 'd', long = "dbname", value_name = "DB", value_parser = ops_core::cli::database_name)]
    pub dbnames: Vec<String>,
    /// Back up every database that accepts connections, except templates.
    #[arg(long, conflicts_with = "dbnames")]
    pub all: bool,
    /// Skip databases matching this pattern (`*` and `?` wildcards; repeatable).
    #[arg(long = "exclude-database", value_name = "PATTERN")]
    pub exclude: Vec<String>,
    #[command(flatten)]
    pub catalog: ops_catalog::cli::CatalogArgs,
    #[command(flatten)]
    pub signing: ops_catalog::cli::SigningArgs,
    /// Archive format written by pg_dump.
    #[arg(long, value_enum, default_value = "custom")]
    pub format: FormatArg,
    /// Compression of the stored file: zstd[:1-19], gzip[:1-9] or none.
    #[arg(long, default_value = "zstd:1")]
    pub compress: Compression,
    #[command(flatten)]
    pub jobs: ops_core::cli::JobsArgs,
    /// Do not dump roles and tablespaces (pg_dumpall --globals-only).
    #[arg(long)]
    pub no_globals: bool,
    /// Connect and say what would be backed up (backup.planned, with each database's
    /// size); write nothing, not even the catalog directory.
    #[arg(long)]
    pub dry_run: bool,
    /// Limit for the whole run (e.g. 2h); running dumps are killed and removed.
    #[arg(long, value_parser = ops_core::duration::parse, value_name = "DURATION")]
    pub timeout: Option<Duration>,
    #[command(flatten)]
    pub pg_bin: ops_pg::cli::PgBinArgs,
}

impl ops_core::cli::ToolArgs for Args {
    fn human(&self) -> &ops_core::human::HumanArgs {
        &self.human
    }
}
