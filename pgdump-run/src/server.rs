//! What pgdump-run asks the server before dumping: its version, the databases, their sizes.

use ops_core::{Category, OpsError};
use ops_pg::conn::ConnSettings;

/// Facts about the server, read once per run.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// `server_version`, e.g. `15.18 (Debian 15.18-0+deb12u1)`.
    pub version: String,
    pub major: u32,
    /// A hot standby (in recovery): replay is paused for the run (crate::standby).
    pub standby: bool,
}

pub fn connect(settings: &ConnSettings) -> Result<postgres::Client, OpsError> {
    settings.connect()
}

fn query_error(err: postgres::Error) -> OpsError {
    OpsError::new("query_failed", Category::Dependency, err.to_string())
}

pub fn server_info(client: &mut postgres::Client) -> Result<ServerInfo, OpsError> {
    let row = client
        .query_one(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int, \
                    pg_is_in_recovery()",
            &[],
        )
        .map_err(query_error)?;
    let num: i32 = row.get(1);
    Ok(ServerInfo {
        version: row.get(0),
        major: (num / 10000) as u32,
        standby: row.get(2),
    })
}

/// Every database that accepts connections, templates excluded, by name.
pub fn list_databases(client: &mut postgres::Client) -> Result<Vec<String>, OpsError> {
    let rows = client
        .query(
            "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname",
            &[],
        )
        .map_err(query_error)?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// `pg_database_size`, or `None` if the database is gone or not readable.
pub fn database_size(client: &mut postgres::Client, db: &str) -> Option<u64> {
    client
        .query_opt(
            "SELECT pg_database_size(oid) FROM pg_database WHERE datname = $1",
            &[&db],
        )
        .ok()
        .flatten()
        .map(|r| r.get::<_, i64>(0) as u64)
}

/// The database's own properties that an archive made without `--create` leaves out, or
/// `None` if the database is gone or they cannot be read (the set is still taken: a note
/// would be noise for an unprivileged user, and backup-restore then skips them).
pub fn database_properties(
    client: &mut postgres::Client,
    db: &str,
) -> Option<ops_catalog::catalog::DatabaseProperties> {
    let row = client
        .query_opt(
            "SELECT d.oid, pg_get_userbyid(d.datdba)::text, shobj_description(d.oid, 'pg_database'), \
                    d.datconnlimit, d.datacl::text[] \
             FROM pg_database d WHERE d.datname = $1",
            &[&db],
        )
        .ok()??;
    let oid: postgres::types::Oid = row.get(0);
    let settings: Vec<String> = client
        .query(
            "SELECT unnest(setconfig) FROM pg_db_role_setting WHERE setdatabase = $1 AND setrole = 0",
            &[&oid],
        )
        .ok()?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let role_settings = client
        .query(
            "SELECT pg_get_userbyid(setrole)::text, unnest(setconfig) FROM pg_db_role_setting \
             WHERE setdatabase = $1 AND setrole <> 0 ORDER BY 1",
            &[&oid],
        )
        .ok()?
        .iter()
        .map(|r| ops_catalog::catalog::RoleSetting {
            role: r.get(0),
            setting: r.get(1),
        })
        .collect();
    Some(ops_catalog::catalog::DatabaseProperties {
        owner: row.get(1),
        comment: row.get(2),
        connection_limit: row.get(3),
        settings,
        role_settings,
        acl: row.get(4),
    })
}

/// The session pg_dump will write the rows of `db` under (ADR 0026), read through a
/// connection to that database as the dump's role, or `None` when it cannot be read (the
/// set is still taken; its digests are then read back under pg_dump's own settings).
pub fn dump_session(
    settings: &ConnSettings,
    db: &str,
) -> Option<std::collections::BTreeMap<String, String>> {
    let mut client = settings.for_database(db).connect().ok()?;
    ops_pg::content::dump_session(&mut client).ok()
}
