//! Real archives of one database state, shared by the tests of this crate.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::OnceLock;
use testkit::Cluster;

/// A database with every feature the tricky fixture covers, dumped by every installed
/// pg_dump that can dump the test server.
pub struct Fixture {
    pub counts: BTreeMap<(String, String), u64>,
    pub custom_z0: Vec<u8>,
    pub custom_zlib: Vec<u8>,
    pub plain: Vec<u8>,
    /// Custom archives (-Z0 and default compression) of every other installed pg_dump
    /// that can dump the server: the real 1.15 and 1.16 layouts.
    pub others: Vec<(String, Vec<u8>)>,
    /// Directory archives (`-Fd -Z0 -j 2`) of every installed pg_dump that can dump the
    /// server, the server's own first, each with the custom `-Z0` archive of the same
    /// pg_dump to compare with.
    pub directories: Vec<(String, tempfile::TempDir, Vec<u8>)>,
}

pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let c = Cluster::shared();
        let db = c.unique_db("archive");
        c.load_tricky(&db);
        Fixture {
            counts: c.row_counts(&db),
            custom_z0: c.pg_dump(&db, &["-Fc", "-Z0"]),
            custom_zlib: c.pg_dump(&db, &["-Fc"]),
            plain: c.pg_dump(&db, &["-Fp"]),
            others: c
                .dump_clients()
                .into_iter()
                .filter(|i| i.major != c.major())
                .flat_map(|i| {
                    let pg_dump = i.program("pg_dump");
                    [["-Fc", "-Z0"], ["-Fc", "-Z6"]].map(|args| {
                        (
                            format!("pg_dump {} {args:?}", i.version),
                            c.run_client(&pg_dump, &db, &args),
                        )
                    })
                })
                .collect(),
            directories: c
                .dump_clients()
                .into_iter()
                .map(|i| {
                    let pg_dump = i.program("pg_dump");
                    let dir = tempfile::tempdir().unwrap();
                    let out = dir.path().join("d");
                    let out_arg = out.to_str().unwrap();
                    c.run_client(&pg_dump, &db, &["-Fd", "-Z0", "-j", "2", "-f", out_arg]);
                    let custom = c.run_client(&pg_dump, &db, &["-Fc", "-Z0"]);
                    (format!("pg_dump {} -Fd", i.version), dir, custom)
                })
                .collect(),
        }
    })
}

impl Fixture {
    /// Every archive with a label: the server's own pg_dump in each format, then the others.
    pub fn all(&self) -> Vec<(String, &[u8])> {
        let mut out: Vec<(String, &[u8])> = vec![
            ("custom -Z0".into(), &self.custom_z0),
            ("custom zlib".into(), &self.custom_zlib),
            ("plain".into(), &self.plain),
        ];
        out.extend(self.others.iter().map(|(l, b)| (l.clone(), b.as_slice())));
        out
    }
}
