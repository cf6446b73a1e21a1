//! Reliability by causing the fault: kill -9, a full disk, the server stopped mid-dump,
//! timeouts, signals, wrong credentials, missing or old pg_dump, concurrent runs.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use testkit::Cluster;

fn first_set(root: &Path, db: &str) -> (String, String) {
    let (sets, _) = entries(&db_dir(root, db));
    let set = db_dir(root, db).join(&sets[0]);
    let m = manifest(set.to_str().unwrap());
    let file = set.join(m["files"][0]["name"].as_str().unwrap());
    (sets[0].clone(), sha256_file(&file))
}

fn assert_untouched(root: &Path, db: &str, before: &(String, String)) {
    let (sets, _) = entries(&db_dir(root, db));
    assert!(sets.contains(&before.0), "the earlier set is still there");
    let set = db_dir(root, db).join(&before.0);
    let m = manifest(set.to_str().unwrap());
    assert_eq!(
        sha256_file(&set.join(m["files"][0]["name"].as_str().unwrap())),
        before.1
    );
}

#[test]
fn kill_9_mid_dump_leaves_no_set_and_the_next_run_cleans_up() {
    kill_9_mid_dump(&[]);
}

/// The same in the directory format: killed while pg_dump's workers write and tables are
/// being packed (ADR 0027).
#[test]
fn kill_9_mid_directory_dump_leaves_no_set_and_the_next_run_cleans_up() {
    kill_9_mid_dump(&["--format", "directory", "--jobs", "2"]);
}

fn kill_9_mid_dump(format: &[&str]) {
    let c = Cluster::shared();
    let db = c.unique_db("kill9");
    c.load_mixed(&db, "0.05");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut base = vec![
        "-d",
        &db,
        "--backup-dir",
        root.to_str().unwrap(),
        "--no-globals",
    ];
    base.extend(format);
    assert_eq!(run(c, &base).code, 0);
    let before = first_set(root, &db);

    // gzip:9 slows the pipeline so that the kill lands while bytes are being written.
    let mut args = base.to_vec();
    args.extend(["--compress", "gzip:9"]);
    let mut child = spawn(c, &args);
    let deadline = Instant::now() + Duration::from_secs(60);
    let partial_file = loop {
        let (_, partials) = entries(&db_dir(root, &db));
        if let Some(p) = partials.first() {
            let pdir = db_dir(root, &db).join(p);
            let size: u64 = std::fs::read_dir(&pdir)
                .map(|rd| {
                    rd.flatten()
                        .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
                        .sum()
                })
                .unwrap_or(0);
            if size > 64 * 1024 {
                break pdir;
            }
        }
        assert!(Instant::now() < deadline, "the dump never started writing");
        std::thread::sleep(Duration::from_millis(5));
    };
    child.kill().unwrap(); // SIGKILL
    let out = child.wait_with_output().unwrap();
    testkit::assert_no_secret("stdout", &out.stdout);
    let (sets, partials) = entries(&db_dir(root, &db));
    assert_eq!(
        sets,
        vec![before.0.clone()],
        "no set appears under a final name"
    );
    assert_eq!(partials.len(), 1, "the partial is left for the next run");
    assert!(partial_file.exists());
    wait_no_pg_dump(&db); // pg_dump died with its parent (PR_SET_PDEATHSIG)

    let r = run(c, &base);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let removed = r.named("backup.partial_removed");
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0]["path"], partial_file.to_str().unwrap());
    assert_eq!(removed[0]["removed"], true);
    let (sets, partials) = entries(&db_dir(root, &db));
    assert!(partials.is_empty());
    assert_eq!(sets.len(), 2);
    assert_untouched(root, &db, &before);
}

/// Mounts a small tmpfs (root only) and unmounts it on drop.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then_some(Tmpfs(dir))
    }
}

