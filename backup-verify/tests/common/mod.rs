//! What backup-verify's integration tests share.

use std::path::Path;
use std::process::{Command, Stdio};
use testkit::ToolRun;

/// backup-verify on the catalog `root`, with no stdin.
pub fn verify_cmd(root: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_backup-verify"));
    cmd.env_remove("PGOPS_BACKUP_DIR")
        .arg("--backup-dir")
        .arg(root)
        .args(extra)
        .stdin(Stdio::null());
    cmd
}

/// Runs [`verify_cmd`] and checks its output.
pub fn verify(root: &Path, extra: &[&str]) -> ToolRun {
    ToolRun::check(verify_cmd(root, extra).output().unwrap())
}
