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
    let stranger = Keys::make(&dir.path().join("stranger"), "stranger");
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

    // Another key, trusted alone, may not write into the catalog the old key signs.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let r = copy(&stranger.signing_key, &stranger.public_key);
    assert_eq!(
        r.named("run.failed")[0]["error"]["code"],
        "catalog_key_mismatch",
        "{:#?}",
        r.events
    );

    // docs/runbooks/key-rotation.md, verbatim; the next night's backup between its steps.
    let etc = dir.path().join("etc");
    std::fs::create_dir(&etc).unwrap();
    std::fs::copy(&old.public_key, etc.join("minisign.pub")).unwrap();
    let blocks = testkit::runbook_blocks("docs/runbooks/key-rotation.md", "keys:");
    let names: Vec<&str> = blocks.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "new-signing-key",
            "use-new-key",
            "prove-signing",
            "reseal",
            "prove-reseal"
        ]
    );
    let night = format!(
        "pgdump-run -d '{db}' --no-globals --backup-dir \"$PGOPS_BACKUP_DIR\" > /dev/null\n\
         backup-verify --backup-dir \"$PGOPS_BACKUP_DIR\" --all-sets > /dev/null\n"
    );
    let script: String = blocks[..2]
        .iter()
        .map(|(_, b)| b.clone())
        .chain(std::iter::once(night))
        .chain(blocks[2..].iter().map(|(_, b)| b.clone()))
        .collect();
    let work = tempfile::tempdir().unwrap();
    let bins = testkit::tool_bin("backup-bucket");
    for t in ["pgdump-run", "backup-verify", "backup-copy"] {
        testkit::tool_bin(t);
    }
    let path = std::env::var("PATH").unwrap_or_default();
    let mut sh = Command::new("bash");
    c.configure(&mut sh);
    let out = sh
        .current_dir(work.path())
        .env(
            "PATH",
            format!("{}:{path}", bins.parent().unwrap().display()),
        )
        .envs(s3.env())
        .env("PGOPS_ETC", &etc)
        .env("PGOPS_BACKUP_DIR", &cat)
        .env("PGOPS_REMOTE", &dst)
        .env("PGOPS_SIGNING_KEY", &old.signing_key)
        .env("PGOPS_PUBLIC_KEY", &old.public_key)
        .env("PGOPS_RECIPIENTS_FILE", &old.recipients_file)
        .env("PGOPS_IDENTITY_FILE", &old.identity)
        .args(["-euo", "pipefail", "-c", &script])
        .output()
        .unwrap();
    let stdout = testkit::runbook_stdout(&out);
    for (word, n) in [("verified ", 2), ("resealed ", 2), ("opened ", 2)] {
        let lines = stdout.lines().filter(|l| l.starts_with(word)).count();
        assert_eq!(lines, n, "{word}: {stdout}");
    }
    let descriptor: serde_json::Value =
        serde_json::from_slice(&s3.aws(&["s3", "cp", "s3://pgops/rekey/pgops-catalog.json", "-"]))
            .unwrap();
    assert_eq!(
        descriptor["previous_keys"].as_array().unwrap().len(),
        1,
        "{descriptor}"
    );
    let new_recipient = std::fs::read_to_string(work.path().join("recipients-new")).unwrap();
    assert_eq!(descriptor["recipients"][0], new_recipient.trim());

    // Re-sealing signed every envelope with the new key; the manifests inside are still the
    // ones the host signed. The old key retired from the keyring: the full check (the new
    // identity) refuses the set whose manifest it signed, and passes the other.
    let new_identity = work.path().join("pgops-new.age");
    let mut v = with(
        c,
        "backup-verify",
        &s3,
        &[
            ("PGOPS_PUBLIC_KEY", etc.join("minisign-new.pub").as_path()),
            ("PGOPS_IDENTITY_FILE", new_identity.as_path()),
        ],
    );
    v.args(["--backup-dir", &dst, "--all-sets", "--no-record"]);
    let r = run(v);
    assert_eq!(r.named("verify.passed").len(), 1, "{:#?}", r.events);
    assert!(r
        .events
        .iter()
        .any(|e| e.to_string().contains("signature_invalid")));
    // The old identity opens nothing any more.
    let mut b = with(
        c,
        "backup-copy",
        &s3,
        &[
            ("PGOPS_IDENTITY_FILE", old.identity.as_path()),
            ("PGOPS_PUBLIC_KEY", etc.join("keyring.pub").as_path()),
        ],
    );
    b.args([dst.as_str(), dir.path().join("with-old").to_str().unwrap()]);
    let r = run(b);
    assert_ne!(r.code, 0);
    assert!(
        r.events
            .iter()
            .any(|e| e.to_string().contains("wrong_identity")),
        "{:#?}",
        r.events
    );
}
