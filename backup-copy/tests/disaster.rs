//! Disaster recovery from the bucket alone, following `docs/runbooks/disaster-recovery.md`
//! command by command (its `dr:` blocks, extracted, not retyped): a server with roles, an
//! owned database and sample data is backed up, verified and sealed into the bucket; the
//! server and its local catalog are destroyed; on a new server the runbook brings every
//! database and role back, and every row of the last backup is found.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use testkit::keys::Keys;
use testkit::s3::S3Server;
use testkit::{Cluster, ToolRun};

fn tool(c: &Cluster, name: &str, s3: &S3Server, keys: &Keys) -> Command {
    let mut cmd = c.tool(name);
    cmd.envs(s3.env()).envs(keys.env());
    cmd
}

fn run_ok(mut cmd: Command) -> ToolRun {
    let r = ToolRun::check(cmd.output().unwrap());
    assert_eq!(r.code, 0, "{cmd:?}: {:#?}\n{}", r.events, r.stderr);
    r
}

/// Every database but the templates and `postgres`, with its tables' row counts.
fn all_rows(c: &Cluster) -> BTreeMap<String, BTreeMap<(String, String), u64>> {
    c.connect("postgres")
        .query(
            "SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| {
            let db: String = r.get(0);
            let rows = c.row_counts(&db);
            (db, rows)
        })
        .collect()
}

