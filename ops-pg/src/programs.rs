//! Finding the programs a tool runs, and choosing PostgreSQL client tools per server major.
//!
//! A host may carry several PostgreSQL installations (Debian's `/usr/lib/postgresql/<N>`,
//! others named in `PGOPS_PG_BIN_DIRS`). Which pair works is not a guess, it is measured
//! (ADR 0006, and the matrix in `scripts/test`):
//! - `pg_dump` must be at least the server's major; pgops takes **the server's own major**
//!   when it is installed, because a newer pg_dump writes an archive (1.16 from 17 on) that
//!   the server's own pg_restore cannot read, and a newer pg_restore sends settings
//!   (`SET transaction_timeout`, 17+) that an older server refuses: an archive of a 16 server
//!   taken with pg_dump 18 can be restored into no 16 server. Else the newest pg_dump.
//! - `pg_restore` must read the archive (major ≥ the pg_dump that wrote it) and be accepted
//!   by the target server ([`restore_accepted`]); the target's own major first.

use std::path::{Path, PathBuf};
use std::process::Command;

use ops_core::child::locate;

/// The environment variable naming more installations: bin directories, `:`-separated.
pub const BIN_DIRS_ENV: &str = "PGOPS_PG_BIN_DIRS";

/// One PostgreSQL installation: a bin directory and the major it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Install {
    pub dir: PathBuf,
    pub version: String,
    pub major: u32,
}

impl Install {
    pub fn has(&self, program: &str) -> bool {
        self.dir.join(program).is_file()
    }

    pub fn program(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// Parses `pg_dump (PostgreSQL) 15.18 (Debian …)` or `… 17devel` into (`15.18`, 15).
pub fn parse_version(text: &str) -> Option<(String, u32)> {
    let after = text.split(')').nth(1)?.trim();
    let version = after.split_whitespace().next()?;
    let major = major_of(version);
    (major > 0).then(|| (version.to_string(), major))
}

/// The major of a version string as manifests hold it (`15.18`, `16.14 (Debian …)`,
/// `17devel`); 0 when there is none, which no installation matches as "at least".
pub fn major_of(version: &str) -> u32 {
    version
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0)
}

/// What `program --version` says.
pub fn version_of(program: &Path) -> Option<(String, u32)> {
    let out = Command::new(program).arg("--version").output().ok()?;
    parse_version(&String::from_utf8_lossy(&out.stdout))
}

/// The installation in `dir`, by the version of the first PostgreSQL program it holds.
pub fn install_at(dir: &Path) -> Option<Install> {
    ["pg_dump", "pg_restore", "postgres", "psql"]
        .iter()
        .map(|p| dir.join(p))
        .filter(|p| p.is_file())
        .find_map(|p| version_of(&p))
        .map(|(version, major)| Install {
            dir: dir.to_path_buf(),
            version,
            major,
        })
}

/// Every installation: `explicit` alone when given (`--pg-bin-dir`: the operator chose);
/// else those of [`BIN_DIRS_ENV`], `/usr/lib/postgresql/*/bin`, and the directory of the
/// `pg_dump` on PATH. One per directory, newest major first.
pub fn installations(explicit: Option<&Path>) -> Vec<Install> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(d) = explicit {
        dirs.push(d.to_path_buf());
    } else {
        if let Some(v) = std::env::var_os(BIN_DIRS_ENV) {
            dirs.extend(std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()));
        }
        if let Ok(rd) = std::fs::read_dir("/usr/lib/postgresql") {
            let mut debian: Vec<PathBuf> = rd.flatten().map(|e| e.path().join("bin")).collect();
            debian.sort();
            dirs.extend(debian);
        }
        // Through its links: Debian's /usr/bin/pg_dump is pg_wrapper, not an installation.
        if let Some(p) = locate("pg_dump", None) {
            let real = std::fs::canonicalize(&p).unwrap_or(p);
            dirs.extend(real.parent().map(Path::to_path_buf));
        }
    }
    let mut out: Vec<Install> = Vec::new();
    for d in dirs {
        let canon = std::fs::canonicalize(&d).unwrap_or(d);
        if out.iter().any(|i| i.dir == canon) {
            continue;
        }
        out.extend(install_at(&canon));
    }
    out.sort_by_key(|i| std::cmp::Reverse(i.major));
    out
}

/// Every installation, `extra` (`--pg-bin-dir`) among them: for what needs a server that
/// a client-only directory may not hold (a private cluster).
pub fn installations_and(extra: Option<&Path>) -> Vec<Install> {
    let mut out = installations(None);
    for i in extra.map(|d| installations(Some(d))).unwrap_or_default() {
        if !out.iter().any(|x| x.dir == i.dir) {
            out.push(i);
        }
    }
    out.sort_by_key(|i| std::cmp::Reverse(i.major));
    out
}

/// Whether a pg_restore of `restore_major` restores into a server of `target_major`: the
/// same major always; a newer one only while it sends nothing the server refuses (from 17
/// on pg_restore sets `transaction_timeout`, which servers before 17 do not know).
pub fn restore_accepted(restore_major: u32, target_major: u32) -> bool {
    restore_major == target_major
        || (restore_major > target_major && (restore_major < 17 || target_major >= 17))
}

