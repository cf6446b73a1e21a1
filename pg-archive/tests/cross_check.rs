//! pg-archive against readers nobody at pgops wrote: PyPI `pgdumplib`, and pg_restore
//! itself (`--list`, and the COPY rows of `-a`), for an archive of the same database from
//! every installed pg_dump that can dump the test server (archive versions 1.14 to 1.16).
//!
//! pgdumplib reads only archives whose TOC carries data offsets, which pg_dump writes to a
//! seekable file (`-f`), not to the pipe pgdump-run reads; so each pg_dump writes the same
//! database state both ways, and pg-archive must read both to the same tables and rows.

use pg_archive::{read_all, Summary};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use testkit::Cluster;

type Rows = BTreeMap<(String, String), u64>;

fn rows_of(s: &Summary) -> Rows {
    s.tables
        .iter()
        .map(|t| ((t.schema.clone(), t.name.clone()), t.rows))
        .collect()
}

/// The stdout of a command that must succeed.
fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What pgdumplib reads from `path` (scripts/pgdumplib-summary.py).
fn pgdumplib(path: &Path) -> Value {
    let script = testkit::workspace_root().join("scripts/pgdumplib-summary.py");
    serde_json::from_str(&stdout_of(
        Command::new(testkit::python()).arg(script).arg(path),
    ))
    .unwrap()
}

/// `pg_restore --list`: dump id → the line after its two OIDs (`DESC namespace tag owner`).
fn pg_restore_list(pg_restore: &Path, path: &Path) -> BTreeMap<i64, String> {
    stdout_of(Command::new(pg_restore).arg("--list").arg(path))
        .lines()
        .filter(|l| !l.starts_with(';') && !l.is_empty())
        .map(|l| {
            let (id, rest) = l.split_once("; ").unwrap();
            let rest = rest.splitn(3, ' ').nth(2).unwrap();
            (id.parse().unwrap(), rest.to_string())
        })
        .collect()
}

/// Rows of each table in the SQL `pg_restore -a` writes: the lines between each
/// `COPY … FROM stdin;` and its `\.`, named by the `-- Data for Name:` comment before it.
fn pg_restore_rows(pg_restore: &Path, path: &Path) -> Rows {
    let text = stdout_of(Command::new(pg_restore).args(["-a", "-f", "-"]).arg(path));
    let mut rows = Rows::new();
    let mut current: Option<(String, String)> = None;
    let mut in_copy = false;
    for line in text.split('\n') {
        if in_copy {
            if line == "\\." {
                in_copy = false;
            } else {
                *rows.get_mut(current.as_ref().unwrap()).unwrap() += 1;
            }
        } else if let Some(rest) = line.strip_prefix("-- Data for Name: ") {
            // `NAME; Type: TABLE DATA; Schema: SCHEMA; Owner: OWNER`
            let (name, rest) = rest.split_once("; Type: ").unwrap();
            current = rest.starts_with("TABLE DATA;").then(|| {
                let schema = rest.split_once("; Schema: ").unwrap().1;
                let schema = schema.split_once("; Owner: ").unwrap().0;
                (schema.to_string(), name.to_string())
            });
        } else if line.starts_with("COPY ") && line.ends_with(" FROM stdin;") {
            let key = current
                .clone()
                .expect("a COPY after its Data for Name comment");
            rows.insert(key, 0);
            in_copy = true;
        }
    }
    rows
}

/// Entries as `[dump_id, desc, namespace, tag, owner]`, pgdumplib's shape.
fn entries_of(s: &Summary) -> Vec<Value> {
    s.entries
        .iter()
        .map(|e| serde_json::json!([e.dump_id, e.desc, e.namespace, e.tag, e.owner]))
        .collect()
}

