//! backup-verify's events as typed structs, serialised once (the schemas in
//! `docs/schemas/events/verify.*.json` are their contract).

use crate::freshness;
use crate::judge::Judged;
use ops_catalog::catalog::{CheckResult, CheckStatus, Verdict};
use ops_core::event::{Event, Severity};
use ops_core::event_names as names;
use ops_core::timefmt;
use serde::Serialize;

/// `verify.passed` or `verify.failed`: one set's verdict and what it was judged on.
#[derive(Debug, Serialize)]
pub struct SetVerdict {
    pub database: String,
    pub id: String,
    /// Where the set lies, for people (a path, or `s3://…`).
    pub path: String,
    pub verdict: Verdict,
    pub checks: Vec<CheckResult>,
    /// The failed checks' names (`verify.failed` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<Vec<String>>,
    pub bytes: Option<u64>,
    pub raw_bytes: Option<u64>,
    pub tables: Option<usize>,
    pub rows: Option<u64>,
    pub large_objects: Option<u64>,
    pub age_s: Option<i64>,
    /// Its verdict was written where the storage keeps verdicts (`verify.json`).
    pub recorded: bool,
    pub duration_ms: u64,
    pub depth: &'static str,
    /// The bytes the storage holds when they are not the files' (a sealed set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored_bytes: Option<u64>,
    /// The signed proof of this verification kept beside the set (a bucket).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proof: Option<String>,
    /// Why no proof could be kept there (its code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proof_error: Option<&'static str>,
}

impl SetVerdict {
    /// The verdict of set `id` of `database` at `path`, from what judging it found.
    pub fn of(database: &str, id: &str, path: String, judged: &Judged) -> SetVerdict {
        let verdict = judged.verdict;
        let manifest = judged
            .evidence
            .as_ref()
            .and_then(|e| e.manifest.as_ref().ok());
        let summary = judged
            .evidence
            .as_ref()
            .and_then(|e| e.structure.as_ref())
            .and_then(|s| s.as_ref().ok());
        SetVerdict {
            database: database.to_string(),
            id: id.to_string(),
            path,
            verdict,
            failed: (verdict != Verdict::Pass).then(|| {
                judged
                    .checks
                    .iter()
                    .filter(|c| c.status == CheckStatus::Fail)
                    .map(|c| c.name.clone())
                    .collect()
            }),
            checks: judged.checks.clone(),
            bytes: manifest.map(|m| m.files.iter().map(|f| f.bytes).sum()),
            raw_bytes: manifest.map(|m| m.files.iter().map(|f| f.raw_bytes).sum()),
            tables: summary.map(|s| s.tables.len()),
            rows: summary.map(|s| s.total_rows()),
            large_objects: summary.map(|s| s.large_objects),
            age_s: timefmt::parse_set_id(id)
                .map(|s| timefmt::seconds_between(s, jiff::Timestamp::now()).max(0)),
            recorded: false,
            duration_ms: 0,
            depth: judged.depth.name(),
            stored_bytes: judged.stored_bytes,
            proof: None,
            proof_error: None,
        }
    }
}

impl Event for SetVerdict {
    fn name(&self) -> &'static str {
        match self.verdict {
            Verdict::Pass => names::VERIFY_PASSED,
            _ => names::VERIFY_FAILED,
        }
    }
    fn severity(&self) -> Severity {
        match self.verdict {
            Verdict::Pass => Severity::Info,
            _ => Severity::Error,
        }
    }
}

/// `verify.finding`: something worth knowing that is not a set's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    #[serde(skip)]
    pub severity: Severity,
    /// `stale_partial`, `unknown_entry`, `clock_skew`, `unreadable`, `retired`,
    /// `set_incomplete`, `stray_objects`.
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub path: String,
    pub message: String,
}

impl Event for Finding {
    fn name(&self) -> &'static str {
        names::VERIFY_FINDING
    }
    fn severity(&self) -> Severity {
        self.severity
    }
}

/// `verify.stale`: a database without a fresh passing set.
#[derive(Debug, Serialize)]
pub struct StaleDatabase<'a> {
    pub database: &'a str,
    pub newest_passing: Option<&'a str>,
    pub age_s: Option<u64>,
    pub max_age_s: u64,
    pub reason: &'a str,
}

impl StaleDatabase<'_> {
    pub fn of(s: &freshness::Stale, max_age: std::time::Duration) -> StaleDatabase<'_> {
        StaleDatabase {
            database: &s.database,
            newest_passing: s.newest_passing.as_deref(),
            age_s: s.age.map(|a| a.as_secs()),
            max_age_s: max_age.as_secs(),
            reason: &s.reason,
        }
    }
}

ops_core::event!(StaleDatabase<'_>, names::VERIFY_STALE, Severity::Error);

/// The run's tally, in `run.finished`.
#[derive(Debug, Serialize)]
pub struct Tally {
    pub sets_checked: usize,
    pub sets_passed: usize,
    pub databases_stale: usize,
    /// Tables and rows the sets that passed hold, counted in their archives: what the run
    /// proved, in the run history (`ops-notify unit` says it).
    pub tables_counted: usize,
    pub rows_counted: u64,
    /// How deep this run could look (a sealed catalog's presence or ciphertext without
    /// its identity; full on a local catalog).
    pub depth: &'static str,
}
