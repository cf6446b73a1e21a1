//! Several destinations in one run (a second provider through an AWS profile, a second
//! disk): each served and reported on its own, one that cannot be reached does not stop
//! the others, and health judges each destination on its own, so a stale second one is
//! not hidden behind a fresh first.

mod common;

use common::{copy, verified_catalog};
use testkit::s3::S3Server;
use testkit::{Cluster, ToolRun};

#[test]
fn each_destination_is_served_and_judged_on_its_own() {
    let first = S3Server::start();
    let second = S3Server::start();
    let c = Cluster::shared();
    let (_db, dir) = verified_catalog(c, "dests");
    let src = dir.path().to_str().unwrap().to_string();
    // The second provider and a dead one, as AWS profiles (keys in files, never argv).
    let aws = tempfile::tempdir().unwrap();
    let dead = testkit::free_port();
    std::fs::write(
        aws.path().join("credentials"),
        "[second]\naws_access_key_id = k2\naws_secret_access_key = Sentinel-s3-secret-5d8a1b\n\n[dead]\naws_access_key_id = k3\naws_secret_access_key = Sentinel-s3-secret-5d8a1b\n",
    )
    .unwrap();
    std::fs::write(
        aws.path().join("config"),
        format!(
            "[profile second]\nregion = us-east-1\nendpoint_url = {}\n\n[profile dead]\nregion = us-east-1\nendpoint_url = http://127.0.0.1:{dead}\n",
            second.endpoint()
        ),
    )
    .unwrap();
    let profiles = [
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            aws.path().join("credentials"),
        ),
        ("AWS_CONFIG_FILE", aws.path().join("config")),
    ];
    let disk = tempfile::tempdir().unwrap();
    let a = first.location("a");
    let b = "s3://pgops/b?profile=second".to_string();
    let d = disk.path().join("copies").to_str().unwrap().to_string();
    let run = |dests: &[&str]| {
        let mut cmd = common::copy_cmd(Some(&first), &[]);
        cmd.envs(profiles.iter().cloned()).arg(&src).args(dests);
        ToolRun::check(cmd.output().unwrap())
    };

    let r = run(&[&a, &b, &d]);
    assert_eq!(r.code, 0, "{:#?}\n{}", r.events, r.stderr);
    let mut to: Vec<String> = r
        .named("copy.completed")
        .iter()
        .map(|e| e["destination"].as_str().unwrap().to_string())
        .collect();
    to.sort();
    assert_eq!(to.len(), 3, "{to:?}");
    assert!(
        to.contains(&b),
        "the second provider keeps its profile in its name: {to:?}"
    );
    // The second provider's server holds the set; the first's does not hold b.
    let listed =
        String::from_utf8(second.aws(&["s3", "ls", "--recursive", "s3://pgops/b/"])).unwrap();
    assert!(listed.contains("envelope.json"), "{listed}");

    // One destination unreachable: reported by itself, the others still served.
    let gone = "s3://pgops/x?profile=dead";
    let r = run(&[gone, &a]);
    assert_eq!(r.code, 3, "{:#?}", r.events);
    let failed = r.named("copy.failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["scope"], "destination");
    assert_eq!(failed[0]["destination"], gone);
    assert_eq!(failed[0]["error"]["code"], "store_unreachable");
    assert_eq!(
        r.named("copy.skipped")[0]["code"],
        "at_destination",
        "a was served"
    );
    assert_eq!(r.finished()["destinations_failed"], 1);
    assert!(!r.stderr.contains(testkit::SENTINEL_S3_SECRET));

    // Later, only the first destination is re-confirmed: health names the other two,
    // each on its own.
    std::thread::sleep(std::time::Duration::from_secs(4));
    let r = copy(Some(&first), &[&src, &a]);
    assert_eq!(r.code, 0);
    let out = c
        .tool("ops-status")
        .env("PGOPS_REMOTE", format!("{a} {b} {d}"))
        .args([
            "health",
            "--backup-dir",
            &src,
            "--max-offsite-age",
            "3s",
            "--no-audit",
        ])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let off = doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "offsite_fresh")
        .unwrap();
    let reasons: Vec<&str> = off["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons.iter().any(|r| r.contains(&b)) && reasons.iter().any(|r| r.contains(&d)),
        "{reasons:?}"
    );
    assert!(
        !reasons.iter().any(|r| r.contains(&format!("{a} "))),
        "{reasons:?}"
    );
}
