//! Dev-only test support for pgops: throwaway PostgreSQL clusters and fixtures.
//!
//! [`Cluster`] runs a real server from the machine's PostgreSQL binaries (Debian:
//! `/usr/lib/postgresql/<major>/bin`, or `PGOPS_PG_BIN_DIR`) on a Unix socket in a temp
//! directory, with password authentication and [`SENTINEL_PASSWORD`], so that every test
//! exercises the secret-handling paths. `initdb` refuses root: as root (CI), the server runs
//! as the `postgres` user. One [`Cluster::shared`] cluster per test binary, one database per
//! test; a watchdog stops the server when the test process exits, however it exits. The
//! cluster itself is `ops_pg::cluster::LocalCluster`, which restore-drill also uses.

pub mod fake;
pub mod faulty;
pub mod keys;
pub mod receivers;
pub mod s3;
pub mod schema;
pub mod tls;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// The password of the `postgres` role in every test cluster. Tests assert that it never
/// appears in any output or file.
pub const SENTINEL_PASSWORD: &str = "Sentinel-pw-9f2c7e41";

/// The S3 secret key of the test S3 server: it must never appear in any output either.
pub const SENTINEL_S3_SECRET: &str = "Sentinel-s3-secret-5d8a1b";

/// A free TCP port on loopback (free when asked; the server binds it right after), never
/// one this process handed out before: two tests starting servers at once must not get the
/// same port, or one test's client would talk to the other's server.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// The shell blocks of a runbook that the tests run verbatim: each fenced block opened by
/// ```` ```sh <tag><name> ```` (e.g. `restore:custom-zstd`), as (name, body), in order.
pub fn runbook_blocks(doc: &str, tag: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(workspace_root().join(doc)).unwrap();
    let open = format!("```sh {tag}");
    let mut blocks = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some((name, body)) = current.as_mut() {
            if line.starts_with("```") {
                blocks.push((name.clone(), body.clone()));
                current = None;
            } else {
                body.push_str(line);
                body.push('\n');
            }
        } else if let Some(name) = line.strip_prefix(&open) {
            current = Some((name.trim().to_string(), String::new()));
        }
    }
    blocks
}

/// The workspace root (the directory holding the top `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit lives in the workspace")
        .to_path_buf()
}

/// The sample data: `PGOPS_BENCH_SQL`, else `shared/bench/mixed-db.sql` beside the
/// checkout, else the copy in `scripts/sample/` (so a lone clone still tests).
pub fn mixed_db_sql() -> PathBuf {
    if let Ok(p) = std::env::var("PGOPS_BENCH_SQL") {
        return PathBuf::from(p);
    }
    let root = workspace_root();
    let shared = root
        .parent()
        .expect("the workspace has a parent")
        .join("shared/bench/mixed-db.sql");
    if shared.is_file() {
        shared
    } else {
        root.join("scripts/sample/mixed-db.sql")
    }
}

/// The directory of the newest installed PostgreSQL server binaries.
pub fn pg_bin_dir() -> PathBuf {
    if let Some(d) = std::env::var("PGOPS_PG_BIN_DIR")
        .ok()
        .filter(|d| !d.is_empty())
    {
        return PathBuf::from(d);
    }
    ops_pg::cluster::newest_server_bin().expect(
        "no PostgreSQL server found under /usr/lib/postgresql: run scripts/test, which installs it",
    )
}

/// A running throwaway PostgreSQL server with the sentinel password.
#[derive(Debug)]
pub struct Cluster {
    inner: ops_pg::cluster::LocalCluster,
}

static SHARED: OnceLock<Cluster> = OnceLock::new();
static DB_SEQ: AtomicU32 = AtomicU32::new(0);

