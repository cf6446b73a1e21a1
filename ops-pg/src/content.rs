//! A table's content as pg_dump wrote it, read back from a server (ADR 0026): the session
//! pg_dump writes rows under, and the multiset digest of a table's rows read with
//! `COPY … TO STDOUT` under that same session. The backup records both; a drill, a restore
//! and `--compare-live` read the rows back and compare.

use crate::quote_ident;
use pg_archive::digest::MultisetDigest;
use pg_archive::CopyDigest;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::process::Command;

/// What pg_dump sets in its own session (`setup_connection` in pg_dump.c, checked with
/// `log_statement = all` on 15 to 18), and the time zone pgops gives it: the text of every
/// date, time, interval and floating-point value it writes.
/// An empty `search_path` qualifies every `regclass` and `regtype`; `row_security = off`
/// makes a table whose policies would hide rows an error, never fewer rows.
pub const DUMP_SESSION: [(&str, &str); 6] = [
    ("DateStyle", "ISO"),
    ("IntervalStyle", "postgres"),
    ("extra_float_digits", "3"),
    ("search_path", ""),
    ("row_security", "off"),
    ("TimeZone", "UTC"),
];

/// What pg_dump's text depends on that it leaves to the database's (and the role's)
/// defaults: bytea and money text, and the encoding of every value.
pub const FROM_DATABASE: [&str; 3] = ["bytea_output", "lc_monetary", "client_encoding"];

/// Gives a pg_dump command the session the digests assume. pg_dump sets no time zone, so a
/// `timestamptz` would be written in the host's (the same instant, other text): pgops
/// makes it UTC. The database's own encoding, not one inherited from the environment.
pub fn dump_env(cmd: &mut Command) {
    cmd.env("PGTZ", "UTC").env_remove("PGCLIENTENCODING");
}

/// The session a dump of the database `client` is connected to writes its rows under (the
/// same role and database as the dump: the same defaults).
pub fn dump_session(
    client: &mut postgres::Client,
) -> Result<BTreeMap<String, String>, postgres::Error> {
    let row = client.query_one(
        "SELECT current_setting('bytea_output'), current_setting('lc_monetary'), \
                current_setting('server_encoding')",
        &[],
    )?;
    let mut session: BTreeMap<String, String> = DUMP_SESSION
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (i, name) in FROM_DATABASE.iter().enumerate() {
        session.insert(name.to_string(), row.get(i));
    }
    Ok(session)
}

/// Puts `client`'s session where the dump's was. Only the settings named above are taken
/// from a manifest (whatever else it says is not applied); a set without recorded settings
/// gets pg_dump's own.
pub fn apply_session(
    client: &mut postgres::Client,
    recorded: Option<&BTreeMap<String, String>>,
) -> Result<(), postgres::Error> {
    let known = |k: &str| DUMP_SESSION.iter().any(|(n, _)| *n == k) || FROM_DATABASE.contains(&k);
    let fixed = DUMP_SESSION
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()));
    let settings: BTreeMap<String, String> = match recorded {
        Some(r) => r
            .iter()
            .filter(|(k, _)| known(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        None => fixed.collect(),
    };
    for (name, value) in &settings {
        client.execute("SELECT set_config($1, $2, false)", &[name, value])?;
    }
    Ok(())
}

/// `COPY schema.name (columns…) TO STDOUT`: the statement that reads back what pg_dump's
/// `COPY … FROM stdin` wrote.
pub fn copy_out_sql(schema: &str, name: &str, columns: &[String]) -> String {
    let table = format!("{}.{}", quote_ident(schema), quote_ident(name));
    if columns.is_empty() {
        format!("COPY {table} TO STDOUT")
    } else {
        let list: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
        format!("COPY {table} ({}) TO STDOUT", list.join(", "))
    }
}

/// Why a table's digest could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error("{0}")]
    Query(#[from] postgres::Error),
    #[error("reading the rows: {0}")]
    Read(#[from] std::io::Error),
    #[error("the rows ended inside a row")]
    Cut,
}

/// The multiset digest of a table's rows, read from `client` (whose session
/// [`apply_session`] set): streamed, no row kept.
pub fn table_digest(
    client: &mut postgres::Client,
    schema: &str,
    name: &str,
    columns: &[String],
) -> Result<MultisetDigest, DigestError> {
    let mut reader = client.copy_out(&copy_out_sql(schema, name, columns))?;
    let mut digest = CopyDigest::default();
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let n = buf.len();
        digest.feed(buf);
        reader.consume(n);
    }
    digest.finish().ok_or(DigestError::Cut)
}
