//! `pgdump-run`: take PostgreSQL logical backups that are provably complete.
//!
//! For each database (and the cluster's globals) it runs `pg_dump` uncompressed and passes
//! its output once through [`archive::write_archive`]: the catalog's writer compresses it
//! (zstd frames on every core by default) and hashes what it stores, while `pg-archive`
//! counts every table's rows, beside pg_dump. The set is written in `.partial-<id>` and renamed into the
//! catalog only when pg_dump succeeded *and* the stream is a complete archive.
//!
//! Modules: [`cli`] (flags), [`selection`] (which databases), [`server`] (questions to the
//! server), [`pgbin`] (client programs), [`archive`] (the one-pass writer), [`dump`] (one
//! set, start to publish).

pub mod archive;
pub mod cli;
pub mod dump;
pub mod pgbin;
pub mod selection;
pub mod server;
pub mod server_files;

use dump::{RunContext, Target};
use ops_catalog::catalog::DatabaseProperties;
use ops_catalog::catalog::{self, Catalog};
use ops_core::event::{correlation_id_from_env, Emitter, Severity};
use ops_core::event_names as names;
use ops_core::redact::Redactor;
use ops_core::stop::StopSignal;
use ops_core::{ExitCode, OpsError};
use ops_pg::conn::ConnSettings;
use serde_json::json;
use std::time::Instant;

/// Parses the command line and runs. Invalid flags get an event and exit 2.
pub fn main_with_args(argv: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    match ops_core::cli::parse::<cli::Args>(argv, "pgdump-run", "backup") {
        Ok(args) => run(args),
        Err(exit) => exit,
    }
}

/// Runs pgdump-run with parsed flags, writing events to stdout; returns the exit code.
pub fn run(args: cli::Args) -> ExitCode {
    let emitter = Emitter::stdout("pgdump-run", correlation_id_from_env());
    let mut tally = Tally::default();
    let exit = match execute(&args, &emitter, &mut tally) {
        Ok(exit) => exit,
        Err(error) => {
            emitter.emit_error(names::RUN_FAILED, Severity::Error, &error, json!({}));
            error.category.run_exit_code()
        }
    };
    let summary = match tally.planned {
        Some(n) => json!({"sets_planned": n, "dry_run": true}),
        None => json!({"sets_completed": tally.completed, "sets_failed": tally.failed}),
    };
    emitter.finish("backup", exit, summary)
}

#[derive(Debug, Default)]
struct Tally {
    completed: usize,
    failed: usize,
    /// With --dry-run: how many sets would be taken.
    planned: Option<usize>,
}

