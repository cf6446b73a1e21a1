//! Signed proofs in the bucket, end to end on a real S3 server (moto): a remote
//! verification, a drill and a restore of sealed sets each keep a signed proof beside
//! the set; `ops-status proofs` over the bucket root lists every host prefix (a small
//! fleet) and refuses a tampered, unsigned or misplaced proof by name; without a signing
//! key no proof is kept and the tool says why; a rotated set's proofs go with it.

use std::process::Command;
use testkit::keys::Keys;
use testkit::s3::S3Server;
use testkit::{Cluster, ToolRun};

fn tool(c: &Cluster, name: &str, s3: &S3Server) -> Command {
    let mut cmd = c.tool(name);
    cmd.envs(Keys::shared().env()).envs(s3.env());
    cmd
}

fn ok(mut cmd: Command) -> ToolRun {
    let r = ToolRun::check(cmd.output().unwrap());
    assert_eq!(r.code, 0, "{cmd:?}: {:#?}\n{}", r.events, r.stderr);
    r
}

/// One host: a database backed up twice, verified, sealed into `s3://pgops/<host>`.
fn host(c: &Cluster, s3: &S3Server, host: &str) -> (String, String) {
    let db = c.unique_db(host);
    c.load_mixed(&db, "0.001");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    for night in 0..2 {
        if night == 1 {
            std::thread::sleep(std::time::Duration::from_millis(1100));
        }
        let mut b = tool(c, "pgdump-run", s3);
        b.args(["-d", &db, "--no-globals", "--backup-dir", root]);
        ok(b);
    }
    let mut v = tool(c, "backup-verify", s3);
    v.args(["--backup-dir", root, "--all-sets"]);
    ok(v);
    let dst = s3.location(host);
    let mut copy = tool(c, "backup-copy", s3);
    copy.args([root, &dst]);
    ok(copy);
    (db, dst)
}

