//! Which sets a run checks and which databases it judges for freshness, from the listing
//! of any storage ([`Sets`]): the one place these rules are written.
//!
//! - The newest set of each database (or every set, `--all-sets`) is checked, and every
//!   entry named like a set that the set rule refuses: it is opened and checked as far as
//!   it can be, and fails naming the rule it breaks (its manifest check), so that nothing
//!   that is not a set passes for one.
//! - A set from the future (a clock that ran ahead, [`ops_catalog::catalog::clock_skew`])
//!   is refused so on every storage: a `clock_skew` finding says it is a clock fault, its
//!   bytes are still checked, it fails as `clock_skew` and is never fresh (ADR 0023).
//! - With `-`, exactly the sets the producer's events name are checked; their databases
//!   are judged for freshness.

use crate::report::Finding;
use ops_catalog::catalog::{Rejection, SetKind};
use ops_catalog::input::Input;
use ops_catalog::sets::{ScannedDir, Sets, SetsDir};
use ops_core::event::Severity;
use ops_core::{timefmt, Category, OpsError};

/// One set to check.
#[derive(Debug, Clone)]
pub struct Target {
    pub dir: SetsDir,
    pub id: String,
    /// Where it lies, for people.
    pub place: String,
    /// Refused by the set rule (not one of its database's sets: it counts for nothing):
    /// the code and why.
    pub refused: Option<(&'static str, String)>,
}

/// A database in scope for freshness, with its listing when it could be read.
#[derive(Debug)]
pub struct Scope {
    pub dir: SetsDir,
    pub scan: Option<ScannedDir>,
}

/// What the run does, decided before a set is opened.
#[derive(Debug, Default)]
pub struct Plan {
    pub targets: Vec<Target>,
    pub scope: Vec<Scope>,
    pub findings: Vec<Finding>,
    /// Findings that fail the run (a directory that cannot be listed).
    pub problems: usize,
}

/// What the flags choose.
#[derive(Clone, Copy)]
pub struct Choice<'a> {
    pub all_sets: bool,
    pub wants: &'a dyn Fn(&str) -> bool,
}

impl std::fmt::Debug for Choice<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Choice")
            .field("all_sets", &self.all_sets)
            .finish_non_exhaustive()
    }
}

/// Lists `sets` and decides. A storage that cannot be reached stops the run; a directory
/// that cannot be listed is an `unreadable` finding and the others are still checked.
pub fn plan(
    sets: &dyn Sets,
    choice: Choice,
    named: Option<&Input>,
    now: timefmt::Timestamp,
) -> Result<Plan, OpsError> {
    let mut plan = Plan::default();
    match named {
        Some(input) => {
            for n in input.sets.iter().filter(|n| (choice.wants)(&n.database)) {
                let dir = sets.dir_of((n.kind == SetKind::Database).then_some(&n.database));
                plan.targets.push(Target {
                    place: format!("{}/{}", dir.place, n.id),
                    id: n.id.clone(),
                    refused: None,
                    dir: dir.clone(),
                });
                if !plan.scope.iter().any(|s| s.dir.key == dir.key) {
                    // Freshness of a database whose listing fails is judged from no sets.
                    let scan = sets.scan(&dir, now).ok();
                    plan.scope.push(Scope { dir, scan });
                }
            }
        }
        None => {
            let dirs = sets.dirs(choice.wants)?;
            for path in dirs.unknown {
                plan.findings.push(finding(
                    Severity::Warning,
                    "unknown_entry",
                    None,
                    path,
                    "not a pgops entry: reported, never touched".into(),
                ));
            }
            for dir in dirs.dirs {
                match sets.scan(&dir, now) {
                    Ok(scan) => {
                        plan.targets.extend(chosen(&dir, &scan, choice.all_sets));
                        plan.scope.push(Scope {
                            dir,
                            scan: Some(scan),
                        });
                    }
                    Err(e) if e.category == Category::Dependency => return Err(e),
                    Err(e) => {
                        // One unreadable directory must not hide the others' verdicts.
                        plan.problems += 1;
                        plan.findings.push(finding(
                            Severity::Error,
                            "unreadable",
                            Some(&dir.label),
                            dir.place.clone(),
                            format!(
                                "cannot list the sets of {:?}: {}; its backups are unverifiable",
                                dir.label, e.message
                            ),
                        ));
                    }
                }
            }
        }
    }
    for scope in &plan.scope {
        plan.findings.extend(scope_findings(scope));
    }
    Ok(plan)
}

