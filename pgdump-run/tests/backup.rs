//! pgdump-run against a real server: what it writes is complete, exact and private.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use testkit::Cluster;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn mixed_db_rows_hashes_and_permissions_match() {
    let c = Cluster::shared();
    let db = c.unique_db("mixed");
    c.load_mixed(&db, "0.01");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("backups");
    let r = run(
        c,
        &[
            "-d",
            &db,
            "--backup-dir",
            root.to_str().unwrap(),
            "--no-globals",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let done = r.completed_for(&db);
    let m = manifest(done["path"].as_str().unwrap());
    assert_eq!(
        manifest_rows(&m),
        c.row_counts(&db),
        "every table's count(*) equals the manifest"
    );
    assert_eq!(
        done["rows"].as_u64().unwrap(),
        c.row_counts(&db).values().sum::<u64>()
    );
    assert!(done["rows"].as_u64().unwrap() > 20_000);
    let set = Path::new(done["path"].as_str().unwrap());
    let file = set.join(done["file"].as_str().unwrap());
    assert!(file.to_str().unwrap().ends_with(".dump.zst"));
    assert_eq!(sha256_file(&file), m["files"][0]["sha256"]);
    assert_eq!(
        std::fs::metadata(&file).unwrap().len(),
        m["files"][0]["bytes"]
    );
    assert_eq!(m["database"], db.as_str());
    assert_eq!(m["correlation_id"], r.finished()["correlation_id"]);
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(&set.join("manifest.json")), 0o600);
    assert_eq!(mode(set), 0o700);
    assert_eq!(mode(set.parent().unwrap()), 0o700);
    let raw = std::process::Command::new("zstd")
        .args(["-dc"])
        .arg(&file)
        .output()
        .unwrap()
        .stdout;
    assert_eq!(
        raw.len() as u64,
        m["files"][0]["raw_bytes"].as_u64().unwrap()
    );
    testkit::assert_no_secret_in_tree(&root);
    assert!(m["database_size"].as_u64().unwrap() > 0);
}

#[test]
fn tricky_schema_in_every_format_and_compression() {
    let c = Cluster::shared();
    let db = c.unique_db("tricky");
    c.load_tricky(&db);
    let expected = c.row_counts(&db);
    for (format, compress, suffix) in [
        ("custom", "zstd:3", ".dump.zst"),
        ("custom", "gzip", ".dump.gz"),
        ("custom", "none", ".dump"),
        ("plain", "zstd", ".sql.zst"),
        ("plain", "gzip:1", ".sql.gz"),
        ("directory", "zstd", "toc.dat.zst"),
        ("directory", "gzip", "toc.dat.gz"),
        ("directory", "none", "toc.dat"),
    ] {
        let (_dir, done) = backup_as(c, &db, format, compress);
        assert!(done["file"].as_str().unwrap().ends_with(suffix), "{done}");
        let m = manifest(done["path"].as_str().unwrap());
        assert_eq!(manifest_rows(&m), expected, "{format}/{compress}");
        assert_eq!(m["large_objects"], 3, "{format}/{compress}");
        assert_eq!(m["format"], format);
        // The set holds what its manifest lists and nothing else: no raw file of pg_dump's
        // left beside a packed one, each private.
        let set = Path::new(done["path"].as_str().unwrap());
        let mut on_disk: Vec<String> = std::fs::read_dir(set)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != "manifest.json")
            .collect();
        on_disk.sort();
        let mut listed: Vec<String> = m["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(listed[0], done["file"].as_str().unwrap());
        listed.sort();
        assert_eq!(on_disk, listed, "{format}/{compress}");
        for f in &on_disk {
            assert_eq!(mode(&set.join(f)), 0o600, "{format}/{compress}: {f}");
        }
    }
}

