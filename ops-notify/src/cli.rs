//! ops-notify's command line.

use crate::render::Phase;
use ops_health::cli::{PolicyArgs, SourceArgs};
use std::path::PathBuf;

/// Shown after the flags in `--help`, and as the man page's EXAMPLES.
const EXAMPLES: &str = r#"Examples:
  ops-notify test                                   (a test message to every target)
  ops-notify ping start                             (a heartbeat: the job started)
  ops-notify unit pgops-backup.service              (from OnSuccess=/OnFailure=: what it proved)
  ops-notify watch --digest daily@08:00             (every 5 min: tell what broke or recovered)
Targets, one URL per line (PGOPS_NOTIFY_TARGETS_FILE, default /etc/pgops/notify.urls):
  mailtos://alerts%40example.org:PASSWORD@smtp.example.org?to=ops@example.org
  failure,recovery=ntfys://ntfy.sh/pgops-prod?token_file=/etc/pgops/ntfy.token
  hcs://hc-ping.com/YOUR-UUID"#;

/// Tells people what pgops proved or what broke: mail (SMTP or the local sendmail), chat
/// (ntfy, Gotify, Slack, Mattermost, Rocket.Chat, Discord, Telegram, Teams), signed JSON
/// webhooks, and healthchecks-style heartbeats that alarm when the pings stop. A target
/// that fails never fails a job: the message waits in the outbox for the next run.
#[derive(Debug, clap::Parser)]
#[command(name = "ops-notify", version = ops_core::cli::VERSION, verbatim_doc_comment, after_help = EXAMPLES)]
pub struct Args {
    #[command(flatten)]
    pub human: ops_core::human::HumanArgs,
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub sources: SourceArgs,
    #[command(flatten)]
    pub delivery: DeliveryArgs,
}

/// Where the targets are and how hard to try them.
#[derive(Debug, Clone, clap::Args)]
pub struct DeliveryArgs {
    /// The targets file: one URL per line, private (not readable by every user). Unset:
    /// /etc/pgops/notify.urls, and when that does not exist nothing is configured and
    /// nothing is sent (a unit wired to ops-notify stays quiet until it is).
    #[arg(long = "targets", env = crate::target::TARGETS_ENV, value_name = "FILE", global = true)]
    pub targets: Option<PathBuf>,
    /// One attempt's limit.
    #[arg(long, value_parser = ops_core::duration::parse, default_value = "10s", value_name = "DURATION", global = true)]
    pub timeout: std::time::Duration,
    /// Attempts per target in this run (then the outbox tries again in later runs).
    #[arg(long, default_value = "3", value_name = "N", global = true)]
    pub attempts: std::num::NonZeroU32,
    /// The wait before the second attempt, doubled for each after it.
    #[arg(long, value_parser = ops_core::duration::parse, default_value = "2s", value_name = "DURATION", global = true)]
    pub backoff: std::time::Duration,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// After a systemd unit (OnSuccess=/OnFailure=): what its run proved, or why it failed,
    /// with the error code and the runbook; then its heartbeat's success or fail ping.
    Unit(UnitArgs),
    /// A heartbeat to every healthchecks/Uptime Kuma target: start, success or fail.
    Ping(PingArgs),
    /// Over the health verdict: tell what broke and what is kept again (deduplicated by
    /// state, repeated for what stays broken, bounded in a storm), and the digest.
    Watch(WatchArgs),
    /// The digest now: the verdict and what is proven, for every database.
    Digest(PolicyArgs),
    /// A test message to every target (heartbeat targets get none: `ping` tests them).
    Test,
    /// Try the outbox's held messages now (every run does so first anyway).
    Flush,
}

#[derive(Debug, Clone, clap::Args)]
pub struct UnitArgs {
    /// The unit, e.g. pgops-backup.service (OnSuccess=pgops-notify@%n passes it).
    #[arg(value_name = "UNIT")]
    pub unit: String,
    /// How it ended (default: systemd's MONITOR_SERVICE_RESULT, else the runs' results).
    #[arg(long, value_enum)]
    pub result: Option<UnitResult>,
    /// Its exit status (default: systemd's MONITOR_EXIT_STATUS).
    #[arg(long, value_name = "STATUS")]
    pub exit_status: Option<String>,
    /// The run's invocation id: its tools' run.finished lines in the run history carry
    /// it as their correlation id (default: systemd's MONITOR_INVOCATION_ID).
    #[arg(long, value_name = "ID")]
    pub invocation_id: Option<String>,
    /// Read the run's events from this file (`-`: stdin) instead of the run history.
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    #[command(flatten)]
    pub policy: PolicyArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UnitResult {
    Success,
    Failure,
}

#[derive(Debug, Clone, clap::Args)]
pub struct PingArgs {
    #[arg(value_enum)]
    pub phase: Phase,
    /// The job's exit code (healthchecks' /<code>; default: MONITOR_EXIT_STATUS).
    #[arg(long, value_name = "N")]
    pub exit_code: Option<i32>,
    /// A short text for the ping's body.
    #[arg(long, value_name = "TEXT")]
    pub message: Option<String>,
    /// The unit this ping is about: the heartbeat targets that follow it are pinged
    /// (`?unit=` on a target; none: pgops-backup.service).
    #[arg(long, value_name = "UNIT", default_value = crate::target::DEFAULT_HEARTBEAT_UNIT)]
    pub unit: String,
}

#[derive(Debug, Clone, clap::Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Tell again what stays broken after this long.
    #[arg(long, value_parser = ops_core::duration::parse, default_value = "24h", value_name = "DURATION")]
    pub repeat: std::time::Duration,
    /// At most one message about a component in this long; flips meanwhile are counted
    /// and told once after it.
    #[arg(long, value_parser = ops_core::duration::parse, default_value = "15m", value_name = "DURATION")]
    pub min_interval: std::time::Duration,
    /// At most this many messages per hour, whatever changes.
    #[arg(long, default_value = "6", value_name = "N")]
    pub max_per_hour: u32,
    /// A digest: daily@HH:MM or weekly@DAY-HH:MM, in the host's time zone.
    #[arg(long, value_parser = parse_schedule, value_name = "WHEN")]
    pub digest: Option<crate::watch::Schedule>,
}

fn parse_schedule(text: &str) -> Result<crate::watch::Schedule, String> {
    crate::watch::Schedule::parse(text)
}

impl ops_core::cli::ToolArgs for Args {
    fn human(&self) -> &ops_core::human::HumanArgs {
        &self.human
    }
}