/// The sets of one listed directory a run checks, by id.
fn chosen(dir: &SetsDir, scan: &ScannedDir, all_sets: bool) -> Vec<Target> {
    let newest_first = scan.sets.iter().rev().map(|s| Target {
        dir: dir.clone(),
        id: s.id.clone(),
        place: s.place.clone(),
        refused: None,
    });
    let sets: Vec<Target> = newest_first
        .take(if all_sets { usize::MAX } else { 1 })
        .collect();
    let refused = scan.refused.iter().map(|r| Target {
        dir: dir.clone(),
        id: r.id.clone(),
        place: r.place.clone(),
        refused: Some((r.code, r.reason.clone())),
    });
    let mut out: Vec<Target> = sets.into_iter().chain(refused).collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// What a directory in scope shows besides its sets: entries that are not sets, sets from
/// the future, a retirement.
fn scope_findings(scope: &Scope) -> Vec<Finding> {
    let Some(scan) = &scope.scan else {
        return Vec::new();
    };
    let label = Some(scope.dir.label.as_str());
    let mut out = Vec::new();
    for o in &scan.others {
        let mut f = finding(
            Severity::Warning,
            o.kind,
            label,
            o.place.clone(),
            o.reason.clone(),
        );
        f.id = o.id.clone();
        out.push(f);
    }
    // A future set is a clock fault: freshness ignores it whatever its bytes.
    for r in scan
        .refused
        .iter()
        .filter(|r| r.code == Rejection::ClockSkew.code())
    {
        let mut f = finding(
            Severity::Warning,
            "clock_skew",
            label,
            r.place.clone(),
            r.reason.clone(),
        );
        f.code = Some(r.code);
        f.id = Some(r.id.clone());
        out.push(f);
    }
    if let Some(r) = &scan.retired {
        out.push(finding(
            Severity::Info,
            "retired",
            label,
            scope.dir.place.clone(),
            format!(
                "retired at {} ({}): its freshness is not judged; backup-rotate --unretire {} undoes it",
                if r.retired_at.is_empty() { "an unknown time" } else { &r.retired_at },
                r.reason.as_deref().unwrap_or("no reason given"),
                scope.dir.label
            ),
        ));
    }
    out
}

fn finding(
    severity: Severity,
    kind: &'static str,
    database: Option<&str>,
    path: String,
    message: String,
) -> Finding {
    Finding {
        severity,
        kind,
        code: None,
        database: database.map(str::to_string),
        id: None,
        path,
        message,
    }
}

/// Where the catalog is: `--backup-dir`, or the catalog the producer's events name.
pub fn location(
    backup_dir: Option<&std::path::Path>,
    named: Option<&Input>,
) -> Result<std::path::PathBuf, OpsError> {
    match (backup_dir, named) {
        (Some(d), _) => Ok(d.to_path_buf()),
        (None, Some(i)) => match i.catalog_root() {
            Some(root) => Ok(root),
            None if i.sets.is_empty() => Err(OpsError::new(
                "nothing_checked",
                Category::Integrity,
                "no backup.completed event on stdin: nothing to verify",
            )),
            None => Err(OpsError::validation(
                "backup_dir_missing",
                "cannot tell the catalog from the events: pass --backup-dir",
            )),
        },
        (None, None) => Err(ops_catalog::cli::backup_dir_missing()),
    }
}
