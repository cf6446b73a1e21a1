//! The whole pipeline on the server of this run's major, with every client pairing the host
//! offers. `scripts/test` runs this file once per supported major (`PGOPS_PG_BIN_DIR` names
//! the server, `PGOPS_PG_BIN_DIRS` the other installations); `scripts/pg-matrix N` runs one.
//!
//! Backup (tricky schema: quoted, unicode and dotted names, partitions, large objects, empty
//! tables; and a value of every built-in type) → verify → rotate → drill on the server →
//! drill in a private cluster: every drill proves every table's values by digest, on every
//! pairing of pg_dump, pg_restore and server (issue #26). Then each
//! installed pg_dump at least the server's major takes a set, which verifies (so pg-archive
//! reads real archives of versions 1.14, 1.15 and 1.16) and drills wherever a pg_restore
//! can take it; an older pg_dump is a clear `version_mismatch`. The directory format (ADR
//! 0027) goes the same way: dumped two tables at a time, verified, copied plain, sealed and
//! back, rotated, drilled with `pg_restore --jobs 2` on the server and in a private cluster;
//! and the plain format (SQL for psql), restored whole: every format on every major.

use serde_json::Value;
use std::io::Read;
use std::path::Path;
use testkit::{Cluster, ToolRun};

fn run(mut cmd: std::process::Command) -> ToolRun {
    ToolRun::check(cmd.stdin(std::process::Stdio::null()).output().unwrap())
}

fn tool(c: &Cluster, name: &str, root: &Path, args: &[&str]) -> ToolRun {
    let mut cmd = c.tool(name);
    cmd.arg("--backup-dir").arg(root).args(args);
    let r = run(cmd);
    if name == "restore-drill" && r.code == 0 {
        values_proven(&r);
    }
    r
}

