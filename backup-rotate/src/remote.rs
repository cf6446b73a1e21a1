//! Retention on a sealed catalog (an `s3://` location, ADR 0013 and 0014): the same policy
//! and the same safety rules as locally, applied to the sets whose envelope is signed by
//! the trusted key. It never needs the identity: only envelopes are read.
//!
//! What counts: usable sealed sets only. A set whose signature does not check, that lies
//! elsewhere than its envelope says, or that has objects but no envelope (a copy in
//! progress) is reported and never deleted, and never fills a retention slot: a forged
//! newer set cannot push a real one out.

use crate::policy::{self, Rules, SetInfo};
use crate::{cli, Tally};
use ops_catalog::catalog::KEEP_FILE;
use ops_core::event::{Emitter, Severity};
use ops_core::event_names as names;
use ops_core::OpsError;
use ops_offsite::backend::{self, Store, StoreError, StoreOptions};
use ops_offsite::sealed::open::{check_descriptor, scan_dir, set_dirs, SealedDir};
use ops_offsite::sealed::write::delete_sealed;
use serde_json::json;

/// What a sealed directory's sets are to the policy: no verify record lives in a bucket;
/// a set the listing shows damaged (an object missing or of the wrong size, an unsigned
/// manifest) is failed, as a local set whose verification failed: it fills no period and
/// is never min-keep. A `KEEP` object pins.
fn infos(scanned: &SealedDir, failed: &[String]) -> Vec<SetInfo> {
    scanned
        .sets
        .iter()
        .map(|s| SetInfo {
            id: s.id.clone(),
            time: s.started(),
            failed: s.damage_text().or_else(|| {
                failed
                    .contains(&s.id)
                    .then(|| "its verification failed in the bucket".to_string())
            }),
            pinned: scanned
                .objects
                .contains_key(&format!("{}/{KEEP_FILE}", s.id)),
        })
        .collect()
}

/// Applies `rules` to the sealed catalog at `location`.
pub(crate) fn execute(
    args: &cli::Args,
    location: &str,
    rules: &Rules,
    tz: &jiff::tz::TimeZone,
    emitter: &Emitter,
    tally: &mut Tally,
) -> Result<(), OpsError> {
    if !args.pin.is_empty() || !args.unpin.is_empty() {
        return Err(OpsError::validation(
            "invalid_argument",
            "--pin and --unpin work on local catalogs: pin the set there before it is copied",
        ));
    }
    if !args.retire.is_empty() || !args.unretire.is_empty() {
        // A marker in the bucket would be the one unsigned thing there, and it silences
        // freshness: whoever can write to the bucket could hide that backups stopped.
        return Err(OpsError::validation(
            "invalid_argument",
            "--retire and --unretire work on local catalogs: retire the database in the catalog on the backup host",
        ));
    }
    let trust = args.trust.require()?;
    let store = backend::open_location(location, &StoreOptions::default())
        .map_err(|e| e.to_ops_error("opening the catalog"))?;
    let store: &dyn Store = store.as_ref();
    check_descriptor(store)?;
    let at = |e: StoreError| e.to_ops_error(&format!("reading {location}"));
    let now = jiff::Timestamp::now();
    // What the last verification of this bucket (`PGOPS_STATE_DIR`) found failed, as a
    // local set's verify.json: e.g. a ciphertext altered in place, which no listing shows.
    let remotely_failed = ops_offsite::sealed::remotely_failed(location);
    for (dir, database) in set_dirs(store, |l| args.select.wants(l)).map_err(at)? {
        let scanned = scan_dir(store, &dir, &trust, now).map_err(at)?;
        let path = |id: &str| format!("{location}/{dir}/{id}");
        for r in &scanned.rejected {
            emitter.emit(
                names::ROTATE_SKIPPED,
                Severity::Warning,
                json!({"database": database, "id": r.id, "path": path(&r.id), "code": r.code,
                       "reason": format!("not taken for a set ({}): {}; kept, never counted", r.code, r.reason)}),
            );
        }
        for id in &scanned.incomplete {
            emitter.emit(
                names::ROTATE_SKIPPED,
                Severity::Info,
                json!({"database": database, "id": id, "path": path(id), "code": "set_incomplete",
                       "reason": "objects without an envelope: a copy in progress or interrupted; kept"}),
            );
        }
        let infos = infos(
            &scanned,
            remotely_failed
                .get(&database)
                .map_or(&[][..], Vec::as_slice),
        );
        crate::warn_if_none_passed(&infos, &database, &format!("{location}/{dir}"), emitter);
        let plan = policy::plan(&infos, rules, tz);
        for d in plan {
            if d.keep {
                tally.kept += 1;
                emitter.emit(
                    names::ROTATE_KEPT,
                    Severity::Info,
                    json!({"database": database, "id": d.id, "path": path(&d.id),
                           "reasons": d.reasons, "dry_run": args.dry_run}),
                );
                continue;
            }
            let prefix = format!("{}/", d.id);
            let listed: Vec<String> = scanned
                .objects
                .keys()
                .filter_map(|k| k.strip_prefix(&prefix).map(str::to_string))
                .collect();
            let done = if args.dry_run {
                Ok(())
            } else {
                delete_sealed(store, &dir, &d.id, &listed)
            };
            let payload = json!({"database": database, "id": d.id, "path": path(&d.id),
                                 "reasons": d.reasons, "dry_run": args.dry_run});
            match done {
                Ok(()) => {
                    tally.deleted += 1;
                    emitter.emit(
                        crate::execute::deletion_event(args.dry_run),
                        Severity::Info,
                        payload,
                    );
                }
                Err(e) if e.category == ops_core::Category::Dependency => return Err(e),
                Err(e) => {
                    tally.failed_deletions += 1;
                    emitter.emit_error(names::ROTATE_FAILED, Severity::Error, &e, payload);
                }
            }
        }
    }
    Ok(())
}
