//! backup-verify on a sealed catalog (an `s3://` location, ADR 0014), at three depths:
//!
//! | depth | needs | proves |
//! |---|---|---|
//! | `presence` | the public key | every envelope is signed by the trusted key and lies where it says; every object it names is there with its size |
//! | `ciphertext` | `--read-data` | and every object's bytes hash to the envelope's SHA-256 (the whole set is downloaded) |
//! | `full` | `--identity` | and the set, decrypted, passes every local check: decode, structure, rows |
//!
//! The same seven checks as locally, each saying what it did not do and why. Nothing is
//! written to the bucket: a remote verification is reported, not recorded.

use crate::checks::{self, Evidence};
use crate::{cli, freshness, gather, report_set, set_payload, Target};
use ops_catalog::catalog::{self, CheckResult, CheckStatus, SetRef, Verdict};
use ops_catalog::keys::TrustedKey;
use ops_core::event::{Emitter, Severity};
use ops_core::event_names as names;
use ops_core::{Category, ExitCode, OpsError};
use ops_offsite::backend::{self, Store, StoreError, StoreOptions};
use ops_offsite::keys::Identities;
use ops_offsite::sealed::open::{check_descriptor, hash_objects, scan_dir, set_dirs};
use ops_offsite::sealed::open::{unseal_into, SealedSet};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Instant;

fn check(name: &str, status: CheckStatus, reason: impl Into<String>) -> CheckResult {
    CheckResult {
        name: name.into(),
        status,
        reason: reason.into(),
    }
}

/// The seven checks of a set that one check (`failing`) fails and after which nothing
/// else could be looked at.
fn only_failing(failing: &str, reason: String, skipped: &str) -> Vec<CheckResult> {
    checks::CHECKS
        .iter()
        .map(|&c| {
            if c == failing {
                check(c, CheckStatus::Fail, reason.clone())
            } else {
                check(c, CheckStatus::Skip, skipped)
            }
        })
        .collect()
}

/// A check that passes with `reason` when nothing is wrong, and fails naming every problem.
fn judged(name: &str, problems: Vec<String>, reason: &str) -> CheckResult {
    if problems.is_empty() {
        check(name, CheckStatus::Pass, reason)
    } else {
        check(name, CheckStatus::Fail, problems.join("; "))
    }
}

/// How deep this run looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Depth {
    Presence,
    Ciphertext,
    Full,
}

impl Depth {
    fn name(self) -> &'static str {
        match self {
            Depth::Presence => "presence",
            Depth::Ciphertext => "ciphertext",
            Depth::Full => "full",
        }
    }
}

/// The checks of a sealed set without its plaintext: what the envelope and the listing
/// (and with `--read-data` the ciphertext) prove. Pure but for the download.
fn light_checks(
    store: &dyn Store,
    set: &SealedSet,
    read_data: bool,
    trust: &TrustedKey,
) -> Result<Vec<CheckResult>, StoreError> {
    use CheckStatus::*;
    let mut out = vec![
        check(
            "manifest",
            Pass,
            format!(
                "envelope v{}: {} objects, lies where it says (the manifest itself is encrypted: --identity reads it)",
                set.envelope.v,
                set.envelope.objects.len()
            ),
        ),
        match &set.damage.unsigned_manifest {
            None => check(
                "signature",
                Pass,
                format!(
                    "the envelope and the manifest are signed with the trusted key {}",
                    trust.key_id()
                ),
            ),
            Some(why) => check("signature", Fail, why.clone()),
        },
    ];
    // Judged once, from the listing, by scan_dir.
    let missing = set.damage.objects.clone();
    let present = missing.is_empty();
    out.push(judged(
        "files",
        missing,
        "every object of the envelope is there with its size",
    ));
    out.push(if !read_data {
        check(
            "checksum",
            Skip,
            "the ciphertext was not read: --read-data downloads and hashes it",
        )
    } else if !present {
        check("checksum", Skip, "objects are missing")
    } else {
        let (problems, _) = hash_objects(store, set)?;
        judged(
            "checksum",
            problems,
            "every object's SHA-256 is the envelope's (ciphertext)",
        )
    });
    for c in ["decode", "structure", "rows"] {
        out.push(check(
            c,
            Skip,
            "the content is encrypted: --identity decrypts and checks it",
        ));
    }
    Ok(out)
}