impl Tmpfs {
    /// A database of its own (`prefix`) made with `sql`, and the arguments that back it
    /// up alone into a catalog on a tmpfs of `size`; `None` when not root.
    fn catalog_for(size: &str, prefix: &str, sql: &str) -> Option<(Tmpfs, String, PathBuf)> {
        let Some(fs) = Tmpfs::mount(size) else {
            eprintln!("SKIPPED: mounting a tmpfs needs root (CI runs as root)");
            return None;
        };
        let c = Cluster::shared();
        let db = c.unique_db(prefix);
        c.connect(&db).batch_execute(sql).unwrap();
        let root = fs.0.path().join("catalog");
        Some((fs, db, root))
    }
}

/// `-d DB --backup-dir ROOT --no-globals`.
fn alone<'a>(db: &'a str, root: &'a Path) -> [&'a str; 5] {
    [
        "-d",
        db,
        "--backup-dir",
        root.to_str().unwrap(),
        "--no-globals",
    ]
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}

#[test]
fn a_full_disk_fails_cleanly_and_keeps_earlier_sets() {
    a_full_disk(&[]);
}

/// In the directory format, pg_dump's own raw files fill the disk too: whoever hits it
/// first, the run fails as `disk_full` and leaves nothing.
#[test]
fn a_full_disk_mid_directory_dump_fails_cleanly_and_keeps_earlier_sets() {
    a_full_disk(&["--format", "directory", "--jobs", "2"]);
}

fn a_full_disk(format: &[&str]) {
    let Some((_fs, db, root)) =
        Tmpfs::catalog_for("2m", "diskfull", "CREATE TABLE blobs (b bytea)")
    else {
        return;
    };
    let c = Cluster::shared();
    let mut base = alone(&db, &root).to_vec();
    base.extend(format);
    assert_eq!(run(c, &base).code, 0);
    let before = first_set(&root, &db);
    // ~6 MB of incompressible bytes: more than the 2 MB disk can hold even compressed.
    c.connect(&db)
        .batch_execute("INSERT INTO blobs SELECT decode(string_agg(md5(g::text || random()::text), ''), 'hex') FROM generate_series(1, 400000) g")
        .unwrap();
    let r = run(c, &base);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.failure_code(), "disk_full");
    assert_eq!(r.failure()["error"]["category"], "io");
    let (sets, partials) = entries(&db_dir(&root, &db));
    assert!(partials.is_empty(), "the partial was removed");
    assert_eq!(sets.len(), 1);
    assert_untouched(&root, &db, &before);
    wait_no_pg_dump(&db);
}

/// A night that will not fit is said before it starts (`backup.space_low`, with the sizes),
/// from the newest set's size; a night that fits says nothing.
#[test]
fn a_night_that_will_not_fit_is_warned_of_before_it_starts() {
    // ~1.2 MB of incompressible bytes: the set takes about that much.
    let blobs = "CREATE TABLE blobs AS SELECT decode(md5(g::text || random()::text), 'hex') AS b FROM generate_series(1, 75000) g";
    let Some((fs, db, root)) = Tmpfs::catalog_for("4m", "spacelow", blobs) else {
        return;
    };
    let c = Cluster::shared();
    let base = alone(&db, &root);
    let r = run(c, &base);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.named("backup.space_low").is_empty(),
        "the first night has nothing to go by"
    );
    let r = run(c, &base);
    assert_eq!(r.code, 0);
    assert!(
        r.named("backup.space_low").is_empty(),
        "a night that fits says nothing"
    );
    // Something else fills the file system: the next set cannot fit.
    let free = ops_core::disk::space(&root).unwrap().avail_bytes;
    std::fs::write(
        fs.0.path().join("filler"),
        vec![7u8; (free - 300_000) as usize],
    )
    .unwrap();
    let r = run(c, &base);
    let low = r.named("backup.space_low");
    assert_eq!(low.len(), 1, "{:#?}", r.events);
    let needed = low[0]["needed_bytes"].as_u64().unwrap();
    assert!(
        needed > 1_000_000 && low[0]["available_bytes"].as_u64().unwrap() < needed,
        "{:#}",
        low[0]
    );
    let first = |name: &str| r.events.iter().position(|e| e["event"] == name).unwrap();
    assert!(
        first("backup.space_low") < first("backup.started"),
        "said before it starts"
    );
    assert_eq!(r.failure_code(), "disk_full", "and then it did not fit");
    wait_no_pg_dump(&db);
}

