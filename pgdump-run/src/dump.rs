//! One backup set: run pg_dump (or pg_dumpall for globals) into a `.partial-<id>` directory,
//! prove the stream complete, write the manifest, then publish the set under its final name.
//! Any failure removes the partial; nothing that looks complete is left behind.

use crate::archive::{self, StreamError, Written};
use crate::report::{BackupCompleted, BackupFailed, BackupStarted};
use crate::server::ServerInfo;
use crate::server_files;
use ops_catalog::catalog::SetWriter;
use ops_catalog::catalog::{
    self, Catalog, Compression, DumpFormat, FileEntry, Manifest, SetKind, TableRows, ToolInfo,
};
use ops_catalog::keys::SigningKey;
use ops_core::atomic;
use ops_core::child;
use ops_core::event::Emitter;
use ops_core::redact::Redactor;
use ops_core::stop::StopSignal;
use ops_core::{timefmt, Category, OpsError};
use ops_pg::conn::ConnSettings;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// What a set backs up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Database(String),
    /// Roles and tablespaces (`pg_dumpall --globals-only`).
    Globals,
}

impl Target {
    fn database(&self) -> Option<&str> {
        match self {
            Target::Database(d) => Some(d),
            Target::Globals => None,
        }
    }

    pub(crate) fn label(&self) -> &str {
        self.database().unwrap_or(catalog::GLOBALS_DIR)
    }
}

/// Everything a backup needs that is the same for every set of a run.
#[derive(Debug)]
pub struct RunContext<'a> {
    pub emitter: &'a Emitter,
    pub catalog: &'a Catalog,
    pub settings: &'a ConnSettings,
    pub redactor: &'a Redactor,
    pub pg_dump: PathBuf,
    pub pg_dumpall: Option<PathBuf>,
    pub pg_dump_version: String,
    pub server: ServerInfo,
    pub compression: Compression,
    /// pg_dump's `--jobs` for a directory-format dump (ADR 0027).
    pub jobs: u16,
    pub stop: &'a StopSignal,
    /// Signs each manifest as it is published (ADR 0014).
    pub signing: Option<&'a SigningKey>,
    /// Taken from a hot standby: where its replay was (crate::standby).
    pub standby: Option<catalog::StandbySource>,
}

/// A failed attempt: the error and pg_dump's redacted stderr, if it said anything.
#[derive(Debug)]
struct Failure {
    error: OpsError,
    stderr: Option<String>,
}

impl From<OpsError> for Failure {
    fn from(error: OpsError) -> Failure {
        Failure {
            error,
            stderr: None,
        }
    }
}

pub(crate) fn compression_label(c: &Compression) -> String {
    match c.level {
        Some(l) => format!(
            "{}:{l}",
            serde_json::to_value(c.algorithm)
                .unwrap()
                .as_str()
                .unwrap_or("")
        ),
        None => "none".into(),
    }
}

/// What one set is written as: decided from the target and the run's flags alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) format: DumpFormat,
    /// The dump's file in the set (`<encoded db>.dump.zst`, `globals.sql.zst`; a directory
    /// archive's `toc.dat.zst`, its other files beside it).
    pub(crate) file_name: String,
}

impl Layout {
    fn of(target: &Target, format: DumpFormat, compression: &Compression) -> Layout {
        let (format, stem) = match target {
            Target::Database(db) => (format, catalog::encode_db_dir(db)),
            // pg_dumpall writes SQL only.
            Target::Globals => (DumpFormat::Plain, "globals".into()),
        };
        let file_name = match format {
            DumpFormat::Directory => pg_archive::directory::TOC_FILE.to_string(),
            _ => format!("{stem}.{}", format.extension()),
        };
        Layout {
            file_name: format!("{file_name}{}", compression.extension()),
            format,
        }
    }
}

/// One set to take: what, what is known of it, and in which format (the plan's choice).
#[derive(Debug, Clone)]
pub struct Job {
    pub target: Target,
    pub facts: Facts,
    pub format: DumpFormat,
}

/// What the database is, read before its dump: carried into the manifest.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub database_size: Option<u64>,
    pub database_properties: Option<catalog::DatabaseProperties>,
    /// The session pg_dump writes the rows under: recorded with their digests.
    pub dump_session: Option<std::collections::BTreeMap<String, String>>,
}

/// A set written and published.
#[derive(Debug)]
pub(crate) struct Published {
    pub(crate) path: PathBuf,
    pub(crate) layout: Layout,
    pub(crate) manifest: Manifest,
    pub(crate) stored: Stored,
    /// Roles were dumped without their passwords (globals only).
    pub(crate) without_role_passwords: bool,
}

