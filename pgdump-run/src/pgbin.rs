//! The PostgreSQL client programs pgdump-run runs: where they are and which version.

use ops_core::{Category, OpsError};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Finds `name` in `bin_dir`, or on `PATH`.
pub fn locate(name: &str, bin_dir: Option<&Path>) -> Result<PathBuf, OpsError> {
    ops_core::programs::locate(name, bin_dir).ok_or_else(|| {
        let place = bin_dir.map_or("PATH".to_string(), |d| d.display().to_string());
        OpsError::new(
            "pg_dump_missing",
            Category::Dependency,
            format!(
                "{name} not found in {place}; install the PostgreSQL client or pass --pg-bin-dir"
            ),
        )
    })
}

/// `pg_dump --version` → (`15.18`, 15).
pub fn version(program: &Path) -> Result<(String, u32), OpsError> {
    let out = Command::new(program)
        .arg("--version")
        .output()
        .map_err(|e| {
            OpsError::new(
                "pg_dump_missing",
                Category::Dependency,
                format!("cannot run {}: {e}", program.display()),
            )
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_version(&text).ok_or_else(|| {
        OpsError::new(
            "pg_dump_missing",
            Category::Dependency,
            format!(
                "{} printed no version: {:?}",
                program.display(),
                text.trim()
            ),
        )
    })
}

pub use ops_core::programs::parse_version;

#[cfg(test)]
mod tests {
    #[test]
    fn versions() {
        assert_eq!(
            super::parse_version("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n"),
            Some(("15.18".into(), 15))
        );
        assert_eq!(
            super::parse_version("pg_dump (PostgreSQL) 17devel"),
            Some(("17devel".into(), 17))
        );
        assert_eq!(super::parse_version("garbage"), None);
    }
}
