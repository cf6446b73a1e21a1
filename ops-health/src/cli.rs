//! The flags every reader of the health verdict shares (ops-status, ops-notify): where
//! the facts are, and the thresholds they are judged by.

use std::path::PathBuf;

/// Where the facts are: the catalog, the databases chosen, the state directory.
#[derive(Debug, Clone, clap::Args)]
pub struct SourceArgs {
    #[command(flatten)]
    pub at: ops_catalog::cli::BackupDirArgs,
    #[command(flatten)]
    pub select: ops_catalog::cli::SelectArgs,
    /// The state directory: the tools' run history and the last port audit
    /// (PGOPS_STATE_DIR; unset: neither is shown).
    #[arg(long, env = "PGOPS_STATE_DIR", value_name = "DIR", global = true)]
    pub state_dir: Option<PathBuf>,
}

/// The thresholds `health` (and `serve`'s `/readiness`) judge by.
#[derive(Debug, Clone, clap::Args)]
pub struct PolicyArgs {
    /// The newest good set of every database is at most this old.
    #[arg(long, value_parser = ops_core::duration::parse, default_value = "26h", value_name = "DURATION")]
    pub max_backup_age: std::time::Duration,
    /// Every database has an off-site copy confirmed at most this long ago.
    #[arg(long, value_parser = ops_core::duration::parse, default_value = "50h", value_name = "DURATION")]
    pub max_offsite_age: std::time::Duration,
    /// No off-site copy is expected.
    #[arg(long)]
    pub no_offsite: bool,
    /// An off-site destination every database is expected at, judged on its own
    /// (repeatable; PGOPS_REMOTE: the destinations backup-copy's unit copies to, separated
    /// by spaces). Unset: every destination the sets record is judged.
    #[arg(
        long = "offsite",
        env = "PGOPS_REMOTE",
        value_delimiter = ' ',
        value_name = "LOCATION"
    )]
    pub offsite: Vec<String>,
    /// Every database passed a drill at most this long ago (PGOPS_DRILL_WINDOW: the window
    /// `restore-drill --all --due` drills by too).
    #[arg(long, env = "PGOPS_DRILL_WINDOW", value_parser = ops_core::duration::parse, default_value = "35d", value_name = "DURATION")]
    pub max_drill_age: std::time::Duration,
    /// How far ahead the RTO forecast looks (PGOPS_RTO_HORIZON): a database whose restore
    /// time, fitted on its drills and its growth, will cross the RTO target within it is
    /// flagged now. 0 turns the forecast off.
    #[arg(long, env = "PGOPS_RTO_HORIZON", value_parser = ops_core::duration::parse, default_value = "90d", value_name = "DURATION")]
    pub rto_horizon: std::time::Duration,
    /// The last drill's RTO target (PGOPS_RTO_TARGET: the one setting restore-drill,
    /// health, the metrics and their alerts all read).
    #[arg(long, env = "PGOPS_RTO_TARGET", value_parser = ops_core::duration::parse, default_value = "60m", value_name = "DURATION")]
    pub rto_target: std::time::Duration,
    /// The last port audit (in the state directory) is at most this old.
    #[arg(long, value_parser = ops_core::duration::parse, default_value = "3h", value_name = "DURATION")]
    pub max_audit_age: std::time::Duration,
    /// No port audit is expected (e.g. it runs on another host).
    #[arg(long)]
    pub no_audit: bool,
    /// The recovery point objective (PGOPS_RPO_TARGET): the data lost if the host were
    /// lost now (the age of the newest set off-site; of the newest good set with
    /// --no-offsite) is at most this.
    /// A daily dump copied off-site within two hours stays under 26 h.
    #[arg(long, env = "PGOPS_RPO_TARGET", value_parser = ops_core::duration::parse, default_value = "30h", value_name = "DURATION")]
    pub rpo_target: std::time::Duration,
}

fn signed(d: std::time::Duration) -> jiff::SignedDuration {
    jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::MAX)
}

impl PolicyArgs {
    /// The policy these flags describe.
    pub fn policy(&self) -> crate::health::Policy {
        crate::health::Policy {
            max_backup_age: signed(self.max_backup_age),
            max_offsite_age: (!self.no_offsite).then(|| signed(self.max_offsite_age)),
            max_drill_age: signed(self.max_drill_age),
            rto_target_ms: self.rto_target.as_millis() as u64,
            rto_horizon: (!self.rto_horizon.is_zero()).then(|| signed(self.rto_horizon)),
            max_audit_age: (!self.no_audit).then(|| signed(self.max_audit_age)),
            rpo_target: Some(signed(self.rpo_target)),
            // Spelled as backup-copy records them.
            destinations: self
                .offsite
                .iter()
                .filter(|d| !d.trim().is_empty())
                .map(|d| ops_catalog::catalog::destination_name(d))
                .collect(),
        }
    }
}
