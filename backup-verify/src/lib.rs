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
pub mod freshness;
pub mod remote;
pub mod scan;
pub mod subset;

use checks::{Entry, Evidence};
use ops_catalog::catalog::{self, Catalog, SetKind, SetRef, Verdict, VerifyRecord};
use ops_catalog::input;
use ops_catalog::lock::LockMode;
use ops_core::event::{correlation_id_from_env, Emitter, Severity};
use ops_core::event_names as names;
use ops_core::{timefmt, Category, ExitCode, OpsError};
use serde_json::json;
use std::path::{Path, PathBuf};
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

/// One set to verify.
#[derive(Debug, Clone)]
struct Target {
    /// Where it lies: its database's directory, or the globals'.
    dir: catalog::SetDir,
    set: SetRef,
}

/// What verifying one set concluded.
#[derive(Debug)]
struct Outcome {
    path: PathBuf,
    verdict: Verdict,
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
    match execute(&args, from_stdin, &emitter) {
        Ok((exit, tally)) => emitter.finish("verify", report_upstream(exit), tally),
        Err(error) => {
            let exit = report_upstream(error.category.run_exit_code());
            emitter.emit_error(names::RUN_FAILED, Severity::Error, &error, json!({}));
            emitter.finish("verify", exit, json!({}))
        }
    }
}

