//! Helpers shared by pgdump-run's integration tests: run the real binary against a real
//! cluster, validate every stdout line against the schemas, and check for the sentinel.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use testkit::Cluster;

pub use testkit::ToolRun as Run;

/// pgdump-run's view of a run: its sets and failures.
pub trait BackupRun {
    fn completed_for(&self, db: &str) -> &Value;
    fn failure_code(&self) -> &str;
    fn failure(&self) -> &Value;
}

impl BackupRun for Run {
    fn completed_for(&self, db: &str) -> &Value {
        self.events
            .iter()
            .find(|e| e["event"] == "backup.completed" && e["database"] == db)
            .unwrap_or_else(|| {
                panic!(
                    "no backup.completed for {db:?}: {:#?}\n{}",
                    self.events, self.stderr
                )
            })
    }

    /// The first failure: a set's (backup.failed), else the run's (run.failed).
    fn failure(&self) -> &Value {
        self.named("backup.failed")
            .into_iter()
            .chain(self.named("run.failed"))
            .next()
            .unwrap_or_else(|| panic!("no failure: {:#?}", self.events))
    }

    /// The first failure's code: a set's (backup.failed), else the run's (run.failed).
    fn failure_code(&self) -> &str {
        if self.named("backup.failed").is_empty() {
            self.error_code("run.failed")
        } else {
            self.error_code("backup.failed")
        }
    }
}

/// The pgdump-run binary, pointed at `cluster`.
pub fn command(cluster: &Cluster) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pgdump-run"));
    cluster.configure_tool(&mut cmd);
    cmd
}

pub fn check(out: Output) -> Run {
    Run::check(out)
}

pub fn run(cluster: &Cluster, args: &[&str]) -> Run {
    let out = command(cluster)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("pgdump-run runs");
    check(out)
}

/// Backs up `db` alone in `format` with `compress` into a new catalog; the run must succeed.
/// Returns the catalog and the set's `backup.completed`.
pub fn backup_as(
    cluster: &Cluster,
    db: &str,
    format: &str,
    compress: &str,
) -> (tempfile::TempDir, Value) {
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        cluster,
        &[
            "-d",
            db,
            "--backup-dir",
            dir.path().to_str().unwrap(),
            "--no-globals",
            "--format",
            format,
            "--compress",
            compress,
        ],
    );
    assert_eq!(r.code, 0, "{format}/{compress}: {}", r.stderr);
    let done = r.completed_for(db).clone();
    (dir, done)
}

pub fn spawn(cluster: &Cluster, args: &[&str]) -> Child {
    command(cluster)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pgdump-run starts")
}

pub fn manifest(set_path: &str) -> Value {
    testkit::schema::validate_manifest(&Path::new(set_path).join("manifest.json"))
}

/// `(schema, name) -> rows` from a manifest.
pub fn manifest_rows(m: &Value) -> std::collections::BTreeMap<(String, String), u64> {
    m["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                (
                    t["schema"].as_str().unwrap().to_string(),
                    t["name"].as_str().unwrap().to_string(),
                ),
                t["rows"].as_u64().unwrap(),
            )
        })
        .collect()
}

pub fn sha256_file(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

/// Complete sets and partials under a database's directory.
pub fn entries(dir: &Path) -> (Vec<String>, Vec<String>) {
    let mut sets = Vec::new();
    let mut partials = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(".partial-") {
                partials.push(n);
            } else {
                sets.push(n);
            }
        }
    }
    sets.sort();
    (sets, partials)
}

pub fn db_dir(root: &Path, db: &str) -> PathBuf {
    root.join(ops_catalog::catalog::encode_db_dir(db))
}

/// Holds an ACCESS EXCLUSIVE lock on `table` so that pg_dump blocks on it, mid-dump.
pub fn block_dumps_of(cluster: &Cluster, db: &str, table: &str) -> postgres::Client {
    let mut c = cluster.connect(db);
    c.batch_execute(&format!(
        "BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
    ))
    .unwrap();
    c
}

/// Waits until a pg_dump session of `db` is waiting for a lock.
pub fn wait_for_blocked_dump(cluster: &Cluster, db: &str) {
    let mut c = cluster.connect("postgres");
    for _ in 0..600 {
        let n: i64 = c
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'pgops' AND wait_event_type = 'Lock'",
                &[&db],
            )
            .unwrap()
            .get(0);
        if n > 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("pg_dump never blocked on the lock");
}

/// pg_dump processes (found in /proc) that were started for `db`.
pub fn pg_dump_processes(db: &str) -> usize {
    let needle = format!("PGDATABASE={db}\0");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            let p = e.path();
            std::fs::read_to_string(p.join("comm")).is_ok_and(|c| c.trim() == "pg_dump")
                && std::fs::read(p.join("environ"))
                    .is_ok_and(|env| env.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .count()
}

/// Waits until no pg_dump process of `db` is left.
pub fn wait_no_pg_dump(db: &str) {
    for _ in 0..100 {
        if pg_dump_processes(db) == 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("a pg_dump process of {db} outlived its run");
}
