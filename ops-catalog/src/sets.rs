//! The one face every tool works against, wherever the sets lie (ADR 0023): list the
//! directories of sets, scan one into the sets that count and the entries that do not,
//! finish what an interrupted deletion left, delete a set, open a set for checking as deep
//! as the storage and the keys allow ([`ForCheck`]), record verdicts.
//!
//! The catalog on a local directory ([`LocalSets`]) is the first implementation; a sealed
//! catalog (a bucket, or a sealed directory) is `ops_offsite`'s, and
//! `ops_offsite::sets::open` is the only place that tells them apart. What a set *is* (its storage's set rule, the one
//! clock rule [`catalog::clock_skew`], "a failed or damaged set is failed") is settled by
//! the scan; what a set is *worth* (retention, min-keep, pins) is decided above the face,
//! by the same code for every storage.

use crate::catalog::{self, Catalog, SetDir, SetRef, Verdict, VerifyRecord};
use crate::lock::CatalogLock;
use ops_core::{timefmt, OpsError};

/// A directory of sets: one database's, or `_globals`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetsDir {
    /// How a person names it: the database, or `_globals`.
    pub label: String,
    /// Where it lies, for people (a path, or `s3://bucket/prefix/<dir>`).
    pub place: String,
    /// The storage's own name for it (the encoded directory name).
    pub key: String,
}

/// A set that passed its storage's set rule, with what the storage knows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedSet {
    pub id: String,
    pub started: timefmt::Timestamp,
    /// Where it lies, for people.
    pub place: String,
    /// Why it cannot be counted as restorable, when it cannot: its verification failed
    /// (locally, or in the bucket), or the listing shows it damaged. Such a set fills no
    /// retention period and is never min-keep.
    pub failed: Option<String>,
    /// Pinned (`KEEP`): never deleted by retention.
    pub pinned: bool,
    /// Its last recorded verification passed (a local set's `verify.json`; a bucket keeps
    /// no verdicts), so freshness may count it without checking it again.
    pub passed: bool,
    /// The store refuses to delete it before this date (S3 Object Lock, as its signed
    /// envelope records); `None` where nothing locks it.
    pub locked_until: Option<timefmt::Timestamp>,
}

/// An entry named like a set that is not taken for one: reported, never counted, never
/// deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedSet {
    pub id: String,
    pub place: String,
    /// The stable code (`signature_invalid`, `set_misplaced`, `clock_skew`, …).
    pub code: &'static str,
    pub reason: String,
}

/// Anything else in a directory of sets (a backup being written, a copy in progress, a
/// stray entry), with what it is: reported, never touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherEntry {
    pub id: Option<String>,
    pub place: String,
    /// What it is, as backup-verify's findings name it: `stale_partial`, `unknown_entry`,
    /// `set_incomplete`, `stray_objects`.
    pub kind: &'static str,
    /// A stable code where the storage has one (`set_incomplete`).
    pub code: Option<&'static str>,
    pub reason: String,
}

/// What one directory of sets holds: sets oldest first, then what is not a set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScannedDir {
    pub sets: Vec<ListedSet>,
    pub refused: Vec<RefusedSet>,
    pub others: Vec<OtherEntry>,
    /// The database was retired on purpose and no set started since (only a catalog on the
    /// backup host keeps retirements: in a bucket it would be the one unsigned thing).
    pub retired: Option<catalog::Retirement>,
}

/// How deep a check of a set looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Depth {
    /// A sealed set's signed envelope, and every object it names there with its size.
    Presence,
    /// And every object's bytes hashed against the envelope.
    Ciphertext,
    /// The set's files read in full: decoded, structure parsed, rows counted.
    Full,
}

impl Depth {
    pub fn name(self) -> &'static str {
        match self {
            Depth::Presence => "presence",
            Depth::Ciphertext => "ciphertext",
            Depth::Full => "full",
        }
    }
}

/// A set opened for checking, as deep as its storage (and the keys at hand) allow.
#[derive(Debug)]
pub enum ForCheck {
    /// The set's files in a directory: a local set in place, or a sealed set unsealed into
    /// `scratch` (removed when this value drops), every object checked against its envelope.
    Files {
        dir: SetDir,
        set: SetRef,
        scratch: Option<ops_core::scratch::Dir>,
        /// The bytes the storage holds, when they are not the files' (a sealed set's
        /// ciphertext).
        stored_bytes: Option<u64>,
    },
    /// What a sealed set proves without its plaintext.
    Envelope(EnvelopeProof),
    /// The set could not be opened: the one check this fails (of the seven) and why.
    Failed {
        check: &'static str,
        code: &'static str,
        reason: String,
        stored_bytes: Option<u64>,
    },
}

