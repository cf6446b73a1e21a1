//! backup-restore: put a database back from a backup set (#13).
//!
//! [`choose`] picks the set (the newest that passed verification), [`plan::plan`] decides
//! what happens to the target from its state and the flags (pure), and `execute` runs the
//! steps: globals first when asked, then create or drop, pg_restore, a recount of every
//! table against the manifest, and for `--swap` the renames only once the restored
//! database is proven. The restore machinery is ops-restore's, shared with restore-drill.

pub mod cli;
pub mod plan;
pub mod report;
pub mod server;
pub mod tables;

use ops_catalog::catalog::{self, Catalog, CheckedSet, Verdict};
use ops_catalog::lock::LockMode;
use ops_core::event::{correlation_id_from_env, Emitter};
use ops_core::event_names as names;
use ops_core::redact::Redactor;
use ops_core::stop::StopSignal;
use ops_core::{Category, ExitCode, OpsError};
use ops_pg::conn::ConnSettings;
use ops_restore::{proof, restore};
use plan::{Mode, Plan, Step};
use serde_json::json;
use std::time::Instant;

/// Parses the command line and runs.
pub fn main_with_args(argv: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    match ops_core::cli::parse::<cli::Args>(argv, "backup-restore", "restore") {
        Ok(args) => run(&args),
        Err(exit) => exit,
    }
}

/// What a run ended with.
enum Outcome {
    Planned,
    Restored(report::Summary),
    /// The restore ran but its proof failed (its event says which tables).
    Failed,
}

/// Runs with parsed flags; returns the exit code.
pub fn run(args: &cli::Args) -> ExitCode {
    let emitter = Emitter::stdout("backup-restore", correlation_id_from_env());
    // What a restore killed before left in the temporary directory (decrypted sets).
    ops_core::scratch::sweep_and_report(&emitter);
    match execute(args, &emitter) {
        Ok(Outcome::Planned) => emitter.finish("restore", ExitCode::Ok, json!({"dry_run": true})),
        Ok(Outcome::Restored(summary)) => emitter.finish("restore", ExitCode::Ok, summary),
        Ok(Outcome::Failed) => emitter.finish("restore", ExitCode::Problem, json!({})),
        Err(e) => ops_core::cli::fail_run(&emitter, "restore", e),
    }
}

/// The set to restore: `--backup-id`, else the newest that passed verification (with
/// `--unverified`, the newest that did not fail). A set that failed is never restored.
pub fn choose(
    catalog: &Catalog,
    db: &str,
    backup_id: Option<&str>,
    unverified: bool,
) -> Result<CheckedSet, OpsError> {
    let dir = catalog.set_dir(Some(db));
    if !dir.path.is_dir() {
        let dirs = catalog.listing()?.set_dirs;
        return Err(catalog::database_not_in_catalog(
            db,
            &dirs,
            "nothing was restored",
        ));
    }
    let acceptable = |s: &CheckedSet| match s.set.read_verify().map(|r| r.verdict) {
        Some(Verdict::Pass) => true,
        Some(_) => false,
        None => unverified,
    };
    let scan = || {
        dir.scan(jiff::Timestamp::now())
            .map_err(|e| OpsError::io_at("listing", &dir.path, &e))
    };
    let chosen = match backup_id {
        Some(id) => match dir.set_named(id) {
            Some(Ok(s)) if acceptable(&s) => Some(s),
            Some(Ok(_)) => {
                return Err(OpsError::new(
                    "set_not_verified",
                    Category::Integrity,
                    format!("set {id} of {db:?} has not passed verification: run backup-verify, or pass --unverified (a failed set is never restored)"),
                ))
            }
            Some(Err(r)) => {
                return Err(OpsError::new(r.why.code(), Category::Integrity, r.reason))
            }
            None => {
                return Err(OpsError::validation(
                    "set_not_found",
                    format!(
                        "database {db:?} has no set {id}; it has {}",
                        catalog::sets_text(&scan()?)
                    ),
                ))
            }
        },
        None => scan()?.newest_where(acceptable).cloned(),
    };
    chosen.ok_or_else(|| {
        OpsError::new(
            "no_set",
            Category::Integrity,
            format!(
                "no set of {db:?} {} in {}; it has {}",
                if unverified {
                    "that did not fail verification"
                } else {
                    "has passed verification (run backup-verify, or pass --unverified)"
                },
                catalog.root().display(),
                scan().map_or_else(
                    |_| "sets that cannot be listed".into(),
                    |s| catalog::sets_text(&s)
                )
            ),
        )
    })
}

