//! The set rule: which directories are sets ([`SetDir::check`], one rule for every tool),
//! the clock rule, and the scan of a directory of sets.

use super::*;
use crate::keys::TrustedKey;
use ops_core::error::OpsError;
use ops_core::timefmt;
use serde::Serialize;
use std::fs;
use std::path::PathBuf;

/// A reference to a complete set on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetRef {
    pub id: String,
    pub path: PathBuf,
}

impl SetRef {
    pub fn manifest_path(&self) -> PathBuf {
        self.path.join(MANIFEST_FILE)
    }

    pub fn read_manifest(&self) -> Result<Manifest, OpsError> {
        read_manifest(&self.manifest_path())
    }

    /// The set's last verification: `None` if never verified; an unreadable record counts
    /// as `None` too (it proves nothing either way).
    pub fn read_verify(&self) -> Option<VerifyRecord> {
        let bytes = fs::read(self.path.join(VERIFY_FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Where the set's off-site copies are (none recorded: empty).
    pub fn read_offsite(&self) -> OffsiteRecord {
        let mut r: OffsiteRecord = fs::read(self.path.join(OFFSITE_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        // Records written before destinations had one spelling read as if they had.
        for c in &mut r.copies {
            c.destination = super::destination_name(&c.destination);
        }
        r
    }

    /// True if the set is pinned (holds a `KEEP` file).
    pub fn is_pinned(&self) -> bool {
        self.path.join(KEEP_FILE).exists()
    }

    /// The set's start time, from its id.
    pub fn started(&self) -> timefmt::Timestamp {
        timefmt::parse_set_id(&self.id).expect("a SetRef id is a set id")
    }
}

/// A directory under the catalog root that pgops did not make or does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unknown {
    pub path: PathBuf,
}

/// A directory of sets: one database's, or `_globals`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetDir {
    /// The database name; `None` for `_globals`.
    pub database: Option<String>,
    pub path: PathBuf,
    /// The key every set's manifest must be signed with (ADR 0014); `None`: signatures
    /// are not checked.
    pub trust: Option<TrustedKey>,
}

/// What the catalog root holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub set_dirs: Vec<SetDir>,
    /// Entries pgops did not create: reported, never touched.
    pub unknown: Vec<Unknown>,
}

/// How far past now a set may start before its id is taken for a clock error, not a time:
/// hosts with NTP drift by seconds; a set hours or years ahead came from a clock that jumped.
pub const CLOCK_SKEW_TOLERANCE: std::time::Duration = std::time::Duration::from_secs(300);

/// The clock rule of every set, wherever it lies: one that starts later than `now` plus
/// [`CLOCK_SKEW_TOLERANCE`] came from a clock that was wrong (then or now). Such a set is
/// never the newest, never anchors `--keep-within` and never makes a database look fresh.
/// Returns why, or `None` for a set of the past.
pub fn clock_skew(started: timefmt::Timestamp, now: timefmt::Timestamp) -> Option<String> {
    let limit = now
        .checked_add(CLOCK_SKEW_TOLERANCE)
        .unwrap_or(timefmt::Timestamp::MAX);
    (started > limit).then(|| {
        format!(
            "starts {} s after now: a clock was wrong when it was taken, or is now",
            timefmt::seconds_between(now, started)
        )
    })
}

/// Why a directory named like a set is not taken for one. The same rule for every tool:
/// such a directory fills no retention period, is never restored, is never the newest set,
/// and is reported, never deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rejection {
    /// A symbolic link or anything but a real directory: pgops never follows links in a
    /// catalog, so what a set holds is always what lies in it.
    NotADirectory,
    /// No `manifest.json` as a regular file, or one that does not parse or has an unknown
    /// version.
    ManifestInvalid,
    /// The manifest names another id, kind or database than where the set lies (a set
    /// copied or moved by hand).
    Misplaced,
    /// A file the manifest lists is a link or not a regular file (a missing one leaves a
    /// set that fails verification).
    FileNotPlain,
    /// The set starts later than now plus [`CLOCK_SKEW_TOLERANCE`].
    ClockSkew,
    /// The catalog trusts a signing key and the manifest's signature is missing or does
    /// not check against it: a forged or altered set, never restored nor counted.
    SignatureInvalid,
}

impl Rejection {
    /// The stable code events carry.
    pub fn code(self) -> &'static str {
        match self {
            Rejection::NotADirectory => "set_not_a_directory",
            Rejection::ManifestInvalid => "manifest_invalid",
            Rejection::Misplaced => "set_misplaced",
            Rejection::FileNotPlain => "set_file_not_plain",
            Rejection::ClockSkew => "clock_skew",
            Rejection::SignatureInvalid => crate::keys::SIGNATURE_INVALID,
        }
    }
}