/// What the archive's files take: in all (a directory archive has many), and the SHA-256
/// of the first (the one `backup.completed` names).
#[derive(Debug)]
pub(crate) struct Stored {
    pub(crate) bytes: u64,
    pub(crate) raw_bytes: u64,
    pub(crate) sha256: String,
    pub(crate) files: usize,
}

/// A set that was not taken: which, and why (its error code), for the run's tally.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NotTaken {
    pub database: String,
    pub code: &'static str,
}

/// Takes one set of `target`, reporting it; `Err` says which set was not taken and why.
pub fn backup(ctx: &RunContext<'_>, job: &Job) -> Result<(), NotTaken> {
    let target = &job.target;
    let started = Instant::now();
    let dir = match &target {
        Target::Database(db) => ctx.catalog.db_dir(db),
        Target::Globals => ctx.catalog.globals_dir(),
    };
    // The writer removes its partial, and the database's directory when it made it for
    // this first set, unless the set is published: a database that was never backed up (a
    // typo, a dump that failed) leaves nothing behind for freshness checks to trip on.
    let result = match SetWriter::new_set(&dir) {
        Ok(writer) => {
            let id = writer.id().to_string();
            write_set(ctx, job, writer, started).map_err(|f| (Some(id), f))
        }
        Err(error) => Err((None, error.into())),
    };
    let duration_ms = started.elapsed().as_millis() as u64;
    match result {
        Ok(set) => {
            ctx.emitter
                .send(&BackupCompleted::of(ctx, target, &set, duration_ms));
            Ok(())
        }
        Err((id, failure)) => {
            ctx.emitter.send(&BackupFailed {
                kind: kind(target),
                id: id.as_deref(),
                database: target.label(),
                duration_ms,
                stderr: failure.stderr.as_deref().filter(|s| !s.trim().is_empty()),
                error: &failure.error,
            });
            Err(NotTaken {
                database: target.label().to_string(),
                code: failure.error.code,
            })
        }
    }
}

/// Dumps `target` into `writer`'s partial, adds what the set holds besides, and publishes
/// it with its manifest. Any failure drops the writer, which removes the partial.
fn write_set(
    ctx: &RunContext<'_>,
    job: &Job,
    writer: SetWriter,
    started: Instant,
) -> Result<Published, Failure> {
    let (target, facts) = (&job.target, &job.facts);
    let layout = Layout::of(target, job.format, &ctx.compression);
    ctx.emitter.send(&BackupStarted {
        kind: kind(target),
        id: writer.id(),
        database: target.label(),
        format: layout.format,
        compression: compression_label(&ctx.compression),
        server_version: &ctx.server.version,
        pg_dump_version: &ctx.pg_dump_version,
    });
    let (written, mut notes) = take(
        ctx,
        target,
        writer.path(),
        &layout.file_name,
        layout.format,
        facts.database_size,
    )?;
    let without_role_passwords = *target == Target::Globals && !notes.is_empty();
    let stored = Stored {
        bytes: written.files.iter().map(|(_, w)| w.bytes).sum(),
        raw_bytes: written.files.iter().map(|(_, w)| w.raw_bytes).sum(),
        sha256: written.files[0].1.sha256.clone(),
        files: written.files.len(),
    };
    let mut files: Vec<FileEntry> = written
        .files
        .into_iter()
        .map(|(name, w)| FileEntry {
            name,
            bytes: w.bytes,
            sha256: w.sha256,
            raw_bytes: w.raw_bytes,
            raw_sha256: None,
            frame_raw_bytes: w.frame_raw_bytes,
        })
        .collect();
    // Next to the roles, what a rebuilt server needs: its settings, pg_hba.conf and
    // pg_ident.conf. A server that will not say is a note, never a failed globals set.
    if matches!(target, Target::Globals) {
        match keep_server_files(ctx, writer.path()) {
            Ok((extra, more)) => {
                files.extend(extra);
                notes.extend(more);
            }
            Err(e) => notes.push(format!("server settings not kept: {}", e.message)),
        }
    }
    let contents = Contents {
        format: layout.format,
        files,
        summary: &written.summary,
        notes,
    };
    let manifest = manifest_of(ctx, target, &writer, contents, facts, started);
    let path = writer.publish(&manifest, ctx.signing)?;
    Ok(Published {
        path,
        layout,
        manifest,
        stored,
        without_role_passwords,
    })
}

/// What a set holds once its files are written: for its manifest.
struct Contents<'a> {
    format: DumpFormat,
    /// The dump's file first, then the server's settings (globals).
    files: Vec<FileEntry>,
    summary: &'a pg_archive::Summary,
    notes: Vec<String>,
}

