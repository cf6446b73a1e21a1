//! `ops-status health`: is everything pgops promises true right now? One verdict per
//! component, with the reason for each one that is not ready, and an overall status:
//! healthy (every component ready), degraded (one is not), or unknown (none is failing,
//! but at least one cannot be told, e.g. no drill was ever recorded). Pure: a snapshot
//! and the thresholds in, the verdicts out.

use crate::model::Snapshot;
use jiff::{SignedDuration, Timestamp};

/// The thresholds health is judged by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The newest good set of every database is at most this old.
    pub max_backup_age: SignedDuration,
    /// Every database has an off-site copy confirmed at most this long ago (`None`: no
    /// off-site copy is expected).
    pub max_offsite_age: Option<SignedDuration>,
    /// Every database passed a drill at most this long ago (its window), its last drill
    /// passed and stayed within the RTO target.
    pub max_drill_age: SignedDuration,
    pub rto_target_ms: u64,
    /// The RTO forecast looks this far ahead: a database whose projected RTO crosses the
    /// target within it is flagged before a drill fails it (`None`: no forecast).
    pub rto_horizon: Option<SignedDuration>,
    /// The last port audit is at most this old, complete and clean (`None`: no audit is
    /// expected).
    pub max_audit_age: Option<SignedDuration>,
    /// The recovery point objective: the data lost if the host were lost now (the age of
    /// the newest set off-site, or of the newest good set when no off-site copy is
    /// expected) is at most this (`None`: none is set).
    pub rpo_target: Option<SignedDuration>,
    /// The off-site destinations every database is expected at, each judged on its own
    /// (empty: every destination the sets record).
    pub destinations: Vec<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_backup_age: SignedDuration::from_hours(26),
            max_offsite_age: Some(SignedDuration::from_hours(50)),
            max_drill_age: SignedDuration::from_hours(35 * 24),
            rto_target_ms: 3_600_000,
            rto_horizon: Some(SignedDuration::from_hours(90 * 24)),
            max_audit_age: Some(SignedDuration::from_hours(3)),
            rpo_target: Some(SignedDuration::from_hours(30)),
            destinations: Vec::new(),
        }
    }
}

/// A component's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Ready,
    NotReady,
    Unknown,
}

/// One component's verdict, with the reasons it is not ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    pub name: &'static str,
    pub state: State,
    pub reasons: Vec<String>,
}

/// The overall verdict and its exit code (0 healthy, 1 degraded, 2 cannot tell).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overall {
    Healthy,
    Degraded,
    Unknown,
}

impl Overall {
    pub fn exit_code(self) -> i32 {
        match self {
            Overall::Healthy => 0,
            Overall::Degraded => 1,
            Overall::Unknown => 2,
        }
    }
}

fn component(name: &'static str, reasons: Vec<String>, unknown: Vec<String>) -> Component {
    let state = if !reasons.is_empty() {
        State::NotReady
    } else if !unknown.is_empty() {
        State::Unknown
    } else {
        State::Ready
    };
    let mut reasons = reasons;
    reasons.extend(unknown);
    Component {
        name,
        state,
        reasons,
    }
}

fn older(at: Timestamp, now: Timestamp, max: SignedDuration) -> bool {
    now.duration_since(at) > max
}