impl Cluster {
    /// The cluster of this test binary, started on first use.
    pub fn shared() -> &'static Cluster {
        SHARED.get_or_init(Cluster::start)
    }

    /// A private cluster (for tests that stop the server or break it).
    pub fn start() -> Cluster {
        Cluster::start_with(&pg_bin_dir(), &[], None)
    }

    /// A private cluster of the server in `bin`, with extra settings and a port.
    pub fn start_with(bin: &Path, settings: &[String], port: Option<u16>) -> Cluster {
        let mut all = vec![
            "synchronous_commit=off".into(),
            "max_connections=200".into(),
        ];
        all.extend_from_slice(settings);
        let opts = ops_pg::cluster::Options {
            password: Some(SENTINEL_PASSWORD.into()),
            settings: all,
            port,
        };
        let inner = ops_pg::cluster::LocalCluster::start(bin, &opts)
            .unwrap_or_else(|e| panic!("starting a test cluster: {e}"));
        Cluster { inner }
    }

    /// A hot standby of this cluster, streaming from it (`pg_basebackup -R`), with extra
    /// settings: a real primary and standby pair on Unix sockets.
    pub fn standby(&self, settings: &[String]) -> Cluster {
        let mut all = vec!["max_connections=200".into()];
        all.extend_from_slice(settings);
        let opts = ops_pg::cluster::Options {
            password: None,
            settings: all,
            port: None,
        };
        let inner = ops_pg::cluster::LocalCluster::replica_of(&self.inner, &opts)
            .unwrap_or_else(|e| panic!("starting a standby: {e}"));
        Cluster { inner }
    }

    /// Where the server listens: a Unix socket directory.
    pub fn socket_dir(&self) -> &Path {
        self.inner.socket_dir()
    }

    pub fn port(&self) -> u16 {
        self.inner.port()
    }

    /// Path of a PostgreSQL client program for fixtures: the server's own, else (a server
    /// shipped without clients, like npm's 17) the one pgops would choose for it.
    pub fn bin(&self, name: &str) -> PathBuf {
        let own = self.inner.bin_dir().join(name);
        if own.is_file() {
            return own;
        }
        let installs = ops_pg::programs::installations(None);
        ops_pg::programs::pick_dump(&installs, self.major())
            .map(|i| i.program(name))
            .unwrap_or(own)
    }

    /// The server's major version.
    pub fn major(&self) -> u32 {
        ops_pg::programs::install_at(self.inner.bin_dir()).map_or(0, |i| i.major)
    }

    pub fn bin_dir(&self) -> &Path {
        self.inner.bin_dir()
    }

    /// Starts the server again after [`stop_server`](Self::stop_server).
    pub fn start_server(&self) {
        self.inner.start_server().unwrap_or_else(|e| panic!("{e}"));
    }

    /// Stops the server at once (like a crash, `-m immediate`).
    pub fn stop_server(&self) {
        self.inner.stop_server();
    }

    /// libpq environment for a tool under test: socket, port, user and the sentinel password.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("PGHOST".into(), self.socket_dir().display().to_string()),
            ("PGPORT".into(), self.port().to_string()),
            ("PGUSER".into(), "postgres".into()),
            ("PGPASSWORD".into(), SENTINEL_PASSWORD.into()),
        ]
    }

    /// Applies [`env`](Self::env) to a command, after clearing inherited libpq variables.
    pub fn configure(&self, cmd: &mut Command) {
        for v in [
            "PGHOST",
            "PGPORT",
            "PGUSER",
            "PGPASSWORD",
            "PGDATABASE",
            "PGPASSFILE",
            "PGSERVICE",
        ] {
            cmd.env_remove(v);
        }
        cmd.envs(self.env());
    }

    /// Points a command running a pgops tool at this cluster: the libpq environment, the
    /// cluster's client binaries first on PATH, and no PGOPS_* setting leaking in.
    pub fn configure_tool(&self, cmd: &mut Command) {
        self.configure(cmd);
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env("PATH", format!("{}:{path}", self.bin_dir().display()))
            .env_remove("PGOPS_BACKUP_DIR")
            .env_remove("PGOPS_CORRELATION_ID")
            .env_remove("INVOCATION_ID")
            .env_remove("PGOPS_FAILPOINT")
            .env_remove("PGOPS_SIGNING_KEY")
            .env_remove("PGOPS_PUBLIC_KEY")
            .env_remove("PGOPS_IDENTITY_FILE")
            .env_remove("PGOPS_RECIPIENTS_FILE")
            .env_remove("PGOPS_JOBS")
            .env_remove("PGOPS_FORMAT")
            .env_remove("PGOPS_DIRECTORY_FROM")
            .env_remove("PGOPS_STANDBY_REPLAY")
            .env_remove("PGOPS_CONFIG_FILES");
    }

    /// Another workspace tool (built on demand), configured with [`configure_tool`](Self::configure_tool).
    pub fn tool(&self, name: &str) -> Command {
        let mut cmd = Command::new(tool_bin(name));
        self.configure_tool(&mut cmd);
        cmd
    }

    pub fn connect(&self, db: &str) -> postgres::Client {
        postgres::Config::new()
            .host_path(self.socket_dir())
            .port(self.port())
            .user("postgres")
            .password(SENTINEL_PASSWORD)
            .dbname(db)
            .connect(postgres::NoTls)
            .unwrap_or_else(|e| panic!("connect to {db:?}: {e}"))
    }

    /// A fresh database with a unique name starting with `prefix`.
    pub fn unique_db(&self, prefix: &str) -> String {
        let name = format!(
            "{prefix}_{}_{}",
            std::process::id(),
            DB_SEQ.fetch_add(1, Ordering::SeqCst)
        );
        self.create_db(&name);
        name
    }

    /// Creates a database with exactly this name (any characters), dropping an old one.
    pub fn create_db(&self, name: &str) {
        let mut c = self.connect("postgres");
        let q = quote_ident(name);
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {q}"))
            .unwrap();
        c.batch_execute(&format!("CREATE DATABASE {q}")).unwrap();
    }

    /// A role of this test process, made anew (NOLOGIN): `<prefix>_<pid>`.
    pub fn fresh_role(&self, prefix: &str) -> String {
        let role = format!("{prefix}_{}", std::process::id());
        self.connect("postgres")
            .batch_execute(&format!(
                "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} NOLOGIN"
            ))
            .unwrap();
        role
    }

    /// The owner of table `public.<table>` in `db`.
    pub fn table_owner(&self, db: &str, table: &str) -> String {
        self.connect(db)
            .query_one(
                "SELECT tableowner::text FROM pg_tables WHERE schemaname = 'public' AND tablename = $1",
                &[&table],
            )
            .unwrap()
            .get(0)
    }

    pub fn drop_db(&self, name: &str) {
        let mut c = self.connect("postgres");
        c.batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(name)
        ))
        .unwrap();
    }

    /// Runs `psql -v ON_ERROR_STOP=1 [-v k=v…] -f file` against `db`.
    pub fn psql_file(&self, db: &str, file: &Path, vars: &[(&str, &str)]) {
        let mut cmd = Command::new(self.bin("psql"));
        self.configure(&mut cmd);
        cmd.env("PGDATABASE", db)
            .args(["-q", "-X", "-v", "ON_ERROR_STOP=1"]);
        for (k, v) in vars {
            cmd.arg("-v").arg(format!("{k}={v}"));
        }
        let out = cmd.arg("-f").arg(file).output().expect("psql runs");
        assert!(
            out.status.success(),
            "psql -f {} failed: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Loads `shared/bench/mixed-db.sql` at `scale` into `db`.
    pub fn load_mixed(&self, db: &str, scale: &str) {
        self.psql_file(db, &mixed_db_sql(), &[("scale", scale)]);
    }

    /// Exact row counts of every ordinary table (including leaf partitions) in `db`,
    /// outside the system schemas: `(schema, name) -> count(*)`.
    pub fn row_counts(&self, db: &str) -> std::collections::BTreeMap<(String, String), u64> {
        let mut c = self.connect(db);
        let tables = c
            .query(
                "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                   AND n.nspname NOT LIKE 'pg_toast%'",
                &[],
            )
            .unwrap();
        let mut out = std::collections::BTreeMap::new();
        for t in tables {
            let (s, n): (String, String) = (t.get(0), t.get(1));
            let q = format!(
                "SELECT count(*) FROM {}.{}",
                quote_ident(&s),
                quote_ident(&n)
            );
            let count: i64 = c.query_one(&q, &[]).unwrap().get(0);
            out.insert((s, n), count as u64);
        }
        out
    }
}

/// Quotes an SQL identifier.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Panics if the sentinel password appears in `text` (label says where it was found).
pub fn assert_no_secret(label: &str, text: &[u8]) {
    for (what, needle) in [
        ("password", SENTINEL_PASSWORD),
        ("S3 secret key", SENTINEL_S3_SECRET),
    ] {
        let needle = needle.as_bytes();
        assert!(
            !text.windows(needle.len()).any(|w| w == needle),
            "the sentinel {what} leaked into {label}"
        );
    }
}

/// A runbook's script as run: it must have succeeded and said no secret on either stream;
/// its stdout.
pub fn runbook_stdout(out: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_no_secret("runbook stdout", &out.stdout);
    assert_no_secret("runbook stderr", &out.stderr);
    stdout
}

/// Checks every file under `dir` for the sentinel password.
pub fn assert_no_secret_in_tree(dir: &Path) {
    for entry in walk(dir) {
        if entry.is_file() {
            let bytes = std::fs::read(&entry).unwrap_or_default();
            assert_no_secret(&entry.display().to_string(), &bytes);
        }
    }
}

/// The unprivileged user tests run tools as, when they need permissions to bind (root
/// reads everything): `nobody`/`nogroup`.
pub const NOBODY: u32 = 65534;

/// True when this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Gives `dir` and everything under it to [`NOBODY`] (as root; otherwise the tree is the
/// test's own already).
pub fn chown_tree_to_nobody(dir: &Path) {
    if !is_root() {
        return;
    }
    for p in std::iter::once(dir.to_path_buf()).chain(walk(dir)) {
        std::os::unix::fs::lchown(&p, Some(NOBODY), Some(NOBODY)).unwrap();
    }
}

/// Runs `cmd` as [`NOBODY`] when root, as is otherwise.
pub fn as_nobody(cmd: &mut Command) -> Output {
    use std::os::unix::process::CommandExt;
    if is_root() {
        cmd.uid(NOBODY).gid(NOBODY);
    }
    cmd.output().unwrap()
}

/// Every path under `dir` (not `dir` itself), links not followed.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .flatten()
        .map(|e| e.into_path())
        .collect()
}

