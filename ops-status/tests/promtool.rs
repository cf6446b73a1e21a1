//! The metrics as Prometheus' own linter sees them: `promtool check metrics` (Debian's
//! `prometheus` package, installed by scripts/deps.sh) accepts the exposition of a snapshot
//! with several databases, hostile names among them, and finds nothing to complain about.

use ops_status::metrics::{render, BuildInfo};
use ops_status::model::{snapshot, DbFacts, DrillFacts, SetFacts};

fn ts(s: &str) -> jiff::Timestamp {
    s.parse().unwrap()
}

fn set(id: &str, day: u32, verified: bool) -> SetFacts {
    let started = ts(&format!("2026-11-{day:02}T03:00:00Z"));
    SetFacts {
        restores_only_into: None,
        id: id.into(),
        started,
        bytes: 123_456_789,
        raw_bytes: 123_456_789 * 3,
        duration_ms: 41_000,
        verified: Some((verified, ts(&format!("2026-11-{day:02}T04:00:00Z")))),
        offsite: vec![(
            "s3://backups/pgops".into(),
            ts(&format!("2026-11-{day:02}T05:00:00Z")),
        )],
        pinned: false,
    }
}

#[test]
fn promtool_accepts_the_metrics() {
    let dbs: Vec<DbFacts> = ["app", "_globals", "we\"ird\\name\nline", "ünïcode"]
        .iter()
        .map(|label| DbFacts {
            label: label.to_string(),
            sets: vec![
                set("20261122T030000Z", 22, true),
                set("20261123T030000Z", 23, false),
            ],
            retired: (*label == "ünïcode").then(|| ops_status::model::Retired {
                at: Some(ts("2026-11-24T00:00:00Z")),
                reason: Some("dropped".into()),
            }),
        })
        .collect();
    let drills = [DrillFacts {
        id: "20261124T030000Z".into(),
        database: "app".into(),
        finished_at: ts("2026-11-23T06:00:00Z"),
        rto_ms: 61_000,
        rpo_s: 10_800,
        completed: true,
        bytes: None,
    }];
    let mut s = snapshot(&dbs, &drills, ts("2026-11-24T00:00:00Z")).with_state(
        ops_status::model::StateFacts {
            notify: Some(ops_status::model::NotifyFacts {
                sent: [("smtp".to_string(), 3)].into(),
                failures: [("json".to_string(), 1)].into(),
                dropped: [("json".to_string(), 1)].into(),
                queued: 2,
            }),
            ..Default::default()
        },
    );
    s.catalog_space = Some(ops_status::model::Space {
        avail_bytes: 10 << 30,
        size_bytes: 100 << 30,
    });
    let text = render(
        &s,
        &BuildInfo {
            version: "0.1.0".into(),
            commit: "4d47dcc".into(),
        },
        &ops_status::health::Policy::default(),
    );
    let said = testkit::promtool_check_metrics(&text);
    assert!(said.trim().is_empty(), "promtool's lint: {said}");
}