/// `--format auto`: the directory format for a database at least `--directory-from` big
/// when `--jobs` allows two streams; the plan says which, before anything is written.
#[test]
fn auto_chooses_the_directory_format_by_size_and_jobs() {
    let c = Cluster::shared();
    let db = c.unique_db("auto");
    c.load_tricky(&db);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let planned = |extra: &[&str]| {
        let mut args = vec!["-d", &db, "--backup-dir", root, "--no-globals", "--dry-run"];
        args.extend(["--format", "auto"]);
        args.extend(extra);
        let r = run(c, &args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.named("backup.planned")[0]["format"].clone()
    };
    assert_eq!(
        planned(&["--jobs", "2", "--directory-from", "1kB"]),
        "directory"
    );
    assert_eq!(
        planned(&["--jobs", "1", "--directory-from", "1kB"]),
        "custom"
    );
    assert_eq!(
        planned(&["--jobs", "2", "--directory-from", "1TiB"]),
        "custom"
    );
    assert_eq!(planned(&["--jobs", "2"]), "custom", "1GiB by default");
    // The same choice from the environment (the systemd env file, the ConfigMap); a flag
    // given wins over it.
    let from_env = |format: &str, flags: &[&str]| {
        let out = command(c)
            .args(["-d", &db, "--backup-dir", root, "--no-globals", "--dry-run"])
            .args(flags)
            .env("PGOPS_FORMAT", format)
            .env("PGOPS_DIRECTORY_FROM", "1kB")
            .env("PGOPS_JOBS", "2")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let r = check(out);
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.named("backup.planned")[0]["format"].clone()
    };
    assert_eq!(from_env("auto", &[]), "directory");
    assert_eq!(from_env("custom", &[]), "custom");
    assert_eq!(from_env("auto", &["--jobs", "1"]), "custom");
    assert_eq!(from_env("auto", &["--format", "custom"]), "custom");
    let r = run(
        c,
        &[
            "-d",
            &db,
            "--backup-dir",
            root,
            "--no-globals",
            "--format",
            "auto",
            "--jobs",
            "2",
            "--directory-from",
            "1kB",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.completed_for(&db)["format"], "directory");
    let bad = run(
        c,
        &["-d", &db, "--backup-dir", root, "--directory-from", "lots"],
    );
    assert_eq!(bad.code, 2);
}

#[test]
fn hostile_database_names_get_safe_distinct_directories() {
    let c = Cluster::shared();
    let tag = std::process::id();
    let names: Vec<String> = vec![
        format!("plain{tag}"),
        format!("with space {tag}"),
        format!("quote'\"s {tag}"),
        format!("slash/../..{tag}"),
        format!("..{tag}"),
        format!("new\nline{tag}"),
        format!("ünïcødé 数据 {tag}"),
        format!("_globals{tag}"),
        format!(".hidden{tag}"),
        format!("a=b {tag}"),
        format!("{tag}{}", "x".repeat(63 - tag.to_string().len())),
    ];
    assert_eq!(names.last().unwrap().len(), 63);
    for (i, n) in names.iter().enumerate() {
        c.create_db(n);
        let mut client = c.connect(n);
        client.batch_execute("CREATE TABLE marker (i int)").unwrap();
        client
            .execute(
                "INSERT INTO marker SELECT generate_series(1, $1)",
                &[&(i as i32 + 1)],
            )
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "--backup-dir",
        dir.path().to_str().unwrap(),
        "--no-globals",
        "--jobs",
        "3",
    ];
    for n in &names {
        args.push("-d");
        args.push(n);
    }
    let r = run(c, &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut dirs = std::collections::HashSet::new();
    for (i, n) in names.iter().enumerate() {
        let done = r.completed_for(n);
        let set = Path::new(done["path"].as_str().unwrap());
        let db_dir = set.parent().unwrap();
        assert_eq!(
            db_dir.parent().unwrap(),
            dir.path(),
            "{n:?} stays directly under the catalog"
        );
        let dir_name = db_dir.file_name().unwrap().to_str().unwrap();
        assert!(
            !dir_name.starts_with('.') && !dir_name.starts_with('_'),
            "{dir_name}"
        );
        assert!(
            dirs.insert(dir_name.to_string()),
            "distinct directory for {n:?}"
        );
        let m = manifest(set.to_str().unwrap());
        assert_eq!(m["database"], n.as_str());
        assert_eq!(
            m["tables"][0]["rows"],
            i as u64 + 1,
            "{n:?} got its own data"
        );
        c.drop_db(n);
    }
}

#[test]
fn all_databases_with_globals_and_exclusions() {
    let c = Cluster::start();
    for db in ["app", "analytics", "scratch_1", "scratch_2"] {
        c.create_db(db);
    }
    c.connect("app")
        .batch_execute("CREATE TABLE t AS SELECT generate_series(1, 10) i")
        .unwrap();
    c.connect("postgres")
        .batch_execute("CREATE ROLE reader LOGIN PASSWORD 'Sentinel-pw-9f2c7e41-reader'; CREATE ROLE app_owner NOLOGIN")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let r = run(
        &c,
        &[
            "--all",
            "--exclude-database",
            "scratch_*",
            "--backup-dir",
            root.to_str().unwrap(),
            "--jobs",
            "2",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut dbs: Vec<String> = r
        .named("backup.completed")
        .iter()
        .filter(|e| e["kind"] == "database")
        .map(|e| e["database"].as_str().unwrap().to_string())
        .collect();
    dbs.sort();
    assert_eq!(
        dbs,
        ["analytics", "app", "postgres"],
        "templates and excluded databases are skipped"
    );
    let g = r
        .named("backup.completed")
        .into_iter()
        .find(|e| e["kind"] == "globals")
        .expect("globals set");
    assert_eq!(
        g["database"], "_globals",
        "the same label as every other tool"
    );
    let m = manifest(g["path"].as_str().unwrap());
    assert_eq!(m["kind"], "globals");
    let sql = std::process::Command::new("zstd")
        .arg("-dc")
        .arg(Path::new(g["path"].as_str().unwrap()).join(g["file"].as_str().unwrap()))
        .output()
        .unwrap()
        .stdout;
    let sql = String::from_utf8_lossy(&sql);
    assert!(sql.contains("CREATE ROLE reader") && sql.contains("CREATE ROLE app_owner"));
    // Next to the roles, what a rebuilt server needs: its settings and its pg_hba.conf
    // and pg_ident.conf, each recorded in the manifest.
    let unzstd = |name: &str| {
        let out = std::process::Command::new("zstd")
            .arg("-dc")
            .arg(Path::new(g["path"].as_str().unwrap()).join(name))
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}");
        String::from_utf8(out.stdout).unwrap()
    };
    let names: Vec<&str> = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names[1..],
        [
            "server-settings.sql.zst",
            "pg_hba.conf.zst",
            "pg_ident.conf.zst"
        ]
    );
    let settings = unzstd("server-settings.sql.zst");
    // The test cluster is started with settings on its command line (the socket dir).
    assert!(
        settings.contains("ALTER SYSTEM SET unix_socket_directories = "),
        "{settings}"
    );
    let hba = unzstd("pg_hba.conf.zst");
    assert!(
        hba.lines()
            .any(|l| l.starts_with("local") || l.starts_with("host")),
        "{hba}"
    );
    assert!(!root.join("template0").exists() && !root.join("scratch_1").exists());
    assert_eq!(r.finished()["sets_completed"], 4);
}

#[test]
fn globals_fall_back_to_no_role_passwords_for_unprivileged_users() {
    let c = Cluster::shared();
    let db = c.unique_db("unpriv");
    let role = format!("backup_{}", std::process::id());
    c.connect("postgres")
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN PASSWORD '{}'",
            testkit::SENTINEL_PASSWORD
        ))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = command(c)
        .env("PGUSER", &role)
        .args(["-d", &db, "--backup-dir", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    let r = check(out);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let g = r
        .named("backup.completed")
        .into_iter()
        .find(|e| e["kind"] == "globals")
        .expect("globals set");
    assert_eq!(g["role_passwords"], false);
    assert_eq!(g["severity"], "warning");
    assert!(g["notes"][0]
        .as_str()
        .unwrap()
        .contains("--no-role-passwords"));
}

#[test]
fn invalid_invocations_exit_2_with_an_event_and_touch_nothing() {
    let c = Cluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("never-created");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["-d", "x"], "backup_dir_missing"),
        (
            vec!["-d", "x", "--backup-dir", "s3://bucket/x"],
            "invalid_location",
        ),
        (vec!["--backup-dir", root.to_str().unwrap()], "no_database"),
        (
            vec![
                "-d",
                "x",
                "--backup-dir",
                root.to_str().unwrap(),
                "--compress",
                "lz4",
            ],
            "invalid_argument",
        ),
        (
            vec![
                "-d",
                "x",
                "--backup-dir",
                root.to_str().unwrap(),
                "--timeout",
                "soon",
            ],
            "invalid_argument",
        ),
        (
            vec![
                "-d",
                "dbname=x bogus=1",
                "--backup-dir",
                root.to_str().unwrap(),
            ],
            "invalid_connection",
        ),
    ];
    for (args, code) in cases {
        let r = run(c, &args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert_eq!(r.failure_code(), code, "{args:?}");
        assert_eq!(r.finished()["result"], "error");
    }
    assert!(!root.exists(), "an invalid invocation creates nothing");
}

/// A mistyped `-d nosuchdb` once left an empty `nosuchdb/` in the catalog, which made every
/// later freshness check fail for a database that never existed. A database that was not
/// backed up gets nothing in the catalog; a directory that held sets stays.
#[test]
fn a_database_that_was_not_backed_up_leaves_nothing_in_the_catalog() {
    let c = Cluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let r = run(
        c,
        &["-d", "nosuchdb_typo", "--no-globals", "--backup-dir", root],
    );
    assert_ne!(r.code, 0, "{:#?}", r.events);
    assert!(
        !dir.path().join("nosuchdb_typo").exists(),
        "an empty directory for a database that was never backed up"
    );
    // A database whose first dump fails half-way (a table the role may not read): the
    // partial set is removed, and so is the directory made for it.
    let locked = c.unique_db("first_fails");
    let role = format!("nodir_{}", std::process::id());
    c.connect("postgres")
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN PASSWORD '{}'",
            testkit::SENTINEL_PASSWORD
        ))
        .unwrap();
    c.connect(&locked)
        .batch_execute("CREATE TABLE secret (x int); REVOKE ALL ON secret FROM PUBLIC")
        .unwrap();
    let out = command(c)
        .env("PGUSER", &role)
        .args(["-d", &locked, "--no-globals", "--backup-dir", root])
        .output()
        .unwrap();
    let r = check(out);
    assert_eq!(r.failure_code(), "pg_dump_failed", "{:#?}", r.events);
    assert!(
        !dir.path().join(&locked).exists(),
        "the directory made for a first backup that failed is left behind"
    );
    // A database with sets keeps its directory when a later backup of it fails.
    let db = c.unique_db("keeps_dir");
    assert_eq!(
        run(c, &["-d", &db, "--no-globals", "--backup-dir", root]).code,
        0
    );
    let port = testkit::free_port().to_string();
    let r = run(
        c,
        &["-d", &db, "--no-globals", "--backup-dir", root, "-p", &port],
    );
    assert_ne!(r.code, 0);
    assert_eq!(std::fs::read_dir(dir.path().join(&db)).unwrap().count(), 1);
}