#[test]
fn the_runbook_brings_every_database_and_role_back_from_the_bucket_alone() {
    let s3 = S3Server::start();
    let keys_dir = tempfile::tempdir().unwrap();
    let keys = Keys::make(keys_dir.path(), "dr");
    let remote = s3.location("dr");

    // The server that will be lost: roles, a database owned by one of them, sample data.
    let old = Cluster::start();
    let mut admin = old.connect("postgres");
    admin
        .batch_execute("CREATE ROLE app_owner LOGIN; CREATE ROLE reader NOLOGIN")
        .unwrap();
    admin
        .batch_execute("CREATE DATABASE shop OWNER app_owner")
        .unwrap();
    drop(admin);
    old.load_mixed("shop", "0.002");
    old.connect("shop")
        .batch_execute(
            "CREATE TABLE orders_archive AS SELECT g AS id FROM generate_series(1, 777) g; \
             ALTER TABLE orders_archive OWNER TO app_owner; \
             GRANT SELECT ON orders_archive TO reader;",
        )
        .unwrap();
    old.create_db("crm");
    old.load_mixed("crm", "0.001");
    let local = tempfile::tempdir().unwrap();
    let catalog = local.path().join("catalog");
    let catalog = catalog.to_str().unwrap();
    // Two nights of the pipeline: backup (signed) → verify → copy (sealed); the second
    // night's rows (a directory-format set) are the ones that must come back.
    for night in 0..2 {
        if night == 1 {
            std::thread::sleep(std::time::Duration::from_millis(1100));
            old.connect("shop")
                .batch_execute(
                    "INSERT INTO orders_archive SELECT 1000 + g FROM generate_series(1, 5) g",
                )
                .unwrap();
        }
        let mut backup = tool(&old, "pgdump-run", &s3, &keys);
        backup.args(["--all", "--backup-dir", catalog]);
        // The last night in the directory format (ADR 0027): the runbook brings back a
        // set of many files, sealed object by object, as it brings back a single file.
        if night == 1 {
            backup.args(["--format", "directory", "--jobs", "2"]);
        }
        run_ok(backup);
        let mut verify = tool(&old, "backup-verify", &s3, &keys);
        verify.args(["--backup-dir", catalog]);
        run_ok(verify);
        let mut copy = tool(&old, "backup-copy", &s3, &keys);
        copy.args([catalog, remote.as_str()]);
        let r = run_ok(copy);
        assert_eq!(
            r.named("copy.completed").len(),
            4,
            "shop, crm, postgres, _globals"
        );
    }
    let expected = all_rows(&old);
    assert!(expected["shop"].values().sum::<u64>() > 777);

    // The disaster: the server and everything on its disk are gone.
    drop(old);
    std::fs::remove_dir_all(local.path()).unwrap();

    // A new machine: a new server, the bucket's credentials, the identity, the public key.
    // Its superuser has a password of its own (scram-sha-256): the runbook must not set it
    // back to the old server's.
    let new = Cluster::start();
    let new_password = "New-server-pw-3b9d";
    new.connect("postgres")
        .batch_execute(&format!("ALTER ROLE postgres PASSWORD '{new_password}'"))
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let blocks = testkit::runbook_blocks("docs/runbooks/disaster-recovery.md", "dr:");
    let names: Vec<&str> = blocks.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "settings",
            "verify-remote",
            "copy-back",
            "server",
            "restore",
            "prove"
        ]
    );
    let script: String = blocks.iter().map(|(_, b)| b.as_str()).collect();
    let mut cmd = Command::new("bash");
    new.configure(&mut cmd);
    let tools = testkit::tool_bin("backup-copy");
    testkit::tool_bin("backup-verify");
    testkit::tool_bin("backup-restore");
    let path = std::env::var("PATH").unwrap_or_default();
    let out = cmd
        .current_dir(work.path())
        .env("PGPASSWORD", new_password)
        .env(
            "PATH",
            format!(
                "{}:{}:{path}",
                tools.parent().unwrap().display(),
                new.bin_dir().display()
            ),
        )
        .envs(s3.env())
        .env("PGOPS_REMOTE", &remote)
        .env("PGOPS_IDENTITY_FILE", &keys.identity)
        .env("PGOPS_PUBLIC_KEY", &keys.public_key)
        .env("PGOPS_BACKUP_DIR", work.path().join("catalog"))
        .args(["-euo", "pipefail", "-c", &script])
        .output()
        .unwrap();
    let stdout = testkit::runbook_stdout(&out);
    assert!(
        stdout.contains("checked shop") && stdout.contains("checked crm"),
        "{stdout}"
    );

    // Only what is restored came down: the newest set of each database and the globals.
    let copied = std::fs::read_to_string(work.path().join("copy-back.jsonl")).unwrap();
    let count = |code: &str| copied.lines().filter(|l| l.contains(code)).count();
    assert_eq!(count("\"copy.completed\""), 4, "{copied}");
    assert_eq!(count("\"not_latest\""), 4, "{copied}");
    // What came back for shop is the directory-format set, every file of it.
    let back: Vec<_> = std::fs::read_dir(work.path().join("catalog/shop"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("manifest.json").is_file())
        .collect();
    assert_eq!(back.len(), 1, "{back:?}");
    let files = std::fs::read_dir(&back[0]).unwrap().count();
    assert!(
        back[0].join("toc.dat.zst").is_file() && files > 3,
        "{back:?}: {files} files"
    );
    // The operator's password stands (the runbook's last steps connected with it), then
    // back to the sentinel for the checks below.
    postgres::Config::new()
        .host_path(new.socket_dir())
        .port(new.port())
        .user("postgres")
        .password(new_password)
        .dbname("postgres")
        .connect(postgres::NoTls)
        .expect("the new server's password still opens it")
        .batch_execute(&format!(
            "ALTER ROLE postgres PASSWORD '{}'",
            testkit::SENTINEL_PASSWORD
        ))
        .unwrap();
    // Every row of the last backup, every database, the roles and the owner.
    assert_eq!(all_rows(&new), expected);
    let mut client = new.connect("shop");
    let owner: String = client
        .query_one(
            "SELECT tableowner::text FROM pg_tables WHERE tablename = 'orders_archive'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(owner, "app_owner");
    let db_owner: String = new
        .connect("postgres")
        .query_one(
            "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = 'shop'",
            &[],
        )
        .unwrap()
        .get(0);
    // createdb makes the database the connecting role's; its objects keep their owners.
    assert!(!db_owner.is_empty());
    assert!(Path::new(&work.path().join("server-settings.sql")).is_file());
    assert!(Path::new(&work.path().join("pg_hba.conf.recovered")).is_file());
}