/// Judges `s` at `now`: one component per promise, then the overall verdict.
pub fn evaluate(s: &Snapshot, policy: &Policy, now: Timestamp) -> (Overall, Vec<Component>) {
    // The snapshot exists: the catalog was read (an unreadable one is `unreadable`).
    let mut out = vec![component("catalog_readable", Vec::new(), Vec::new())];
    out.push(backup_component(s, policy.max_backup_age, now));
    out.push(verify_component(s));
    out.push(restorable_component(s));
    if let Some(max) = policy.max_offsite_age {
        out.push(offsite_component(s, max, &policy.destinations, now));
    }
    if let Some(target) = policy.rpo_target {
        out.push(rpo_component(
            s,
            target,
            policy.max_offsite_age.is_some(),
            now,
        ));
    }
    out.push(drill_component(s, policy, now));
    if let Some(horizon) = policy.rto_horizon {
        out.push(forecast_component(s, policy.rto_target_ms, horizon, now));
    }
    if let Some(max) = policy.max_audit_age {
        out.push(audit_component(s, max, now));
    }
    if let Some((at, answer)) = &s.postgres {
        let bad = match answer {
            Ok(()) => Vec::new(),
            Err(why) => vec![format!(
                "the PostgreSQL server at {at} does not answer: {why}"
            )],
        };
        out.push(component("postgres_reachable", bad, Vec::new()));
    }
    let overall = if out.iter().any(|c| c.state == State::NotReady) {
        Overall::Degraded
    } else if out.iter().any(|c| c.state == State::Unknown) {
        Overall::Unknown
    } else {
        Overall::Healthy
    };
    (overall, out)
}

/// The newest good set of every database (not retired) is at most `max` old.
fn backup_component(s: &Snapshot, max: SignedDuration, now: Timestamp) -> Component {
    let (mut bad, mut unknown) = (Vec::new(), Vec::new());
    if s.databases.is_empty() {
        unknown.push("the catalog holds no database".to_string());
    }
    // A retired database's backups stopped on purpose: its freshness is not judged.
    for d in s.databases.iter().filter(|d| d.retired.is_none()) {
        match &d.newest_good {
            None => bad.push(format!("{}: no set has passed verification", d.label)),
            Some(g) if older(g.started, now, max) => bad.push(format!(
                "{}: the newest good set {} is older than {max:#}",
                d.label, g.id
            )),
            Some(_) => {}
        }
    }
    component("backup_fresh", bad, unknown)
}

/// The last verification of every database passed.
fn verify_component(s: &Snapshot) -> Component {
    let (mut bad, mut unknown) = (Vec::new(), Vec::new());
    for d in &s.databases {
        match d.last_verify {
            None => unknown.push(format!("{}: never verified", d.label)),
            Some((false, at)) => {
                bad.push(format!("{}: the last verification ({at}) failed", d.label))
            }
            Some((true, _)) => {}
        }
    }
    component("verify_passed", bad, unknown)
}

/// A newest good set that only a newer major restores: a server reinstalled at its own
/// major (the usual disaster) could not take it back.
fn restorable_component(s: &Snapshot) -> Component {
    let bad: Vec<String> = s
        .databases
        .iter()
        .filter_map(|d| {
            let g = d.newest_good.as_ref()?;
            Some(format!(
                "{}: the newest good set {} restores only into PostgreSQL {} or newer (a newer pg_dump made it)",
                d.label, g.id, g.restores_only_into?
            ))
        })
        .collect();
    component("restorable_into_own_major", bad, Vec::new())
}

/// Every database has a copy confirmed at most `max` ago at *each* destination (the
/// configured ones, else every one its sets record: a stale second destination is not
/// hidden behind a fresh first), and the last verification of each copy passed.
fn offsite_component(
    s: &Snapshot,
    max: SignedDuration,
    destinations: &[String],
    now: Timestamp,
) -> Component {
    let mut bad = Vec::new();
    for d in &s.databases {
        // Retired: no new copy is expected (a failed check of the last one still counts).
        if d.retired.is_none() {
            bad.extend(offsite_reasons(d, max, destinations, now));
        }
        for (loc, c) in d.offsite_verified.iter().filter(|(_, c)| !c.passed) {
            bad.push(format!(
                "{}: the last verification of its copy at {loc} ({} check of set {}, {}) failed",
                d.label, c.depth, c.id, c.at
            ));
        }
    }
    component("offsite_fresh", bad, Vec::new())
}