/// What the flags name, settled before any download or connection.
struct Resolved {
    location: std::path::PathBuf,
    settings: ConnSettings,
    /// The database whose set is restored (as the connection resolved it).
    db: String,
    /// Where it is restored: `--target`, or the database itself.
    target: String,
    mode: Mode,
    admin: ConnSettings,
}

impl Resolved {
    fn of(args: &cli::Args) -> Result<Resolved, OpsError> {
        let location = args.catalog.dir()?.to_path_buf();
        let settings = ConnSettings::resolve(&args.conn.flags(Some(args.dbname.clone())))?;
        let db = settings.effective_dbname();
        let target = args.target.clone().unwrap_or_else(|| db.clone());
        let mode = match (args.clean, args.swap) {
            (true, _) => Mode::Clean,
            (_, true) => Mode::Swap,
            _ => Mode::Refuse,
        };
        // Before any work (no download, no connection): a target never to touch.
        plan::check_target(&target, args.target.is_some(), mode)?;
        Ok(Resolved {
            location,
            admin: settings.for_database("postgres"),
            settings,
            db,
            target,
            mode,
        })
    }
}

/// Resolve → the set, wherever it lies → plan (a value; `--dry-run` reports it, a
/// refusal included) → execute → report.
fn execute(args: &cli::Args, emitter: &Emitter) -> Result<Outcome, OpsError> {
    let started = Instant::now();
    let stamp = ops_core::timefmt::set_id(jiff::Timestamp::now());
    let r = Resolved::of(args)?;
    let wanted = tables::wanted(args)?;
    let source = ops_offsite::fetch::source(
        &ops_offsite::fetch::Want {
            location: &r.location,
            db: &r.db,
            backup_id: args.backup_id.as_deref(),
            with_globals: args.globals,
            trust: &args.trust,
            identity: &args.identity,
        },
        emitter,
    )?;
    // Shared: rotation cannot delete the set while it is restored.
    let (catalog, _lock) = Catalog::open(
        &source.root,
        LockMode::Shared,
        args.catalog.lock.lock_timeout,
    )?;
    let catalog = catalog.with_trust(args.trust.load()?);
    let chosen = choose(
        &catalog,
        &r.db,
        args.backup_id.as_deref(),
        args.unverified || source.fetched.is_some(),
    )?;
    if !args.dry_run {
        sweep_leftovers(&r.admin, emitter)?;
    }
    let path = source
        .fetched
        .as_ref()
        .map_or_else(|| chosen.set.path.display().to_string(), |f| f.path.clone());
    if let Some(wanted) = &wanted {
        return some_tables(args, &r, &chosen, path, &stamp, wanted, emitter);
    }
    let state = server::state(&r.admin, &r.target)?;
    let plan = match plan::plan(&r.target, state, r.mode, args.globals, &stamp) {
        // A dry run shows what would happen, a refusal included, with the ways around it.
        Err(e) if args.dry_run => {
            emitter.send(&refused(&r, &chosen, path, e));
            return Ok(Outcome::Planned);
        }
        planned => planned?,
    };
    let described = describe(&r, &plan, &chosen, path)?;
    if args.dry_run {
        emitter.send(&described);
        return Ok(Outcome::Planned);
    }
    let globals = args
        .globals
        .then(|| ops_restore::newest_globals(&catalog))
        .flatten();
    let executed = apply(
        args,
        &plan,
        &chosen,
        globals.as_ref(),
        &r.admin,
        &r.settings,
    )?;
    let mut restored = report(
        described,
        &executed,
        &chosen,
        source.fetched.as_ref(),
        started,
    );
    if let Some(fetched) = &source.fetched {
        keep_proof(args, fetched, &chosen, &r.target, &mut restored, emitter);
    }
    emitter.send(&restored);
    Ok(if restored.mismatches.is_empty() {
        Outcome::Restored(report::Summary {
            set: chosen.set.id.clone(),
            into: r.target.clone(),
            old_database_kept_as: plan.kept_as.clone(),
            sessions_ended: executed.sessions_ended,
        })
    } else {
        Outcome::Failed
    })
}

