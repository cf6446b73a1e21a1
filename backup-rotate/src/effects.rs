//! Applying a plan: the only code of backup-rotate that changes the disk.

use crate::policy::Decision;
use crate::report::{DeletionFailed, Pin, Retired, SetOutcome, Skipped, Unretired};
use crate::Tally;
use ops_catalog::catalog::{self, Catalog, SetDir};
use ops_catalog::sets::{ScannedDir, Sets, SetsDir};
use ops_core::atomic;
use ops_core::event::{actor, Emitter, Severity};
use ops_core::event_names as names;
use ops_core::{timefmt, OpsError};
use serde_json::json;

/// Applies the plan of one directory: reports what is kept, deletes (unless `dry_run`)
/// what goes, with why. A set whose deletion failed is counted and reported; a storage
/// that cannot be reached stops the run.
pub(crate) fn apply(
    sets: &dyn Sets,
    dir: &SetsDir,
    scan: &ScannedDir,
    plan: &[Decision],
    dry_run: bool,
    emitter: &Emitter,
    tally: &mut Tally,
) -> Result<(), OpsError> {
    // Each decision's place by id, looked up once: a scan over the sets per decision made
    // planning 10,000 sets quadratic (half its time in comparing ids).
    let places: std::collections::HashMap<&str, &str> = scan
        .sets
        .iter()
        .map(|s| (s.id.as_str(), s.place.as_str()))
        .collect();
    for d in plan {
        let place = places.get(d.id.as_str()).copied().unwrap_or_default();
        let outcome = |event| SetOutcome {
            event,
            database: &dir.label,
            id: &d.id,
            path: place,
            reasons: &d.reasons,
            dry_run,
            resumed: false,
        };
        if d.keep {
            tally.kept += 1;
            emitter.send(&outcome(names::ROTATE_KEPT));
            continue;
        }
        match if dry_run {
            Ok(())
        } else {
            sets.delete(dir, &d.id)
        } {
            Ok(()) => {
                tally.deleted += 1;
                emitter.send(&outcome(SetOutcome::deletion(dry_run)));
            }
            Err(e) if e.category == ops_core::Category::Dependency => return Err(e),
            Err(e) => {
                tally.failed_deletions += 1;
                emitter.send(&DeletionFailed {
                    database: &dir.label,
                    id: &d.id,
                    path: Some(place),
                    reasons: Some(&[]),
                    dry_run: Some(dry_run),
                    error: &e,
                });
            }
        }
    }
    Ok(())
}

/// Finishes (unless `dry_run`) the deletions a crash interrupted, and reports them.
pub fn finish_deletions(
    sets: &dyn Sets,
    dir: &SetsDir,
    dry_run: bool,
    emitter: &Emitter,
    deleted: &mut usize,
) {
    for f in sets.finish_deletions(dir, dry_run) {
        match f.result {
            Ok(()) => {
                *deleted += 1;
                emitter.send(&SetOutcome {
                    event: SetOutcome::deletion(dry_run),
                    database: &dir.label,
                    id: &f.id,
                    path: &f.place,
                    reasons: &["a deletion a crash interrupted: finished".to_string()],
                    dry_run,
                    resumed: true,
                });
            }
            Err(error) => emitter.send(&DeletionFailed {
                database: &dir.label,
                id: &f.id,
                path: None,
                reasons: None,
                dry_run: None,
                error: &error,
            }),
        }
    }
}

/// Reports what in a directory of sets is not one of its usable sets; touches none of it.
/// Refused sets (the storage's set rule, the clock rule) are warnings: a misplaced,
/// unreadable, forged or future set is kept, fills no period and anchors no rule, and the
/// operator must look.
pub fn report_non_sets(dir: &SetsDir, scan: &ScannedDir, emitter: &Emitter) {
    for r in &scan.refused {
        emitter.send(&Skipped {
            severity: Severity::Warning,
            database: Some(&dir.label),
            id: Some(&r.id),
            path: &r.place,
            code: Some(r.code),
            reason: format!(
                "not taken for a set ({}): {}; kept, never counted",
                r.code, r.reason
            ),
        });
    }
    for o in &scan.others {
        emitter.send(&Skipped {
            severity: Severity::Info,
            database: Some(&dir.label),
            id: o.id.as_deref(),
            path: &o.place,
            code: o.code,
            reason: o.reason.clone(),
        });
    }
}

