//! Runs the exact commands of `docs/runbooks/restore.md` on real sets and compares every
//! restored table's count(*) with the manifest.

mod common;

use common::*;
use std::path::Path;
use testkit::Cluster;

#[test]
fn every_runbook_restore_command_restores_every_row() {
    let c = Cluster::shared();
    let src = c.unique_db("runbook_src");
    c.load_tricky(&src);
    c.load_mixed(&src, "0.002");
    let expected = c.row_counts(&src);
    let blocks = testkit::runbook_blocks("docs/runbooks/restore.md", "restore:");
    let names: Vec<&str> = blocks.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "custom-zstd",
            "custom-gzip",
            "custom-none",
            "directory-zstd",
            "directory-gzip",
            "directory-none",
            "plain-zstd",
            "plain-gzip",
            "plain-none"
        ]
    );
    for (name, body) in &blocks {
        let (format, compress) = name.split_once('-').unwrap();
        let (_dir, done) = backup_as(c, &src, format, compress);
        let archive =
            Path::new(done["path"].as_str().unwrap()).join(done["file"].as_str().unwrap());
        let target = c.unique_db("runbook_dst");
        let mut cmd = std::process::Command::new("bash");
        c.configure(&mut cmd);
        let path = std::env::var("PATH").unwrap_or_default();
        let out = cmd
            .env("PATH", format!("{}:{path}", c.bin_dir().display()))
            .env("ARCHIVE", &archive)
            .env("TARGET_DB", &target)
            .args(["-euo", "pipefail", "-c", body])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let m = manifest(done["path"].as_str().unwrap());
        assert_eq!(
            c.row_counts(&target),
            manifest_rows(&m),
            "{name}: restored rows equal the manifest"
        );
        assert_eq!(
            manifest_rows(&m),
            expected,
            "{name}: manifest equals the source"
        );
        let los: i64 = c
            .connect(&target)
            .query_one("SELECT count(*) FROM pg_largeobject_metadata", &[])
            .unwrap()
            .get(0);
        assert_eq!(
            los as u64,
            m["large_objects"].as_u64().unwrap(),
            "{name}: large objects"
        );
        c.drop_db(&target);
    }
}
