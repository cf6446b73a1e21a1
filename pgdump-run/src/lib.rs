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
pub mod directory;
pub mod dump;
pub mod pgbin;
pub mod report;
pub mod selection;
pub mod server;
pub mod server_files;
pub mod space;
pub mod standby;

use dump::{RunContext, Target};
use ops_catalog::catalog::{self, Catalog, SetKind};
use ops_core::event::{correlation_id_from_env, Emitter};
use ops_core::redact::Redactor;
use ops_core::stop::StopSignal;
use ops_core::{ExitCode, OpsError};
use ops_pg::conn::ConnSettings;
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
    let result = execute(&args, &emitter, &mut tally);
    let summary = match tally.planned {
        Some(n) => report::Tally::Planned {
            sets_planned: n,
            dry_run: true,
        },
        None => report::Tally::Taken {
            sets_completed: tally.completed,
            sets_failed: tally.failed.len(),
            failed: tally.failed.clone(),
        },
    };
    match result {
        Ok(exit) => emitter.finish("backup", exit, summary),
        Err(error) => ops_core::cli::fail_run_with(&emitter, "backup", error, summary),
    }
}

#[derive(Debug, Default)]
struct Tally {
    completed: usize,
    /// The sets not taken, and why: in run.finished, so the run history says which.
    failed: Vec<dump::NotTaken>,
    /// With --dry-run: how many sets would be taken.
    planned: Option<usize>,
}

/// Resolve (flags, keys, connection, client programs: nothing connected) → plan (the
/// server, its client tools, the sets to take: a value) → report it (`--dry-run`) or open
/// the catalog and take every set → tally.
fn execute(args: &cli::Args, emitter: &Emitter, tally: &mut Tally) -> Result<ExitCode, OpsError> {
    let inputs = Inputs::resolve(args)?;
    let mut client = server::connect(&inputs.maintenance).map_err(|e| OpsError {
        message: inputs.redactor.redact(&e.message),
        ..e
    })?;
    let plan = Plan::make(args, &inputs, &mut client)?;
    drop(client);
    if args.dry_run {
        tally.planned = Some(report_planned(
            &plan,
            &Catalog::new(&inputs.backup_dir),
            emitter,
        ));
        return Ok(ExitCode::Ok);
    }
    let (catalog, _lock) = open_catalog(&inputs.backup_dir, args, emitter)?;
    warn_if_short_of_space(&catalog, &plan, emitter);
    let stop = StopSignal::install(args.timeout.map(|t| Instant::now() + t))?;
    // On a standby, replay is held for the whole run (every set at one position), and
    // resumed when `held` drops, after the last dump.
    let held = hold_standby(&plan, &inputs, args, &catalog, emitter)?;
    let ctx = RunContext {
        emitter,
        catalog: &catalog,
        settings: &inputs.settings,
        redactor: &inputs.redactor,
        pg_dump: plan.pg_dump,
        pg_dumpall: plan.pg_dumpall,
        pg_dump_version: plan.pg_dump_version,
        server: plan.server,
        compression: args.compress,
        jobs: args.jobs.jobs,
        stop: &stop,
        signing: inputs.signing.as_ref(),
        standby: held.as_ref().map(|h| h.facts().clone()),
    };
    // --jobs is how many dump streams run at once: the tables of one directory-format
    // dump (one database at a time), or that many single-stream databases.
    let (tables_in_parallel, databases_in_parallel): (Vec<_>, Vec<_>) = plan
        .targets
        .iter()
        .partition(|j| j.format == ops_catalog::catalog::DumpFormat::Directory);
    let mut published: Vec<_> = tables_in_parallel
        .into_iter()
        .map(|j| dump::backup(&ctx, j))
        .collect();
    published.extend(ops_core::parallel::map(
        &databases_in_parallel,
        args.jobs.jobs as usize,
        |j| dump::backup(&ctx, j),
    ));
    drop(held);
    tally.completed = published.iter().filter(|r| r.is_ok()).count();
    tally.failed = published.into_iter().filter_map(Result::err).collect();
    Ok(if stop.reason().is_some() {
        ExitCode::Unavailable
    } else if !tally.failed.is_empty() {
        ExitCode::Problem
    } else {
        ExitCode::Ok
    })
}

