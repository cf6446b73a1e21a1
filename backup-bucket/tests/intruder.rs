//! An intruder holding credentials for the bucket, on a real S3 server that enforces Object
//! Lock and IAM (moto): every object of a locked catalog hidden behind delete markers and
//! envelopes overwritten; `docs/runbooks/disaster-recovery.md`'s `intruder:` blocks, run
//! verbatim, bring every set back and prove it. And `backup-bucket check`: what each kind
//! of credentials can do, proven with a canary.

use std::process::Command;
use testkit::keys::Keys;
use testkit::s3::S3Server;
use testkit::{Cluster, ToolRun};

fn tool(c: &Cluster, name: &str, env: &[(String, String)]) -> Command {
    let mut cmd = c.tool(name);
    cmd.env_remove("PGOPS_IDENTITY_FILE")
        .envs(Keys::shared().env())
        .envs(env.iter().cloned());
    cmd
}

fn ok(mut cmd: Command) -> ToolRun {
    let r = ToolRun::check(cmd.output().unwrap());
    assert_eq!(r.code, 0, "{cmd:?}: {:#?}\n{}", r.events, r.stderr);
    r
}

/// A catalog of two verified sets of a new database, sealed with a lock into `dst`.
fn locked_catalog(c: &Cluster, env: &[(String, String)], dst: &str) -> tempfile::TempDir {
    let db = c.unique_db("intruder");
    c.load_mixed(&db, "0.002");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    for night in 0..2 {
        if night == 1 {
            std::thread::sleep(std::time::Duration::from_millis(1100));
        }
        let mut backup = tool(c, "pgdump-run", env);
        backup.args(["-d", &db, "--no-globals", "--backup-dir", root]);
        ok(backup);
    }
    let mut verify = tool(c, "backup-verify", env);
    verify.args(["--backup-dir", root, "--all-sets"]);
    ok(verify);
    let mut copy = tool(c, "backup-copy", env);
    copy.args([
        "--object-lock",
        "compliance",
        "--object-lock-for",
        "1d",
        root,
        dst,
    ]);
    let r = ok(copy);
    assert_eq!(r.named("copy.completed").len(), 2);
    dir
}

#[test]
fn the_runbook_recovers_a_locked_bucket_from_an_intruder() {
    let s3 = S3Server::start_with_auth();
    s3.create_locked_bucket("vault");
    let admin = s3.env();
    let c = Cluster::shared();
    let dst = "s3://vault/pgops";
    let _catalog = locked_catalog(c, &admin, dst);
    let mut verify = tool(c, "backup-verify", &admin);
    verify.args(["--backup-dir", dst, "--all-sets"]);
    let before = ok(verify);
    assert_eq!(before.named("verify.passed").len(), 2);

    // The last good time; moto dates versions to the second.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let as_of = jiff::Timestamp::now();
    std::thread::sleep(std::time::Duration::from_millis(1500));

    // The intruder, with every S3 right: the locked versions cannot be deleted, so every
    // object is hidden behind a delete marker, and the envelopes are overwritten first.
    let listed: serde_json::Value = serde_json::from_slice(&s3.aws(&[
        "s3api",
        "list-objects-v2",
        "--bucket",
        "vault",
        "--prefix",
        "pgops/",
    ]))
    .unwrap();
    let keys: Vec<&str> = listed["Contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["Key"].as_str().unwrap())
        .collect();
    let forged = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        forged.path(),
        br#"{"format":"pgops-envelope","forged":true}"#,
    )
    .unwrap();
    for key in keys.iter().filter(|k| k.ends_with("/envelope.json")) {
        s3.aws(&[
            "s3api",
            "put-object",
            "--bucket",
            "vault",
            "--key",
            key,
            "--body",
            forged.path().to_str().unwrap(),
        ]);
    }
    s3.aws(&["s3", "rm", "--recursive", "s3://vault/pgops/"]);
    let mut verify = tool(c, "backup-verify", &admin);
    verify.args(["--backup-dir", dst, "--all-sets"]);
    let broken = ToolRun::check(verify.output().unwrap());
    assert_ne!(broken.code, 0, "the attack is seen: {:#?}", broken.events);

    // The runbook, verbatim.
    let blocks = testkit::runbook_blocks("docs/runbooks/disaster-recovery.md", "intruder:");
    let names: Vec<&str> = blocks.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["settings", "survey", "recover", "prove"]);
    let script: String = blocks.iter().map(|(_, b)| b.as_str()).collect();
    let work = tempfile::tempdir().unwrap();
    let bins = testkit::tool_bin("backup-bucket");
    testkit::tool_bin("backup-verify");
    let path = std::env::var("PATH").unwrap_or_default();
    let out = Command::new("bash")
        .current_dir(work.path())
        .env(
            "PATH",
            format!("{}:{path}", bins.parent().unwrap().display()),
        )
        .envs(admin.iter().cloned())
        .env("PGOPS_REMOTE", dst)
        .env("PGOPS_PUBLIC_KEY", &Keys::shared().public_key)
        .env_remove("PGOPS_IDENTITY_FILE")
        .env("AS_OF", as_of.to_string())
        .args(["-euo", "pipefail", "-c", &script])
        .output()
        .unwrap();
    let stdout = testkit::runbook_stdout(&out);
    let n = keys.len();
    assert!(
        stdout.contains(&format!("{n} keys brought back")),
        "{stdout}"
    );
    assert_eq!(stdout.matches("proven ").count(), 2, "{stdout}");
    let changed = std::fs::read_to_string(work.path().join("changed.jsonl")).unwrap();
    for line in changed.lines() {
        testkit::schema::validate_event_line(line);
    }
    assert!(
        changed.contains("\"overwritten\"") && changed.contains("\"hidden\""),
        "{changed}"
    );
}