#[test]
fn pgdumplib_and_pg_restore_read_what_pg_archive_reads_for_every_pg_dump() {
    let c = Cluster::shared();
    let db = c.unique_db("crosscheck");
    c.load_tricky(&db);
    // Rows that are empty lines (a one-column table of ''), and enough rows for several
    // data chunks per table.
    c.connect(&db)
        .batch_execute(
            "CREATE TABLE public.blank (v text);
             INSERT INTO public.blank VALUES (''), (''), (NULL), ('');
             CREATE TABLE public.bulk AS
               SELECT i, md5(i::text) AS h, repeat('x', i % 300) AS pad
               FROM generate_series(1, 20000) i;",
        )
        .unwrap();
    let truth = c.row_counts(&db);
    let dir = tempfile::tempdir().unwrap();
    let clients = c.dump_clients();
    assert!(!clients.is_empty());
    let mut versions = Vec::new();
    for client in &clients {
        let pg_dump = client.program("pg_dump");
        let pg_restore = client.program("pg_restore");
        let label = format!("pg_dump {}", client.version);
        // The stream pgdump-run stores (no data offsets), then seekable files.
        let piped = read_all(&c.run_client(&pg_dump, &db, &["-Fc", "-Z0"]))
            .unwrap_or_else(|e| panic!("{label} piped: {e}"));
        assert_eq!(rows_of(&piped), truth, "{label} piped");
        for (compress, what) in [("0", "uncompressed"), ("6", "gzip")] {
            let file = dir.path().join(format!("{}-{what}.dump", client.major));
            let args = ["-Fc", "-Z", compress, "-f", file.to_str().unwrap()];
            c.run_client(&pg_dump, &db, &args);
            let bytes = std::fs::read(&file).unwrap();
            let ours = read_all(&bytes).unwrap_or_else(|e| panic!("{label} {what}: {e}"));
            let label = format!("{label} {what}");
            assert_eq!(
                rows_of(&ours),
                truth,
                "{label}: pg-archive against the server"
            );
            assert_eq!(
                ours.tables, piped.tables,
                "{label}: the file and the stream"
            );

            // pgdumplib: the same TOC, tables, rows and large objects.
            let theirs = pgdumplib(&file);
            let (maj, min, rev) = ours.archive_version.unwrap();
            assert_eq!(
                theirs["version"],
                serde_json::json!([maj, min, rev]),
                "{label}"
            );
            assert_eq!(theirs["dbname"], ours.dbname.clone().unwrap().as_str());
            assert_eq!(
                theirs["entries"].as_array().unwrap(),
                &entries_of(&ours),
                "{label}: TOC"
            );
            let their_rows: Rows = theirs["tables"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| {
                    let k = (t[0].as_str().unwrap().into(), t[1].as_str().unwrap().into());
                    (k, t[2].as_u64().unwrap())
                })
                .collect();
            assert_eq!(their_rows, rows_of(&ours), "{label}: rows by pgdumplib");
            assert_eq!(
                theirs["blobs"], ours.large_objects,
                "{label}: large objects"
            );

            // pg_restore --list: every entry it lists is ours, with the same desc, names
            // and owner; it hides only the header entries it never restores without -C.
            let listed = pg_restore_list(&pg_restore, &file);
            for e in &ours.entries {
                match listed.get(&e.dump_id) {
                    Some(line) => {
                        let ns = if e.namespace.is_empty() {
                            "-"
                        } else {
                            &e.namespace
                        };
                        let expected = format!("{} {ns} {} {}", e.desc, e.tag, e.owner);
                        assert_eq!(
                            line.trim_end(),
                            expected.trim_end(),
                            "{label}: entry {}",
                            e.dump_id
                        );
                    }
                    None => assert!(
                        ["ENCODING", "STDSTRINGS", "SEARCHPATH", "DATABASE"]
                            .contains(&e.desc.as_str()),
                        "{label}: pg_restore does not list {e:?}"
                    ),
                }
            }
            assert!(listed
                .keys()
                .all(|id| ours.entries.iter().any(|e| e.dump_id == *id)));
            // …and the rows pg_restore -a writes.
            assert_eq!(
                pg_restore_rows(&pg_restore, &file),
                rows_of(&ours),
                "{label}: rows by pg_restore -a"
            );
        }
        versions.push(piped.archive_version.unwrap());
    }
    eprintln!(
        "cross-checked archive versions {versions:?} from {} pg_dump(s)",
        clients.len()
    );
}
