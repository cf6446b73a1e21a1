//! `docs/runbooks/restore.md`, followed verbatim: a database and its owner role are
//! dropped (the disaster), then the runbook's `disaster:` blocks run in order in a shell,
//! with the tools on PATH. Every row, the owner, the grants and the database's own settings
//! must be back under the original name.

use std::process::Command;
use testkit::{Cluster, ToolRun};

#[test]
fn the_restore_runbook_brings_back_rows_owners_grants_and_settings() {
    let c = Cluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("catalog");
    let db = c.unique_db("runbook_restore");
    let role = c.fresh_role("runbook_owner");
    c.load_tricky(&db);
    c.connect(&db)
        .batch_execute(&format!(
            "CREATE TABLE orders (id int PRIMARY KEY, total numeric);
             INSERT INTO orders SELECT g, g * 1.5 FROM generate_series(1, 500) g;
             ALTER TABLE orders OWNER TO {role};
             GRANT SELECT ON orders TO PUBLIC;"
        ))
        .unwrap();
    c.connect("postgres")
        .batch_execute(&format!(
            "ALTER DATABASE {db} SET work_mem = '24MB';
             COMMENT ON DATABASE {db} IS 'orders and more';"
        ))
        .unwrap();
    let rows = c.row_counts(&db);
    for (tool, args) in [
        ("pgdump-run", vec!["-d", db.as_str()]),
        ("backup-verify", vec!["--latest"]),
    ] {
        let out = c
            .tool(tool)
            .arg("--backup-dir")
            .arg(&root)
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(ToolRun::check(out).code, 0, "{tool}");
    }

    // The disaster: the database and its owner are gone.
    c.drop_db(&db);
    c.connect("postgres")
        .batch_execute(&format!("DROP ROLE {role}"))
        .unwrap();

    let blocks = testkit::runbook_blocks("docs/runbooks/restore.md", "disaster:");
    let names: Vec<&str> = blocks.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["see", "restore", "prove"]);
    let tools = testkit::tool_bin("backup-restore")
        .parent()
        .unwrap()
        .to_path_buf();
    let path = std::env::var("PATH").unwrap_or_default();
    let work = tempfile::tempdir().unwrap();
    for (name, body) in &blocks {
        let mut cmd = Command::new("bash");
        c.configure_tool(&mut cmd);
        let out = cmd
            .current_dir(work.path())
            .env(
                "PATH",
                format!("{}:{}:{path}", tools.display(), c.bin_dir().display()),
            )
            .env("PGOPS_BACKUP_DIR", &root)
            .env("DB", &db)
            .args(["-euo", "pipefail", "-c", body])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        testkit::assert_no_secret(name, &out.stdout);
    }

    assert_eq!(
        c.row_counts(&db),
        rows,
        "every row, under the original name"
    );
    assert_eq!(
        c.table_owner(&db, "orders"),
        role,
        "the owner came back with the roles"
    );
    let mut admin = c.connect(&db);
    let public_select: bool = admin
        .query_one(
            "SELECT has_table_privilege('public', 'orders', 'SELECT')",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(public_select, "the grant came back");
    let settings: String = c
        .connect("postgres")
        .query_one(
            "SELECT array_to_string(setconfig, ';') || ' ' || shobj_description(d.oid, 'pg_database')
             FROM pg_database d JOIN pg_db_role_setting s ON s.setdatabase = d.oid AND s.setrole = 0
             WHERE d.datname = $1",
            &[&db],
        )
        .unwrap()
        .get(0);
    assert_eq!(settings, "work_mem=24MB orders and more");
    drop(admin);
    c.drop_db(&db);
    c.connect("postgres")
        .batch_execute(&format!("DROP ROLE {role}"))
        .unwrap();
}