/// The facts a sealed set offers without its identity, for backup-verify to judge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeProof {
    /// What the envelope says of itself (its version and objects), when it parsed and lies
    /// where it says.
    pub envelope: String,
    /// The key the envelope and manifest are signed with, or why they are not.
    pub signature: Result<String, String>,
    /// Objects the envelope names that are missing or of another size.
    pub missing: Vec<String>,
    /// With `Depth::Ciphertext`: objects whose SHA-256 is not the envelope's; `None` when
    /// the ciphertext was not read.
    pub altered: Option<Vec<String>>,
    pub stored_bytes: u64,
}

/// What kind of run proved something of a set.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ProofKind {
    Verify,
    Drill,
    Restore,
}

impl ProofKind {
    pub fn name(self) -> &'static str {
        match self {
            ProofKind::Verify => "verify",
            ProofKind::Drill => "drill",
            ProofKind::Restore => "restore",
        }
    }
}

/// The check that failed, in a proof.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProofFailure {
    pub code: String,
    pub reason: String,
}

/// What a verification, a drill or a restore proved of one set, for the storage to keep
/// beside it (ADR 0025): a bucket keeps it as a signed proof object, so that the proof
/// outlives the host; a local catalog has its own records (`verify.json`, the drill
/// history) and keeps none.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Proof {
    pub kind: ProofKind,
    pub verdict: Verdict,
    /// A verification's depth: `presence`, `ciphertext` or `full`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<String>,
    /// The checks that passed, by name.
    #[serde(default)]
    pub checks: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<ProofFailure>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tables: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// A drill's or a restore's time to recover, download included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto_seconds: Option<f64>,
    /// The data the set would lose: its age when it was proven.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpo_seconds: Option<f64>,
    /// A restore's target database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

impl Proof {
    /// A proof of `kind` with `verdict` and nothing else yet.
    pub fn new(kind: ProofKind, verdict: Verdict) -> Proof {
        Proof {
            kind,
            verdict,
            depth: None,
            checks: Vec::new(),
            failed: None,
            tables: None,
            rows: None,
            rto_seconds: None,
            rpo_seconds: None,
            target: None,
        }
    }

    /// The checks that passed, by name, and the first that failed.
    pub fn with_checks(mut self, checks: &[catalog::CheckResult]) -> Proof {
        use catalog::CheckStatus;
        self.checks = checks
            .iter()
            .filter(|c| c.status == CheckStatus::Pass)
            .map(|c| c.name.clone())
            .collect();
        self.failed = checks
            .iter()
            .find(|c| c.status == CheckStatus::Fail)
            .map(|c| ProofFailure {
                code: c.name.clone(),
                reason: c.reason.clone(),
            });
        self
    }
}

/// Who made a proof, for its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofBy<'a> {
    pub tool: &'static str,
    pub version: &'static str,
    pub correlation_id: &'a str,
}

/// One set's verdict in a verification run, for the storage's own record of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub dir: SetsDir,
    pub id: String,
    pub verdict: Verdict,
    pub depth: Depth,
    /// Refused as a set (not one of its database's sets, e.g. a bad signature).
    pub refused: bool,
}

/// A deletion a crash interrupted, finished (or not) by [`Sets::finish_deletions`].
#[derive(Debug)]
pub struct Finished {
    pub id: String,
    pub place: String,
    pub result: Result<(), OpsError>,
}

/// The directories of sets of a catalog, and the entries at its root that are not
/// pgops's (reported, never touched).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dirs {
    pub dirs: Vec<SetsDir>,
    pub unknown: Vec<String>,
}