/// The pg_dump for a server of `server_major` (see the module doc): its own major, else the
/// newest that is at least it.
pub fn pick_dump(installs: &[Install], server_major: u32) -> Option<&Install> {
    let usable = || {
        installs
            .iter()
            .filter(move |i| i.has("pg_dump") && i.major >= server_major)
    };
    usable()
        .find(|i| i.major == server_major)
        .or_else(|| usable().max_by_key(|i| i.major))
}

/// The pg_restore (and psql beside it) for an archive written by pg_dump `archive_major`
/// into a server of `target_major`: the target's own major when it can read the archive,
/// else the oldest that reads it and that the target accepts.
pub fn pick_restore(
    installs: &[Install],
    archive_major: u32,
    target_major: u32,
) -> Option<&Install> {
    let usable = || {
        installs.iter().filter(move |i| {
            i.has("pg_restore")
                && i.has("psql")
                && i.major >= archive_major
                && restore_accepted(i.major, target_major)
        })
    };
    usable()
        .find(|i| i.major == target_major)
        .or_else(|| usable().min_by_key(|i| i.major))
}

/// A server (initdb, pg_ctl, postgres) for a private cluster that can take an archive of a
/// `source_major` server written by pg_dump `archive_major`, with a pg_restore for it: the
/// source's own major first, else the oldest newer one. Returns (server, client).
pub fn pick_ephemeral(
    installs: &[Install],
    source_major: u32,
    archive_major: u32,
) -> Option<(&Install, &Install)> {
    let mut servers: Vec<&Install> = installs
        .iter()
        .filter(|i| i.has("initdb") && i.has("pg_ctl") && i.major >= source_major)
        .collect();
    servers.sort_by_key(|i| (i.major != source_major, i.major));
    servers
        .into_iter()
        .find_map(|s| pick_restore(installs, archive_major, s.major).map(|c| (s, c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(
            parse_version("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n"),
            Some(("15.18".into(), 15))
        );
        assert_eq!(
            parse_version("pg_dump (PostgreSQL) 17devel"),
            Some(("17devel".into(), 17))
        );
        assert_eq!(parse_version("garbage"), None);
    }

    /// Fake installations: directories holding empty files named like the programs.
    fn installs(spec: &[(u32, &[&str])]) -> (tempfile::TempDir, Vec<Install>) {
        let root = tempfile::tempdir().unwrap();
        let out = spec
            .iter()
            .map(|(major, programs)| {
                let dir = root.path().join(major.to_string());
                std::fs::create_dir(&dir).unwrap();
                for p in *programs {
                    std::fs::write(dir.join(p), b"").unwrap();
                }
                Install {
                    dir,
                    version: format!("{major}.0"),
                    major: *major,
                }
            })
            .collect();
        (root, out)
    }

    const CLIENT: &[&str] = &["pg_dump", "pg_restore", "psql"];
    const ALL: &[&str] = &["pg_dump", "pg_restore", "psql", "initdb", "pg_ctl"];
    const SERVER: &[&str] = &["initdb", "pg_ctl", "postgres"];

    #[test]
    fn dump_with_the_servers_own_major_else_the_newest() {
        let (_d, i) = installs(&[(18, ALL), (17, SERVER), (16, ALL), (15, ALL)]);
        assert_eq!(pick_dump(&i, 16).unwrap().major, 16);
        assert_eq!(pick_dump(&i, 17).unwrap().major, 18, "17 ships no pg_dump");
        assert_eq!(pick_dump(&i, 15).unwrap().major, 15);
        assert!(
            pick_dump(&i, 19).is_none(),
            "no client as new as the server"
        );
    }

    #[test]
    fn restore_with_a_client_the_target_accepts() {
        let (_d, i) = installs(&[(18, CLIENT), (16, CLIENT), (15, CLIENT)]);
        assert_eq!(pick_restore(&i, 16, 16).unwrap().major, 16);
        assert_eq!(pick_restore(&i, 15, 16).unwrap().major, 16);
        assert_eq!(pick_restore(&i, 18, 17).unwrap().major, 18);
        assert!(
            pick_restore(&i, 18, 16).is_none(),
            "an 18 archive cannot go into 16"
        );
        assert!(restore_accepted(16, 15) && !restore_accepted(18, 16) && restore_accepted(18, 17));
    }

    #[test]
    fn an_ephemeral_cluster_of_the_sources_major_first() {
        let (_d, i) = installs(&[(18, ALL), (17, SERVER), (16, ALL), (15, ALL)]);
        let pick = |s, a| pick_ephemeral(&i, s, a).map(|(s, c)| (s.major, c.major));
        assert_eq!(pick(16, 16), Some((16, 16)));
        assert_eq!(pick(17, 18), Some((17, 18)));
        assert_eq!(
            pick(16, 18),
            Some((17, 18)),
            "an 18 archive needs a 17+ server"
        );
        assert_eq!(pick(15, 15), Some((15, 15)));
    }
}