/// The full proof: the set unsealed into a scratch catalog (every object checked against
/// the envelope, every file against its manifest), then judged as a local set.
fn full_checks(
    store: &dyn Store,
    set: &SealedSet,
    identities: &Identities,
    trust: &TrustedKey,
) -> Result<(Option<Evidence>, Vec<CheckResult>), OpsError> {
    let scratch = ops_core::scratch::dir("verify")
        .map_err(|e| OpsError::io("creating a scratch directory", &e))?;
    match unseal_into(store, set, identities, trust, scratch.path()) {
        Ok((path, _)) => {
            let label = catalog::decode_db_dir(&set.dir);
            let dir = catalog::SetDir {
                database: label,
                path: scratch.path().join(&set.dir),
                trust: Some(trust.clone()),
            };
            let t = Target {
                dir,
                set: SetRef {
                    id: set.id.clone(),
                    path,
                },
            };
            let evidence = gather(&t);
            let (_, checks) = checks::evaluate(&evidence);
            Ok((Some(evidence), checks))
        }
        // The store itself failing stops the run; anything about this set fails it.
        Err(e) if e.category == Category::Dependency || e.code == "wrong_identity" => Err(e),
        Err(e) => {
            let failing = match e.code {
                "signature_invalid" => "signature",
                "store_not_found" | "object_missing" => "files",
                "object_altered" | "decrypt_failed" | "checksum_mismatch" => "checksum",
                _ => "manifest",
            };
            let checks = only_failing(
                failing,
                format!("{}: {}", e.code, e.message),
                &format!("the set could not be unsealed ({})", e.code),
            );
            Ok((None, checks))
        }
    }
}

fn verdict_of(checks: &[CheckResult]) -> Verdict {
    if checks.iter().any(|c| c.status == CheckStatus::Fail) {
        Verdict::Fail
    } else {
        Verdict::Pass
    }
}

/// Leaves this run's result per database in the state directory (if one is set), where
/// ops-status shows whether each off-site copy was verified, when and how deeply.
fn record(
    location: &str,
    depth: Depth,
    databases: &serde_json::Map<String, serde_json::Value>,
    failed: &BTreeMap<String, Vec<String>>,
    emitter: &Emitter,
) {
    let location = ops_core::redact::scrub(location.trim_end_matches('/'));
    let location = location.as_str();
    ops_core::state::write_record(
        &ops_offsite::sealed::remote_verify_record(location),
        &json!({"v": 1, "location": location, "verified_at": ops_core::timefmt::now_rfc3339(),
                "depth": depth.name(), "correlation_id": emitter.correlation_id(),
                "databases": databases, "failed": failed}),
    );
}

