//! The local set rules hold in a bucket too (issue #22, part 1): a damaged set fills no
//! retention period and is never restored in place of an intact one, a set from a clock
//! that ran ahead is `clock_skew` everywhere, and what remote verification passes is what
//! a restore accepts. Each against moto's S3 server and a real PostgreSQL.

mod common;

use common::{read, rotate_remote, sealed_catalog, store, verify_remote};
use ops_offsite::backend::{PutMode, Store};
use serde_json::Value;
use std::process::Command;
use testkit::keys::Keys;
use testkit::s3::S3Server;
use testkit::{Cluster, ToolRun};

/// The object of `set` (`db/id`) holding the file that ends with `suffix`.
fn object_of(st: &dyn Store, set: &str, suffix: &str) -> String {
    let envelope: Value =
        serde_json::from_slice(&read(st, &format!("{set}/envelope.json"))).unwrap();
    let name = envelope["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["file"].as_str().unwrap().ends_with(suffix))
        .unwrap()["name"]
        .as_str()
        .unwrap()
        .to_string();
    format!("{set}/{name}")
}

fn drill_cmd(s3: &S3Server, location: &str, db: &str) -> Command {
    let mut cmd = Cluster::shared().tool("restore-drill");
    cmd.envs(s3.env())
        .envs(Keys::shared().env())
        .args(["--backup-dir", location, "-d", db]);
    cmd
}

/// Remote verification with `--read-data`, recording into the state directory `state`.
fn verify_read_data(s3: &S3Server, dst: &str, state: &std::path::Path) -> ToolRun {
    ToolRun::check(
        Cluster::shared()
            .tool("backup-verify")
            .envs(s3.env())
            .envs(Keys::shared().env())
            .env_remove("PGOPS_IDENTITY_FILE")
            .env("PGOPS_STATE_DIR", state)
            .args(["--backup-dir", dst, "--all-sets", "--read-data"])
            .output()
            .unwrap(),
    )
}

/// Remote rotation that reads the state directory `state` (what verification failed).
fn rotate_with_state(s3: &S3Server, dst: &str, state: &std::path::Path, args: &[&str]) -> ToolRun {
    ToolRun::check(
        common::rotate_remote_cmd(s3, dst, args)
            .env("PGOPS_STATE_DIR", state)
            .output()
            .unwrap(),
    )
}

fn ids_of(r: &ToolRun, event: &str) -> Vec<String> {
    r.named(event)
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

/// The newest set loses an object, the one before is truncated: neither fills a period nor
/// counts for min-keep, so rotation keeps the intact oldest set (before, it kept the
/// damaged newest as `last, min-keep` and deleted every intact set). A drill and a restore
/// pass over both, saying so, and a damaged set asked for by id is refused by name.
#[test]
fn a_damaged_set_in_the_bucket_fills_no_period_and_is_passed_over() {
    let c = Cluster::shared();
    let s3 = S3Server::start();
    let (db, _dir, dst) = sealed_catalog(&s3, "damaged", 3);
    let st = store(&s3, "damaged");
    let ids = st.list_dir(&db).unwrap().dirs;
    assert_eq!(ids.len(), 3);
    st.delete(&object_of(&st, &format!("{db}/{}", ids[2]), ".dump.zst"))
        .unwrap();
    let truncated = object_of(&st, &format!("{db}/{}", ids[1]), ".dump.zst");
    let mut bytes = read(&st, &truncated);
    bytes.truncate(bytes.len() / 2);
    st.put(&truncated, &mut &bytes[..], None, PutMode::Overwrite)
        .unwrap();

    // A drill without --backup-id restores the newest intact set and names what it
    // passed over and why.
    let r = ToolRun::check(drill_cmd(&s3, &dst, &db).output().unwrap());
    assert_eq!(r.code, 0, "{:#?}", r.events);
    assert_eq!(r.named("drill.completed")[0]["id"], ids[0].as_str());
    let over = r.named("set.passed_over");
    assert_eq!(
        ids_of(&r, "set.passed_over"),
        [ids[2].clone(), ids[1].clone()],
        "{over:#?}"
    );
    assert!(over[0]["reason"].as_str().unwrap().contains("missing"));
    assert!(over[1]["reason"].as_str().unwrap().contains("bytes"));
    // Asked for by id, a damaged set is refused with what is wrong and what to do.
    let r = ToolRun::check(
        drill_cmd(&s3, &dst, &db)
            .args(["--backup-id", &ids[2]])
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 1, "{:#?}", r.events);
    assert_eq!(r.error_code("run.failed"), "set_damaged");
    let message = r.named("run.failed")[0]["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains(&ids[0]), "{message}");

    // Rotation: the damaged sets count for nothing; the intact one is kept.
    let r = rotate_remote(&s3, &dst, &["--keep-last", "1", "--min-keep", "1"]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    assert_eq!(ids_of(&r, "rotate.kept"), [ids[0].clone()]);
    let kept = r.named("rotate.kept")[0]["reasons"].clone();
    assert!(
        kept.as_array().unwrap().iter().any(|x| x == "min-keep"),
        "{kept}"
    );
    let deleted = r.named("rotate.deleted");
    assert_eq!(deleted.len(), 2, "{:#?}", r.events);
    for d in deleted {
        let why = d["reasons"][0].as_str().unwrap();
        assert!(why.contains("damaged"), "{why}");
    }
    assert_eq!(st.list_dir(&db).unwrap().dirs, [ids[0].clone()]);

    // What is left still comes back.
    let r = ToolRun::check(drill_cmd(&s3, &dst, &db).output().unwrap());
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let rows: u64 = c.row_counts(&db).values().sum();
    assert_eq!(r.named("drill.completed")[0]["rows"], rows);
}

/// A host whose clock ran three days ahead took and copied a correctly signed set. In the
/// bucket it is `clock_skew`, as locally: remote verification fails it and does not count
/// it as fresh, `--keep-within` is not anchored on it (before, every real set was deleted),
/// and a drill takes the newest real set.
#[test]
fn a_set_from_a_clock_that_ran_ahead_is_clock_skew_in_the_bucket() {
    let c = Cluster::shared();
    let s3 = S3Server::start();
    let (db, dir, dst) = sealed_catalog(&s3, "skew", 1);
    let src = dir.path().to_str().unwrap();
    let ahead = |cmd: Command| {
        let mut f = Command::new("faketime");
        f.arg("-f").arg("+3d").arg(cmd.get_program());
        f.args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => f.env(k, v),
                None => f.env_remove(k),
            };
        }
        ToolRun::check(f.output().expect("faketime (scripts/deps.sh installs it)"))
    };
    let mut b = c.tool("pgdump-run");
    b.args(["-d", &db, "--no-globals", "--backup-dir", src])
        .envs(Keys::shared().env());
    let r = ahead(b);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let future = r.named("backup.completed")[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = ahead(common::copy_cmd(Some(&s3), &["--unverified", src, &dst]));
    assert_eq!(r.named("copy.completed").len(), 1, "{:#?}", r.events);
    let st = store(&s3, "skew");
    let ids = st.list_dir(&db).unwrap().dirs;
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[1], future);

    let r = verify_remote(&s3, &dst, &["--max-age", "1d"]);
    assert_eq!(r.code, 1, "{:#?}", r.events);
    let failed = r.named("verify.failed");
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0]["id"], future.as_str());
    assert!(
        failed[0]["checks"].to_string().contains("clock_skew"),
        "{failed:#?}"
    );
    assert_eq!(ids_of(&r, "verify.passed"), [ids[0].clone()]);

    let r = rotate_remote(&s3, &dst, &["--keep-within", "1d"]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    assert!(r.named("rotate.deleted").is_empty(), "{:#?}", r.events);
    assert_eq!(ids_of(&r, "rotate.kept"), [ids[0].clone()]);
    let skipped = r.named("rotate.skipped");
    assert!(
        skipped
            .iter()
            .any(|e| e["id"] == future.as_str() && e["code"] == "clock_skew"),
        "{skipped:#?}"
    );
    assert_eq!(st.list_dir(&db).unwrap().dirs.len(), 2);

    let r = ToolRun::check(drill_cmd(&s3, &dst, &db).output().unwrap());
    assert_eq!(r.code, 0, "{:#?}", r.events);
    assert_eq!(r.named("drill.completed")[0]["id"], ids[0].as_str());
}

/// A set taken without `--signing-key` is sealed with its manifest signed by the copy (the
/// key that signs the envelope), so that the bucket never holds a set that passes remote
/// verification but that every restore refuses as unsigned.
#[test]
fn an_unsigned_local_set_is_signed_when_it_is_sealed() {
    let c = Cluster::shared();
    let s3 = S3Server::start();
    let db = c.unique_db("unsigned");
    c.load_mixed(&db, "0.002");
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().to_str().unwrap();
    let r = ToolRun::check(
        c.tool("pgdump-run")
            .args(["-d", &db, "--no-globals", "--backup-dir", src])
            .env_remove("PGOPS_SIGNING_KEY")
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let id = r.named("backup.completed")[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let signed_locally = || {
        dir.path()
            .join(&db)
            .join(&id)
            .join("manifest.json.minisig")
            .exists()
    };
    assert!(!signed_locally());
    let dst = s3.location("unsigned");
    // The copy's host does not hold the catalog to a key (no PGOPS_PUBLIC_KEY there): the
    // unsigned set is taken, and sealed with the key that signs the envelope.
    let r = ToolRun::check(
        common::copy_cmd(Some(&s3), &["--unverified", src, &dst])
            .env_remove("PGOPS_PUBLIC_KEY")
            .output()
            .unwrap(),
    );
    assert_eq!(r.named("copy.completed").len(), 1, "{:#?}", r.events);

    // The full remote verification (with the identity) is what a restore does.
    let r = ToolRun::check(
        c.tool("backup-verify")
            .envs(s3.env())
            .envs(Keys::shared().env())
            .args(["--backup-dir", &dst])
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 0, "{:#?}", r.events);
    assert_eq!(r.named("verify.passed")[0]["depth"], "full");
    let r = ToolRun::check(drill_cmd(&s3, &dst, &db).output().unwrap());
    assert_eq!(r.code, 0, "{:#?}", r.events);
    // The local set is left as it was: the signature lives only in the sealed copy.
    assert!(!signed_locally());
}

/// kill -9 of a drill from the bucket once the set is decrypted, and of an ephemeral drill
/// before initdb (issue #22 §2): the decrypted dump is removed by the next drill, which
/// says so (`scratch.removed`); the cluster directory goes with its watchdog.
#[test]
fn what_a_killed_drill_left_is_removed_by_the_next() {
    let s3 = S3Server::start();
    let (db, _dir, dst) = sealed_catalog(&s3, "killed_drill", 1);
    let tmp = tempfile::tempdir().unwrap();
    // A temporary directory as /tmp is: an ephemeral cluster runs as postgres in it.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let entries = |prefix: &str| -> Vec<String> {
        std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(prefix))
            .collect()
    };
    let out = drill_cmd(&s3, &dst, &db)
        .env("TMPDIR", tmp.path())
        .env("PGOPS_FAILPOINT", "fetch.after_unseal")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), None, "killed by SIGKILL");
    let left = entries("pgops-restore-");
    assert_eq!(left.len(), 1, "the decrypted set is left: {left:?}");
    let r = ToolRun::check(
        drill_cmd(&s3, &dst, &db)
            .env("TMPDIR", tmp.path())
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let removed = r.named("scratch.removed");
    assert_eq!(removed.len(), 1, "{:#?}", r.events);
    assert!(removed[0]["path"].as_str().unwrap().ends_with(&left[0]));
    assert!(entries("pgops-restore-").is_empty());

    let out = drill_cmd(&s3, &dst, &db)
        .env("TMPDIR", tmp.path())
        .arg("--ephemeral")
        .env("PGOPS_FAILPOINT", "cluster.before_initdb")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), None, "killed by SIGKILL");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !entries("pgops-cluster-").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the cluster directory stays: {:?}",
            entries("pgops-cluster-")
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// A ciphertext altered in place (its size unchanged: no listing shows it) fails the
/// remote verification with `--read-data`; remote rotation then counts that set for
/// nothing, as a local set whose verify.json failed. An object its envelope does not name
/// is reported (issue #22 §1, §2).
#[test]
fn a_set_that_failed_its_remote_check_fills_no_period_and_strays_are_reported() {
    let s3 = S3Server::start();
    let (db, _dir, dst) = sealed_catalog(&s3, "altered", 3);
    let st = store(&s3, "altered");
    let ids = st.list_dir(&db).unwrap().dirs;
    let altered = object_of(&st, &format!("{db}/{}", ids[1]), ".dump.zst");
    let mut bytes = read(&st, &altered);
    let last = bytes.len() - 1;
    bytes[last / 2] ^= 0xff;
    st.put(&altered, &mut &bytes[..], None, PutMode::Overwrite)
        .unwrap();
    let stray = format!("{db}/{}/leftover.partial.age", ids[2]);
    st.put(&stray, &mut &b"not named"[..], None, PutMode::Overwrite)
        .unwrap();
    let state = tempfile::tempdir().unwrap();

    let r = verify_read_data(&s3, &dst, state.path());
    assert_eq!(r.code, 1, "{:#?}", r.events);
    assert_eq!(ids_of(&r, "verify.failed"), [ids[1].clone()]);
    let strays: Vec<&Value> = r
        .named("verify.finding")
        .into_iter()
        .filter(|f| f["kind"] == "stray_objects")
        .collect();
    assert_eq!(strays.len(), 1, "{:#?}", r.events);
    assert_eq!(strays[0]["id"], ids[2].as_str());

    let r = rotate_with_state(&s3, &dst, state.path(), &["--keep-last", "2"]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    assert_eq!(ids_of(&r, "rotate.kept"), [ids[2].clone(), ids[0].clone()]);
    assert_eq!(ids_of(&r, "rotate.deleted"), [ids[1].clone()]);
    let why = r.named("rotate.deleted")[0]["reasons"][0].to_string();
    assert!(why.contains("verification failed"), "{why}");
}

/// A database really named `_globals` and the globals sets are two directories in the
/// bucket too: a set of that database whose ciphertext was altered fails the remote check,
/// and rotation counts *its* set for nothing, never the globals set of the same id
/// (remote verdicts are recorded by directory, not by label).
#[test]
fn a_database_named_globals_is_not_the_globals_in_the_bucket() {
    let s3 = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let ids = ["20261120T030000Z", "20261121T030000Z"];
    let key = ops_catalog::keys::SigningKey::from_file(&Keys::shared().signing_key).unwrap();
    for id in ids {
        for database in [Some("_globals"), None] {
            let set = testkit::fake::write_set(dir.path(), database, id);
            let (_, mut m) =
                ops_catalog::catalog::load_manifest(&set.join("manifest.json")).unwrap();
            // As pgdump-run writes it (a fake globals set leaves the name empty).
            m.database = "_globals".into();
            ops_catalog::catalog::write_signed_manifest(&set, &m, Some(&key)).unwrap();
        }
    }
    let src = dir.path().to_str().unwrap();
    let dst = s3.location("named");
    let r = common::copy(Some(&s3), &["--unverified", src, &dst]);
    assert_eq!(r.named("copy.completed").len(), 4, "{:#?}", r.events);
    let st = store(&s3, "named");
    let db_dir = ops_catalog::catalog::encode_db_dir("_globals");
    assert_ne!(db_dir, "_globals");
    let altered = object_of(&st, &format!("{db_dir}/{}", ids[1]), ".dump");
    let mut bytes = read(&st, &altered);
    bytes[0] ^= 0xff;
    st.put(&altered, &mut &bytes[..], None, PutMode::Overwrite)
        .unwrap();
    let state = tempfile::tempdir().unwrap();

    let r = verify_read_data(&s3, &dst, state.path());
    assert_eq!(r.code, 1, "{:#?}", r.events);
    let failed = r.named("verify.failed");
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0]["database"], "_globals");
    assert_eq!(failed[0]["id"], ids[1]);
    assert!(
        failed[0]["path"].as_str().unwrap().contains(&db_dir),
        "{failed:#?}"
    );
    assert_eq!(r.named("verify.passed").len(), 3, "{:#?}", r.events);

    let r = rotate_with_state(&s3, &dst, state.path(), &["--keep-last", "1"]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let deleted: Vec<(String, String)> = r
        .named("rotate.deleted")
        .iter()
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_string(),
                e["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(deleted.len(), 2, "{:#?}", r.events);
    // The database's altered newest set goes; the globals keep their newest.
    assert!(
        deleted
            .iter()
            .any(|(p, id)| p.contains(&format!("/{db_dir}/")) && id == ids[1]),
        "{deleted:?}"
    );
    assert!(
        deleted
            .iter()
            .any(|(p, id)| p.contains("/_globals/") && id == ids[0]),
        "{deleted:?}"
    );
    assert_eq!(st.list_dir("_globals").unwrap().dirs, [ids[1]]);
    assert_eq!(st.list_dir(&db_dir).unwrap().dirs, [ids[0]]);
}