/// `--table`/`--schema`: those tables back beside the live ones, proven, swapped in when
/// asked ([`tables`]).
fn some_tables(
    args: &cli::Args,
    r: &Resolved,
    chosen: &CheckedSet,
    path: String,
    stamp: &str,
    wanted: &ops_restore::select::Wanted,
    emitter: &Emitter,
) -> Result<Outcome, OpsError> {
    let job = tables::Job {
        args,
        admin: &r.admin,
        settings: &r.settings,
        db: &r.db,
        target: &r.target,
        chosen,
        path,
        stamp,
    };
    let restored = tables::execute(&job, wanted, emitter)?;
    emitter.send(&restored);
    Ok(if args.dry_run {
        Outcome::Planned
    } else if restored.mismatches.is_empty() {
        Outcome::Restored(report::Summary {
            set: chosen.set.id.clone(),
            into: format!("{} (schema {})", r.target, restored.into_schema),
            old_database_kept_as: restored.old_tables_in.clone(),
            sessions_ended: 0,
        })
    } else {
        Outcome::Failed
    })
}

/// A restore of a sealed set keeps its signed proof beside the set in the bucket; without
/// a signing key it says why it kept none. The restore's result stands either way.
fn keep_proof(
    args: &cli::Args,
    fetched: &ops_offsite::fetch::Fetched,
    chosen: &CheckedSet,
    target: &str,
    restored: &mut report::Restored<'_>,
    emitter: &Emitter,
) {
    let by = ops_catalog::sets::ProofBy {
        tool: "backup-restore",
        version: ops_core::cli::VERSION,
        correlation_id: emitter.correlation_id(),
    };
    let rpo = ops_core::timefmt::seconds_between(chosen.set.started(), jiff::Timestamp::now());
    let proof = restored.proof(target, rpo as f64);
    let kept = args
        .signing
        .load()
        .and_then(|key| ops_offsite::proofs::keep(fetched, &proof, &by, key.as_ref()));
    match kept {
        Ok(place) => restored.proof = Some(place),
        Err(e) => {
            eprintln!("backup-restore: no proof kept in the bucket: {}", e.message);
            restored.proof_error = Some(e.code);
        }
    }
}

/// What a `--swap` killed before left: its side database, dropped once provably ownerless
/// (ops_restore::owned), else reported.
fn sweep_leftovers(admin: &ConnSettings, emitter: &Emitter) -> Result<(), OpsError> {
    for l in ops_restore::owned::sweep(admin, &server::SIDE)? {
        emitter.emit(
            names::RESTORE_LEFTOVER,
            l.action.severity(),
            serde_json::to_value(&l).expect("leftovers serialize"),
        );
    }
    Ok(())
}

/// A dry run's plan that would be refused: shown, with the ways around it, not failed.
fn refused<'a>(
    r: &'a Resolved,
    chosen: &'a CheckedSet,
    path: String,
    e: OpsError,
) -> report::Described<'a> {
    report::Described {
        database: &r.db,
        id: &chosen.set.id,
        path,
        target: &r.target,
        kept_as: None,
        steps: Vec::new(),
        sessions_to_end: None,
        refused: Some(report::Refused {
            code: e.code,
            message: e.message,
        }),
    }
}

