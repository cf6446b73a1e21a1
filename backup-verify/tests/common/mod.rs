//! What backup-verify's integration tests share.

use std::path::Path;
use std::process::{Command, Stdio};
use testkit::ToolRun;

/// Runs backup-verify on the catalog `root` (no stdin) and checks its output.
pub fn verify(root: &Path, extra: &[&str]) -> ToolRun {
    let out = Command::new(env!("CARGO_BIN_EXE_backup-verify"))
        .env_remove("PGOPS_BACKUP_DIR")
        .arg("--backup-dir")
        .arg(root)
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    ToolRun::check(out)
}
