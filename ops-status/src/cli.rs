//! ops-status' command line.

use std::path::PathBuf;

/// Shown after the flags in `--help`, and as the man page's EXAMPLES.
const EXAMPLES: &str = r#"Examples:
  ops-status --backup-dir /var/backups/pgops | jq -r '"\(.database) \(.newest_good.age_s)"'
  ops-status health --backup-dir /var/backups/pgops; echo $?      (0 healthy, 1, 2)
  ops-status -d shop sets --backup-dir /var/backups/pgops        (which set to restore)
  ops-status metrics --output /var/lib/node_exporter/textfile/pgops.prom
  ops-status proofs s3://backups --public-key minisign.pub       (every host's proofs in a bucket)"#;

/// What pgops knows: per database the sets, their verification, the off-site copies and
/// the last drill, as JSON lines (`status.database`), a health verdict, or Prometheus
/// metrics. Reads only; never writes to a catalog.
#[derive(Debug, clap::Parser)]
#[command(name = "ops-status", version = ops_core::cli::VERSION, verbatim_doc_comment, after_help = EXAMPLES)]
pub struct Args {
    #[command(flatten)]
    pub human: ops_core::human::HumanArgs,
    #[command(subcommand)]
    pub view: Option<View>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    #[command(flatten)]
    pub sources: ops_health::cli::SourceArgs,
    /// JSON lines even on a terminal (they are the default when stdout is not one).
    #[arg(long, global = true, conflicts_with = "table")]
    pub json: bool,
    /// The table even when stdout is not a terminal (e.g. into a pager or a report).
    #[arg(long, global = true)]
    pub table: bool,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum View {
    /// One JSON document: the overall health and each component's state with its reasons.
    /// Exit 0 healthy, 1 degraded, 2 cannot tell.
    Health(ops_health::cli::PolicyArgs),
    /// Every set, newest first: id (for --backup-id), age, size, verified, off-site,
    /// drilled. A table on a terminal, `status.set` JSON lines otherwise.
    Sets,
    /// The signed proofs kept in buckets beside the sets (each remote verification, drill
    /// and restore): per host prefix and database, the newest of each kind, or every one
    /// with --all. A tampered, unsigned or misplaced proof is refused by name (exit 1).
    Proofs(ProofsArgs),
    /// An HTTP server: /health, /readiness, /backups/status, /restore/status, /metrics.
    Serve(ServeArgs),
    /// Record that a systemd unit failed (the units' OnFailure=pgops-failure@%n): one line
    /// in the state directory's unit-failures.jsonl, with systemd's MONITOR_* result.
    RecordFailure {
        /// The unit that failed, e.g. pgops-backup.service.
        #[arg(value_name = "UNIT")]
        unit: String,
    },
    /// The Prometheus text format, for node_exporter's textfile collector.
    Metrics {
        /// Write the metrics to this file, atomically (events then go to stdout).
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// The targets (RTO, RPO) are exported for the alerts to compare with.
        #[command(flatten)]
        policy: ops_health::cli::PolicyArgs,
    },
}

/// `serve`'s flags. The rate limit and the token can also come from `--config`, which is
/// re-read (with the token file) on SIGHUP.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// ADDRESS:PORT to listen on, e.g. 127.0.0.1:9187 or a WireGuard address. A public
    /// address (or 0.0.0.0, ::) is refused unless --allow-public.
    #[arg(long, env = "PGOPS_STATUS_LISTEN", value_name = "ADDR")]
    pub listen: String,
    /// Listen on an address reachable from the internet anyway.
    #[arg(long)]
    pub allow_public: bool,
    /// A file holding the bearer token every endpoint but /health requires.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Requests per second allowed per client address (429 and Retry-After beyond).
    #[arg(long, default_value = "50", value_name = "N")]
    pub rate: std::num::NonZeroU32,
    /// Requests a client may make at once above --rate.
    #[arg(long, default_value = "100", value_name = "N")]
    pub burst: std::num::NonZeroU32,
    /// `key = value` lines (rate, burst, token_file) over the flags; re-read on SIGHUP.
    #[arg(long, env = "PGOPS_STATUS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Re-read the catalog at least this often (changes are also seen as they happen).
    #[arg(long, value_parser = ops_core::duration::parse, default_value = "60s", value_name = "DURATION")]
    pub refresh: std::time::Duration,
    /// Leave PostgreSQL out of /readiness (it asks the server PGHOST and PGPORT name
    /// whether it answers, as pg_isready does, at every refresh).
    #[arg(long)]
    pub no_postgres_check: bool,
    #[command(flatten)]
    pub policy: ops_health::cli::PolicyArgs,
}

impl ops_core::cli::ToolArgs for Args {
    fn human(&self) -> &ops_core::human::HumanArgs {
        &self.human
    }
}

/// `proofs`' flags.
#[derive(Debug, Clone, clap::Args)]
pub struct ProofsArgs {
    /// Sealed catalogs: s3://BUCKET/PREFIX, or s3://BUCKET for every host prefix in the
    /// bucket (each holding a pgops-catalog.json): one view of a small fleet.
    #[arg(value_name = "LOCATION", required = true)]
    pub locations: Vec<String>,
    /// Every proof, not only the newest of each kind per database.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub trust: ops_catalog::cli::TrustArgs,
}
