//! The connection settings an operator actually uses: .pgpass without PGPASSWORD, URIs,
//! conninfo strings, PGOPS_BACKUP_DIR.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use testkit::{Cluster, SENTINEL_PASSWORD};

#[test]
fn pgpass_alone_authenticates_both_the_catalog_queries_and_pg_dump() {
    let c = Cluster::shared();
    let db = c.unique_db("pgpass");
    c.connect(&db)
        .batch_execute("CREATE TABLE t AS SELECT generate_series(1, 5) i")
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    let pgpass = home.path().join("pgpass");
    // A wrong entry for another database first: libpq's first-match rule must skip it. For a
    // socket outside the default directory, libpq matches the socket path, not localhost.
    let socket = c.socket_dir().display();
    std::fs::write(
        &pgpass,
        format!("*:*:other_db:postgres:nope\nlocalhost:*:*:postgres:nope\n{socket}:*:*:postgres:{SENTINEL_PASSWORD}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let with_pgpass_only = || {
        let out = command(c)
            .env_remove("PGPASSWORD")
            .env("PGPASSFILE", &pgpass)
            .args(["-d", &db, "--backup-dir", dir.path().to_str().unwrap()])
            .output()
            .unwrap();
        check(out)
    };
    let r = with_pgpass_only();
    assert_eq!(r.code, 0, "{:#?}", r.events);
    assert_eq!(r.completed_for(&db)["rows"], 5);
    assert!(r
        .named("backup.completed")
        .iter()
        .any(|e| e["kind"] == "globals"));
    testkit::assert_no_secret_in_tree(dir.path());

    // A pgpass readable by others is ignored, as libpq does: no password, auth fails.
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = with_pgpass_only();
    assert_eq!(r.code, 3);
    assert_eq!(r.failure_code(), "auth_failed", "{:#?}", r.events);
}

#[test]
fn a_uri_with_a_password_sets_the_connection_and_is_never_shown() {
    let c = Cluster::shared();
    let db = c.unique_db("uri");
    let dir = tempfile::tempdir().unwrap();
    let socket = c.socket_dir().to_str().unwrap().replace('/', "%2F");
    let uri = format!(
        "postgresql://postgres:{SENTINEL_PASSWORD}@{socket}:{}/{db}",
        c.port()
    );
    let out = command(c)
        .env_remove("PGPASSWORD")
        .env_remove("PGHOST")
        .args([
            "-d",
            &uri,
            "--backup-dir",
            dir.path().to_str().unwrap(),
            "--no-globals",
        ])
        .output()
        .unwrap();
    let r = check(out);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let m = manifest(r.completed_for(&db)["path"].as_str().unwrap());
    assert_eq!(m["connection"]["dbname"], db.as_str());
    assert_eq!(m["connection"]["host"], c.socket_dir().to_str().unwrap());
    testkit::assert_no_secret_in_tree(dir.path());
}

#[test]
fn a_conninfo_names_the_database_and_env_names_the_catalog() {
    let c = Cluster::shared();
    let db = c.unique_db("conninfo");
    let dir = tempfile::tempdir().unwrap();
    let conninfo = format!("dbname='{db}' connect_timeout=5");
    let out = command(c)
        .env("PGOPS_BACKUP_DIR", dir.path())
        .env("PGOPS_CORRELATION_ID", "nightly-42")
        .args(["-d", &conninfo, "--no-globals"])
        .output()
        .unwrap();
    let r = check(out);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.events.iter().all(|e| e["correlation_id"] == "nightly-42"));
    let path = r.completed_for(&db)["path"].as_str().unwrap().to_string();
    assert!(path.starts_with(dir.path().to_str().unwrap()));
    assert!(
        !r.stderr.contains("MiB dumped"),
        "no progress bar when stderr is not a terminal"
    );
}

/// Malformed URIs and conninfo strings whose password holds `/`, `?` or spaces: the error
/// names what is wrong, never a piece of the password.
#[test]
fn a_malformed_connection_string_never_echoes_the_password() {
    let c = Cluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let pw = SENTINEL_PASSWORD;
    for d in [
        format!("postgresql://postgres:{pw}/x?y@localhost:{}/db", c.port()),
        format!("postgresql://postgres:x/{pw}@localhost/db"),
        format!("postgresql://postgres:{pw}@localhost/db?sslmode"),
        format!("postgresql://postgres:{pw}@localhost:{pw}/db"),
        format!("host=localhost password=x {pw} port=1"),
        format!("host=localhost password=x {pw}=1"),
    ] {
        let out = command(c)
            .args(["-d", &d, "--backup-dir", dir.path().to_str().unwrap()])
            .output()
            .unwrap();
        testkit::assert_no_secret("stdout", &out.stdout);
        testkit::assert_no_secret("stderr", &out.stderr);
        let r = check(out);
        assert_eq!(r.code, 2, "{d}: {:#?}", r.events);
    }
}
