//! Command-line flags.

use clap::Parser;
use std::time::Duration;

fn duration(s: &str) -> Result<(Duration, String), String> {
    ops_core::duration::parse(s).map(|d| (d, s.to_string()))
}

/// Shown after the flags in `--help`.
const EXAMPLES: &str = "Examples:
  backup-rotate --keep-daily 7 --keep-weekly 5 --keep-monthly 12 --min-keep 3 --dry-run
  backup-rotate --keep-within 30d --backup-dir s3://bucket/pgops
  backup-rotate --pin 20261124T030000Z -d shop                keep this set whatever the rules
  backup-rotate --retire legacy --reason \"dropped in CHG-42\"   stop judging a dropped database's freshness";

/// Apply retention to pgops backup sets, restic-style, without ever losing the last good one.
///
/// Rules are ORed (restic's `forget` semantics). Sets whose verify.json says they failed
/// fill no period; the newest --min-keep sets that did not fail, and pinned sets, are always
/// kept; nothing that is not a complete set is touched. JSON lines on stdout: rotate.kept,
/// rotate.deleted, rotate.skipped, rotate.pinned, rotate.unpinned, rotate.retired,
/// rotate.unretired, run.finished. Exit 0 done,
/// 1 a deletion failed, 2 invalid invocation (including no keep rule), 3 could not run.
#[derive(Debug, Clone, Parser)]
#[command(name = "backup-rotate", version = ops_core::cli::VERSION, after_help = EXAMPLES)]
pub struct Args {
    #[command(flatten)]
    pub human: ops_core::human::HumanArgs,
    #[command(flatten)]
    pub catalog: ops_catalog::cli::CatalogArgs,
    #[command(flatten)]
    pub trust: ops_catalog::cli::TrustArgs,
    #[command(flatten)]
    pub select: ops_catalog::cli::SelectArgs,
    /// Keep the N newest sets.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub keep_last: u32,
    /// Keep the newest set of each of the last N hours that have sets.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub keep_hourly: u32,
    /// Keep the newest set of each of the last N days that have sets (in --timezone).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub keep_daily: u32,
    /// Keep the newest set of each of the last N ISO weeks that have sets.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub keep_weekly: u32,
    /// Keep the newest set of each of the last N months that have sets.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub keep_monthly: u32,
    /// Keep the newest set of each of the last N years that have sets.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub keep_yearly: u32,
    /// Keep sets newer than the newest set minus this (e.g. 14d).
    #[arg(long, value_parser = duration, value_name = "DURATION")]
    pub keep_within: Option<(Duration, String)>,
    /// Always keep this many of the newest sets that did not fail verification.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub min_keep: u32,
    /// Calendar periods in: local, UTC, ±HH:MM or an IANA name (Europe/Paris).
    #[arg(long, default_value = "local", value_parser = crate::policy::timezone_arg)]
    pub timezone: jiff::tz::TimeZone,
    /// Print the plan; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Pin a set (write a KEEP file): it is never deleted. Repeatable.
    #[arg(long, value_name = "ID")]
    pub pin: Vec<String>,
    /// Remove a pin. Repeatable.
    #[arg(long, value_name = "ID")]
    pub unpin: Vec<String>,
    /// Retire a database whose backups stopped on purpose (dropped, moved away): its sets
    /// stay and retention still applies, but freshness (backup-verify --max-age,
    /// ops-status health, the stale alerts) stops judging it, until a newer set of it
    /// appears. Repeatable.
    #[arg(long, value_name = "DATABASE", value_parser = ops_core::cli::database_name,
          conflicts_with_all = ["pin", "unpin"])]
    pub retire: Vec<String>,
    /// Undo --retire: the database's freshness is judged again. Repeatable.
    #[arg(long, value_name = "DATABASE", value_parser = ops_core::cli::database_name,
          conflicts_with_all = ["pin", "unpin"])]
    pub unretire: Vec<String>,
    /// Why the database is retired, recorded with --retire (ops-status shows it).
    #[arg(long, value_name = "TEXT", requires = "retire")]
    pub reason: Option<String>,
}

impl Args {
    /// What the run does: `rotate`, `pin` or `retire` (run.finished's action).
    pub fn action(&self) -> &'static str {
        if !self.retire.is_empty() || !self.unretire.is_empty() {
            "retire"
        } else if !self.pin.is_empty() || !self.unpin.is_empty() {
            "pin"
        } else {
            "rotate"
        }
    }
}

impl ops_core::cli::ToolArgs for Args {
    fn human(&self) -> &ops_core::human::HumanArgs {
        &self.human
    }
}
