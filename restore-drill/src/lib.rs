//! `restore-drill`: a backup is only proven when it has been restored.
//!
//! A drill picks a set ([`choose_set`]), checks its checksum, creates an empty scratch
//! database ([`target`]) on the target server or in a private cluster, streams the archive
//! into pg_restore or psql ([`restore`]), proves the result table by table ([`proof`]),
//! measures RTO (with phases) and RPO, reports, appends the report to the history
//! ([`history`]) and drops the scratch database whatever happens.

pub mod all;
pub mod cli;
pub mod history;
pub mod report;
pub mod target;

// The restore machinery is shared with backup-restore (ops-restore).
pub use ops_offsite::fetch;
pub use ops_restore::{proof, restore};

use ops_catalog::catalog::{Catalog, CheckResult, CheckStatus, CheckedSet, SetKind, Verdict};
use ops_catalog::input;
use ops_catalog::lock::LockMode;
use ops_core::event::{correlation_id_from_env, Emitter, Severity};
use ops_core::event_names as names;
use ops_core::redact::Redactor;
use ops_core::stop::StopSignal;
use ops_core::{timefmt, Category, ExitCode, OpsError};
use ops_pg::conn::ConnSettings;
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

/// Parses the command line and runs. Invalid flags get an event and exit 2.
pub fn main_with_args(argv: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    match ops_core::cli::parse::<cli::Args>(argv, "restore-drill", "drill") {
        Ok(args) => match args.command {
            Some(cli::Command::History(h)) => run_history(&h, &args.drill.catalog.at),
            None if args.drill.all => run_all(&args.drill),
            None => run_drill(&args.drill, &mut std::io::stdin().lock()),
        },
        Err(exit) => exit,
    }
}

fn fail_run(emitter: &Emitter, action: &str, error: OpsError) -> ExitCode {
    ops_core::cli::fail_run(emitter, action, error)
}

/// `--all`: the round's databases drilled one after another ([`all::plan`]); each has its
/// own drill.completed or drill.failed (or drill.skipped: not due, waiting, or could not
/// be drilled, with the error's code); run.finished tallies them. Exit 1 when any drill
/// failed or could not run.
pub fn run_all(args: &cli::DrillArgs) -> ExitCode {
    let emitter = Emitter::stdout("restore-drill", correlation_id_from_env());
    ops_core::scratch::sweep_and_report(&emitter);
    match drill_round(args, &emitter) {
        Ok((exit, summary)) => emitter.finish("drill", exit, summary),
        Err(e) => fail_run(&emitter, "drill", e),
    }
}

/// One `--all` run: plan the round, drill each, tally.
fn drill_round(
    args: &cli::DrillArgs,
    emitter: &Emitter,
) -> Result<(ExitCode, serde_json::Value), OpsError> {
    let root = args
        .catalog
        .at
        .backup_dir
        .clone()
        .ok_or_else(ops_catalog::cli::backup_dir_missing)?;
    if ops_offsite::sets::is_sealed(&root.to_string_lossy()) {
        return Err(OpsError::validation(
            "invalid_argument",
            "--all drills the databases of a local catalog; for a bucket, name each with -d",
        ));
    }
    let catalog = Catalog::new(root.clone());
    let databases: Vec<String> = catalog
        .listing()?
        .set_dirs
        .into_iter()
        .filter_map(|d| d.database)
        .collect();
    if databases.is_empty() {
        return Err(OpsError::validation(
            "no_database",
            format!("{} holds no database's sets", root.display()),
        ));
    }
    let history = history_path(args, &root);
    let (entries, _) = ops_catalog::drills::read(&history)
        .map_err(|e| OpsError::io(format!("reading {}", history.display()), &e))?;
    let due = args
        .due
        .map(|d| jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::MAX));
    let round = all::plan(
        &databases,
        &entries,
        jiff::Timestamp::now(),
        due,
        args.max.map(usize::from),
    );
    for (db, at) in &round.not_due {
        emitter.send(&report::Skipped::not_due(db, *at));
    }
    for db in &round.waiting {
        emitter.send(&report::Skipped::waiting(db));
    }
    let (mut passed, mut failed, mut errors, mut planned) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for db in &round.drill {
        match execute(args, None, Some(db), emitter) {
            Ok(Drilled::Report(r)) => {
                emitter.send(r.as_ref());
                if r.failed() { &mut failed } else { &mut passed }.push(db.clone());
            }
            Ok(Drilled::Planned) => planned.push(db.clone()),
            Err(e) if StopSignal::caused(&e) => return Err(e),
            Err(e) => {
                emitter.send(&report::Skipped::error(db, &e));
                errors.push(db.clone());
            }
        }
    }
    let exit = if failed.is_empty() && errors.is_empty() {
        ExitCode::Ok
    } else {
        ExitCode::Problem
    };
    Ok((
        exit,
        // The counts make the run's words ("2 drills passed, 0 drills failed, …"); the
        // lists name the databases.
        json!({
            "drills_planned": planned.len(),
            "drills_passed": passed.len(),
            "drills_failed": failed.len(),
            // Could not be drilled (drill.skipped with the error).
            "drills_erred": errors.len(),
            // Passed a drill within --due: not due.
            "databases_fresh": round.not_due.len(),
            "databases_waiting": round.waiting.len(),
            "drilled": passed,
            "planned": planned,
            "failed": failed,
            "not_drilled": errors,
            "waiting": round.waiting,
            "dry_run": args.dry_run,
        }),
    ))
}