/// A schema that exercises every naming and storage corner pg_dump has: quoted, mixed-case,
/// unicode and dotted identifiers, values with newlines, tabs and backslashes, an empty
/// table, a partitioned table, bytea, large objects and a materialized view.
pub const TRICKY_SQL: &str = r#"
CREATE SCHEMA "Mixed.Case Schema";
CREATE TABLE "Mixed.Case Schema"."Table ""quoted"" é" (id int PRIMARY KEY, "Col.Name" text);
INSERT INTO "Mixed.Case Schema"."Table ""quoted"" é"
  SELECT g, E'line\nbreak\ttab\\back ' || g FROM generate_series(1, 37) g;
CREATE TABLE public.empty_table (id int);
CREATE TABLE public."ÜnïcødeTäble" (v text);
INSERT INTO public."ÜnïcødeTäble" SELECT 'ünï ' || g FROM generate_series(1, 5) g;
CREATE TABLE public."dotted.name" (v int);
INSERT INTO public."dotted.name" VALUES (1), (2);
CREATE TABLE public.measurements (id int, at date NOT NULL, v numeric) PARTITION BY RANGE (at);
CREATE TABLE public.measurements_2025 PARTITION OF public.measurements FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE public.measurements_2026 PARTITION OF public.measurements FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO public.measurements SELECT g, date '2025-06-01' + (g % 400), g * 1.5 FROM generate_series(1, 300) g;
CREATE TABLE public.docs (id int, body bytea);
INSERT INTO public.docs SELECT g, decode(repeat('0a5c00ff', g), 'hex') FROM generate_series(1, 20) g;
SELECT lo_from_bytea(0, 'hello'::bytea), lo_from_bytea(0, '\x000aff'::bytea), lo_from_bytea(0, ''::bytea);
CREATE MATERIALIZED VIEW public.doc_sizes AS SELECT id, length(body) AS n FROM public.docs;
"#;

