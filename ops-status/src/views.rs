//! A snapshot as JSON (one `status.database` payload per database, `status.audit`) and
//! as a table for a person (pure: whether to colour is the caller's decision).

use crate::model::{AuditFacts, DbFacts, DbStatus, DrillFacts, SetFacts, SetSummary, Snapshot};
use comfy_table::{Cell, Color};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

fn age_s(at: Timestamp, now: Timestamp) -> i64 {
    now.duration_since(at).as_secs()
}

/// A set as `status.database` names it (newest, newest good).
#[derive(Debug, Serialize)]
struct SetView<'a> {
    id: &'a str,
    started_at: String,
    age_s: i64,
    bytes: u64,
    duration_ms: u64,
    restores_only_into: Option<u32>,
}

impl<'a> SetView<'a> {
    fn of(s: &'a SetSummary, now: Timestamp) -> SetView<'a> {
        SetView {
            id: &s.id,
            started_at: s.started.to_string(),
            age_s: age_s(s.started, now),
            bytes: s.bytes,
            duration_ms: s.duration_ms,
            restores_only_into: s.restores_only_into,
        }
    }
}

/// A verification: passed, and when.
#[derive(Debug, Serialize)]
struct Verified {
    passed: bool,
    at: String,
}

/// The newest set confirmed at a destination.
#[derive(Debug, Serialize)]
struct Offsite<'a> {
    destination: &'a str,
    id: &'a str,
    confirmed_at: String,
    age_s: i64,
}

/// An off-site location's last remote verification.
#[derive(Debug, Serialize)]
struct OffsiteVerified<'a> {
    destination: &'a str,
    id: &'a str,
    passed: bool,
    depth: &'a str,
    at: String,
    age_s: i64,
}

/// The last drill of a database.
#[derive(Debug, Serialize)]
struct LastDrill {
    finished_at: String,
    rto_ms: u64,
    rpo_s: i64,
    completed: bool,
}

/// A retirement in force.
#[derive(Debug, Serialize)]
struct RetiredView<'a> {
    at: Option<String>,
    reason: Option<&'a str>,
}

/// The `status.database` payload.
#[derive(Debug, Serialize)]
struct DatabaseView<'a> {
    database: &'a str,
    sets: usize,
    pinned: usize,
    newest: Option<SetView<'a>>,
    newest_good: Option<SetView<'a>>,
    last_verify: Option<Verified>,
    offsite: Vec<Offsite<'a>>,
    offsite_verified: Vec<OffsiteVerified<'a>>,
    last_drill: Option<LastDrill>,
    retired: Option<RetiredView<'a>>,
}

/// The `status.database` payload of `d`.
pub fn database(d: &DbStatus, now: Timestamp) -> Value {
    let view = DatabaseView {
        database: &d.label,
        sets: d.sets,
        pinned: d.pinned,
        newest: d.newest.as_ref().map(|s| SetView::of(s, now)),
        newest_good: d.newest_good.as_ref().map(|s| SetView::of(s, now)),
        last_verify: d.last_verify.map(|(passed, at)| Verified {
            passed,
            at: at.to_string(),
        }),
        offsite: d
            .offsite
            .iter()
            .map(|(dest, (id, at))| Offsite {
                destination: dest,
                id,
                confirmed_at: at.to_string(),
                age_s: age_s(*at, now),
            })
            .collect(),
        offsite_verified: d
            .offsite_verified
            .iter()
            .map(|(dest, c)| OffsiteVerified {
                destination: dest,
                id: &c.id,
                passed: c.passed,
                depth: &c.depth,
                at: c.at.to_string(),
                age_s: age_s(c.at, now),
            })
            .collect(),
        last_drill: d.last_drill.as_ref().map(|r| LastDrill {
            finished_at: r.finished_at.to_string(),
            rto_ms: r.rto_ms,
            rpo_s: r.rpo_s,
            completed: r.completed,
        }),
        retired: d.retired.as_ref().map(|r| RetiredView {
            at: r.at.map(|at| at.to_string()),
            reason: r.reason.as_deref(),
        }),
    };
    serde_json::to_value(view).expect("views serialize")
}

/// Every database of `s`, in order.
pub fn databases(s: &Snapshot) -> Vec<Value> {
    s.databases
        .iter()
        .map(|d| database(d, s.taken_at))
        .collect()
}

/// The `status.audit` payload.
#[derive(Debug, Serialize)]
struct AuditView<'a> {
    finished_at: String,
    age_s: i64,
    violations: u64,
    complete: bool,
    violating_ports: &'a [String],
}

/// The `status.audit` payload: the last port audit (`None`: no state directory, or no
/// audit recorded in it).
pub fn audit(s: &Snapshot) -> Option<Value> {
    let a = s.state.as_ref()?.audit.as_ref()?;
    let view = AuditView {
        finished_at: a.finished_at.to_string(),
        age_s: age_s(a.finished_at, s.taken_at),
        violations: a.violations,
        complete: a.complete,
        violating_ports: &a.violating_ports,
    };
    Some(serde_json::to_value(view).expect("views serialize"))
}