fn execute(
    args: &cli::Args,
    from_stdin: Option<input::Input>,
    emitter: &Emitter,
) -> Result<(ExitCode, serde_json::Value), OpsError> {
    if let Some(location) = args
        .catalog
        .at
        .backup_dir
        .as_deref()
        .and_then(|d| d.to_str())
    {
        if ops_offsite::sets::is_sealed(location) {
            return remote::execute(args, location, emitter);
        }
    }
    let root = match (&args.catalog.at.backup_dir, &from_stdin) {
        (Some(d), _) => d.clone(),
        (None, Some(i)) => match i.catalog_root() {
            Some(root) => root,
            None if i.sets.is_empty() => {
                return Err(OpsError::new(
                    "nothing_checked",
                    Category::Integrity,
                    "no backup.completed event on stdin: nothing to verify",
                ))
            }
            None => {
                return Err(OpsError::validation(
                    "backup_dir_missing",
                    "cannot tell the catalog from the events: pass --backup-dir",
                ))
            }
        },
        (None, None) => return Err(ops_catalog::cli::backup_dir_missing()),
    };
    let (catalog, _lock) = Catalog::open(&root, LockMode::Shared, args.catalog.lock.lock_timeout)?;
    let catalog = catalog.with_trust(args.trust.load()?);
    let listing = catalog.listing()?;

    // Which sets, and which databases are in scope for freshness (with their sets, when
    // they were listed already). Databases are keyed by their directory, so a database
    // named `_globals` is never confused with the globals sets.
    let now = jiff::Timestamp::now();
    let mut targets: Vec<Target> = Vec::new();
    let mut scope: Vec<(catalog::SetDir, Option<catalog::DirSets>)> = Vec::new();
    let mut problems = 0usize;
    match &from_stdin {
        Some(input) => {
            for named in input.sets.iter().filter(|n| args.select.wants(&n.database)) {
                let dir = catalog
                    .set_dir((named.kind == SetKind::Database).then_some(named.database.as_str()));
                targets.push(Target {
                    set: SetRef {
                        id: named.id.clone(),
                        path: dir.path.join(&named.id),
                    },
                    dir: dir.clone(),
                });
                if !scope.iter().any(|(d, _)| *d == dir) {
                    scope.push((dir, None));
                }
            }
        }
        None => {
            for unknown in &listing.unknown {
                finding(
                    emitter,
                    Severity::Warning,
                    json!({"kind": "unknown_entry", "path": unknown.path.display().to_string(),
                           "message": "not a pgops entry: reported, never touched"}),
                );
            }
            for dir in &listing.set_dirs {
                let label = dir.label().to_string();
                if !args.select.wants(&label) {
                    continue;
                }
                let sets = match dir.scan(now) {
                    Ok(sets) => sets,
                    Err(e) => {
                        // One unreadable directory must not hide the others' verdicts.
                        problems += 1;
                        finding(
                            emitter,
                            Severity::Error,
                            json!({"kind": "unreadable", "database": label,
                                   "path": dir.path.display().to_string(),
                                   "message": format!("cannot list the sets of {label:?}: {e}; its backups are unverifiable")}),
                        );
                        continue;
                    }
                };
                // The newest set (or all), and every directory named like a set that is
                // not a usable one: verified so that the check it fails is named (a set
                // from the future only with --all-sets: its bytes may well be fine).
                let mut chosen: Vec<&SetRef> = if args.all_sets {
                    sets.sets.iter().map(|s| &s.set).collect()
                } else {
                    sets.sets.last().map(|s| &s.set).into_iter().collect()
                };
                chosen.extend(
                    sets.rejected
                        .iter()
                        .filter(|r| args.all_sets || r.why != catalog::Rejection::ClockSkew)
                        .map(|r| &r.set),
                );
                chosen.sort_by(|a, b| a.id.cmp(&b.id));
                targets.extend(chosen.into_iter().map(|set| Target {
                    dir: dir.clone(),
                    set: set.clone(),
                }));
                scope.push((dir.clone(), Some(sets)));
            }
        }
    }
    for (dir, sets) in &mut scope {
        for p in Catalog::partials_in(&dir.path).unwrap_or_default() {
            finding(
                emitter,
                Severity::Warning,
                json!({"kind": "stale_partial", "path": p.display().to_string(),
                       "message": "a backup that never finished; the next pgdump-run removes it"}),
            );
        }
        if sets.is_none() {
            *sets = dir.scan(now).ok();
        }
        // A future set is a clock fault, not corruption: a warning, and freshness ignores
        // it. The other rejected sets are verified and fail their own checks.
        for r in sets.iter().flat_map(|s| &s.rejected) {
            if r.why == catalog::Rejection::ClockSkew {
                finding(
                    emitter,
                    Severity::Warning,
                    json!({"kind": "clock_skew", "code": r.why.code(), "database": dir.label(),
                           "id": r.set.id, "path": r.set.path.display().to_string(),
                           "message": r.reason}),
                );
            }
        }
    }

    let outcomes = ops_core::parallel::map(&targets, args.jobs.jobs as usize, |t| {
        verify_set(t, args, emitter)
    });

    // Freshness: the newest passing set per database, from this run or from verify.json,
    // looked for newest first among the sets that are sets (not rejected, not from the
    // future).
    let verdicts: std::collections::HashMap<&std::path::Path, Verdict> = outcomes
        .iter()
        .map(|o| (o.path.as_path(), o.verdict))
        .collect();
    let mut newest = Vec::new();
    for (dir, sets) in &scope {
        let passing = sets.as_ref().and_then(|sets| {
            sets.newest_where(|s| match verdicts.get(s.set.path.as_path()) {
                Some(v) => *v == Verdict::Pass,
                None => s
                    .set
                    .read_verify()
                    .is_some_and(|r| r.verdict == Verdict::Pass),
            })
            .map(|s| (s.set.id.clone(), s.set.started()))
        });
        let retired = sets.as_ref().and_then(|s| s.retired());
        if let Some(r) = retired {
            finding(
                emitter,
                Severity::Info,
                json!({"kind": "retired", "database": dir.label(),
                       "path": dir.path.display().to_string(),
                       "message": format!("retired at {} ({}): its freshness is not judged; backup-rotate --unretire {} undoes it",
                           if r.retired_at.is_empty() { "an unknown time" } else { &r.retired_at },
                           r.reason.as_deref().unwrap_or("no reason given"), dir.label())}),
            );
        }
        newest.push(freshness::Newest {
            database: dir.label().to_string(),
            passing,
            retired: retired.is_some(),
        });
    }
    let expected: Vec<String> = args.expect.clone();
    let stale = freshness::stale(&newest, &expected, now, args.max_age);
    report_stale(emitter, &stale, args.max_age);

    let passed = outcomes
        .iter()
        .filter(|o| o.verdict == Verdict::Pass)
        .count();
    let tally = json!({"sets_checked": outcomes.len(), "sets_passed": passed, "databases_stale": stale.len()});
    if outcomes.is_empty() {
        let error = OpsError::new(
            "nothing_checked",
            Category::Integrity,
            "no backup set was found to verify: a run that checked nothing proves nothing",
        );
        emitter.emit_error(names::RUN_FAILED, Severity::Error, &error, json!({}));
        return Ok((ExitCode::Problem, tally));
    }
    let exit = if passed == outcomes.len() && stale.is_empty() && problems == 0 {
        ExitCode::Ok
    } else {
        ExitCode::Problem
    };
    Ok((exit, tally))
}

