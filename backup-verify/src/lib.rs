//! `backup-verify`: prove pgops backup sets intact, complete and fresh.
//!
//! A checksum alone proves only that a file did not change since it was written, not that
//! it was a good backup. For each set this tool reads every file once ([`scan`]), hashing,
//! decompressing and parsing in the same pass, then judges the evidence with six named
//! checks ([`checks`], pure). The catalog is judged for freshness ([`freshness`], pure).
//! Results go to stdout as events and into each set's `verify.json`, which backup-rotate
//! and restore-drill rely on.

pub mod checks;
pub mod cli;
pub mod evidence;
pub mod freshness;
pub mod judge;
pub mod plan;
pub mod report;
pub mod scan;
pub mod subset;

use ops_catalog::catalog::{self, Verdict, VerifyRecord};
use ops_catalog::input;
use ops_catalog::lock::LockMode;
use ops_catalog::sets::{Depth, Proof, ProofBy, ProofKind, Sets, Verified};
use ops_core::event::{correlation_id_from_env, Emitter};
use ops_core::event_names as names;
use ops_core::{timefmt, Category, ExitCode, OpsError};
use plan::Target;
use report::{SetVerdict, StaleDatabase, Tally};
use serde_json::json;
use std::time::Instant;

/// Parses the command line and runs. Invalid flags get an event and exit 2.
pub fn main_with_args(argv: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    match ops_core::cli::parse::<cli::Args>(argv, "backup-verify", "verify") {
        Ok(args) => run(args, &mut std::io::stdin().lock()),
        Err(exit) => exit,
    }
}

fn fail_run(emitter: &Emitter, error: OpsError) -> ExitCode {
    ops_core::cli::fail_run(emitter, "verify", error)
}

/// Runs with parsed flags; `stdin` is read only with `-`.
pub fn run(args: cli::Args, stdin: &mut dyn std::io::BufRead) -> ExitCode {
    let from_stdin = match args.stdin.as_deref() {
        None => None,
        Some("-") => Some(input::read_events(stdin, &[names::BACKUP_COMPLETED])),
        Some(other) => {
            let emitter = Emitter::stdout("backup-verify", correlation_id_from_env());
            return fail_run(
                &emitter,
                OpsError::validation(
                    "invalid_argument",
                    format!("unexpected argument {other:?}; use - to read events"),
                ),
            );
        }
    };
    let correlation_id = from_stdin
        .as_ref()
        .and_then(|i| i.correlation_id.clone())
        .unwrap_or_else(correlation_id_from_env);
    let emitter = Emitter::stdout("backup-verify", correlation_id);
    if args.forward {
        for line in from_stdin.iter().flat_map(|i| &i.lines) {
            emitter.forward(line);
        }
    }
    // A producer that failed or never finished: what it named is still verified, and the
    // run fails with the producer's own words (never "nothing to check").
    let upstream = from_stdin.as_ref().and_then(|i| i.upstream_problem());
    let report_upstream = |exit| input::report_upstream(&emitter, upstream.as_ref(), exit);
    if upstream.is_some() && from_stdin.as_ref().is_some_and(|i| i.sets.is_empty()) {
        let exit = report_upstream(ExitCode::Ok);
        return emitter.finish("verify", exit, json!({"sets_checked": 0, "sets_passed": 0}));
    }
    // What a verification killed before left in the temporary directory (decrypted sets).
    ops_core::scratch::sweep_and_report(&emitter);
    match execute(&args, from_stdin.as_ref(), &emitter) {
        Ok((exit, tally)) => emitter.finish("verify", report_upstream(exit), tally),
        Err(error) => {
            let exit = report_upstream(error.category.run_exit_code());
            ops_core::cli::fail_run_as(&emitter, "verify", error, exit, json!({}))
        }
    }
}

/// Resolve → plan → check each set → judge freshness → report; the same for every storage.
fn execute(
    args: &cli::Args,
    named: Option<&input::Input>,
    emitter: &Emitter,
) -> Result<(ExitCode, Tally), OpsError> {
    let location = plan::location(args.catalog.at.backup_dir.as_deref(), named)?;
    let sets = ops_offsite::sets::open(
        &location,
        &ops_offsite::sets::Open {
            mode: LockMode::Shared,
            lock_timeout: args.catalog.lock.lock_timeout,
            trust: args.trust.load()?,
            identities: args.identity.load()?.map(std::sync::Arc::new),
            // Read only where proofs are kept: a local verification needs no secret key.
            signing: if ops_offsite::sets::is_sealed(&location.to_string_lossy()) {
                args.signing.load()?.map(std::sync::Arc::new)
            } else {
                None
            },
        },
    )?;
    let sets = sets.as_ref();
    let now = jiff::Timestamp::now();
    let choice = plan::Choice {
        all_sets: args.all_sets,
        wants: &|label: &str| args.select.wants(label),
    };
    let plan = plan::plan(sets, choice, named, now)?;
    for f in &plan.findings {
        emitter.send(f);
    }
    let depth = sets.depth(args.read_data || args.read_data_subset.is_some());
    let (outcomes, counted): (Vec<Verified>, Vec<Counted>) =
        ops_core::parallel::map(&plan.targets, args.jobs.jobs as usize, |t| {
            verify_set(sets, t, depth, args, emitter)
        })
        .into_iter()
        .collect::<Result<Vec<_>, OpsError>>()?
        .into_iter()
        .unzip();

    let newest = newest_passing(&plan.scope, &outcomes);
    let stale = freshness::stale(&newest, &args.expect, now, args.max_age);
    for s in &stale {
        emitter.send(&StaleDatabase::of(s, args.max_age));
    }
    sets.record_run(depth, emitter.correlation_id(), &outcomes);

    let passed = outcomes
        .iter()
        .filter(|o| o.verdict == Verdict::Pass)
        .count();
    let tally = Tally {
        sets_checked: outcomes.len(),
        sets_passed: passed,
        databases_stale: stale.len(),
        tables_counted: counted.iter().map(|c| c.tables).sum(),
        rows_counted: counted.iter().map(|c| c.rows).sum(),
        depth: depth.name(),
    };
    if outcomes.is_empty() && plan.problems == 0 {
        return Err(OpsError::new(
            "nothing_checked",
            Category::Integrity,
            format!(
                "{}: no backup set was found to verify: a run that checked nothing proves nothing",
                sets.location()
            ),
        ));
    }
    let exit = if passed == outcomes.len() && stale.is_empty() && plan.problems == 0 {
        ExitCode::Ok
    } else {
        ExitCode::Problem
    };
    Ok((exit, tally))
}