#[test]
fn check_says_what_each_kind_of_credentials_can_do() {
    let s3 = S3Server::start_with_auth();
    s3.create_locked_bucket("fortress");
    let c = Cluster::shared();
    let check = |env: &[(String, String)], location: &str| {
        let mut cmd = tool(c, "backup-bucket", env);
        cmd.args(["check", location]);
        ToolRun::check(cmd.output().unwrap())
    };
    let codes = |r: &ToolRun| -> Vec<String> {
        r.named("bucket.finding")
            .iter()
            .map(|e| e["code"].as_str().unwrap().to_string())
            .collect()
    };
    // The least-privilege host: write, read, list, lock; no delete of any kind.
    let host = s3.user(
        "host",
        &[
            "s3:PutObject",
            "s3:GetObject",
            "s3:ListBucket",
            "s3:ListBucketVersions",
            "s3:GetObjectVersion",
            "s3:PutObjectRetention",
            "s3:GetObjectRetention",
            "s3:GetBucketObjectLockConfiguration",
            "s3:GetBucketVersioning",
        ],
    );
    let r = check(&host, "s3://fortress/pgops");
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let checked = r.named("bucket.checked")[0];
    assert_eq!(checked["object_lock"], true);
    assert_eq!(checked["permissions"]["write"], true);
    assert_eq!(checked["permissions"]["hide"], false);
    assert!(
        !codes(&r).contains(&"can_delete_copies".to_string()),
        "{:#?}",
        r.events
    );

    // Every right on a locked bucket: a warning, exit 1.
    let r = check(&s3.env(), "s3://fortress/pgops");
    assert_eq!(r.code, 1, "{:#?}", r.events);
    assert!(codes(&r).contains(&"can_delete_copies".to_string()));
    assert_eq!(
        r.named("bucket.checked")[0]["permissions"]["delete_for_good"],
        true
    );

    // Every right on a bucket without versions: deleting is for good.
    let r = check(&s3.env(), &s3.location("plain"));
    assert_eq!(r.code, 1);
    assert_eq!(
        codes(&r)[..2],
        ["no_versioning".to_string(), "can_delete_copies".to_string()]
    );
    assert!(!r.stderr.contains(testkit::SENTINEL_S3_SECRET));
}