/// Runs a drill; `stdin` is read only with `-`.
pub fn run_drill(args: &cli::DrillArgs, stdin: &mut dyn std::io::BufRead) -> ExitCode {
    let events = match args.stdin.as_deref() {
        None => None,
        Some("-") => Some(input::read_events(
            stdin,
            &[names::BACKUP_COMPLETED, names::VERIFY_PASSED],
        )),
        Some(other) => {
            let emitter = Emitter::stdout("restore-drill", correlation_id_from_env());
            return fail_run(
                &emitter,
                "drill",
                OpsError::validation(
                    "invalid_argument",
                    format!("unexpected argument {other:?}; use - to read events"),
                ),
            );
        }
    };
    let correlation_id = events
        .as_ref()
        .and_then(|i| i.correlation_id.clone())
        .unwrap_or_else(correlation_id_from_env);
    let emitter = Emitter::stdout("restore-drill", correlation_id);
    // A producer that failed or never finished (`pgdump-run … | restore-drill -`): a set it
    // named is still drilled, and the run fails with the producer's own words; naming
    // none is its failure, never "no set to drill".
    let upstream = events.as_ref().and_then(|i| i.upstream_problem());
    let report_upstream = |exit| input::report_upstream(&emitter, upstream.as_ref(), exit);
    let names_a_database = |i: &input::Input| i.sets.iter().any(|s| s.kind == SetKind::Database);
    if upstream.is_some() && events.as_ref().is_some_and(|i| !names_a_database(i)) {
        return emitter.finish("drill", report_upstream(ExitCode::Ok), json!({}));
    }
    // What a drill killed before left in the temporary directory (decrypted sets,
    // unpacked archives).
    ops_core::scratch::sweep_and_report(&emitter);
    match execute(args, events.as_ref(), None, &emitter) {
        Ok(Drilled::Planned) => emitter.finish("drill", ExitCode::Ok, json!({"dry_run": true})),
        Ok(Drilled::Report(report)) => {
            emitter.send(report.as_ref());
            let exit = if report.failed() {
                ExitCode::Problem
            } else {
                ExitCode::Ok
            };
            let summary = report::Summary::of(&report);
            emitter.finish("drill", report_upstream(exit), summary)
        }
        Err(error) => {
            let exit = report_upstream(error.category.run_exit_code());
            ops_core::cli::fail_run_as(&emitter, "drill", error, exit, json!({}))
        }
    }
}