/// Why one database's copies are not fresh, destination by destination.
fn offsite_reasons(
    d: &crate::model::DbStatus,
    max: SignedDuration,
    configured: &[String],
    now: Timestamp,
) -> Vec<String> {
    let recorded: Vec<String> = d.offsite.keys().cloned().collect();
    let judged = if configured.is_empty() {
        &recorded
    } else {
        configured
    };
    if judged.is_empty() {
        return vec![format!("{}: no off-site copy recorded", d.label)];
    }
    judged
        .iter()
        .filter_map(|dest| {
            // Both spelled by ops_catalog::catalog::destination_name.
            let copy = d.offsite.get(dest);
            match copy {
                None => Some(format!("{}: no copy recorded at {dest}", d.label)),
                Some((id, at)) if older(*at, now, max) => Some(format!(
                    "{}: the newest copy at {dest} ({id}) was confirmed at {at}, more than {max:#} ago",
                    d.label
                )),
                Some(_) => None,
            }
        })
        .collect()
}

/// The databases drills are judged for: those with sets, neither retired nor the globals
/// (a globals set is replayed, never drilled on its own).
fn drilled_databases(s: &Snapshot) -> impl Iterator<Item = &crate::model::DbStatus> {
    s.databases.iter().filter(|d| {
        d.retired.is_none() && d.sets > 0 && d.label != ops_catalog::catalog::GLOBALS_DIR
    })
}

/// Every database passed a drill within its window (the one rule `restore-drill --all
/// --due` drills by), its last drill passed, within the RTO target. Each database on its
/// own: one drilled database does not vouch for another.
fn drill_component(s: &Snapshot, policy: &Policy, now: Timestamp) -> Component {
    let (mut bad, mut unknown) = (Vec::new(), Vec::new());
    if s.databases.iter().all(|d| d.last_drill.is_none()) {
        unknown.push("no restore drill was ever recorded".to_string());
        return component("drill_within_rto", bad, unknown);
    }
    for d in drilled_databases(s) {
        let Some(r) = &d.last_drill else {
            bad.push(format!("{}: never drilled", d.label));
            continue;
        };
        if ops_catalog::drills::is_due(d.last_passed_drill, now, policy.max_drill_age) {
            bad.push(match d.last_passed_drill {
                Some(at) => format!(
                    "{}: no drill passed within {:#} (the last that did finished {at})",
                    d.label, policy.max_drill_age
                ),
                None => format!("{}: no drill ever passed", d.label),
            });
        }
        if !r.completed {
            bad.push(format!(
                "{}: its last drill ({}) failed",
                d.label, r.finished_at
            ));
        }
        if r.rto_ms > policy.rto_target_ms {
            bad.push(format!(
                "{}: its last drill took {} ms, over the RTO target of {} ms",
                d.label, r.rto_ms, policy.rto_target_ms
            ));
        }
    }
    component("drill_within_rto", bad, unknown)
}

/// Each database's forecast ([`ops_catalog::drills::forecast`]), `horizon` ahead.
pub fn forecasts(
    s: &Snapshot,
    target_ms: u64,
    horizon: SignedDuration,
    now: Timestamp,
) -> Vec<(String, ops_catalog::drills::Forecast)> {
    drilled_databases(s)
        .filter_map(|d| {
            let f = ops_catalog::drills::forecast(&d.drilled, &d.sizes, now, horizon, target_ms)?;
            Some((d.label.clone(), f))
        })
        .collect()
}

/// No database's RTO is projected to cross the target within the horizon: the warning
/// comes while the drills still pass.
fn forecast_component(
    s: &Snapshot,
    target_ms: u64,
    horizon: SignedDuration,
    now: Timestamp,
) -> Component {
    let bad = forecasts(s, target_ms, horizon, now)
        .into_iter()
        .filter_map(|(db, f)| {
            let at = f.crosses_target_at?;
            Some(format!(
                "{db}: its restore time is projected to reach the RTO target of {} min by {} (growing to {} MB; {} min by the horizon, {:#} ahead)",
                target_ms / 60_000,
                at.strftime("%Y-%m-%d"),
                f.bytes_at_horizon >> 20,
                f.rto_ms_at_horizon / 60_000,
                horizon
            ))
        })
        .collect();
    component("rto_forecast", bad, Vec::new())
}

