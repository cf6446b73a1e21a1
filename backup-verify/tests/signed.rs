//! Signed sets (ADR 0014): pgdump-run signs each manifest with a minisign key made by the
//! `minisign` tool; with the public key, verify, rotate and the drill take only sets whose
//! signature checks. A forger who can write to the catalog (and runs pgops) but lacks the
//! key cannot make a set that counts.

mod common;

use common::verify;
use ops_catalog::catalog::{encode_db_dir, MANIFEST_FILE, SIGNATURE_FILE};
use std::path::{Path, PathBuf};
use testkit::keys::Keys;
use testkit::{Cluster, ToolRun};

fn backup(c: &Cluster, db: &str, root: &Path, key: Option<&Path>) -> PathBuf {
    let mut cmd = c.tool("pgdump-run");
    cmd.args(["-d", db, "--no-globals", "--backup-dir"])
        .arg(root);
    if let Some(k) = key {
        cmd.arg("--signing-key").arg(k);
    }
    let r = ToolRun::check(cmd.output().unwrap());
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let path = r.named("backup.completed")[0]["path"].as_str().unwrap();
    PathBuf::from(path)
}

fn set_sha256(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

fn check_status<'a>(event: &'a serde_json::Value, name: &str) -> &'a str {
    event["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()["status"]
        .as_str()
        .unwrap()
}

#[test]
fn only_sets_signed_by_the_trusted_key_count() {
    let c = Cluster::shared();
    let db = c.unique_db("signed");
    c.create_db(&db);
    let mut client = c.connect(&db);
    client
        .batch_execute("CREATE TABLE t (n int); INSERT INTO t SELECT generate_series(1, 50);")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let keys = Keys::make(&dir.path().join("keys"), "host");
    let root = dir.path().join("catalog");
    let real = backup(c, &db, &root, Some(&keys.signing_key));

    // The standard tool checks what pgops signed.
    assert!(real.join(SIGNATURE_FILE).is_file());
    assert!(keys.minisign_verifies(&real.join(MANIFEST_FILE)));
    let pk = keys.public_key.to_str().unwrap();
    let r = verify(&root, &["--public-key", pk]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    assert_eq!(
        check_status(r.named("verify.passed")[0], "signature"),
        "pass"
    );
    // Without a trusted key the check says it did not look.
    let r = verify(&root, &[]);
    assert_eq!(
        check_status(r.named("verify.passed")[0], "signature"),
        "skip"
    );

    // Forgery 1: a newer set made by someone with write access but not the key: pgops'
    // own tool, the forger's SQL, every hash right, no signature.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    client.batch_execute("INSERT INTO t VALUES (666);").unwrap();
    let unsigned = backup(c, &db, &root, None);
    // Forgery 2: a newer set still, the real signature kept next to an edited manifest
    // whose hashes were recomputed for a swapped dump.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let edited = backup(c, &db, &root, Some(&keys.signing_key));
    let dump = std::fs::read_dir(&edited)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".zst"))
        .unwrap();
    let name = dump.file_name().unwrap().to_str().unwrap().to_string();
    std::fs::copy(unsigned.join(&name), &dump).unwrap();
    let mpath = edited.join(MANIFEST_FILE);
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
    let u: serde_json::Value =
        serde_json::from_slice(&std::fs::read(unsigned.join(MANIFEST_FILE)).unwrap()).unwrap();
    m["files"] = u["files"].clone();
    m["tables"] = u["tables"].clone();
    assert_eq!(m["files"][0]["sha256"], set_sha256(&dump).as_str());
    std::fs::write(&mpath, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    assert!(!keys.minisign_verifies(&mpath));

    // Without the key both forgeries pass: their bytes are consistent.
    let r = verify(&root, &["--all-sets"]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    // With it, both fail their signature check, and only there.
    let r = verify(&root, &["--all-sets", "--public-key", pk]);
    assert_eq!(r.code, 1);
    let failed = r.named("verify.failed");
    assert_eq!(failed.len(), 2, "{failed:#?}");
    for f in &failed {
        assert_eq!(f["failed"], serde_json::json!(["signature"]), "{f:#?}");
    }
    assert_eq!(r.named("verify.passed").len(), 1);
    assert_eq!(
        r.named("verify.passed")[0]["path"],
        real.to_str().unwrap(),
        "the real set is the one that counts"
    );

    // Rotation counts only the real set: keeping one keeps it, and the forgeries are
    // reported, never deleted (pgops deletes only what it can prove it made).
    let r = ToolRun::check(
        c.tool("backup-rotate")
            .arg("--backup-dir")
            .arg(&root)
            .args(["--keep-last", "1", "--public-key", pk])
            .output()
            .unwrap(),
    );
    assert!(real.is_dir() && unsigned.is_dir() && edited.is_dir());
    let skipped = r.named("rotate.skipped");
    assert!(
        skipped
            .iter()
            .filter(|s| s["code"] == "signature_invalid")
            .count()
            == 2,
        "{:#?}",
        r.events
    );

    // The drill restores the newest set that counts: the real one, not the forger's rows.
    let r = ToolRun::check(
        c.tool("restore-drill")
            .arg("--backup-dir")
            .arg(&root)
            .args(["-d", &db, "--public-key", pk])
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let done = r.named("drill.completed");
    assert_eq!(done[0]["id"], real.file_name().unwrap().to_str().unwrap());
    // Named explicitly, a forged set is refused.
    let r = ToolRun::check(
        c.tool("restore-drill")
            .arg("--backup-dir")
            .arg(&root)
            .args(["-d", &db, "--public-key", pk, "--backup-id"])
            .arg(unsigned.file_name().unwrap())
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 1);
    assert_eq!(r.error_code("run.failed"), "signature_invalid");
    let _ = encode_db_dir(&db);
}

/// A database named `db` (any name the server accepts): its signature file parses, the
/// standard tool checks it, and the set verifies signed.
fn a_name_gets_a_signature_that_checks(db: &str) {
    let c = Cluster::shared();
    c.create_db(db);
    c.connect(db)
        .batch_execute("CREATE TABLE t (n int); INSERT INTO t VALUES (1);")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let keys = Keys::make(&dir.path().join("keys"), "host");
    let root = dir.path().join("catalog");
    let set = backup(c, db, &root, Some(&keys.signing_key));
    assert!(keys.minisign_verifies(&set.join(MANIFEST_FILE)));
    let r = verify(&root, &["--public-key", keys.public_key.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let passed = r.named("verify.passed");
    assert_eq!(passed[0]["database"], db);
    assert_eq!(check_status(passed[0], "signature"), "pass");
    c.drop_db(db);
}

/// A name that holds a newline (issue #22 §2).
#[test]
fn a_name_with_a_newline_gets_a_signature_that_checks() {
    a_name_gets_a_signature_that_checks(&format!("news\nline {}", std::process::id()));
}

/// A name that ends with a space: the signature's trusted comment ends with it, which a
/// reader of the signature file trims.
#[test]
fn a_name_ending_with_a_space_gets_a_signature_that_checks() {
    a_name_gets_a_signature_that_checks(&format!("space {} ", std::process::id()));
}