/// A value of every built-in type pg_dump writes as text, with NULLs, empty strings, the
/// edge values (NaN, infinities, -0, BC dates, emoji, escapes), arrays, JSON, bytea,
/// values of several megabytes, a generated column, a dropped column, an inherited table,
/// an enum, a domain and a composite: what a content digest must read back bit for bit
/// across every supported dump and restore pairing (ADR 0026).
pub const EVERY_TYPE_SQL: &str = r#"
CREATE TYPE public.mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE public.pair AS (a int, b text);
CREATE DOMAIN public.posint AS int CHECK (VALUE > 0);
CREATE TABLE public.every_type (
  id int PRIMARY KEY, b bool, i2 int2, i4 int4, i8 int8, n numeric, n4 numeric(12,4),
  f4 float4, f8 float8, m money, ch char(5), vc varchar(10), t text, "by" bytea,
  d date, tm time, ttz timetz, ts timestamp, tstz timestamptz, iv interval,
  u uuid, ip inet, net cidr, mac macaddr, mac8 macaddr8,
  pt point, ln line, ls lseg, bx box, pa path, pg polygon, ci circle,
  bt bit(4), vb varbit, tv tsvector, tq tsquery, j json, jb jsonb, jp jsonpath,
  r4 int4range, r8 int8range, rn numrange, rts tsrange, rtz tstzrange, rd daterange,
  mr int4multirange, ai int[], at text[], a2 int[], lsn pg_lsn, sn pg_snapshot, o oid,
  rc regclass, rt regtype, c "char", nm name, x8 xid8, e public.mood, cp public.pair,
  dm public.posint, xm text
);
INSERT INTO public.every_type VALUES
 (1, true, 32767, -2147483648, 9223372036854775807, 123456789012345678901234567890.123456789,
  -1.5, 1.1, 0.1, 12.34, 'ab', 'héllo', 'plain', '\x00ff0a5c'::bytea,
  '2024-02-29', '23:59:59.999999', '12:00:00+05:30', '2024-01-01 00:00:00.5',
  '2024-06-30 23:59:59.123456+02', '1 year 2 mons 3 days 04:05:06.789',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03',
  '08:00:2b:01:02:03:04:05', '(1.5,-2)', '{1,-1,0}', '[(0,0),(1,1)]', '((0,0),(2,2))',
  '[(0,0),(1,1),(2,0)]', '((0,0),(1,1),(1,0))', '<(0,0),1.5>', B'1010', B'10101',
  'a fat cat sat on a mat', 'fat & (rat | cat)', '{"b": 1, "a": [1, 2.50, null]}',
  '{"b": 1, "a": [1, 2.50, null]}', '$.a[*] ? (@ > 1)', '[1,10)', '(,100]', '[1.5,2.5]',
  '[2024-01-01,2024-02-01)', '[2024-01-01 00:00+00,infinity)', '[2024-01-01,2024-12-31]',
  '{[1,3),[5,8)}', '{1,NULL,3}', '{"a","b c","q\"uote","back\\slash",NULL,""}',
  '{{1,2},{3,4}}', '16/B374D848', '10:20:10,14,15', '4294967295', 'pg_catalog.pg_class',
  'pg_catalog.int4', 'x', 'a name', '18446744073709551615', 'happy', ROW(1, 'x,y "z"'), 7,
  '<a b="1">x</a>'),
 (3, false, -32768, 0, -1, 'NaN', 0, '-0', 'Infinity', -0.01, '', '', '', ''::bytea,
  '4713-01-01 BC', '00:00', '00:00:00-14:59', '-infinity', 'infinity', '-178000000 years',
  '00000000-0000-0000-0000-000000000000', '::1', '::/0', '00:00:00:00:00:00',
  '00:00:00:00:00:00:00:00', '(0,0)', '{0,1,0}', '[(0,0),(0,0)]', '((0,0),(0,0))',
  '((0,0),(1,1))', '((0,0))', '<(1e300,-1e-300),0>', B'0000', B'', '', 'x', '""', '[]',
  '$', 'empty', '(,)', '(,)', 'empty', 'empty', 'empty', '{}', '{}', '{NULL}', '{}',
  '0/0', '1:1:', 0, '-', '-', E'\\', '', '0', 'sad', ROW(NULL, NULL), 1, ''),
 (4, true, 1, 1, 1, '-Infinity', 99999999.9999, 3.4028235e38, 2.2250738585072014e-308,
  -92233720368547758.08, E'\t\\ "', E'tab\there', E'emoji 😀 line\nbreak\r\\back',
  decode(repeat('00', 300), 'hex'), '5874897-12-31', '24:00', '24:00:00+15:59',
  '294276-12-31 23:59:59.999999', '1970-01-01 00:00:00+00', '-1 days +02:03',
  'ffffffff-ffff-ffff-ffff-ffffffffffff', '2001:db8::1/128', '2001:db8::/32',
  'ff:ff:ff:ff:ff:ff', 'ff:ff:ff:ff:ff:ff:ff:ff', '(-0,-0)', '{1,0,-3}', '[(1,2),(3,4)]',
  '((3,4),(1,2))', '[(1,2),(3,4)]', '((1,2),(3,4),(5,6))', '<(1,2),3>', B'1111',
  B'1111111111111111111111111111111111111111111111111111111111111111111111', 'ünï:1A,2B',
  'a:* & !b', '  {"spaces" :  true }  ', '{"z": {}, "é": "\u00e9"}', 'strict $.x',
  '[-2147483648,2147483647)', '[-9223372036854775808,9223372036854775807)', '(0,1e-20)',
  '(-infinity,infinity)', '[2024-01-01 00:00+00,2024-01-01 00:00:00.000001+00]',
  '[-infinity,infinity)', '{[1,2),[3,4),[10,20)}', '{-1,0,1}', E'{"\\\\t","\\n"}',
  '{{NULL,2},{3,NULL}}', 'FFFFFFFF/FFFFFFFF', '100:100:', 1, 'pg_catalog.pg_namespace',
  'pg_catalog."varchar"', E'\001', repeat('n', 63), '1', 'ok', ROW(-1, ''), 2147483647,
  E'<?xml version="1.0"?><r>é</r>');