/// A directory named like a set that is not one, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub set: SetRef,
    pub why: Rejection,
    pub reason: String,
}

/// A set whose manifest was read and matches where it lies.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedSet {
    pub set: SetRef,
    pub manifest: Manifest,
}

/// What one directory of sets holds, from one listing: usable and rejected sets, oldest
/// first, and every other entry (partials, deletions, strays) for the tools that report them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DirSets {
    pub sets: Vec<CheckedSet>,
    pub rejected: Vec<Rejected>,
    /// Entry names not named by a set id, sorted (pgops' own `RETIRED` excluded).
    pub others: Vec<String>,
    /// The directory's `RETIRED` record, whether or not a newer set overrides it; a file
    /// that cannot be read as one still retires (with no time, nothing overrides it).
    pub retirement: Option<Retirement>,
}

impl DirSets {
    /// The retirement, if it is in force (no set started after it).
    pub fn retired(&self) -> Option<&Retirement> {
        let newest = self.sets.last().map(|s| s.set.started());
        self.retirement.as_ref().filter(|r| r.in_force(newest))
    }

    /// The newest usable set that `keep` accepts.
    pub fn newest_where(&self, keep: impl Fn(&CheckedSet) -> bool) -> Option<&CheckedSet> {
        self.sets.iter().rev().find(|s| keep(s))
    }
}

impl SetDir {
    /// The kind of set this directory holds.
    pub fn kind(&self) -> SetKind {
        if self.database.is_some() {
            SetKind::Database
        } else {
            SetKind::Globals
        }
    }

    /// How a person names it: the database, or `_globals`.
    pub fn label(&self) -> &str {
        self.database.as_deref().unwrap_or(GLOBALS_DIR)
    }

    /// The one rule every tool applies before it takes `set` (which lies in this directory)
    /// for a set: see [`Rejection`]. `now` bounds its start ([`clock_skew`]); `None` when
    /// the set was named explicitly, whose bytes are what they are whatever its clock said.
    pub fn check(
        &self,
        set: SetRef,
        now: Option<timefmt::Timestamp>,
    ) -> Result<CheckedSet, Rejected> {
        let reject = |set: SetRef, why, reason: String| Err(Rejected { set, why, reason });
        match fs::symlink_metadata(&set.path) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                let reason =
                    "a link or a file named like a set: pgops never follows links in a catalog";
                return reject(set, Rejection::NotADirectory, reason.into());
            }
            Err(e) => {
                let reason = format!("cannot read it: {e}");
                return reject(set, Rejection::NotADirectory, reason);
            }
        }
        let mpath = set.manifest_path();
        if !fs::symlink_metadata(&mpath).is_ok_and(|m| m.is_file()) {
            let reason = "no manifest.json as a regular file".into();
            return reject(set, Rejection::ManifestInvalid, reason);
        }
        let (bytes, manifest) = match load_manifest(&mpath) {
            Ok((_, m)) if m.files.is_empty() => {
                return reject(set, Rejection::ManifestInvalid, "it lists no file".into())
            }
            Ok(loaded) => loaded,
            Err(e) => return reject(set, Rejection::ManifestInvalid, e.message),
        };
        if let Some(trust) = &self.trust {
            if let Err(reason) = check_signature(trust, &set.path, &bytes) {
                return reject(set, Rejection::SignatureInvalid, reason);
            }
        }
        let problems = manifest.placement_problems(self, &set.id);
        if !problems.is_empty() {
            return reject(set, Rejection::Misplaced, problems.join("; "));
        }
        // A missing file leaves a set that fails verification; a link is never a set's file.
        if let Some(bad) = manifest.files.iter().find(|f| {
            !is_plain_name(&f.name)
                || fs::symlink_metadata(set.path.join(&f.name)).is_ok_and(|m| !m.is_file())
        }) {
            let reason = format!("{:?} is a link or not a regular file", bad.name);
            return reject(set, Rejection::FileNotPlain, reason);
        }
        if let Some(reason) = now.and_then(|now| clock_skew(set.started(), now)) {
            return reject(set, Rejection::ClockSkew, reason);
        }
        Ok(CheckedSet { set, manifest })
    }

    /// Every entry of this directory, from one listing: those named like a set
    /// (`<set id>`) checked by [`check`](Self::check) against `now` (sets from the future
    /// are rejected as [`Rejection::ClockSkew`]), the rest in `others`. A missing directory
    /// has none.
    pub fn scan(&self, now: timefmt::Timestamp) -> std::io::Result<DirSets> {
        let mut out = DirSets::default();
        let rd = match fs::read_dir(&self.path) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        let mut ids = Vec::new();
        for e in rd {
            let name = e?.file_name().to_string_lossy().into_owned();
            if timefmt::parse_set_id(&name).is_some() {
                ids.push(name);
            } else if name == RETIRED_FILE {
                out.retirement = Some(read_retirement(&self.path.join(&name)));
            } else {
                out.others.push(name);
            }
        }
        ids.sort();
        out.others.sort();
        // Each set is checked on its own (a few system calls and its manifest read): on
        // every core when there are many (10,000 sets of a database: half the time of
        // planning their retention), in id order either way.
        let checked = ops_core::parallel::map_all(&ids, |id| {
            let set = SetRef {
                path: self.path.join(id),
                id: id.clone(),
            };
            self.check(set, Some(now))
        });
        for c in checked {
            match c {
                Ok(s) => out.sets.push(s),
                Err(r) => out.rejected.push(r),
            }
        }
        Ok(out)
    }

    /// The set named `id` in this directory, checked (its start is not bounded: it was
    /// asked for by name); `None` when no entry has that name.
    pub fn set_named(&self, id: &str) -> Option<Result<CheckedSet, Rejected>> {
        timefmt::parse_set_id(id)?;
        let path = self.path.join(id);
        fs::symlink_metadata(&path).ok()?;
        let set = SetRef {
            id: id.to_string(),
            path,
        };
        Some(self.check(set, None))
    }
}

