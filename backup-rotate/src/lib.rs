//! `backup-rotate`: retention that can never lose the last good backup.
//!
//! [`policy`] decides (pure: sets, rules, timezone → a plan with reasons); [`execute`]
//! applies the plan (rename to `.deleting-<id>`, then remove). Everything is reported as
//! events, and `--dry-run` reports the same plan without changing anything.

pub mod cli;
pub mod effects;
pub mod policy;
pub mod report;

use ops_catalog::catalog::{Catalog, SetDir};
use ops_catalog::lock::LockMode;
use ops_core::event::{correlation_id_from_env, Emitter, Severity};
use ops_core::{ExitCode, OpsError};
use policy::{Rules, SetInfo};

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
        report::Tally {
            sets_kept: 0,
            sets_deleted: 0,
            dry_run,
        },
    )
}

#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) kept: usize,
    pub(crate) deleted: usize,
    pub(crate) failed_deletions: usize,
}

pub fn run(args: &cli::Args, emitter: &Emitter) -> ExitCode {
    let mut tally = Tally::default();
    match execute(args, emitter, &mut tally) {
        Ok(()) => {
            let exit = if tally.failed_deletions > 0 {
                ExitCode::Problem
            } else {
                ExitCode::Ok
            };
            emitter.finish(
                args.action(),
                exit,
                report::Tally {
                    sets_kept: tally.kept,
                    sets_deleted: tally.deleted,
                    dry_run: args.dry_run,
                },
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

/// Refuses what no rule could apply before any catalog is opened: no keep rule at all
/// (that is not "delete everything"), or a window that keeps nothing.
fn check_rules(args: &cli::Args, rules: &Rules) -> Result<(), OpsError> {
    if args.action() == "rotate" && !rules.has_keep_rule() {
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
    Ok(())
}

fn execute(args: &cli::Args, emitter: &Emitter, tally: &mut Tally) -> Result<(), OpsError> {
    let root = args.catalog.dir()?.to_path_buf();
    let rules = rules_of(args);
    check_rules(args, &rules)?;
    let tz = args.timezone.clone();
    // What retention this catalog gets is configuration: a change is audited (FR27).
    emitter.applied(
        &format!("retention {}", root.display()),
        format!(
            "{} ({})",
            rules.describe(),
            tz.iana_name().unwrap_or("local")
        ),
    );
    // Exclusive: no reader (verify, drill) is inside a set while it is deleted. With a
    // trusted key, only signed sets count: a forged newer set never pushes a real one out
    // (ADR 0014).
    let sets = ops_offsite::sets::open(
        &root,
        &ops_offsite::sets::Open {
            mode: LockMode::Exclusive,
            lock_timeout: args.catalog.lock.lock_timeout,
            trust: args.trust.load()?,
            identities: None,
            signing: None,
        },
    )?;
    if args.action() != "rotate" {
        return markers(args, sets.local(), emitter);
    }
    let dirs = sets.dirs(&|l| args.select.wants(l))?;
    for unknown in &dirs.unknown {
        emitter.send(&report::Skipped {
            severity: Severity::Info,
            database: None,
            id: None,
            path: unknown,
            code: None,
            reason: "not a pgops entry: never touched".into(),
        });
    }
    let now = jiff::Timestamp::now();
    for dir in &dirs.dirs {
        effects::finish_deletions(
            sets.as_ref(),
            dir,
            args.dry_run,
            emitter,
            &mut tally.deleted,
        );
        let scan = sets.scan(dir, now)?;
        effects::report_non_sets(dir, &scan, emitter);
        let infos: Vec<SetInfo> = scan.sets.iter().map(|s| SetInfo::of(s, now)).collect();
        warn_if_none_passed(&infos, &dir.label, &dir.place, emitter);
        let plan = policy::plan(&infos, &rules, &tz);
        effects::apply(
            sets.as_ref(),
            dir,
            &scan,
            &plan,
            args.dry_run,
            emitter,
            tally,
        )?;
    }
    Ok(())
}

/// `--pin`/`--unpin` and `--retire`/`--unretire`: markers only a local catalog holds.
fn markers(args: &cli::Args, catalog: Option<&Catalog>, emitter: &Emitter) -> Result<(), OpsError> {
    let pinning = args.action() == "pin";
    let Some(catalog) = catalog else {
        // A marker in the bucket would be the one unsigned thing there; a retirement
        // silences freshness: whoever can write to the bucket could hide that backups
        // stopped.
        return Err(OpsError::validation(
            "invalid_argument",
            if pinning {
                "--pin and --unpin work on local catalogs: pin the set there before it is copied"
            } else {
                "--retire and --unretire work on local catalogs: retire the database in the catalog on the backup host"
            },
        ));
    };
    let listing = catalog.listing()?;
    if pinning {
        let dirs: Vec<&SetDir> = listing
            .set_dirs
            .iter()
            .filter(|d| args.select.wants(d.label()))
            .collect();
        return effects::pins(&dirs, &args.pin, &args.unpin, args.dry_run, emitter, label);
    }
    let plan = effects::retirement_plan(&listing.set_dirs, &args.retire, &args.unretire)?;
    effects::retirements(&plan, args.reason.as_deref(), args.dry_run, emitter)
}

/// The policy deletes nothing of a database whose every set failed (or is damaged): said
/// once per database, wherever its sets lie.
pub(crate) fn warn_if_none_passed(
    infos: &[SetInfo],
    database: &str,
    path: &str,
    emitter: &Emitter,
) {
    if !infos.is_empty() && infos.iter().all(|s| s.failed.is_some()) {
        emitter.send(&report::Skipped {
            severity: Severity::Warning,
            database: Some(database),
            id: None,
            path,
            code: None,
            reason: "no set of this database passed verification: nothing is deleted".into(),
        });
    }
}