/// `--dry-run` connects and says what it would take, with sizes; it writes nothing, not
/// even the catalog directory.
#[test]
fn a_dry_run_plans_every_set_and_writes_nothing() {
    let c = Cluster::shared();
    let db = c.unique_db("dry");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("catalog");
    let r = run(
        c,
        &[
            "-d",
            &db,
            "--backup-dir",
            root.to_str().unwrap(),
            "--dry-run",
        ],
    );
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let planned = r.named("backup.planned");
    assert_eq!(planned.len(), 2, "the globals and the database");
    let d = planned
        .iter()
        .find(|p| p["database"] == db.as_str())
        .unwrap();
    assert!(d["bytes"].as_u64().unwrap() > 0);
    assert!(d["path"]
        .as_str()
        .unwrap()
        .starts_with(root.to_str().unwrap()));
    assert_eq!(r.finished()["sets_planned"], 2);
    assert_eq!(r.finished()["dry_run"], true);
    assert!(r.named("backup.completed").is_empty());
    assert!(!root.exists(), "a dry run created the catalog");
}

/// A mistyped --backup-dir must not quietly start a second catalog: the first run into a
/// new directory says so (a warning), later runs do not.
#[test]
fn a_new_catalog_is_announced_once() {
    let c = Cluster::shared();
    let db = c.unique_db("new_catalog");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("fresh");
    let args = [
        "-d",
        db.as_str(),
        "--no-globals",
        "--backup-dir",
        root.to_str().unwrap(),
    ];
    let r = run(c, &args);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let created = r.named("catalog.created");
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["severity"], "warning");
    assert!(created[0]["message"]
        .as_str()
        .unwrap()
        .contains("--backup-dir"));
    assert!(run(c, &args).named("catalog.created").is_empty());
}

