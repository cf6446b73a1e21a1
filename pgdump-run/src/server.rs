//! What pgdump-run asks the server before dumping: its version, the databases, their sizes.

use ops_core::conn::ConnSettings;
use ops_core::{Category, OpsError};

/// Facts about the server, read once per run.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// `server_version`, e.g. `15.18 (Debian 15.18-0+deb12u1)`.
    pub version: String,
    pub major: u32,
}

/// Classifies a connection error: bad credentials are `authz`, anything else `dependency`.
pub fn connect_error(settings: &ConnSettings, err: &postgres::Error) -> OpsError {
    let target = format!(
        "{}:{} as {}",
        settings.effective_host(),
        settings.effective_port(),
        settings.effective_user()
    );
    let detail = error_chain(err);
    let auth = err.code().is_some_and(|c| {
        *c == postgres::error::SqlState::INVALID_PASSWORD
            || *c == postgres::error::SqlState::INVALID_AUTHORIZATION_SPECIFICATION
    }) || detail.contains("password missing");
    let redactor = ops_core::redact::Redactor::new(settings.secrets());
    let message = redactor.redact(&format!("cannot connect to {target}: {detail}"));
    if auth {
        OpsError::new("auth_failed", Category::Authz, message)
    } else {
        OpsError::new("connect_failed", Category::Dependency, message)
    }
}

/// `invalid configuration: password missing`: the error and its causes, which the
/// `postgres` crate keeps out of its top-level message.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

pub fn connect(settings: &ConnSettings) -> Result<postgres::Client, OpsError> {
    settings
        .pg_config()?
        .connect(postgres::NoTls)
        .map_err(|e| connect_error(settings, &e))
}

fn query_error(err: postgres::Error) -> OpsError {
    OpsError::new("query_failed", Category::Dependency, err.to_string())
}

pub fn server_info(client: &mut postgres::Client) -> Result<ServerInfo, OpsError> {
    let row = client
        .query_one(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int",
            &[],
        )
        .map_err(query_error)?;
    let num: i32 = row.get(1);
    Ok(ServerInfo {
        version: row.get(0),
        major: (num / 10000) as u32,
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
