//! Sealed catalogs (ADR 0014) against a real S3-compatible server (moto) and the standard
//! tools: a round trip to the bucket and back with every row, `age` and `minisign` opening
//! what pgops wrote, a wrong identity, forged and replayed sets.

mod common;

use common::{copy, copy_cmd, put, read, rotate_remote, rotate_remote_cmd, sealed_catalog};
use common::{store, verified_catalog, verify_remote};
use ops_offsite::backend::Store;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use testkit::keys::Keys;
use testkit::s3::S3Server;
use testkit::{Cluster, ToolRun};

/// The objects of the only sealed set of `db` in `st`: (set key prefix, envelope).
fn sealed_set(st: &dyn Store, db: &str) -> (String, Value) {
    let sets = st.list_dir(db).unwrap().dirs;
    assert_eq!(sets.len(), 1, "{sets:?}");
    let set = format!("{db}/{}", sets[0]);
    let envelope = serde_json::from_slice(&read(st, &format!("{set}/envelope.json"))).unwrap();
    (set, envelope)
}

fn object<'a>(envelope: &'a Value, file_suffix: &str) -> &'a str {
    envelope["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["file"].as_str().unwrap().ends_with(file_suffix))
        .unwrap()["name"]
        .as_str()
        .unwrap()
}

#[test]
fn a_catalog_comes_back_from_the_bucket_with_every_row() {
    let c = Cluster::shared();
    let s3 = S3Server::start();
    let (db, dir) = verified_catalog(c, "sealed_rt");
    let src = dir.path().to_str().unwrap();
    let dst = s3.location("rt");
    let r = copy(Some(&s3), &[src, &dst]);
    assert_eq!(r.code, 0, "{:#?}", r.events);

    // What is in clear in the bucket: no table name, no row of data.
    let st = store(&s3, "rt");
    let (set, envelope) = sealed_set(&st, &db);
    for o in envelope["objects"].as_array().unwrap() {
        let bytes = read(&st, &format!("{set}/{}", o["name"].as_str().unwrap()));
        assert!(bytes.starts_with(b"age-encryption.org/v1\n"), "{o}");
    }
    let clear = String::from_utf8(read(&st, &format!("{set}/envelope.json"))).unwrap();
    assert!(
        !clear.contains("accounts") && !clear.contains("\"tables\""),
        "{clear}"
    );
    let descriptor: Value = serde_json::from_slice(&read(&st, backup_copy::DESCRIPTOR)).unwrap();
    assert_eq!(descriptor["layout"], "sealed");
    assert_eq!(
        descriptor["recipients"][0],
        Keys::shared().recipient.as_str()
    );

    // A new machine: nothing but the bucket, the identity and the public key.
    let new = tempfile::tempdir().unwrap();
    let back = new.path().join("catalog");
    let r = copy(Some(&s3), &[&dst, back.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let done = r.named("copy.completed");
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["mode"], "unseal");
    let id = done[0]["id"].as_str().unwrap();
    // The set is the one the backup host wrote, byte for byte, signature included.
    for f in [
        format!("{db}.dump.zst"),
        "manifest.json".into(),
        "manifest.json.minisig".into(),
    ] {
        let a = std::fs::read(dir.path().join(&db).join(id).join(&f)).unwrap();
        let b = std::fs::read(back.join(&db).join(id).join(&f)).unwrap();
        assert!(a == b, "{f} is identical");
    }
    // Again: nothing to bring back.
    let r = copy(Some(&s3), &[&dst, back.to_str().unwrap()]);
    assert_eq!(r.named("copy.skipped")[0]["code"], "at_destination");

    // Every row: the drill restores it and recounts every table against the manifest,
    // whose counts are the source's.
    let r = ToolRun::check(
        c.tool("restore-drill")
            .arg("--backup-dir")
            .arg(&back)
            .args(["-d", &db])
            .envs(Keys::shared().env())
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let rows: u64 = c.row_counts(&db).values().sum();
    assert_eq!(r.named("drill.completed")[0]["rows"], rows);
}

#[test]
fn the_standard_tools_check_and_open_what_pgops_sealed() {
    let c = Cluster::shared();
    let s3 = S3Server::start();
    let (db, dir) = verified_catalog(c, "sealed_interop");
    let r = copy(
        Some(&s3),
        &[dir.path().to_str().unwrap(), &s3.location("io")],
    );
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let st = store(&s3, "io");
    let (set, envelope) = sealed_set(&st, &db);
    let work = tempfile::tempdir().unwrap();
    let w = |name: &str| work.path().join(name);
    let keys = Keys::shared();

    // minisign checks the envelope's signature with the public key alone.
    std::fs::write(
        w("envelope.json"),
        read(&st, &format!("{set}/envelope.json")),
    )
    .unwrap();
    let sig = st
        .list_dir(&set)
        .unwrap()
        .objects
        .into_iter()
        .find(|o| o.name.ends_with(".minisig"))
        .unwrap()
        .name;
    std::fs::write(
        w("envelope.json.minisig"),
        read(&st, &format!("{set}/{sig}")),
    )
    .unwrap();
    assert!(keys.minisign_verifies(&w("envelope.json")));

    // age decrypts the dump; zstd and pg_restore take it from there, without pgops.
    let dump = object(&envelope, ".dump.zst");
    std::fs::write(w("dump.age"), read(&st, &format!("{set}/{dump}"))).unwrap();
    let status = Command::new("age")
        .args(["-d", "-i"])
        .arg(&keys.identity)
        .arg("-o")
        .arg(w("dump.zst"))
        .arg(w("dump.age"))
        .status()
        .unwrap();
    assert!(status.success());
    let status = Command::new("zstd")
        .args(["-q", "-d"])
        .arg(w("dump.zst"))
        .arg("-o")
        .arg(w("dump"))
        .status()
        .unwrap();
    assert!(status.success());
    let target = c.unique_db("sealed_interop_restored");
    c.create_db(&target);
    let mut restore = Command::new(c.bin("pg_restore"));
    c.configure(&mut restore);
    let out = restore
        .args(["--no-owner", "-d", &target])
        .arg(w("dump"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(c.row_counts(&target), c.row_counts(&db));
    // And the manifest, decrypted, is the backup host's, signed by it.
    let manifest = object(&envelope, "manifest.json");
    std::fs::write(w("manifest.age"), read(&st, &format!("{set}/{manifest}"))).unwrap();
    let out = Command::new("age")
        .args(["-d", "-i"])
        .arg(&keys.identity)
        .arg(w("manifest.age"))
        .output()
        .unwrap();
    let m: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(m["database"], db.as_str());
}

#[test]
fn a_wrong_identity_a_forged_set_and_a_replayed_one_are_refused() {
    let c = Cluster::shared();
    let s3 = S3Server::start();
    let (db, dir) = verified_catalog(c, "sealed_forged");
    let dst = s3.location("forged");
    let r = copy(Some(&s3), &[dir.path().to_str().unwrap(), &dst]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let st = store(&s3, "forged");
    let (set, envelope) = sealed_set(&st, &db);
    let real_id = set.rsplit('/').next().unwrap().to_string();

    // A wrong identity stops the run at once, and nothing lands.
    let other = tempfile::tempdir().unwrap();
    let stranger = Keys::make(other.path(), "stranger");
    let back = tempfile::tempdir().unwrap();
    let r = ToolRun::check(
        copy_cmd(Some(&s3), &[&dst, back.path().to_str().unwrap()])
            .env("PGOPS_IDENTITY_FILE", &stranger.identity)
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 3, "{:#?}", r.events);
    assert_eq!(r.error_code("run.failed"), "wrong_identity");
    assert!(!back.path().join(&db).join(&real_id).exists());

    // A forger with write access to the bucket and the public recipient: a newer set of
    // their own, encrypted to the right recipient, every hash right, signed with their
    // own key (or carrying the real signature of another envelope).
    let forged_id = "29991231T000000Z";
    let forged = format!("{db}/{forged_id}");
    let work = tempfile::tempdir().unwrap();
    let evil = work.path().join("evil.sql");
    std::fs::write(&evil, b"DROP TABLE accounts;").unwrap();
    let out = Command::new("age")
        .args(["-r", &Keys::shared().recipient])
        .arg(&evil)
        .output()
        .unwrap();
    assert!(out.status.success());
    let name = object(&envelope, ".dump.zst");
    put(&st, &format!("{forged}/{name}"), &out.stdout);
    let mut fake = envelope.clone();
    fake["id"] = forged_id.into();
    use sha2::Digest;
    for o in fake["objects"].as_array_mut().unwrap() {
        if o["name"] == name {
            o["bytes"] = out.stdout.len().into();
            o["sha256"] = hex::encode(sha2::Sha256::digest(&out.stdout)).into();
        }
    }
    let fake_text = serde_json::to_vec_pretty(&fake).unwrap();
    std::fs::write(work.path().join("envelope.json"), &fake_text).unwrap();
    let status = Command::new("minisign")
        .args(["-S", "-W", "-s"])
        .arg(&stranger.signing_key)
        .arg("-m")
        .arg(work.path().join("envelope.json"))
        .status()
        .unwrap();
    assert!(status.success());
    put(
        &st,
        &format!("{forged}/envelope.ffffffff.minisig"),
        &std::fs::read(work.path().join("envelope.json.minisig")).unwrap(),
    );
    put(&st, &format!("{forged}/envelope.json"), &fake_text);
    // A replay: the real, signed envelope under a newer id.
    let replayed = format!("{db}/29991230T000000Z");
    for o in st.list_dir(&set).unwrap().objects {
        put(
            &st,
            &format!("{replayed}/{}", o.name),
            &read(&st, &format!("{set}/{}", o.name)),
        );
    }

    let r = copy(Some(&s3), &[&dst, back.path().to_str().unwrap()]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let codes: Vec<(&str, &str)> = r
        .named("copy.skipped")
        .iter()
        .map(|e| (e["id"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert!(
        codes.contains(&(forged_id, "signature_invalid")),
        "{codes:?}"
    );
    assert!(
        codes.contains(&("29991230T000000Z", "set_misplaced")),
        "{codes:?}"
    );
    assert_eq!(
        r.named("copy.completed")
            .iter()
            .map(|e| e["id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        [real_id.as_str()],
        "only the real set comes back"
    );
    assert!(!back.path().join(&db).join(forged_id).exists());
    let _ = Path::new("");
}

fn verdicts(r: &ToolRun) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = ["verify.passed", "verify.failed"]
        .iter()
        .flat_map(|e| r.named(e))
        .filter(|e| e["id"].is_string())
        .map(|e| {
            let failed = e["failed"]
                .as_array()
                .map(|f| {
                    f.iter()
                        .map(|x| x.as_str().unwrap())
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_else(|| "pass".into());
            (e["id"].as_str().unwrap().to_string(), failed)
        })
        .collect();
    out.sort();
    out
}

/// The weekly remote check: without the identity it proves presence (and with
/// --read-data the ciphertext); with it, everything a local verify proves. An object
/// altered in place, truncated or deleted in the bucket is caught, each by its check.
#[test]
fn remote_verify_catches_altered_truncated_and_deleted_objects() {
    let c = Cluster::shared();
    let s3 = S3Server::start();
    let (db, dir) = verified_catalog(c, "sealed_verify");
    let src = dir.path().to_str().unwrap();
    for _ in 0..2 {
        std::thread::sleep(std::time::Duration::from_millis(1100));
        common::backup(c, &db, src, &[]);
    }
    let dst = s3.location("weekly");
    let r = copy(Some(&s3), &["--unverified", src, &dst]);
    assert_eq!(r.named("copy.completed").len(), 3, "{:#?}", r.events);

    let r = verify_remote(&s3, &dst, &[]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    assert_eq!(r.named("verify.passed").len(), 3);
    assert_eq!(r.finished()["depth"], "presence");
    // Recorded in the state directory, the verification reaches ops-status.
    let state = tempfile::tempdir().unwrap();
    let recorded = |extra: &[&str]| {
        let mut cmd = c.tool("backup-verify");
        cmd.envs(s3.env())
            .envs(Keys::shared().env())
            .env_remove("PGOPS_IDENTITY_FILE")
            .env("PGOPS_STATE_DIR", state.path())
            .args(["--backup-dir", &dst, "--all-sets"])
            .args(extra);
        ToolRun::check(cmd.output().unwrap())
    };
    let offsite_checks = || -> Value {
        let out = Command::new(testkit::tool_bin("ops-status"))
            .args(["--json", "-d", &db, "--backup-dir", src, "--state-dir"])
            .arg(state.path())
            .output()
            .unwrap();
        let r = ToolRun::check(out);
        r.named("status.database")[0]["offsite_verified"].clone()
    };
    assert_eq!(recorded(&[]).code, 0);
    // The record itself, as its schema says.
    let files: Vec<_> = std::fs::read_dir(state.path().join("remote-verify"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(files.len(), 1);
    let record: Value = serde_json::from_slice(&std::fs::read(files[0].path()).unwrap()).unwrap();
    testkit::schema::check("files/remote-verify.json", &record);
    // offsite.json, written into each copied set by backup-copy.
    for id in std::fs::read_dir(dir.path().join(ops_catalog::catalog::encode_db_dir(&db)))
        .unwrap()
        .flatten()
    {
        let offsite: Value =
            serde_json::from_slice(&std::fs::read(id.path().join("offsite.json")).unwrap())
                .unwrap();
        testkit::schema::check("files/offsite.json", &offsite);
    }
    let checks = offsite_checks();
    assert_eq!(
        checks[0]["destination"],
        dst.trim_end_matches('/'),
        "{checks:#}"
    );
    assert_eq!(
        (checks[0]["passed"].as_bool(), checks[0]["depth"].as_str()),
        (Some(true), Some("presence"))
    );
    let ident = Keys::shared().identity.to_str().unwrap().to_string();
    let r = verify_remote(&s3, &dst, &["--identity", &ident]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let full = r.named("verify.passed");
    assert!(full
        .iter()
        .all(|e| e["depth"] == "full" && e["rows"].as_u64() > Some(0)));

    let st = store(&s3, "weekly");
    let ids: Vec<String> = st.list_dir(&db).unwrap().dirs;
    let dump_of = |id: &str| {
        let set = format!("{db}/{id}");
        let env: Value =
            serde_json::from_slice(&read(&st, &format!("{set}/envelope.json"))).unwrap();
        format!("{set}/{}", object(&env, ".dump.zst"))
    };
    // Altered in place, same size: only reading the data sees it.
    let k = dump_of(&ids[0]);
    let mut bytes = read(&st, &k);
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    put(&st, &k, &bytes);
    // Truncated, and deleted.
    let k = dump_of(&ids[1]);
    let bytes = read(&st, &k);
    put(&st, &k, &bytes[..bytes.len() - 100]);
    st.delete(&dump_of(&ids[2])).unwrap();

    let r = verify_remote(&s3, &dst, &[]);
    assert_eq!(r.code, 1);
    assert_eq!(
        verdicts(&r),
        [
            (ids[0].clone(), "pass".to_string()),
            (ids[1].clone(), "files".into()),
            (ids[2].clone(), "files".into())
        ]
    );
    let r = verify_remote(&s3, &dst, &["--read-data"]);
    assert_eq!(verdicts(&r)[0], (ids[0].clone(), "checksum".to_string()));
    // The newest set lost an object there: ops-status says its copy failed, and how deeply
    // it was checked.
    assert_eq!(recorded(&["--read-data"]).code, 1);
    let checks = offsite_checks();
    assert_eq!(
        (checks[0]["passed"].as_bool(), checks[0]["depth"].as_str()),
        (Some(false), Some("ciphertext")),
        "{checks:#}"
    );
    // Two halves read in turn (a weekly 1/2, 2/2): the altered object is read, and caught,
    // by exactly one of them; the other half gets the presence check.
    let caught = ["1/2", "2/2"]
        .iter()
        .filter(|part| {
            let r = verify_remote(&s3, &dst, &["--read-data-subset", part]);
            verdicts(&r)[0] == (ids[0].clone(), "checksum".to_string())
        })
        .count();
    assert_eq!(caught, 1);
    let r = verify_remote(&s3, &dst, &["--identity", &ident]);
    assert_eq!(
        verdicts(&r),
        [
            (ids[0].clone(), "checksum".to_string()),
            (ids[1].clone(), "checksum".into()),
            (ids[2].clone(), "files".into())
        ],
        "{:#?}",
        r.events
    );
    // Without the public key a sealed catalog proves nothing: refused.
    let r = ToolRun::check(
        c.tool("backup-verify")
            .envs(s3.env())
            .args(["--backup-dir", &dst])
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 2);
    assert_eq!(r.error_code("run.failed"), "public_key_required");
}

/// Remote retention applies its own rules with the public key alone, deletes a set whole
/// (nothing of it left in the bucket), and never counts a set it cannot trust.
#[test]
fn remote_rotation_deletes_whole_sets_and_never_counts_a_forgery() {
    let s3 = S3Server::start();
    let (db, _dir, dst) = sealed_catalog(&s3, "rotate_remote", 3);
    let st = store(&s3, "rotate_remote");
    let ids = st.list_dir(&db).unwrap().dirs;
    // A forged newest set: a real envelope and objects replayed under a newer id.
    let forged = "29991231T000000Z";
    for o in st.list_dir(&format!("{db}/{}", ids[2])).unwrap().objects {
        put(
            &st,
            &format!("{db}/{forged}/{}", o.name),
            &read(&st, &format!("{db}/{}/{}", ids[2], o.name)),
        );
    }

    let r = rotate_remote(&s3, &dst, &["--keep-last", "1", "--dry-run"]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    assert_eq!(r.named("rotate.planned").len(), 2);
    assert_eq!(
        st.list_dir(&db).unwrap().dirs.len(),
        4,
        "a dry run deletes nothing"
    );

    let r = rotate_remote(&s3, &dst, &["--keep-last", "1"]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let kept: Vec<&str> = r
        .named("rotate.kept")
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        kept,
        [ids[2].as_str()],
        "the newest real set, not the forgery"
    );
    let skipped = r.named("rotate.skipped");
    assert!(
        skipped
            .iter()
            .any(|e| e["id"] == forged && e["code"] == "set_misplaced"),
        "{skipped:#?}"
    );
    let left = st.list_dir(&db).unwrap().dirs;
    assert_eq!(
        left,
        [ids[2].clone(), forged.to_string()],
        "nothing of a deleted set is left"
    );
    // The remote copy of what is left is intact.
    let r = verify_remote(&s3, &dst, &["--read-data"]);
    assert_eq!(r.named("verify.passed").len(), 1, "{:#?}", r.events);
}

/// Two hosts' jobs on one bucket at once: copies re-shipping what a tighter remote policy
/// deletes, and rotations deleting it, in a race, round after round. Whatever the
/// interleaving, every set with an envelope is whole (its objects hash to it).
#[test]
fn concurrent_copy_and_rotation_never_leave_a_broken_set() {
    let s3 = S3Server::start();
    let (db, dir, dst) = sealed_catalog(&s3, "race", 3);
    let src = dir.path().to_str().unwrap();
    for round in 0..4 {
        let mut copies: Vec<_> = (0..2)
            .map(|_| {
                copy_cmd(Some(&s3), &["--unverified", src, &dst])
                    .spawn()
                    .unwrap()
            })
            .collect();
        let rotation = rotate_remote_cmd(&s3, &dst, &["--keep-last", "1"])
            .spawn()
            .unwrap();
        for c in copies.iter_mut() {
            let status = c.wait().unwrap();
            assert!(status.code().is_some(), "round {round}: a copy crashed");
        }
        let out = rotation.wait_with_output().unwrap();
        assert!(out.status.code().is_some(), "round {round}");
        let r = verify_remote(&s3, &dst, &["--read-data"]);
        let failed = r.named("verify.failed");
        assert!(failed.is_empty(), "round {round}: {failed:#?}");
        assert!(!r.named("verify.passed").is_empty(), "round {round}");
    }
    let _ = db;
}

/// The monthly drill, straight from the bucket: the set comes down, decrypted and checked,
/// is restored and recounted; the download counts in the RTO.
#[test]
fn a_drill_straight_from_the_bucket_counts_the_download_in_its_rto() {
    let c = Cluster::shared();
    let s3 = S3Server::start();
    let (db, _dir, dst) = sealed_catalog(&s3, "drill_remote", 1);
    let drill = |extra: &[&str]| {
        ToolRun::check(
            c.tool("restore-drill")
                .envs(s3.env())
                .envs(Keys::shared().env())
                .args(["--backup-dir", &dst, "-d", &db])
                .args(extra)
                .output()
                .unwrap(),
        )
    };
    let r = drill(&[]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let done = r.named("drill.completed")[0];
    assert!(
        done["path"].as_str().unwrap().starts_with("s3://"),
        "{done}"
    );
    let download = done["phases"]["download_ms"].as_u64().unwrap();
    assert!(done["rto_ms"].as_u64().unwrap() >= download);
    assert!(done["downloaded_bytes"].as_u64().unwrap() > 0);
    let rows: u64 = c.row_counts(&db).values().sum();
    assert_eq!(done["rows"], rows);
    // A set named that the bucket does not hold, and no identity: clear refusals.
    let r = drill(&["--backup-id", "20200101T000000Z"]);
    assert_eq!(r.error_code("run.failed"), "set_not_found");
    let r = ToolRun::check(
        c.tool("restore-drill")
            .envs(s3.env())
            .envs(Keys::shared().env())
            .env_remove("PGOPS_IDENTITY_FILE")
            .args(["--backup-dir", &dst, "-d", &db])
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 2);
    assert_eq!(r.error_code("run.failed"), "identity_required");
}