INSERT INTO public.every_type (id) VALUES (2);
CREATE TABLE public.generated_and_dropped (
  a int, gone text, b text, twice int GENERATED ALWAYS AS (a * 2) STORED, later text
);
INSERT INTO public.generated_and_dropped (a, gone, b) SELECT g, 'x', 'b' || g FROM generate_series(1, 50) g;
ALTER TABLE public.generated_and_dropped DROP COLUMN gone;
UPDATE public.generated_and_dropped SET later = 'later ' || a WHERE a % 3 = 0;
ALTER TABLE public.generated_and_dropped ADD COLUMN with_default text DEFAULT 'd';
CREATE TABLE public.inh_parent (id int, v text);
CREATE TABLE public.inh_child (extra jsonb) INHERITS (public.inh_parent);
INSERT INTO public.inh_parent SELECT g, 'p' || g FROM generate_series(1, 10) g;
INSERT INTO public.inh_child SELECT g, 'c' || g, jsonb_build_object('g', g) FROM generate_series(1, 7) g;
CREATE TABLE public.big_values (id int, body text, blob bytea);
INSERT INTO public.big_values SELECT g, repeat(md5(g::text), 70000), decode(repeat(md5(g::text), 30000), 'hex') FROM generate_series(1, 3) g;
CREATE TABLE public.duplicates (v text);
INSERT INTO public.duplicates SELECT 'same' FROM generate_series(1, 4);
"#;

