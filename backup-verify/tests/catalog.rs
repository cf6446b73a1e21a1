//! backup-verify on whole catalogs: freshness, expected databases, findings, stdin mode,
//! locking, and the run that checked nothing.

mod common;

use common::{verify, verify_cmd};

use std::path::Path;
use std::process::{Command, Stdio};
use testkit::{Cluster, ToolRun};

fn pgdump_run_cmd(c: &Cluster) -> Command {
    c.tool("pgdump-run")
}

fn backup(c: &Cluster, db: &str, root: &Path) {
    let out = pgdump_run_cmd(c)
        .args([
            "-d",
            db,
            "--backup-dir",
            root.to_str().unwrap(),
            "--no-globals",
        ])
        .output()
        .unwrap();
    assert_eq!(ToolRun::check(out).code, 0);
}

#[test]
fn an_old_newest_set_and_a_missing_database_are_stale() {
    let c = Cluster::shared();
    let db = c.unique_db("fresh");
    let dir = tempfile::tempdir().unwrap();
    backup(c, &db, dir.path());
    let r = verify(dir.path(), &["--expect-database", &db]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    assert!(r.named("verify.stale").is_empty());

    // Make the only set three days old: a set directory and manifest id of that time.
    let old_id = "20261121T030000Z";
    rename_only_set(dir.path(), &db, old_id);
    let r = verify(
        dir.path(),
        &[
            "--expect-database",
            &db,
            "--expect-database",
            "ghost",
            "--max-age",
            "26h",
        ],
    );
    assert_eq!(r.code, 1);
    assert_eq!(r.named("verify.passed").len(), 1, "the set itself is fine");
    let stale = r.named("verify.stale");
    assert_eq!(stale.len(), 2, "{stale:#?}");
    assert_eq!(stale[0]["database"], db.as_str());
    assert_eq!(stale[0]["newest_passing"], old_id);
    assert!(stale[0]["age_s"].as_u64().unwrap() > 26 * 3600);
    assert_eq!(stale[1]["database"], "ghost");
    assert!(stale[1]["newest_passing"].is_null());
}

#[test]
fn a_database_whose_newest_set_failed_falls_back_to_its_last_good_set() {
    let c = Cluster::shared();
    let db = c.unique_db("fallback");
    let dir = tempfile::tempdir().unwrap();
    backup(c, &db, dir.path());
    assert_eq!(verify(dir.path(), &[]).code, 0);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    backup(c, &db, dir.path());
    let db_dir = dir.path().join(ops_catalog::catalog::encode_db_dir(&db));
    let mut sets: Vec<_> = std::fs::read_dir(&db_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    sets.sort();
    let newest = sets.last().unwrap();
    let archive = std::fs::read_dir(newest)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "zst"))
        .unwrap();
    std::fs::write(&archive, b"garbage").unwrap();
    let r = verify(dir.path(), &[]);
    assert_eq!(r.code, 1, "the newest set failed");
    assert_eq!(r.named("verify.failed").len(), 1);
    assert!(
        r.named("verify.stale").is_empty(),
        "the older set, recorded as passing, keeps the database fresh"
    );
}

#[test]
fn findings_are_reported_and_left_untouched() {
    let c = Cluster::shared();
    let db = c.unique_db("findings");
    let dir = tempfile::tempdir().unwrap();
    backup(c, &db, dir.path());
    let stray = dir.path().join("stray.txt");
    std::fs::write(&stray, b"x").unwrap();
    let partial = dir
        .path()
        .join(ops_catalog::catalog::encode_db_dir(&db))
        .join(".partial-20261124T000000Z");
    std::fs::create_dir(&partial).unwrap();
    let r = verify(dir.path(), &[]);
    assert_eq!(r.code, 0, "findings are warnings");
    let kinds: Vec<&str> = r
        .named("verify.finding")
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["unknown_entry", "stale_partial"]);
    assert!(stray.exists() && partial.exists());
}

#[test]
fn stdin_mode_verifies_exactly_the_sets_pgdump_run_made() {
    let c = Cluster::shared();
    let a = c.unique_db("pipe_a");
    let b = c.unique_db("pipe_b");
    let dir = tempfile::tempdir().unwrap();
    // An older set of a that the pipeline must not verify.
    backup(c, &a, dir.path());
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let mut dump = pgdump_run_cmd(c);
    dump.args([
        "-d",
        &a,
        "-d",
        &b,
        "--backup-dir",
        dir.path().to_str().unwrap(),
    ]);
    let mut verify = Command::new(env!("CARGO_BIN_EXE_backup-verify"));
    verify.env_remove("PGOPS_BACKUP_DIR").arg("-");
    let out = testkit::pipe(dump, verify);
    let r = ToolRun::check(out);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let passed = r.named("verify.passed");
    let mut dbs: Vec<&str> = passed
        .iter()
        .map(|e| e["database"].as_str().unwrap())
        .collect();
    dbs.sort();
    let mut want = vec!["_globals", a.as_str(), b.as_str()];
    want.sort();
    assert_eq!(dbs, want, "exactly the three sets of the pipeline");
    assert_ne!(r.finished()["correlation_id"].as_str().unwrap().len(), 0);
}

