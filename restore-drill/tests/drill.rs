//! restore-drill against a real server: proven drills, each kind of failure, signals,
//! --compare-live, --ephemeral, RTO targets, stdin chaining and the history.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use testkit::{Cluster, ToolRun};

fn with_pg_path(c: &Cluster, cmd: &mut Command) {
    c.configure_tool(cmd);
}

/// Takes a set of `db` into `root`; returns its backup.completed event.
fn backup(c: &Cluster, db: &str, root: &Path, extra: &[&str]) -> Value {
    let mut cmd = c.tool("pgdump-run");
    let r = ToolRun::check(
        cmd.args([
            "-d",
            db,
            "--no-globals",
            "--backup-dir",
            root.to_str().unwrap(),
        ])
        .args(extra)
        .output()
        .unwrap(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.named("backup.completed")[0].clone()
}

/// A new database with the tricky schema and one backup of it in a new catalog:
/// `(database, catalog, backup.completed)`.
fn tricky_backup(c: &Cluster, prefix: &str) -> (String, tempfile::TempDir, Value) {
    let db = c.unique_db(prefix);
    c.load_tricky(&db);
    let dir = tempfile::tempdir().unwrap();
    let done = backup(c, &db, dir.path(), &[]);
    (db, dir, done)
}

fn drill_cmd(c: &Cluster, root: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_restore-drill"));
    with_pg_path(c, &mut cmd);
    cmd.arg("--backup-dir")
        .arg(root)
        .args(args)
        .stdin(Stdio::null());
    cmd
}

fn drill(c: &Cluster, root: &Path, args: &[&str]) -> ToolRun {
    ToolRun::check(drill_cmd(c, root, args).output().unwrap())
}

/// Every database of the server.
fn databases(c: &Cluster) -> Vec<String> {
    c.connect("postgres")
        .query("SELECT datname FROM pg_database", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The scratch databases of drills of `db` (other tests drill in parallel).
fn scratch_dbs(c: &Cluster, db: &str) -> Vec<String> {
    c.connect("postgres")
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'pgops_drill_%' AND strpos(datname, $1) > 0",
            &[&db],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn report(r: &ToolRun) -> &Value {
    r.events
        .iter()
        .find(|e| e["event"] == "drill.completed" || e["event"] == "drill.failed")
        .expect("a drill report")
}

fn failed_checks(r: &ToolRun) -> Vec<String> {
    report(r)["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// Rewrites a set's archive through `edit` (on the raw bytes) and fixes the manifest's
/// hashes, so that the checksum passes and only the content is wrong.
fn rewrite_archive(set: &Path, edit: impl FnOnce(Vec<u8>) -> Vec<u8>) {
    let mpath = set.join("manifest.json");
    let mut m: Value = serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
    let name = m["files"][0]["name"].as_str().unwrap().to_string();
    let archive = set.join(&name);
    let raw = zstd::decode_all(std::fs::File::open(&archive).unwrap()).unwrap();
    let raw = edit(raw);
    let stored = zstd::encode_all(&raw[..], 1).unwrap();
    std::fs::write(&archive, &stored).unwrap();
    use sha2::Digest;
    m["files"][0]["bytes"] = stored.len().into();
    m["files"][0]["sha256"] = hex::encode(sha2::Sha256::digest(&stored)).into();
    m["files"][0]["raw_bytes"] = raw.len().into();
    m["files"][0]["raw_sha256"] = hex::encode(sha2::Sha256::digest(&raw)).into();
    std::fs::write(&mpath, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

/// The drill unit as once shipped ran `restore-drill -d ""` (PGOPS_DRILL_DB unset) and
/// reported a missing backup; an empty name is a usage error that says what is unset.
#[test]
fn an_empty_database_name_is_a_usage_error_naming_the_setting() {
    let c = Cluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let r = drill(c, dir.path(), &["-d", ""]);
    assert_eq!(r.code, 2, "{:#?}", r.events);
    assert_eq!(r.error_code("run.failed"), "invalid_argument");
    let failed = &r.named("run.failed")[0];
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("PGOPS_DRILL_DB"),
        "{failed}"
    );
}

/// `--dry-run` names the set and where it would go; nothing is restored, created or
/// recorded.
#[test]
fn a_dry_run_names_the_set_and_the_target_and_touches_nothing() {
    let c = Cluster::shared();
    let (db, dir, done) = tricky_backup(c, "drill_dry");
    let r = drill(c, dir.path(), &["-d", &db, "--dry-run"]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let plan = &r.named("drill.planned")[0];
    assert_eq!(plan["id"], done["id"]);
    assert_eq!(plan["target"]["kind"], "server");
    assert!(plan["target"]["database"]
        .as_str()
        .unwrap()
        .starts_with("pgops_drill_"));
    assert!(plan["rows"].as_u64().unwrap() > 0);
    assert!(r.named("drill.completed").is_empty());
    assert_eq!(r.finished()["dry_run"], true);
    let scratch = plan["target"]["database"].as_str().unwrap();
    assert!(
        !databases(c).iter().any(|d| d == scratch),
        "a dry run created {scratch}"
    );
    assert!(
        !dir.path().join("_drills.jsonl").exists(),
        "a dry run was recorded"
    );
}

#[test]
fn drills_of_real_databases_are_proven_and_leave_nothing_behind() {
    let c = Cluster::shared();
    let db = c.unique_db("drill_ok");
    c.load_tricky(&db);
    c.load_mixed(&db, "0.005");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (extra, jobs) in [
        (vec![], "1"),
        (vec!["--format", "plain"], "1"),
        (vec!["--compress", "gzip"], "2"),
    ] {
        backup(c, &db, root, &extra);
        let r = drill(c, root, &["-d", &db, "--jobs", jobs]);
        assert_eq!(r.code, 0, "{extra:?}: {:#?}", r.events);
        let rep = report(&r);
        assert_eq!(rep["event"], "drill.completed");
        assert_eq!(rep["mismatches"], serde_json::json!([]));
        assert!(rep["rows"].as_u64().unwrap() > 10_000);
        assert!(rep["rto_ms"].as_u64().unwrap() >= rep["phases"]["restore_ms"].as_u64().unwrap());
        assert!(rep["rpo_s"].as_i64().unwrap() >= 0);
        assert_eq!(
            rep["rpo_ms"].as_i64().unwrap() / 1000,
            rep["rpo_s"].as_i64().unwrap(),
            "one data loss, two units"
        );
        assert_eq!(rep["target"]["kind"], "server");
        assert!(
            scratch_dbs(c, &db).is_empty(),
            "the scratch database was dropped"
        );
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    let history = std::fs::read_to_string(root.join("_drills.jsonl")).unwrap();
    assert_eq!(history.lines().count(), 3);
    for line in history.lines() {
        testkit::schema::check(
            "files/drill-history.json",
            &serde_json::from_str(line).unwrap(),
        );
    }
}

#[test]
fn wrong_manifest_counts_and_missing_table_data_fail_naming_the_table() {
    let c = Cluster::shared();
    let (db, dir, done) = tricky_backup(c, "drill_rows");
    let set = PathBuf::from(done["path"].as_str().unwrap());
    let mpath = set.join("manifest.json");
    let mut m: Value = serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
    let t = m["tables"]
        .as_array()
        .unwrap()
        .iter()
        .position(|t| t["name"] == "docs")
        .unwrap();
    m["tables"][t]["rows"] = 21.into();
    std::fs::write(&mpath, serde_json::to_vec(&m).unwrap()).unwrap();
    let r = drill(c, dir.path(), &["-d", &db]);
    assert_eq!(r.code, 1);
    assert_eq!(failed_checks(&r), ["tables"]);
    let mm = &report(&r)["mismatches"];
    assert_eq!(mm.as_array().unwrap().len(), 1);
    assert_eq!(mm[0]["name"], "docs");
    assert_eq!(
        (mm[0]["expected"].as_u64(), mm[0]["actual"].as_u64()),
        (Some(21), Some(20))
    );

    // An archive without the data of one table: the set of an emptied copy, swapped in with
    // consistent hashes, under the original manifest's row counts.
    let dir = tempfile::tempdir().unwrap();
    let done = backup(c, &db, dir.path(), &[]);
    let set = PathBuf::from(done["path"].as_str().unwrap());
    let empty_db = c.unique_db("drill_rows_empty");
    c.load_tricky(&empty_db);
    c.connect(&empty_db)
        .batch_execute("TRUNCATE public.\"dotted.name\"")
        .unwrap();
    let other = tempfile::tempdir().unwrap();
    let done2 = backup(c, &empty_db, other.path(), &[]);
    let other_archive =
        PathBuf::from(done2["path"].as_str().unwrap()).join(done2["file"].as_str().unwrap());
    let raw_other = zstd::decode_all(std::fs::File::open(other_archive).unwrap()).unwrap();
    rewrite_archive(&set, |_| raw_other);
    let r = drill(c, dir.path(), &["-d", &db]);
    assert_eq!(r.code, 1);
    assert_eq!(failed_checks(&r), ["tables"]);
    let mm = &report(&r)["mismatches"];
    assert_eq!(mm[0]["name"], "dotted.name");
    assert_eq!(mm[0]["actual"], 0);
    assert!(scratch_dbs(c, &db).is_empty());
}

#[test]
fn a_restore_that_fails_is_reported_redacted_and_cleaned_up() {
    let c = Cluster::shared();
    let db = c.unique_db("drill_fail");
    c.load_tricky(&db);
    let dir = tempfile::tempdir().unwrap();
    let done = backup(c, &db, dir.path(), &["--format", "plain"]);
    let set = PathBuf::from(done["path"].as_str().unwrap());
    // A statement that fails on restore and quotes the sentinel password: psql echoes it.
    let bad = format!(
        "SELECT 'x' FROM pgops_no_such_table WHERE 'pw' = '{}';\n",
        testkit::SENTINEL_PASSWORD
    );
    rewrite_archive(&set, |raw| [bad.into_bytes(), raw].concat());
    let r = drill(c, dir.path(), &["-d", &db]);
    assert_eq!(r.code, 1, "{:#?}", r.events);
    assert_eq!(failed_checks(&r), ["restore"]);
    let reason = report(&r)["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "restore")
        .unwrap()["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("pgops_no_such_table"), "{reason}");
    assert!(scratch_dbs(c, &db).is_empty());
    testkit::assert_no_secret_in_tree(dir.path());
}

#[test]
fn a_corrupt_archive_fails_the_checksum_before_anything_is_restored() {
    let c = Cluster::shared();
    let db = c.unique_db("drill_sum");
    let dir = tempfile::tempdir().unwrap();
    let done = backup(c, &db, dir.path(), &[]);
    let archive =
        PathBuf::from(done["path"].as_str().unwrap()).join(done["file"].as_str().unwrap());
    let mut bytes = std::fs::read(&archive).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&archive, bytes).unwrap();
    let r = drill(c, dir.path(), &["-d", &db]);
    assert_eq!(r.code, 1);
    assert_eq!(failed_checks(&r), ["checksum"]);
    assert!(
        report(&r)["target"].is_null(),
        "no scratch database was created"
    );
}

#[test]
fn sigint_mid_restore_drops_the_scratch_and_exits_3() {
    let c = Cluster::shared();
    let db = c.unique_db("drill_int");
    c.load_mixed(&db, "0.05");
    let dir = tempfile::tempdir().unwrap();
    backup(c, &db, dir.path(), &[]);
    let child = drill_cmd(c, dir.path(), &["-d", &db])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = false;
    for _ in 0..400 {
        if !scratch_dbs(c, &db).is_empty() {
            seen = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(seen, "the scratch database appeared");
    std::thread::sleep(std::time::Duration::from_millis(300));
    // SAFETY: kill only sends a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let r = ToolRun::check(child.wait_with_output().unwrap());
    assert_eq!(r.code, 3, "{:#?}", r.events);
    assert_eq!(r.error_code("run.failed"), "interrupted");
    assert!(scratch_dbs(c, &db).is_empty(), "scratch dropped");
}

#[test]
fn compare_live_reports_the_rows_written_and_the_tables_changed_since_the_backup() {
    let c = Cluster::shared();
    let (db, dir, _) = tricky_backup(c, "drill_live");
    c.connect(&db)
        .batch_execute(
            "INSERT INTO public.\"ÜnïcødeTäble\" SELECT 'new ' || g FROM generate_series(1, 7) g; \
             UPDATE public.\"dotted.name\" SET v = 3 WHERE v = 2",
        )
        .unwrap();
    let r = drill(c, dir.path(), &["-d", &db, "--compare-live"]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let live = &report(&r)["compare_live"];
    assert_eq!(live["missing_rows"], 7);
    // Issue #26: the table whose count did not move but whose values did is named too.
    assert_eq!(live["changed_tables"], 2, "{live:#}");
    let tables = live["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 2, "{live:#}");
    let by_name = |n: &str| tables.iter().find(|t| t["name"] == n).unwrap();
    assert_eq!(by_name("ÜnïcødeTäble")["live_rows"], 12);
    let updated = by_name("dotted.name");
    assert_eq!(updated["changed"], true);
    assert_eq!(updated["missing_rows"], 0);
    assert_eq!(updated["live_rows"], updated["backup_rows"]);
}

#[test]
fn ephemeral_drills_never_touch_the_production_server() {
    let c = Cluster::shared();
    let (db, dir, _) = tricky_backup(c, "drill_eph");
    let before = databases(c);
    let mut cmd = drill_cmd(c, dir.path(), &["-d", &db, "--ephemeral"]);
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let r = ToolRun::check(child.wait_with_output().unwrap());
    assert_eq!(r.code, 0, "{:#?}", r.events);
    assert_eq!(report(&r)["target"]["kind"], "ephemeral");
    let after = databases(c);
    // Other tests create databases in parallel: only a drill of this database matters.
    let mine = |v: &Vec<String>| -> Vec<String> {
        v.iter().filter(|n| n.contains(&db)).cloned().collect()
    };
    assert_eq!(
        mine(&before),
        mine(&after),
        "the production server sees no new database"
    );
    assert!(scratch_dbs(c, &db).is_empty());
    let leftovers: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("pgops-cluster-{pid}-"))
        })
        .collect();
    assert!(leftovers.is_empty(), "the ephemeral cluster was deleted");
}

#[test]
fn an_rto_target_of_1ms_fails_on_rto_alone() {
    let c = Cluster::shared();
    let db = c.unique_db("drill_rto");
    let dir = tempfile::tempdir().unwrap();
    backup(c, &db, dir.path(), &[]);
    let r = drill(c, dir.path(), &["-d", &db, "--rto-target", "1ms"]);
    assert_eq!(r.code, 1);
    assert_eq!(failed_checks(&r), ["rto"]);
}

#[test]
fn check_sql_statements_must_each_return_true() {
    let c = Cluster::shared();
    let (db, dir, _) = tricky_backup(c, "drill_sql");
    let sql = dir.path().join("checks.sql");
    std::fs::write(&sql, "-- invariants\nSELECT count(*) = 300 FROM public.measurements\n\nSELECT min(id) = 2 FROM public.docs\n").unwrap();
    let r = drill(
        c,
        dir.path(),
        &["-d", &db, "--check-sql", sql.to_str().unwrap()],
    );
    assert_eq!(r.code, 1);
    assert_eq!(failed_checks(&r), ["check_sql"]);
    let checks: Vec<&Value> = report(&r)["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == "check_sql")
        .collect();
    assert_eq!(checks.len(), 2);
    assert_eq!(checks[0]["status"], "pass");
    assert_eq!(checks[1]["status"], "fail");
}

#[test]
fn stdin_mode_drills_the_set_pgdump_run_just_made() {
    let c = Cluster::shared();
    let (db, dir, _) = tricky_backup(c, "drill_pipe");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let mut dump = c.tool("pgdump-run");
    dump.args(["-d", &db, "--backup-dir", dir.path().to_str().unwrap()])
        .env("PGOPS_CORRELATION_ID", "nightly-7");
    let mut drill = Command::new(env!("CARGO_BIN_EXE_restore-drill"));
    with_pg_path(c, &mut drill);
    drill.arg("-");
    let out = testkit::pipe(dump, drill);
    let r = ToolRun::check(out);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    assert!(r.events.iter().all(|e| e["correlation_id"] == "nightly-7"));
    let sets: Vec<String> =
        std::fs::read_dir(dir.path().join(ops_catalog::catalog::encode_db_dir(&db)))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
    let newest = sets.iter().max().unwrap();
    assert_eq!(
        report(&r)["id"],
        newest.as_str(),
        "the set named on stdin, the newest"
    );
}

#[test]
fn history_summarises_drills_by_month() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("h.jsonl");
    let line = |at: &str, result: &str, rto: u64, rpo: i64| {
        serde_json::json!({"v": 1, "started_at": at, "database": "app", "id": "20261001T030000Z", "result": result, "rto_ms": rto, "rpo_s": rpo}).to_string()
    };
    let text = [
        line("2026-09-03T04:00:00.000Z", "completed", 4000, 3600),
        line("2026-10-01T04:00:00.000Z", "completed", 1000, 3600),
        line("2026-10-15T04:00:00.000Z", "failed", 3000, 90000),
        "not json".to_string(),
        line("2026-11-01T04:00:00.000Z", "completed", 2000, 600),
    ]
    .join("\n");
    std::fs::write(&file, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_restore-drill"))
        .args(["history", "--history", file.to_str().unwrap()])
        .output()
        .unwrap();
    let r = ToolRun::check(out);
    assert_eq!(r.code, 0);
    let months = r.named("drill.month");
    let got: Vec<(String, u64, u64, u64, u64, i64)> = months
        .iter()
        .map(|m| {
            (
                m["month"].as_str().unwrap().to_string(),
                m["drills"].as_u64().unwrap(),
                m["successes"].as_u64().unwrap(),
                m["median_rto_ms"].as_u64().unwrap(),
                m["worst_rto_ms"].as_u64().unwrap(),
                m["worst_rpo_s"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("2026-09".into(), 1, 1, 4000, 4000, 3600),
            ("2026-10".into(), 2, 1, 2000, 3000, 90000),
            ("2026-11".into(), 1, 1, 2000, 2000, 600),
        ]
    );
    assert_eq!(months[1]["rto_trend_pct"], -50.0);
    assert_eq!(months[2]["rto_trend_pct"], 0.0);
    assert_eq!(r.finished()["unreadable_lines"], 1);
}

use testkit::fake::only_set;

/// A set of `small` copied into `big/` under a newer id (manifest id patched) is not a set
/// of `big`: the drill restores big's own set, never small's.
#[test]
fn a_set_copied_from_another_database_is_never_drilled_as_it() {
    let c = Cluster::shared();
    let (small, dir, _) = tricky_backup(c, "drill_small");
    let big = c.unique_db("drill_big");
    c.load_mixed(&big, "0.01");
    let real = backup(c, &big, dir.path(), &[]);
    let newer =
        ops_core::timefmt::set_id(jiff::Timestamp::now() + jiff::SignedDuration::from_secs(120));
    testkit::fake::copy_set_as(
        &only_set(dir.path(), &small),
        &dir.path().join(&big).join(&newer),
    );

    let r = drill(c, dir.path(), &["-d", &big]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    assert_eq!(report(&r)["id"], real["id"], "big's own set was drilled");

    let r = drill(c, dir.path(), &["-d", &big, "--backup-id", &newer]);
    assert_eq!(r.code, 1);
    assert_eq!(r.error_code("run.failed"), "set_misplaced");
}

/// A dump that is a symbolic link is refused, as backup-verify refuses it: one rule.
#[test]
fn a_symlinked_dump_is_not_a_set() {
    let c = Cluster::shared();
    let (db, dir, _) = tricky_backup(c, "drill_link");
    let set = only_set(dir.path(), &db);
    let m: Value =
        serde_json::from_slice(&std::fs::read(set.join("manifest.json")).unwrap()).unwrap();
    let name = m["files"][0]["name"].as_str().unwrap();
    let elsewhere = dir.path().join("elsewhere.dump");
    std::fs::rename(set.join(name), &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, set.join(name)).unwrap();
    let r = drill(c, dir.path(), &["-d", &db]);
    assert_eq!(r.code, 1, "{:#?}", r.events);
    assert_eq!(r.error_code("run.failed"), "no_set");
    assert!(scratch_dbs(c, &db).is_empty());
}

/// A drill killed by SIGKILL cannot drop its scratch database; the next drill proves the
/// leftover is its kind's (the mark) and ownerless (the advisory lock), and drops it.
#[test]
fn a_kill_9_drill_leaves_a_scratch_that_the_next_drill_drops() {
    // A private server: every drill sweeps leftovers, so a drill of another test running
    // beside this one on a shared server could drop the leftover first.
    let private = Cluster::start();
    let c = &private;
    let (db, dir, _) = tricky_backup(c, "drill_k9");
    let sql = dir.path().join("slow.sql");
    std::fs::write(&sql, "SELECT pg_sleep(60) IS NOT NULL\n").unwrap();
    let mut child = drill_cmd(
        c,
        dir.path(),
        &["-d", &db, "--check-sql", sql.to_str().unwrap()],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let mut scratch = Vec::new();
    for _ in 0..1000 {
        scratch = scratch_dbs(c, &db);
        if !scratch.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(scratch.len(), 1, "the scratch database appeared");
    std::thread::sleep(std::time::Duration::from_millis(500));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        scratch_dbs(c, &db),
        scratch,
        "SIGKILL leaves the scratch behind"
    );

    // An unmarked database named like a scratch database is never touched.
    let foreign = format!("pgops_drill_{}_foreign", db.to_lowercase());
    c.create_db(&foreign);

    let r = drill(c, dir.path(), &["-d", &db]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let left = r.named("drill.leftover");
    assert!(
        left.iter()
            .any(|e| e["name"] == scratch[0].as_str() && e["action"] == "dropped"),
        "{left:#?}"
    );
    assert!(left
        .iter()
        .any(|e| e["name"] == foreign.as_str() && e["action"] == "unmarked"));
    assert_eq!(scratch_dbs(c, &db), vec![foreign.clone()]);
    c.drop_db(&foreign);
}

/// `-d` may be a URI holding the password: it is never echoed, even when the drill finds
/// no set or the URI is malformed (an unencoded `/` in the password).
#[test]
fn a_uri_with_a_password_is_never_echoed() {
    let c = Cluster::shared();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("x")).unwrap();
    let pw = testkit::SENTINEL_PASSWORD;
    let host = c.socket_dir().display().to_string();
    for uri in [
        format!(
            "postgresql://postgres:{pw}@/nosuchdb?host={host}&port={}",
            c.port()
        ),
        format!("postgresql://postgres:{pw}/x?y@localhost:{}/db", c.port()),
        format!(
            "postgresql://postgres:{pw}@localhost:{}/db?sslmode",
            c.port()
        ),
        format!("host=localhost password={pw} x port={}", c.port()),
    ] {
        let out = drill_cmd(c, dir.path(), &["-d", &uri]).output().unwrap();
        testkit::assert_no_secret("stdout", &out.stdout);
        testkit::assert_no_secret("stderr", &out.stderr);
        let r = ToolRun::check(out);
        assert_ne!(r.code, 0);
    }
}

/// The drill over TLS with a client certificate: catalog queries, pg_restore and the
/// row recount all go over the one verified link.
#[test]
fn a_drill_over_tls_with_a_client_certificate() {
    let lab = testkit::tls::TlsLab::start();
    let c = &lab.cluster;
    let db = c.unique_db("tlsdrill");
    c.load_tricky(&db);
    let home = tempfile::tempdir().unwrap();
    let conninfo = lab.conninfo(
        "localhost",
        &db,
        &format!("sslmode=verify-full {}", lab.cert_settings("ca.crt")),
    );
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = c.tool("pgdump-run");
    cmd.env("HOME", home.path()).args([
        "-d",
        &conninfo,
        "--no-globals",
        "--backup-dir",
        dir.path().to_str().unwrap(),
    ]);
    let r = ToolRun::check(cmd.output().unwrap());
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let r = ToolRun::check(
        drill_cmd(c, dir.path(), &["-d", &conninfo])
            .env("HOME", home.path())
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 0, "{:#?}\n{}", r.events, r.stderr);
    assert!(scratch_dbs(c, &db).is_empty());
    // With the wrong CA the drill stops before creating anything.
    let wrong = lab.conninfo(
        "localhost",
        &db,
        &format!("sslmode=verify-full {}", lab.cert_settings("wrong-ca.crt")),
    );
    let r = ToolRun::check(
        drill_cmd(c, dir.path(), &["-d", &wrong])
            .env("HOME", home.path())
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 3, "{:#?}", r.events);
    assert_eq!(r.error_code("run.failed"), "tls_failed");
}

/// `pgdump-run … | restore-drill -` when the backup failed or was killed: the drill never
/// reads as "no set to drill" or as success. A set the stream named is still drilled; the
/// run then fails with the producer's own words.
#[test]
fn a_failed_or_cut_upstream_fails_the_drill_with_its_error() {
    let c = Cluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let feed = |input: &[u8]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_restore-drill"));
        with_pg_path(c, &mut cmd);
        cmd.args(["--backup-dir", dir.path().to_str().unwrap(), "-"]);
        ToolRun::fed(cmd, input)
    };
    let port = testkit::free_port().to_string();
    let failed = c
        .tool("pgdump-run")
        .args(["--all", "-p", &port, "--backup-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(3));
    let r = feed(&failed.stdout);
    assert_eq!(r.code, 3, "{:#?}", r.events);
    assert_eq!(r.error_code("run.failed"), "upstream_failed");
    assert_eq!(
        r.named("run.failed").len(),
        1,
        "not also no_set: {:#?}",
        r.events
    );
    assert_eq!(
        r.named("run.failed")[0]["upstream"]["errors"][0]["code"],
        "connect_failed"
    );

    // A backup killed after its set was published: the set is drilled, the run fails.
    let db = c.unique_db("drill_cut");
    let ok = c
        .tool("pgdump-run")
        .args(["-d", &db, "--no-globals", "--backup-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0));
    let r = feed(&testkit::without_run_finished(&ok.stdout));
    assert_eq!(r.code, 3, "{:#?}", r.events);
    assert_eq!(
        r.named("drill.completed").len(),
        1,
        "what it named is drilled"
    );
    assert_eq!(r.error_code("run.failed"), "upstream_incomplete");
}

/// The reason of the drill's `tables` check.
fn tables_reason(r: &ToolRun) -> String {
    report(r)["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "tables")
        .map(|c| c["reason"].as_str().unwrap().to_string())
        .expect("a tables check")
}

/// Issue #26: the drill proves every value, not only every count. A database whose own
/// settings change how pg_dump writes its values (bytea as escape, a time zone far from
/// UTC), holding every built-in type, is proven value for value; one value changed after
/// the restore, with every count still right, fails the drill naming its table; a set
/// from before digests keeps its count proof and says so; a LATIN1 database's values are
/// read back in its own encoding.
#[test]
fn a_changed_value_with_every_count_right_fails_the_drill_naming_the_table() {
    let c = Cluster::shared();
    let db = c.unique_db("drill_values");
    c.load_every_type(&db);
    c.connect("postgres")
        .batch_execute(&format!(
            "ALTER DATABASE {db} SET bytea_output = 'escape'; \
             ALTER DATABASE {db} SET TimeZone = 'Pacific/Chatham'"
        ))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let done = backup(c, &db, dir.path(), &[]);
    let set = PathBuf::from(done["path"].as_str().unwrap());
    let m: Value =
        serde_json::from_slice(&std::fs::read(set.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["digest_settings"]["bytea_output"], "escape", "{m:#}");
    assert_eq!(m["digest_settings"]["TimeZone"], "UTC", "{m:#}");
    let every = m["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "every_type")
        .unwrap();
    assert_eq!(every["columns"].as_array().unwrap().len(), 61);
    let generated = m["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "generated_and_dropped")
        .unwrap();
    assert_eq!(
        generated["columns"],
        serde_json::json!(["a", "b", "later", "with_default"]),
        "no generated or dropped column"
    );

    let r = drill(c, dir.path(), &["-d", &db]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    assert!(
        tables_reason(&r).contains("every table's values"),
        "{}",
        tables_reason(&r)
    );

    // One float changed by one part in 10^12 between the restore and its proof.
    let mut cmd = drill_cmd(c, dir.path(), &["-d", &db]);
    cmd.env("PGOPS_FAILPOINT", "proof.before_read").env(
        "PGOPS_FAILPOINT_SQL",
        "UPDATE public.every_type SET f8 = f8 * (1 + 1e-12) WHERE id = 1",
    );
    let r = ToolRun::check(cmd.output().unwrap());
    assert_eq!(r.code, 1, "{:#?}", r.events);
    assert_eq!(failed_checks(&r), ["tables"]);
    let mm = &report(&r)["mismatches"];
    assert_eq!(mm.as_array().unwrap().len(), 1, "{mm:#}");
    assert_eq!(mm[0]["name"], "every_type");
    assert_eq!(mm[0]["expected"], mm[0]["actual"], "every count is right");
    assert_ne!(mm[0]["digest"], mm[0]["expected_digest"]);
    assert!(tables_reason(&r).starts_with("public.every_type: values differ"));
    assert!(scratch_dbs(c, &db).is_empty());

    // A set from before digests: its counts still prove it, and it says what it did not.
    let mpath = set.join("manifest.json");
    let mut old: Value = serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
    old.as_object_mut().unwrap().remove("digest_settings");
    for t in old["tables"].as_array_mut().unwrap() {
        let t = t.as_object_mut().unwrap();
        t.remove("digest");
        t.remove("columns");
    }
    std::fs::write(&mpath, serde_json::to_vec(&old).unwrap()).unwrap();
    let r = drill(c, dir.path(), &["-d", &db]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    assert!(
        tables_reason(&r).contains("values not compared"),
        "{}",
        tables_reason(&r)
    );

    // LATIN1: the dump's bytes are LATIN1; the values are read back in it.
    let latin = c.unique_db("drill_latin1");
    c.drop_db(&latin);
    c.connect("postgres")
        .batch_execute(&format!(
            "CREATE DATABASE {latin} TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'"
        ))
        .unwrap();
    c.connect(&latin)
        .batch_execute("CREATE TABLE t (v text); INSERT INTO t VALUES ('héllo ÿ'), ('plain')")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    backup(c, &latin, dir.path(), &[]);
    let r = drill(c, dir.path(), &["-d", &latin]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    assert!(tables_reason(&r).contains("every table's values"));
    c.drop_db(&latin);
    c.drop_db(&db);
}

/// The reasons of health's `drill_within_rto` for the catalog at `root`.
fn drill_health(c: &Cluster, root: &Path) -> Vec<String> {
    let out = c
        .tool("ops-status")
        .arg("--backup-dir")
        .arg(root)
        .args(["health", "--no-audit", "--no-offsite"])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "drill_within_rto")
        .unwrap()["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect()
}

/// Issue #26: every database drilled. With one of two databases drilled, health names the
/// other as never drilled; `--all --due` drills only the one that is due, and says why it
/// passes over the other; `--all --max 1` takes the one waiting longest. Every drill is in
/// the history, and health is then content.
#[test]
fn all_drills_every_database_that_is_due_and_health_names_one_never_drilled() {
    let c = Cluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (c.unique_db("all_a"), c.unique_db("all_b"));
    for db in [&a, &b] {
        c.connect(db)
            .batch_execute("CREATE TABLE t (v int); INSERT INTO t SELECT generate_series(1, 10)")
            .unwrap();
        backup(c, db, dir.path(), &[]);
    }
    let r = drill(c, dir.path(), &["-d", &a]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    assert_eq!(drill_health(c, dir.path()), [format!("{b}: never drilled")]);

    let r = drill(c, dir.path(), &["--all", "--due", "30d"]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let skipped = r.named("drill.skipped");
    assert_eq!(skipped.len(), 1, "{skipped:#?}");
    assert_eq!(
        (
            skipped[0]["database"].as_str(),
            skipped[0]["reason"].as_str()
        ),
        (Some(a.as_str()), Some("not_due"))
    );
    assert_eq!(r.named("drill.completed").len(), 1);
    assert_eq!(r.named("drill.completed")[0]["database"], b.as_str());
    assert_eq!(r.finished()["drilled"], serde_json::json!([b]));
    assert!(drill_health(c, dir.path()).is_empty());

    // Both passed: --max 1 takes the one that waited longest (a), b waits.
    let r = drill(c, dir.path(), &["--all", "--max", "1"]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    assert_eq!(r.finished()["drilled"], serde_json::json!([a]));
    assert_eq!(r.finished()["waiting"], serde_json::json!([b]));
    let history = std::fs::read_to_string(dir.path().join("_drills.jsonl")).unwrap();
    assert_eq!(history.lines().count(), 3);
    assert!(
        history.lines().all(|l| l.contains("\"bytes\":")),
        "{history}"
    );
    c.drop_db(&a);
    c.drop_db(&b);
}