/// Only a newer major's pg_dump for this server (issue #22 §5): the backup is taken, warns
/// that only that major or newer restores it, and says so in its manifest; ops-status
/// health names it. The pipeline matrix installs 16–18 beside the 15 server tests run on.
#[test]
fn a_pg_dump_newer_than_the_server_is_said_at_backup_time_and_in_health() {
    let c = Cluster::shared();
    let newer = c
        .dump_clients()
        .into_iter()
        .find(|i| i.major > c.major())
        .expect("a pg_dump of a newer major (scripts/pg-majors.sh, PGOPS_PG_BIN_DIRS)");
    let db = c.unique_db("newer_dump");
    c.connect(&db)
        .batch_execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let bin = newer.dir.display().to_string();
    let r = run(
        c,
        &[
            "-d",
            &db,
            "--backup-dir",
            root,
            "--no-globals",
            "--pg-bin-dir",
            &bin,
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let done = r.completed_for(&db);
    assert_eq!(done["severity"], "warning", "{done}");
    let want = format!("restorable only into PostgreSQL {} or newer", newer.major);
    assert!(done["notes"].to_string().contains(&want), "{done}");
    let m = manifest(done["path"].as_str().unwrap());
    assert!(m["notes"].to_string().contains(&want), "{m}");
    let v = c
        .tool("backup-verify")
        .args(["--backup-dir", root])
        .output()
        .unwrap();
    assert!(v.status.success());
    let out = c
        .tool("ops-status")
        .args(["health", "--json", "--no-offsite", "--backup-dir", root])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let component = doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "restorable_into_own_major")
        .unwrap()
        .clone();
    assert_eq!(component["state"], "not_ready", "{doc:#}");
}

/// The replay state of a standby: `not paused`, `pause requested`, `paused`.
fn replay_state(standby: &Cluster) -> String {
    standby
        .connect("postgres")
        .query_one("SELECT pg_get_wal_replay_pause_state()", &[])
        .unwrap()
        .get(0)
}

/// Waits until the standby holds `db` with the primary's row counts.
fn caught_up(primary: &Cluster, standby: &Cluster, db: &str) {
    let want = primary.row_counts(db);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let there = standby
            .connect("postgres")
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&db])
            .unwrap()
            .is_some();
        if there && standby.row_counts(db) == want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the standby never caught up"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// From a hot standby (issue #27), on a real primary and streaming standby pair: replay is
