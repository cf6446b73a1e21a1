//! The snapshot: per database what its sets, their records and the drills say, computed
//! from facts already read (pure: `gather` reads, this decides, the views show).

use jiff::Timestamp;
use std::collections::BTreeMap;

/// What one set's files say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetFacts {
    pub id: String,
    pub started: Timestamp,
    /// Stored bytes of its files.
    pub bytes: u64,
    /// The dump's own size (raw bytes of its files): what the RTO forecast grows.
    pub raw_bytes: u64,
    pub duration_ms: u64,
    /// Its `verify.json`: whether it passed, and when (`None`: never verified).
    pub verified: Option<(bool, Timestamp)>,
    /// Its `offsite.json`: destination → when a complete copy was last confirmed there.
    pub offsite: Vec<(String, Timestamp)>,
    pub pinned: bool,
    /// Its archive restores only into this server major or newer (a pg_dump newer than
    /// its server made it), see `Manifest::restores_only_into`.
    pub restores_only_into: Option<u32>,
}

/// What one directory of sets (a database, or `_globals`) holds, oldest set first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbFacts {
    pub label: String,
    pub sets: Vec<SetFacts>,
    /// Retired on purpose (`backup-rotate --retire`) and no set since.
    pub retired: Option<Retired>,
}

/// A retirement in force: backups of the database stopped on purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retired {
    /// When (`None`: the record does not say).
    pub at: Option<Timestamp>,
    pub reason: Option<String>,
}

/// One drill's report, from the drill history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrillFacts {
    pub database: String,
    /// The set it restored.
    pub id: String,
    pub finished_at: Timestamp,
    pub rto_ms: u64,
    pub rpo_s: i64,
    pub completed: bool,
    /// The drilled set's size as dumped (absent in drills recorded before it was).
    pub bytes: Option<u64>,
}

/// A set, as the views show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetSummary {
    pub id: String,
    pub started: Timestamp,
    pub bytes: u64,
    pub duration_ms: u64,
    pub restores_only_into: Option<u32>,
}

impl From<&SetFacts> for SetSummary {
    fn from(s: &SetFacts) -> Self {
        SetSummary {
            id: s.id.clone(),
            started: s.started,
            bytes: s.bytes,
            duration_ms: s.duration_ms,
            restores_only_into: s.restores_only_into,
        }
    }
}

/// What pgops knows about one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbStatus {
    pub label: String,
    pub sets: usize,
    pub pinned: usize,
    /// The newest set, whatever its verification says.
    pub newest: Option<SetSummary>,
    /// The newest set that passed verification: the backup that counts.
    pub newest_good: Option<SetSummary>,
    /// The most recent verification of any of its sets: passed, and when.
    pub last_verify: Option<(bool, Timestamp)>,
    /// Per destination, the newest set with a confirmed copy there and when it was seen.
    pub offsite: BTreeMap<String, (String, Timestamp)>,
    /// Per off-site location, its last verification (state directory; empty without one).
    pub offsite_verified: BTreeMap<String, RemoteCheck>,
    pub last_drill: Option<DrillFacts>,
    /// When its last passing drill finished: what "drilled within its window" reads.
    pub last_passed_drill: Option<Timestamp>,
    /// Its passing drills with the size of the set they restored, and the size of each of
    /// its sets when taken: what the RTO forecast fits.
    pub drilled: Vec<ops_catalog::drills::Measured>,
    pub sizes: Vec<(Timestamp, u64)>,
    /// Retired: its freshness (backup, off-site) is not judged.
    pub retired: Option<Retired>,
}

/// port-audit's last summary, from the state directory's `audit.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFacts {
    pub finished_at: Timestamp,
    pub violations: u64,
    /// Every source could be read (an incomplete audit proves nothing about what it missed).
    pub complete: bool,
    /// What breaks the policy, e.g. `tcp/5432`.
    pub violating_ports: Vec<String>,
}

/// One verification of an off-site copy of a database (backup-verify against the bucket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteCheck {
    pub at: Timestamp,
    /// The newest set it checked there.
    pub id: String,
    pub passed: bool,
    /// `presence`, `ciphertext` or `full`: how much it proved.
    pub depth: String,
}

/// The last verification of one off-site catalog, from the state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteVerifyFacts {
    pub location: String,
    /// Per database label.
    pub databases: BTreeMap<String, RemoteCheck>,
}

/// Runs per tool and result (`ok`, `failed`, `error`), from the run history.
pub type RunCounts = BTreeMap<(String, String), u64>;