impl Cluster {
    /// Loads [`EVERY_TYPE_SQL`] into `db`.
    pub fn load_every_type(&self, db: &str) {
        self.connect(db).batch_execute(EVERY_TYPE_SQL).unwrap();
    }

    /// Loads [`TRICKY_SQL`] into `db`.
    pub fn load_tricky(&self, db: &str) {
        self.connect(db).batch_execute(TRICKY_SQL).unwrap();
    }

    /// Runs `pg_dump ARGS` on `db` and returns its stdout.
    pub fn pg_dump(&self, db: &str, args: &[&str]) -> Vec<u8> {
        self.run_client(&self.bin("pg_dump"), db, args)
    }

    /// Every installed pg_dump that can dump this server (its major or newer), oldest
    /// first: one real archive version each.
    pub fn dump_clients(&self) -> Vec<ops_pg::programs::Install> {
        let mut all: Vec<_> = ops_pg::programs::installations(None)
            .into_iter()
            .filter(|i| i.has("pg_dump") && i.major >= self.major())
            .collect();
        all.sort_by_key(|i| i.major);
        all.dedup_by_key(|i| i.major);
        all
    }

    /// Runs a libpq client `program ARGS` on `db` and returns its stdout; it must succeed.
    pub fn run_client(&self, program: &Path, db: &str, args: &[&str]) -> Vec<u8> {
        let mut cmd = Command::new(program);
        self.configure(&mut cmd);
        let out = cmd
            .env("PGDATABASE", db)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
        assert!(
            out.status.success(),
            "{} failed: {}",
            program.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
}

/// The Python with the PyPI packages tests compare against (`pgdumplib`), which
/// `scripts/py-tools.sh` installs: `PGOPS_PYTHON`, else its default venv.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("PGOPS_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let cache = if is_root() {
        PathBuf::from("/var/cache/pgops")
    } else {
        std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
            })
            .join("pgops")
    };
    let venv = cache.join("venv/bin/python");
    assert!(
        venv.is_file(),
        "no {}: run scripts/test (or `. scripts/py-tools.sh; pgops_python_tools`), which installs pgdumplib from PyPI",
        venv.display()
    );
    venv
}