/// Verifies the sealed catalog at `location`.
pub fn execute(
    args: &cli::Args,
    location: &str,
    emitter: &Emitter,
) -> Result<(ExitCode, serde_json::Value), OpsError> {
    let trust = args.trust.require()?;
    let identities = args.identity.load()?;
    let depth = match (
        &identities,
        args.read_data || args.read_data_subset.is_some(),
    ) {
        (Some(_), _) => Depth::Full,
        (None, true) => Depth::Ciphertext,
        (None, false) => Depth::Presence,
    };
    let store = backend::open_location(location, &StoreOptions::default())
        .map_err(|e| e.to_ops_error("opening the catalog"))?;
    let store = store.as_ref();
    check_descriptor(store)?;
    let at = |e: StoreError| e.to_ops_error(&format!("reading {location}"));
    let now = jiff::Timestamp::now();
    let (mut checked, mut passed, mut problems) = (0usize, 0usize, 0usize);
    let mut newest = Vec::new();
    // Per database, what this run found of its newest checked set: for ops-status.
    let mut recorded = serde_json::Map::new();
    // Per directory of sets (its encoded name, never the label: a database may be named
    // `_globals`), every set this run failed: remote rotation counts them for nothing.
    let mut failed_sets: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (dir, label) in set_dirs(store, |l| args.select.wants(l)).map_err(at)? {
        let scanned = scan_dir(store, &dir, &trust, now).map_err(at)?;
        for r in &scanned.rejected {
            problems += 1;
            let failing = if r.code == "signature_invalid" {
                "signature"
            } else {
                "manifest"
            };
            let checks = only_failing(
                failing,
                format!("{}: {}", r.code, r.reason),
                "not a usable set",
            );
            report_set(
                emitter,
                Verdict::Fail,
                json!({"database": label, "id": r.id, "path": format!("{location}/{dir}/{}", r.id),
                       "verdict": Verdict::Fail, "checks": checks, "bytes": null, "raw_bytes": null,
                       "tables": null, "rows": null, "large_objects": null, "recorded": false,
                       "duration_ms": 0, "depth": depth.name()}),
            );
        }
        for set in scanned.sets.iter().filter(|s| !s.strays.is_empty()) {
            emitter.emit(
                names::VERIFY_FINDING,
                Severity::Warning,
                json!({"kind": "stray_objects", "database": label, "id": set.id,
                       "path": format!("{location}/{dir}/{}", set.id), "objects": set.strays,
                       "message": format!("{} object(s) its envelope does not name ({}): a copy in progress, or left by an interrupted one; backup-rotate deletes them with the set", set.strays.len(), set.strays.join(", "))}),
            );
        }
        for id in &scanned.incomplete {
            emitter.emit(
                names::VERIFY_FINDING,
                Severity::Warning,
                json!({"kind": "set_incomplete", "database": label, "id": id,
                       "path": format!("{location}/{dir}/{id}"),
                       "message": "objects without an envelope: a copy in progress, or left by an interrupted copy or deletion; never counted as a set, and no pgops tool removes them yet (delete them by hand once no copy runs)"}),
            );
        }
        let chosen: Vec<&SealedSet> = if args.all_sets {
            scanned.sets.iter().collect()
        } else {
            scanned.sets.last().into_iter().collect()
        };
        let mut newest_pass = None;
        for set in chosen {
            let started = Instant::now();
            // Outside this run's subset a set gets the presence check only.
            let set_depth = match args.read_data_subset {
                Some(subset) if !subset.contains(&set.id) => Depth::Presence,
                _ => depth,
            };
            let (evidence, checks) = match (&identities, set_depth) {
                (Some(ids), Depth::Full) => full_checks(store, set, ids, &trust)?,
                _ => (
                    None,
                    light_checks(store, set, set_depth == Depth::Ciphertext, &trust).map_err(at)?,
                ),
            };
            let verdict = verdict_of(&checks);
            let mut payload = match &evidence {
                Some(e) => set_payload(e, verdict, &checks),
                None => json!({"database": label, "id": set.id, "verdict": verdict,
                               "checks": checks, "bytes": null, "raw_bytes": null, "tables": null,
                               "rows": null, "large_objects": null}),
            };
            payload["database"] = label.clone().into();
            payload["path"] = format!("{location}/{dir}/{}", set.id).into();
            payload["recorded"] = false.into();
            payload["depth"] = set_depth.name().into();
            payload["stored_bytes"] = set.envelope.bytes().into();
            payload["duration_ms"] = (started.elapsed().as_millis() as u64).into();
            // Sets come oldest first: the newest checked one is what remains.
            recorded.insert(
                label.clone(),
                json!({"id": set.id, "verdict": verdict, "depth": set_depth.name()}),
            );
            report_set(emitter, verdict, payload);
            if verdict == Verdict::Fail {
                failed_sets
                    .entry(dir.clone())
                    .or_default()
                    .push(set.id.clone());
            }
            checked += 1;
            if verdict == Verdict::Pass {
                passed += 1;
                newest_pass = Some((set.id.clone(), set.started()));
            }
        }
        // Freshness counts the newest set that passed this run's depth.
        newest.push(freshness::Newest {
            database: label,
            passing: newest_pass,
            // The bucket holds no retirement (nothing unsigned silences freshness there).
            retired: false,
        });
    }
    let stale = freshness::stale(&newest, &args.expect, now, args.max_age);
    crate::report_stale(emitter, &stale, args.max_age);
    record(location, depth, &recorded, &failed_sets, emitter);
    let tally = json!({"sets_checked": checked, "sets_passed": passed,
                       "databases_stale": stale.len(), "depth": depth.name()});
    if checked == 0 && problems == 0 {
        return Err(OpsError::new(
            "nothing_checked",
            Category::Integrity,
            format!("{location}: no sealed set was found to verify: a run that checked nothing proves nothing"),
        ));
    }
    let exit = if passed == checked && problems == 0 && stale.is_empty() {
        ExitCode::Ok
    } else {
        ExitCode::Problem
    };
    Ok((exit, tally))
}
