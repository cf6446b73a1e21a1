//! `backup-bucket`: what an operator does with the bucket itself (ADR 0025).
//!
//! - `check`: the bucket's protection and what the current credentials can do
//!   ([`check`]: probed with a canary, judged by a pure function);
//! - `versions` / `recover --as-of TIME`: what an intruder hid or overwrote, and every key
//!   brought back to its version at TIME (the plan: `ops_offsite::versions`, pure; applied
//!   by [`recover`]);
//! - `reseal`: every set sealed again to new recipients ([`reseal`], key rotation).

pub mod check;
pub mod cli;
pub mod recover;
pub mod report;
pub mod reseal;

use ops_core::event::{correlation_id_from_env, Emitter};
use ops_core::{ExitCode, OpsError};
use ops_offsite::backend::{self, Store, StoreOptions};
use ops_offsite::versions::Change;

/// Parses the command line and runs. Invalid flags get an event and exit 2.
pub fn main_with_args(argv: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    match ops_core::cli::parse::<cli::Args>(argv, "backup-bucket", "check") {
        Ok(args) => run(
            &args,
            &Emitter::stdout("backup-bucket", correlation_id_from_env()),
        ),
        Err(exit) => exit,
    }
}

pub fn run(args: &cli::Args, emitter: &Emitter) -> ExitCode {
    let mut tally = report::Tally::default();
    match execute(args, emitter, &mut tally) {
        Ok(exit) => emitter.finish(args.action(), exit, tally),
        Err(e) => ops_core::cli::fail_run_with(emitter, args.action(), e, tally),
    }
}

/// Opens the bucket: only `s3://` locations have versions and locks.
fn open(args: &cli::Args) -> Result<Box<dyn Store>, OpsError> {
    let location = args.location();
    if !ops_offsite::sets::is_object_store(location) {
        return Err(OpsError::validation(
            "invalid_location",
            format!("{location:?}: backup-bucket works on buckets (s3://BUCKET[/PREFIX])"),
        ));
    }
    let options = StoreOptions {
        retry_timeout: args.retry_timeout,
        ..StoreOptions::default()
    };
    backend::open_location(location, &options).map_err(|e| e.to_ops_error("opening the bucket"))
}

fn execute(
    args: &cli::Args,
    emitter: &Emitter,
    tally: &mut report::Tally,
) -> Result<ExitCode, OpsError> {
    let store = open(args)?;
    match &args.command {
        cli::Command::Check(_) => check(store.as_ref(), emitter, tally),
        cli::Command::Versions(a) => versions(store.as_ref(), a.as_of, false, None, emitter, tally),
        cli::Command::Recover(r) => versions(
            store.as_ref(),
            r.as_of.as_of,
            true,
            Some(r.dry_run),
            emitter,
            tally,
        ),
        cli::Command::Reseal(r) => reseal::run(store.as_ref(), r, emitter, tally),
    }
}

fn check(
    store: &dyn Store,
    emitter: &Emitter,
    tally: &mut report::Tally,
) -> Result<ExitCode, OpsError> {
    let at = |what: &'static str| move |e: backend::StoreError| e.to_ops_error(what);
    let location = store.location();
    let protection = store
        .protection()
        .map_err(at("reading the bucket's settings"))?;
    let probe = check::probe(store, &protection).map_err(at("probing with the canary"))?;
    emitter.send(&report::Checked {
        location: &location,
        versioning: protection.versioning,
        object_lock: protection.object_lock,
        default_retention: protection
            .default_retention
            .map(|(mode, d)| report::DefaultRetention {
                mode: mode.name(),
                days: d.as_secs() / 86_400,
            }),
        permissions: &probe.permissions,
    });
    let findings = check::findings(&protection, &probe);
    for f in &findings {
        emitter.send(&report::Finding {
            location: &location,
            code: f.code,
            reason: &f.reason,
            warning: f.severity == "warning",
        });
    }
    tally.findings = Some(findings.len());
    Ok(if findings.iter().any(|f| f.severity == "warning") {
        ExitCode::Problem
    } else {
        ExitCode::Ok
    })
}

/// `versions` (report only) and `recover` (apply, unless `dry_run`).
fn versions(
    store: &dyn Store,
    as_of: jiff::Timestamp,
    recover: bool,
    dry_run: Option<bool>,
    emitter: &Emitter,
    tally: &mut report::Tally,
) -> Result<ExitCode, OpsError> {
    let location = store.location();
    let listed = store
        .versions("")
        .map_err(|e| e.to_ops_error("listing the bucket's versions"))?;
    let steps = ops_offsite::versions::plan(&listed, as_of);
    let count = |c: Change| Some(steps.iter().filter(|s| s.change == c).count());
    tally.keys_hidden = count(Change::Hidden);
    tally.keys_overwritten = count(Change::Overwritten);
    tally.keys_added = count(Change::Added);
    tally.dry_run = dry_run;
    let apply = recover && dry_run == Some(false);
    let now = jiff::Timestamp::now();
    let mut restored = 0;
    let mut failed = 0;
    for step in &steps {
        let mut event = report::Changed {
            restored: false,
            location: &location,
            key: &step.key,
            change: step.change.name(),
            version: step.version.as_deref(),
            written: step.written.map(ops_core::timefmt::rfc3339),
            changed: ops_core::timefmt::rfc3339(step.changed),
            as_of: ops_core::timefmt::rfc3339(as_of),
        };
        if apply && step.change != Change::Added {
            match recover::apply(store, step, now) {
                Ok(done) => {
                    event.restored = done;
                    restored += usize::from(done);
                }
                Err(e) if e.to_ops_error("").category == ops_core::Category::Dependency => {
                    return Err(e.to_ops_error(&format!("restoring {}", step.key)))
                }
                Err(e) => {
                    failed += 1;
                    let error = e.to_ops_error(&format!("restoring {}", step.key));
                    emitter.send(&report::Failed {
                        location: &location,
                        key: &step.key,
                        error: &error,
                    });
                    continue;
                }
            }
        }
        emitter.send(&event);
    }
    if apply {
        tally.keys_restored = Some(restored);
    }
    // `versions` exits 1 when something was hidden or overwritten: a scheduled survey
    // fails loudly; `recover` when a key could not be brought back.
    let damaged = steps.iter().any(|s| s.change != Change::Added);
    Ok(if failed > 0 || !recover && damaged {
        ExitCode::Problem
    } else {
        ExitCode::Ok
    })
}
