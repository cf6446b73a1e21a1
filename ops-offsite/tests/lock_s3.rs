//! Object Lock and versions on a real S3 server process (moto, which enforces retention on
//! version deletes): what a locked copy, a rotation and a recovery stand on.

use ops_offsite::backend::{
    open_location, PutMode, Retention, RetentionMode, Store, StoreError, StoreOptions,
};
use std::io::Read;
use std::time::Duration;
use testkit::s3::S3Server;

fn options(retention: Option<Retention>) -> StoreOptions {
    StoreOptions {
        stall_timeout: Duration::from_secs(20),
        retry_timeout: Duration::from_secs(2),
        retention,
    }
}

fn open(
    server: &S3Server,
    location: &str,
    retention: Option<Retention>,
) -> Result<Box<dyn Store>, StoreError> {
    // The store reads the AWS_* environment, as the tools do.
    for (k, v) in server.env() {
        std::env::set_var(k, v);
    }
    open_location(location, &options(retention))
}

fn in_secs(mode: RetentionMode, secs: i64) -> Retention {
    Retention {
        mode,
        until: jiff::Timestamp::now() + jiff::SignedDuration::from_secs(secs),
    }
}

fn read(s: &dyn Store, key: &str) -> Vec<u8> {
    let mut out = Vec::new();
    s.open(key).unwrap().read_to_end(&mut out).unwrap();
    out
}

#[test]
fn object_lock_versions_and_recovery() {
    let server = S3Server::start();

    // A lock asked of a bucket without Object Lock is refused by name, before any write.
    let e = open(
        &server,
        &server.location("plain"),
        Some(in_secs(RetentionMode::Compliance, 60)),
    )
    .unwrap_err();
    assert_eq!(e.code(), "lock_unsupported", "{e}");
    assert!(e.to_string().contains("no Object Lock"), "{e}");
    let e = open(
        &server,
        "/tmp/pgops-lock-dir",
        Some(in_secs(RetentionMode::Compliance, 60)),
    )
    .unwrap_err();
    assert_eq!(e.code(), "lock_unsupported", "{e}");

    // Locked writes: small (one PUT) and large (multipart), each locked as it is stored.
    server.create_locked_bucket("locked");
    let s = open(
        &server,
        "s3://locked/p",
        Some(in_secs(RetentionMode::Compliance, 4)),
    )
    .unwrap();
    let p = s.protection().unwrap();
    assert!(p.object_lock && p.versioning, "{p:?}");
    let big = vec![7u8; 20 << 20];
    s.put(
        "db/1/big.age",
        &mut &big[..],
        Some(big.len() as u64),
        PutMode::Overwrite,
    )
    .unwrap();
    s.put("db/1/envelope.json", &mut &b"{}"[..], None, PutMode::Create)
        .unwrap();
    for key in ["db/1/big.age", "db/1/envelope.json"] {
        let r = s.retention(key, None).unwrap().expect("locked");
        assert_eq!(r.mode, RetentionMode::Compliance, "{key}");
    }
    // Locked versions cannot be deleted; a plain delete only hides (a marker).
    let e = s.purge("db/1/envelope.json").unwrap_err();
    assert_eq!(e.code(), "set_locked", "{e}");
    s.delete("db/1/envelope.json").unwrap();
    assert_eq!(s.size("db/1/envelope.json").unwrap(), None);
    let versions = s.versions("db").unwrap();
    let marker = versions
        .iter()
        .find(|v| v.key == "db/1/envelope.json" && v.delete_marker && v.latest)
        .expect("a delete marker on top");
    // Recovery: the marker removed, the locked version is current again.
    s.delete_version("db/1/envelope.json", &marker.version_id)
        .unwrap();
    assert_eq!(read(s.as_ref(), "db/1/envelope.json"), b"{}");
    // Overwritten: the old version is copied on top again.
    let old = s
        .versions("db/1")
        .unwrap()
        .into_iter()
        .find(|v| v.key == "db/1/envelope.json" && v.latest)
        .unwrap();
    s.put(
        "db/1/envelope.json",
        &mut &b"forged"[..],
        None,
        PutMode::Overwrite,
    )
    .unwrap();
    assert_eq!(read(s.as_ref(), "db/1/envelope.json"), b"forged");
    s.restore_version("db/1/envelope.json", &old.version_id, None)
        .unwrap();
    assert_eq!(read(s.as_ref(), "db/1/envelope.json"), b"{}");

    // After the date, purging removes every version of the key.
    std::thread::sleep(Duration::from_secs(5));
    s.purge("db/1/big.age").unwrap();
    assert!(s
        .versions("db/1")
        .unwrap()
        .iter()
        .all(|v| v.key != "db/1/big.age"));

    // A bucket whose default rule locks every object: plain writes are checksummed (S3
    // refuses them otherwise) and the retention they get is known.
    server.create_locked_bucket("ruled");
    server.aws(&[
        "s3api", "put-object-lock-configuration", "--bucket", "ruled",
        "--object-lock-configuration",
        r#"{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"GOVERNANCE","Days":1}}}"#,
    ]);
    let r = open(&server, "s3://ruled", None).unwrap();
    r.put("db/2/x.age", &mut &b"x"[..], None, PutMode::Overwrite)
        .unwrap();
    let w = r.write_retention().expect("the default rule");
    assert_eq!(w.mode, RetentionMode::Governance);
    assert!(w.until > jiff::Timestamp::now() + jiff::SignedDuration::from_hours(23));
    assert_eq!(
        r.retention("db/2/x.age", None).unwrap().unwrap().mode,
        RetentionMode::Governance
    );
}
