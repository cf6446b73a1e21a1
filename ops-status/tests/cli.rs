//! ops-status over a real catalog on disk (made as the tools write it): the JSON lines,
//! `health` and its exit codes, `metrics` to stdout and atomically to a file that
//! promtool accepts, and a missing catalog.

use std::path::Path;
use std::process::Command;
use testkit::ToolRun;

fn status(root: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ops-status"))
        .env_remove("PGOPS_BACKUP_DIR")
        .args(args)
        .arg("--backup-dir")
        .arg(root)
        .output()
        .unwrap()
}

/// A set of `db` started `hours_ago`, verified (`Some(passed)`), copied to `offsite`.
fn set(root: &Path, db: &str, hours_ago: i64, verified: Option<bool>, offsite: Option<&str>) {
    let at = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(hours_ago);
    let id = at.strftime("%Y%m%dT%H%M%SZ").to_string();
    let path = testkit::fake::write_set(root, Some(db), &id);
    if let Some(passed) = verified {
        let record = serde_json::json!({"v": 1, "id": id, "database": db,
            "verified_at": jiff::Timestamp::now().to_string(),
            "verdict": if passed { "pass" } else { "fail" }, "checks": [],
            "tool": {"name": "backup-verify", "version": "0"}, "correlation_id": "c"});
        std::fs::write(path.join("verify.json"), record.to_string()).unwrap();
    }
    if let Some(dest) = offsite {
        ops_catalog::catalog::record_offsite(&path, dest, "seal").unwrap();
    }
}

fn drill(root: &Path, db: &str, rto_ms: u64) {
    let line =
        testkit::fake::drill_line(db, &jiff::Timestamp::now().to_string(), rto_ms, 3600, true);
    std::fs::write(root.join("_drills.jsonl"), line).unwrap();
}

