//! backup-copy against a real PostgreSQL and a real S3-compatible server process (moto) on
//! loopback: what is copied, what is skipped and why, resumption after a kill, and the
//! errors of a destination that is missing or unreachable.

mod common;

use common::{backup, copy, copy_cmd, store, verified_catalog};
use ops_offsite::backend::Store;
use serde_json::Value;
use std::io::Read;
use std::path::Path;
use testkit::s3::S3Server;
use testkit::{Cluster, ToolRun};

fn ids(r: &ToolRun, event: &str) -> Vec<String> {
    r.named(event)
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn verified_sets_go_off_site_once_and_unverified_ones_only_when_asked() {
    let c = Cluster::shared();
    let s3 = S3Server::start();
    let (db, dir) = verified_catalog(c, "copy_s3");
    let src = dir.path().to_str().unwrap();
    let dst = s3.location("ship");

    let r = copy(Some(&s3), &["--dry-run", src, &dst]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    assert_eq!(r.named("copy.planned").len(), 1);
    assert!(
        store(&s3, "ship").list_dir("").unwrap().dirs.is_empty(),
        "a dry run copies nothing"
    );

    let r = copy(Some(&s3), &[src, &dst]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let done = r.named("copy.completed");
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["database"], db.as_str());
    // Ciphertext: the files, the manifest and age's 16 bytes a 64 KiB chunk.
    assert!(done[0]["bytes_sent"].as_u64() > done[0]["bytes"].as_u64());
    // The destination holds the set as the source does, and describes itself.
    let st = store(&s3, "ship");
    assert!(st.size(backup_copy::DESCRIPTOR).unwrap().is_some());
    let set = format!("{db}/{}", done[0]["id"].as_str().unwrap());
    let objects = st.list_dir(&set).unwrap().objects;
    let mut names: Vec<String> = objects.iter().map(|o| o.name.clone()).collect();
    // Sealed: every file encrypted under a per-writer nonce, the envelope and its
    // signature in clear; nothing else.
    let nonce = names
        .iter()
        .find_map(|n| n.strip_prefix("envelope.")?.strip_suffix(".minisig"))
        .unwrap()
        .to_string();
    names.sort();
    let mut want = vec![
        format!("{db}.dump.zst.{nonce}.age"),
        format!("envelope.{nonce}.minisig"),
        "envelope.json".to_string(),
        format!("manifest.json.{nonce}.age"),
        format!("manifest.json.minisig.{nonce}.age"),
    ];
    want.sort();
    assert_eq!(names, want);

    // The source set records where its copy is (ops-status reads it).
    let set_dir = dir.path().join(&db).join(done[0]["id"].as_str().unwrap());
    let offsite: Value =
        serde_json::from_slice(&std::fs::read(set_dir.join("offsite.json")).unwrap()).unwrap();
    assert_eq!(offsite["copies"][0]["destination"], dst.as_str());
    assert_eq!(offsite["copies"][0]["mode"], "seal");

    // Again: nothing to send.
    let r = copy(Some(&s3), &[src, &dst]);
    assert_eq!(r.named("copy.skipped")[0]["code"], "at_destination");
    assert_eq!(r.finished()["bytes_sent"], 0);

    // A set no verify has passed waits, unless --unverified.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let newer = backup(c, &db, src, &[])["id"].as_str().unwrap().to_string();
    let r = copy(Some(&s3), &[src, &dst]);
    let waiting: Vec<&Value> = r
        .named("copy.skipped")
        .into_iter()
        .filter(|e| e["code"] == "not_verified")
        .collect();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0]["id"], newer.as_str());
    let r = copy(Some(&s3), &["--unverified", src, &dst]);
    assert_eq!(ids(&r, "copy.completed"), [newer]);
}