impl Manifest {
    /// What disagrees between this manifest and where it lies (`dir`, set directory
    /// `set_dir`): its id, its kind, its database.
    pub fn placement_problems(&self, dir: &SetDir, set_dir: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if self.id != set_dir {
            problems.push(format!(
                "id {} differs from the directory {set_dir}",
                self.id
            ));
        }
        if self.kind != dir.kind() {
            problems.push(format!(
                "a {:?} set in the directory of {:?}",
                self.kind,
                dir.label()
            ));
        } else if self.kind == SetKind::Database
            && dir.database.as_deref() != Some(self.database.as_str())
        {
            problems.push(format!(
                "database {:?} does not belong in the directory of {:?}",
                self.database,
                dir.label()
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Above [`ops_core::parallel::PARALLEL_FROM`] the checks run on several threads: what comes back is what
    /// one thread finds, in id order, every set judged by the same rule.
    #[test]
    fn many_sets_are_checked_in_id_order_whatever_the_threads() {
        let root = tempfile::tempdir().unwrap();
        let dir = SetDir {
            database: Some("app".into()),
            path: root.path().join("app"),
            trust: None,
        };
        fs::create_dir(&dir.path).unwrap();
        let ids: Vec<String> = (0..(ops_core::parallel::PARALLEL_FROM * 3) as u32)
            .map(|i| {
                format!(
                    "202611{:02}T{:02}{:02}00Z",
                    1 + i / 96,
                    (i / 4) % 24,
                    (i % 4) * 15
                )
            })
            .collect();
        for (i, id) in ids.iter().enumerate() {
            let set = dir.path.join(id);
            fs::create_dir(&set).unwrap();
            fs::write(set.join("app.dump.zst"), b"x").unwrap();
            // Every seventh set lies about its id: rejected, in its place.
            let named = if i % 7 == 3 { "20261130T000000Z" } else { id };
            let m = serde_json::json!({
                "v": 1, "id": named, "kind": "database", "database": "app",
                "status": "complete", "started_at": "", "finished_at": "", "duration_ms": 0,
                "server_version": "16", "pg_dump_version": "16", "format": "custom",
                "compression": {"algorithm": "zstd", "level": 1},
                "files": [{"name": "app.dump.zst", "bytes": 1, "sha256": "0", "raw_bytes": 1}],
                "tables": [], "large_objects": 0, "database_size": null, "connection": {},
                "tool": {"name": "t", "version": "0"}, "correlation_id": "c"
            });
            fs::write(set.join(MANIFEST_FILE), m.to_string()).unwrap();
        }
        let now = "2026-12-07T00:00:00Z".parse().unwrap();
        let scan = dir.scan(now).unwrap();
        let want: Vec<&String> = ids
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 7 != 3)
            .map(|(_, id)| id)
            .collect();
        let got: Vec<&String> = scan.sets.iter().map(|s| &s.set.id).collect();
        assert_eq!(got, want);
        let rejected: Vec<(usize, Rejection)> = scan
            .rejected
            .iter()
            .map(|r| (ids.iter().position(|id| *id == r.set.id).unwrap(), r.why))
            .collect();
        assert!(rejected.windows(2).all(|w| w[0].0 < w[1].0), "{rejected:?}");
        assert!(rejected
            .iter()
            .all(|(i, why)| i % 7 == 3 && *why == Rejection::Misplaced));
        assert_eq!(rejected.len(), ids.len() - want.len());
    }
}