/// The set to drill: named on stdin, by `--backup-id`, or the newest usable set (see
/// [`ops_catalog::catalog::Rejection`]) that did not fail verification. A named set must pass the same
/// rule: a set copied into another database's directory is never restored as that database.
pub fn choose_set(
    catalog: &Catalog,
    db: &str,
    backup_id: Option<&str>,
    events: Option<&input::Input>,
) -> Result<CheckedSet, OpsError> {
    let dir = catalog.set_dir(Some(db));
    let by_id = |id: &str| -> Result<CheckedSet, OpsError> {
        if timefmt::parse_set_id(id).is_none() {
            return Err(OpsError::validation(
                "invalid_set_id",
                format!("{id:?} is not a set id"),
            ));
        }
        // Asked for by name, a set from the future may be drilled (its bytes are what they
        // are); its place, manifest and files must pass the one rule all the same.
        match dir.set_named(id) {
            None => Err(OpsError::validation(
                "set_not_found",
                format!(
                    "database {db:?} has no complete set {id}; it has {}",
                    dir.scan(jiff::Timestamp::now()).map_or_else(
                        |_| "sets that cannot be listed".into(),
                        |s| ops_catalog::catalog::sets_text(&s)
                    )
                ),
            )),
            Some(Err(r)) => Err(OpsError::new(
                r.why.code(),
                Category::Integrity,
                format!(
                    "set {id} of database {db:?} is not a usable set: {}",
                    r.reason
                ),
            )),
            Some(Ok(s)) => Ok(s),
        }
    };
    if let Some(input) = events {
        let named = input
            .sets
            .iter()
            .find(|s| s.kind == SetKind::Database && s.database == db)
            .ok_or_else(|| {
                OpsError::new(
                    "no_set",
                    Category::Integrity,
                    format!(
                        "no backup.completed or verify.passed event on stdin names database {db:?}"
                    ),
                )
            })?;
        return by_id(&named.id);
    }
    if !dir.path.is_dir() {
        let dirs = catalog.listing()?.set_dirs;
        return Err(ops_catalog::catalog::database_not_in_catalog(
            db,
            &dirs,
            "nothing was drilled",
        ));
    }
    if let Some(id) = backup_id {
        return by_id(id);
    }
    let sets = dir
        .scan(jiff::Timestamp::now())
        .map_err(|e| OpsError::io(format!("listing {}", dir.path.display()), &e))?;
    let rejected = sets.rejected.len();
    sets.sets
        .into_iter()
        .rev()
        .find(|s| !s.set.read_verify().is_some_and(|r| r.verdict == Verdict::Fail))
        .ok_or_else(|| {
            let also = if rejected > 0 {
                format!(" ({rejected} director(ies) named like sets are not usable sets: see backup-verify)")
            } else {
                String::new()
            };
            OpsError::new(
                "no_set",
                Category::Integrity,
                format!("database {db:?} has no usable set that did not fail verification{also}"),
            )
        })
}

/// `no_client_pair`: no installed pg_restore can put this archive into the target.
fn no_pair(
    installs: &[ops_pg::programs::Install],
    archive_major: u32,
    target_major: Option<u32>,
    source_major: u32,
) -> OpsError {
    let have: Vec<String> = installs
        .iter()
        .map(|i| format!("{} ({})", i.major, i.dir.display()))
        .collect();
    let target = match target_major {
        Some(t) => format!("a PostgreSQL {t} server"),
        None => format!("a private cluster of PostgreSQL {source_major} or newer"),
    };
    OpsError::new(
        "no_client_pair",
        Category::Dependency,
        format!(
            "no installed PostgreSQL can restore this archive (written by pg_dump {archive_major}) into {target}: a pg_restore of at least {archive_major} that the server accepts is needed (installed: {}); see ADR 0006",
            if have.is_empty() { "none".to_string() } else { have.join(", ") }
        ),
    )
}

fn ms(t: Instant) -> u64 {
    t.elapsed().as_millis() as u64
}

fn check(name: &str, ok: bool, reason: impl Into<String>) -> CheckResult {
    CheckResult {
        name: name.into(),
        status: if ok {
            CheckStatus::Pass
        } else {
            CheckStatus::Fail
        },
        reason: reason.into(),
    }
}

