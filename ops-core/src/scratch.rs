//! Scratch space in the temporary directory (a set unsealed from a bucket, an archive
//! unpacked for `pg_restore -j`): named `pgops-<what>-<pid>-<random>`, so that what a run
//! killed by SIGKILL left (decrypted dumps among it) is found and removed by the next run
//! of any tool, and what a live run holds is never touched.

use std::path::{Path, PathBuf};

/// The prefixes of every scratch entry pgops makes in the temporary directory.
pub const KINDS: [&str; 4] = [
    "pgops-restore-",
    "pgops-verify-",
    "pgops-drill-",
    "pgops-notify-",
];

/// Whether process `pid` is alive. A pid reused since counts as alive: its scratch is
/// kept (the safe mistake), never removed from under a live run.
pub fn alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 sends nothing; it only checks that the pid exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// A scratch directory, removed when dropped.
pub type Dir = tempfile::TempDir;

/// A private (0700) scratch directory `pgops-<kind>-<pid>-<random>` in the temporary
/// directory, removed when dropped.
pub fn dir(kind: &str) -> std::io::Result<Dir> {
    tempfile::Builder::new()
        .prefix(&format!("pgops-{kind}-{}-", std::process::id()))
        .tempdir()
}

/// The path of a scratch file `pgops-<kind>-<pid>-<unique>.<ext>` (the caller creates
/// and removes it).
pub fn file_path(kind: &str, unique: &str, ext: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "pgops-{kind}-{}-{unique}.{ext}",
        std::process::id()
    ))
}

/// The pid in a scratch entry's name, if it is one.
fn owner(name: &str) -> Option<i32> {
    let rest = KINDS.iter().find_map(|k| name.strip_prefix(k))?;
    rest.split_once('-')?.0.parse().ok().filter(|&p| p > 0)
}

/// A scratch entry a dead run left, removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    pub path: PathBuf,
    pub pid: i32,
}

/// Removes from `tmp` the scratch entries of runs that are dead and that belong to this
/// user (another user's are not ours to judge). Returns what was removed.
pub fn sweep_in(tmp: &Path) -> Vec<Removed> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(tmp) else {
        return out;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = owner(&name) else { continue };
        let Ok(meta) = std::fs::symlink_metadata(e.path()) else {
            continue;
        };
        if meta.uid() != me || alive(pid) {
            continue;
        }
        let removed = if meta.is_dir() {
            std::fs::remove_dir_all(e.path())
        } else {
            std::fs::remove_file(e.path())
        };
        if removed.is_ok() {
            out.push(Removed {
                path: e.path(),
                pid,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// [`sweep_in`] the temporary directory.
pub fn sweep() -> Vec<Removed> {
    sweep_in(&std::env::temp_dir())
}

/// Sweeps and reports each removal as a `scratch.removed` event.
pub fn sweep_and_report(emitter: &crate::event::Emitter) {
    for r in sweep() {
        emitter.emit(
            crate::event_names::SCRATCH_REMOVED,
            crate::event::Severity::Warning,
            serde_json::json!({"path": r.path.display().to_string(), "pid": r.pid,
                               "reason": format!("left by a run (pid {}) that died before it could remove it", r.pid)}),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dead_runs_scratch_goes() {
        let tmp = tempfile::tempdir().unwrap();
        let dead = tmp.path().join("pgops-restore-99999999-abc");
        std::fs::create_dir(&dead).unwrap();
        std::fs::write(dead.join("secret.dump"), b"x").unwrap();
        let dead_file = tmp.path().join("pgops-drill-99999999-x.dump");
        std::fs::write(&dead_file, b"x").unwrap();
        let live = tmp
            .path()
            .join(format!("pgops-verify-{}-abc", std::process::id()));
        std::fs::create_dir(&live).unwrap();
        let other = tmp.path().join("pgops-cluster-99999999-abc");
        std::fs::create_dir(&other).unwrap();
        let removed = sweep_in(tmp.path());
        assert_eq!(
            removed.iter().map(|r| r.path.clone()).collect::<Vec<_>>(),
            [dead_file, dead]
        );
        assert!(live.exists() && other.exists());
    }
}
