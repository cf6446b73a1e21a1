//! Key rotation on a real S3 server (moto), as docs/storage.md tells it: the signing key
//! rotated through a keyring (old sets stay verifiable, new ones use the new key, a key
//! not trusted is still refused), and every copy re-sealed to a new age identity, after
//! which only the new identity opens them.

use std::path::Path;
use std::process::Command;
use testkit::keys::Keys;
use testkit::s3::S3Server;
use testkit::{Cluster, ToolRun};

fn with(c: &Cluster, name: &str, s3: &S3Server, keys: &[(&str, &Path)]) -> Command {
    let mut cmd = c.tool(name);
    for k in [
        "PGOPS_SIGNING_KEY",
        "PGOPS_PUBLIC_KEY",
        "PGOPS_IDENTITY_FILE",
        "PGOPS_RECIPIENTS_FILE",
    ] {
        cmd.env_remove(k);
    }
    cmd.envs(s3.env());
    for (k, v) in keys {
        cmd.env(k, v);
    }
    cmd
}

fn run(mut cmd: Command) -> ToolRun {
    ToolRun::check(cmd.output().unwrap())
}

fn ok(cmd: Command) -> ToolRun {
    let r = run(cmd);
    assert_eq!(r.code, 0, "{:#?}\n{}", r.events, r.stderr);
    r
}

#[test]
fn signing_keys_rotate_through_a_keyring_and_copies_reseal_to_a_new_identity() {
    let s3 = S3Server::start();
    let c = Cluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let old = Keys::make(&dir.path().join("old"), "old");
    let new = Keys::make(&dir.path().join("new"), "new");
    let ring = dir.path().join("keyring.pub");
    std::fs::write(
        &ring,
        std::fs::read_to_string(&old.public_key).unwrap()
            + &std::fs::read_to_string(&new.public_key).unwrap(),
    )
    .unwrap();
    let db = c.unique_db("rekey");
    c.load_mixed(&db, "0.001");
    let cat = dir.path().join("catalog");
    let cat_s = cat.to_str().unwrap();
    let dst = s3.location("rekey");
    let backup = |signing: &Path, trust: &Path| {
        let mut b = with(
            c,
            "pgdump-run",
            &s3,
            &[("PGOPS_SIGNING_KEY", signing), ("PGOPS_PUBLIC_KEY", trust)],
        );
        b.args(["-d", &db, "--no-globals", "--backup-dir", cat_s]);
        ok(b);
        let mut v = with(c, "backup-verify", &s3, &[("PGOPS_PUBLIC_KEY", trust)]);
        v.args(["--backup-dir", cat_s, "--all-sets"]);
        ok(v);
    };
    let copy = |signing: &Path, trust: &Path| {
        let mut cp = with(
            c,
            "backup-copy",
            &s3,
            &[
                ("PGOPS_SIGNING_KEY", signing),
                ("PGOPS_PUBLIC_KEY", trust),
                ("PGOPS_RECIPIENTS_FILE", old.recipients_file.as_path()),
            ],
        );
        cp.args([cat_s, dst.as_str()]);
        run(cp)
    };
    backup(&old.signing_key, &old.public_key);
    assert_eq!(copy(&old.signing_key, &old.public_key).code, 0);

    // The new key, trusted alone, may not write into a catalog the old key signs.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    backup(&new.signing_key, &ring);
    let r = copy(&new.signing_key, &new.public_key);
    assert_eq!(
        r.named("run.failed")[0]["error"]["code"],
        "catalog_key_mismatch",
        "{:#?}",
        r.events
    );
    // With the keyring: the catalog now names the new key and keeps the old one.
    let r = copy(&new.signing_key, &ring);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let descriptor: serde_json::Value =
        serde_json::from_slice(&s3.aws(&["s3", "cp", "s3://pgops/rekey/pgops-catalog.json", "-"]))
            .unwrap();
    assert_eq!(
        descriptor["previous_keys"].as_array().unwrap().len(),
        1,
        "{descriptor}"
    );
    let verify = |trust: &Path| {
        let mut v = with(c, "backup-verify", &s3, &[("PGOPS_PUBLIC_KEY", trust)]);
        v.args(["--backup-dir", &dst, "--all-sets", "--no-record"]);
        run(v)
    };
    let r = verify(&ring);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    assert_eq!(
        r.named("verify.passed").len(),
        2,
        "old and new sets verify with the keyring"
    );
    let r = verify(&new.public_key);
    assert_eq!(
        r.named("verify.passed").len(),
        1,
        "the old key retired: its set is refused"
    );
    assert!(
        r.events
            .iter()
            .any(|e| e.to_string().contains("signature_invalid")),
        "{:#?}",
        r.events
    );

    // Re-seal every copy to a new identity, where the identity is (never on the host).
    let mut reseal = with(
        c,
        "backup-bucket",
        &s3,
        &[
            ("PGOPS_IDENTITY_FILE", old.identity.as_path()),
            ("PGOPS_SIGNING_KEY", new.signing_key.as_path()),
            ("PGOPS_PUBLIC_KEY", ring.as_path()),
        ],
    );
    reseal
        .args(["reseal", &dst, "-R"])
        .arg(&new.recipients_file);
    let r = ok(reseal);
    assert_eq!(r.named("bucket.resealed").len(), 2, "{:#?}", r.events);
    assert!(r
        .named("bucket.resealed")
        .iter()
        .all(|e| e["removed"].as_u64().unwrap() >= 4));
    let back = |identity: &Path, into: &Path| {
        let mut b = with(
            c,
            "backup-copy",
            &s3,
            &[
                ("PGOPS_IDENTITY_FILE", identity),
                ("PGOPS_PUBLIC_KEY", ring.as_path()),
            ],
        );
        b.args([dst.as_str(), into.to_str().unwrap()]);
        run(b)
    };
    let r = back(&old.identity, &dir.path().join("with-old"));
    assert_ne!(r.code, 0);
    assert!(
        r.events
            .iter()
            .any(|e| e.to_string().contains("wrong_identity")),
        "{:#?}",
        r.events
    );
    let r = back(&new.identity, &dir.path().join("with-new"));
    assert_eq!(r.code, 0, "{:#?}", r.events);
    assert_eq!(r.named("copy.completed").len(), 2);
    let descriptor: serde_json::Value =
        serde_json::from_slice(&s3.aws(&["s3", "cp", "s3://pgops/rekey/pgops-catalog.json", "-"]))
            .unwrap();
    assert_eq!(descriptor["recipients"][0], new.recipient.as_str());
}