/// What a drill works from, resolved from the flags and the events on stdin.
struct Inputs {
    root: PathBuf,
    settings: ConnSettings,
    db: String,
    redactor: Redactor,
    check_sql: Option<String>,
}

/// `database`: `--all`'s database of this drill, a name from the catalog (never read as a
/// connection string).
fn resolve_inputs(
    args: &cli::DrillArgs,
    events: Option<&input::Input>,
    database: Option<&str>,
) -> Result<Inputs, OpsError> {
    let root: PathBuf = match (
        &args.catalog.at.backup_dir,
        events.and_then(|e| e.catalog_root()),
    ) {
        (Some(d), _) => d.clone(),
        (None, Some(r)) => r,
        (None, None) => return Err(ops_catalog::cli::backup_dir_missing()),
    };
    // `-d` is a name, a conninfo or a URI, as for pg_dump: the database is what it names,
    // never the string itself (which may hold a password).
    let settings = match database {
        Some(db) => ConnSettings::resolve(&args.conn.flags(None))?.for_database(db),
        None => ConnSettings::resolve(&args.conn.flags(args.dbname.clone()))?,
    };
    let db = match (&args.dbname, events) {
        _ if database.is_some() => settings.effective_dbname(),
        (Some(_), _) => settings.effective_dbname(),
        (None, Some(i)) => i
            .sets
            .iter()
            .find(|s| s.kind == SetKind::Database)
            .map(|s| s.database.clone())
            .ok_or_else(|| {
                OpsError::new(
                    "no_set",
                    Category::Integrity,
                    "no database set named on stdin",
                )
            })?,
        (None, None) => {
            return Err(OpsError::validation(
                "no_database",
                "which database? pass -d DB",
            ))
        }
    };
    let check_sql = match &args.check_sql {
        Some(p) => Some(std::fs::read_to_string(p).map_err(|e| {
            OpsError::validation("invalid_check_sql", format!("{}: {e}", p.display()))
        })?),
        None => None,
    };
    Ok(Inputs {
        root,
        redactor: Redactor::new(settings.secrets()),
        settings,
        db,
        check_sql,
    })
}

/// Phase 1: the archive's size and SHA-256 against the manifest (every file of a
/// directory archive, several at once), before anything is created or restored.
fn checksum(set: &std::path::Path, m: &ops_catalog::catalog::Manifest) -> CheckResult {
    let files = m.archive_files();
    let sums = ops_core::parallel::map(files, ops_core::parallel::cores(), |f| {
        ops_catalog::codec::sha256_file(&set.join(&f.name))
    });
    let wrong: Vec<String> = files
        .iter()
        .zip(&sums)
        .filter_map(|(file, sum)| match sum {
            Ok((n, sha)) if *n == file.bytes && *sha == file.sha256 => None,
            Ok((n, sha)) => Some(format!(
                "{}: {n} bytes with SHA-256 {sha}; the manifest says {} bytes, {}",
                file.name, file.bytes, file.sha256
            )),
            Err(e) => Some(format!(
                "cannot read {}: {e}",
                set.join(&file.name).display()
            )),
        })
        .collect();
    let bytes: u64 = files.iter().map(|f| f.bytes).sum();
    check(
        "checksum",
        wrong.is_empty() && !files.is_empty(),
        match (wrong.first(), files) {
            (Some(first), _) if wrong.len() == 1 => first.clone(),
            (Some(first), _) => format!("{first} (and {} more files)", wrong.len() - 1),
            (None, [one]) => format!("{bytes} bytes, SHA-256 {}", one.sha256),
            (None, _) => format!("{bytes} bytes in {} files, each its SHA-256", files.len()),
        },
    )
}

