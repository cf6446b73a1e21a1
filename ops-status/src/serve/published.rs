//! What the server answers from: every body rendered once per snapshot, so a request
//! costs a lookup and a copy, never a catalog walk (pure: a loaded snapshot in, bodies
//! out).

use crate::health::{Overall, Policy};
use crate::metrics::{self, BuildInfo};
use crate::model::Snapshot;
use crate::views;
use ops_core::OpsError;
use serde_json::{json, Value};

/// One endpoint's answer, before the wrapper adds the request's correlation id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// 200, or 503 when what it reports is not ready or could not be read.
    pub ok: bool,
    /// The `data` member, as JSON text.
    pub data: String,
    /// The `error` member, as JSON text (`null` when ok).
    pub error: String,
}

impl Answer {
    fn ok(data: Value) -> Answer {
        Answer {
            ok: true,
            data: data.to_string(),
            error: "null".into(),
        }
    }

    fn failed(data: Value, code: &str, message: &str) -> Answer {
        Answer {
            ok: false,
            data: data.to_string(),
            error: json!({"code": code, "message": message}).to_string(),
        }
    }
}

/// Everything the server answers, for one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// When the snapshot was taken (RFC 3339).
    pub snapshot_at: String,
    pub readiness: Answer,
    pub backups: Answer,
    pub restore: Answer,
    /// The Prometheus text, or why there is none.
    pub metrics: Result<String, String>,
}

fn backups(s: &Snapshot) -> Value {
    json!({
        "snapshot_at": s.taken_at.to_string(),
        "databases": views::databases(s),
        "audit": views::audit(s),
    })
}

fn restore(s: &Snapshot) -> Value {
    let drills: Vec<Value> = s
        .databases
        .iter()
        .filter_map(|d| {
            d.last_drill.as_ref().map(|r| {
                json!({"database": d.label, "finished_at": r.finished_at.to_string(),
                       "age_s": s.taken_at.duration_since(r.finished_at).as_secs(),
                       "rto_ms": r.rto_ms, "rpo_s": r.rpo_s, "completed": r.completed})
            })
        })
        .collect();
    let last = drills
        .iter()
        .max_by(|a, b| a["finished_at"].as_str().cmp(&b["finished_at"].as_str()))
        .cloned();
    json!({"snapshot_at": s.taken_at.to_string(), "last": last, "databases": drills})
}

/// Renders every answer of `loaded` (a snapshot, or why there is none).
pub fn publish(
    loaded: &Result<Snapshot, OpsError>,
    policy: &Policy,
    build: &BuildInfo,
) -> Published {
    // The readiness document is `ops-status health`'s, from the one function both use.
    let (overall, doc) = crate::health::doc(loaded, policy);
    let readiness = match (overall, loaded) {
        (Overall::Healthy, _) => Answer::ok(doc),
        (_, Err(e)) => Answer::failed(doc, e.code, &e.message),
        (Overall::Degraded, Ok(_)) => Answer::failed(
            doc,
            "not_ready",
            "at least one component is not ready; see data.components",
        ),
        (Overall::Unknown, Ok(_)) => Answer::failed(
            doc,
            "readiness_unknown",
            "at least one component cannot be told; see data.components",
        ),
    };
    match loaded {
        Ok(s) => Published {
            snapshot_at: s.taken_at.to_string(),
            readiness,
            backups: Answer::ok(backups(s)),
            restore: Answer::ok(restore(s)),
            metrics: Ok(metrics::render(s, build, policy)),
        },
        Err(e) => Published {
            snapshot_at: jiff::Timestamp::now().to_string(),
            readiness,
            backups: Answer::failed(Value::Null, e.code, &e.message),
            restore: Answer::failed(Value::Null, e.code, &e.message),
            metrics: Err(format!("{}: {}", e.code, e.message)),
        },
    }
}

/// The JSON wrapper every JSON endpoint answers with.
pub fn wrap(a: &Answer, correlation_id: &str) -> String {
    // The id is either generated or checked by `is_valid_correlation_id` (a restricted
    // alphabet), so it needs no escaping; serde_json escapes it anyway for safety.
    format!(
        "{{\"status\":\"{}\",\"data\":{},\"error\":{},\"correlation_id\":{}}}",
        if a.ok { "ok" } else { "error" },
        a.data,
        a.error,
        Value::from(correlation_id)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build() -> BuildInfo {
        BuildInfo {
            version: "0".into(),
            commit: "c".into(),
        }
    }

    #[test]
    fn answers_are_rendered_once_and_wrapped_per_request() {
        let s = crate::model::fixtures::one_app(9000);
        let policy = Policy {
            max_audit_age: None,
            rpo_target: None,
            ..Policy::default()
        };
        let p = publish(&Ok(s), &policy, &build());
        assert!(p.readiness.ok);
        let body: Value = serde_json::from_str(&wrap(&p.restore, "abc")).unwrap();
        assert_eq!(body["status"], "ok");
        assert_eq!(body["correlation_id"], "abc");
        assert_eq!(body["data"]["last"]["rto_ms"], 9000);
        assert!(body["error"].is_null());
        assert!(p
            .metrics
            .unwrap()
            .contains("pgops_backup_sets{database=\"app\"} 1"));

        let e = OpsError::new("catalog_missing", ops_core::Category::Io, "gone");
        let p = publish(&Err(e), &policy, &build());
        let body: Value = serde_json::from_str(&wrap(&p.backups, "x")).unwrap();
        assert_eq!(body["status"], "error");
        assert_eq!(body["error"]["code"], "catalog_missing");
        assert!(!p.readiness.ok && p.metrics.is_err());
    }
}
