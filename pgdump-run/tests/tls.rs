//! TLS to the server, as libpq does it, for both of pgops' links: its own catalog queries
//! and pg_dump. The server (testkit::tls) takes TCP only over TLS with a client certificate.

mod common;

use common::*;
use testkit::tls::TlsLab;

struct Case<'a> {
    lab: &'a TlsLab,
    home: tempfile::TempDir,
}

impl Case<'_> {
    /// pgdump-run of `db` over TCP to `host` with `extra` connection settings.
    fn backup(&self, host: &str, db: &str, extra: &str) -> (Run, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let out = command(&self.lab.cluster)
            // No ~/.postgresql defaults from the machine: only what the case gives.
            .env("HOME", self.home.path())
            .args([
                "-d",
                &self.lab.conninfo(host, db, extra),
                "--backup-dir",
                dir.path().to_str().unwrap(),
            ])
            .output()
            .unwrap();
        (check(out), dir)
    }
}

fn assert_nothing_stored(dir: &tempfile::TempDir) {
    let sets: Vec<_> = testkit::walk(dir.path())
        .into_iter()
        .filter(|p| p.ends_with("manifest.json"))
        .collect();
    assert!(
        sets.is_empty(),
        "no set after a failed connection: {sets:?}"
    );
}

#[test]
fn every_sslmode_against_a_tls_server_with_a_throwaway_ca() {
    let lab = TlsLab::start();
    let db = lab.cluster.unique_db("tls");
    lab.cluster
        .connect(&db)
        .batch_execute("CREATE TABLE t AS SELECT generate_series(1, 7) i")
        .unwrap();
    let case = Case {
        lab: &lab,
        home: tempfile::tempdir().unwrap(),
    };
    let certs = lab.cert_settings("ca.crt");

    // verify-full with the right CA and a client certificate: both links work over TLS.
    let (r, dir) = case.backup("localhost", &db, &format!("sslmode=verify-full {certs}"));
    assert_eq!(r.code, 0, "{:#?}\n{}", r.events, r.stderr);
    assert_eq!(r.completed_for(&db)["rows"], 7);
    testkit::assert_no_secret_in_tree(dir.path());
    // verify-ca and require too (require with a root file checks the chain, as libpq).
    for mode in ["verify-ca", "require", "prefer"] {
        let (r, _) = case.backup("localhost", &db, &format!("sslmode={mode} {certs}"));
        assert_eq!(r.code, 0, "sslmode={mode}: {:#?}", r.events);
    }

    // The wrong CA: a clear TLS error naming the cause, exit 3, nothing stored.
    let wrong = lab.cert_settings("wrong-ca.crt");
    for mode in ["verify-ca", "verify-full", "require"] {
        let (r, dir) = case.backup("localhost", &db, &format!("sslmode={mode} {wrong}"));
        assert_eq!(r.code, 3, "sslmode={mode}: {:#?}", r.events);
        assert_eq!(r.failure_code(), "tls_failed", "{:#?}", r.events);
        let msg = r.failure()["error"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(msg.contains("certificate verify failed"), "{msg}");
        assert_nothing_stored(&dir);
    }

    // verify-full to an address the certificate does not name.
    let (r, _) = case.backup("127.0.0.1", &db, &format!("sslmode=verify-full {certs}"));
    assert_eq!(r.failure_code(), "tls_failed", "{:#?}", r.events);
    // …while verify-ca, which does not check names, accepts it.
    let (r, _) = case.backup("127.0.0.1", &db, &format!("sslmode=verify-ca {certs}"));
    assert_eq!(r.code, 0, "{:#?}", r.events);

    // No client certificate: the server refuses, and says why.
    let ca = lab.file("ca.crt");
    let (r, _) = case.backup(
        "localhost",
        &db,
        &format!("sslmode=verify-full sslrootcert={}", ca.display()),
    );
    assert_eq!(r.code, 3);
    assert_eq!(r.failure_code(), "auth_failed", "{:#?}", r.events);

    // Without TLS the server has no entry for us.
    let (r, _) = case.backup("localhost", &db, "sslmode=disable");
    assert_eq!(r.code, 3, "{:#?}", r.events);

    // Checking without a root file is a usage error, said before connecting (exit 2).
    let (r, dir) = case.backup("localhost", &db, "sslmode=verify-ca");
    assert_eq!(r.code, 2, "{:#?}", r.events);
    assert_eq!(r.failure_code(), "tls_config");
    assert_nothing_stored(&dir);

    // A client key others can read is refused, as libpq refuses it.
    use std::os::unix::fs::PermissionsExt;
    let loose = case.home.path().join("loose.key");
    std::fs::copy(lab.file("client.key"), &loose).unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (r, _) = case.backup(
        "localhost",
        &db,
        &format!(
            "sslmode=verify-full sslrootcert={} sslcert={} sslkey={}",
            ca.display(),
            lab.file("client.crt").display(),
            loose.display()
        ),
    );
    assert_eq!(r.code, 2, "{:#?}", r.events);
    assert_eq!(r.failure_code(), "tls_config");

    // The ~/.postgresql defaults, as libpq: root.crt makes require check the chain.
    let dot = case.home.path().join(".postgresql");
    std::fs::create_dir(&dot).unwrap();
    for (from, to) in [
        ("ca.crt", "root.crt"),
        ("client.crt", "postgresql.crt"),
        ("client.key", "postgresql.key"),
    ] {
        std::fs::copy(lab.file(from), dot.join(to)).unwrap();
    }
    std::fs::set_permissions(
        dot.join("postgresql.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let (r, _) = case.backup("localhost", &db, "sslmode=verify-full");
    assert_eq!(r.code, 0, "defaults from ~/.postgresql: {:#?}", r.events);
    std::fs::copy(lab.file("wrong-ca.crt"), dot.join("root.crt")).unwrap();
    let (r, _) = case.backup("localhost", &db, "sslmode=require");
    assert_eq!(r.failure_code(), "tls_failed", "{:#?}", r.events);
}

/// sslmode=require to a server without TLS: refused, not silently downgraded.
#[test]
fn require_against_a_server_without_tls_is_refused() {
    let port = testkit::free_port();
    let bin = ops_pg::cluster::newest_server_bin().unwrap();
    let c = testkit::Cluster::start_with(&bin, &["listen_addresses=127.0.0.1".into()], Some(port));
    let dir = tempfile::tempdir().unwrap();
    let out = command(&c)
        .args([
            "-d",
            &format!("host=127.0.0.1 port={port} dbname=postgres sslmode=require"),
            "--backup-dir",
            dir.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let r = check(out);
    assert_eq!(r.code, 3, "{:#?}", r.events);
    assert_eq!(r.failure_code(), "tls_failed", "{:#?}", r.events);
    let msg = r.failure()["error"]["message"].to_string();
    assert!(msg.contains("does not support TLS"), "{msg}");
}