#[test]
fn a_catalog_as_json_lines_health_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    set(root, "app", 30, Some(true), Some("s3://b/p"));
    set(root, "app", 2, Some(true), Some("s3://b/p"));
    set(root, "crm", 3, Some(true), Some("s3://b/p"));
    drill(root, "app", 9000);

    let r = ToolRun::check(status(root, &[]));
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let dbs = r.named("status.database");
    assert_eq!(dbs.len(), 2);
    assert_eq!(dbs[0]["database"], "app");
    assert_eq!(dbs[0]["sets"], 2);
    assert!(dbs[0]["newest_good"]["age_s"].as_i64().unwrap() < 3 * 3600);
    assert_eq!(dbs[0]["offsite"][0]["destination"], "s3://b/p");
    assert_eq!(dbs[0]["last_drill"]["rto_ms"], 9000);
    let r = ToolRun::check(status(root, &["-d", "crm"]));
    assert_eq!(r.named("status.database").len(), 1);
    assert!(r.named("status.audit").is_empty(), "no state directory");
    // With a state directory: the last port audit, as port-audit records it.
    let state = tempfile::tempdir().unwrap();
    std::fs::write(
        state.path().join("audit.json"),
        serde_json::json!({"finished_at": jiff::Timestamp::now().to_string(), "violations": 0,
            "complete": true, "violating_ports": [], "correlation_id": "c"})
        .to_string(),
    )
    .unwrap();
    let state_arg = state.path().to_str().unwrap();
    let r = ToolRun::check(status(root, &["--state-dir", state_arg]));
    assert_eq!(r.named("status.audit")[0]["violations"], 0);
    // Each database is held to its own drills (issue #26): crm, never drilled, degrades
    // health until it is.
    let out = status(root, &["health", "--state-dir", state_arg]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("crm: never drilled"));
    let crm =
        testkit::fake::drill_line("crm", &jiff::Timestamp::now().to_string(), 9000, 3600, true);
    let mut history = std::fs::OpenOptions::new()
        .append(true)
        .open(root.join("_drills.jsonl"))
        .unwrap();
    std::io::Write::write_all(&mut history, crm.as_bytes()).unwrap();
    let out = status(root, &["health", "--state-dir", state_arg]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Without a state directory, the port audit cannot be told.
    let out = status(root, &["health"]);
    assert_eq!(out.status.code(), Some(2));
    // Healthy: fresh, verified, off-site, drilled within its RTO, no audit expected.
    let out = status(root, &["health", "--no-audit"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    assert_eq!(doc["status"], "healthy");
    // A drill over its target degrades it, with the reason.
    let out = status(root, &["health", "--no-audit", "--rto-target", "5s"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{doc:#}");
    let drill_c = doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "drill_within_rto")
        .unwrap();
    assert_eq!(drill_c["state"], "not_ready");
    assert!(drill_c["reasons"][0]
        .as_str()
        .unwrap()
        .contains("RTO target"));

    // Metrics: on stdout, and atomically into a file promtool accepts.
    let out = status(root, &["metrics"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("pgops_backup_sets{database=\"app\"} 2\n"),
        "{text}"
    );
    let file = root.join("pgops.prom");
    let r = ToolRun::check(status(
        root,
        &["metrics", "--output", file.to_str().unwrap()],
    ));
    assert_eq!(r.code, 0, "{:#?}", r.events);
    // node_exporter runs as another user: the file is world-readable, and nothing but
    // `*.prom` files it may read whole are left beside it.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o044, 0o044, "{mode:o}");
    let left: Vec<_> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".prom") && n != "pgops.prom")
        .collect();
    assert!(left.is_empty(), "{left:?}");
    testkit::promtool_check_metrics(&std::fs::read_to_string(&file).unwrap());
}

#[test]
fn a_missing_catalog_is_a_clear_error_and_health_cannot_tell() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let r = ToolRun::check(status(&missing, &[]));
    assert_eq!(r.code, 3);
    assert_eq!(r.error_code("run.failed"), "catalog_missing");
    let out = status(&missing, &["health"]);
    assert_eq!(out.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["status"], "unknown");
    assert_eq!(doc["error"]["code"], "catalog_missing");
}

/// On a terminal (a real pseudo-terminal, from `script`), a table a person reads; piped,
/// the same command stays JSON lines.
#[test]
fn a_terminal_gets_a_table_and_a_pipe_json() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    set(root, "app", 2, Some(true), Some("s3://b/p"));
    let cmd = format!(
        "{} --backup-dir {}",
        env!("CARGO_BIN_EXE_ops-status"),
        root.display()
    );
    let in_pty = |no_color: Option<&str>| {
        let mut c = Command::new("script");
        c.args(["-qec", &cmd, "/dev/null"])
            .env_remove("PGOPS_BACKUP_DIR")
            .env_remove("NO_COLOR")
            .env("TERM", "xterm-256color");
        if let Some(v) = no_color {
            c.env("NO_COLOR", v);
        }
        c.output().expect("script (util-linux)")
    };
    set(root, "crm", 3, Some(false), None);
    let out = in_pty(None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("\x1b["),
        "a failed verification in colour: {text:?}"
    );
    let out = in_pty(Some("1"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("\x1b["), "NO_COLOR: {text:?}");
    assert!(
        text.contains("newest good") && text.contains("app"),
        "{text}"
    );
    assert!(
        text.contains("2h ago") || text.contains("1h 59m ago"),
        "{text}"
    );
    assert!(!text.contains("status.database"), "{text}");
    let r = ToolRun::check(status(root, &[]));
    assert_eq!(r.named("status.database").len(), 2);
    // --table asks for the table anyway (a report, a pager), without colour off a terminal.
    let out = status(root, &["--table"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("newest good") && !text.contains('\x1b'),
        "{text}"
    );
}

/// The sets of a database for a person choosing one (issue #22 §5): `ops-status sets` lists
/// each set, newest first, with what it has proven, as a table that fits the terminal's
/// width (sizes in MiB, as the bars write them), or `status.set` JSON lines; `health` in
/// words for a person.
#[test]
fn sets_are_listed_to_fit_the_terminal_and_health_reads_as_words() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    set(root, "app", 50, Some(false), None);
    set(root, "app", 26, Some(true), Some("s3://bucket/pgops"));
    set(root, "app", 2, None, None);
    set(root, "crm", 3, Some(true), None);
    let r = ToolRun::check(status(root, &["-d", "app", "sets"]));
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let sets = r.named("status.set");
    assert_eq!(sets.len(), 3);
    assert!(
        sets[0]["age_s"].as_i64() < sets[1]["age_s"].as_i64(),
        "newest first"
    );
    assert_eq!(sets[1]["verified"]["passed"], true);
    assert_eq!(sets[1]["offsite"][0]["destination"], "s3://bucket/pgops");

    for width in [60, 100] {
        let out = Command::new(env!("CARGO_BIN_EXE_ops-status"))
            .env("COLUMNS", width.to_string())
            .args(["sets", "--table", "--backup-dir"])
            .arg(root)
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(out.status.success(), "{text}");
        for line in text.lines() {
            assert!(
                line.chars().count() <= width,
                "wider than {width}: {line:?}\n{text}"
            );
        }
        assert!(text.contains("FAIL") && text.contains("crm"), "{text}");
        // Every id whole, on one line, for --backup-id.
        for s in &sets {
            assert!(text.contains(s["id"].as_str().unwrap()), "{text}");
        }
        assert!(!text.contains(" MB") && !text.contains(" KB"), "{text}");
    }

    let out = status(root, &["health", "--table"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("pgops health: "), "{text}");
    assert!(text.contains("✗ ") || text.contains("? "), "{text}");
    assert!(!text.trim_start().starts_with('{'), "{text}");
}

/// FR27: the operator changes the env file (a setting and the password), a unit, a key and
/// the retention; the next run of the tool records exactly what changed in its run trace
/// (values only where they are not secret), the run after it nothing, and ops-status shows
/// the last change to a script, a person and Prometheus.
#[test]
fn configuration_changes_are_audited_in_the_run_trace_and_shown() {
    let dir = tempfile::tempdir().unwrap();
    let (root, state, etc) = (
        dir.path().join("catalog"),
        dir.path().join("state"),
        dir.path().join("etc"),
    );
    for d in [&root, &state, &etc] {
        std::fs::create_dir_all(d).unwrap();
    }
    set(&root, "app", 2, Some(true), None);
    let env_file = etc.join("pgops.env");
    let unit = etc.join("pgops-rotate.service");
    let key = etc.join("backup.pub");
    let pw = testkit::SENTINEL_PASSWORD;
    std::fs::write(
        &env_file,
        format!("PGOPS_RTO_TARGET=60m\nPGPASSWORD={pw}\n"),
    )
    .unwrap();
    std::fs::copy(
        testkit::workspace_root().join("scripts/systemd/pgops-rotate.service"),
        &unit,
    )
    .unwrap();
    std::fs::write(&key, "untrusted comment: first key\nRWQAAAAAAAAAAA\n").unwrap();
    let rotate = |keep_daily: &str, password: &str| {
        let out = Command::new(testkit::tool_bin("backup-rotate"))
            .env_remove("PGOPS_BACKUP_DIR")
            .env_remove("PGOPS_CORRELATION_ID")
            .env_remove("INVOCATION_ID")
            .env("PGOPS_STATE_DIR", &state)
            .env(
                "PGOPS_CONFIG_FILES",
                format!("{}:/nonexistent/pgops-*", etc.display()),
            )
            .env("PGPASSWORD", password)
            .args([
                "--keep-daily",
                keep_daily,
                "--timezone",
                "UTC",
                "--backup-dir",
            ])
            .arg(&root)
            .output()
            .unwrap();
        testkit::assert_no_secret("stdout", &out.stdout);
        testkit::assert_no_secret("stderr", &out.stderr);
        ToolRun::check(out)
    };
    // The first run is the baseline; an unchanged run records nothing.
    for _ in 0..2 {
        let r = rotate("7", pw);
        assert_eq!(r.code, 0, "{:#?}", r.events);
        assert!(r.named("config.changed").is_empty(), "{:#?}", r.events);
        assert!(r.named("run.finished")[0].get("config_changes").is_none());
    }

    std::fs::write(
        &env_file,
        format!("PGOPS_RTO_TARGET=30m\nPGPASSWORD={pw}-rotated\n"),
    )
    .unwrap();
    let text = std::fs::read_to_string(&unit).unwrap();
    std::fs::write(&unit, text.replace("--keep-daily 7", "--keep-daily 3")).unwrap();
    std::fs::write(&key, "untrusted comment: second key\nRWQBBBBBBBBBBB\n").unwrap();
    let r = rotate("3", &format!("{pw}-rotated"));
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let changed = r.named("config.changed");
    assert_eq!(changed.len(), 1, "{:#?}", r.events);
    let changes = changed[0]["changes"].as_array().unwrap();
    assert_eq!(
        &r.named("run.finished")[0]["config_changes"],
        &changed[0]["changes"]
    );
    let find = |item: String| {
        changes
            .iter()
            .find(|c| c["item"] == item.as_str())
            .unwrap_or_else(|| panic!("{item} not in {changes:#?}"))
    };
    let setting = find(format!("file:{}:PGOPS_RTO_TARGET", env_file.display()));
    assert_eq!(
        (&setting["from"], &setting["to"]),
        (&"60m".into(), &"30m".into())
    );
    let retention = find(format!("setting:retention {}", root.display()));
    assert!(retention["from"].as_str().unwrap().contains("daily 7"));
    assert!(retention["to"].as_str().unwrap().contains("daily 3"));
    for file in [&env_file, &unit, &key] {
        let c = find(format!("file:{}", file.display()));
        assert_eq!(c["change"], "changed");
        assert!(c.get("from").is_none() && c.get("to").is_none(), "{c}");
    }
    // The password changed: the env file's digest says so, nothing names or shows it.
    assert_eq!(changes.len(), 5, "{changes:#?}");
    testkit::assert_no_secret_in_tree(&state);
    assert!(!std::fs::read_to_string(state.join("runs.jsonl"))
        .unwrap()
        .contains("-rotated"));

    let r = rotate("3", &format!("{pw}-rotated"));
    assert!(r.named("config.changed").is_empty(), "{:#?}", r.events);
    let snapshot: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.join("config/backup-rotate.json")).unwrap())
            .unwrap();
    testkit::schema::check("files/config-snapshot.json", &snapshot);
    assert_eq!(
        snapshot[format!("file:{}:PGPASSWORD", env_file.display())],
        "secret_set"
    );

    // ops-status: the last change for scripts, a person and Prometheus.
    let state_arg = state.to_str().unwrap();
    let r = ToolRun::check(status(&root, &["--state-dir", state_arg]));
    let shown = r.named("status.config");
    assert_eq!(shown.len(), 1, "{:#?}", r.events);
    assert_eq!(shown[0]["tool"], "backup-rotate");
    assert_eq!(shown[0]["items"].as_array().unwrap().len(), 5);
    assert!(shown[0]["age_s"].as_i64().unwrap() < 600);
    let table = status(&root, &["--state-dir", state_arg, "--table"]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains("Configuration: last changed") && table.contains("backup-rotate"),
        "{table}"
    );
    let metrics = status(&root, &["metrics", "--state-dir", state_arg]);
    let metrics = String::from_utf8_lossy(&metrics.stdout);
    assert!(
        metrics.contains("pgops_config_last_change_timestamp_seconds{tool=\"backup-rotate\"} "),
        "{metrics}"
    );
}
