//! The effects on the target server: what state the target is in, and the database-level
//! statements a restore runs (each quoted: a restore keeps the original name, whatever it
//! is).

use crate::plan::TargetState;
use ops_core::{Category, OpsError};
use ops_pg::conn::ConnSettings;
use ops_restore::proof::quote_ident;

fn sql_error(what: &str, e: postgres::Error) -> OpsError {
    let detail = e
        .as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_else(|| e.to_string());
    OpsError::new(
        "target_failed",
        Category::Dependency,
        format!("{what}: {detail}"),
    )
}

/// The server's major version.
pub fn major(admin: &ConnSettings) -> Result<u32, OpsError> {
    let num: i32 = admin
        .connect()?
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .map_err(|e| sql_error("asking the server's version", e))?
        .get(0);
    Ok((num / 10000) as u32)
}

/// Whether `db` exists and holds anything outside the system schemas.
pub fn state(admin: &ConnSettings, db: &str) -> Result<TargetState, OpsError> {
    let exists = admin
        .connect()?
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&db])
        .map_err(|e| sql_error("looking for the target database", e))?
        .is_some();
    if !exists {
        return Ok(TargetState::Missing);
    }
    let n: i64 = admin
        .for_database(db)
        .connect()?
        .query_one(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') \
               AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'",
            &[],
        )
        .map_err(|e| sql_error("looking into the target database", e))?
        .get(0);
    Ok(if n == 0 {
        TargetState::Empty
    } else {
        TargetState::InUse(n as u64)
    })
}

pub fn create(admin: &ConnSettings, db: &str) -> Result<(), OpsError> {
    admin
        .connect()?
        .batch_execute(&format!(
            "CREATE DATABASE {} TEMPLATE template0",
            quote_ident(db)
        ))
        .map_err(|e| sql_error(&format!("creating {db:?}"), e))
}

/// Drops `db`, ending its sessions first (`WITH (FORCE)`, PostgreSQL 13+).
pub fn drop(admin: &ConnSettings, db: &str) -> Result<(), OpsError> {
    admin
        .connect()?
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(db)
        ))
        .map_err(|e| sql_error(&format!("dropping {db:?}"), e))
}

/// Renames `from` to `to`, ending the sessions on `from` first (a rename needs none).
pub fn rename(admin: &ConnSettings, from: &str, to: &str) -> Result<(), OpsError> {
    let mut c = admin.connect()?;
    c.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()",
        &[&from],
    )
    .map_err(|e| sql_error(&format!("ending the sessions on {from:?}"), e))?;
    c.batch_execute(&format!(
        "ALTER DATABASE {} RENAME TO {}",
        quote_ident(from),
        quote_ident(to)
    ))
    .map_err(|e| sql_error(&format!("renaming {from:?} to {to:?}"), e))
}
