//! The state directory (`PGOPS_STATE_DIR`, ADR 0015): what the tools record about their
//! own runs, outside any catalog, for ops-status to count and show.
//!
//! - `runs.jsonl`: every tool's `run.finished` event, one line per run, appended and
//!   fsynced by [`crate::event::Emitter::finish`]. ops-status counts it into
//!   `pgops_runs_total{tool,result}`, so "backup success ≥ 99 %" is one query.
//! - `audit.json`: port-audit's last summary, replaced atomically.
//! - `unit-failures.jsonl`: every systemd unit failure, one line each, appended by
//!   `ops-status record-failure` (the units' `OnFailure=`), including failures before a
//!   tool ran.
//!
//! Recording is best effort by design: a tool that cannot write here says so on stderr
//! and goes on. Losing a counter must never fail a backup.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The variable naming the state directory; unset or empty: nothing is recorded.
pub const STATE_DIR_ENV: &str = "PGOPS_STATE_DIR";
/// The run history in the state directory.
pub const RUNS_FILE: &str = "runs.jsonl";
/// port-audit's last summary in the state directory.
pub const AUDIT_FILE: &str = "audit.json";
/// port-audit's last probe-only run (from outside, no look at the host itself): kept apart,
/// so it never replaces what the last audit of the host found.
pub const AUDIT_PROBE_FILE: &str = "audit-probe.json";
/// The systemd unit failures in the state directory.
pub const UNIT_FAILURES_FILE: &str = "unit-failures.jsonl";
/// backup-verify's last verification of each off-site catalog: one file per location
/// in this subdirectory (`<hash of the location>.json`, the location inside).
pub const REMOTE_VERIFY_DIR: &str = "remote-verify";

/// The state directory the environment names, if any. It is not created: an operator
/// (or systemd's `StateDirectory=`) makes it, so a typo records nothing rather than
/// scattering state files.
pub fn dir_from_env() -> Option<PathBuf> {
    std::env::var_os(STATE_DIR_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Appends `line` and a newline to `path` in one write (O_APPEND: concurrent runs never
/// interleave within a line) and fsyncs, so a run that reported is on disk.
pub fn append_line(path: &Path, line: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(crate::atomic::FILE_MODE)
        .open(path)?;
    let mut text = String::with_capacity(line.len() + 1);
    text.push_str(line);
    text.push('\n');
    crate::atomic::inherit_owner(path);
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// Records one `run.finished` line in the run history, if a state directory is set.
pub fn record_run(line: &str) {
    if let Some(dir) = dir_from_env() {
        let path = dir.join(RUNS_FILE);
        if let Err(e) = append_line(&path, line) {
            eprintln!(
                "pgops: warning: could not record the run in {}: {e} (the run itself is unaffected)",
                path.display()
            );
        }
    }
}

/// Replaces the record `name` (a file name, or `subdirectory/file`) in the state
/// directory atomically, if one is set; a missing subdirectory is created.
pub fn write_record(name: &str, record: &impl serde::Serialize) {
    if let Some(dir) = dir_from_env() {
        write_record_in(&dir, name, record);
    }
}

/// [`write_record`] into the state directory `dir`.
pub fn write_record_in(dir: &Path, name: &str, record: &impl serde::Serialize) {
    let path = dir.join(name);
    let written = (|| {
        if let Some(parent) = path.parent().filter(|p| *p != dir) {
            crate::atomic::ensure_private_dir(parent)?;
        }
        // No secret goes into a state file, whoever built the record.
        let value = crate::redact::scrub_value(
            serde_json::to_value(record).expect("state records serialize"),
        );
        crate::atomic::write_file(&path, value.to_string().as_bytes())
    })();
    if let Err(e) = written {
        eprintln!(
            "pgops: warning: could not write {}: {e} (the run itself is unaffected)",
            path.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_leaves_appended_files_to_the_directory_owner() {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534)).unwrap();
        let path = dir.path().join(RUNS_FILE);
        append_line(&path, "{}").unwrap();
        let m = std::fs::metadata(&path).unwrap();
        assert_eq!((m.uid(), m.gid()), (65534, 65534));
    }

    #[test]
    fn lines_are_appended_whole_and_concurrent_writers_never_interleave() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RUNS_FILE);
        let line = format!("{{\"x\":\"{}\"}}", "y".repeat(2000));
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..25 {
                        append_line(&path, &line).unwrap();
                    }
                });
            }
        });
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 100);
        assert!(text.lines().all(|l| l == line));
    }
}