/// The data that would be lost if the host were lost now, per database, against the
/// target. With daily dumps it reaches about a day and more; saying so is the point.
fn rpo_component(s: &Snapshot, target: SignedDuration, offsite: bool, now: Timestamp) -> Component {
    let mut bad = Vec::new();
    for d in s.databases.iter().filter(|d| d.retired.is_none()) {
        let Some((at, what)) = d.recovery_point(offsite) else {
            // No good set at all: backup_fresh says so.
            continue;
        };
        let lost = now.duration_since(at);
        if lost > target {
            bad.push(format!(
                "{}: losing the host now would lose {:#} of data ({what}), over the RPO target of {target:#}",
                d.label,
                jiff::SignedDuration::from_secs(lost.as_secs())
            ));
        }
    }
    component("rpo_within_target", bad, Vec::new())
}

fn audit_component(s: &Snapshot, max: SignedDuration, now: Timestamp) -> Component {
    let (mut bad, mut unknown) = (Vec::new(), Vec::new());
    match s.state.as_ref().map(|st| st.audit.as_ref()) {
        None => unknown.push(
            "no state directory was named (--state-dir, PGOPS_STATE_DIR): the last port audit cannot be read"
                .to_string(),
        ),
        Some(None) => unknown.push("no port audit was ever recorded".to_string()),
        Some(Some(a)) => {
            if a.violations > 0 {
                bad.push(format!(
                    "the last port audit ({}) found {} violation(s); exposed: {}",
                    a.finished_at,
                    a.violations,
                    a.violating_ports.join(", ")
                ));
            }
            if !a.complete {
                bad.push(format!(
                    "the last port audit ({}) could not read every source",
                    a.finished_at
                ));
            }
            if older(a.finished_at, now, max) {
                bad.push(format!(
                    "the last port audit ({}) is older than {max:#}",
                    a.finished_at
                ));
            }
        }
    }
    component("port_audit_clean", bad, unknown)
}

/// The `health` document of a catalog that could not be read: nothing can be told, and
/// `catalog_readable` says why.
pub fn unreadable(code: &str, message: &str, at: Timestamp) -> serde_json::Value {
    let c = Component {
        name: "catalog_readable",
        state: State::NotReady,
        reasons: vec![format!("{code}: {message}")],
    };
    let mut doc = document(Overall::Unknown, &[c], at);
    doc["error"] = serde_json::json!({"code": code, "message": message});
    doc
}

/// The `health` document: the overall status, each component with its state and reasons.
pub fn document(overall: Overall, components: &[Component], at: Timestamp) -> serde_json::Value {
    let name = |s: State| match s {
        State::Ready => "ready",
        State::NotReady => "not_ready",
        State::Unknown => "unknown",
    };
    serde_json::json!({
        "status": match overall {
            Overall::Healthy => "healthy",
            Overall::Degraded => "degraded",
            Overall::Unknown => "unknown",
        },
        "snapshot_at": at.to_string(),
        "components": components.iter().map(|c| serde_json::json!({
            "name": c.name, "state": name(c.state), "reasons": c.reasons
        })).collect::<Vec<_>>(),
    })
}

