//! A snapshot as JSON (one `status.database` payload per database, `status.audit`) and
//! as a table for a person (pure: whether to colour is the caller's decision).

use crate::model::{AuditFacts, DbStatus, SetSummary, Snapshot};
use comfy_table::{Cell, Color};
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
        "offsite_verified": d.offsite_verified.iter().map(|(dest, c)| json!({
            "destination": dest, "id": c.id, "passed": c.passed, "depth": c.depth,
            "at": c.at.to_string(), "age_s": age_s(c.at, now)
        })).collect::<Vec<_>>(),
        "last_drill": d.last_drill.as_ref().map(|r| json!({
            "finished_at": r.finished_at.to_string(), "rto_ms": r.rto_ms, "rpo_s": r.rpo_s,
            "completed": r.completed
        })),
        "retired": d.retired.as_ref().map(|r| json!({
            "at": r.at.map(|at| at.to_string()), "reason": r.reason
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

/// The `status.audit` payload: the last port audit (`None`: no state directory, or no
/// audit recorded in it).
pub fn audit(s: &Snapshot) -> Option<Value> {
    let a = s.state.as_ref()?.audit.as_ref()?;
    Some(json!({
        "finished_at": a.finished_at.to_string(),
        "age_s": age_s(a.finished_at, s.taken_at),
        "violations": a.violations,
        "complete": a.complete,
        "violating_ports": a.violating_ports,
    }))
}

/// Whether a person's terminal gets colour: only a terminal, and never when `NO_COLOR` is
/// set (no-color.org) or the terminal says it cannot (`TERM=dumb`).
pub fn use_colour(is_terminal: bool, no_color: Option<&str>, term: Option<&str>) -> bool {
    is_terminal && no_color.is_none_or(str::is_empty) && term != Some("dumb")
}

/// A cell, red when it reports a broken promise and colour is on.
fn cell(text: String, bad: bool) -> Cell {
    let c = Cell::new(text);
    if bad {
        c.fg(Color::Red)
    } else {
        c
    }
}

fn audit_line(a: Option<&AuditFacts>, now: Timestamp) -> String {
    match a {
        None => "Port audit: none recorded".into(),
        Some(a) if a.violations > 0 => format!(
            "Port audit: {} VIOLATION(S) {} (exposed: {})",
            a.violations,
            ago(a.finished_at, now),
            a.violating_ports.join(", ")
        ),
        Some(a) if !a.complete => format!("Port audit: INCOMPLETE {}", ago(a.finished_at, now)),
        Some(a) => format!("Port audit: clean {}", ago(a.finished_at, now)),
    }
}

/// How long ago, for a person: `3h 12m ago` (to the minute; seconds under a minute).
pub fn ago(at: Timestamp, now: Timestamp) -> String {
    let secs = age_s(at, now).max(0) as u64;
    format!("{} ago", ops_core::timefmt::human_age(secs))
}

fn size(bytes: u64) -> String {
    bytesize::ByteSize(bytes).to_string()
}

/// The snapshot as a table for a person at a terminal: relative ages, human sizes, what
/// is broken in red when `colour`, then the last port audit when a state directory was read.
pub fn table(s: &Snapshot, colour: bool) -> String {
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
    if colour {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
    for d in &s.databases {
        let good = match (&d.newest_good, &d.retired) {
            (Some(g), None) => ago(g.started, now),
            (Some(g), Some(_)) => format!("{} (retired)", ago(g.started, now)),
            (None, Some(_)) => "none (retired)".into(),
            (None, None) => "none".into(),
        };
        let verified = match d.last_verify {
            Some((true, at)) => format!("passed {}", ago(at, now)),
            Some((false, at)) => format!("FAILED {}", ago(at, now)),
            None => "never".into(),
        };
        let offsite = d
            .offsite
            .iter()
            .map(|(dest, (_, at))| {
                let checked = match d.offsite_verified.get(dest) {
                    Some(c) if c.passed => format!(", {} verified {}", c.depth, ago(c.at, now)),
                    Some(c) => format!(", VERIFY FAILED {}", ago(c.at, now)),
                    None => String::new(),
                };
                format!("{dest} {}{checked}", ago(*at, now))
            })
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
            Cell::new(&d.label),
            Cell::new(if d.pinned > 0 {
                format!("{} ({} pinned)", d.sets, d.pinned)
            } else {
                d.sets.to_string()
            }),
            cell(good, d.newest_good.is_none() && d.retired.is_none()),
            Cell::new(d.newest_good.as_ref().map_or("-".into(), |g| size(g.bytes))),
            Cell::new(d.newest_good.as_ref().map_or("-".into(), |g| {
                format!("{:.1} s", g.duration_ms as f64 / 1000.0)
            })),
            cell(verified, !matches!(d.last_verify, Some((true, _)))),
            cell(
                if offsite.is_empty() {
                    "none".into()
                } else {
                    offsite
                },
                (d.offsite.is_empty() && d.retired.is_none())
                    || d.offsite_verified.values().any(|c| !c.passed),
            ),
            cell(drill, d.last_drill.as_ref().is_some_and(|r| !r.completed)),
        ]);
    }
    let mut out = t.to_string();
    if let Some(state) = &s.state {
        out.push('\n');
        out.push_str(&audit_line(state.audit.as_ref(), now));
    }
    out
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
                retired: None,
                label: "app".into(),
                sets: vec![set("20261123T210000Z", Some(true), &["s3://b/p"])],
            }],
            &[],
            t("2026-11-24T00:00:00Z"),
        );
        let text = table(&s, false);
        assert!(!text.contains('\x1b'), "no colour unless asked: {text:?}");
        assert!(text.contains("app"), "{text}");
        assert!(text.contains("3h ago"), "{text}");
        assert!(text.contains("1.0 KB") || text.contains("1000 B"), "{text}");
        assert!(text.contains("s3://b/p"), "{text}");
        assert_eq!(
            ago(t("2026-11-23T23:59:30Z"), t("2026-11-24T00:00:00Z")),
            "30s ago"
        );
    }

    #[test]
    fn colour_only_on_a_terminal_that_wants_it_and_in_red_where_broken() {
        assert!(use_colour(true, None, Some("xterm")));
        assert!(use_colour(true, Some(""), None));
        assert!(!use_colour(true, Some("1"), Some("xterm")));
        assert!(!use_colour(false, None, Some("xterm")));
        assert!(!use_colour(true, None, Some("dumb")));
        let s = snapshot(
            &[DbFacts {
                retired: None,
                label: "app".into(),
                sets: vec![set("20261123T210000Z", Some(false), &[])],
            }],
            &[],
            t("2026-11-24T00:00:00Z"),
        );
        let text = table(&s, true);
        assert!(text.contains("\x1b["), "{text:?}");
    }
}
