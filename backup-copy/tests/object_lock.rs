//! Locked copies (S3 Object Lock) on a real S3 server that enforces retention (moto, with
//! IAM): the host's own credentials, allowed every S3 action, cannot delete a locked copy
//! before its date; an overwrite leaves the locked version intact; rotation plans no
//! deletion the store would refuse and, once the date has passed, deletes exactly the
//! planned sets, every version of them.

mod common;

use common::{backup, copy, rotate_remote, verified_catalog};
use serde_json::Value;
use testkit::s3::S3Server;
use testkit::Cluster;

/// Long enough that the steps between the copy and "rotation while locked" (several `aws`
/// runs, slow on a loaded machine) end before it; the test then waits for the date itself.
const LOCK_SECS: u64 = 40;

fn versions(s3: &S3Server, prefix: &str) -> Value {
    let out = s3.aws(&[
        "s3api",
        "list-object-versions",
        "--bucket",
        "locked",
        "--prefix",
        prefix,
    ]);
    serde_json::from_slice(&out).unwrap_or(Value::Null)
}

#[test]
fn locked_copies_survive_the_hosts_credentials_and_rotate_after_their_date() {
    let s3 = S3Server::start_with_auth();
    s3.create_locked_bucket("locked");
    let c = Cluster::shared();
    let (db, dir) = verified_catalog(c, "locked");
    let src = dir.path().to_str().unwrap().to_string();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    backup(c, &db, &src, &[]);

    // Asked of a bucket without Object Lock: refused by name, nothing written.
    let locked_copy = |lock_for: &str, dst: &str| {
        copy(
            Some(&s3),
            &[
                "--unverified",
                "--object-lock",
                "compliance",
                "--object-lock-for",
                lock_for,
                &src,
                dst,
            ],
        )
    };
    let r = locked_copy("1d", &s3.location("unlockable"));
    assert_ne!(r.code, 0);
    assert_eq!(
        r.named("run.failed")[0]["error"]["code"],
        "lock_unsupported",
        "{:#?}",
        r.events
    );
    let listed: Value = serde_json::from_slice(&s3.aws(&[
        "s3api",
        "list-objects-v2",
        "--bucket",
        "pgops",
        "--prefix",
        "unlockable/",
    ]))
    .unwrap_or(Value::Null);
    assert!(
        listed["Contents"].as_array().is_none_or(|c| c.is_empty()),
        "{listed}"
    );

    // Locked copies.
    let dst = "s3://locked/host1";
    let lock_for = format!("{LOCK_SECS}s");
    let r = locked_copy(&lock_for, dst);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let copied = r.named("copy.completed");
    assert_eq!(copied.len(), 2);
    assert!(
        copied.iter().all(|e| e["locked_until"].is_string()),
        "{copied:#?}"
    );
    let ids: Vec<String> = copied
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    let older = ids.iter().min().unwrap().clone();
    let newer = ids.iter().max().unwrap().clone();

    // The host's credentials (every S3 action allowed) cannot delete a locked version.
    let v = versions(&s3, &format!("host1/{db}/{older}/"));
    let objects = v["Versions"].as_array().unwrap();
    assert!(objects.len() >= 4, "{v}");
    let envelope = objects
        .iter()
        .find(|o| o["Key"].as_str().unwrap().ends_with("/envelope.json"))
        .unwrap();
    let key = envelope["Key"].as_str().unwrap();
    let version = envelope["VersionId"].as_str().unwrap();
    let denied = s3
        .aws_as(
            &s3.env(),
            &[
                "s3api",
                "delete-object",
                "--bucket",
                "locked",
                "--key",
                key,
                "--version-id",
                version,
            ],
        )
        .unwrap_err();
    assert!(denied.contains("AccessDenied"), "{denied}");
    // An overwrite makes a new version; the locked one stays as it was.
    let read_version = || {
        s3.aws(&[
            "s3api",
            "get-object",
            "--bucket",
            "locked",
            "--key",
            key,
            "--version-id",
            version,
            "/dev/stdout",
        ])
    };
    let original = read_version();
    std::fs::write(dir.path().join("forged"), b"{}").unwrap();
    let put: Value = serde_json::from_slice(&s3.aws(&[
        "s3api",
        "put-object",
        "--bucket",
        "locked",
        "--key",
        key,
        "--body",
        dir.path().join("forged").to_str().unwrap(),
    ]))
    .unwrap();
    let again = read_version();
    assert_eq!(original, again, "the locked version is unchanged");
    // The forged version is not pgops's and not locked: removed by hand here, so the
    // set reads as it was (the recovery runbook does this for every key).
    s3.aws(&[
        "s3api",
        "delete-object",
        "--bucket",
        "locked",
        "--key",
        key,
        "--version-id",
        put["VersionId"].as_str().unwrap(),
    ]);

    // Rotation while locked: the older set is kept, said why; nothing fails.
    let r = rotate_remote(&s3, dst, &["--keep-last", "1"]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    assert!(
        r.named("rotate.deleted").is_empty() && r.named("rotate.failed").is_empty(),
        "{:#?}",
        r.events
    );
    let kept = r.named("rotate.kept");
    let old = kept.iter().find(|e| e["id"] == older.as_str()).unwrap();
    assert!(
        old["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("locked until "),
        "{old}"
    );

    // After the date: exactly the planned set goes, every version of it.
    let until: jiff::Timestamp = copied
        .iter()
        .map(|e| {
            e["locked_until"]
                .as_str()
                .unwrap()
                .parse::<jiff::Timestamp>()
                .unwrap()
        })
        .max()
        .unwrap();
    let wait = until
        .duration_since(jiff::Timestamp::now())
        .as_millis()
        .max(0) as u64
        + 1000;
    std::thread::sleep(std::time::Duration::from_millis(wait));
    let r = rotate_remote(&s3, dst, &["--keep-last", "1"]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let deleted: Vec<&str> = r
        .named("rotate.deleted")
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(deleted, vec![older.as_str()]);
    let left = versions(&s3, &format!("host1/{db}/{older}/"));
    assert!(
        left["Versions"].as_array().is_none_or(|v| v.is_empty()),
        "{left}"
    );
    assert!(
        left["DeleteMarkers"]
            .as_array()
            .is_none_or(|v| v.is_empty()),
        "{left}"
    );
    let newer_left = versions(&s3, &format!("host1/{db}/{newer}/"));
    assert!(newer_left["Versions"].as_array().unwrap().len() >= 4);
    assert!(!r.stderr.contains(testkit::SENTINEL_S3_SECRET));
}