#[test]
fn a_copy_killed_before_its_manifest_leaves_no_set_and_the_next_resumes() {
    let c = Cluster::shared();
    let s3 = S3Server::start();
    let (db, dir) = verified_catalog(c, "copy_kill");
    let src = dir.path().to_str().unwrap();
    let dst = s3.location("killed");
    let out = copy_cmd(Some(&s3), &[src, &dst])
        .env("PGOPS_FAILPOINT", "copy.before_manifest")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        None,
        "killed by SIGKILL: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let st = store(&s3, "killed");
    let sets = st.list_dir(&db).unwrap().dirs;
    assert_eq!(sets.len(), 1, "the data is there");
    let set = format!("{db}/{}", sets[0]);
    assert!(
        st.size(&format!("{set}/envelope.json")).unwrap().is_none(),
        "but no envelope: not a set"
    );
    let r = copy(Some(&s3), &[src, &dst]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let done = r.named("copy.completed");
    assert_eq!(
        done[0]["bytes_sent"], 0,
        "the data was kept, not sent again"
    );
    assert_eq!(done[0]["bytes_resumed"], done[0]["bytes"]);
    assert!(st.size(&format!("{set}/envelope.json")).unwrap().is_some());
}

#[test]
fn a_second_disk_gets_the_same_files() {
    let c = Cluster::shared();
    let (db, dir) = verified_catalog(c, "copy_local");
    let second = tempfile::tempdir().unwrap();
    let dst = second.path().join("catalog");
    // No recipients: files as they are (with them, a directory gets sealed sets too).
    let r = ToolRun::check(
        copy_cmd(None, &[dir.path().to_str().unwrap(), dst.to_str().unwrap()])
            .env_remove("PGOPS_RECIPIENTS_FILE")
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let id = r.named("copy.completed")[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for f in [format!("{db}.dump.zst"), "manifest.json".into()] {
        let a = std::fs::read(dir.path().join(&db).join(&id).join(&f)).unwrap();
        let b = std::fs::read(dst.join(&db).join(&id).join(&f)).unwrap();
        assert!(a == b, "{f} is identical");
    }
    // The copy is a catalog the other tools read: verify passes it.
    let r = ToolRun::check(
        c.tool("backup-verify")
            .args(["--backup-dir", dst.to_str().unwrap()])
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 0, "{:#?}", r.events);
    assert!(Path::new(&dst.join(backup_copy::DESCRIPTOR)).is_file());
}

#[test]
fn a_missing_bucket_and_an_unreachable_endpoint_stop_the_run_with_a_clear_code() {
    let c = Cluster::shared();
    let s3 = S3Server::start();
    let (_db, dir) = verified_catalog(c, "copy_err");
    let src = dir.path().to_str().unwrap();
    let r = copy(Some(&s3), &[src, "s3://no-such-bucket/x"]);
    assert_eq!(r.code, 3, "{:#?}", r.events);
    assert_eq!(r.error_code("run.failed"), "store_bucket_missing");
    let port = testkit::free_port().to_string();
    let r = ToolRun::check(
        copy_cmd(Some(&s3), &[src, &s3.location("x")])
            .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 3, "{:#?}", r.events);
    assert_eq!(r.error_code("run.failed"), "store_unreachable");
    // Never plaintext off the host, never an unsigned set.
    let r = ToolRun::check(
        copy_cmd(Some(&s3), &[src, &s3.location("x")])
            .env_remove("PGOPS_RECIPIENTS_FILE")
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 2);
    assert_eq!(r.error_code("run.failed"), "encryption_required");
    let r = ToolRun::check(
        copy_cmd(Some(&s3), &[src, &s3.location("x")])
            .env_remove("PGOPS_SIGNING_KEY")
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 2);
    assert_eq!(r.error_code("run.failed"), "signing_key_required");
    let r = copy(Some(&s3), &[src, "ftp://x/y"]);
    assert_eq!(r.code, 2);
    assert_eq!(r.error_code("run.failed"), "invalid_location");
}

/// A store that throttles (503 SlowDown) and drops connections mid-part: the copy retries
/// and the set arrives whole (its SHA-256 as read back from the store equals the
/// manifest's).
#[test]
fn throttling_and_connections_reset_mid_part_are_survived_by_retry() {
    use testkit::faulty::{FaultProxy, Faults};
    let c = Cluster::shared();
    let s3 = S3Server::start();
    // An uncompressed set, so that its dump needs a multipart upload (parts of 8 MiB).
    let db = c.unique_db("copy_faults");
    c.load_mixed(&db, "0.03");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let done = &backup(c, &db, root, &["--compress", "none"]);
    assert!(
        done["bytes"].as_u64().unwrap() > 9 << 20,
        "more than one part: {done}"
    );
    let proxy = FaultProxy::start(
        s3.port,
        Faults {
            slowdown_first: 3,
            reset_parts: 1,
            ..Faults::default()
        },
    );
    let r = ToolRun::check(
        copy_cmd(
            Some(&s3),
            &[
                "--unverified",
                "--retry-timeout",
                "60s",
                root,
                &s3.location("faults"),
            ],
        )
        .env(
            "AWS_ENDPOINT_URL",
            format!("http://127.0.0.1:{}", proxy.port),
        )
        .output()
        .unwrap(),
    );
    assert_eq!(r.code, 0, "{:#?}\n{}", r.events, r.stderr);
    assert!(proxy.slowed.load(std::sync::atomic::Ordering::SeqCst) > 3);
    assert!(
        proxy.reset.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "a part was cut"
    );
    // What the store holds is what the envelope says, read back through the store.
    let st = store(&s3, "faults");
    let id = done["id"].as_str().unwrap();
    let mut text = Vec::new();
    st.open(&format!("{db}/{id}/envelope.json"))
        .unwrap()
        .read_to_end(&mut text)
        .unwrap();
    let envelope: Value = serde_json::from_slice(&text).unwrap();
    let file = done["file"].as_str().unwrap();
    let object = envelope["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["file"] == file)
        .unwrap();
    let mut back = Vec::new();
    st.open(&format!("{db}/{id}/{}", object["name"].as_str().unwrap()))
        .unwrap()
        .read_to_end(&mut back)
        .unwrap();
    use sha2::Digest;
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&back)),
        object["sha256"].as_str().unwrap()
    );
}

/// Wrong credentials on a server that checks signatures stop the run as `store_denied`
/// (exit 3), and the secret appears nowhere.
#[test]
fn wrong_credentials_stop_the_run_as_denied() {
    let c = Cluster::shared();
    let s3 = S3Server::start_with_auth();
    let (_db, dir) = verified_catalog(c, "copy_auth");
    let src = dir.path().to_str().unwrap();
    let r = ToolRun::check(
        copy_cmd(Some(&s3), &[src, &s3.location("auth")])
            .env("AWS_SECRET_ACCESS_KEY", testkit::SENTINEL_S3_SECRET)
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 3, "{:#?}", r.events);
    assert_eq!(r.error_code("run.failed"), "store_denied");
    let r = copy(Some(&s3), &[src, &s3.location("auth")]);
    assert_eq!(r.code, 0, "the right keys copy: {:#?}", r.events);
}

/// The S3 endpoint stops mid-copy: the run fails with a clear code and leaves no set
/// visible; once the endpoint is back, the next run resumes without sending again what
/// arrived, and every set is whole.
#[test]
fn the_endpoint_stopped_mid_copy_leaves_no_set_and_the_next_run_resumes() {
    use testkit::faulty::{FaultProxy, Faults};
    let c = Cluster::shared();
    let s3 = S3Server::start();
    let (db, dir) = verified_catalog(c, "copy_down");
    let root = dir.path().to_str().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    backup(c, &db, root, &[]);
    // The descriptor, then the first set's dump and manifest; then the endpoint is gone.
    let proxy = FaultProxy::start(
        s3.port,
        Faults {
            down_after_puts: Some(3),
            ..Faults::default()
        },
    );
    let endpoint = format!("http://127.0.0.1:{}", proxy.port);
    let dst = s3.location("down");
    let run = |extra: &[&str]| {
        let mut args = vec!["--unverified"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[root, &dst]);
        ToolRun::check(
            copy_cmd(Some(&s3), &args)
                .env("AWS_ENDPOINT_URL", &endpoint)
                .output()
                .unwrap(),
        )
    };
    let r = run(&[]);
    assert_eq!(r.code, 3, "{:#?}", r.events);
    let code = r.error_code("run.failed").to_string();
    assert!(
        ["store_unreachable", "store_failed"].contains(&code.as_str()),
        "{code}"
    );
    assert!(r.named("copy.completed").is_empty());
    let st = store(&s3, "down");
    for set in st.list_dir(&db).unwrap().dirs {
        assert!(
            st.size(&format!("{db}/{set}/envelope.json"))
                .unwrap()
                .is_none(),
            "no set is visible before it is complete"
        );
    }
    proxy.set_down(false);
    let r = run(&["--retry-timeout", "10s"]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let done = r.named("copy.completed");
    assert_eq!(done.len(), 2);
    assert!(done[0]["bytes_resumed"].as_u64() > Some(0), "{done:#?}");
    let r = ToolRun::check(
        c.tool("backup-verify")
            .envs(s3.env())
            .envs(testkit::keys::Keys::shared().env())
            .args(["--backup-dir", &dst, "--all-sets", "--read-data"])
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 0, "{:#?}", r.events);
    assert_eq!(r.named("verify.passed").len(), 2);
}

fn plain_copy(src: &Path, dst: &Path, failpoint: Option<&str>) -> std::process::Output {
    let mut cmd = copy_cmd(None, &[src.to_str().unwrap(), dst.to_str().unwrap()]);
    cmd.env_remove("PGOPS_RECIPIENTS_FILE");
    if let Some(f) = failpoint {
        cmd.env("PGOPS_FAILPOINT", f);
    }
    cmd.output().unwrap()
}

/// kill -9 of a copy to a second disk while a file is being placed (issue #22 §2): the
/// temporary file it left inside the set is removed by the next run before the set is
/// published, so the set verifies (before, it was published around the debris and failed
/// verification for ever).
#[test]
fn a_plain_copy_killed_mid_file_leaves_no_debris_in_the_published_set() {
    let c = Cluster::shared();
    let (db, dir) = verified_catalog(c, "copy_plain_kill");
    let second = tempfile::tempdir().unwrap();
    let dst = second.path().join("catalog");
    let out = plain_copy(dir.path(), &dst, Some("store.local.before_place"));
    assert_eq!(out.status.code(), None, "killed by SIGKILL");
    let debris = |dst: &Path| -> Vec<String> {
        testkit::walk(dst)
            .into_iter()
            .filter(|p| p.to_string_lossy().contains(".partial-"))
            .map(|p| p.display().to_string())
            .collect()
    };
    assert_eq!(debris(&dst).len(), 1, "the killed run left its temporary");
    let r = ToolRun::check(plain_copy(dir.path(), &dst, None));
    assert_eq!(r.code, 0, "{:#?}", r.events);
    assert_eq!(r.named("copy.completed").len(), 1);
    assert!(debris(&dst).is_empty(), "{:?}", debris(&dst));
    let r = ToolRun::check(
        c.tool("backup-verify")
            .args(["--backup-dir", dst.to_str().unwrap(), "-d", &db])
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 0, "{:#?}", r.events);
}

/// Two copies of one set to one second disk at once (issue #22 §2): exactly one says it
/// copied the set; the other says another copy published it (or that it was there).
#[test]
fn of_two_concurrent_copies_one_says_it_copied_nothing() {
    let c = Cluster::shared();
    let (_db, dir) = verified_catalog(c, "copy_twice");
    for round in 0..4 {
        let second = tempfile::tempdir().unwrap();
        let dst = second.path().join("catalog");
        let spawn = || {
            let mut cmd = copy_cmd(None, &[dir.path().to_str().unwrap(), dst.to_str().unwrap()]);
            cmd.env_remove("PGOPS_RECIPIENTS_FILE")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn(), spawn());
        let runs = [a, b].map(|p| ToolRun::check(p.wait_with_output().unwrap()));
        let completed: usize = runs.iter().map(|r| r.named("copy.completed").len()).sum();
        assert_eq!(
            completed,
            1,
            "round {round}: {:#?}",
            runs.each_ref().map(|r| &r.events)
        );
        let other: Vec<&Value> = runs.iter().flat_map(|r| r.named("copy.skipped")).collect();
        assert_eq!(other.len(), 1, "round {round}");
        assert!(
            ["copied_by_another", "at_destination"].contains(&other[0]["code"].as_str().unwrap()),
            "{other:#?}"
        );
    }
}

/// kill -9 of a sealed copy right after an object reached the bucket, before it was
/// journaled (issue #22 §2): the next run sends it again under the same name, so no
/// full-size stray is left beside the set.
#[test]
fn a_sealed_copy_killed_after_an_upload_leaves_no_stray_object() {
    let c = Cluster::shared();
    let s3 = S3Server::start();
    let (db, dir) = verified_catalog(c, "copy_stray");
    let src = dir.path().to_str().unwrap();
    let dst = s3.location("stray");
    let out = copy_cmd(Some(&s3), &[src, &dst])
        .env("PGOPS_FAILPOINT", "copy.after_put")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), None, "killed by SIGKILL");
    let r = copy(Some(&s3), &[src, &dst]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let st = store(&s3, "stray");
    let set = format!("{db}/{}", st.list_dir(&db).unwrap().dirs[0]);
    let mut envelope = String::new();
    st.open(&format!("{set}/envelope.json"))
        .unwrap()
        .read_to_string(&mut envelope)
        .unwrap();
    let envelope: Value = serde_json::from_str(&envelope).unwrap();
    let named = envelope["objects"].as_array().unwrap().len();
    let listed = st.list_dir(&set).unwrap().objects;
    // The envelope's objects, its signature and itself: nothing else.
    assert_eq!(listed.len(), named + 2, "{listed:#?}");
}

/// After an off-site copy, the source catalog holds backup-copy's journals (`.copy-state`):
/// pgops' own, so the nightly verification does not warn about them (issue #22 §5).
#[test]
fn the_nightly_verify_does_not_warn_about_the_copy_journals() {
    let c = Cluster::shared();
    let s3 = S3Server::start();
    let (_db, dir) = verified_catalog(c, "copy_state");
    let src = dir.path().to_str().unwrap();
    // Killed before the envelope: the journal stays in the source catalog.
    let out = copy_cmd(Some(&s3), &[src, &s3.location("state")])
        .env("PGOPS_FAILPOINT", "copy.before_manifest")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), None);
    assert!(dir.path().join(".copy-state").is_dir());
    let r = ToolRun::check(
        c.tool("backup-verify")
            .args(["--backup-dir", src])
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 0, "{:#?}", r.events);
    assert!(r.named("verify.finding").is_empty(), "{:#?}", r.events);
}