/// What the flags and the environment say, checked before anything connects: a bad key,
/// a bucket for a catalog or a missing pg_dump fails the run at once.
struct Inputs {
    backup_dir: std::path::PathBuf,
    signing: Option<ops_catalog::keys::SigningKey>,
    settings: ConnSettings,
    /// Where the server is asked which databases there are and what it is.
    maintenance: ConnSettings,
    redactor: Redactor,
    exclude: selection::Patterns,
    installs: Vec<ops_pg::programs::Install>,
    /// `-d` names (the first as the connection resolved it), or empty with `--all`.
    named: Vec<String>,
}

impl Inputs {
    fn resolve(args: &cli::Args) -> Result<Inputs, OpsError> {
        let backup_dir = args.catalog.dir()?.to_path_buf();
        if backup_dir.to_str().is_some_and(|d| d.contains("://")) {
            // Dumps land on a local disk first, are verified there, and only then leave
            // the host, sealed: a half-written dump never sits in a bucket.
            return Err(OpsError::validation(
                "invalid_location",
                format!(
                    "{}: pgdump-run writes a local catalog; ship its verified sets with backup-copy",
                    backup_dir.display()
                ),
            ));
        }
        let signing = args.signing.load()?;
        if !args.all && args.dbnames.is_empty() {
            return Err(OpsError::validation(
                "no_database",
                "nothing to back up: pass --all or -d DB",
            ));
        }
        let settings = ConnSettings::resolve(&args.conn.flags(args.dbnames.first().cloned()))?;
        let redactor = Redactor::new(settings.secrets());
        let exclude = selection::Patterns::new(&args.exclude)?;
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
        Ok(Inputs {
            backup_dir,
            signing,
            settings,
            maintenance,
            redactor,
            exclude,
            installs,
            named: if args.all { Vec::new() } else { named },
        })
    }
}

/// What the run will take, and with which client programs.
struct Plan {
    server: server::ServerInfo,
    pg_dump: std::path::PathBuf,
    pg_dumpall: Option<std::path::PathBuf>,
    pg_dump_version: String,
    /// The globals first (unless `--no-globals`), then each database with what it is and
    /// the format it is dumped in.
    targets: Vec<dump::Job>,
}

