//! backup-restore's events as typed structs, serialised once (the schemas in
//! `docs/schemas/events/restore.*.json` are their contract).

use crate::plan::Step;
use ops_core::event::{Event, Severity};
use ops_core::event_names as names;
use ops_restore::proof;
use serde::Serialize;

/// One step of the plan, as people and scripts read it.
#[derive(Debug, Serialize)]
pub struct StepText<'a> {
    pub step: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<&'a str>,
}

impl<'a> StepText<'a> {
    pub fn of(s: &'a Step) -> StepText<'a> {
        let on = |step, d: &'a String| StepText {
            step,
            database: Some(d),
            from: None,
            to: None,
        };
        match s {
            Step::Globals => StepText {
                step: "globals",
                database: None,
                from: None,
                to: None,
            },
            Step::Drop(d) => on("drop", d),
            Step::Create(d) => on("create", d),
            Step::Restore(d) => on("restore", d),
            Step::Properties(d) => on("properties", d),
            Step::Rename { from, to } => StepText {
                step: "rename",
                database: None,
                from: Some(from),
                to: Some(to),
            },
        }
    }
}

/// Why the plan was refused (a dry run shows it instead of failing).
#[derive(Debug, Serialize)]
pub struct Refused {
    pub code: &'static str,
    pub message: String,
}

/// What is restored where, and how: `restore.planned` on its own, the head of
/// `restore.completed` / `restore.failed`.
#[derive(Debug, Serialize)]
pub struct Described<'a> {
    pub database: &'a str,
    pub id: &'a str,
    pub path: String,
    pub target: &'a str,
    pub kept_as: Option<&'a str>,
    pub steps: Vec<StepText<'a>>,
    /// Sessions `--clean` or `--swap` will end, said before they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions_to_end: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<Refused>,
}

impl Event for Described<'_> {
    fn name(&self) -> &'static str {
        names::RESTORE_PLANNED
    }
    fn severity(&self) -> Severity {
        if self.refused.is_some() {
            Severity::Warning
        } else {
            Severity::Info
        }
    }
}

/// `restore.completed`, or `restore.failed` when the recount did not match the manifest.
#[derive(Debug, Serialize)]
pub struct Restored<'a> {
    #[serde(flatten)]
    pub described: Described<'a>,
    pub rto_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub downloaded_bytes: Option<u64>,
    /// Roles the globals created; those that existed were left as they are (said, so
    /// nobody expects them reset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles_created: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles_unchanged: Option<&'a [String]>,
    pub sessions_ended: u64,
    pub tables: usize,
    pub rows: u64,
    pub mismatches: Vec<&'a proof::TableCount>,
    /// Every table's values were compared with the backup's (its digests), not only its
    /// count: false for a set taken before digests were recorded.
    pub digested: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<&'static str>,
    /// A sealed set: the restore's signed proof kept beside it in the bucket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proof: Option<String>,
    /// Why no proof could be kept there (its code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proof_error: Option<&'static str>,
}

impl Restored<'_> {
    /// What the restore proved, for the bucket to keep beside the set: the target, the
    /// recount, the time it took and the data the set would lose.
    pub fn proof(&self, target: &str, rpo_seconds: f64) -> ops_catalog::sets::Proof {
        use ops_catalog::sets::{Proof, ProofFailure, ProofKind};
        let verdict = if self.mismatches.is_empty() {
            ops_catalog::catalog::Verdict::Pass
        } else {
            ops_catalog::catalog::Verdict::Fail
        };
        let mut p = Proof::new(ProofKind::Restore, verdict);
        p.checks = vec!["row_counts".into()];
        if self.digested {
            p.checks.push("content_digests".into());
        }
        p.failed = self.mismatches.first().map(|m| ProofFailure {
            code: if m.actual == Some(m.expected) {
                "content_mismatch".into()
            } else {
                "row_count_mismatch".into()
            },
            reason: format!(
                "{} ({} table(s) differ)",
                m.mismatch(),
                self.mismatches.len()
            ),
        });
        if p.failed.is_some() {
            p.checks.clear();
        }
        p.tables = Some(self.tables as u64);
        p.rows = Some(self.rows);
        p.rto_seconds = Some(self.rto_ms as f64 / 1000.0);
        p.rpo_seconds = Some(rpo_seconds);
        p.target = Some(target.to_string());
        p
    }
}

impl Event for Restored<'_> {
    fn name(&self) -> &'static str {
        if self.mismatches.is_empty() {
            names::RESTORE_COMPLETED
        } else {
            names::RESTORE_FAILED
        }
    }
    fn severity(&self) -> Severity {
        if self.mismatches.is_empty() {
            Severity::Info
        } else {
            Severity::Error
        }
    }
}

/// The summary in `run.finished` of a restore that completed: the set restored and where
/// the old database went.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub set: String,
    pub into: String,
    pub old_database_kept_as: Option<String>,
    pub sessions_ended: u64,
}