#[test]
fn stdin_mode_keeps_the_correlation_id_and_ignores_other_events() {
    let dir = tempfile::tempdir().unwrap();
    let input = "{\"event\":\"backup.started\",\"correlation_id\":\"pipe-77\"}\nnoise\n";
    let mut child = Command::new(env!("CARGO_BIN_EXE_backup-verify"))
        .arg("--backup-dir")
        .arg(dir.path())
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let r = ToolRun::check(child.wait_with_output().unwrap());
    assert_eq!(
        r.code, 3,
        "a stream without run.finished: the producer died"
    );
    assert_eq!(r.error_code("run.failed"), "upstream_incomplete");
    assert!(r.events.iter().all(|e| e["correlation_id"] == "pipe-77"));
}

/// Runs backup-verify - on `input` (another tool's events).
fn verify_events(root: &Path, input: &[u8]) -> ToolRun {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_backup-verify"));
    cmd.env_remove("PGOPS_BACKUP_DIR")
        .arg("--backup-dir")
        .arg(root)
        .arg("-");
    ToolRun::fed(cmd, input)
}

/// `pgdump-run … | backup-verify -` when the backup could not run: verify fails with the
/// backup's own error, never "nothing to check".
#[test]
fn a_failed_upstream_run_fails_verify_with_its_error() {
    let c = Cluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let port = testkit::free_port().to_string();
    let out = pgdump_run_cmd(c)
        .args([
            "--all",
            "-p",
            &port,
            "--backup-dir",
            dir.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let r = verify_events(dir.path(), &out.stdout);
    assert_eq!(r.code, 3, "{:#?}", r.events);
    assert_eq!(r.error_code("run.failed"), "upstream_failed");
    let failed = &r.named("run.failed")[0];
    assert_eq!(failed["upstream"]["source"], "pgdump-run");
    assert_eq!(failed["upstream"]["exit_code"], 3);
    assert_eq!(failed["upstream"]["errors"][0]["code"], "connect_failed");
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("connect_failed"),
        "{failed}"
    );
}

/// A backup that was killed (its stream ends without run.finished): the sets it finished
/// are verified, and the run still fails, saying the producer never finished.
#[test]
fn a_stream_without_run_finished_verifies_what_it_names_and_fails() {
    let c = Cluster::shared();
    let db = c.unique_db("cut_stream");
    let dir = tempfile::tempdir().unwrap();
    let out = pgdump_run_cmd(c)
        .args([
            "-d",
            &db,
            "--no-globals",
            "--backup-dir",
            dir.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let r = verify_events(dir.path(), &testkit::without_run_finished(&out.stdout));
    assert_eq!(r.named("verify.passed").len(), 1, "{:#?}", r.events);
    assert_eq!(r.code, 3);
    assert_eq!(r.error_code("run.failed"), "upstream_incomplete");
    // The whole stream: all fine.
    assert_eq!(verify_events(dir.path(), &out.stdout).code, 0);
}

#[test]
fn an_empty_catalog_checked_nothing_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let r = verify(dir.path(), &[]);
    assert_eq!(r.code, 1);
    assert_eq!(r.error_code("run.failed"), "nothing_checked");
    assert_eq!(r.finished()["result"], "failed");
    let r = verify(&dir.path().join("absent"), &[]);
    assert_eq!(r.code, 3);
    assert_eq!(r.error_code("run.failed"), "catalog_missing");
}

#[test]
fn a_writer_holding_the_lock_makes_verify_wait_then_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let _writer = ops_catalog::lock::CatalogLock::acquire(
        dir.path(),
        ops_catalog::lock::LockMode::Exclusive,
        std::time::Duration::ZERO,
    )
    .unwrap();
    let started = std::time::Instant::now();
    let r = verify(dir.path(), &["--lock-timeout", "300ms"]);
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    assert_eq!(r.code, 3);
    assert_eq!(r.error_code("run.failed"), "lock_busy");
}

/// Moves the only set of `db` to `new_id` (directory and manifest id): returns its path.
fn rename_only_set(root: &Path, db: &str, new_id: &str) -> std::path::PathBuf {
    let to = root
        .join(ops_catalog::catalog::encode_db_dir(db))
        .join(new_id);
    testkit::fake::move_set_as(&testkit::fake::only_set(root, db), &to);
    to
}

/// A set dated 2099 (a host clock that once jumped forward) must not keep a database fresh
/// for ever: it is reported as clock_skew and the database is stale. Its bytes are still
/// checked, and it fails as clock_skew, as in a bucket (one rule, ADR 0023: before, it
/// passed here and failed there).
#[test]
fn a_set_from_the_future_is_never_fresh() {
    let c = Cluster::shared();
    let db = c.unique_db("future");
    let dir = tempfile::tempdir().unwrap();
    backup(c, &db, dir.path());
    rename_only_set(dir.path(), &db, "20990101T000000Z");
    let r = verify(dir.path(), &["--max-age", "1h", "--all-sets"]);
    assert_eq!(r.code, 1, "{:#?}", r.events);
    assert!(r.named("verify.passed").is_empty(), "{:#?}", r.events);
    let failed = r.named("verify.failed");
    assert_eq!(failed.len(), 1, "{:#?}", r.events);
    assert_eq!(failed[0]["failed"], serde_json::json!(["manifest"]));
    assert!(failed[0]["checks"].to_string().contains("clock_skew"));
    let rows = failed[0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "rows")
        .cloned();
    assert_eq!(
        rows.unwrap()["status"],
        "pass",
        "its bytes were checked, and are fine"
    );
    let skew: Vec<_> = r
        .named("verify.finding")
        .into_iter()
        .filter(|e| e["kind"] == "clock_skew")
        .collect();
    assert_eq!(skew.len(), 1, "{:#?}", r.events);
    let stale = r.named("verify.stale");
    assert_eq!(stale.len(), 1);
    assert!(stale[0]["newest_passing"].is_null());
}

/// A set of another database copied in under a newer id is not this database's newest
/// set: --latest verifies the real one, and the impostor fails its manifest check.
#[test]
fn a_set_copied_from_another_database_is_reported_not_taken() {
    let c = Cluster::shared();
    let (small, big) = (c.unique_db("small"), c.unique_db("big"));
    let dir = tempfile::tempdir().unwrap();
    backup(c, &small, dir.path());
    backup(c, &big, dir.path());
    let newer =
        ops_core::timefmt::set_id(jiff::Timestamp::now() + jiff::SignedDuration::from_secs(60));
    testkit::fake::copy_set_as(
        &testkit::fake::only_set(dir.path(), &small),
        &dir.path().join(&big).join(&newer),
    );

    let r = verify(dir.path(), &["-d", &big]);
    assert_eq!(r.code, 1, "{:#?}", r.events);
    let passed = r.named("verify.passed");
    assert_eq!(passed.len(), 1);
    assert_ne!(
        passed[0]["id"],
        newer.as_str(),
        "the impostor is not verified as big's"
    );
    let failed = r.named("verify.failed");
    assert_eq!(failed.len(), 1, "{:#?}", r.events);
    assert_eq!(failed[0]["id"], newer.as_str());
    assert_eq!(failed[0]["failed"], serde_json::json!(["manifest"]));
}

/// One unreadable database directory does not hide the others; a dump this user may not
/// read is unverifiable, not failed. Permissions bind only a user other than root.
#[test]
fn unreadable_directories_and_dumps_are_reported_and_the_rest_verified() {
    let c = Cluster::shared();
    let (a, b) = (c.unique_db("readable"), c.unique_db("hidden"));
    let dir = tempfile::tempdir().unwrap();
    backup(c, &a, dir.path());
    backup(c, &b, dir.path());
    testkit::chown_tree_to_nobody(dir.path());
    use std::os::unix::fs::PermissionsExt;
    let hidden = dir.path().join(&b);
    std::fs::set_permissions(&hidden, std::fs::Permissions::from_mode(0o000)).unwrap();
    let r = ToolRun::check(testkit::as_nobody(&mut verify_cmd(dir.path(), &[])));
    std::fs::set_permissions(&hidden, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert_eq!(r.code, 1, "{:#?}", r.events);
    assert_eq!(r.named("verify.passed").len(), 1, "{:#?}", r.events);
    assert!(r
        .named("verify.finding")
        .iter()
        .any(|e| e["kind"] == "unreadable" && e["database"] == b.as_str()));

    // Now the directory is readable but the dump is not.
    let set = testkit::fake::only_set(dir.path(), &b);
    let dump = std::fs::read_dir(&set)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().contains(".dump"))
        .unwrap();
    std::fs::set_permissions(&dump, std::fs::Permissions::from_mode(0o000)).unwrap();
    let r = ToolRun::check(testkit::as_nobody(&mut verify_cmd(
        dir.path(),
        &["-d", &b, "--no-record"],
    )));
    assert_eq!(r.code, 1);
    let failed = r.named("verify.failed");
    assert_eq!(failed.len(), 1, "{:#?}", r.events);
    assert_eq!(failed[0]["verdict"], "unverifiable");
    assert_eq!(failed[0]["failed"], serde_json::json!([]));
}

/// A catalog owned by the units' user (here `nobody`) and touched once by root: everything
/// root made takes the catalog's owner, so the next run as that user still locks, reads
/// and records. A path it may not use is an error naming owner, mode and the fix.
#[test]
fn a_root_run_leaves_the_catalog_usable_by_its_owner_and_permission_errors_say_why() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if !testkit::is_root() {
        return;
    }
    let c = Cluster::shared();
    let db = c.unique_db("owned");
    let top = tempfile::tempdir().unwrap();
    std::fs::set_permissions(top.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let root = top.path().join("catalog");
    std::fs::create_dir(&root).unwrap();
    std::os::unix::fs::chown(&root, Some(testkit::NOBODY), Some(testkit::NOBODY)).unwrap();
    backup(c, &db, &root); // as root
    let r = verify(&root, &[]); // as root too: writes verify.json
    assert_eq!(r.code, 0, "{:#?}", r.events);
    for p in testkit::walk(&root) {
        let m = std::fs::symlink_metadata(&p).unwrap();
        assert_eq!(
            (m.uid(), m.gid()),
            (testkit::NOBODY, testkit::NOBODY),
            "{}",
            p.display()
        );
    }
    let as_owner = || {
        let mut cmd = verify_cmd(&root, &[]);
        ToolRun::check(testkit::as_nobody(&mut cmd))
    };
    let r = as_owner();
    assert_eq!(r.code, 0, "{:#?}", r.events);

    // What an older root run left: a lock only root may open.
    let lock = root.join(".lock");
    std::os::unix::fs::chown(&lock, Some(0), Some(0)).unwrap();
    let r = as_owner();
    assert_eq!(r.code, 3);
    assert_eq!(r.error_code("run.failed"), "permission_denied");
    let message = r.named("run.failed")[0]["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    for want in [".lock", "owned by root", "mode 0600", "chown -R"] {
        assert!(message.contains(want), "{want}: {message}");
    }
}

/// A dropped database stays stale for ever unless it can be retired: `backup-rotate
/// --retire` stops freshness judging it (reported as a finding), a set newer than the
/// retirement judges it again, and `--unretire` undoes it.
#[test]
fn a_retired_database_is_not_stale_until_it_is_backed_up_again() {
    let c = Cluster::shared();
    let db = c.unique_db("retired");
    let dir = tempfile::tempdir().unwrap();
    backup(c, &db, dir.path());
    rename_only_set(dir.path(), &db, "20261121T030000Z");
    let stale_args = ["--max-age", "26h"];
    assert_eq!(verify(dir.path(), &stale_args).code, 1, "stale before");

    let rotate = |args: &[&str]| {
        ToolRun::check(
            c.tool("backup-rotate")
                .arg("--backup-dir")
                .arg(dir.path())
                .args(args)
                .output()
                .unwrap(),
        )
    };
    let r = rotate(&["--retire", "nosuchdb"]);
    assert_eq!(r.code, 2, "a typo retires nothing");
    assert_eq!(r.error_code("run.failed"), "database_not_in_catalog");
    assert!(!dir.path().join("nosuchdb").exists());

    let r = rotate(&["--retire", &db, "--reason", "dropped in CHG-42"]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let retired = r.named("rotate.retired")[0];
    assert_eq!(retired["newest_set"], "20261121T030000Z");
    assert_eq!(retired["reason"], "dropped in CHG-42");
    let marker = dir
        .path()
        .join(ops_catalog::catalog::encode_db_dir(&db))
        .join("RETIRED");
    assert!(marker.is_file());

    let r = verify(dir.path(), &stale_args);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    assert!(r.named("verify.stale").is_empty());
    let finding: Vec<_> = r
        .named("verify.finding")
        .into_iter()
        .filter(|e| e["kind"] == "retired")
        .collect();
    assert_eq!(finding.len(), 1);
    assert!(finding[0]["message"].as_str().unwrap().contains("CHG-42"));

    // Retired before the set was taken: the database came back, it is judged again.
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&marker).unwrap()).unwrap();
    record["retired_at"] = "2026-11-20T00:00:00Z".into();
    std::fs::write(&marker, record.to_string()).unwrap();
    assert_eq!(
        verify(dir.path(), &stale_args).code,
        1,
        "a newer set ends it"
    );

    let r = rotate(&["--unretire", &db]);
    assert_eq!(r.code, 0);
    assert_eq!(r.named("rotate.unretired")[0]["was_retired"], true);
    assert!(!marker.exists());
    assert_eq!(verify(dir.path(), &stale_args).code, 1);
}
