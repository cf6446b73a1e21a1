//! The monitoring artefacts against what ops-status really emits: the alert rules pass
//! `promtool check rules`, `promtool test rules` (each alert fires on the series that
//! should fire it, silent otherwise) and `vmalert -dryRun`; the PrometheusRule carries
//! exactly the same groups; every runbook link resolves to a section of
//! `docs/runbooks/incident-alerts.md`; and every metric the rules and the Grafana
//! dashboard query is one `ops-status metrics` emits from a real catalog.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use testkit::ToolRun;

fn scripts() -> PathBuf {
    testkit::workspace_root().join("scripts")
}

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e} (scripts/deps.sh installs it)"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} failed:\n{text}");
    text
}

/// The metric names in `text` (identifiers starting `pgops_`).
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("pgops_") {
        let start = i + at;
        let boundary =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        if boundary {
            out.insert(text[start..end].to_string());
        }
        i = end;
    }
    out
}

/// The metric families `ops-status metrics` writes for a catalog with everything in it:
/// sets verified and copied, a drill, a port audit and a run history.
fn emitted() -> BTreeSet<String> {
    let cat = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let path = testkit::fake::write_set(cat.path(), Some("app"), "20261123T030000Z");
    std::fs::write(
        path.join("verify.json"),
        serde_json::json!({"v": 1, "id": "20261123T030000Z", "database": "app",
            "verified_at": "2026-11-23T04:00:00Z", "verdict": "pass", "checks": [],
            "tool": {"name": "backup-verify", "version": "0"}, "correlation_id": "c"})
        .to_string(),
    )
    .unwrap();
    ops_catalog::catalog::record_offsite(&path, "s3://b/p", "seal").unwrap();
    // An older set and a drill that recorded its set's size: enough for an RTO forecast.
    testkit::fake::write_set(cat.path(), Some("app"), "20261122T030000Z");
    let mut drill: serde_json::Value = serde_json::from_str(&testkit::fake::drill_line(
        "app",
        "2026-11-23T05:00:00Z",
        900,
        7200,
        true,
    ))
    .unwrap();
    drill["bytes"] = 1000.into();
    std::fs::write(cat.path().join("_drills.jsonl"), format!("{drill}\n")).unwrap();
    std::fs::write(
        state.path().join("audit.json"),
        "{\"finished_at\":\"2026-11-23T05:00:00Z\",\"violations\":0,\"complete\":true,\"violating_ports\":[]}",
    )
    .unwrap();
    std::fs::create_dir(state.path().join("remote-verify")).unwrap();
    std::fs::write(
        state.path().join("remote-verify/b.json"),
        "{\"v\":1,\"location\":\"s3://b/p\",\"verified_at\":\"2026-11-23T06:00:00Z\",\"depth\":\"presence\",\"databases\":{\"app\":{\"id\":\"20261123T030000Z\",\"verdict\":\"pass\",\"depth\":\"presence\"}}}",
    )
    .unwrap();
    // ops-notify's counts and a message held in its outbox (as ops-notify writes them).
    std::fs::create_dir_all(state.path().join("notify/outbox")).unwrap();
    std::fs::write(
        state.path().join("notify/stats.json"),
        r#"{"v":1,"sent":{"smtp":4},"failures":{"json":2},"dropped":{"json":1},"last_failure_at":null,"last_sent_at":null}"#,
    )
    .unwrap();
    std::fs::write(state.path().join("notify/outbox/01M.json"), "{}").unwrap();
    // A run, and one that found its configuration changed (FR27).
    std::fs::write(
        state.path().join("runs.jsonl"),
        concat!(
            "{\"event\":\"run.finished\",\"source\":\"pgdump-run\",\"result\":\"ok\"}\n",
            "{\"event\":\"run.finished\",\"source\":\"backup-rotate\",\"result\":\"ok\",",
            "\"ts\":\"2026-11-23T08:00:00Z\",\"correlation_id\":\"c\",",
            "\"config_changes\":[{\"item\":\"setting:retention /b\",\"change\":\"changed\"}]}\n",
        ),
    )
    .unwrap();
    // A unit failure, recorded as its OnFailure= handler does (with systemd's MONITOR_*).
    let recorded = ToolRun::check(
        Command::new(env!("CARGO_BIN_EXE_ops-status"))
            .args(["record-failure", "pgops-backup.service", "--state-dir"])
            .arg(state.path())
            .env("MONITOR_SERVICE_RESULT", "exit-code")
            .env("MONITOR_EXIT_STATUS", "3")
            .output()
            .unwrap(),
    );
    assert_eq!(recorded.code, 0);
    let failed = recorded.named("unit.failed")[0];
    assert_eq!(failed["service_result"], "exit-code");
    assert_eq!(failed["exit_status"], "3");
    assert!(failed["exit_code"].is_null());
    let line = std::fs::read_to_string(state.path().join("unit-failures.jsonl")).unwrap();
    testkit::schema::check(
        "files/unit-failure.json",
        &serde_json::from_str(line.trim()).unwrap(),
    );
    let text = run(
        Command::new(env!("CARGO_BIN_EXE_ops-status"))
            .arg("metrics")
            .arg("--backup-dir")
            .arg(cat.path())
            .arg("--state-dir")
            .arg(state.path())
            // The destinations expected (PGOPS_REMOTE, as the units set it): one has a
            // copy, the other never got one.
            .env("PGOPS_REMOTE", "s3://b/p s3://second/p"),
        "ops-status metrics",
    );
    // Only families with a sample: a HELP line alone proves nothing is emitted.
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
        .collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_alert_rules_are_valid_and_fire_exactly_when_they_should() {
    let dir = scripts().join("prometheus");
    run(
        Command::new("promtool")
            .args(["check", "rules", "pgops-alerts.yaml"])
            .current_dir(&dir),
        "promtool check rules",
    );
    let tested = run(
        Command::new("promtool")
            .args(["test", "rules", "pgops-alerts.test.yaml"])
            .current_dir(&dir),
        "promtool test rules",
    );
    assert!(tested.contains("SUCCESS"), "{tested}");
    run(
        Command::new("vmalert")
            .args(["-dryRun", "-rule=pgops-alerts.yaml", "-loggerLevel=ERROR"])
            .current_dir(&dir),
        "vmalert -dryRun (Debian's victoria-metrics)",
    );

    // Every alert is tested, and has a severity, a `for:` and a runbook section.
    let rules = read(&dir.join("pgops-alerts.yaml"));
    let tests = read(&dir.join("pgops-alerts.test.yaml"));
    let runbook = read(&testkit::workspace_root().join("docs/runbooks/incident-alerts.md"));
    let alerts: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert!(alerts.len() >= 10, "{alerts:?}");
    for a in &alerts {
        assert!(
            tests.contains(&format!("alertname: {a}\n")),
            "{a} has no promtool test"
        );
        assert!(
            runbook.contains(&format!("\n## {a}\n")),
            "{a} has no runbook section"
        );
        assert!(
            rules.contains(&format!(
                "runbook_url: docs/runbooks/incident-alerts.md#{}\n",
                a.to_lowercase()
            )),
            "{a}: no runbook link"
        );
    }
    assert_eq!(
        rules.matches("\n        for: ").count(),
        alerts.len(),
        "every alert waits before firing"
    );
    assert_eq!(
        rules.matches("\n          severity: ").count(),
        alerts.len()
    );
}

#[test]
fn the_prometheus_rule_carries_exactly_the_rule_file() {
    let dir = scripts().join("prometheus");
    let check = r#"
import sys, yaml
plain = yaml.safe_load(open(sys.argv[1]))
cr = yaml.safe_load(open(sys.argv[2]))
assert cr["apiVersion"] == "monitoring.coreos.com/v1" and cr["kind"] == "PrometheusRule", cr.get("kind")
assert cr["metadata"]["name"], "no name"
assert cr["spec"] == plain, "spec differs from pgops-alerts.yaml: run scripts/prometheus/sync"
"#;
    testkit::python_check(
        check,
        &[
            &dir.join("pgops-alerts.yaml"),
            &scripts().join("kubernetes/base/prometheusrule.yaml"),
        ],
    );
}

#[test]
fn rules_and_dashboard_query_only_metrics_that_are_emitted() {
    let emitted = emitted();
    assert!(emitted.contains("pgops_runs_total") && emitted.contains("pgops_audit_violations"));
    let rules = read(&scripts().join("prometheus/pgops-alerts.yaml"));
    let used = metric_names(&rules);
    assert!(used.len() >= 8, "{used:?}");
    let missing: Vec<_> = used.difference(&emitted).collect();
    assert!(
        missing.is_empty(),
        "the rules query metrics never emitted: {missing:?}"
    );

    let dash: serde_json::Value =
        serde_json::from_str(&read(&scripts().join("grafana/pgops.json"))).unwrap();
    // Every query: the panels' targets and the template variables.
    let mut exprs = Vec::new();
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x) {
                        ("expr" | "definition", serde_json::Value::String(s)) => {
                            out.push(s.clone())
                        }
                        _ => walk(x, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    walk(&dash, &mut exprs);
    assert!(exprs.len() >= 10, "{exprs:?}");
    let mut in_dash = BTreeSet::new();
    for e in &exprs {
        let names = metric_names(e);
        assert!(!names.is_empty(), "a query with no pgops metric: {e}");
        in_dash.extend(names);
    }
    let missing: Vec<_> = in_dash.difference(&emitted).collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics never emitted: {missing:?}"
    );
    // What the issue asks the dashboard to show.
    for m in [
        "pgops_backup_last_success_timestamp_seconds",
        "pgops_backup_last_size_bytes",
        "pgops_verify_last_success",
        "pgops_drill_last_rto_seconds",
        "pgops_drill_last_rpo_seconds",
        "pgops_audit_violations",
    ] {
        assert!(in_dash.contains(m), "the dashboard does not show {m}");
    }
    // Provisionable as is: no data source bound to one Grafana, every panel uses the
    // variable.
    let text = dash.to_string();
    assert!(
        !text.contains("__inputs"),
        "import-only placeholders break provisioning"
    );
    for p in dash["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] != "row")
    {
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
    }
    assert_eq!(dash["uid"], "pgops");
}
