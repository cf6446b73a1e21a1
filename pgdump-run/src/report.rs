//! pgdump-run's events as typed structs, serialised once (the schemas in
//! `docs/schemas/events/backup.*.json` and `catalog.created.json` are their contract).

use crate::dump::{compression_label, kind, Published, RunContext, Target};
use ops_catalog::catalog::{DumpFormat, SetKind};
use ops_core::event::{Event, Severity};
use ops_core::event_names as names;
use ops_core::OpsError;
use serde::Serialize;

/// `backup.started`.
#[derive(Debug, Serialize)]
pub struct BackupStarted<'a> {
    pub kind: SetKind,
    pub id: &'a str,
    pub database: &'a str,
    pub format: DumpFormat,
    pub compression: String,
    pub server_version: &'a str,
    pub pg_dump_version: &'a str,
}

ops_core::event!(BackupStarted<'_>, names::BACKUP_STARTED, Severity::Info);

/// `backup.completed`: a warning when the set carries notes (roles without passwords,
/// settings not kept, a newer pg_dump).
#[derive(Debug, Serialize)]
pub struct BackupCompleted<'a> {
    pub kind: SetKind,
    pub id: &'a str,
    pub database: &'a str,
    pub path: String,
    pub file: &'a str,
    pub format: DumpFormat,
    pub compression: String,
    pub bytes: u64,
    pub raw_bytes: u64,
    sha256: &'a str,
    /// How many files the archive is: 1, or a directory archive's (`file` is its toc.dat;
    /// `bytes` and `raw_bytes` count them all, `sha256` is `file`'s).
    pub files: usize,
    pub tables: usize,
    pub rows: u64,
    pub large_objects: u64,
    pub database_size: Option<u64>,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_passwords: Option<bool>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub notes: &'a [String],
}

impl<'a> BackupCompleted<'a> {
    pub(crate) fn of(
        ctx: &RunContext<'_>,
        target: &'a Target,
        set: &'a Published,
        duration_ms: u64,
    ) -> BackupCompleted<'a> {
        BackupCompleted {
            kind: kind(target),
            id: &set.manifest.id,
            database: target.label(),
            path: set.path.display().to_string(),
            file: &set.layout.file_name,
            format: set.layout.format,
            compression: compression_label(&ctx.compression),
            bytes: set.stored.bytes,
            raw_bytes: set.stored.raw_bytes,
            sha256: &set.stored.sha256,
            files: set.stored.files,
            tables: set.manifest.tables.len(),
            rows: set.manifest.total_rows(),
            large_objects: set.manifest.large_objects,
            database_size: set.manifest.database_size,
            duration_ms,
            role_passwords: set.without_role_passwords.then_some(false),
            notes: &set.manifest.notes,
        }
    }
}

impl Event for BackupCompleted<'_> {
    fn name(&self) -> &'static str {
        names::BACKUP_COMPLETED
    }
    fn severity(&self) -> Severity {
        if self.notes.is_empty() {
            Severity::Info
        } else {
            Severity::Warning
        }
    }
}

/// `backup.failed`, with pg_dump's redacted stderr when it said anything.
#[derive(Debug, Serialize)]
pub struct BackupFailed<'a> {
    pub kind: SetKind,
    pub id: Option<&'a str>,
    pub database: &'a str,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr: Option<&'a str>,
    pub error: &'a OpsError,
}

ops_core::event!(BackupFailed<'_>, names::BACKUP_FAILED, Severity::Error);

/// `backup.planned` (`--dry-run`): a set the run would take.
#[derive(Debug, Serialize)]
pub struct Planned<'a> {
    pub kind: SetKind,
    pub database: &'a str,
    /// The format the set would be dumped in (`--format auto` decides per database).
    pub format: DumpFormat,
    /// The database's size (`null` for the globals, or when the server would not say).
    pub bytes: Option<u64>,
    pub path: String,
}

ops_core::event!(Planned<'_>, names::BACKUP_PLANNED, Severity::Info);

/// `catalog.created`: a new, empty catalog (said out loud: a mistyped --backup-dir must
/// not quietly start a second catalog).
#[derive(Debug, Serialize)]
pub struct CatalogCreated {
    pub path: String,
    pub message: String,
}

ops_core::event!(CatalogCreated, names::CATALOG_CREATED, Severity::Warning);

/// `backup.partial_removed`: what a run that died left, and whether it is gone.
#[derive(Debug, Serialize)]
pub struct PartialRemoved {
    pub path: String,
    pub removed: bool,
    pub message: String,
}

ops_core::event!(
    PartialRemoved,
    names::BACKUP_PARTIAL_REMOVED,
    Severity::Warning
);

/// The run's tally, in `run.finished`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Tally {
    Planned {
        sets_planned: usize,
        dry_run: bool,
    },
    Taken {
        sets_completed: usize,
        sets_failed: usize,
        /// Each set not taken: its database (`_globals`) and error code.
        failed: Vec<crate::dump::NotTaken>,
    },
}

/// `backup.space_low`: tonight's sets are expected to need more than is free.
#[derive(Debug, Serialize)]
pub struct SpaceLow {
    pub path: String,
    pub needed_bytes: u64,
    pub available_bytes: u64,
    /// The databases whose newest set the estimate comes from.
    pub databases: usize,
    pub message: String,
}

ops_core::event!(SpaceLow, names::BACKUP_SPACE_LOW, Severity::Warning);

impl SpaceLow {
    pub fn new(path: &std::path::Path, needed: u64, available: u64, databases: usize) -> SpaceLow {
        SpaceLow {
            path: path.display().to_string(),
            needed_bytes: needed,
            available_bytes: available,
            databases,
            message: format!(
                "tonight's sets are expected to need {} (the newest sets of {databases} database(s), grown as their databases grew), but {} has only {} free: a dump may fail with disk_full; run backup-rotate or free space (runbook: backup.md, The disk is full)",
                ops_core::human::bytes(needed),
                path.display(),
                ops_core::human::bytes(available)
            ),
        }
    }
}

/// `backup.replay_resumed`: a standby's replay, left paused by a run that died, resumed.
#[derive(Debug, Serialize)]
pub struct ReplayResumed {
    pub pid: i32,
    pub message: String,
}

ops_core::event!(
    ReplayResumed,
    names::BACKUP_REPLAY_RESUMED,
    Severity::Warning
);