#[test]
fn server_stopped_mid_dump_is_a_pg_dump_failure() {
    let c = Cluster::start();
    c.create_db("victim");
    c.connect("victim")
        .batch_execute("CREATE TABLE t AS SELECT generate_series(1, 1000) i")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let _lock = block_dumps_of(&c, "victim", "t");
    let child = spawn(
        &c,
        &[
            "-d",
            "victim",
            "--backup-dir",
            root.to_str().unwrap(),
            "--no-globals",
        ],
    );
    wait_for_blocked_dump(&c, "victim");
    c.stop_server();
    let r = check(child.wait_with_output().unwrap());
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.failure_code(), "pg_dump_failed");
    let failed = r.failure();
    assert!(
        failed["stderr"].as_str().unwrap().contains("pg_dump"),
        "{failed}"
    );
    let (sets, partials) = entries(&db_dir(root, "victim"));
    assert!(
        sets.is_empty() && partials.is_empty(),
        "{sets:?} {partials:?}"
    );
}

/// A database whose table `t` is locked, so that pg_dump blocks mid-dump until the returned
/// client goes away: `(database, catalog, lock holder)`.
fn db_whose_dump_blocks(
    c: &Cluster,
    prefix: &str,
) -> (String, tempfile::TempDir, postgres::Client) {
    let db = c.unique_db(prefix);
    c.connect(&db)
        .batch_execute("CREATE TABLE t (i int)")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lock = block_dumps_of(c, &db, "t");
    (db, dir, lock)
}

/// A run stopped by `code`: exit 3, no set, no partial, no pg_dump left.
fn assert_stopped_cleanly(r: &Run, code: &str, root: &Path, db: &str) {
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(r.failure_code(), code);
    let (sets, partials) = entries(&db_dir(root, db));
    assert!(sets.is_empty() && partials.is_empty());
    wait_no_pg_dump(db);
}