/// paused for the run and resumed after, the manifest says where the standby stood and
/// the set holds the primary's rows; a run killed while it held replay leaves the standby
/// paused, and the next run resumes it first and says so; `--standby-replay continue`
/// pauses nothing.
#[test]
fn a_standby_is_backed_up_with_replay_paused_for_the_run_and_resumed() {
    let t0 = std::time::Instant::now();
    let at = |what: &str| eprintln!("{:>6.1} s  {what}", t0.elapsed().as_secs_f64());
    let primary = Cluster::start();
    let db = primary.unique_db("standby");
    primary.load_tricky(&db);
    primary.load_mixed(&db, "0.02");
    let standby = primary.standby(&[]);
    caught_up(&primary, &standby, &db);
    at("standby caught up");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let base = ["-d", db.as_str(), "--backup-dir", root, "--no-globals"];

    let r = run(&standby, &base);
    at("backed up");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let m = manifest(r.completed_for(&db)["path"].as_str().unwrap());
    assert_eq!(m["standby"]["replay_paused"], true, "{}", m["standby"]);
    assert!(m["standby"]["replay_lsn"].as_str().unwrap().contains('/'));
    assert_eq!(manifest_rows(&m), primary.row_counts(&db));
    assert_eq!(
        replay_state(&standby),
        "not paused",
        "resumed after the run"
    );
    assert!(!dir.path().join(".standby-replay-paused").exists());
    // Replay goes on: a row written on the primary now reaches the standby.
    primary
        .connect(&db)
        .batch_execute("CREATE TABLE after_the_run (v int); INSERT INTO after_the_run VALUES (1)")
        .unwrap();
    caught_up(&primary, &standby, &db);
    at("replay goes on");

    // Killed while it held replay (gzip:9 keeps the dump going long enough).
    let mut args = base.to_vec();
    args.extend(["--compress", "gzip:9"]);
    let mut child = spawn(&standby, &args);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while replay_state(&standby) != "paused" {
        assert!(std::time::Instant::now() < deadline, "replay never paused");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    at("paused by the run to kill");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        replay_state(&standby),
        "paused",
        "a SIGKILL cannot resume it"
    );
    wait_no_pg_dump(&db);
    at("killed");
    let r = run(&standby, &base);
    at("resumed and backed up");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let resumed = r.named("backup.replay_resumed");
    assert_eq!(resumed.len(), 1, "{}", r.stderr);
    assert!(resumed[0]["pid"].as_i64().unwrap() > 0);
    assert_eq!(replay_state(&standby), "not paused");

    // Replay left running when asked: nothing paused, the manifest says so.
    let r = run(
        &standby,
        &[&base[..], &["--standby-replay", "continue"]].concat(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let m = manifest(r.completed_for(&db)["path"].as_str().unwrap());
    assert_eq!(m["standby"]["replay_paused"], false);
    // A primary's sets say nothing of a standby.
    let p = run(&primary, &base);
    let m = manifest(p.completed_for(&db)["path"].as_str().unwrap());
    assert!(m.get("standby").is_none());
}

/// Least privilege (issue #27): a role that is only a member of `pg_read_all_data` backs up
/// a database it does not own, in both formats, every row, and the globals with their
/// password hashes (the role may read pg_authid). Large objects are outside `pg_read_all_data`: refused by name
/// (`large_object_denied`, with the fix) and nothing left, then taken once granted as the
/// README says.
#[test]
fn a_role_with_only_pg_read_all_data_backs_up_every_row() {
    let c = Cluster::shared();
    let db = c.unique_db("leastpriv");
    c.load_tricky(&db);
    let role = format!("reader_{}", std::process::id());
    c.connect("postgres")
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN PASSWORD '{}' IN ROLE pg_read_all_data",
            testkit::SENTINEL_PASSWORD
        ))
        .unwrap();
    let expected = c.row_counts(&db);
    let backup = |format: &str, root: &Path| {
        let out = command(c)
            .env("PGUSER", &role)
            .args(["-d", &db, "--backup-dir", root.to_str().unwrap()])
            .args(["--format", format, "--jobs", "2"])
            .output()
            .unwrap();
        check(out)
    };
    let dir = tempfile::tempdir().unwrap();
    let r = backup("custom", dir.path());
    assert_eq!(r.code, 1, "{}", r.stderr);
    let failed = &r.named("backup.failed")[0];
    assert_eq!(failed["error"]["code"], "large_object_denied", "{failed}");
    assert!(failed["error"]["message"]
        .as_str()
        .unwrap()
        .contains("GRANT SELECT ON LARGE OBJECT"));
    let (sets, partials) = entries(&db_dir(dir.path(), &db));
    assert!(sets.is_empty() && partials.is_empty());

    // The README's grant, in the database that has large objects.
    let mut owner = c.connect(&db);
    for row in owner
        .query(
            &format!("SELECT format('GRANT SELECT ON LARGE OBJECT %s TO {role}', oid) FROM pg_largeobject_metadata"),
            &[],
        )
        .unwrap()
    {
        owner.batch_execute(row.get::<_, &str>(0)).unwrap();
    }
    for format in ["custom", "directory"] {
        let dir = tempfile::tempdir().unwrap();
        let r = backup(format, dir.path());
        assert_eq!(r.code, 0, "{format}: {}", r.stderr);
        let done = r.completed_for(&db);
        let m = manifest(done["path"].as_str().unwrap());
        assert_eq!(manifest_rows(&m), expected, "{format}");
        assert_eq!(m["large_objects"], 3, "{format}");
        assert_eq!(m["connection"]["user"], role.as_str());
        let g = r
            .named("backup.completed")
            .into_iter()
            .find(|e| e["kind"] == "globals")
            .expect("globals set");
        // pg_read_all_data reads pg_authid too: the roles keep their password hashes.
        assert!(g.get("role_passwords").is_none(), "{format}: {g}");
    }
}