/// A drill that passed proved every table's values, not only its count.
fn values_proven(r: &ToolRun) {
    let done = &r.named("drill.completed")[0];
    let tables = done["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "tables")
        .unwrap();
    assert!(
        tables["reason"]
            .as_str()
            .unwrap()
            .contains("every table's values"),
        "{tables}"
    );
}

/// The archive format version (`1.14`…) of a stored custom-format set, from its header.
fn archive_version(set: &Value, root: &Path) -> String {
    let db = set["database"].as_str().unwrap();
    let dir = root
        .join(ops_catalog::catalog::encode_db_dir(db))
        .join(set["id"].as_str().unwrap());
    let m: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let file = std::fs::File::open(dir.join(m["files"][0]["name"].as_str().unwrap())).unwrap();
    let mut head = [0u8; 8];
    zstd::Decoder::new(file)
        .unwrap()
        .read_exact(&mut head)
        .unwrap();
    assert_eq!(&head[..5], b"PGDMP");
    format!("{}.{}", head[5], head[6])
}

#[test]
fn the_pipeline_and_every_client_pairing_on_this_major() {
    let c = Cluster::shared();
    let major = c.major();
    assert!(major >= 15, "the server's major is known");
    let installs = ops_pg::programs::installations(None);
    let db = c.unique_db("pipeline");
    c.load_tricky(&db);
    c.load_every_type(&db);
    eprintln!(
        "server {major}; installations: {:?}",
        installs
            .iter()
            .map(|i| (i.major, i.dir.display().to_string()))
            .collect::<Vec<_>>()
    );

    // The default choice, end to end.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let b = tool(c, "pgdump-run", root, &["-d", &db, "--no-globals"]);
    assert_eq!(b.code, 0, "{}", b.stderr);
    let done = b.named("backup.completed")[0].clone();
    let expected = ops_pg::programs::pick_dump(&installs, major).unwrap();
    let m: Value = serde_json::from_slice(
        &std::fs::read(Path::new(done["path"].as_str().unwrap()).join("manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        ops_pg::programs::major_of(m["pg_dump_version"].as_str().unwrap()),
        expected.major,
        "pg_dump of the server's own major when installed, else the newest"
    );
    let v = tool(c, "backup-verify", root, &["--all-sets"]);
    assert_eq!(v.code, 0, "{:#?}", v.events);
    let r = tool(c, "backup-rotate", root, &["--keep-last", "1"]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let d = tool(c, "restore-drill", root, &["-d", &db]);
    assert_eq!(d.code, 0, "{:#?}", d.events);
    let e = tool(c, "restore-drill", root, &["-d", &db, "--ephemeral"]);
    assert_eq!(e.code, 0, "{:#?}", e.events);
    // Into the newest server this host has: every value the same in a newer major.
    if let Some(newest) = installs
        .iter()
        .filter(|i| i.has("initdb") && i.has("pg_restore") && i.major > major)
        .max_by_key(|i| i.major)
    {
        let bin = newest.dir.display().to_string();
        let e = tool(
            c,
            "restore-drill",
            root,
            &["-d", &db, "--ephemeral", "--pg-bin-dir", &bin],
        );
        assert_eq!(e.code, 0, "into {}: {:#?}", newest.major, e.events);
        eprintln!(
            "the set of server {major} drilled into a private {} cluster",
            newest.major
        );
    }

    directory_format(c, &db);
    plain_format(c, &db);

    // Every pg_dump on this host.
    for i in installs.iter().filter(|i| i.has("pg_dump")) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let pg_bin = i.dir.display().to_string();
        let b = tool(
            c,
            "pgdump-run",
            root,
            &["-d", &db, "--no-globals", "--pg-bin-dir", &pg_bin],
        );
        if i.major < major {
            assert_eq!(b.code, 2, "pg_dump {} against {major}", i.major);
            assert_eq!(b.error_code("run.failed"), "version_mismatch");
            eprintln!(
                "pg_dump {} is older than server {major}: version_mismatch",
                i.major
            );
            continue;
        }
        assert_eq!(b.code, 0, "pg_dump {}: {}", i.major, b.stderr);
        let set = b.named("backup.completed")[0].clone();
        let version = archive_version(&set, root);
        let want = match i.major {
            15 => "1.14",
            16 => "1.15",
            _ => "1.16",
        };
        assert_eq!(version, want, "pg_dump {} writes archive {want}", i.major);
        let v = tool(c, "backup-verify", root, &[]);
        assert_eq!(v.code, 0, "archive {version}: {:#?}", v.events);
        eprintln!("pg_dump {} → archive {version}: verified", i.major);

        let on_server = ops_pg::programs::pick_restore(&installs, i.major, major);
        let d = tool(c, "restore-drill", root, &["-d", &db]);
        match on_server {
            Some(client) => {
                assert_eq!(
                    d.code, 0,
                    "pg_dump {} → pg_restore {} → server {major}: {:#?}",
                    i.major, client.major, d.events
                );
                eprintln!(
                    "  drilled into server {major} with pg_restore {}",
                    client.major
                );
            }
            None => {
                assert_eq!(d.code, 3, "{:#?}", d.events);
                assert_eq!(d.error_code("run.failed"), "no_client_pair");
                eprintln!("  no pg_restore takes it into server {major}: said so before starting");
            }
        }
        let e = tool(c, "restore-drill", root, &["-d", &db, "--ephemeral"]);
        let pair = ops_pg::programs::pick_ephemeral(&installs, major, i.major);
        assert_eq!(
            e.code,
            if pair.is_some() { 0 } else { 3 },
            "{:#?}",
            e.events
        );
        if let Some((s, cl)) = pair {
            eprintln!(
                "  drilled into a private {} cluster with pg_restore {}",
                s.major, cl.major
            );
        }
    }
}

/// A directory-format set of `db` through every tool that handles sets.
fn directory_format(c: &Cluster, db: &str) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("local");
    let b = tool(
        c,
        "pgdump-run",
        &root,
        &[
            "-d",
            db,
            "--no-globals",
            "--format",
            "directory",
            "--jobs",
            "2",
        ],
    );
    assert_eq!(b.code, 0, "{}", b.stderr);
    let done = b.named("backup.completed")[0].clone();
    assert_eq!(done["format"], "directory");
    assert_eq!(done["file"], "toc.dat.zst");
    let set = Path::new(done["path"].as_str().unwrap());
    let names: Vec<String> = std::fs::read_dir(set)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| n.ends_with(".zst") || n == "manifest.json"),
        "only packed files are left: {names:?}"
    );
    assert_eq!(done["files"].as_u64().unwrap() as usize, names.len() - 1);
    let v = tool(c, "backup-verify", &root, &[]);
    assert_eq!(v.code, 0, "{:#?}", v.events);
    let back = copied_and_verified(c, dir.path(), &root);
    let r = tool(c, "backup-rotate", &back, &["--keep-last", "1"]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let d = tool(c, "restore-drill", &back, &["-d", db, "--jobs", "2"]);
    assert_eq!(d.code, 0, "{:#?}", d.events);
    let e = tool(
        c,
        "restore-drill",
        &root,
        &["-d", db, "--ephemeral", "--jobs", "2"],
    );
    assert_eq!(e.code, 0, "{:#?}", e.events);
    // One table back from it, beside the live one, proven.
    let t = tool(
        c,
        "backup-restore",
        &back,
        &[
            "-d",
            db,
            "--table",
            "public.\"dotted.name\"",
            "--into-schema",
            "from_directory",
            "--jobs",
            "2",
        ],
    );
    assert_eq!(t.code, 0, "{:#?}", t.events);
    assert_eq!(
        t.named("restore.tables_completed").len(),
        1,
        "{:#?}",
        t.events
    );
    c.connect(db)
        .batch_execute("DROP SCHEMA from_directory CASCADE")
        .unwrap();
    eprintln!(
        "directory format: {} files, verified on three catalogs, drilled with pg_restore --jobs 2, a table restored",
        done["files"]
    );
}

/// A plain-format set (SQL, restored by psql) of `db` through the same tools: verified on
/// three catalogs, rotated, drilled on the server and in a private cluster, restored whole
/// into a new database; one table back is refused by name (a script has no entries).
fn plain_format(c: &Cluster, db: &str) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("local");
    let b = tool(
        c,
        "pgdump-run",
        &root,
        &["-d", db, "--no-globals", "--format", "plain"],
    );
    assert_eq!(b.code, 0, "{}", b.stderr);
    assert_eq!(b.named("backup.completed")[0]["format"], "plain");
    let v = tool(c, "backup-verify", &root, &[]);
    assert_eq!(v.code, 0, "{:#?}", v.events);
    let back = copied_and_verified(c, dir.path(), &root);
    let r = tool(c, "backup-rotate", &back, &["--keep-last", "1"]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    let d = tool(c, "restore-drill", &back, &["-d", db]);
    assert_eq!(d.code, 0, "{:#?}", d.events);
    let e = tool(c, "restore-drill", &root, &["-d", db, "--ephemeral"]);
    assert_eq!(e.code, 0, "{:#?}", e.events);
    let target = format!("{db}_from_plain");
    let w = tool(c, "backup-restore", &back, &["-d", db, "--target", &target]);
    assert_eq!(w.code, 0, "{:#?}", w.events);
    assert_eq!(c.row_counts(&target), c.row_counts(db));
    let t = tool(
        c,
        "backup-restore",
        &back,
        &["-d", db, "--table", "public.\"dotted.name\""],
    );
    assert_eq!(t.code, 2, "{:#?}", t.events);
    assert_eq!(t.error_code("run.failed"), "table_restore_unsupported");
    c.connect("postgres")
        .batch_execute(&format!("DROP DATABASE \"{target}\""))
        .unwrap();
    eprintln!("plain format: verified on three catalogs, drilled twice, restored whole");
}

/// The catalog at `root` (one set) copied plain to a second disk, sealed to an off-site
/// directory and back from it, under `dir`; each of the three verified. Returns the one
/// copied back.
fn copied_and_verified(c: &Cluster, dir: &Path, root: &Path) -> std::path::PathBuf {
    let keys = testkit::keys::Keys::make(&dir.join("keys"), "pgops");
    // Plain to a second disk, sealed to an off-site directory, and back from it.
    let second = dir.join("second");
    let sealed = dir.join("sealed");
    let back = dir.join("back");
    let copy = |args: &[&std::ffi::OsStr]| {
        let mut cmd = c.tool("backup-copy");
        cmd.args(args);
        let r = run(cmd);
        assert_eq!(r.code, 0, "{:#?}", r.events);
    };
    copy(&[root.as_os_str(), second.as_os_str()]);
    copy(&[
        "-R".as_ref(),
        keys.recipients_file.as_os_str(),
        "--signing-key".as_ref(),
        keys.signing_key.as_os_str(),
        root.as_os_str(),
        sealed.as_os_str(),
    ]);
    copy(&[
        "--identity".as_ref(),
        keys.identity.as_os_str(),
        "--public-key".as_ref(),
        keys.public_key.as_os_str(),
        sealed.as_os_str(),
        back.as_os_str(),
    ]);
    for (location, extra) in [
        (&second, vec![]),
        (
            &sealed,
            vec![
                "--identity",
                keys.identity.to_str().unwrap(),
                "--public-key",
                keys.public_key.to_str().unwrap(),
            ],
        ),
        (&back, vec![]),
    ] {
        let v = tool(c, "backup-verify", location, &extra);
        assert_eq!(v.code, 0, "{}: {:#?}", location.display(), v.events);
        assert_eq!(v.named("run.finished")[0]["sets_passed"], 1);
    }
    back
}