/// Per database in scope, its newest set that passed: in this run, or (not checked in
/// this run) by its recorded verdict. Sets refused by the set rule (from the future,
/// misplaced…) are not its sets and never count.
fn newest_passing(scope: &[plan::Scope], outcomes: &[Verified]) -> Vec<freshness::Newest> {
    let this_run: std::collections::HashMap<(&str, &str), Verdict> = outcomes
        .iter()
        .map(|o| ((o.dir.key.as_str(), o.id.as_str()), o.verdict))
        .collect();
    scope
        .iter()
        .map(|s| {
            let scan = s.scan.as_ref();
            let passing = scan
                .into_iter()
                .flat_map(|scan| scan.sets.iter().rev())
                .find(
                    |set| match this_run.get(&(s.dir.key.as_str(), set.id.as_str())) {
                        Some(v) => *v == Verdict::Pass,
                        None => set.passed,
                    },
                )
                .map(|set| (set.id.clone(), set.started));
            freshness::Newest {
                database: s.dir.label.clone(),
                passing,
                retired: scan.is_some_and(|scan| scan.retired.is_some()),
            }
        })
        .collect()
}

/// What a set that passed proved it holds: its tables and their rows, counted in the
/// archive (zero for a set that did not pass, or was not read).
#[derive(Debug, Default, Clone, Copy)]
struct Counted {
    tables: usize,
    rows: u64,
}

/// What this verification proved of a set, for the storage to keep beside it.
fn proof_of(judged: &judge::Judged, report: &SetVerdict) -> Proof {
    let mut proof = Proof::new(ProofKind::Verify, judged.verdict).with_checks(&judged.checks);
    proof.depth = Some(judged.depth.name().to_string());
    proof.tables = report.tables.map(|t| t as u64);
    proof.rows = report.rows;
    proof
}

/// Opens, judges, records and reports one set. `Err` only when the storage failed.
fn verify_set(
    sets: &dyn Sets,
    t: &Target,
    run_depth: Depth,
    args: &cli::Args,
    emitter: &Emitter,
) -> Result<(Verified, Counted), OpsError> {
    let started = Instant::now();
    // Outside this run's subset a set gets the presence check only.
    let depth = match args.read_data_subset {
        Some(subset) if !subset.contains(&t.id) => run_depth.min(Depth::Presence),
        _ => run_depth,
    };
    let mut judged = judge::judge(&sets.open_for_check(&t.dir, &t.id, depth)?, depth);
    if let Some((code, reason)) = &t.refused {
        judged.refuse(code, reason);
    }
    let verdict = judged.verdict;
    let mut report = SetVerdict::of(&t.dir.label, &t.id, t.place.clone(), &judged);
    if !args.no_record {
        let record = VerifyRecord {
            v: 1,
            id: t.id.clone(),
            database: t.dir.label.clone(),
            verified_at: timefmt::now_rfc3339(),
            verdict,
            checks: judged.checks.clone(),
            tool: catalog::ToolInfo {
                name: "backup-verify".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            correlation_id: emitter.correlation_id().to_string(),
        };
        match sets.record_verdict(&t.dir, &record) {
            Ok(recorded) => report.recorded = recorded,
            Err(e) => eprintln!("backup-verify: could not record {}: {}", t.place, e.message),
        }
        let proof = proof_of(&judged, &report);
        let by = ProofBy {
            tool: "backup-verify",
            version: ops_core::cli::VERSION,
            correlation_id: emitter.correlation_id(),
        };
        match sets.record_proof(&t.dir, &t.id, &proof, &by) {
            Ok(place) => report.proof = place,
            Err(e) => {
                eprintln!(
                    "backup-verify: no proof kept for {}: {}",
                    t.place, e.message
                );
                report.proof_error = Some(e.code);
            }
        }
    }
    report.duration_ms = started.elapsed().as_millis() as u64;
    emitter.send(&report);
    let counted = match verdict {
        Verdict::Pass => Counted {
            tables: report.tables.unwrap_or(0),
            rows: report.rows.unwrap_or(0),
        },
        _ => Counted::default(),
    };
    let verified = Verified {
        dir: t.dir.clone(),
        id: t.id.clone(),
        verdict,
        depth: judged.depth,
        refused: t.refused.is_some(),
    };
    Ok((verified, counted))
}
