//! What backup-copy's integration tests share: the tool with every key in its
//! environment, signed and verified catalogs, the bucket as a store.

#![allow(dead_code)]

use ops_catalog::store::{s3::S3Store, StoreOptions};
use serde_json::Value;
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
