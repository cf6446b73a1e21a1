//! Reading what the tools wrote into the model's facts: a local catalog's sets with their
//! `verify.json`, `offsite.json` and pins, and its drill history. Read-only: ops-status
//! never writes to a catalog, and takes no lock (a set deleted meanwhile is simply gone).

use crate::cli::SourceArgs;
use crate::model;
use crate::model::{
    AuditFacts, ConfigChangeFacts, DbFacts, DrillFacts, NotifyFacts, RemoteCheck,
    RemoteVerifyFacts, RunCounts, SetFacts, StateFacts,
};
use jiff::Timestamp;
use ops_catalog::catalog::{Catalog, Verdict};
use ops_core::{Category, OpsError};
use std::path::Path;

pub use ops_catalog::drills::DRILLS_FILE;

fn time(text: &str) -> Option<Timestamp> {
    text.parse().ok()
}

/// The facts of one directory of sets.
fn dir_facts(dir: &ops_catalog::catalog::SetDir, now: Timestamp) -> Result<DbFacts, OpsError> {
    let scanned = dir
        .scan(now)
        .map_err(|e| OpsError::io(format!("listing {}", dir.path.display()), &e))?;
    let sets = scanned
        .sets
        .iter()
        .map(|c| SetFacts {
            id: c.set.id.clone(),
            started: c.set.started(),
            bytes: c.manifest.files.iter().map(|f| f.bytes).sum(),
            raw_bytes: c.manifest.files.iter().map(|f| f.raw_bytes).sum(),
            duration_ms: c.manifest.duration_ms,
            verified: c
                .set
                .read_verify()
                .and_then(|r| time(&r.verified_at).map(|at| (r.verdict == Verdict::Pass, at))),
            offsite: c
                .set
                .read_offsite()
                .copies
                .into_iter()
                .filter_map(|o| time(&o.confirmed_at).map(|at| (o.destination, at)))
                .collect(),
            pinned: c.set.is_pinned(),
            restores_only_into: c.manifest.restores_only_into(),
        })
        .collect();
    Ok(DbFacts {
        label: dir.label().to_string(),
        sets,
        retired: scanned.retired().map(|r| crate::model::Retired {
            at: r.at(),
            reason: r.reason.clone(),
        }),
    })
}

/// Every directory of sets of the catalog at `root`, with the facts of its usable sets
/// (the catalog's one rule decides which are sets), oldest first. Directories are read
/// in parallel, one per core: the walk is a few small reads per set, bound by system
/// calls, not by the disk.
pub fn catalog(root: &Path) -> Result<Vec<DbFacts>, OpsError> {
    let catalog = Catalog::new(root);
    let now = jiff::Timestamp::now();
    let dirs = catalog.listing()?.set_dirs;
    ops_core::parallel::map(&dirs, ops_core::parallel::cores(), |d| dir_facts(d, now))
        .into_iter()
        .collect()
}

/// The drills of the history file at `path` (missing: none), read by the catalog's one
/// reader of it; a line that is not a drill, or one with no finish time, is skipped.
pub fn drills(path: &Path) -> Result<Vec<DrillFacts>, OpsError> {
    let (entries, _damaged) = ops_catalog::drills::read(path)
        .map_err(|e| OpsError::io(format!("reading {}", path.display()), &e))?;
    Ok(entries
        .into_iter()
        .filter_map(|e| {
            Some(DrillFacts {
                finished_at: time(e.finished_at.as_deref()?)?,
                completed: e.completed(),
                database: e.database,
                id: e.id,
                rto_ms: e.rto_ms,
                rpo_s: e.rpo_s,
                bytes: e.bytes,
            })
        })
        .collect())
}

fn read_optional(path: &Path) -> Result<Option<String>, OpsError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(OpsError::io(format!("reading {}", path.display()), &e)),
    }
}

