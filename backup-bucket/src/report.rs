//! backup-bucket's events as typed structs, serialised once (the schemas in
//! `docs/schemas/events/bucket.*.json` are their contract).

use ops_core::event::{Event, Severity};
use ops_core::event_names as names;
use ops_core::OpsError;
use serde::Serialize;

/// `bucket.checked`: the bucket's protection and what the credentials did with the canary.
#[derive(Debug, Serialize)]
pub struct Checked<'a> {
    pub location: &'a str,
    pub versioning: bool,
    pub object_lock: bool,
    /// The bucket's default rule: `{mode, days}`.
    pub default_retention: Option<DefaultRetention>,
    pub permissions: &'a crate::check::Permissions,
}

#[derive(Debug, Serialize)]
pub struct DefaultRetention {
    pub mode: &'static str,
    pub days: u64,
}

ops_core::event!(Checked<'_>, names::BUCKET_CHECKED, Severity::Info);

/// `bucket.finding`: one thing about the bucket and these credentials, `warning` when the
/// copies are not safe.
#[derive(Debug, Serialize)]
pub struct Finding<'a> {
    pub location: &'a str,
    pub code: &'static str,
    pub reason: &'a str,
    #[serde(skip)]
    pub warning: bool,
}

impl Event for Finding<'_> {
    fn name(&self) -> &'static str {
        names::BUCKET_FINDING
    }
    fn severity(&self) -> Severity {
        if self.warning {
            Severity::Warning
        } else {
            Severity::Info
        }
    }
}

/// `bucket.changed` (what differs from the point in time; `recover --dry-run`: what would
/// be brought back) and `bucket.restored` (brought back).
#[derive(Debug, Serialize)]
pub struct Changed<'a> {
    #[serde(skip)]
    pub restored: bool,
    pub location: &'a str,
    pub key: &'a str,
    /// `hidden`, `overwritten` or `added`.
    pub change: &'static str,
    /// The version current at the point in time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub written: Option<String>,
    /// When the key last changed.
    pub changed: String,
    pub as_of: String,
}

impl Event for Changed<'_> {
    fn name(&self) -> &'static str {
        if self.restored {
            names::BUCKET_RESTORED
        } else {
            names::BUCKET_CHANGED
        }
    }
    fn severity(&self) -> Severity {
        match (self.restored, self.change) {
            (false, "hidden" | "overwritten") => Severity::Warning,
            _ => Severity::Info,
        }
    }
}

/// `bucket.failed`: a key that could not be brought back (the run goes on).
#[derive(Debug, Serialize)]
pub struct Failed<'a> {
    pub location: &'a str,
    pub key: &'a str,
    pub error: &'a OpsError,
}

ops_core::event!(Failed<'_>, names::BUCKET_FAILED, Severity::Error);

/// `bucket.resealed`: a set sealed again to the new recipients.
#[derive(Debug, Serialize)]
pub struct Resealed<'a> {
    pub location: &'a str,
    pub database: &'a str,
    pub id: &'a str,
    /// Old objects removed, and those the store still locks (left until their date).
    pub removed: usize,
    pub locked: usize,
}

ops_core::event!(Resealed<'_>, names::BUCKET_RESEALED, Severity::Info);

/// The counts `run.finished` carries.
#[derive(Debug, Default, Serialize)]
pub struct Tally {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub findings: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys_hidden: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys_overwritten: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys_added: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys_restored: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sets_resealed: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sets_failed: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
}