/// The `status.config` payload: the newest run that found its configuration changed
/// (FR27; `None`: no state directory, or no change recorded in it).
pub fn config_change(s: &Snapshot) -> Option<Value> {
    let c = s.state.as_ref()?.last_config_change.as_ref()?;
    Some(serde_json::json!({
        "changed_at": c.at.to_string(),
        "age_s": age_s(c.at, s.taken_at),
        "tool": c.tool,
        "items": c.items,
        "correlation_id": c.correlation_id,
    }))
}

/// The last configuration change for a person, with what to read for the values.
fn config_line(c: &crate::model::ConfigChangeFacts, now: Timestamp) -> String {
    format!(
        "Configuration: last changed {} (seen by {}: {}; the values: jq 'select(.correlation_id == \"{}\")' runs.jsonl)",
        ago(c.at, now),
        c.tool,
        c.items.join(", "),
        c.correlation_id
    )
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

/// Sizes in the units the progress bars use (MiB, not MB).
fn size(bytes: u64) -> String {
    ops_core::human::bytes(bytes)
}

/// A table in pgops' style, `width` columns wide at most (cells wrap), coloured or not.
fn new_table(header: &[&str], colour: bool, width: Option<u16>) -> comfy_table::Table {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_header(header.to_vec());
    if colour {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
    if let Some(w) = width {
        t.set_content_arrangement(comfy_table::ContentArrangement::Dynamic)
            .set_width(w);
    }
    t
}

/// The snapshot as a table for a person at a terminal: relative ages, human sizes, what
/// is broken in red when `colour`, then the last port audit when a state directory was read.
pub fn table(s: &Snapshot, colour: bool, width: Option<u16>) -> String {
    let now = s.taken_at;
    let mut t = new_table(
        &[
            "database",
            "sets",
            "newest good",
            "size",
            "took",
            "verified",
            "off-site",
            "last drill",
        ],
        colour,
        width,
    );
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
        if let Some(c) = &state.last_config_change {
            out.push('\n');
            out.push_str(&config_line(c, now));
        }
        if let Some(n) = &state.notify {
            out.push('\n');
            out.push_str(&notify_line(n));
        }
    }
    out
}

/// ops-notify's deliveries, when it ran here: a person sees at once that nobody is told.
fn notify_line(n: &crate::model::NotifyFacts) -> String {
    let total = |m: &std::collections::BTreeMap<String, u64>| m.values().sum::<u64>();
    let held = match n.queued {
        0 => String::new(),
        q => format!(", {q} HELD (undelivered: journalctl -u 'pgops-notify*')"),
    };
    let dropped = match total(&n.dropped) {
        0 => String::new(),
        d => format!(", {d} GIVEN UP"),
    };
    format!(
        "Notifications: {} sent, {} failed attempt(s){held}{dropped}",
        total(&n.sent),
        total(&n.failures)
    )
}

/// The health document in words, for a person at a terminal: the verdict, then each
/// component with its reasons (`✗ backup_fresh: shop: …`).
pub fn health_words(doc: &Value) -> String {
    let mut out = format!(
        "pgops health: {}\n",
        doc["status"].as_str().unwrap_or("unknown")
    );
    if let Some(e) = doc["error"].as_object() {
        out.push_str(&format!(
            "  ? cannot tell: {}: {}\n",
            e.get("code").and_then(Value::as_str).unwrap_or("?"),
            e.get("message").and_then(Value::as_str).unwrap_or("")
        ));
    }
    for c in doc["components"].as_array().into_iter().flatten() {
        let mark = match c["state"].as_str() {
            Some("ready") => "✓",
            Some("not_ready") => "✗",
            _ => "?",
        };
        let name = c["name"].as_str().unwrap_or("?");
        let reasons: Vec<&str> = c["reasons"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if reasons.is_empty() {
            out.push_str(&format!("  {mark} {name}\n"));
        }
        for r in reasons {
            out.push_str(&format!("  {mark} {name}: {r}\n"));
        }
    }
    out
}

/// What a person needs of one set to choose it: id, age, size, verified, off-site, drilled.
fn set_row(s: &SetFacts, drills: &[&DrillFacts], now: Timestamp) -> (Value, [String; 7]) {
    let verified = match s.verified {
        Some((true, at)) => format!("passed {}", ago(at, now)),
        Some((false, at)) => format!("FAILED {}", ago(at, now)),
        None => "never".into(),
    };
    let offsite = if s.offsite.is_empty() {
        "no".to_string()
    } else {
        s.offsite
            .iter()
            .map(|(d, at)| format!("{d} {}", ago(*at, now)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let drill = drills
        .iter()
        .filter(|d| d.id == s.id)
        .max_by_key(|d| d.finished_at);
    let drilled = match drill {
        Some(d) => format!(
            "{} {}",
            if d.completed { "passed" } else { "FAILED" },
            ago(d.finished_at, now)
        ),
        None => "no".into(),
    };
    let json = serde_json::to_value(SetRow {
        id: &s.id,
        started_at: s.started.to_string(),
        age_s: age_s(s.started, now),
        bytes: s.bytes,
        duration_ms: s.duration_ms,
        pinned: s.pinned,
        verified: s.verified.map(|(passed, at)| Verified {
            passed,
            at: at.to_string(),
        }),
        offsite: s
            .offsite
            .iter()
            .map(|(d, at)| Confirmed {
                destination: d,
                confirmed_at: at.to_string(),
            })
            .collect(),
        drill: drill.map(|d| SetDrill {
            completed: d.completed,
            finished_at: d.finished_at.to_string(),
            rto_ms: d.rto_ms,
        }),
    })
    .expect("views serialize");
    let row = [
        s.id.clone() + if s.pinned { " (pinned)" } else { "" },
        ago(s.started, now),
        size(s.bytes),
        verified,
        offsite,
        drilled,
        format!("{:.1} s", s.duration_ms as f64 / 1000.0),
    ];
    (json, row)
}

/// A copy of a set confirmed at a destination.
#[derive(Debug, Serialize)]
struct Confirmed<'a> {
    destination: &'a str,
    confirmed_at: String,
}

/// The newest drill of a set.
#[derive(Debug, Serialize)]
struct SetDrill {
    completed: bool,
    finished_at: String,
    rto_ms: u64,
}

/// The `status.set` payload.
#[derive(Debug, Serialize)]
struct SetRow<'a> {
    id: &'a str,
    started_at: String,
    age_s: i64,
    bytes: u64,
    duration_ms: u64,
    pinned: bool,
    verified: Option<Verified>,
    offsite: Vec<Confirmed<'a>>,
    drill: Option<SetDrill>,
}

/// The `status.set` payloads of every set of `dbs`, newest first per database.
pub fn set_payloads(dbs: &[DbFacts], drills: &[DrillFacts], now: Timestamp) -> Vec<Value> {
    let mut out = Vec::new();
    for d in dbs {
        let mine: Vec<&DrillFacts> = drills.iter().filter(|x| x.database == d.label).collect();
        for s in d.sets.iter().rev() {
            let (mut v, _) = set_row(s, &mine, now);
            v["database"] = d.label.clone().into();
            out.push(v);
        }
    }
    out
}

/// Every set of `dbs` as a table, newest first, like `restic snapshots` or `pgbackrest
/// info`: what to pass to `--backup-id`, and what each set has proven. On a narrow
/// terminal the least needed columns go first (took, size, drilled), never the id.
pub fn sets_table(
    dbs: &[DbFacts],
    drills: &[DrillFacts],
    now: Timestamp,
    colour: bool,
    width: Option<u16>,
) -> String {
    const HEADER: [&str; 8] = [
        "database",
        "set (--backup-id)",
        "age",
        "verified",
        "off-site",
        "drilled",
        "size",
        "took",
    ];
    let shown = match width {
        Some(w) if w < 80 => 5,
        Some(w) if w < 100 => 7,
        _ => 8,
    };
    let mut t = new_table(&HEADER[..shown], colour, width);
    // The id is what a person copies into --backup-id: never wrapped.
    if let Some(c) = t.column_mut(1) {
        c.set_constraint(comfy_table::ColumnConstraint::ContentWidth);
    }
    for d in dbs {
        let mine: Vec<&DrillFacts> = drills.iter().filter(|x| x.database == d.label).collect();
        for s in d.sets.iter().rev() {
            let (_, [id, age, bytes, verified, offsite, drilled, took]) = set_row(s, &mine, now);
            let (v_bad, d_bad) = (
                verified.starts_with("FAILED"),
                drilled.starts_with("FAILED"),
            );
            let row = [
                Cell::new(&d.label),
                Cell::new(id),
                Cell::new(age),
                cell(verified, v_bad),
                Cell::new(offsite),
                cell(drilled, d_bad),
                Cell::new(bytes),
                Cell::new(took),
            ];
            t.add_row(row.into_iter().take(shown).collect::<Vec<_>>());
        }
    }
    t.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixtures::{set, t};
    use crate::model::{snapshot, DbFacts};

    #[test]
    fn the_table_says_when_notifications_are_held() {
        let n = crate::model::NotifyFacts {
            sent: [("smtp".to_string(), 7)].into(),
            failures: [("json".to_string(), 3)].into(),
            dropped: Default::default(),
            queued: 2,
        };
        assert_eq!(
            notify_line(&n),
            "Notifications: 7 sent, 3 failed attempt(s), 2 HELD (undelivered: journalctl -u 'pgops-notify*')"
        );
        let quiet = crate::model::NotifyFacts::default();
        assert_eq!(
            notify_line(&quiet),
            "Notifications: 0 sent, 0 failed attempt(s)"
        );
    }

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
        let text = table(&s, false, None);
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
        let text = table(&s, true, None);
        assert!(text.contains("\x1b["), "{text:?}");
    }
}
