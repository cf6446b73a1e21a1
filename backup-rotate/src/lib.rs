//! `backup-rotate`: retention that can never lose the last good backup.
//!
//! [`policy`] decides (pure: sets, rules, timezone → a plan with reasons); [`execute`]
//! applies the plan (rename to `.deleting-<id>`, then remove). Everything is reported as
//! events, and `--dry-run` reports the same plan without changing anything.

pub mod cli;
pub mod execute;
pub mod policy;
pub mod remote;

use ops_catalog::catalog::{Catalog, SetDir, SetRef, Verdict};
use ops_catalog::lock::LockMode;
use ops_core::event::{correlation_id_from_env, Emitter, Severity};
use ops_core::event_names as names;
use ops_core::{ExitCode, OpsError};
use policy::{Rules, SetInfo};
use serde_json::json;

/// Parses the command line and runs. Invalid flags get an event and exit 2.
pub fn main_with_args(argv: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    match ops_core::cli::parse::<cli::Args>(argv, "backup-rotate", "rotate") {
        Ok(args) => run(
            &args,
            &Emitter::stdout("backup-rotate", correlation_id_from_env()),
        ),
        Err(exit) => exit,
    }
}

fn fail_run(emitter: &Emitter, action: &str, error: OpsError, dry_run: bool) -> ExitCode {
    ops_core::cli::fail_run_with(
        emitter,
        action,
        error,
        json!({"sets_kept": 0, "sets_deleted": 0, "dry_run": dry_run}),
    )
}

#[derive(Debug, Default)]
struct Tally {
    kept: usize,
    deleted: usize,
    failed_deletions: usize,
}

pub fn run(args: &cli::Args, emitter: &Emitter) -> ExitCode {
    let mut tally = Tally::default();
    match execute_run(args, emitter, &mut tally) {
        Ok(()) => {
            let exit = if tally.failed_deletions > 0 {
                ExitCode::Problem
            } else {
                ExitCode::Ok
            };
            emitter.finish(
                args.action(),
                exit,
                json!({"sets_kept": tally.kept, "sets_deleted": tally.deleted, "dry_run": args.dry_run}),
            )
        }
        Err(error) => fail_run(emitter, args.action(), error, args.dry_run),
    }
}

fn rules_of(args: &cli::Args) -> Rules {
    Rules {
        last: args.keep_last,
        hourly: args.keep_hourly,
        daily: args.keep_daily,
        weekly: args.keep_weekly,
        monthly: args.keep_monthly,
        yearly: args.keep_yearly,
        within: args.keep_within.clone(),
        min_keep: args.min_keep,
    }
}

fn label(dir: &SetDir) -> String {
    dir.label().to_string()
}

fn execute_run(args: &cli::Args, emitter: &Emitter, tally: &mut Tally) -> Result<(), OpsError> {
    let root = args.catalog.dir()?.to_path_buf();
    let pinning = !args.pin.is_empty() || !args.unpin.is_empty();
    let retiring = !args.retire.is_empty() || !args.unretire.is_empty();
    let rules = rules_of(args);
    if !pinning && !retiring && !rules.has_keep_rule() {
        return Err(OpsError::validation(
            "no_keep_rule",
            "no keep rule given (--keep-last/-hourly/-daily/-weekly/-monthly/-yearly/-within): refusing to treat that as \"delete everything\"",
        ));
    }
    if rules.within.as_ref().is_some_and(|(d, _)| d.is_zero()) {
        return Err(OpsError::validation(
            "invalid_keep_rule",
            "--keep-within 0s keeps nothing, not even the newest set: give a positive duration",
        ));
    }
    let tz = policy::parse_timezone(&args.timezone)
        .map_err(|e| OpsError::validation("invalid_timezone", e))?;
    if let Some(location) = root.to_str() {
        if ops_offsite::sealed::is_sealed_location(location) {
            return remote::execute(args, location, &rules, &tz, emitter, tally);
        }
    }
    // Exclusive: no reader (verify, drill) is inside a set while it is deleted.
    let (catalog, _lock) =
        Catalog::open(&root, LockMode::Exclusive, args.catalog.lock.lock_timeout)?;
    // With a trusted key, only signed sets count: a forged newer set never pushes a real
    // one out (ADR 0014).
    let catalog = catalog.with_trust(args.trust.load()?);
    let listing = catalog.listing()?;
    let dirs: Vec<&SetDir> = listing
        .set_dirs
        .iter()
        .filter(|d| args.select.wants(&label(d)))
        .collect();

    if pinning {
        return execute::pins(&dirs, &args.pin, &args.unpin, args.dry_run, emitter, label);
    }
    if retiring {
        let plan = execute::retirement_plan(&listing.set_dirs, &args.retire, &args.unretire)?;
        return execute::retirements(&plan, args.reason.as_deref(), args.dry_run, emitter);
    }

    for unknown in &listing.unknown {
        emitter.emit(
            names::ROTATE_SKIPPED,
            Severity::Info,
            json!({"path": unknown.path.display().to_string(), "database": null,
                   "reason": "not a pgops entry: never touched"}),
        );
    }
    let now = jiff::Timestamp::now();
    for dir in dirs {
        let database = label(dir);
        execute::resume_deletions(dir, &database, args.dry_run, emitter, &mut tally.deleted);
        let scan = dir
            .scan(now)
            .map_err(|e| OpsError::io(format!("listing {}", dir.path.display()), &e))?;
        execute::report_non_sets(dir, &scan, &database, now, emitter);
        let sets: Vec<&SetRef> = scan.sets.iter().map(|s| &s.set).collect();
        let infos: Vec<SetInfo> = sets.iter().map(|s| set_info(s)).collect();
        let plan = policy::plan(&infos, &rules, &tz);
        warn_if_none_passed(&infos, &database, &dir.path.display().to_string(), emitter);
        let by_id: std::collections::HashMap<&str, &SetRef> =
            sets.iter().map(|s| (s.id.as_str(), *s)).collect();
        for d in plan {
            let set = by_id[d.id.as_str()];
            if d.keep {
                tally.kept += 1;
                emitter.emit(
                    names::ROTATE_KEPT,
                    Severity::Info,
                    json!({"database": database, "id": d.id, "path": set.path.display().to_string(),
                           "reasons": d.reasons, "dry_run": args.dry_run}),
                );
            } else if execute::delete(set, &database, &d.reasons, args.dry_run, emitter) {
                tally.deleted += 1;
            } else {
                tally.failed_deletions += 1;
            }
        }
    }
    Ok(())
}

/// The policy deletes nothing of a database whose every set failed (or, in a bucket, is
/// damaged): said once per database, wherever its sets lie.
pub(crate) fn warn_if_none_passed(
    infos: &[SetInfo],
    database: &str,
    path: &str,
    emitter: &Emitter,
) {
    if !infos.is_empty() && infos.iter().all(|s| s.failed.is_some()) {
        emitter.emit(
            names::ROTATE_SKIPPED,
            Severity::Warning,
            json!({"path": path, "database": database,
                   "reason": "no set of this database passed verification: nothing is deleted"}),
        );
    }
}

fn set_info(s: &SetRef) -> SetInfo {
    SetInfo {
        id: s.id.clone(),
        time: s.started(),
        failed: s
            .read_verify()
            .is_some_and(|r| r.verdict == Verdict::Fail)
            .then(|| "its verification failed".to_string()),
        pinned: s.is_pinned(),
    }
}