/// The target: client tools per server major (ops_pg::programs), chosen before anything is
/// created (when no pair can restore this archive there, the drill says so), then the
/// scratch database, on the server (after sweeping what killed drills left) or in a
/// private cluster.
fn prepare(
    args: &cli::DrillArgs,
    inputs: &Inputs,
    manifest: &ops_catalog::catalog::Manifest,
    started_at: jiff::Timestamp,
    emitter: &Emitter,
) -> Result<(target::Scratch, restore::Programs), OpsError> {
    let archive_major = ops_pg::programs::major_of(&manifest.pg_dump_version);
    let source_major = ops_pg::programs::major_of(&manifest.server_version);
    let (place, programs) = if args.ephemeral {
        // A private cluster needs a server: every installation, --pg-bin-dir's too.
        let installs = ops_pg::programs::installations_and(args.pg_bin.pg_bin_dir.as_deref());
        let (server, client) =
            ops_pg::programs::pick_ephemeral(&installs, source_major, archive_major)
                .ok_or_else(|| no_pair(&installs, archive_major, None, source_major))?;
        let place = target::Place::Ephemeral(ops_pg::cluster::LocalCluster::start(
            &server.dir,
            &ops_pg::cluster::Options::default(),
        )?);
        (place, restore::Programs::of(client))
    } else {
        let admin = inputs.settings.for_database("postgres");
        let target_major = target::server_major(&admin)?;
        let installs = ops_pg::programs::installations(args.pg_bin.pg_bin_dir.as_deref());
        let client = ops_pg::programs::pick_restore(&installs, archive_major, target_major)
            .ok_or_else(|| no_pair(&installs, archive_major, Some(target_major), source_major))?;
        for left in target::sweep_leftovers(&admin)? {
            emitter.emit(
                names::DRILL_LEFTOVER,
                left.action.severity(),
                serde_json::to_value(&left).expect("leftovers serialize"),
            );
        }
        (target::Place::Server(admin), restore::Programs::of(client))
    };
    let scratch = target::Scratch::create(
        place,
        target::scratch_name(&inputs.db, started_at),
        &inputs.db,
        args.keep,
    )?;
    Ok((scratch, programs))
}

/// The `tables` check from the counts and digests: pure.
fn tables_check(
    counts: &[proof::TableCount],
    total_rows: u64,
) -> (CheckResult, Vec<proof::TableCount>) {
    let mismatches: Vec<proof::TableCount> =
        counts.iter().filter(|c| !c.matches()).cloned().collect();
    let (passed, reason) = proof::tables_verdict(counts, total_rows);
    (check("tables", passed, reason), mismatches)
}

/// Phase 3: the proof in the restored database: every table's rows and values, the large
/// objects, the operator's `--check-sql`.
fn prove(
    scratch: &ConnSettings,
    manifest: &ops_catalog::catalog::Manifest,
    check_sql: Option<&str>,
) -> Result<(Vec<CheckResult>, Vec<proof::TableCount>), OpsError> {
    let mut client = scratch.connect()?;
    let counts = proof::count_tables(&mut client, manifest);
    let (tables, mismatches) = tables_check(&counts, manifest.total_rows());
    let los = proof::large_objects(&mut client)?;
    let mut checks = vec![
        tables,
        check(
            "large_objects",
            los == manifest.large_objects,
            format!(
                "{los} large objects, manifest says {}",
                manifest.large_objects
            ),
        ),
    ];
    if let Some(text) = check_sql {
        checks.extend(proof::check_sql(&mut client, text));
    }
    Ok((checks, mismatches))
}

/// What a drill found, for its report.
#[derive(Default)]
struct Findings {
    checks: Vec<CheckResult>,
    phases: std::collections::BTreeMap<String, u64>,
    mismatches: Vec<proof::TableCount>,
    live: Option<Vec<proof::LiveDiff>>,
    target: Option<report::Target>,
}

/// What a drill run produced: its report, or with `--dry-run` only its plan (emitted).
enum Drilled {
    Report(Box<report::DrillReport>),
    Planned,
}