/// What the state directory holds: the run history and the last port audit. `None`
/// when no state directory was named.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StateFacts {
    pub runs: RunCounts,
    pub audit: Option<AuditFacts>,
    pub remote_verify: Vec<RemoteVerifyFacts>,
    /// Per systemd unit: how many failures were recorded, and the last one's time.
    pub unit_failures: BTreeMap<String, (u64, Timestamp)>,
    /// ops-notify's deliveries (`None`: it never ran here).
    pub notify: Option<NotifyFacts>,
    /// The newest run that found its configuration changed (FR27), from the run history.
    pub last_config_change: Option<ConfigChangeFacts>,
}

/// A run that found its configuration changed since its tool's last run: when, which
/// tool, what (item names, no values: a person reads the run trace for those), and the
/// words of its `config.changed` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigChangeFacts {
    pub at: Timestamp,
    pub tool: String,
    pub items: Vec<String>,
    pub correlation_id: String,
}

/// ops-notify's counts (`notify/stats.json`) and its outbox, per sink scheme.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NotifyFacts {
    pub sent: BTreeMap<String, u64>,
    pub failures: BTreeMap<String, u64>,
    pub dropped: BTreeMap<String, u64>,
    /// Messages waiting in the outbox for another attempt.
    pub queued: u64,
}

/// The catalog's file system: what is free (for the catalog's user) and its size.
pub use ops_core::disk::Space;

/// Everything, at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub taken_at: Timestamp,
    pub databases: Vec<DbStatus>,
    /// The state directory's facts (`None`: none was named).
    pub state: Option<StateFacts>,
    /// The catalog's file system (`None`: not read, e.g. a snapshot built in a test).
    pub catalog_space: Option<Space>,
    /// Whether the PostgreSQL server answered, and where it was asked (`None`: not
    /// asked; `ops-status serve` asks for `/readiness`).
    pub postgres: Option<(String, Result<(), String>)>,
}

fn status(db: &DbFacts, drills: &[DrillFacts]) -> DbStatus {
    let mut offsite: BTreeMap<String, (String, Timestamp)> = BTreeMap::new();
    for s in &db.sets {
        for (dest, at) in &s.offsite {
            // Sets are oldest first: a newer set's copy replaces an older one's.
            offsite.insert(dest.clone(), (s.id.clone(), *at));
        }
    }
    DbStatus {
        label: db.label.clone(),
        sets: db.sets.len(),
        pinned: db.sets.iter().filter(|s| s.pinned).count(),
        newest: db.sets.last().map(SetSummary::from),
        newest_good: db
            .sets
            .iter()
            .rev()
            .find(|s| matches!(s.verified, Some((true, _))))
            .map(SetSummary::from),
        last_verify: db
            .sets
            .iter()
            .filter_map(|s| s.verified)
            .max_by_key(|(_, at)| *at),
        offsite,
        offsite_verified: BTreeMap::new(),
        last_drill: drills
            .iter()
            .filter(|d| d.database == db.label)
            .max_by_key(|d| d.finished_at)
            .cloned(),
        last_passed_drill: drills
            .iter()
            .filter(|d| d.database == db.label && d.completed)
            .map(|d| d.finished_at)
            .max(),
        drilled: drills
            .iter()
            .filter(|d| d.database == db.label && d.completed)
            .filter_map(|d| {
                Some(ops_catalog::drills::Measured {
                    bytes: d.bytes?,
                    rto_ms: d.rto_ms,
                })
            })
            .collect(),
        sizes: db
            .sets
            .iter()
            .filter(|s| s.raw_bytes > 0)
            .map(|s| (s.started, s.raw_bytes))
            .collect(),
        retired: db.retired.clone(),
    }
}

impl DbStatus {
    /// The newest point it can be recovered to if the host is lost: the start of the
    /// newest set confirmed off-site (`offsite`: copies are expected), else of the newest
    /// good set; with what it is, in words.
    pub fn recovery_point(&self, offsite: bool) -> Option<(Timestamp, String)> {
        if offsite {
            return self
                .offsite
                .iter()
                .filter_map(|(dest, (id, _))| {
                    Some((
                        set_started(id)?,
                        format!("the newest set at {dest} is {id}"),
                    ))
                })
                .max_by_key(|(at, _)| *at);
        }
        self.newest_good
            .as_ref()
            .map(|g| (g.started, format!("the newest good set is {}", g.id)))
    }
}