/// The `health` document of a snapshot (or of the error that prevented one), and its
/// verdict.
pub fn doc(
    loaded: &Result<crate::model::Snapshot, ops_core::OpsError>,
    policy: &Policy,
) -> (Overall, serde_json::Value) {
    match loaded {
        // What cannot be read cannot be told: 2, with the reason.
        Err(e) => (
            Overall::Unknown,
            unreadable(e.code, &e.message, jiff::Timestamp::now()),
        ),
        Ok(s) => {
            let (overall, components) = evaluate(s, policy, s.taken_at);
            (overall, document(overall, &components, s.taken_at))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixtures::{set, t};
    use crate::model::{snapshot, AuditFacts, DbFacts, DrillFacts, StateFacts};

    #[test]
    fn the_recovery_point_is_the_newest_set_that_survives_the_host() {
        // A set copied off-site 40 h before now, a newer one only local.
        let s = snapshot(
            &[DbFacts {
                label: "shop".into(),
                sets: vec![
                    set("20261122T080000Z", Some(true), &["s3://b/p"]),
                    set("20261123T220000Z", Some(true), &[]),
                ],
                retired: None,
            }],
            &[],
            t("2026-11-24T00:00:00Z"),
        );
        let rpo = |p: &Policy| {
            evaluate(&s, p, s.taken_at)
                .1
                .into_iter()
                .find(|c| c.name == "rpo_within_target")
                .unwrap()
        };
        let c = rpo(&Policy::default());
        assert_eq!(c.state, State::NotReady);
        assert!(
            c.reasons[0].contains(
                "would lose 40h of data (the newest set at s3://b/p is 20261122T080000Z)"
            ),
            "{:?}",
            c.reasons
        );
        let local_only = Policy {
            max_offsite_age: None,
            ..Policy::default()
        };
        assert_eq!(
            rpo(&local_only).state,
            State::Ready,
            "2 h since the newest good set"
        );
        let tight = Policy {
            max_offsite_age: None,
            rpo_target: Some(SignedDuration::from_hours(1)),
            ..Policy::default()
        };
        assert_eq!(rpo(&tight).state, State::NotReady);
    }

    #[test]
    fn a_stale_second_destination_is_not_hidden_behind_a_fresh_first() {
        // The newest set is at the first destination; the second got its last copy three
        // days ago.
        let mut old = set("20261120T030000Z", Some(true), &["s3://b/p", "/mnt/second"]);
        old.offsite[1].1 = t("2026-11-20T04:00:00Z");
        let new = set("20261123T030000Z", Some(true), &["s3://b/p"]);
        let s = snapshot(
            &[DbFacts {
                retired: None,
                label: "app".into(),
                sets: vec![old, new],
            }],
            &[],
            t("2026-11-23T12:00:00Z"),
        );
        let p = Policy {
            max_audit_age: None,
            rpo_target: None,
            ..Policy::default()
        };
        let now = t("2026-11-23T12:00:00Z");
        let (o, c) = evaluate(&s, &p, now);
        assert_eq!(o, Overall::Degraded);
        let off = c.iter().find(|c| c.name == "offsite_fresh").unwrap();
        assert_eq!(off.reasons.len(), 1, "{off:?}");
        assert!(off.reasons[0].contains("/mnt/second"), "{off:?}");
        // A configured destination that never got a copy is named too; one not configured
        // is not judged.
        let p = Policy {
            destinations: vec!["s3://b/p".into(), "s3://other/p".into()],
            ..p
        };
        let (_, c) = evaluate(&s, &p, now);
        let off = c.iter().find(|c| c.name == "offsite_fresh").unwrap();
        assert_eq!(off.reasons.len(), 1, "{off:?}");
        assert!(
            off.reasons[0].contains("no copy recorded at s3://other/p"),
            "{off:?}"
        );
    }

    #[test]
    fn a_set_only_a_newer_major_restores_is_named() {
        let mut newer = set("20261124T030000Z", Some(true), &[]);
        newer.restores_only_into = Some(18);
        let s = snapshot(
            &[DbFacts {
                label: "shop".into(),
                sets: vec![newer],
                retired: None,
            }],
            &[],
            t("2026-11-24T04:00:00Z"),
        );
        let (_, components) = evaluate(&s, &Policy::default(), s.taken_at);
        let c = components
            .iter()
            .find(|c| c.name == "restorable_into_own_major")
            .unwrap();
        assert_eq!(c.state, State::NotReady);
        assert!(c.reasons[0].contains("PostgreSQL 18"), "{:?}", c.reasons);
    }

    fn drill(at: &str, rto_ms: u64, completed: bool) -> DrillFacts {
        DrillFacts {
            id: "20261124T030000Z".into(),
            database: "app".into(),
            finished_at: t(at),
            rto_ms,
            rpo_s: 3600,
            completed,
            bytes: None,
        }
    }

    fn judge(
        sets: Vec<crate::model::SetFacts>,
        drills: &[DrillFacts],
    ) -> (Overall, Vec<Component>) {
        judge_retired(sets, None, drills)
    }

    fn judge_with(
        sets: Vec<crate::model::SetFacts>,
        drills: &[DrillFacts],
        policy: &Policy,
    ) -> (Overall, Vec<Component>) {
        judge_full(sets, None, drills, policy)
    }

    fn judge_retired(
        sets: Vec<crate::model::SetFacts>,
        retired: Option<crate::model::Retired>,
        drills: &[DrillFacts],
    ) -> (Overall, Vec<Component>) {
        judge_full(sets, retired, drills, &Policy::default())
    }

    fn judge_full(
        sets: Vec<crate::model::SetFacts>,
        retired: Option<crate::model::Retired>,
        drills: &[DrillFacts],
        policy: &Policy,
    ) -> (Overall, Vec<Component>) {
        let s = snapshot(
            &[DbFacts {
                retired,
                label: "app".into(),
                sets,
            }],
            drills,
            t("2026-11-24T00:00:00Z"),
        )
        .with_state(StateFacts {
            notify: None,
            unit_failures: Default::default(),
            last_config_change: None,
            runs: Default::default(),
            audit: Some(AuditFacts {
                finished_at: t("2026-11-23T23:00:00Z"),
                violations: 0,
                complete: true,
                violating_ports: vec![],
            }),
            remote_verify: vec![],
        });
        evaluate(&s, policy, t("2026-11-24T00:00:00Z"))
    }

    fn state(c: &[Component], name: &str) -> State {
        c.iter().find(|c| c.name == name).unwrap().state
    }

    #[test]
    fn everything_fresh_and_proven_is_healthy() {
        let (o, c) = judge(
            vec![set("20261123T030000Z", Some(true), &["s3://b/p"])],
            &[drill("2026-11-20T05:00:00Z", 9000, true)],
        );
        assert_eq!(o, Overall::Healthy, "{c:#?}");
        assert_eq!(o.exit_code(), 0);
    }

    #[test]
    fn each_broken_promise_degrades_with_its_reason() {
        // A stale newest good set, a failed last verification, no off-site copy, a drill
        // over its RTO target.
        let (o, c) = judge(
            vec![
                set("20261120T030000Z", Some(true), &[]),
                set("20261123T030000Z", Some(false), &[]),
            ],
            &[drill("2026-11-20T05:00:00Z", 7_200_000, true)],
        );
        assert_eq!(o, Overall::Degraded);
        assert_eq!(o.exit_code(), 1);
        for name in [
            "backup_fresh",
            "verify_passed",
            "offsite_fresh",
            "drill_within_rto",
        ] {
            assert_eq!(state(&c, name), State::NotReady, "{name}: {c:#?}");
        }
        assert!(c
            .iter()
            .all(|c| c.state == State::Ready || !c.reasons.is_empty()));
    }

    #[test]
    fn a_retired_database_is_not_judged_on_freshness_but_on_its_verification() {
        let retired = Some(crate::model::Retired {
            at: Some(t("2026-06-01T00:00:00Z")),
            reason: Some("dropped".into()),
        });
        let drills = [drill("2026-11-20T05:00:00Z", 9000, true)];
        let old = || vec![set("20260520T030000Z", Some(true), &[])];
        let (o, c) = judge_retired(old(), retired.clone(), &drills);
        assert_eq!(o, Overall::Healthy, "{c:#?}");
        let (o, _) = judge(old(), &drills);
        assert_eq!(o, Overall::Degraded, "the same catalog, not retired");
        let (o, c) = judge_retired(
            vec![set("20260520T030000Z", Some(false), &[])],
            retired,
            &drills,
        );
        assert_eq!(
            o,
            Overall::Degraded,
            "its last backup failing verification still counts"
        );
        assert_eq!(state(&c, "verify_passed"), State::NotReady);
    }

    #[test]
    fn what_was_never_recorded_cannot_be_told() {
        let (o, c) = judge(
            vec![set("20261123T030000Z", Some(true), &["s3://b/p"])],
            &[],
        );
        assert_eq!(o, Overall::Unknown);
        assert_eq!(o.exit_code(), 2);
        assert_eq!(state(&c, "drill_within_rto"), State::Unknown);
    }

    #[test]
    fn an_exposed_port_or_a_missing_audit_is_reported() {
        let good = || vec![set("20261123T030000Z", Some(true), &["s3://b/p"])];
        let drills = [drill("2026-11-20T05:00:00Z", 9000, true)];
        let base = snapshot(
            &[DbFacts {
                retired: None,
                label: "app".into(),
                sets: good(),
            }],
            &drills,
            t("2026-11-24T00:00:00Z"),
        );
        let now = t("2026-11-24T00:00:00Z");
        let p = Policy::default();
        let exposed = base.clone().with_state(StateFacts {
            notify: None,
            unit_failures: Default::default(),
            last_config_change: None,
            runs: Default::default(),
            audit: Some(AuditFacts {
                finished_at: t("2026-11-23T23:30:00Z"),
                violations: 1,
                complete: true,
                violating_ports: vec!["tcp/5432".into()],
            }),
            remote_verify: vec![],
        });
        let (o, c) = evaluate(&exposed, &p, now);
        assert_eq!(o, Overall::Degraded);
        let audit = c.iter().find(|c| c.name == "port_audit_clean").unwrap();
        assert!(audit.reasons[0].contains("tcp/5432"), "{audit:?}");
        // No state directory: cannot tell; told not to expect an audit: healthy.
        assert_eq!(evaluate(&base, &p, now).0, Overall::Unknown);
        let no_audit = Policy {
            max_audit_age: None,
            rpo_target: None,
            ..Policy::default()
        };
        let (o, c) = evaluate(&base, &no_audit, now);
        assert_eq!(o, Overall::Healthy, "{c:#?}");
        assert_eq!(state(&c, "catalog_readable"), State::Ready);
    }

    #[test]
    fn an_unreadable_catalog_cannot_be_told() {
        let doc = unreadable(
            "catalog_missing",
            "/x is not a directory",
            t("2026-11-24T00:00:00Z"),
        );
        assert_eq!(doc["status"], "unknown");
        assert_eq!(doc["components"][0]["name"], "catalog_readable");
        assert_eq!(doc["components"][0]["state"], "not_ready");
        assert_eq!(doc["error"]["code"], "catalog_missing");
    }

    #[test]
    fn a_failed_check_of_an_off_site_copy_degrades_with_where_and_how() {
        let mut dbs = std::collections::BTreeMap::new();
        dbs.insert(
            "app".to_string(),
            crate::model::RemoteCheck {
                at: t("2026-11-23T06:00:00Z"),
                id: "20261123T030000Z".into(),
                passed: false,
                depth: "ciphertext".into(),
            },
        );
        let s = crate::model::fixtures::one_app(9000).with_state(StateFacts {
            notify: None,
            unit_failures: Default::default(),
            last_config_change: None,
            runs: Default::default(),
            audit: None,
            remote_verify: vec![crate::model::RemoteVerifyFacts {
                location: "s3://b/p".into(),
                databases: dbs,
            }],
        });
        let p = Policy {
            max_audit_age: None,
            rpo_target: None,
            ..Policy::default()
        };
        let (o, c) = evaluate(&s, &p, t("2026-11-24T00:00:00Z"));
        assert_eq!(o, Overall::Degraded);
        let off = c.iter().find(|c| c.name == "offsite_fresh").unwrap();
        assert!(
            off.reasons[0].contains("s3://b/p") && off.reasons[0].contains("ciphertext"),
            "{off:?}"
        );
    }

    /// Issue #26: each database is judged on its own drills. A drilled `app` does not
    /// vouch for `billing`, never drilled, nor for `shop`, last passed two months ago;
    /// the globals are never drilled and never flagged.
    #[test]
    fn a_database_never_drilled_or_drilled_too_long_ago_is_flagged_on_its_own() {
        let db = |label: &str| DbFacts {
            retired: None,
            label: label.into(),
            sets: vec![set("20261123T030000Z", Some(true), &[])],
        };
        let mut shop = drill("2026-09-20T05:00:00Z", 9000, true);
        shop.database = "shop".into();
        let s = snapshot(
            &[
                db("app"),
                db("billing"),
                db("shop"),
                db(ops_catalog::catalog::GLOBALS_DIR),
            ],
            &[drill("2026-11-20T05:00:00Z", 9000, true), shop],
            t("2026-11-24T00:00:00Z"),
        );
        let (_, c) = evaluate(&s, &Policy::default(), t("2026-11-24T00:00:00Z"));
        let d = c.iter().find(|c| c.name == "drill_within_rto").unwrap();
        assert_eq!(d.state, State::NotReady);
        assert_eq!(d.reasons.len(), 2, "{:#?}", d.reasons);
        assert_eq!(d.reasons[0], "billing: never drilled");
        assert!(
            d.reasons[1].starts_with("shop: no drill passed within"),
            "{:?}",
            d.reasons
        );
    }

    /// Issue #26: the forecast fires on a synthetic growing history while every drill
    /// still passes within the target: 10 GB a month, a minute per GB to restore.
    #[test]
    fn the_rto_forecast_fires_before_a_drill_fails() {
        const GB: u64 = 1 << 30;
        let now = t("2026-11-24T00:00:00Z");
        let month = 30 * 24 * 3600;
        let sets: Vec<crate::model::SetFacts> = (0..6)
            .map(|i| {
                let at = Timestamp::from_second(now.as_second() - (6 - i) * month).unwrap();
                let mut s = set(&ops_core::timefmt::set_id(at), Some(true), &[]);
                s.raw_bytes = (10 + 10 * i as u64) * GB;
                s
            })
            .collect();
        let drills: Vec<DrillFacts> = [20u64, 40]
            .iter()
            .map(|g| {
                let mut d = drill("2026-11-20T05:00:00Z", g * 60_000, true);
                d.bytes = Some(g * GB);
                d
            })
            .collect();
        let forecast = |horizon_days: i64| {
            let policy = Policy {
                rto_horizon: Some(SignedDuration::from_hours(horizon_days * 24)),
                ..Policy::default()
            };
            let (_, c) = judge_with(sets.clone(), &drills, &policy);
            c.into_iter().find(|c| c.name == "rto_forecast").unwrap()
        };
        // 60 GB now (a 60-minute target is reached now or within days): a 90-day horizon
        // sees it; the drills themselves (40 minutes) still pass.
        let f = forecast(90);
        assert_eq!(f.state, State::NotReady, "{f:#?}");
        assert!(
            f.reasons[0].starts_with(
                "app: its restore time is projected to reach the RTO target of 60 min by 2026-"
            ),
            "{:?}",
            f.reasons
        );
        let (_, c) = judge(sets.clone(), &drills);
        assert_eq!(state(&c, "drill_within_rto"), State::Ready);
        // No drill with a size: nothing to say, nothing flagged.
        let (_, c) = judge(sets.clone(), &[drill("2026-11-20T05:00:00Z", 9000, true)]);
        assert_eq!(state(&c, "rto_forecast"), State::Ready);
    }
}
