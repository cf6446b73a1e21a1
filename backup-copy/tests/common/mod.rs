//! What backup-copy's integration tests share: the tool with every key in its
//! environment, signed and verified catalogs, the bucket as a store.

#![allow(dead_code)]

use ops_offsite::backend::{s3::S3Store, PutMode, Store, StoreOptions};
use serde_json::Value;
use std::io::Read;
use std::process::Command;
use testkit::keys::Keys;
use testkit::s3::S3Server;
use testkit::{Cluster, ToolRun};

pub fn copy_cmd(s3: Option<&S3Server>, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_backup-copy"));
    for v in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "PGOPS_FAILPOINT",
    ] {
        cmd.env_remove(v);
    }
    if let Some(s) = s3 {
        cmd.envs(s.env());
    }
    // Every key, as an operator's environment file gives them (made by minisign and
    // age-keygen).
    cmd.envs(Keys::shared().env());
    // Errors come quickly, unless a test gives its own retry budget.
    if !args.contains(&"--retry-timeout") {
        cmd.args(["--retry-timeout", "2s"]);
    }
    cmd.args(args);
    cmd
}

pub fn copy(s3: Option<&S3Server>, args: &[&str]) -> ToolRun {
    ToolRun::check(copy_cmd(s3, args).output().unwrap())
}

/// One set of `db` into the catalog `root`, with `extra` flags; returns its
/// `backup.completed`.
pub fn backup(c: &Cluster, db: &str, root: &str, extra: &[&str]) -> Value {
    let r = ToolRun::check(
        c.tool("pgdump-run")
            .args(["-d", db, "--no-globals", "--backup-dir", root])
            .args(extra)
            .envs(Keys::shared().env())
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.named("backup.completed")[0].clone()
}

/// A catalog with one verified set of a new database; returns (database, catalog).
pub fn verified_catalog(c: &Cluster, prefix: &str) -> (String, tempfile::TempDir) {
    let db = c.unique_db(prefix);
    c.load_mixed(&db, "0.002");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    backup(c, &db, root, &[]);
    let r = ToolRun::check(
        c.tool("backup-verify")
            .args(["--backup-dir", root])
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 0, "{:#?}", r.events);
    (db, dir)
}

pub fn store(s3: &S3Server, prefix: &str) -> S3Store {
    let env = s3.env();
    S3Store::open_with(
        &format!("pgops/{prefix}"),
        &StoreOptions::default(),
        &move |k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
    )
    .unwrap()
}

pub fn read(st: &dyn Store, key: &str) -> Vec<u8> {
    let mut out = Vec::new();
    st.open(key).unwrap().read_to_end(&mut out).unwrap();
    out
}

pub fn put(st: &dyn Store, key: &str, bytes: &[u8]) {
    st.put(key, &mut &bytes[..], None, PutMode::Overwrite)
        .unwrap();
}

pub fn verify_remote(s3: &S3Server, location: &str, extra: &[&str]) -> ToolRun {
    let c = Cluster::shared();
    ToolRun::check(
        c.tool("backup-verify")
            .envs(s3.env())
            .envs(Keys::shared().env())
            .env_remove("PGOPS_IDENTITY_FILE")
            .args(["--backup-dir", location, "--all-sets"])
            .args(extra)
            .output()
            .unwrap(),
    )
}

pub fn rotate_remote(s3: &S3Server, location: &str, extra: &[&str]) -> ToolRun {
    ToolRun::check(rotate_remote_cmd(s3, location, extra).output().unwrap())
}

pub fn rotate_remote_cmd(s3: &S3Server, location: &str, extra: &[&str]) -> Command {
    let mut cmd = Cluster::shared().tool("backup-rotate");
    cmd.envs(s3.env())
        .envs(Keys::shared().env())
        .env_remove("PGOPS_IDENTITY_FILE")
        .args(["--backup-dir", location])
        .args(extra);
    cmd
}

/// A catalog of `n` verified sets of one database, sealed into the bucket under `prefix`.
pub fn sealed_catalog(
    s3: &S3Server,
    prefix: &str,
    n: usize,
) -> (String, tempfile::TempDir, String) {
    let c = Cluster::shared();
    let (db, dir) = verified_catalog(c, prefix);
    let src = dir.path().to_str().unwrap().to_string();
    for _ in 1..n {
        std::thread::sleep(std::time::Duration::from_millis(1100));
        backup(c, &db, &src, &[]);
    }
    let dst = s3.location(prefix);
    let r = copy(Some(s3), &["--unverified", &src, &dst]);
    assert_eq!(r.named("copy.completed").len(), n, "{:#?}", r.events);
    (db, dir, dst)
}
