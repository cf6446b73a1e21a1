//! The Prometheus text exposition format of a snapshot (ADR 0015), for node_exporter's
//! textfile collector and `/metrics`. Pure: a snapshot in, text out.

use crate::model::Snapshot;
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

/// One metric family: its HELP and TYPE, then its samples.
struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
            .collect();
        if labels.is_empty() {
            let _ = writeln!(self.out, "{name} {value}");
        } else {
            let _ = writeln!(self.out, "{name}{{{}}} {value}", labels.join(","));
        }
    }
}

fn family<'a>(out: &'a mut String, name: &str, kind: &str, help: &str) -> Family<'a> {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    Family { out }
}

/// The metrics of `s`.
pub fn render(s: &Snapshot, build: &BuildInfo) -> String {
    let mut out = String::new();
    let dbs = &s.databases;
    let mut f = family(
        &mut out,
        "pgops_backup_sets",
        "gauge",
        "Complete backup sets in the catalog, per database.",
    );
    for d in dbs {
        f.sample(
            "pgops_backup_sets",
            &[("database", &d.label)],
            d.sets as f64,
        );
    }
    let good: Vec<_> = dbs
        .iter()
        .filter_map(|d| d.newest_good.as_ref().map(|g| (d, g)))
        .collect();
    let mut f = family(
        &mut out,
        "pgops_backup_last_success_timestamp_seconds",
        "gauge",
        "Start time of the newest set that passed verification.",
    );
    for (d, g) in &good {
        f.sample(
            "pgops_backup_last_success_timestamp_seconds",
            &[("database", &d.label)],
            seconds(g.started),
        );
    }
    let mut f = family(
        &mut out,
        "pgops_backup_last_size_bytes",
        "gauge",
        "Stored size of the newest set that passed verification.",
    );
    for (d, g) in &good {
        f.sample(
            "pgops_backup_last_size_bytes",
            &[("database", &d.label)],
            g.bytes as f64,
        );
    }
    let mut f = family(
        &mut out,
        "pgops_backup_last_duration_seconds",
        "gauge",
        "How long the newest set that passed verification took to take.",
    );
    for (d, g) in &good {
        f.sample(
            "pgops_backup_last_duration_seconds",
            &[("database", &d.label)],
            g.duration_ms as f64 / 1000.0,
        );
    }
    let verified: Vec<_> = dbs
        .iter()
        .filter_map(|d| d.last_verify.map(|v| (d, v)))
        .collect();
    let mut f = family(
        &mut out,
        "pgops_verify_last_timestamp_seconds",
        "gauge",
        "When a set of the database was last verified.",
    );
    for (d, (_, at)) in &verified {
        f.sample(
            "pgops_verify_last_timestamp_seconds",
            &[("database", &d.label)],
            seconds(*at),
        );
    }
    let mut f = family(
        &mut out,
        "pgops_verify_last_success",
        "gauge",
        "1 if the last verification of a set of the database passed, else 0.",
    );
    for (d, (ok, _)) in &verified {
        f.sample(
            "pgops_verify_last_success",
            &[("database", &d.label)],
            if *ok { 1.0 } else { 0.0 },
        );
    }
    let mut f = family(
        &mut out,
        "pgops_offsite_last_copy_timestamp_seconds",
        "gauge",
        "When a complete copy of the database's newest copied set was last confirmed at the destination.",
    );
    for d in dbs {
        for (dest, (_, at)) in &d.offsite {
            f.sample(
                "pgops_offsite_last_copy_timestamp_seconds",
                &[("database", &d.label), ("destination", dest)],
                seconds(*at),
            );
        }
    }
    let drills: Vec<_> = dbs
        .iter()
        .filter_map(|d| d.last_drill.as_ref().map(|r| (d, r)))
        .collect();
    let mut f = family(
        &mut out,
        "pgops_drill_last_timestamp_seconds",
        "gauge",
        "When the database's last restore drill finished.",
    );
    for (d, r) in &drills {
        f.sample(
            "pgops_drill_last_timestamp_seconds",
            &[("database", &d.label)],
            seconds(r.finished_at),
        );
    }
    let mut f = family(
        &mut out,
        "pgops_drill_last_rto_seconds",
        "gauge",
        "Recovery time of the last restore drill.",
    );
    for (d, r) in &drills {
        f.sample(
            "pgops_drill_last_rto_seconds",
            &[("database", &d.label)],
            r.rto_ms as f64 / 1000.0,
        );
    }
    let mut f = family(
        &mut out,
        "pgops_drill_last_rpo_seconds",
        "gauge",
        "Age of the drilled set when the last drill ran (data that would be lost).",
    );
    for (d, r) in &drills {
        f.sample(
            "pgops_drill_last_rpo_seconds",
            &[("database", &d.label)],
            r.rpo_s as f64,
        );
    }
    let mut f = family(
        &mut out,
        "pgops_drill_last_success",
        "gauge",
        "1 if the last restore drill passed every check, else 0.",
    );
    for (d, r) in &drills {
        f.sample(
            "pgops_drill_last_success",
            &[("database", &d.label)],
            if r.completed { 1.0 } else { 0.0 },
        );
    }
    let mut f = family(
        &mut out,
        "pgops_status_snapshot_timestamp_seconds",
        "gauge",
        "When this snapshot of the catalogs was taken.",
    );
    f.sample(
        "pgops_status_snapshot_timestamp_seconds",
        &[],
        seconds(s.taken_at),
    );
    let mut f = family(
        &mut out,
        "pgops_build_info",
        "gauge",
        "The pgops build that wrote these metrics.",
    );
    f.sample(
        "pgops_build_info",
        &[("version", &build.version), ("commit", &build.commit)],
        1.0,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::{set, t};
    use crate::model::{snapshot, DbFacts, DrillFacts};

    fn build() -> BuildInfo {
        BuildInfo {
            version: "0.1.0".into(),
            commit: "abc".into(),
        }
    }

    #[test]
    fn every_family_has_help_and_type_and_base_units() {
        let s = snapshot(
            &[DbFacts {
                label: "app".into(),
                sets: vec![set("20261123T030000Z", Some(true), &["s3://b/p"])],
            }],
            &[DrillFacts {
                database: "app".into(),
                finished_at: t("2026-11-23T05:00:00Z"),
                rto_ms: 9500,
                rpo_s: 7200,
                completed: true,
            }],
            t("2026-11-24T00:00:00Z"),
        );
        let text = render(&s, &build());
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
    }

    #[test]
    fn hostile_database_names_cannot_break_the_exposition() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        let s = snapshot(
            &[DbFacts {
                label: "x\"} 1\nevil_metric 1".into(),
                sets: vec![set("20261123T030000Z", Some(true), &[])],
            }],
            &[],
            t("2026-11-24T00:00:00Z"),
        );
        let text = render(&s, &build());
        assert!(
            !text.lines().any(|l| l.starts_with("evil_metric")),
            "{text}"
        );
    }
}
