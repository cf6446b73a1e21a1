//! backup-rotate's events as typed structs, serialised once (the schemas in
//! `docs/schemas/events/rotate.*.json` are their contract).

use ops_core::event::{Event, Severity};
use ops_core::event_names as names;
use ops_core::OpsError;
use serde::Serialize;

/// What became of one set: kept, deleted, or (a dry run) planned for deletion, with why.
#[derive(Debug, Serialize)]
pub struct SetOutcome<'a> {
    #[serde(skip)]
    pub event: &'static str,
    pub database: &'a str,
    pub id: &'a str,
    pub path: &'a str,
    pub reasons: &'a [String],
    pub dry_run: bool,
    /// A deletion a crash interrupted, finished by this run.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub resumed: bool,
}

impl SetOutcome<'_> {
    /// The event of a deletion: done (`rotate.deleted`), or with `--dry-run` only planned
    /// (`rotate.planned`): a dry run never says it deleted anything.
    pub fn deletion(dry_run: bool) -> &'static str {
        if dry_run {
            names::ROTATE_PLANNED
        } else {
            names::ROTATE_DELETED
        }
    }
}

impl Event for SetOutcome<'_> {
    fn name(&self) -> &'static str {
        self.event
    }
    fn severity(&self) -> Severity {
        Severity::Info
    }
}

/// `rotate.failed`: a set whose deletion failed (the run goes on with the others).
#[derive(Debug, Serialize)]
pub struct DeletionFailed<'a> {
    pub database: &'a str,
    pub id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasons: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    pub error: &'a OpsError,
}

ops_core::event!(DeletionFailed<'_>, names::ROTATE_FAILED, Severity::Error);

/// `rotate.skipped`: something rotation did not touch, and why.
#[derive(Debug, Serialize)]
pub struct Skipped<'a> {
    #[serde(skip)]
    pub severity: Severity,
    /// The database (`null`: an entry at the catalog's root).
    pub database: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    pub path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'a str>,
    pub reason: String,
}

impl Event for Skipped<'_> {
    fn name(&self) -> &'static str {
        names::ROTATE_SKIPPED
    }
    fn severity(&self) -> Severity {
        self.severity
    }
}

/// `rotate.pinned` / `rotate.unpinned`.
#[derive(Debug, Serialize)]
pub struct Pin<'a> {
    #[serde(skip)]
    pub pinned: bool,
    pub database: &'a str,
    pub id: &'a str,
    pub path: String,
    pub dry_run: bool,
}

impl Event for Pin<'_> {
    fn name(&self) -> &'static str {
        if self.pinned {
            names::ROTATE_PINNED
        } else {
            names::ROTATE_UNPINNED
        }
    }
    fn severity(&self) -> Severity {
        Severity::Info
    }
}

/// `rotate.retired`.
#[derive(Debug, Serialize)]
pub struct Retired<'a> {
    pub database: &'a str,
    pub path: &'a str,
    pub retired_at: &'a str,
    pub reason: Option<&'a str>,
    pub newest_set: Option<&'a str>,
    pub dry_run: bool,
}

ops_core::event!(Retired<'_>, names::ROTATE_RETIRED, Severity::Info);

/// `rotate.unretired`.
#[derive(Debug, Serialize)]
pub struct Unretired<'a> {
    pub database: &'a str,
    pub path: &'a str,
    pub was_retired: bool,
    pub dry_run: bool,
}

ops_core::event!(Unretired<'_>, names::ROTATE_UNRETIRED, Severity::Info);

/// The run's tally, in `run.finished`.
#[derive(Debug, Serialize)]
pub struct Tally {
    pub sets_kept: usize,
    pub sets_deleted: usize,
    pub dry_run: bool,
}