/// Runs counted by tool and result from the run history's `run.finished` lines. A line
/// that does not parse (a torn write, a hand edit) is skipped, not fatal.
pub fn runs(text: &str) -> (RunCounts, Option<ConfigChangeFacts>) {
    let mut out = RunCounts::new();
    let mut changed: Option<ConfigChangeFacts> = None;
    for v in text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
    {
        if let (Some(tool), Some(result)) = (v["source"].as_str(), v["result"].as_str()) {
            *out.entry((tool.to_string(), result.to_string()))
                .or_default() += 1;
            if let (Some(changes), Some(at)) = (
                v["config_changes"].as_array(),
                v["ts"].as_str().and_then(time),
            ) {
                if changed.as_ref().is_none_or(|c| c.at <= at) {
                    changed = Some(ConfigChangeFacts {
                        at,
                        tool: tool.to_string(),
                        items: changes
                            .iter()
                            .filter_map(|c| c["item"].as_str().map(str::to_string))
                            .collect(),
                        correlation_id: v["correlation_id"].as_str().unwrap_or("").to_string(),
                    });
                }
            }
        }
    }
    (out, changed)
}

/// port-audit's last summary (`None`: no audit recorded, or a record that cannot be read
/// as one, which is the same for a person: no audit to trust).
pub fn audit(text: &str) -> Option<AuditFacts> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    Some(AuditFacts {
        finished_at: time(v["finished_at"].as_str()?)?,
        violations: v["violations"].as_u64()?,
        complete: v["complete"].as_bool()?,
        violating_ports: v["violating_ports"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// The host's last audit and the last probe-only audit as one: a violation of either
/// stands, both must be complete; the time is the host audit's (a probe alone proves
/// nothing about sockets and rules).
pub fn merge_audits(host: Option<AuditFacts>, probe: Option<AuditFacts>) -> Option<AuditFacts> {
    match (host, probe) {
        (Some(h), Some(p)) => {
            let mut ports = h.violating_ports.clone();
            ports.extend(
                p.violating_ports
                    .into_iter()
                    .filter(|x| !h.violating_ports.contains(x)),
            );
            Some(AuditFacts {
                finished_at: h.finished_at,
                violations: h.violations + p.violations,
                complete: h.complete && p.complete,
                violating_ports: ports,
            })
        }
        (h, p) => h.or(p),
    }
}

/// One off-site catalog's last verification (`None`: not such a record).
pub fn remote_verify(text: &str) -> Option<RemoteVerifyFacts> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let at = time(v["verified_at"].as_str()?)?;
    let databases = v["databases"]
        .as_object()?
        .iter()
        .filter_map(|(label, d)| {
            Some((
                label.clone(),
                RemoteCheck {
                    at,
                    id: d["id"].as_str()?.to_string(),
                    passed: d["verdict"] == "pass",
                    depth: d["depth"].as_str()?.to_string(),
                },
            ))
        })
        .collect();
    Some(RemoteVerifyFacts {
        location: v["location"].as_str()?.to_string(),
        databases,
    })
}

/// The unit failures recorded by `ops-status record-failure`, per unit: how many and the
/// last one's time. A line that does not parse is skipped.
pub fn unit_failures(text: &str) -> std::collections::BTreeMap<String, (u64, Timestamp)> {
    let mut out = std::collections::BTreeMap::new();
    for v in text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
    {
        if let (Some(unit), Some(at)) = (v["unit"].as_str(), v["at"].as_str().and_then(time)) {
            let e = out.entry(unit.to_string()).or_insert((0, at));
            e.0 += 1;
            e.1 = e.1.max(at);
        }
    }
    out
}

/// What the state directory `dir` holds (its files missing: nothing recorded yet).
pub fn state(dir: &Path) -> Result<StateFacts, OpsError> {
    let runs_text = read_optional(&dir.join(ops_core::state::RUNS_FILE))?;
    let failures_text = read_optional(&dir.join(ops_core::state::UNIT_FAILURES_FILE))?;
    let audit_text = read_optional(&dir.join(ops_core::state::AUDIT_FILE))?;
    let probe_text = read_optional(&dir.join(ops_core::state::AUDIT_PROBE_FILE))?;
    let remote_dir = dir.join(ops_core::state::REMOTE_VERIFY_DIR);
    let mut remote = Vec::new();
    match std::fs::read_dir(&remote_dir) {
        Ok(entries) => {
            for e in entries.flatten() {
                let path = e.path();
                if path.extension().is_some_and(|x| x == "json") {
                    if let Some(r) = read_optional(&path)?.as_deref().and_then(remote_verify) {
                        remote.push(r);
                    }
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(OpsError::io(
                format!("listing {}", remote_dir.display()),
                &e,
            ))
        }
    }
    remote.sort_by(|a, b| a.location.cmp(&b.location));
    let (runs, last_config_change) = runs_text.as_deref().map(runs).unwrap_or_default();
    Ok(StateFacts {
        notify: notify(dir)?,
        runs,
        last_config_change,
        audit: merge_audits(
            audit_text.as_deref().and_then(audit),
            probe_text.as_deref().and_then(audit),
        ),
        remote_verify: remote,
        unit_failures: failures_text
            .as_deref()
            .map(unit_failures)
            .unwrap_or_default(),
    })
}

/// ops-notify's counts and outbox in `<state dir>/notify/` (`None`: it never ran here).
fn notify(dir: &Path) -> Result<Option<NotifyFacts>, OpsError> {
    let notify = dir.join("notify");
    let Some(text) = read_optional(&notify.join("stats.json"))? else {
        return Ok(None);
    };
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let counts = |key: &str| -> std::collections::BTreeMap<String, u64> {
        v[key]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, n)| Some((k.clone(), n.as_u64()?)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let queued = std::fs::read_dir(notify.join("outbox"))
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .count() as u64
        })
        .unwrap_or(0);
    Ok(Some(NotifyFacts {
        sent: counts("sent"),
        failures: counts("failures"),
        dropped: counts("dropped"),
        queued,
    }))
}

/// The catalog the flags name: its root, the databases `-d` selects, and the drills.
pub fn load_catalog(
    common: &SourceArgs,
) -> Result<(Vec<model::DbFacts>, Vec<model::DrillFacts>), OpsError> {
    let root = common.at.dir()?;
    if !root.is_dir() {
        return Err(OpsError::new(
            "catalog_missing",
            Category::Io,
            format!("{} is not a directory", root.display()),
        ));
    }
    let mut dbs = catalog(root)?;
    dbs.retain(|d| common.select.wants(&d.label));
    dbs.sort_by(|a, b| a.label.cmp(&b.label));
    Ok((dbs, drills(&root.join(DRILLS_FILE))?))
}

/// Reads the catalog the flags name into a snapshot.
pub fn load(common: &SourceArgs) -> Result<model::Snapshot, OpsError> {
    let (dbs, drills) = load_catalog(common)?;
    let mut snapshot = model::snapshot(&dbs, &drills, jiff::Timestamp::now());
    snapshot.catalog_space = common.at.dir().ok().and_then(ops_core::disk::space);
    Ok(match &common.state_dir {
        Some(dir) => snapshot.with_state(state(dir)?),
        None => snapshot,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_and_their_records_become_facts() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let old = testkit::fake::write_set(root, Some("app"), "20261120T030000Z");
        testkit::fake::write_set(root, Some("app"), "20261121T030000Z");
        testkit::fake::write_set(root, None, "20261121T030000Z");
        std::fs::create_dir_all(root.join("app/20261122T030000Z")).unwrap(); // not a set
        ops_catalog::catalog::record_offsite(&old, "s3://b/p", "seal").unwrap();
        std::fs::write(old.join("KEEP"), b"").unwrap();
        std::fs::write(
            old.join("verify.json"),
            serde_json::json!({"v": 1, "id": "20261120T030000Z", "database": "app",
                "verified_at": "2026-11-20T04:00:00Z", "verdict": "pass", "checks": [],
                "tool": {"name": "backup-verify", "version": "0"}, "correlation_id": "c"})
            .to_string(),
        )
        .unwrap();
        std::fs::write(
            root.join("app/RETIRED"),
            r#"{"v":1,"retired_at":"2026-11-22T00:00:00Z","by":null,"reason":"dropped"}"#,
        )
        .unwrap();
        let facts = catalog(root).unwrap();
        assert_eq!(
            facts[1].retired.as_ref().unwrap().reason.as_deref(),
            Some("dropped")
        );
        assert!(facts[0].retired.is_none());
        let labels: Vec<&str> = facts.iter().map(|d| d.label.as_str()).collect();
        assert_eq!(labels, ["_globals", "app"]);
        let app = &facts[1];
        assert_eq!(
            app.sets.len(),
            2,
            "the directory without a manifest is not a set"
        );
        assert!(app.sets[0].pinned && !app.sets[1].pinned);
        assert!(app.sets[0].verified.unwrap().0);
        assert!(app.sets[1].verified.is_none());
        assert_eq!(app.sets[0].offsite[0].0, "s3://b/p");

        let history = root.join(DRILLS_FILE);
        std::fs::write(
            &history,
            testkit::fake::drill_line("app", "2026-11-21T05:00:00Z", 900, 7200, true)
                + "not json\n",
        )
        .unwrap();
        let d = drills(&history).unwrap();
        assert_eq!(d.len(), 1);
        assert!(d[0].completed && d[0].rto_ms == 900);
        assert!(drills(&root.join("none")).unwrap().is_empty());
    }

    #[test]
    fn the_run_history_is_counted_and_the_last_audit_read() {
        let text = concat!(
            "{\"event\":\"run.finished\",\"source\":\"pgdump-run\",\"result\":\"ok\"}\n",
            "{\"event\":\"run.finished\",\"source\":\"pgdump-run\",\"result\":\"ok\"}\n",
            "{\"event\":\"run.finished\",\"source\":\"pgdump-run\",\"result\":\"error\"}\n",
            "{\"event\":\"run.finished\",\"source\":\"backup-rotate\",\"result\":\"ok\",\"ts\":\"2026-11-24T03:00:00Z\",\"correlation_id\":\"c1\",\"config_changes\":[{\"item\":\"setting:retention /b\",\"change\":\"changed\"}]}\n",
            "{\"event\":\"run.finished\",\"source\":\"pgdump-run\",\"result\":\"ok\",\"ts\":\"2026-11-24T04:00:00Z\"}\n",
            "{\"event\":\"run.fini",
        );
        let (r, changed) = runs(text);
        // The last configuration change (FR27) is the newest run that recorded one.
        let changed = changed.unwrap();
        assert_eq!(
            (
                changed.tool.as_str(),
                changed.items.as_slice(),
                changed.correlation_id.as_str()
            ),
            (
                "backup-rotate",
                ["setting:retention /b".to_string()].as_slice(),
                "c1"
            )
        );
        assert_eq!(r[&("pgdump-run".into(), "ok".into())], 3);
        assert_eq!(r[&("pgdump-run".into(), "error".into())], 1);
        assert_eq!(r.len(), 3);
        let a = audit(r#"{"finished_at":"2026-11-24T00:00:00.123Z","violations":1,"complete":true,"violating_ports":["tcp/5432"]}"#).unwrap();
        assert_eq!((a.violations, a.complete), (1, true));
        assert_eq!(a.violating_ports, ["tcp/5432"]);
        assert!(audit("{}").is_none() && audit("garbage").is_none());
        // A clean probe from outside never hides the host's violation.
        let probe =
            audit(r#"{"finished_at":"2026-11-24T01:00:00Z","violations":0,"complete":true}"#)
                .unwrap();
        let merged = merge_audits(Some(a.clone()), Some(probe.clone())).unwrap();
        assert_eq!((merged.violations, merged.violating_ports.len()), (1, 1));
        assert_eq!(merged.finished_at, a.finished_at);
        assert_eq!(merge_audits(None, Some(probe.clone())), Some(probe));
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(state(dir.path()).unwrap(), StateFacts::default());
        let r = remote_verify(r#"{"v":1,"location":"s3://b/p","verified_at":"2026-11-24T00:00:00Z","depth":"ciphertext",
            "databases":{"app":{"id":"20261123T030000Z","verdict":"fail","depth":"ciphertext"}}}"#).unwrap();
        assert_eq!(r.location, "s3://b/p");
        assert!(!r.databases["app"].passed);
        assert!(remote_verify("{}").is_none());
        let f = unit_failures(concat!(
            "{\"unit\":\"pgops-backup.service\",\"at\":\"2026-11-24T03:00:00Z\"}\n",
            "{\"unit\":\"pgops-backup.service\",\"at\":\"2026-11-25T03:00:00Z\"}\n",
            "{\"unit\":\"pgops-copy.service\",\"at\":\"2026-11-25T05:00:00Z\"}\ntorn",
        ));
        assert_eq!(f["pgops-backup.service"].0, 2);
        assert_eq!(
            f["pgops-backup.service"].1.to_string(),
            "2026-11-25T03:00:00Z"
        );
        assert_eq!(f.len(), 2);
    }
}