/// When the set `id` (`20261123T030000Z`) started.
pub fn set_started(id: &str) -> Option<Timestamp> {
    jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", id)
        .ok()?
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

/// The snapshot of `databases` (sorted by label) and the drill history.
pub fn snapshot(databases: &[DbFacts], drills: &[DrillFacts], taken_at: Timestamp) -> Snapshot {
    let mut out: Vec<DbStatus> = databases.iter().map(|d| status(d, drills)).collect();
    out.sort_by(|a, b| a.label.cmp(&b.label));
    Snapshot {
        taken_at,
        databases: out,
        state: None,
        catalog_space: None,
        postgres: None,
    }
}

impl Snapshot {
    /// This snapshot with the state directory's facts: each database gets the last
    /// verification of its copies at every off-site location that was verified.
    pub fn with_state(mut self, state: StateFacts) -> Snapshot {
        for d in &mut self.databases {
            for r in &state.remote_verify {
                if let Some(check) = r.databases.get(&d.label) {
                    d.offsite_verified.insert(r.location.clone(), check.clone());
                }
            }
        }
        self.state = Some(state);
        self
    }
}

/// Facts for tests of this crate and of the tools over it (feature `fixtures`).
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures {
    use super::*;

    pub fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    pub fn set(id: &str, verified: Option<bool>, offsite: &[&str]) -> SetFacts {
        let started = t(&format!(
            "{}-{}-{}T{}:{}:{}Z",
            &id[0..4],
            &id[4..6],
            &id[6..8],
            &id[9..11],
            &id[11..13],
            &id[13..15]
        ));
        SetFacts {
            restores_only_into: None,
            id: id.into(),
            started,
            bytes: 1000,
            raw_bytes: 1000 * 3,
            duration_ms: 2500,
            verified: verified.map(|v| {
                (
                    v,
                    started
                        .checked_add(jiff::SignedDuration::from_mins(5))
                        .unwrap(),
                )
            }),
            offsite: offsite.iter().map(|d| (d.to_string(), started)).collect(),
            pinned: false,
        }
    }

    /// One database `app` with one verified set copied off-site, and a passed drill that
    /// took `rto_ms`, seen on 2026-11-24.
    pub fn one_app(rto_ms: u64) -> Snapshot {
        snapshot(
            &[DbFacts {
                retired: None,
                label: "app".into(),
                sets: vec![set("20261123T030000Z", Some(true), &["s3://b/p"])],
            }],
            &[DrillFacts {
                id: "20261124T030000Z".into(),
                database: "app".into(),
                finished_at: t("2026-11-23T05:00:00Z"),
                rto_ms,
                rpo_s: 7200,
                completed: true,
                bytes: None,
            }],
            t("2026-11-24T00:00:00Z"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    #[test]
    fn the_newest_good_set_is_the_backup_that_counts() {
        let db = DbFacts {
            retired: None,
            label: "app".into(),
            sets: vec![
                set("20261120T030000Z", Some(true), &["s3://b/p"]),
                set("20261121T030000Z", Some(true), &[]),
                set("20261122T030000Z", Some(false), &[]),
                set("20261123T030000Z", None, &[]),
            ],
        };
        let drills = [
            DrillFacts {
                id: "20261124T030000Z".into(),
                database: "app".into(),
                finished_at: t("2026-11-21T05:00:00Z"),
                rto_ms: 9000,
                rpo_s: 7200,
                completed: true,
                bytes: None,
            },
            DrillFacts {
                id: "20261124T030000Z".into(),
                database: "other".into(),
                finished_at: t("2026-11-22T05:00:00Z"),
                rto_ms: 1,
                rpo_s: 1,
                completed: false,
                bytes: None,
            },
        ];
        let s = snapshot(&[db], &drills, t("2026-11-24T00:00:00Z"));
        let app = &s.databases[0];
        assert_eq!(app.sets, 4);
        assert_eq!(app.newest.as_ref().unwrap().id, "20261123T030000Z");
        assert_eq!(app.newest_good.as_ref().unwrap().id, "20261121T030000Z");
        // The most recent verification failed (of the 22nd's set).
        assert!(!app.last_verify.unwrap().0);
        assert_eq!(app.offsite["s3://b/p"].0, "20261120T030000Z");
        assert_eq!(app.last_drill.as_ref().unwrap().rto_ms, 9000);
    }

    #[test]
    fn a_database_without_sets_has_nothing_to_show() {
        let s = snapshot(
            &[DbFacts {
                retired: None,
                label: "empty".into(),
                sets: vec![],
            }],
            &[],
            t("2026-11-24T00:00:00Z"),
        );
        let d = &s.databases[0];
        assert!(d.newest.is_none() && d.newest_good.is_none() && d.last_verify.is_none());
        assert!(d.offsite.is_empty() && d.last_drill.is_none());
    }
}
