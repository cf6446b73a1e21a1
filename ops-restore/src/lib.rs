//! Putting a backup set into a PostgreSQL database, for every tool that does it (the drill
//! into a scratch database, backup-restore into the real one):
//!
//! - [`restore`]: pg_restore (streamed, or `--jobs` from a patched temporary file) and
//!   psql for plain-format and globals sets, supervised and stoppable.
//! - [`owned`]: databases a run creates and owns (marked, locked), and what dead runs left.
//! - [`globals`]: what of a globals set is replayed into a live server (missing roles only).
//! - [`proof`]: what a restore is checked against: every manifest table with exactly its
//!   rows and values, the large objects, the operator's SQL checks, the live source.
//! - [`select`]: which entries of an archive bring back some tables, and what cannot
//!   come back with them.

pub mod globals;
pub mod owned;
pub mod proof;
pub mod restore;
pub mod select;

use ops_catalog::catalog::{Catalog, CheckedSet};
use ops_core::{Category, OpsError};
use ops_pg::conn::ConnSettings;

/// A failed statement on the target server, with what it was doing.
pub fn sql_error(what: &str, e: postgres::Error) -> OpsError {
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

/// The target server's major version.
pub fn server_major(admin: &ConnSettings) -> Result<u32, OpsError> {
    let num: i32 = admin
        .connect()?
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .map_err(|e| sql_error("asking the server's version", e))?
        .get(0);
    Ok((num / 10000) as u32)
}

/// The newest globals set of a catalog (roles, tablespaces), if any.
pub fn newest_globals(catalog: &Catalog) -> Option<CheckedSet> {
    catalog
        .set_dir(None)
        .scan(jiff::Timestamp::now())
        .ok()?
        .sets
        .pop()
}