fn execute(args: &cli::Args, emitter: &Emitter, tally: &mut Tally) -> Result<ExitCode, OpsError> {
    let backup_dir = args.catalog.dir()?.to_path_buf();
    if backup_dir.to_str().is_some_and(|d| d.contains("://")) {
        // Dumps land on a local disk first, are verified there, and only then leave the
        // host, sealed: a half-written dump never sits in a bucket.
        return Err(OpsError::validation(
            "invalid_location",
            format!(
                "{}: pgdump-run writes a local catalog; ship its verified sets with backup-copy",
                backup_dir.display()
            ),
        ));
    }
    // Read before anything runs: a bad key fails the run at once, not after the dumps.
    let signing = args.signing.load()?;
    if !args.all && args.dbnames.is_empty() {
        return Err(OpsError::validation(
            "no_database",
            "nothing to back up: pass --all or -d DB",
        ));
    }
    let flags = args.conn.flags(args.dbnames.first().cloned());
    let settings = ConnSettings::resolve(&flags)?;
    let redactor = Redactor::new(settings.secrets());
    let exclude = selection::Patterns::new(&args.exclude)?;

    // Before any connection: is there a pg_dump at all?
    let installs = ops_pg::programs::installations(args.pg_bin.pg_bin_dir.as_deref());
    if !installs.iter().any(|i| i.has("pg_dump")) {
        return Err(pgbin::missing("pg_dump", args.pg_bin.pg_bin_dir.as_deref()));
    }

    // The first -d may be a conninfo/URI; what it names is the first database.
    let mut named: Vec<String> = args.dbnames.clone();
    if let Some(first) = named.first_mut() {
        *first = settings.effective_dbname();
    }
    let maintenance = if args.all {
        settings.clone()
    } else {
        settings.for_database(&named[0])
    };
    let mut client = server::connect(&maintenance).map_err(|e| OpsError {
        message: redactor.redact(&e.message),
        ..e
    })?;
    let server = server::server_info(&mut client)?;
    // The client for this server's major (ops_pg::programs: its own, else the newest).
    let Some(tools) = ops_pg::programs::pick_dump(&installs, server.major) else {
        let newest = installs
            .iter()
            .filter(|i| i.has("pg_dump"))
            .map(|i| i.version.as_str())
            .next()
            .unwrap_or("?");
        return Err(OpsError::validation(
            "version_mismatch",
            format!(
                "pg_dump {newest} is older than the server ({}): it cannot dump it; install postgresql-client-{} or pass --pg-bin-dir",
                server.version, server.major
            ),
        ));
    };
    // The installation's version is pg_dump's own (`install_at` asks pg_dump first).
    let pg_dump = tools.program("pg_dump");
    let pg_dump_version = tools.version.clone();
    let pg_dumpall = if args.no_globals {
        None
    } else {
        Some(pgbin::locate("pg_dumpall", &tools.dir)?)
    };
    let databases = if args.all {
        server::list_databases(&mut client)?
    } else {
        named
    };
    let databases = selection::select(databases, &exclude);
    if databases.is_empty() {
        return Err(OpsError::validation(
            "no_database",
            "every database was excluded",
        ));
    }

    if args.dry_run {
        let catalog = Catalog::new(&backup_dir);
        let mut planned = 0;
        if !args.no_globals {
            emitter.emit(
                names::BACKUP_PLANNED,
                Severity::Info,
                json!({"kind": "globals", "database": ops_catalog::catalog::GLOBALS_DIR, "bytes": null,
                       "path": catalog.globals_dir().display().to_string()}),
            );
            planned += 1;
        }
        for db in &databases {
            emitter.emit(
                names::BACKUP_PLANNED,
                Severity::Info,
                json!({"kind": "database", "database": db,
                       "bytes": server::database_size(&mut client, db),
                       "path": catalog.db_dir(db).display().to_string()}),
            );
            planned += 1;
        }
        tally.planned = Some(planned);
        return Ok(ExitCode::Ok);
    }

    // A mistyped --backup-dir must not quietly start a second catalog: a new one is said
    // out loud (a warning, on the terminal and in the journal too).
    let is_new = !backup_dir.exists();
    let (catalog, _lock) = Catalog::create(&backup_dir, args.catalog.lock.lock_timeout)?;
    if is_new {
        emitter.emit(
            names::CATALOG_CREATED,
            Severity::Warning,
            json!({"path": backup_dir.display().to_string(),
                   "message": format!("created a new, empty catalog at {}: if you meant an existing one, check --backup-dir (PGOPS_BACKUP_DIR)", backup_dir.display())}),
        );
    }
    remove_stale_partials(&catalog, emitter)?;

    let stop = StopSignal::install(args.timeout.map(|t| Instant::now() + t))?;
    let mut targets: Vec<(Target, Option<u64>, Option<DatabaseProperties>)> = Vec::new();
    if !args.no_globals {
        targets.push((Target::Globals, None, None));
    }
    for db in databases {
        let size = server::database_size(&mut client, &db);
        let props = server::database_properties(&mut client, &db);
        targets.push((Target::Database(db), size, props));
    }
    drop(client);

    let ctx = RunContext {
        emitter,
        catalog: &catalog,
        settings: &settings,
        redactor: &redactor,
        pg_dump,
        pg_dumpall,
        pg_dump_version,
        server,
        format: args.format.into(),
        compression: args.compress,
        stop: &stop,
        signing: signing.as_ref(),
    };
    let published = ops_core::parallel::map(
        &targets,
        args.jobs.jobs as usize,
        |(target, size, props)| dump::backup(&ctx, target, *size, props.clone()),
    );
    tally.completed = published.iter().filter(|ok| **ok).count();
    tally.failed = targets.len() - tally.completed;
    Ok(if stop.reason().is_some() {
        ExitCode::Unavailable
    } else if tally.failed > 0 {
        ExitCode::Problem
    } else {
        ExitCode::Ok
    })
}

/// A partial set can only be left by a run that died: we hold the writer lock, so no live
/// run is writing it. Each is reported, then removed.
fn remove_stale_partials(catalog: &Catalog, emitter: &Emitter) -> Result<(), OpsError> {
    let partials = catalog
        .stale_partials()
        .map_err(|e| OpsError::io(format!("scanning {}", catalog.root().display()), &e))?;
    for p in partials {
        let result = catalog::remove_partial(&p);
        emitter.emit(
            names::BACKUP_PARTIAL_REMOVED,
            Severity::Warning,
            json!({
                "path": p.display().to_string(),
                "removed": result.is_ok(),
                "message": match &result {
                    Ok(()) => "a previous run died mid-backup; its partial set was removed".to_string(),
                    Err(e) => format!("could not remove a stale partial set: {e}"),
                },
            }),
        );
    }
    Ok(())
}
