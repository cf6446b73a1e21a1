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
