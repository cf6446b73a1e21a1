//! A snapshot as JSON: one `status.database` payload per database (pure).

use crate::model::{DbStatus, SetSummary, Snapshot};
use jiff::Timestamp;
use serde_json::{json, Value};

fn age_s(at: Timestamp, now: Timestamp) -> i64 {
    now.duration_since(at).as_secs()
}

fn set(s: &Option<SetSummary>, now: Timestamp) -> Value {
    match s {
        None => Value::Null,
        Some(s) => json!({"id": s.id, "started_at": s.started.to_string(),
                          "age_s": age_s(s.started, now), "bytes": s.bytes,
                          "duration_ms": s.duration_ms}),
    }
}

/// The `status.database` payload of `d`.
pub fn database(d: &DbStatus, now: Timestamp) -> Value {
    json!({
        "database": d.label,
        "sets": d.sets,
        "pinned": d.pinned,
        "newest": set(&d.newest, now),
        "newest_good": set(&d.newest_good, now),
        "last_verify": d.last_verify.map(|(passed, at)| json!({"passed": passed, "at": at.to_string()})),
        "offsite": d.offsite.iter().map(|(dest, (id, at))| json!({
            "destination": dest, "id": id, "confirmed_at": at.to_string(), "age_s": age_s(*at, now)
        })).collect::<Vec<_>>(),
        "last_drill": d.last_drill.as_ref().map(|r| json!({
            "finished_at": r.finished_at.to_string(), "rto_ms": r.rto_ms, "rpo_s": r.rpo_s,
            "completed": r.completed
        })),
    })
}

/// Every database of `s`, in order.
pub fn databases(s: &Snapshot) -> Vec<Value> {
    s.databases
        .iter()
        .map(|d| database(d, s.taken_at))
        .collect()
}

/// How long ago, for a person: `3h 12m ago` (to the minute; seconds under a minute).
pub fn ago(at: Timestamp, now: Timestamp) -> String {
    let secs = age_s(at, now).max(0) as u64;
    let rounded = if secs >= 60 { secs - secs % 60 } else { secs };
    format!(
        "{} ago",
        humantime::format_duration(std::time::Duration::from_secs(rounded))
    )
}

fn size(bytes: u64) -> String {
    bytesize::ByteSize(bytes).to_string()
}

/// The snapshot as a table for a person at a terminal: relative ages, human sizes.
pub fn table(s: &Snapshot) -> String {
    let now = s.taken_at;
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_header([
            "database",
            "sets",
            "newest good",
            "size",
            "took",
            "verified",
            "off-site",
            "last drill",
        ]);
    for d in &s.databases {
        let good = match &d.newest_good {
            Some(g) => ago(g.started, now),
            None => "none".into(),
        };
        let verified = match d.last_verify {
            Some((true, at)) => format!("passed {}", ago(at, now)),
            Some((false, at)) => format!("FAILED {}", ago(at, now)),
            None => "never".into(),
        };
        let offsite = d
            .offsite
            .iter()
            .map(|(dest, (_, at))| format!("{dest} {}", ago(*at, now)))
            .collect::<Vec<_>>()
            .join("\n");
        let drill = match &d.last_drill {
            Some(r) => format!(
                "{} {}, RTO {}",
                if r.completed { "passed" } else { "FAILED" },
                ago(r.finished_at, now),
                humantime::format_duration(std::time::Duration::from_secs(r.rto_ms / 1000))
            ),
            None => "never".into(),
        };
        t.add_row([
            d.label.clone(),
            d.sets.to_string(),
            good,
            d.newest_good.as_ref().map_or("-".into(), |g| size(g.bytes)),
            d.newest_good.as_ref().map_or("-".into(), |g| {
                format!("{:.1} s", g.duration_ms as f64 / 1000.0)
            }),
            verified,
            if offsite.is_empty() {
                "none".into()
            } else {
                offsite
            },
            drill,
        ]);
    }
    t.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::{set, t};
    use crate::model::{snapshot, DbFacts};

    #[test]
    fn a_person_reads_ages_and_sizes() {
        let s = snapshot(
            &[DbFacts {
                label: "app".into(),
                sets: vec![set("20261123T210000Z", Some(true), &["s3://b/p"])],
            }],
            &[],
            t("2026-11-24T00:00:00Z"),
        );
        let text = table(&s);
        assert!(text.contains("app"), "{text}");
        assert!(text.contains("3h ago"), "{text}");
        assert!(text.contains("1.0 KB") || text.contains("1000 B"), "{text}");
        assert!(text.contains("s3://b/p"), "{text}");
        assert_eq!(
            ago(t("2026-11-23T23:59:30Z"), t("2026-11-24T00:00:00Z")),
            "30s ago"
        );
    }
}
