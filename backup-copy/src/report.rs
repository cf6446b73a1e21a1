//! backup-copy's events as typed structs, serialised once (the schemas in
//! `docs/schemas/events/copy.*.json` are their contract).

use ops_core::event::{Event, Severity};
use ops_core::event_names as names;
use ops_core::OpsError;
use serde::Serialize;

/// `copy.skipped`: a set this run did not copy, with its code and why.
#[derive(Debug, Serialize)]
pub struct Skipped<'a> {
    #[serde(skip)]
    pub severity: Severity,
    pub database: &'a str,
    pub id: &'a str,
    pub code: &'a str,
    pub reason: String,
    /// Another copy published the set first: what this run had sent meanwhile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_sent: Option<u64>,
}

impl Event for Skipped<'_> {
    fn name(&self) -> &'static str {
        names::COPY_SKIPPED
    }
    fn severity(&self) -> Severity {
        self.severity
    }
}

/// `copy.planned` (`--dry-run`) and `copy.completed`: one set, where it goes and how.
#[derive(Debug, Serialize)]
pub struct Copy<'a> {
    #[serde(skip)]
    pub done: bool,
    pub database: &'a str,
    pub id: &'a str,
    pub destination: &'a str,
    pub files: usize,
    pub bytes: u64,
    /// `plain`, `seal` or `unseal`.
    pub mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_sent: Option<u64>,
    /// Bytes an interrupted copy had sent already and this one did not send again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_resumed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// The store locks the set's objects until then (Object Lock, `--object-lock`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<String>,
}

impl Event for Copy<'_> {
    fn name(&self) -> &'static str {
        if self.done {
            names::COPY_COMPLETED
        } else {
            names::COPY_PLANNED
        }
    }
    fn severity(&self) -> Severity {
        Severity::Info
    }
}

/// `copy.failed` for one set (the run goes on with the others).
#[derive(Debug, Serialize)]
pub struct SetFailed<'a> {
    pub scope: &'static str,
    pub database: &'a str,
    pub id: &'a str,
    pub error: &'a OpsError,
}

ops_core::event!(SetFailed<'_>, names::COPY_FAILED, Severity::Error);

/// The run's tally, in `run.finished`.
#[derive(Debug, Serialize)]
pub struct Tally {
    pub sets_copied: usize,
    pub sets_skipped: usize,
    pub sets_failed: usize,
    pub bytes_sent: u64,
    /// Destinations that failed as a whole (a run with several).
    #[serde(skip_serializing_if = "is_zero")]
    pub destinations_failed: usize,
    pub dry_run: bool,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// `copy.failed` with scope `destination`: one of several destinations could not be used
/// (unreachable, denied, refused a lock…); the others were still served.
#[derive(Debug, Serialize)]
pub struct DestinationFailed<'a> {
    pub scope: &'static str,
    pub destination: &'a str,
    pub error: &'a OpsError,
}

ops_core::event!(DestinationFailed<'_>, names::COPY_FAILED, Severity::Error);