/// Resolve (inputs, the catalog wherever it lies, the set) → plan (`--dry-run` reports it)
/// → check, restore and prove → report, and record it in the drill history.
fn execute(
    args: &cli::DrillArgs,
    events: Option<&input::Input>,
    database: Option<&str>,
    emitter: &Emitter,
) -> Result<Drilled, OpsError> {
    let started = Instant::now();
    let started_at = jiff::Timestamp::now();
    let inputs = resolve_inputs(args, events, database)?;
    // Installed first: a signal from here on stops the drill and drops its scratch.
    let stop = StopSignal::install(None)?;
    let source = fetch::source(
        &fetch::Want {
            location: &inputs.root,
            db: &inputs.db,
            backup_id: args.backup_id.as_deref(),
            with_globals: args.with_owners,
            trust: &args.trust,
            identity: &args.identity,
        },
        emitter,
    )?;
    // Shared: rotation cannot delete the set while it is being restored.
    let (catalog, _lock) = Catalog::open(
        &source.root,
        LockMode::Shared,
        args.catalog.lock.lock_timeout,
    )?;
    let catalog = catalog.with_trust(args.trust.load()?);
    let chosen = choose_set(&catalog, &inputs.db, args.backup_id.as_deref(), events)?;
    let file = chosen.manifest.dump_file()?;
    if args.dry_run {
        report_planned(args, &inputs, &chosen, file, started_at, emitter);
        return Ok(Drilled::Planned);
    }
    let mut f = Findings::default();
    if let Some(r) = &source.fetched {
        f.phases.insert("download_ms".into(), r.download_ms);
    }
    let t = Instant::now();
    let archive = chosen.set.path.join(&file.name);
    let sum = checksum(&chosen.set.path, &chosen.manifest);
    f.phases.insert("checksum_ms".into(), ms(t));
    let sum_ok = sum.status == CheckStatus::Pass;
    f.checks.push(sum);
    if sum_ok {
        let drilled = Drill {
            args,
            inputs: &inputs,
            catalog: &catalog,
            chosen: &chosen,
            archive: &archive,
            started_at,
            stop: &stop,
        };
        drilled.restore_and_prove(&mut f, emitter)?;
    }
    let mut report = report(
        args,
        &inputs.db,
        &chosen.set,
        &chosen.manifest,
        started_at,
        ms(started),
        f,
    );
    if let Some(r) = &source.fetched {
        report.path = r.path.clone();
        report.downloaded_bytes = Some(r.bytes);
        keep_proof(args, r, &mut report, emitter);
    }
    record_history(args, &inputs, source.fetched.is_some(), &report, emitter);
    Ok(Drilled::Report(Box::new(report)))
}

/// A drill of a sealed set keeps its signed proof beside the set in the bucket, so that the
/// drill history survives the host; a drill without a signing key says why it kept none.
fn keep_proof(
    args: &cli::DrillArgs,
    fetched: &ops_offsite::fetch::Fetched,
    report: &mut report::DrillReport,
    emitter: &Emitter,
) {
    let by = ops_catalog::sets::ProofBy {
        tool: "restore-drill",
        version: ops_core::cli::VERSION,
        correlation_id: emitter.correlation_id(),
    };
    let kept = args
        .signing
        .load()
        .and_then(|key| ops_offsite::proofs::keep(fetched, &report.proof(), &by, key.as_ref()));
    match kept {
        Ok(place) => report.proof = Some(place),
        Err(e) => {
            eprintln!("restore-drill: no proof kept in the bucket: {}", e.message);
            report.proof_error = Some(e.code);
        }
    }
}

/// `--dry-run`: what the drill would restore, where, and against which target.
fn report_planned(
    args: &cli::DrillArgs,
    inputs: &Inputs,
    chosen: &CheckedSet,
    file: &ops_catalog::catalog::FileEntry,
    started_at: jiff::Timestamp,
    emitter: &Emitter,
) {
    let target = if args.ephemeral {
        report::Target {
            kind: "ephemeral",
            database: inputs.db.clone(),
            kept: None,
        }
    } else {
        report::Target {
            kind: "server",
            database: target::scratch_name(&inputs.db, started_at),
            kept: None,
        }
    };
    emitter.send(&report::Planned {
        database: &inputs.db,
        id: &chosen.set.id,
        path: chosen.set.path.display().to_string(),
        bytes: file.bytes,
        tables: chosen.manifest.tables.len(),
        rows: chosen.manifest.total_rows(),
        target,
        with_owners: args.with_owners,
        jobs: args.jobs.jobs,
        rto_target_ms: args.rto_target.as_millis() as u64,
    });
}