impl Plan {
    fn make(
        args: &cli::Args,
        inputs: &Inputs,
        client: &mut postgres::Client,
    ) -> Result<Plan, OpsError> {
        let server = server::server_info(client)?;
        // The client for this server's major (ops_pg::programs: its own, else the newest).
        let Some(tools) = ops_pg::programs::pick_dump(&inputs.installs, server.major) else {
            let newest = inputs
                .installs
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
        let pg_dumpall = if args.no_globals {
            None
        } else {
            Some(pgbin::locate("pg_dumpall", &tools.dir)?)
        };
        let databases = if args.all {
            server::list_databases(client)?
        } else {
            inputs.named.clone()
        };
        let databases = selection::select(databases, &inputs.exclude);
        if databases.is_empty() {
            return Err(OpsError::validation(
                "no_database",
                "every database was excluded",
            ));
        }
        let globals = (!args.no_globals).then(|| dump::Job {
            target: Target::Globals,
            facts: dump::Facts::default(),
            format: ops_catalog::catalog::DumpFormat::Plain,
        });
        let targets = globals
            .into_iter()
            .chain(databases.into_iter().map(|db| {
                let facts = dump::Facts {
                    database_size: server::database_size(client, &db),
                    database_properties: server::database_properties(client, &db),
                    dump_session: server::dump_session(&inputs.settings, &db),
                };
                let format = args.format.for_database(
                    facts.database_size,
                    args.jobs.jobs,
                    args.directory_from,
                );
                dump::Job {
                    target: Target::Database(db),
                    facts,
                    format,
                }
            }))
            .collect();
        Ok(Plan {
            server,
            // The installation's version is pg_dump's own (`install_at` asks it first).
            pg_dump: tools.program("pg_dump"),
            pg_dumpall,
            pg_dump_version: tools.version.clone(),
            targets,
        })
    }
}

/// `--dry-run`: one `backup.planned` per set; returns how many.
fn report_planned(plan: &Plan, catalog: &Catalog, emitter: &Emitter) -> usize {
    for dump::Job {
        target,
        facts,
        format,
    } in &plan.targets
    {
        let (kind, database, path) = match target {
            Target::Globals => (
                SetKind::Globals,
                catalog::GLOBALS_DIR,
                catalog.globals_dir(),
            ),
            Target::Database(db) => (SetKind::Database, db.as_str(), catalog.db_dir(db)),
        };
        emitter.send(&report::Planned {
            kind,
            database,
            format: *format,
            bytes: facts.database_size,
            path: path.display().to_string(),
        });
    }
    plan.targets.len()
}

/// Opens (creating) the catalog under its writer lock and removes what dead runs left. A
/// mistyped --backup-dir must not quietly start a second catalog: a new one is said out
/// loud (a warning, on the terminal and in the journal too).
fn open_catalog(
    backup_dir: &std::path::Path,
    args: &cli::Args,
    emitter: &Emitter,
) -> Result<(Catalog, ops_catalog::lock::CatalogLock), OpsError> {
    let is_new = !backup_dir.exists();
    let (catalog, lock) = Catalog::create(backup_dir, args.catalog.lock.lock_timeout)?;
    if is_new {
        emitter.send(&report::CatalogCreated {
            path: backup_dir.display().to_string(),
            message: format!("created a new, empty catalog at {}: if you meant an existing one, check --backup-dir (PGOPS_BACKUP_DIR)", backup_dir.display()),
        });
    }
    remove_stale_partials(&catalog, emitter)?;
    Ok((catalog, lock))
}

/// On a standby: first resumes the replay a killed run left paused (said as
/// `backup.replay_resumed`), then holds replay for this run as `--standby-replay` says.
fn hold_standby(
    plan: &Plan,
    inputs: &Inputs,
    args: &cli::Args,
    catalog: &Catalog,
    emitter: &Emitter,
) -> Result<Option<standby::Hold>, OpsError> {
    if !plan.server.standby {
        return Ok(None);
    }
    if let Some(left) = standby::resume_if_left(&inputs.maintenance, catalog.root())? {
        emitter.send(&report::ReplayResumed {
            pid: left.pid,
            message: format!(
                "replay on this standby was left paused by a run that is gone (pid {}): resumed",
                left.pid
            ),
        });
    }
    standby::hold(&inputs.maintenance, args.standby_replay, catalog.root()).map(Some)
}

/// Says so before dumping when tonight's sets are expected to need more than the catalog's
/// file system has free (`backup.space_low`); the run goes on.
fn warn_if_short_of_space(catalog: &Catalog, plan: &Plan, emitter: &Emitter) {
    let Some(free) = ops_core::disk::space(catalog.root()) else {
        return;
    };
    let need = space::need(catalog, &plan.targets);
    if need.bytes > free.avail_bytes {
        emitter.send(&report::SpaceLow::new(
            catalog.root(),
            need.bytes,
            free.avail_bytes,
            need.estimated,
        ));
    }
}

/// A partial set can only be left by a run that died: we hold the writer lock, so no live
/// run is writing it. Each is reported, then removed.
fn remove_stale_partials(catalog: &Catalog, emitter: &Emitter) -> Result<(), OpsError> {
    let partials = catalog
        .stale_partials()
        .map_err(|e| OpsError::io(format!("scanning {}", catalog.root().display()), &e))?;
    for p in partials {
        let result = catalog::remove_partial(&p);
        emitter.send(&report::PartialRemoved {
            path: p.display().to_string(),
            removed: result.is_ok(),
            message: match &result {
                Ok(()) => "a previous run died mid-backup; its partial set was removed".to_string(),
                Err(e) => format!("could not remove a stale partial set: {e}"),
            },
        });
    }
    Ok(())
}