/// Every key of host1's proofs tree.
fn proof_keys(s3: &S3Server) -> Vec<String> {
    let out = s3.aws(&[
        "s3api",
        "list-objects-v2",
        "--bucket",
        "pgops",
        "--prefix",
        "host1/_proofs/",
        "--query",
        "Contents[].Key",
        "--output",
        "text",
    ]);
    String::from_utf8(out)
        .unwrap()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn proofs(c: &Cluster, s3: &S3Server, location: &str, extra: &[&str]) -> ToolRun {
    let mut cmd = tool(c, "ops-status", s3);
    cmd.args(["--json", "proofs", location]).args(extra);
    ToolRun::check(cmd.output().unwrap())
}

#[test]
fn proofs_survive_the_host_and_a_tampered_one_is_refused() {
    let s3 = S3Server::start();
    let c = Cluster::shared();
    let (db1, dst1) = host(c, &s3, "host1");
    let (_db2, dst2) = host(c, &s3, "host2");

    // A remote verification of every set keeps a proof beside each.
    let mut v = tool(c, "backup-verify", &s3);
    v.env_remove("PGOPS_IDENTITY_FILE")
        .args(["--backup-dir", &dst1, "--all-sets", "--read-data"]);
    let r = ok(v);
    let passed = r.named("verify.passed");
    assert_eq!(passed.len(), 2);
    assert!(passed
        .iter()
        .all(|e| e["proof"].as_str().unwrap().contains("/_proofs/")));
    // Without the signing key: the verdict stands, no proof, said why.
    let mut v = tool(c, "backup-verify", &s3);
    v.env_remove("PGOPS_IDENTITY_FILE")
        .env_remove("PGOPS_SIGNING_KEY")
        .args(["--backup-dir", &dst2]);
    let r = ok(v);
    assert_eq!(
        r.named("verify.passed")[0]["proof_error"],
        "signing_key_required"
    );
    // A drill and a restore of the newest sealed set keep theirs.
    let mut d = tool(c, "restore-drill", &s3);
    d.args(["-d", &db1, "--backup-dir", &dst1]);
    let r = ok(d);
    let drilled = r.named("drill.completed")[0];
    assert!(drilled["proof"].is_string(), "{drilled}");
    let target = c.unique_db("restored");
    let mut restore = tool(c, "backup-restore", &s3);
    restore.args(["-d", &db1, "--backup-dir", &dst1, "--target", &target]);
    let r = ok(restore);
    assert!(
        r.named("restore.completed")[0]["proof"].is_string(),
        "{:#?}",
        r.events
    );

    // The whole bucket: both hosts, the newest proof of each kind per database.
    let r = proofs(c, &s3, "s3://pgops", &[]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let shown = r.named("status.proof");
    let kinds: Vec<(&str, &str)> = shown
        .iter()
        .map(|e| (e["location"].as_str().unwrap(), e["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("s3://pgops/host1", "drill"),
            ("s3://pgops/host1", "restore"),
            ("s3://pgops/host1", "verify"),
        ],
        "host2 kept no proof (no signing key)"
    );
    let drill = shown.iter().find(|e| e["kind"] == "drill").unwrap();
    assert!(drill["rto_seconds"].as_f64().unwrap() > 0.0);
    assert!(drill["rows"].as_u64().unwrap() > 0);
    assert_eq!(drill["verdict"], "pass");
    let all = proofs(c, &s3, &dst1, &["--all"]);
    assert_eq!(
        all.named("status.proof").len(),
        4,
        "two verifications, a drill, a restore"
    );

    // Tampered, unsigned, misplaced: each refused by name.
    let keys = proof_keys(&s3);
    let verify_proofs: Vec<&String> = keys
        .iter()
        .filter(|k| k.contains("/verify-") && k.ends_with(".json"))
        .collect();
    let drill_proof = keys
        .iter()
        .find(|k| k.contains("/drill-") && k.ends_with(".json"))
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let body = tmp.path().join("p.json");
    s3.aws(&[
        "s3",
        "cp",
        &format!("s3://pgops/{drill_proof}"),
        body.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&body)
        .unwrap()
        .replace("\"pass\"", "\"fail\"");
    std::fs::write(&body, text).unwrap();
    s3.aws(&[
        "s3",
        "cp",
        body.to_str().unwrap(),
        &format!("s3://pgops/{drill_proof}"),
    ]);
    s3.aws(&[
        "s3",
        "rm",
        &format!("s3://pgops/{}.minisig", verify_proofs[0]),
    ]);
    // A genuine proof of one set, copied under another.
    let other_set = verify_proofs[1].rsplit('/').nth(1).unwrap();
    let first_set = verify_proofs[0].rsplit('/').nth(1).unwrap();
    assert_ne!(other_set, first_set);
    let moved = verify_proofs[1].replace(other_set, first_set);
    s3.aws(&[
        "s3",
        "cp",
        &format!("s3://pgops/{}", verify_proofs[1]),
        &format!("s3://pgops/{moved}"),
    ]);
    s3.aws(&[
        "s3",
        "cp",
        &format!("s3://pgops/{}.minisig", verify_proofs[1]),
        &format!("s3://pgops/{moved}.minisig"),
    ]);
    let r = proofs(c, &s3, &dst1, &["--all"]);
    assert_eq!(r.code, 1);
    let mut refused: Vec<&str> = r
        .named("status.proof_refused")
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    refused.sort();
    assert_eq!(
        refused,
        ["proof_invalid", "proof_misplaced", "proof_unsigned"]
    );
    assert!(
        r.named("status.proof")
            .iter()
            .all(|e| e["verdict"] == "pass"),
        "the forged verdict is not believed"
    );

    // A rotated set's proofs go with it.
    let mut rot = tool(c, "backup-rotate", &s3);
    rot.env_remove("PGOPS_IDENTITY_FILE")
        .args(["--backup-dir", &dst1, "--keep-last", "1"]);
    let r = ok(rot);
    let gone = r.named("rotate.deleted")[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let left = proof_keys(&s3).join(" ");
    assert!(!left.contains(&gone), "{left}");
    assert!(!r.stderr.contains(testkit::SENTINEL_S3_SECRET));
}

/// The same rule on a sealed catalog in a directory (a second disk sealed with
/// `--recipient`): its verification keeps a signed proof beside the set there too, and a
/// plain local catalog keeps none (it has its own `verify.json`).
#[test]
fn a_sealed_directory_keeps_proofs_and_a_local_catalog_none() {
    let s3 = S3Server::start();
    let c = Cluster::shared();
    let db = c.unique_db("sealeddir");
    c.load_mixed(&db, "0.001");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("local");
    let sealed = dir.path().join("sealed");
    let mut b = tool(c, "pgdump-run", &s3);
    b.args(["-d", &db, "--no-globals", "--backup-dir"])
        .arg(&root);
    ok(b);
    let mut v = tool(c, "backup-verify", &s3);
    v.arg("--backup-dir").arg(&root);
    let r = ok(v);
    assert!(
        r.named("verify.passed")[0]["proof"].is_null(),
        "a local catalog keeps none"
    );
    let mut copy = tool(c, "backup-copy", &s3);
    copy.arg(&root).arg(&sealed);
    assert_eq!(ok(copy).named("copy.completed")[0]["mode"], "seal");
    let mut v = tool(c, "backup-verify", &s3);
    v.env_remove("PGOPS_IDENTITY_FILE")
        .arg("--backup-dir")
        .arg(&sealed);
    let r = ok(v);
    assert!(r.named("verify.passed")[0]["proof"]
        .as_str()
        .unwrap()
        .contains("/_proofs/"));
    // The proof as it lies there is what its schema says (NFR-12: every file pgops writes).
    let records: Vec<_> = testkit::walk(&sealed.join("_proofs"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(records.len(), 1, "{records:?}");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&records[0]).unwrap()).unwrap();
    testkit::schema::check("files/proof.json", &record);
    let r = proofs(c, &s3, sealed.to_str().unwrap(), &[]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    assert_eq!(r.named("status.proof").len(), 1);
}