/// The drill history of a local catalog: `--history`, or the catalog's own file.
fn history_path(args: &cli::DrillArgs, root: &std::path::Path) -> PathBuf {
    args.history
        .clone()
        .unwrap_or_else(|| root.join(ops_catalog::drills::DRILLS_FILE))
}

/// Appends the drill's line to the history: `--history`, or the catalog's own file. A
/// sealed catalog takes no history file: a drill of one records where it is told to.
fn record_history(
    args: &cli::DrillArgs,
    inputs: &Inputs,
    fetched: bool,
    report: &report::DrillReport,
    emitter: &Emitter,
) {
    let history = match (&args.history, fetched) {
        (None, true) => return,
        _ => history_path(args, &inputs.root),
    };
    let line = report::HistoryLine {
        v: 1,
        report,
        correlation_id: emitter.correlation_id(),
    };
    if let Err(e) = history::append(&history, &line) {
        eprintln!(
            "restore-drill: could not append to {}: {e}",
            history.display()
        );
    }
}

/// One drill of a set whose checksum passed: what it needs to restore and prove it.
struct Drill<'a> {
    args: &'a cli::DrillArgs,
    inputs: &'a Inputs,
    catalog: &'a Catalog,
    chosen: &'a CheckedSet,
    archive: &'a std::path::Path,
    started_at: jiff::Timestamp,
    stop: &'a StopSignal,
}

impl Drill<'_> {
    /// Prepares the scratch database, restores into it, proves it and drops it, timing each
    /// phase into `f`. `Err` only when the run must stop (a signal, the server gone).
    fn restore_and_prove(&self, f: &mut Findings, emitter: &Emitter) -> Result<(), OpsError> {
        let (args, manifest) = (self.args, &self.chosen.manifest);
        let t = Instant::now();
        let (mut scratch, programs) =
            prepare(args, self.inputs, manifest, self.started_at, emitter)?;
        f.phases.insert("prepare_ms".into(), ms(t));
        let kept = scratch.kept();
        let t = Instant::now();
        // The proof runs as soon as the data is in, beside the index builds.
        let into = scratch.settings();
        let check_sql = self.inputs.check_sql.as_deref();
        let proving = || {
            let t = Instant::now();
            (prove(&into, manifest, check_sql), ms(t))
        };
        let restored = self.restore(&scratch, &programs, proving);
        f.phases.insert("restore_ms".into(), ms(t));
        match restored {
            Err(e) if StopSignal::caused(&e) => return Err(e), // the scratch drops on the way out
            Err(e) => f.checks.push(check("restore", false, e.message)),
            Ok((proven, checks_ms)) => {
                f.checks.push(check(
                    "restore",
                    true,
                    format!(
                        "{} restored into {}",
                        self.archive
                            .file_name()
                            .map(|n| n.to_string_lossy())
                            .unwrap_or_default(),
                        scratch.name
                    ),
                ));
                let t = Instant::now();
                let (checks, mismatches) = proven?;
                f.checks.extend(checks);
                f.mismatches = mismatches;
                if args.compare_live {
                    let mut source = self
                        .inputs
                        .settings
                        .for_database(&self.inputs.db)
                        .connect()?;
                    f.live = Some(proof::compare_live(&mut source, manifest));
                }
                // The proof's own time (it overlapped the restore's last section), and
                // what ran after the restore.
                f.phases.insert("checks_ms".into(), checks_ms + ms(t));
            }
        }
        let t = Instant::now();
        let dropped = scratch.drop_now();
        f.phases.insert("cleanup_ms".into(), ms(t));
        if let Err(e) = dropped {
            f.checks.push(check("cleanup", false, e.message));
        }
        let kind = if scratch.is_ephemeral() {
            "ephemeral"
        } else {
            "server"
        };
        f.target = Some(report::Target {
            kind,
            database: scratch.name.clone(),
            kept: Some(kept),
        });
        Ok(())
    }

    /// The restore: the newest globals first (with `--with-owners`), then the set, with
    /// `prove` run as soon as its data is in.
    fn restore<T: Send>(
        &self,
        scratch: &target::Scratch,
        programs: &restore::Programs,
        prove: impl FnOnce() -> T + Send,
    ) -> Result<T, OpsError> {
        let restore = restore::Restore {
            programs,
            target: scratch.settings(),
            jobs: self.args.jobs.jobs,
            with_owners: self.args.with_owners,
            stop: self.stop,
            redactor: &self.inputs.redactor,
        };
        let globals = self
            .args
            .with_owners
            .then(|| newest_globals(self.catalog))
            .flatten();
        if let Some((g, gf)) = globals
            .as_ref()
            .and_then(|g| g.manifest.files.first().map(|gf| (g, gf)))
        {
            restore.globals(
                &g.set.path.join(&gf.name),
                &g.manifest,
                &scratch.admin_settings(),
            )?;
        }
        restore.run_proving(self.archive, &self.chosen.manifest, prove)
    }
}

