//! The Prometheus text exposition format of a snapshot (ADR 0015), for node_exporter's
//! textfile collector and `/metrics`. Pure: a snapshot in, text out.

use crate::health::Policy;
use crate::model::{DbStatus, NotifyFacts, RemoteCheck, Snapshot, StateFacts};
use std::fmt::Write;

/// What the build is, for `pgops_build_info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    pub version: String,
    pub commit: String,
}

/// A label value as the text format requires: backslash, double quote and newline
/// escaped, so that no database name can break the exposition.
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn seconds(t: jiff::Timestamp) -> f64 {
    t.as_millisecond() as f64 / 1000.0
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    let labels: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
        .collect();
    if labels.is_empty() {
        let _ = writeln!(out, "{name} {value}");
    } else {
        let _ = writeln!(out, "{name}{{{}}} {value}", labels.join(","));
    }
}

fn header(out: &mut String, name: &str, help: &str) {
    typed(out, name, help, "gauge");
}

fn typed(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The run counts and the last port audit, when a state directory was read.
fn state(out: &mut String, state: &StateFacts) {
    let name = "pgops_runs_total";
    typed(
        out,
        name,
        "Runs of each pgops tool by result (ok, failed: did its job and found a problem, error: could not do its job).",
        "counter",
    );
    for ((tool, result), n) in &state.runs {
        sample(out, name, &[("tool", tool), ("result", result)], *n as f64);
    }
    if !state.unit_failures.is_empty() {
        let name = "pgops_unit_failures_total";
        typed(
            out,
            name,
            "Failures of each pgops systemd unit (OnFailure=pgops-failure@), including failures before its tool ran.",
            "counter",
        );
        for (unit, (n, _)) in &state.unit_failures {
            sample(out, name, &[("unit", unit)], *n as f64);
        }
        let name = "pgops_unit_last_failure_timestamp_seconds";
        header(out, name, "When each pgops systemd unit last failed.");
        for (unit, (_, at)) in &state.unit_failures {
            sample(out, name, &[("unit", unit)], seconds(*at));
        }
    }
    if let Some(c) = &state.last_config_change {
        let name = "pgops_config_last_change_timestamp_seconds";
        header(
            out,
            name,
            "When a pgops run last found its configuration changed (env file, units, keys, retention), by the tool that saw it.",
        );
        sample(out, name, &[("tool", &c.tool)], seconds(c.at));
    }
    if let Some(a) = &state.audit {
        for (name, help, value) in [
            (
                "pgops_audit_violations",
                "Exposure policy violations found by the last port audit.",
                a.violations as f64,
            ),
            (
                "pgops_audit_complete",
                "1 if the last port audit could read every source, else 0.",
                bool01(a.complete),
            ),
            (
                "pgops_audit_last_timestamp_seconds",
                "When the last port audit finished.",
                seconds(a.finished_at),
            ),
        ] {
            header(out, name, help);
            sample(out, name, &[], value);
        }
    }
}

fn bool01(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// A per-database gauge: its name, help, and its value for a database (`None`: no sample).
type Gauge = (&'static str, &'static str, fn(&DbStatus) -> Option<f64>);

/// Every per-database gauge, in exposition order.
const GAUGES: [Gauge; 13] = [
    (
        "pgops_backup_sets",
        "Complete backup sets in the catalog, per database.",
        |d| Some(d.sets as f64),
    ),
    (
        "pgops_database_retired",
        "1 if the database was retired on purpose (backup-rotate --retire): freshness alerts skip it.",
        |d| Some(bool01(d.retired.is_some())),
    ),
    (
        "pgops_backup_last_success_timestamp_seconds",
        "Start time of the newest set that passed verification.",
        |d| d.newest_good.as_ref().map(|g| seconds(g.started)),
    ),
    (
        "pgops_backup_last_size_bytes",
        "Stored size of the newest set that passed verification.",
        |d| d.newest_good.as_ref().map(|g| g.bytes as f64),
    ),
    (
        "pgops_backup_last_duration_seconds",
        "How long the newest set that passed verification took to take.",
        |d| {
            d.newest_good
                .as_ref()
                .map(|g| g.duration_ms as f64 / 1000.0)
        },
    ),
    (
        "pgops_verify_last_timestamp_seconds",
        "When a set of the database was last verified.",
        |d| d.last_verify.map(|(_, at)| seconds(at)),
    ),
    (
        "pgops_verify_last_success",
        "1 if the last verification of a set of the database passed, else 0.",
        |d| d.last_verify.map(|(ok, _)| bool01(ok)),
    ),
    (
        "pgops_drill_last_timestamp_seconds",
        "When the database's last restore drill finished.",
        |d| d.last_drill.as_ref().map(|r| seconds(r.finished_at)),
    ),
    (
        "pgops_drill_last_rto_seconds",
        "Recovery time of the last restore drill.",
        |d| d.last_drill.as_ref().map(|r| r.rto_ms as f64 / 1000.0),
    ),
    (
        "pgops_drill_last_rpo_seconds",
        "Age of the drilled set when the last drill ran (data that would be lost).",
        |d| d.last_drill.as_ref().map(|r| r.rpo_s as f64),
    ),
    (
        "pgops_drill_last_success",
        "1 if the last restore drill passed every check, else 0.",
        |d| d.last_drill.as_ref().map(|r| bool01(r.completed)),
    ),
    (
        "pgops_drill_last_pass_timestamp_seconds",
        "When the database's last passing restore drill finished; 0 if none ever passed (the globals have none).",
        |d| {
            (d.label != ops_catalog::catalog::GLOBALS_DIR && d.sets > 0)
                .then(|| d.last_passed_drill.map_or(0.0, seconds))
        },
    ),
    (
        "pgops_backup_pinned_sets",
        "Pinned sets (never deleted by retention), per database.",
        |d| Some(d.pinned as f64),
    ),
];

/// ops-notify's deliveries per sink, and its outbox.
fn notify(out: &mut String, n: &NotifyFacts) {
    for (name, help, counts) in [
        ("pgops_notify_sent_total", "Messages and pings ops-notify delivered, per sink.", &n.sent),
        (
            "pgops_notify_failures_total",
            "Failed deliveries by ops-notify, per sink (each run's attempts at one message count once).",
            &n.failures,
        ),
        (
            "pgops_notify_dropped_total",
            "Messages ops-notify gave up on after a day of attempts, per sink.",
            &n.dropped,
        ),
    ] {
        typed(out, name, help, "counter");
        for (sink, v) in counts {
            sample(out, name, &[("sink", sink)], *v as f64);
        }
    }
    let name = "pgops_notify_queued";
    header(
        out,
        name,
        "Messages waiting in ops-notify's outbox for another attempt.",
    );
    sample(out, name, &[], n.queued as f64);
}

/// The targets the alerts compare with, from the same configuration as `health`.
fn targets(out: &mut String, s: &Snapshot, policy: &Policy) {
    let name = "pgops_rto_target_seconds";
    header(
        out,
        name,
        "The recovery time objective a restore drill is held to.",
    );
    sample(out, name, &[], policy.rto_target_ms as f64 / 1000.0);
    let name = "pgops_drill_window_seconds";
    header(
        out,
        name,
        "Every database is to pass a restore drill within this window (PGOPS_DRILL_WINDOW).",
    );
    sample(out, name, &[], policy.max_drill_age.as_secs_f64());
    if let Some(horizon) = policy.rto_horizon {
        let name = "pgops_rto_forecast_seconds";
        header(
            out,
            name,
            "The restore time a database is projected to have at the forecast horizon (PGOPS_RTO_HORIZON ahead), fitted on its drills and its growth.",
        );
        let forecasts = ops_health::health::forecasts(s, policy.rto_target_ms, horizon, s.taken_at);
        for (db, f) in forecasts {
            sample(
                out,
                name,
                &[("database", &db)],
                f.rto_ms_at_horizon as f64 / 1000.0,
            );
        }
    }
    if let Some(rpo) = policy.rpo_target {
        let name = "pgops_rpo_target_seconds";
        header(
            out,
            name,
            "The recovery point objective: the most data losing the host may lose.",
        );
        sample(out, name, &[], rpo.as_secs_f64());
    }
    let name = "pgops_recovery_point_timestamp_seconds";
    header(
        out,
        name,
        "Start of the newest set that survives the host (off-site; the newest good set when no copy is expected): time() minus it is the data losing the host now would lose.",
    );
    let offsite = policy.max_offsite_age.is_some();
    for d in &s.databases {
        if let Some((at, _)) = d.recovery_point(offsite) {
            sample(out, name, &[("database", &d.label)], seconds(at));
        }
    }
    if let Some(space) = s.catalog_space {
        for (name, help, v) in [
            (
                "pgops_catalog_filesystem_avail_bytes",
                "Free space of the catalog's file system, for its (unprivileged) user.",
                space.avail_bytes,
            ),
            (
                "pgops_catalog_filesystem_size_bytes",
                "Size of the catalog's file system.",
                space.size_bytes,
            ),
        ] {
            header(out, name, help);
            sample(out, name, &[], v as f64);
        }
    }
}

/// The metrics of `s`, with the targets of `policy`.
pub fn render(s: &Snapshot, build: &BuildInfo, policy: &Policy) -> String {
    let mut out = String::new();
    targets(&mut out, s, policy);
    for (name, help, value) in GAUGES {
        header(&mut out, name, help);
        for d in &s.databases {
            if let Some(v) = value(d) {
                sample(&mut out, name, &[("database", &d.label)], v);
            }
        }
    }
    // One sample per database and destination.
    let name = "pgops_offsite_last_copy_timestamp_seconds";
    header(
        &mut out,
        name,
        "When a complete copy of the database's newest copied set was last confirmed at the destination.",
    );
    for d in &s.databases {
        for (dest, (_, at)) in &d.offsite {
            sample(
                &mut out,
                name,
                &[("database", &d.label), ("destination", dest)],
                seconds(*at),
            );
        }
    }
    // The destinations every database is expected at (PGOPS_REMOTE): one that never got a
    // copy has no sample above, and the alert must still see it.
    if policy.max_offsite_age.is_some() && !policy.destinations.is_empty() {
        let name = "pgops_offsite_expected";
        header(
            &mut out,
            name,
            "1 for each database (not retired) and each destination it is expected at (PGOPS_REMOTE).",
        );
        for d in s.databases.iter().filter(|d| d.retired.is_none()) {
            for dest in &policy.destinations {
                sample(
                    &mut out,
                    name,
                    &[("database", &d.label), ("destination", dest)],
                    1.0,
                );
            }
        }
    }
    for (name, help, value) in [
        (
            "pgops_offsite_verify_last_success",
            "1 if the last verification of the database's copy at the destination passed, else 0.",
            (|c| bool01(c.passed)) as fn(&RemoteCheck) -> f64,
        ),
        (
            "pgops_offsite_verify_last_timestamp_seconds",
            "When the database's copy at the destination was last verified (backup-verify against it).",
            |c| seconds(c.at),
        ),
    ] {
        header(&mut out, name, help);
        for d in &s.databases {
            for (dest, c) in &d.offsite_verified {
                sample(
                    &mut out,
                    name,
                    &[("database", &d.label), ("destination", dest)],
                    value(c),
                );
            }
        }
    }
    if let Some(st) = &s.state {
        state(&mut out, st);
        if let Some(n) = &st.notify {
            notify(&mut out, n);
        }
    }
    let name = "pgops_status_snapshot_timestamp_seconds";
    header(
        &mut out,
        name,
        "When this snapshot of the catalogs was taken.",
    );
    sample(&mut out, name, &[], seconds(s.taken_at));
    let name = "pgops_build_info";
    header(&mut out, name, "The pgops build that wrote these metrics.");
    sample(
        &mut out,
        name,
        &[("version", &build.version), ("commit", &build.commit)],
        1.0,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixtures::{set, t};
    use crate::model::{snapshot, DbFacts};

    fn build() -> BuildInfo {
        BuildInfo {
            version: "0.1.0".into(),
            commit: "abc".into(),
        }
    }

    #[test]
    fn every_family_has_help_and_type_and_base_units() {
        let s = crate::model::fixtures::one_app(9500);
        let text = render(&s, &build(), &Policy::default());
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
            assert!(name.starts_with("pgops_"), "{name}");
        }
        assert!(
            text.contains(
                "pgops_backup_last_success_timestamp_seconds{database=\"app\"} 1795402800\n"
            ),
            "{text}"
        );
        assert!(text.contains("pgops_backup_last_duration_seconds{database=\"app\"} 2.5\n"));
        assert!(text.contains("pgops_drill_last_rto_seconds{database=\"app\"} 9.5\n"));
        assert!(text.contains(
            "pgops_offsite_last_copy_timestamp_seconds{database=\"app\",destination=\"s3://b/p\"} "
        ));
        assert!(text.contains("pgops_build_info{version=\"0.1.0\",commit=\"abc\"} 1\n"));
        assert!(
            !text.contains("pgops_runs_total"),
            "no state directory, no run counts"
        );

        let mut runs = crate::model::RunCounts::new();
        runs.insert(("pgdump-run".into(), "ok".into()), 41);
        runs.insert(("pgdump-run".into(), "error".into()), 1);
        let text = render(
            &s.with_state(StateFacts {
                notify: Some(NotifyFacts {
                    sent: [("smtp".to_string(), 5)].into(),
                    failures: [("ntfy".to_string(), 2)].into(),
                    dropped: Default::default(),
                    queued: 1,
                }),
                unit_failures: [(
                    "pgops-backup.service".to_string(),
                    (3, t("2026-11-23T03:00:00Z")),
                )]
                .into(),
                runs,
                audit: Some(crate::model::AuditFacts {
                    finished_at: t("2026-11-23T23:00:00Z"),
                    violations: 2,
                    complete: true,
                    violating_ports: vec![],
                }),
                remote_verify: vec![],
                last_config_change: Some(crate::model::ConfigChangeFacts {
                    at: t("2026-11-23T22:00:00Z"),
                    tool: "backup-rotate".into(),
                    items: vec!["setting:retention /b".into()],
                    correlation_id: "c1".into(),
                }),
            }),
            &build(),
            &Policy::default(),
        );
        assert!(
            text.contains("pgops_notify_failures_total{sink=\"ntfy\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("pgops_notify_queued 1\n"));
        assert!(text.contains("pgops_rto_target_seconds 3600\n"));
        assert!(text.contains("pgops_rpo_target_seconds 108000\n"));
        assert!(text.contains("# TYPE pgops_runs_total counter\n"));
        assert!(text.contains("pgops_unit_failures_total{unit=\"pgops-backup.service\"} 3\n"));
        assert!(text.contains("pgops_runs_total{tool=\"pgdump-run\",result=\"ok\"} 41\n"));
        assert!(text.contains("pgops_audit_violations 2\n"), "{text}");
        assert!(text.contains(
            "pgops_config_last_change_timestamp_seconds{tool=\"backup-rotate\"} 1795471200\n"
        ));
    }

    #[test]
    fn hostile_database_names_cannot_break_the_exposition() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        let s = snapshot(
            &[DbFacts {
                retired: None,
                label: "x\"} 1\nevil_metric 1".into(),
                sets: vec![set("20261123T030000Z", Some(true), &[])],
            }],
            &[],
            t("2026-11-24T00:00:00Z"),
        );
        let text = render(&s, &build(), &Policy::default());
        assert!(
            !text.lines().any(|l| l.starts_with("evil_metric")),
            "{text}"
        );
    }
}