/// Where a catalog's sets lie, as every tool sees them.
pub trait Sets: std::fmt::Debug + Send + Sync {
    /// Where, for people (never a secret).
    fn location(&self) -> String;
    /// The directories of sets whose label `wants` selects.
    fn dirs(&self, wants: &dyn Fn(&str) -> bool) -> Result<Dirs, OpsError>;
    /// One directory: every entry judged by the storage's set rule and the clock rule
    /// against `now`.
    fn scan(&self, dir: &SetsDir, now: timefmt::Timestamp) -> Result<ScannedDir, OpsError>;
    /// Finishes (unless `dry_run`) the deletions a crash interrupted in `dir`.
    fn finish_deletions(&self, dir: &SetsDir, dry_run: bool) -> Vec<Finished>;
    /// Deletes the set `id` of `dir`, as retention decided. A `Dependency` error (the
    /// storage is unreachable, access denied) stops the run; any other fails this set.
    fn delete(&self, dir: &SetsDir, id: &str) -> Result<(), OpsError>;
    /// The local catalog, for what only a catalog on the backup host has: pins and
    /// retirement markers (in a bucket, they would be the one unsigned thing there).
    fn local(&self) -> Option<&Catalog> {
        None
    }
    /// The directory of `database`'s sets (`None`: the globals'), listed or not.
    fn dir_of(&self, database: Option<&str>) -> SetsDir {
        let key = database.map_or_else(|| catalog::GLOBALS_DIR.to_string(), catalog::encode_db_dir);
        SetsDir {
            label: database.unwrap_or(catalog::GLOBALS_DIR).to_string(),
            place: format!("{}/{key}", self.location().trim_end_matches('/')),
            key,
        }
    }
    /// The deepest check this storage can make with the keys at hand; `read_data` asks a
    /// sealed catalog without an identity to read the ciphertext.
    fn depth(&self, read_data: bool) -> Depth;
    /// Opens set `id` of `dir` for a check no deeper than `depth`. A set from the future is
    /// opened like any other (its bytes are what they are). `Err` stops the run: the
    /// storage failed, or the identity opens nothing of this catalog.
    fn open_for_check(&self, dir: &SetsDir, id: &str, depth: Depth) -> Result<ForCheck, OpsError>;
    /// Records a set's verdict where the storage keeps verdicts (a local set's
    /// `verify.json`); `false` when nothing was written (a bucket is never written to by a
    /// verification).
    fn record_verdict(&self, _dir: &SetsDir, _record: &VerifyRecord) -> Result<bool, OpsError> {
        Ok(false)
    }
    /// Records a whole verification run where the storage keeps runs: a sealed catalog's
    /// in the state directory, read by ops-status and by rotation (a set that failed there
    /// counts for nothing).
    fn record_run(&self, _depth: Depth, _correlation_id: &str, _verified: &[Verified]) {}
    /// Keeps `proof` of set `id` beside it where the storage keeps proofs (a bucket:
    /// a signed proof object, returned by its place); `None` where it keeps none.
    fn record_proof(
        &self,
        _dir: &SetsDir,
        _id: &str,
        _proof: &Proof,
        _by: &ProofBy<'_>,
    ) -> Result<Option<String>, OpsError> {
        Ok(None)
    }
}

/// How long a `.partial-<id>` may be a backup still being written.
const PARTIAL_IN_PROGRESS_SECS: i64 = 86_400;

/// A catalog on a local directory, held under its lock while this value lives.
#[derive(Debug)]
pub struct LocalSets {
    catalog: Catalog,
    _lock: CatalogLock,
}

impl LocalSets {
    pub fn new(catalog: Catalog, lock: CatalogLock) -> LocalSets {
        LocalSets {
            catalog,
            _lock: lock,
        }
    }

    /// The directory by its key, never by its label: a database may be named `_globals`.
    fn set_dir(&self, dir: &SetsDir) -> SetDir {
        let database = catalog::decode_db_dir(&dir.key);
        self.catalog.set_dir(database.as_deref())
    }
}

impl Sets for LocalSets {
    fn location(&self) -> String {
        self.catalog.root().display().to_string()
    }

    fn dirs(&self, wants: &dyn Fn(&str) -> bool) -> Result<Dirs, OpsError> {
        let listing = self.catalog.listing()?;
        Ok(Dirs {
            dirs: listing
                .set_dirs
                .iter()
                .filter(|d| wants(d.label()))
                .map(|d| SetsDir {
                    label: d.label().to_string(),
                    place: d.path.display().to_string(),
                    key: d
                        .path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                })
                .collect(),
            unknown: listing
                .unknown
                .iter()
                .map(|u| u.path.display().to_string())
                .collect(),
        })
    }