/// A program of [`python`]'s virtual environment (`moto_server`, `aws`, `kubectl`,
/// `kubernetes-validate`), installed by `scripts/py-tools.sh`.
pub fn venv_bin(name: &str) -> PathBuf {
    python()
        .parent()
        .expect("the venv's bin directory")
        .join(name)
}

/// Runs a Python check (`python -c SCRIPT ARGS…`, PyYAML at hand) that must succeed; its
/// output is the failure message.
pub fn python_check(script: &str, args: &[&Path]) {
    let out = Command::new(python())
        .args(["-c", script])
        .args(args)
        .output()
        .expect("the test venv's python runs");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every pgops tool, by the name it is installed as.
pub const TOOLS: [&str; 10] = [
    "pgdump-run",
    "backup-verify",
    "backup-rotate",
    "backup-copy",
    "backup-restore",
    "backup-bucket",
    "restore-drill",
    "port-audit",
    "ops-status",
    "ops-notify",
];

/// A tool's event stream cut before its `run.finished`, as a producer killed at its end
/// leaves it (what `backup-verify -` and `restore-drill -` must not read as success).
pub fn without_run_finished(events: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(events)
        .lines()
        .filter(|l| !l.contains("\"run.finished\""))
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .into_bytes()
}

/// Every file under `dir`, at any depth (a missing directory: none).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The path of another workspace binary (e.g. `pgdump-run` from backup-verify's tests),
/// built on first use so that a test of one crate can drive the tool of another.
pub fn tool_bin(name: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let path = target.join("debug").join(name);
    // scripts/test builds every binary with the workspace's tests first and says so: a
    // `cargo build -p NAME` here would resolve NAME's features alone, differently from
    // that build, and compile it (and its dependencies) again in every CI run.
    let prebuilt = std::env::var_os("PGOPS_TEST_BINS_BUILT").is_some() && path.is_file();
    if !prebuilt && !built.iter().any(|b| b == name) {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", name, "--bin", name])
            .current_dir(workspace_root())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building {name} failed");
        built.push(name.to_string());
    }
    path
}

/// Runs `producer | consumer` and returns the consumer's output, once the producer has
/// succeeded (the way a pipeline of pgops tools runs under a timer).
pub fn pipe(mut producer: Command, mut consumer: Command) -> Output {
    let mut first = producer
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the producer starts");
    let out = consumer
        .stdin(first.stdout.take().expect("stdout is piped"))
        .output()
        .expect("the consumer runs");
    assert!(
        first.wait().expect("the producer ends").success(),
        "the producer failed"
    );
    out
}

/// The output of one run of a pgops tool, checked: every stdout line matches its schema,
/// `run.finished` is last and carries the exit code, one correlation id, no secret.
#[derive(Debug)]
pub struct ToolRun {
    pub code: i32,
    pub stderr: String,
    pub events: Vec<serde_json::Value>,
}

impl ToolRun {
    pub fn check(out: Output) -> ToolRun {
        assert_no_secret("stdout", &out.stdout);
        assert_no_secret("stderr", &out.stderr);
        let events = schema::validate_stdout(&out.stdout);
        let run = ToolRun {
            code: out.status.code().unwrap_or(-1),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            events,
        };
        assert_eq!(
            run.finished()["exit_code"],
            run.code,
            "run.finished carries the exit code"
        );
        assert_eq!(run.named("run.finished").len(), 1);
        let ids: std::collections::HashSet<_> = run
            .events
            .iter()
            .map(|e| e["correlation_id"].clone())
            .collect();
        assert_eq!(ids.len(), 1, "one correlation id per run");
        run
    }

    /// Runs `cmd` with `input` on its stdin (another tool's events) and checks it.
    pub fn fed(mut cmd: Command, input: &[u8]) -> ToolRun {
        use std::io::Write;
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the tool starts");
        // A tool may stop reading early (it failed): what it did not read is not the test.
        let _ = child.stdin.take().unwrap().write_all(input);
        ToolRun::check(child.wait_with_output().unwrap())
    }

    pub fn named(&self, event: &str) -> Vec<&serde_json::Value> {
        self.events.iter().filter(|e| e["event"] == event).collect()
    }

    pub fn finished(&self) -> &serde_json::Value {
        let last = self.events.last().expect("at least one event");
        assert_eq!(
            last["event"], "run.finished",
            "run.finished is the last line"
        );
        last
    }

    /// The error code of the first event named `event` that carries an error.
    pub fn error_code(&self, event: &str) -> &str {
        self.named(event)
            .into_iter()
            .find_map(|e| e["error"]["code"].as_str())
            .unwrap_or_else(|| {
                panic!(
                    "no {event} with an error: {:#?}\n{}",
                    self.events, self.stderr
                )
            })
    }
}

/// Runs `promtool check metrics` on `text` (Debian's prometheus, installed by
/// scripts/deps.sh) and panics when it fails; returns what it said (its lint).
pub fn promtool_check_metrics(text: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian prometheus, installed by scripts/deps.sh)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool check metrics: {said}\n{text}"
    );
    said
}
