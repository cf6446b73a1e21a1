//! The PostgreSQL client programs pgdump-run runs. Which installation is chosen per server
//! major is `ops_pg::programs`' job; this module only names what is missing.

use ops_core::{Category, OpsError};
use std::path::{Path, PathBuf};

/// `pg_dump_missing`: `name` is not in `bin_dir` (or, without one, in any installation).
pub fn missing(name: &str, bin_dir: Option<&Path>) -> OpsError {
    let place = bin_dir.map_or("any PostgreSQL installation or on PATH".to_string(), |d| {
        d.display().to_string()
    });
    OpsError::new(
        "pg_dump_missing",
        Category::Dependency,
        format!("{name} not found in {place}; install the PostgreSQL client or pass --pg-bin-dir"),
    )
}

/// Finds `name` in `bin_dir`.
pub fn locate(name: &str, bin_dir: &Path) -> Result<PathBuf, OpsError> {
    ops_core::child::locate(name, Some(bin_dir)).ok_or_else(|| missing(name, Some(bin_dir)))
}