/// The plan as people read it: what is restored where, its steps, and the sessions
/// `--clean` or `--swap` will end (said before they are).
fn describe<'a>(
    r: &'a Resolved,
    plan: &'a Plan,
    chosen: &'a CheckedSet,
    path: String,
) -> Result<report::Described<'a>, OpsError> {
    let ends_sessions = plan
        .steps
        .iter()
        .any(|s| matches!(s, Step::Drop(d) | Step::Rename { from: d, .. } if *d == r.target));
    Ok(report::Described {
        database: &r.db,
        id: &chosen.set.id,
        path,
        target: &r.target,
        kept_as: plan.kept_as.as_deref(),
        steps: plan.steps.iter().map(report::StepText::of).collect(),
        sessions_to_end: if ends_sessions {
            Some(server::sessions(&r.admin, &r.target)?)
        } else {
            None
        },
        refused: None,
    })
}

/// The restore's report: the plan as described, the recount against the manifest, the
/// time it took. A mismatch fails it. Pure.
fn report<'a>(
    described: report::Described<'a>,
    executed: &'a Executed,
    chosen: &CheckedSet,
    fetched: Option<&ops_offsite::fetch::Fetched>,
    started: Instant,
) -> report::Restored<'a> {
    let counted = &executed.counted;
    let roles = executed.roles.as_ref();
    report::Restored {
        described,
        rto_ms: started.elapsed().as_millis() as u64,
        download_ms: fetched.map(|f| f.download_ms),
        downloaded_bytes: fetched.map(|f| f.bytes),
        roles_created: roles.map(|r| r.roles_created.as_slice()),
        roles_unchanged: roles.map(|r| r.roles_kept.as_slice()),
        sessions_ended: executed.sessions_ended,
        tables: counted.len(),
        rows: counted.iter().filter_map(|c| c.actual).sum(),
        mismatches: counted.iter().filter(|c| !c.matches()).collect(),
        digested: !counted.is_empty() && counted.iter().all(|c| c.expected_digest.is_some()),
        proof: None,
        proof_error: None,
        notes: notes(&chosen.manifest),
    }
}

/// What the report says the restore could not do for this set.
fn notes(m: &ops_catalog::catalog::Manifest) -> Vec<&'static str> {
    let mut notes = Vec::new();
    if m.database_properties.is_none() {
        notes.push("this set predates recorded database properties: its settings, comment, connection limit and grants were not re-applied");
    }
    if !m.tables.is_empty() && m.tables.iter().all(|t| t.digest.is_none()) {
        notes.push("this set predates content digests: every table's rows were counted, its values not compared");
    }
    notes
}

/// Runs the plan's steps; returns the recount of the restored database. A restore whose
/// recount fails stops before any rename: the old target stays as it was.
fn apply(
    args: &cli::Args,
    plan: &Plan,
    set: &CheckedSet,
    globals: Option<&CheckedSet>,
    admin: &ConnSettings,
    settings: &ConnSettings,
) -> Result<Executed, OpsError> {
    let m = &set.manifest;
    let file = m.dump_file()?;
    let clients = Clients::find(args, m, admin)?;
    let programs = restore::Programs::of(&clients.restore);
    let stop = StopSignal::install(None)?;
    let redactor = Redactor::new(settings.secrets());
    let mut counted = Vec::new();
    let mut roles = None;
    let mut owners: Vec<(String, postgres::Client)> = Vec::new();
    let mut sessions_ended = 0;
    for step in &plan.steps {
        match step {
            Step::Globals => {
                if let Some(g) = globals {
                    let gf = g.manifest.dump_file()?;
                    roles = Some(
                        runner(&programs, admin.clone(), args, &stop, &redactor).globals(
                            &g.set.path.join(&gf.name),
                            &g.manifest,
                            admin,
                        )?,
                    );
                }
            }
            Step::Drop(db) => sessions_ended += server::drop(admin, db)?,
            // The side database of a swap is this run's until it is renamed into place:
            // marked and held, so a later run can tell it was left by a dead one.
            Step::Create(db) if plan.kept_as.is_some() => {
                owners.push((
                    db.clone(),
                    ops_restore::owned::create(admin, db, &server::SIDE)?,
                ));
            }
            Step::Create(db) => server::create(admin, db)?,
            Step::Restore(db) => {
                let into = settings.for_database(db);
                let restored = runner(&programs, into.clone(), args, &stop, &redactor).run_proving(
                    &set.set.path.join(&file.name),
                    m,
                    || prove(&into, m),
                );
                counted = match restored {
                    Ok(proven) => proven?,
                    Err(e) => {
                        // A database this run created goes again; one it found is left.
                        if plan.steps.contains(&Step::Create(db.clone())) {
                            let _ = server::drop(admin, db);
                        }
                        return Err(e);
                    }
                };
                if counted.iter().any(|c| !c.matches()) {
                    // Kept for a look, never dropped by a later run: said in the report.
                    for (name, client) in owners.iter_mut() {
                        ops_restore::owned::mark(client, name, server::SIDE.kept_mark)?;
                    }
                    return Ok(Executed {
                        counted,
                        roles,
                        sessions_ended,
                    });
                }
            }
            Step::Properties(db) => {
                if let Some(p) = &m.database_properties {
                    server::apply_properties(admin, db, p, !args.no_owner)?;
                }
            }
            Step::Rename { from, to } => {
                sessions_ended += server::rename(admin, from, to)?;
                // A set without recorded properties left the side's mark on what is now
                // the target: it is not a side database any more.
                if let Some((_, client)) = owners.iter_mut().find(|(n, _)| n == from) {
                    if m.database_properties.is_none() {
                        ops_restore::owned::mark(client, to, "")?;
                    }
                }
            }
        }
    }
    Ok(Executed {
        counted,
        roles,
        sessions_ended,
    })
}