    fn scan(&self, dir: &SetsDir, now: timefmt::Timestamp) -> Result<ScannedDir, OpsError> {
        let set_dir = self.set_dir(dir);
        let scan = set_dir
            .scan(now)
            .map_err(|e| OpsError::io_at("listing", &set_dir.path, &e))?;
        let place = |p: &std::path::Path| p.display().to_string();
        let sets = ops_core::parallel::map_all(&scan.sets, |s| {
            // `verify.json` read once: what retention and freshness both need of it.
            let verdict = s.set.read_verify().map(|r| r.verdict);
            ListedSet {
                id: s.set.id.clone(),
                started: s.set.started(),
                place: place(&s.set.path),
                failed: (verdict == Some(Verdict::Fail))
                    .then(|| "its verification failed".to_string()),
                pinned: s.set.is_pinned(),
                passed: verdict == Some(Verdict::Pass),
                // A directory has no Object Lock.
                locked_until: None,
            }
        });
        let refused = scan
            .rejected
            .iter()
            .map(|r| RefusedSet {
                id: r.set.id.clone(),
                place: place(&r.set.path),
                code: r.why.code(),
                reason: r.reason.clone(),
            })
            .collect();
        let others = scan
            .others
            .iter()
            // Deletions in progress are finished by `finish_deletions`; the lock is pgops'.
            .filter(|n| !n.starts_with(catalog::DELETING_PREFIX) && n.as_str() != ".lock")
            .map(|name| {
                let started = name
                    .strip_prefix(catalog::PARTIAL_PREFIX)
                    .and_then(timefmt::parse_set_id);
                let (kind, reason) = match started {
                    Some(s) if timefmt::seconds_between(s, now) < PARTIAL_IN_PROGRESS_SECS => (
                        "stale_partial",
                        "a backup being written (or died less than a day ago): left to its writer",
                    ),
                    Some(_) => (
                        "stale_partial",
                        "a backup that never finished; the next pgdump-run removes it",
                    ),
                    None => ("unknown_entry", "not a complete set: never touched"),
                };
                OtherEntry {
                    id: None,
                    place: place(&set_dir.path.join(name)),
                    kind,
                    code: None,
                    reason: reason.to_string(),
                }
            })
            .collect();
        Ok(ScannedDir {
            sets,
            refused,
            others,
            retired: scan.retired().cloned(),
        })
    }

    fn finish_deletions(&self, dir: &SetsDir, dry_run: bool) -> Vec<Finished> {
        let set_dir = self.set_dir(dir);
        catalog::deleting_in(&set_dir.path)
            .unwrap_or_default()
            .into_iter()
            .map(|doomed| {
                let id = doomed
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_prefix(catalog::DELETING_PREFIX))
                    .unwrap_or_default()
                    .to_string();
                let result = if dry_run {
                    Ok(())
                } else {
                    catalog::finish_deletion(&doomed).map_err(|e| {
                        OpsError::io(
                            format!("finishing the deletion of {}", doomed.display()),
                            &e,
                        )
                    })
                };
                Finished {
                    id,
                    place: doomed.display().to_string(),
                    result,
                }
            })
            .collect()
    }

    fn delete(&self, dir: &SetsDir, id: &str) -> Result<(), OpsError> {
        let set = SetRef {
            id: id.to_string(),
            path: self.set_dir(dir).path.join(id),
        };
        catalog::delete_set(&set)
            .map_err(|e| OpsError::io(format!("deleting {}", set.path.display()), &e))
    }

    fn local(&self) -> Option<&Catalog> {
        Some(&self.catalog)
    }

    fn depth(&self, _read_data: bool) -> Depth {
        Depth::Full
    }

    fn open_for_check(&self, dir: &SetsDir, id: &str, _depth: Depth) -> Result<ForCheck, OpsError> {
        // Always in place and in full: whatever the directory holds (a link, a misplaced
        // manifest) is what the checks judge and name.
        let set_dir = self.set_dir(dir);
        Ok(ForCheck::Files {
            set: SetRef {
                id: id.to_string(),
                path: set_dir.path.join(id),
            },
            dir: set_dir,
            scratch: None,
            stored_bytes: None,
        })
    }

    fn record_verdict(&self, dir: &SetsDir, record: &VerifyRecord) -> Result<bool, OpsError> {
        let path = self.set_dir(dir).path.join(&record.id);
        // A link or a file named like a set is reported, never written into.
        if !std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
            return Ok(false);
        }
        catalog::write_verify(&path, record)
            .map(|()| true)
            .map_err(|e| OpsError::io_at("recording the verdict in", &path, &e))
    }
}