/// The drill's report: the RTO check last, the verdict from every check. Pure.
fn report(
    args: &cli::DrillArgs,
    db: &str,
    set: &ops_catalog::catalog::SetRef,
    manifest: &ops_catalog::catalog::Manifest,
    started_at: jiff::Timestamp,
    rto_ms: u64,
    mut f: Findings,
) -> report::DrillReport {
    let rto_target_ms = args.rto_target.as_millis() as u64;
    f.checks.push(check(
        "rto",
        rto_ms <= rto_target_ms,
        format!("{rto_ms} ms against a target of {rto_target_ms} ms"),
    ));
    let failed: Vec<String> = f
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Fail)
        .map(|c| c.name.clone())
        .collect();
    report::DrillReport {
        started_at: timefmt::rfc3339(started_at),
        finished_at: timefmt::now_rfc3339(),
        database: db.to_string(),
        id: set.id.clone(),
        path: set.path.display().to_string(),
        result: if failed.is_empty() {
            "completed"
        } else {
            "failed"
        },
        failed,
        target: f.target,
        rto_ms,
        rto_target_ms,
        rpo_s: timefmt::seconds_between(set.started(), started_at),
        rpo_ms: started_at.duration_since(set.started()).as_millis() as i64,
        phases: f.phases,
        checks: f.checks,
        mismatches: f.mismatches,
        bytes: manifest.files.iter().map(|f| f.raw_bytes).sum(),
        tables: manifest.tables.len(),
        rows: manifest.total_rows(),
        compare_live: f.live.map(report::Live::of),
        downloaded_bytes: None,
        proof: None,
        proof_error: None,
    }
}

fn run_history(args: &cli::HistoryArgs, at: &ops_catalog::cli::BackupDirArgs) -> ExitCode {
    let emitter = Emitter::stdout("restore-drill", correlation_id_from_env());
    let path = match (&args.history, &at.backup_dir) {
        (Some(h), _) => h.clone(),
        (None, Some(d)) => d.join(ops_catalog::drills::DRILLS_FILE),
        (None, None) => {
            return fail_run(
                &emitter,
                "history",
                OpsError::validation("backup_dir_missing", "pass --history FILE or --backup-dir"),
            );
        }
    };
    let (mut entries, unreadable) = match history::read(&path) {
        Ok(r) => r,
        Err(e) => {
            return fail_run(
                &emitter,
                "history",
                OpsError::io(format!("reading {}", path.display()), &e),
            )
        }
    };
    if let Some(since) = args.since {
        let cutoff = jiff::Timestamp::now()
            .checked_sub(since)
            .unwrap_or(jiff::Timestamp::MIN);
        entries.retain(|e| timefmt::parse_rfc3339(&e.started_at).is_some_and(|t| t >= cutoff));
    }
    let months = history::monthly(&entries);
    for m in &months {
        emitter.emit(
            names::DRILL_MONTH,
            Severity::Info,
            serde_json::to_value(m).expect("months serialize"),
        );
    }
    emitter.finish(
        "history",
        ExitCode::Ok,
        json!({"drills": entries.len(), "months": months.len(), "unreadable_lines": unreadable}),
    )
}

pub use ops_restore::newest_globals;
