//! backup-restore straight from the bucket (moto's S3 server on loopback): the sealed set
//! and the roles are unsealed (every signature and hash checked), restored under the
//! original name with the owner back, and the download counted in the RTO. Without the
//! identity, nothing is touched.

use std::process::Command;
use testkit::keys::Keys;
use testkit::s3::S3Server;
use testkit::{Cluster, ToolRun};

#[test]
fn a_database_comes_back_from_the_bucket_alone() {
    let c = Cluster::shared();
    let s3 = S3Server::start();
    let keys = Keys::shared();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let db = c.unique_db("restore_remote");
    let role = c.fresh_role("remote_owner");
    c.load_tricky(&db);
    c.connect(&db)
        .batch_execute(&format!("CREATE TABLE owned (x int); INSERT INTO owned VALUES (7); ALTER TABLE owned OWNER TO {role}"))
        .unwrap();
    let rows = c.row_counts(&db);
    let run = |tool: &str, args: &[&str]| {
        ToolRun::check(
            c.tool(tool)
                .envs(keys.env())
                .envs(s3.env())
                .args(args)
                .output()
                .unwrap(),
        )
    };
    assert_eq!(
        run("pgdump-run", &["-d", &db, "--backup-dir", root]).code,
        0
    );
    assert_eq!(
        run("backup-verify", &["--latest", "--backup-dir", root]).code,
        0
    );
    let bucket = s3.location("dr");
    assert_eq!(run("backup-copy", &[root, &bucket]).code, 0);

    // The server lost the database and its owner; the local catalog is gone too.
    c.drop_db(&db);
    c.connect("postgres")
        .batch_execute(&format!("DROP ROLE {role}"))
        .unwrap();
    drop(dir);

    let restore = |env_identity: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_backup-restore"));
        c.configure_tool(&mut cmd);
        cmd.envs(s3.env())
            .env("PGOPS_PUBLIC_KEY", &keys.public_key)
            .args(["-d", &db, "--globals", "--backup-dir", &bucket]);
        if env_identity {
            cmd.env("PGOPS_IDENTITY_FILE", &keys.identity);
        }
        ToolRun::check(cmd.output().unwrap())
    };
    let r = restore(false);
    assert_eq!(r.code, 2, "{:#?}", r.events);
    assert_eq!(r.error_code("run.failed"), "identity_required");

    let r = restore(true);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let done = &r.named("restore.completed")[0];
    assert!(done["path"].as_str().unwrap().starts_with("s3://"));
    assert!(done["download_ms"].as_u64().unwrap() <= done["rto_ms"].as_u64().unwrap());
    assert_eq!(c.row_counts(&db), rows);
    let owner = c.table_owner(&db, "owned");
    assert_eq!(owner, role);
    c.drop_db(&db);
    c.connect("postgres")
        .batch_execute(&format!("DROP ROLE {role}"))
        .unwrap();
}