/// The set's manifest, from what was written. Pure.
fn manifest_of(
    ctx: &RunContext<'_>,
    target: &Target,
    writer: &SetWriter,
    contents: Contents<'_>,
    facts: &Facts,
    started: Instant,
) -> Manifest {
    let Contents {
        format,
        files,
        summary,
        notes,
    } = contents;
    let mut manifest = Manifest {
        v: catalog::MANIFEST_VERSION,
        id: writer.id().to_string(),
        kind: kind(target),
        database: target.label().to_string(),
        status: "complete".into(),
        started_at: timefmt::rfc3339(writer.started()),
        finished_at: timefmt::now_rfc3339(),
        duration_ms: started.elapsed().as_millis() as u64,
        server_version: ctx.server.version.clone(),
        pg_dump_version: ctx.pg_dump_version.clone(),
        format,
        compression: ctx.compression,
        files,
        tables: summary
            .tables
            .iter()
            .map(|t| TableRows {
                schema: t.schema.clone(),
                name: t.name.clone(),
                rows: t.rows,
                columns: t.columns.clone(),
                digest: t.digest.map(|d| d.text()),
            })
            .collect(),
        large_objects: summary.large_objects,
        database_size: facts.database_size,
        connection: ctx.settings.describe(),
        tool: ToolInfo {
            name: "pgdump-run".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        correlation_id: ctx.emitter.correlation_id().to_string(),
        notes,
        database_properties: facts.database_properties.clone(),
        standby: ctx.standby.clone(),
        digest_settings: summary
            .tables
            .iter()
            .any(|t| t.digest.is_some())
            .then(|| facts.dump_session.clone())
            .flatten(),
    };
    // A pg_dump newer than the server (its own major is not installed) writes an archive
    // only that newer major restores: said now, in the set itself, not on the night of
    // the disaster.
    if let Some(major) = manifest.restores_only_into() {
        manifest.notes.push(format!(
            "restorable only into PostgreSQL {major} or newer: pg_dump {} dumped a server of {}; \
             install the server's own client tools (PGOPS_PG_BIN_DIRS) to keep restores into its major possible",
            ctx.pg_dump_version, ctx.server.version
        ));
    }
    manifest
}

/// Writes the server's settings and configuration files into the globals set being
/// taken, compressed as the set is; returns their entries and what could not be read.
fn keep_server_files(
    ctx: &RunContext<'_>,
    partial: &Path,
) -> Result<(Vec<FileEntry>, Vec<String>), OpsError> {
    let mut client = ctx.settings.connect()?;
    let found = server_files::collect(&mut client, &ctx.server.version)?;
    let mut entries = Vec::new();
    for (name, text) in &found.files {
        let file_name = format!("{name}{}", ctx.compression.extension());
        let path = partial.join(&file_name);
        let file = atomic::create_private_file(&path)
            .map_err(|e| OpsError::io(format!("creating {}", path.display()), &e))?;
        let w = ops_catalog::codec::write_stored(
            text.as_bytes(),
            file,
            ctx.compression,
            &mut |_| Ok::<(), std::convert::Infallible>(()),
            &mut |_| {},
        )
        .map_err(|e| match e {
            ops_catalog::codec::StreamError::Read(e)
            | ops_catalog::codec::StreamError::Write(e) => {
                OpsError::io(format!("writing {}", path.display()), &e)
            }
            ops_catalog::codec::StreamError::Observed(never) => match never {},
        })?;
        entries.push(FileEntry {
            name: file_name,
            bytes: w.bytes,
            sha256: w.sha256,
            raw_bytes: w.raw_bytes,
            raw_sha256: None,
            frame_raw_bytes: w.frame_raw_bytes,
        });
    }
    Ok((entries, found.notes))
}

pub(crate) fn kind(target: &Target) -> SetKind {
    match target {
        Target::Database(_) => SetKind::Database,
        Target::Globals => SetKind::Globals,
    }
}

/// Runs the dump into `partial` (its file `file_name`, or pg_dump's own files for a
/// directory archive). Globals fall back to `--no-role-passwords` when the user may not
/// read password hashes; the returned notes say so.
fn take(
    ctx: &RunContext<'_>,
    target: &Target,
    partial: &Path,
    file_name: &str,
    format: DumpFormat,
    database_size: Option<u64>,
) -> Result<(Written, Vec<String>), Failure> {
    let path = partial.join(file_name);
    match target {
        Target::Database(db) => {
            let mut cmd = Command::new(&ctx.pg_dump);
            match format {
                DumpFormat::Custom => cmd.args(["--format=custom", "--compress=0"]),
                DumpFormat::Plain => cmd.arg("--format=plain"),
                // pg_dump accepts the empty partial as its directory; its files are
                // packed there as they are closed (crate::directory).
                DumpFormat::Directory => cmd
                    .args(["--format=directory", "--compress=0"])
                    .arg(format!("--jobs={}", ctx.jobs))
                    .arg("--file")
                    .arg(partial),
            };
            cmd.arg("--no-password");
            ctx.settings.for_database(db).apply_to_command(&mut cmd);
            ops_pg::content::dump_env(&mut cmd);
            let estimate = previous_dump_size(ctx.catalog, db).or(database_size);
            let written = if format == DumpFormat::Directory {
                run_child(ctx, cmd, partial, db, estimate, &mut |out, progress| {
                    crate::directory::write_directory(out, partial, ctx.compression, progress)
                })
            } else {
                to_file(ctx, cmd, &path, db, estimate)
            };
            written.map(|w| (w, Vec::new()))
        }
        Target::Globals => {
            let program = ctx
                .pg_dumpall
                .as_ref()
                .expect("pg_dumpall located when globals are on");
            let make = |extra: &[&str]| {
                let mut cmd = Command::new(program);
                cmd.args(["--globals-only", "--no-password"]).args(extra);
                ctx.settings.apply_to_command(&mut cmd);
                cmd
            };
            match to_file(ctx, make(&[]), &path, "globals", None) {
                Err(f)
                    if f.stderr.as_deref().is_some_and(|s| {
                        s.contains("pg_authid") && s.contains("permission denied")
                    }) =>
                {
                    std::fs::remove_file(&path)
                        .map_err(|e| OpsError::io("removing the failed globals file", &e))?;
                    let w = to_file(ctx, make(&["--no-role-passwords"]), &path, "globals", None)?;
                    Ok((w, vec!["role passwords not dumped: the user may not read pg_authid (--no-role-passwords)".into()]))
                }
                other => other.map(|w| (w, Vec::new())),
            }
        }
    }
}

/// Runs `cmd`, whose stdout is the archive, into the new file `path`.
fn to_file(
    ctx: &RunContext<'_>,
    cmd: Command,
    path: &Path,
    label: &str,
    estimate: Option<u64>,
) -> Result<Written, Failure> {
    if let Some(error) = ctx.stop.reason() {
        return Err(error.into());
    }
    let file = atomic::create_private_file(path)
        .map_err(|e| OpsError::io(format!("creating {}", path.display()), &e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut file = Some(file);
    run_child(ctx, cmd, path, label, estimate, &mut |out, progress| {
        let file = file.take().expect("the child's output is consumed once");
        archive::write_archive(out, (&name, file), ctx.compression, progress)
    })
}

/// Runs one pg_dump/pg_dumpall child (supervised: its own process group, killed on stop,
/// on deadline and on any failure of the stream) and streams its stdout into the file.
/// On a terminal a bar shows the bytes dumped, against the database's size as an estimate.
/// What the bar expects a dump to write: the raw size of the database's newest set (the
/// best guess of the next one), else nothing better than the database's size on disk,
/// which counts indexes a dump does not hold.
fn previous_dump_size(catalog: &Catalog, db: &str) -> Option<u64> {
    let sets = catalog
        .set_dir(Some(db))
        .scan(jiff::Timestamp::now())
        .ok()?;
    let newest = sets.sets.last()?;
    Some(newest.manifest.files.iter().map(|f| f.raw_bytes).sum())
}

/// What consumes a child's stdout into the set: the stream into one file, or a directory
/// archive packed as pg_dump writes it; with a progress callback (raw bytes).
type Consume<'c> = dyn FnMut(
        std::process::ChildStdout,
        &mut dyn FnMut(u64),
    ) -> Result<Written, StreamError<pg_archive::ArchiveError>>
    + 'c;

fn run_child(
    ctx: &RunContext<'_>,
    mut cmd: Command,
    path: &Path,
    label: &str,
    estimate: Option<u64>,
    consume: &mut Consume<'_>,
) -> Result<Written, Failure> {
    if let Some(error) = ctx.stop.reason() {
        return Err(error.into());
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::piped());
    let program = child::program_name(&cmd);
    let stop = ctx.stop.clone();
    let mut child = child::spawn(cmd, move || stop.reason()).map_err(|e| {
        OpsError::new(
            "pg_dump_missing",
            Category::Dependency,
            format!("cannot start {program}: {e}"),
        )
    })?;
    let stdout = child.stdout().expect("stdout is piped");
    let bar = ops_core::progress::bytes(format!("{label}: dump"), estimate);
    let counter = bar.counter();
    let mut progress = |raw: u64| counter.set(raw);
    let streamed = consume(stdout, &mut progress);
    drop(bar);
    if streamed.is_err() {
        child.kill();
    }
    let ended = child.wait();
    let stderr_text = ctx.redactor.redact(&ended.stderr);
    let with_stderr = |error: OpsError| Failure {
        error,
        stderr: Some(stderr_text.clone()),
    };
    if let Some(reason) = ended.stopped.clone() {
        return Err(with_stderr(reason));
    }
    if let Err(StreamError::Write(e)) = &streamed {
        return Err(with_stderr(OpsError::io(
            format!("writing {}", path.display()),
            e,
        )));
    }
    let status = match &ended.status {
        Ok(s) => *s,
        Err(e) => return Err(with_stderr(OpsError::io("waiting for pg_dump", e))),
    };
    if !status.success() {
        let (code, category, hint) = classify_failure(&stderr_text);
        let how = match status.code() {
            Some(c) => format!("exited with status {c}"),
            None => "was killed by a signal".into(),
        };
        let last_line = ctx.redactor.redact(ended.last_line());
        let hint = hint.map(|h| format!(" ({h})")).unwrap_or_default();
        return Err(with_stderr(OpsError::new(
            code,
            category,
            format!("{program} {how}: {last_line}{hint}"),
        )));
    }
    match streamed {
        Ok(w) => Ok(w),
        Err(StreamError::Read(e)) => Err(with_stderr(OpsError::io("reading pg_dump's output", &e))),
        Err(StreamError::Observed(e)) => Err(with_stderr(OpsError::new(
            "archive_incomplete",
            Category::Integrity,
            format!("pg_dump succeeded but its output is not a complete archive: {e}"),
        ))),
        Err(StreamError::Write(_)) => unreachable!("handled above"),
    }
}

/// What a failed pg_dump's stderr says went wrong (pure): the code, its category, and what
/// fixes it when pgops knows. The first matching line of the table wins.
fn classify_failure(stderr: &str) -> (&'static str, Category, Option<&'static str>) {
    type Rule = (&'static str, &'static str, Category, Option<&'static str>);
    const RULES: [Rule; 6] = [
        ("password authentication failed", "auth_failed", Category::Authz, None),
        ("no password supplied", "auth_failed", Category::Authz, None),
        // In the directory format pg_dump writes its own files: it may meet a full disk
        // before pgops does, and the operator's fix is the same.
        ("No space left on device", "disk_full", Category::Io, None),
        (
            "conflict with recovery",
            "recovery_conflict",
            Category::Dependency,
            Some("replay on this standby cancelled the dump: let pgops pause it (--standby-replay pause), or set max_standby_streaming_delay = -1 or hot_standby_feedback = on"),
        ),
        (
            "permission denied for large object",
            "large_object_denied",
            Category::Authz,
            Some("pg_read_all_data does not cover large objects: GRANT SELECT ON LARGE OBJECT to the backup role for each, or back up as their owner (README, least privilege)"),
        ),
        (
            "max_locks_per_transaction",
            "pg_dump_failed",
            Category::Dependency,
            Some("pg_dump locks every table at once: raise max_locks_per_transaction on the server above its tables divided by max_connections"),
        ),
    ];
    RULES
        .iter()
        .find(|(needle, ..)| stderr.contains(needle))
        .map_or(("pg_dump_failed", Category::Dependency, None), |r| {
            (r.1, r.2, r.3)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_dump_is_named_by_what_its_stderr_says() {
        let code = |s: &str| classify_failure(s).0;
        assert_eq!(
            code("FATAL:  password authentication failed for user \"x\""),
            "auth_failed"
        );
        assert_eq!(
            code("could not write to file \"3342.dat\": No space left on device"),
            "disk_full"
        );
        assert_eq!(
            code("ERROR:  canceling statement due to conflict with recovery"),
            "recovery_conflict"
        );
        assert_eq!(
            code("ERROR:  permission denied for large object 16392"),
            "large_object_denied"
        );
        let (c, _, hint) =
            classify_failure("HINT:  You might need to increase max_locks_per_transaction.");
        assert_eq!(c, "pg_dump_failed");
        assert!(hint.unwrap().contains("max_locks_per_transaction"));
        assert_eq!(
            classify_failure("anything else"),
            ("pg_dump_failed", Category::Dependency, None)
        );
    }
}