/// The payload of a set's `verify.passed` or `verify.failed`, from its evidence (the
/// caller adds where the set is and how the run went).
fn set_payload(
    evidence: &Evidence,
    verdict: Verdict,
    checks: &[catalog::CheckResult],
) -> serde_json::Value {
    let m = evidence.manifest.as_ref().ok();
    let summary = evidence
        .scans
        .first()
        .and_then(|s| s.as_ref().ok())
        .and_then(|s| s.structure.as_ref().ok());
    let age_s = timefmt::parse_set_id(&evidence.set_dir)
        .map(|s| timefmt::seconds_between(s, jiff::Timestamp::now()).max(0));
    json!({
        "database": evidence.dir.label(),
        "id": evidence.set_dir,
        "verdict": verdict,
        "checks": checks,
        "bytes": m.map(|m| m.files.iter().map(|f| f.bytes).sum::<u64>()),
        "raw_bytes": m.map(|m| m.files.iter().map(|f| f.raw_bytes).sum::<u64>()),
        "tables": summary.map(|s| s.tables.len()),
        "rows": summary.map(|s| s.total_rows()),
        "large_objects": summary.map(|s| s.large_objects),
        "age_s": age_s,
    })
}

/// Emits a set's verdict: `verify.passed`, or `verify.failed` naming its failed checks.
fn report_set(emitter: &Emitter, verdict: Verdict, mut payload: serde_json::Value) {
    if verdict == Verdict::Pass {
        emitter.emit(names::VERIFY_PASSED, Severity::Info, payload);
    } else {
        let failed: Vec<&str> = payload["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["status"] == "fail")
            .filter_map(|c| c["name"].as_str())
            .collect();
        payload["failed"] = json!(failed);
        emitter.emit(names::VERIFY_FAILED, Severity::Error, payload);
    }
}

/// `verify.stale`, one per database that is not fresh.
fn report_stale(emitter: &Emitter, stale: &[freshness::Stale], max_age: std::time::Duration) {
    for s in stale {
        emitter.emit(
            names::VERIFY_STALE,
            Severity::Error,
            json!({
                "database": s.database,
                "newest_passing": s.newest_passing,
                "age_s": s.age.map(|a| a.as_secs()),
                "max_age_s": max_age.as_secs(),
                "reason": s.reason,
            }),
        );
    }
}

/// `verify.finding`: something worth knowing that is not a set's verdict.
fn finding(emitter: &Emitter, severity: Severity, payload: serde_json::Value) {
    emitter.emit(names::VERIFY_FINDING, severity, payload);
}

fn list_entries(dir: &Path) -> Vec<Entry> {
    let mut out: Vec<Entry> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let size = e.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
            Entry {
                name: e.file_name().to_string_lossy().into_owned(),
                size,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Everything known about the set of `t`, read from its directory (one pass per file).
fn gather(t: &Target) -> Evidence {
    // A link is never followed into a set (the catalog's one rule): it has no manifest.
    let real_dir = std::fs::symlink_metadata(&t.set.path).is_ok_and(|m| m.is_dir());
    // The manifest is read once: its bytes for the signature, what they say for the rest.
    let loaded = if real_dir {
        catalog::load_manifest(&t.set.manifest_path())
    } else {
        Err(OpsError::new(
            catalog::Rejection::NotADirectory.code(),
            Category::Integrity,
            format!("{} is a link or not a directory", t.set.path.display()),
        ))
    };
    let (bytes, manifest) = match loaded {
        Ok((b, m)) => (Some(b), Ok(m)),
        Err(e) => (None, Err(e)),
    };
    let entries = if real_dir {
        list_entries(&t.set.path)
    } else {
        Vec::new()
    };
    // On a terminal, a bar per set: the decoded bytes against what the manifest says.
    let bar = manifest.as_ref().ok().map(|m| {
        ops_core::progress::bytes(
            format!("{} {}: verify", t.dir.label(), t.set.id),
            Some(m.files.iter().map(|f| f.raw_bytes).sum()),
        )
    });
    let scans = match (&manifest, &bar) {
        (Ok(m), Some(bar)) => m
            .files
            .iter()
            .map(|f| {
                // Only names that exist as plain files in the directory are ever opened.
                match entries
                    .iter()
                    .find(|e| e.name == f.name && e.size.is_some())
                {
                    Some(e) => scan::scan_file(
                        &t.set.path.join(&e.name),
                        scan::Layout {
                            algorithm: m.compression.algorithm,
                            frame_raw: f.frame_raw_bytes.map(|n| n as usize),
                            raw_sha256: f.raw_sha256.is_some(),
                        },
                        &bar.counter(),
                    )
                    .map_err(|e| checks::ReadError::from_io(&e)),
                    None => Err(checks::ReadError::missing()),
                }
            })
            .collect(),
        _ => Vec::new(),
    };
    drop(bar);
    let signature = t.dir.trust.as_ref().map(|key| match &bytes {
        Some(b) => catalog::check_signature(key, &t.set.path, b).map(|()| key.key_id()),
        None => Err("the manifest could not be read".to_string()),
    });
    Evidence {
        set_dir: t.set.id.clone(),
        dir: t.dir.clone(),
        manifest,
        entries,
        scans,
        signature,
    }
}

fn verify_set(t: &Target, args: &cli::Args, emitter: &Emitter) -> Outcome {
    let started = Instant::now();
    let real_dir = std::fs::symlink_metadata(&t.set.path).is_ok_and(|m| m.is_dir());
    let evidence = gather(t);
    let (verdict, checks) = checks::evaluate(&evidence);
    let mut recorded = false;
    if !args.no_record && real_dir {
        let record = VerifyRecord {
            v: 1,
            id: t.set.id.clone(),
            database: t.dir.label().to_string(),
            verified_at: timefmt::now_rfc3339(),
            verdict,
            checks: checks.clone(),
            tool: catalog::ToolInfo {
                name: "backup-verify".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            correlation_id: emitter.correlation_id().to_string(),
        };
        match catalog::write_verify(&t.set.path, &record) {
            Ok(()) => recorded = true,
            Err(e) => eprintln!(
                "backup-verify: could not record {}: {e}",
                t.set.path.display()
            ),
        }
    }
    let mut payload = set_payload(&evidence, verdict, &checks);
    payload["database"] = t.dir.label().into();
    payload["path"] = t.set.path.display().to_string().into();
    payload["recorded"] = recorded.into();
    payload["duration_ms"] = (started.elapsed().as_millis() as u64).into();
    report_set(emitter, verdict, payload);
    Outcome {
        path: t.set.path.clone(),
        verdict,
    }
}