/// Every table of the restored database proven against the manifest (run as soon as the
/// data is in, beside the index builds). The fault tests' crash point sits between the
/// restore and the proof (their tamper point is the proof's own).
fn prove(
    into: &ConnSettings,
    m: &ops_catalog::catalog::Manifest,
) -> Result<Vec<proof::TableCount>, OpsError> {
    ops_core::failpoint::hit("restore.after_restore");
    let mut client = into.connect()?;
    Ok(proof::count_tables(&mut client, m))
}

/// The client programs a restore of `m` into the target server uses (ADR 0006): the
/// pg_restore that takes its archive into that major, and a pg_dump of at least that
/// major (a table restore moves tables with it).
pub(crate) struct Clients {
    pub(crate) restore: ops_pg::programs::Install,
    pub(crate) dump: Option<ops_pg::programs::Install>,
}

impl Clients {
    pub(crate) fn find(
        args: &cli::Args,
        m: &ops_catalog::catalog::Manifest,
        admin: &ConnSettings,
    ) -> Result<Clients, OpsError> {
        let installs = ops_pg::programs::installations(args.pg_bin.pg_bin_dir.as_deref());
        let archive_major = ops_pg::programs::major_of(&m.pg_dump_version);
        let target_major = server::major(admin)?;
        let restore = ops_pg::programs::pick_restore(&installs, archive_major, target_major)
            .ok_or_else(|| {
                OpsError::new(
                    "no_client_pair",
                    Category::Dependency,
                    format!("no installed pg_restore can restore an archive of pg_dump {archive_major} into PostgreSQL {target_major} (ADR 0006)"),
                )
            })?;
        Ok(Clients {
            restore: restore.clone(),
            dump: ops_pg::programs::pick_dump(&installs, target_major).cloned(),
        })
    }
}

/// What the steps did: every table recounted, and what the globals replay did to roles.
struct Executed {
    counted: Vec<proof::TableCount>,
    roles: Option<ops_restore::globals::Filtered>,
    /// Sessions on the old target that --clean or --swap ended.
    sessions_ended: u64,
}

fn runner<'a>(
    programs: &'a restore::Programs,
    target: ConnSettings,
    args: &cli::Args,
    stop: &'a StopSignal,
    redactor: &'a Redactor,
) -> restore::Restore<'a> {
    restore::Restore {
        programs,
        target,
        jobs: args.jobs.jobs,
        with_owners: !args.no_owner,
        stop,
        redactor,
    }
}
