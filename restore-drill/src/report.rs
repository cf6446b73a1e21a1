//! restore-drill's report as a typed struct, serialised once: the `drill.completed` /
//! `drill.failed` event and, with `v` and the correlation id, the line of the drill
//! history that ops-status reads (`docs/schemas/events/drill.*.json`,
//! `docs/schemas/files/drill-history.json`).

use ops_catalog::catalog::{CheckResult, CheckStatus};
use ops_core::event::{Event, Severity};
use ops_core::event_names as names;
use ops_restore::proof;
use serde::Serialize;
use std::collections::BTreeMap;

/// Where the drill restored: a scratch database on the server, or an ephemeral server.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub kind: &'static str,
    pub database: String,
    /// `--keep`: the scratch database was left for inspection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept: Option<bool>,
}

/// `--compare-live`: what the backup lacks against the live database now.
#[derive(Debug, Clone, Serialize)]
pub struct Live {
    pub missing_rows: u64,
    /// Tables whose values changed since the backup (by content digest), whatever their
    /// count did; `None` for a set without digests.
    pub changed_tables: Option<usize>,
    /// Only the tables with missing rows or changed values.
    pub tables: Vec<proof::LiveDiff>,
}

impl Live {
    pub fn of(diffs: Vec<proof::LiveDiff>) -> Live {
        let compared = diffs.iter().any(|d| d.changed.is_some());
        Live {
            missing_rows: diffs.iter().map(|d| d.missing_rows).sum(),
            changed_tables: compared
                .then(|| diffs.iter().filter(|d| d.changed == Some(true)).count()),
            tables: diffs
                .into_iter()
                .filter(|d| d.missing_rows > 0 || d.changed == Some(true))
                .collect(),
        }
    }
}

/// What one drill proved, and how long each phase took.
#[derive(Debug, Clone, Serialize)]
pub struct DrillReport {
    pub started_at: String,
    pub finished_at: String,
    pub database: String,
    pub id: String,
    /// Where the set lies (a bucket's place for a sealed set).
    pub path: String,
    /// `completed` or `failed`.
    pub result: &'static str,
    /// The names of the checks that failed.
    pub failed: Vec<String>,
    /// `null` when the set's checksum failed and nothing was restored.
    pub target: Option<Target>,
    pub rto_ms: u64,
    pub rto_target_ms: u64,
    pub rpo_s: i64,
    /// The same unit as rto_ms, so `rto_ms` and `rpo_ms` compare in jq (rpo_s stays for
    /// the history's readers).
    pub rpo_ms: i64,
    /// `<phase>_ms`: download, checksum, prepare, restore, checks, cleanup.
    pub phases: BTreeMap<String, u64>,
    pub checks: Vec<CheckResult>,
    pub mismatches: Vec<proof::TableCount>,
    /// The set's size as dumped (raw bytes of its files): what the RTO forecast fits the
    /// restore time against.
    pub bytes: u64,
    pub tables: usize,
    pub rows: u64,
    pub compare_live: Option<Live>,
    /// A sealed set: the ciphertext downloaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub downloaded_bytes: Option<u64>,
    /// A sealed set: the drill's signed proof kept beside it in the bucket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proof: Option<String>,
    /// Why no proof could be kept there (its code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proof_error: Option<&'static str>,
}

impl DrillReport {
    /// What the drill proved, for the bucket to keep beside the set.
    pub fn proof(&self) -> ops_catalog::sets::Proof {
        use ops_catalog::sets::{Proof, ProofKind};
        let verdict = if self.failed() {
            ops_catalog::catalog::Verdict::Fail
        } else {
            ops_catalog::catalog::Verdict::Pass
        };
        let mut p = Proof::new(ProofKind::Drill, verdict).with_checks(&self.checks);
        p.tables = Some(self.tables as u64);
        p.rows = Some(self.rows);
        p.rto_seconds = Some(self.rto_ms as f64 / 1000.0);
        p.rpo_seconds = Some(self.rpo_s as f64);
        p
    }
}

impl DrillReport {
    pub fn failed(&self) -> bool {
        self.checks.iter().any(|c| c.status == CheckStatus::Fail)
    }
}

impl Event for DrillReport {
    fn name(&self) -> &'static str {
        if self.failed() {
            names::DRILL_FAILED
        } else {
            names::DRILL_COMPLETED
        }
    }
    fn severity(&self) -> Severity {
        if self.failed() {
            Severity::Error
        } else {
            Severity::Info
        }
    }
}

/// A line of the drill history: the report, versioned, with the run's correlation id.
#[derive(Debug, Serialize)]
pub struct HistoryLine<'a> {
    pub v: u32,
    #[serde(flatten)]
    pub report: &'a DrillReport,
    pub correlation_id: &'a str,
}

/// The summary in `run.finished`: which set, how long it took, how old it was.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub set: String,
    pub rto: String,
    pub rpo: Option<String>,
}

impl Summary {
    pub fn of(r: &DrillReport) -> Summary {
        Summary {
            set: r.id.clone(),
            rto: format!("{:.1} s", r.rto_ms as f64 / 1000.0),
            rpo: u64::try_from(r.rpo_ms)
                .ok()
                .map(|ms| ops_core::timefmt::human_age(ms / 1000)),
        }
    }
}

/// `drill.planned` (`--dry-run`): what would be restored, where, against which target.
#[derive(Debug, Serialize)]
pub struct Planned<'a> {
    pub database: &'a str,
    pub id: &'a str,
    pub path: String,
    pub bytes: u64,
    pub tables: usize,
    pub rows: u64,
    pub target: Target,
    pub with_owners: bool,
    pub jobs: u16,
    pub rto_target_ms: u64,
}

ops_core::event!(Planned<'_>, names::DRILL_PLANNED, Severity::Info);

/// `--all`: a database this run does not drill, and why.
#[derive(Debug, Serialize)]
pub struct Skipped {
    pub database: String,
    /// `not_due`, `waiting` (due, beyond `--max`) or `error` (it could not be drilled).
    pub reason: &'static str,
    /// Its last passing drill (not due).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_passed: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<SkippedError>,
}

/// Why a database could not be drilled: the error's code and words.
#[derive(Debug, Serialize)]
pub struct SkippedError {
    pub code: &'static str,
    pub message: String,
}

impl Skipped {
    pub fn not_due(db: &str, at: jiff::Timestamp) -> Skipped {
        Skipped {
            database: db.to_string(),
            reason: "not_due",
            last_passed: Some(ops_core::timefmt::rfc3339(at)),
            error: None,
        }
    }

    pub fn waiting(db: &str) -> Skipped {
        Skipped {
            database: db.to_string(),
            reason: "waiting",
            last_passed: None,
            error: None,
        }
    }

    pub fn error(db: &str, e: &ops_core::OpsError) -> Skipped {
        Skipped {
            database: db.to_string(),
            reason: "error",
            last_passed: None,
            error: Some(SkippedError {
                code: e.code,
                message: e.message.clone(),
            }),
        }
    }
}

impl Event for Skipped {
    fn name(&self) -> &'static str {
        names::DRILL_SKIPPED
    }
    fn severity(&self) -> Severity {
        if self.error.is_some() {
            Severity::Error
        } else {
            Severity::Info
        }
    }
}
