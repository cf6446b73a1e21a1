//! ops-status' command line.

use std::path::PathBuf;

/// What pgops knows: per database the sets, their verification, the off-site copies and
/// the last drill, as JSON lines (`status.database`), a health verdict, or Prometheus
/// metrics. Reads only; never writes to a catalog.
///
/// Examples:
///   ops-status --backup-dir /var/backups/pgops | jq -r '"\(.database) \(.newest_good.age_s)"'
///   ops-status health --backup-dir /var/backups/pgops; echo $?      (0 healthy, 1, 2)
///   ops-status metrics --output /var/lib/node_exporter/textfile/pgops.prom
#[derive(Debug, clap::Parser)]
#[command(name = "ops-status", version, verbatim_doc_comment)]
pub struct Args {
    #[command(subcommand)]
    pub view: Option<View>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// The catalog directory (PGOPS_BACKUP_DIR).
    #[arg(long, env = "PGOPS_BACKUP_DIR", value_name = "DIR", global = true)]
    pub backup_dir: Option<PathBuf>,
    #[command(flatten)]
    pub select: ops_catalog::cli::SelectArgs,
    /// JSON lines even on a terminal (they are the default when stdout is not one).
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum View {
    /// One JSON document: the overall health and each component's state with its reasons.
    /// Exit 0 healthy, 1 degraded, 2 cannot tell.
    Health {
        /// The newest good set of every database is at most this old.
        #[arg(long, value_parser = ops_core::duration::parse, default_value = "26h", value_name = "DURATION")]
        max_backup_age: std::time::Duration,
        /// Every database has an off-site copy confirmed at most this long ago.
        #[arg(long, value_parser = ops_core::duration::parse, default_value = "50h", value_name = "DURATION")]
        max_offsite_age: std::time::Duration,
        /// No off-site copy is expected.
        #[arg(long)]
        no_offsite: bool,
        /// The last drill is at most this old.
        #[arg(long, value_parser = ops_core::duration::parse, default_value = "35d", value_name = "DURATION")]
        max_drill_age: std::time::Duration,
        /// The last drill's RTO target.
        #[arg(long, value_parser = ops_core::duration::parse, default_value = "60m", value_name = "DURATION")]
        rto_target: std::time::Duration,
    },
    /// The Prometheus text format, for node_exporter's textfile collector.
    Metrics {
        /// Write the metrics to this file, atomically (events then go to stdout).
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}