/// A copy that leaves nothing off-site is not "ok" (issue #22 §5): an empty source, or
/// every set skipped as unverified, exits 1 with `nothing_copied`; a recipients file that
/// does not exist is a setting to fix (exit 2, `key_missing`); a missing bucket says how to
/// make it.
#[test]
fn a_copy_that_leaves_nothing_off_site_says_so() {
    let c = Cluster::shared();
    let s3 = S3Server::start();
    let empty = tempfile::tempdir().unwrap();
    let r = copy(
        Some(&s3),
        &[empty.path().to_str().unwrap(), &s3.location("nothing")],
    );
    assert_eq!(r.code, 1, "{:#?}", r.events);
    assert_eq!(r.error_code("run.failed"), "nothing_copied");

    let db = c.unique_db("copy_unverified_only");
    let dir = tempfile::tempdir().unwrap();
    backup(c, &db, dir.path().to_str().unwrap(), &[]);
    let r = copy(
        Some(&s3),
        &[dir.path().to_str().unwrap(), &s3.location("nothing")],
    );
    assert_eq!(r.code, 1, "{:#?}", r.events);
    assert_eq!(r.error_code("run.failed"), "nothing_copied");
    assert_eq!(r.named("copy.skipped")[0]["code"], "not_verified");

    let r = ToolRun::check(
        copy_cmd(
            Some(&s3),
            &[
                "--unverified",
                dir.path().to_str().unwrap(),
                &s3.location("nothing"),
            ],
        )
        .env(
            "PGOPS_RECIPIENTS_FILE",
            dir.path().join("no-such-recipients.txt"),
        )
        .output()
        .unwrap(),
    );
    assert_eq!(r.code, 2, "{:#?}", r.events);
    assert_eq!(r.error_code("run.failed"), "key_missing");

    let r = copy(
        Some(&s3),
        &[
            "--unverified",
            dir.path().to_str().unwrap(),
            "s3://no-such-bucket/p",
        ],
    );
    assert_eq!(r.code, 3, "{:#?}", r.events);
    assert_eq!(r.error_code("run.failed"), "store_bucket_missing");
    let message = r.named("run.failed")[0]["error"]["message"].to_string();
    assert!(message.contains("aws s3 mb"), "{message}");
}