/// `--pin` / `--unpin`: writes or removes the KEEP file of the named sets.
pub fn pins(
    dirs: &[&SetDir],
    pin: &[String],
    unpin: &[String],
    dry_run: bool,
    emitter: &Emitter,
    label: fn(&SetDir) -> String,
) -> Result<(), OpsError> {
    for (ids, pinning) in [(pin, true), (unpin, false)] {
        for id in ids {
            if timefmt::parse_set_id(id).is_none() {
                return Err(OpsError::validation(
                    "invalid_set_id",
                    format!("{id:?} is not a set id (like 20261124T030001Z)"),
                ));
            }
            let mut found = false;
            for dir in dirs {
                let Some(set) = Catalog::sets_in(&dir.path)
                    .unwrap_or_default()
                    .into_iter()
                    .find(|s| &s.id == id)
                else {
                    continue;
                };
                found = true;
                let keep = set.path.join(catalog::KEEP_FILE);
                if !dry_run {
                    let result = if pinning {
                        let text =
                            json!({"pinned_at": timefmt::now_rfc3339(), "by": actor()}).to_string();
                        atomic::write_file(&keep, text.as_bytes())
                    } else {
                        match std::fs::remove_file(&keep) {
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                            other => other.and_then(|()| atomic::fsync_dir(&set.path)),
                        }
                    };
                    result.map_err(|e| OpsError::io(format!("updating {}", keep.display()), &e))?;
                }
                emitter.send(&Pin {
                    pinned: pinning,
                    database: &label(dir),
                    id,
                    path: set.path.display().to_string(),
                    dry_run,
                });
            }
            if !found {
                return Err(OpsError::validation(
                    "set_not_found",
                    format!("no set {id} in the selected databases"),
                ));
            }
        }
    }
    Ok(())
}

/// One database to retire (`true`) or bring back (`false`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetireStep {
    pub dir: SetDir,
    pub retire: bool,
}

/// What `--retire`/`--unretire` would change (pure but for nothing: `dirs` is the listing).
/// Every name must be a database of the catalog: a typo retires nothing and says so.
pub fn retirement_plan(
    dirs: &[SetDir],
    retire: &[String],
    unretire: &[String],
) -> Result<Vec<RetireStep>, OpsError> {
    let mut plan = Vec::new();
    for (names, retiring) in [(retire, true), (unretire, false)] {
        for name in names {
            let Some(dir) = dirs.iter().find(|d| d.database.as_deref() == Some(name)) else {
                return Err(catalog::database_not_in_catalog(
                    name,
                    dirs,
                    "nothing was retired",
                ));
            };
            if plan.iter().any(|s: &RetireStep| s.dir == *dir) {
                return Err(OpsError::validation(
                    "invalid_argument",
                    format!("{name:?} is named twice (--retire and --unretire?)"),
                ));
            }
            plan.push(RetireStep {
                dir: dir.clone(),
                retire: retiring,
            });
        }
    }
    Ok(plan)
}

/// Applies a retirement plan (unless `dry_run`) and reports each step.
pub fn retirements(
    plan: &[RetireStep],
    reason: Option<&str>,
    dry_run: bool,
    emitter: &Emitter,
) -> Result<(), OpsError> {
    for step in plan {
        let database = step.dir.label().to_string();
        let path = step.dir.path.display().to_string();
        let newest = Catalog::sets_in(&step.dir.path)
            .unwrap_or_default()
            .last()
            .map(|s| s.id.clone());
        if step.retire {
            let record = catalog::Retirement::new(reason.map(str::to_string), actor());
            if !dry_run {
                catalog::write_retirement(&step.dir.path, &record)
                    .map_err(|e| OpsError::io_at("retiring", &step.dir.path, &e))?;
            }
            emitter.send(&Retired {
                database: &database,
                path: &path,
                retired_at: &record.retired_at,
                reason,
                newest_set: newest.as_deref(),
                dry_run,
            });
        } else {
            let was_retired = if dry_run {
                step.dir.path.join(catalog::RETIRED_FILE).exists()
            } else {
                catalog::remove_retirement(&step.dir.path)
                    .map_err(|e| OpsError::io_at("un-retiring", &step.dir.path, &e))?
            };
            emitter.send(&Unretired {
                database: &database,
                path: &path,
                was_retired,
                dry_run,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> SetDir {
        SetDir {
            database: Some(name.into()),
            path: format!("/c/{name}").into(),
            trust: None,
        }
    }

    #[test]
    fn retiring_names_a_database_of_the_catalog() {
        let dirs = [dir("app"), dir("legacy")];
        let plan = retirement_plan(&dirs, &["legacy".into()], &["app".into()]).unwrap();
        assert_eq!(plan.len(), 2);
        assert!(plan[0].retire && plan[0].dir == dirs[1]);
        assert!(!plan[1].retire && plan[1].dir == dirs[0]);
        let e = retirement_plan(&dirs, &["legacyy".into()], &[]).unwrap_err();
        assert_eq!(e.code, "database_not_in_catalog");
        assert!(e.message.contains("app, legacy"), "{}", e.message);
        let e = retirement_plan(&dirs, &["app".into()], &["app".into()]).unwrap_err();
        assert_eq!(e.code, "invalid_argument");
    }
}
