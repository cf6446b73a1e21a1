//! Command-line flags. Connection flags mirror pg_dump's; passwords never come from a flag.

use clap::Parser;
use ops_catalog::catalog::{Compression, DumpFormat};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// One archive file, one pg_dump stream (the default).
    Custom,
    /// SQL text.
    Plain,
    /// `pg_dump -Fd -j N`: a file per table, dumped `--jobs` tables at a time.
    Directory,
    /// The directory format for a database of at least `--directory-from` with `--jobs`
    /// of 2 or more, else custom.
    Auto,
}

impl FormatArg {
    /// The format one database is dumped in, from its size on the server (pure).
    pub fn for_database(self, size: Option<u64>, jobs: u16, directory_from: u64) -> DumpFormat {
        match self {
            FormatArg::Custom => DumpFormat::Custom,
            FormatArg::Plain => DumpFormat::Plain,
            FormatArg::Directory => DumpFormat::Directory,
            FormatArg::Auto if jobs >= 2 && size.is_some_and(|s| s >= directory_from) => {
                DumpFormat::Directory
            }
            FormatArg::Auto => DumpFormat::Custom,
        }
    }
}

/// A size: `1GiB`, `500 MB`, `2000000` (bytes).
fn size(s: &str) -> Result<u64, String> {
    s.parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|e| format!("invalid size {s:?}: {e}"))
}

/// Shown after the flags in `--help`.
const EXAMPLES: &str = "Examples:
  pgdump-run --all --backup-dir /var/backups/pgops            every database, and the globals
  pgdump-run -d shop -d billing --jobs 2 --compress zstd:6
  pgdump-run -d big --format directory --jobs 4                 one database, 4 tables at a time
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
    #[arg(long, value_enum, default_value = "custom", env = "PGOPS_FORMAT")]
    pub format: FormatArg,
    /// With `--format auto`: the size on the server from which a database is dumped in the
    /// directory format.
    #[arg(
        long,
        value_name = "SIZE",
        default_value = "1GiB",
        value_parser = size,
        env = "PGOPS_DIRECTORY_FROM"
    )]
    pub directory_from: u64,
    /// Compression of the stored file: zstd[:1-19], gzip[:1-9] or none.
    #[arg(long, default_value = "zstd:1")]
    pub compress: Compression,
    #[command(flatten)]
    pub jobs: ops_core::cli::JobsArgs,
    /// On a hot standby: pause WAL replay for the run (resumed after it), so that a long
    /// dump is never cancelled by a recovery conflict; or let it continue.
    #[arg(
        long,
        value_enum,
        default_value = "pause",
        env = "PGOPS_STANDBY_REPLAY"
    )]
    pub standby_replay: crate::standby::ReplayPolicy,
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