#[test]
fn timeout_kills_pg_dump_and_removes_the_partial() {
    let c = Cluster::shared();
    let (db, dir, lock) = db_whose_dump_blocks(c, "timeout");
    let started = Instant::now();
    let r = run(
        c,
        &[
            "-d",
            &db,
            "--backup-dir",
            dir.path().to_str().unwrap(),
            "--no-globals",
            "--timeout",
            "1500ms",
        ],
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_stopped_cleanly(&r, "timeout", dir.path(), &db);
    drop(lock);
}

#[test]
fn sigterm_kills_pg_dump_and_removes_the_partial() {
    let c = Cluster::shared();
    let (db, dir, lock) = db_whose_dump_blocks(c, "sigterm");
    let child = spawn(
        c,
        &[
            "-d",
            &db,
            "--backup-dir",
            dir.path().to_str().unwrap(),
            "--no-globals",
        ],
    );
    wait_for_blocked_dump(c, &db);
    // SAFETY: kill only sends a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let r = check(child.wait_with_output().unwrap());
    assert_stopped_cleanly(&r, "interrupted", dir.path(), &db);
    drop(lock);
}

#[test]
fn concurrent_runs_on_one_catalog_never_write_at_once() {
    let c = Cluster::shared();
    let db = c.unique_db("concurrent");
    c.connect(&db)
        .batch_execute("CREATE TABLE t AS SELECT 1 AS i")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let mut lock = block_dumps_of(c, &db, "t");
    let first = spawn(c, &["-d", &db, "--backup-dir", root, "--no-globals"]);
    wait_for_blocked_dump(c, &db);
    let started = Instant::now();
    let second = run(
        c,
        &[
            "-d",
            &db,
            "--backup-dir",
            root,
            "--no-globals",
            "--lock-timeout",
            "1s",
        ],
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "the second run waited"
    );
    assert_eq!(second.code, 3, "{}", second.stderr);
    assert_eq!(second.failure_code(), "lock_busy");
    lock.batch_execute("COMMIT").unwrap();
    let first = check(first.wait_with_output().unwrap());
    assert_eq!(first.code, 0, "{}", first.stderr);
    let (sets, partials) = entries(&db_dir(dir.path(), &db));
    assert_eq!(sets.len(), 1);
    assert!(partials.is_empty());
}

#[test]
fn a_wrong_password_is_auth_failed_and_never_echoed() {
    let c = Cluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let wrong = "Wrong-pw-sentinel-4411";
    let out = command(c)
        .env("PGPASSWORD", wrong)
        .args([
            "-d",
            "postgres",
            "--backup-dir",
            dir.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    for (label, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert!(
            !String::from_utf8_lossy(bytes).contains(wrong),
            "wrong password in {label}"
        );
    }
    let r = check(out);
    assert_eq!(r.code, 3);
    assert_eq!(r.failure_code(), "auth_failed");
    assert_eq!(r.failure()["error"]["category"], "authz");
}

#[test]
fn an_unreachable_server_is_connect_failed() {
    let c = Cluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        c,
        &[
            "-h",
            "/nonexistent-socket-dir",
            "-d",
            "postgres",
            "--backup-dir",
            dir.path().to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 3);
    assert_eq!(r.failure_code(), "connect_failed");
}

#[test]
fn a_missing_pg_dump_is_reported() {
    let c = Cluster::shared();
    let empty = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        c,
        &[
            "-d",
            "postgres",
            "--backup-dir",
            dir.path().to_str().unwrap(),
            "--pg-bin-dir",
            empty.path().to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 3);
    assert_eq!(r.failure_code(), "pg_dump_missing");
    assert!(r.failure()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("--pg-bin-dir"));
}

#[test]
fn a_pg_dump_older_than_the_server_is_refused_before_dumping() {
    let c = Cluster::shared();
    // Only one PostgreSQL major is installed here, so an older pg_dump is played by a
    // program that reports version 11 and records whether it was ever asked to dump.
    let bin = tempfile::tempdir().unwrap();
    let marker = bin.path().join("dumped");
    for name in ["pg_dump", "pg_dumpall"] {
        let p = bin.path().join(name);
        std::fs::write(
            &p,
            format!(
                "#!/bin/sh\nif [ \"$1\" = --version ]; then echo '{name} (PostgreSQL) 11.22'; exit 0; fi\ntouch '{}'; exit 1\n",
                marker.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("catalog");
    let r = run(
        c,
        &[
            "-d",
            "postgres",
            "--backup-dir",
            root.to_str().unwrap(),
            "--pg-bin-dir",
            bin.path().to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(r.failure_code(), "version_mismatch");
    assert_eq!(r.failure()["error"]["category"], "validation");
    assert!(!marker.exists(), "no dump was attempted");
    assert!(!root.exists(), "nothing was written");
}

#[test]
fn one_failing_database_does_not_stop_the_others() {
    let c = Cluster::shared();
    let good = c.unique_db("good");
    let dir = tempfile::tempdir().unwrap();
    let missing = format!("missing_{}", std::process::id());
    let r = run(
        c,
        &[
            "-d",
            &good,
            "-d",
            &missing,
            "--backup-dir",
            dir.path().to_str().unwrap(),
            "--no-globals",
        ],
    );
    assert_eq!(r.code, 1);
    r.completed_for(&good);
    let failed = r.named("backup.failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["database"], missing.as_str());
    assert_eq!(failed[0]["error"]["code"], "pg_dump_failed");
    assert_eq!(r.finished()["result"], "failed");
    assert!(!db_dir(dir.path(), &missing).join("x").exists());
}
