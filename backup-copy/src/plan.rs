//! What to copy, decided from the source's sets and what the destination already holds.
//! Pure: the executor asks the stores, this module only decides.

use ops_catalog::catalog::{Manifest, Verdict};
use ops_offsite::sealed::open::SealedSet;
use std::collections::BTreeSet;
use std::path::PathBuf;

pub use ops_offsite::sets::CopyMode as Mode;

/// Where a source set's bytes are.
#[derive(Debug, Clone)]
pub enum Origin {
    /// A set of a local catalog.
    Local {
        path: PathBuf,
        manifest: Box<Manifest>,
    },
    /// A sealed set of an off-site catalog, its envelope's signature checked.
    Sealed(Box<SealedSet>),
}

/// A set of the source catalog that could be copied.
#[derive(Debug, Clone)]
pub struct SourceSet {
    /// The database, or `_globals`.
    pub label: String,
    /// Its directory name in every catalog (the encoded database name, or `_globals`).
    pub dir_name: String,
    pub id: String,
    pub origin: Origin,
    /// What the last backup-verify of it said, if it ran. A sealed set counts as passed:
    /// only passed sets are sealed, and unsealing checks every file against its manifest.
    pub verdict: Option<Verdict>,
}

impl SourceSet {
    /// The key of one of its files in any catalog.
    pub fn key(&self, file: &str) -> String {
        format!("{}/{}/{file}", self.dir_name, self.id)
    }

    /// Bytes to move: the stored files (local), or the ciphertext (sealed).
    pub fn bytes(&self) -> u64 {
        match &self.origin {
            Origin::Local { manifest, .. } => manifest.files.iter().map(|f| f.bytes).sum(),
            Origin::Sealed(s) => s.envelope.bytes(),
        }
    }

    pub fn files(&self) -> usize {
        match &self.origin {
            Origin::Local { manifest, .. } => manifest.files.len(),
            Origin::Sealed(s) => s.envelope.objects.len(),
        }
    }
}

/// Why a set is not copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// The destination has its manifest: the set is there, complete.
    AtDestination,
    /// No backup-verify has passed it (`--unverified` copies it anyway).
    NotVerified,
    /// Its last verification failed: never shipped, whatever the flags.
    VerifyFailed,
    /// `--latest`: a newer set of the same database goes instead.
    NotLatest,
}

impl Skip {
    pub fn code(self) -> &'static str {
        match self {
            Skip::AtDestination => "at_destination",
            Skip::NotVerified => "not_verified",
            Skip::VerifyFailed => "verify_failed",
            Skip::NotLatest => "not_latest",
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Skip::AtDestination => "the destination has this set, complete",
            Skip::NotVerified => {
                "no backup-verify has passed this set yet (run it, or pass --unverified)"
            }
            Skip::VerifyFailed => "its last verification failed: a failed set is never copied",
            Skip::NotLatest => "--latest: a newer good set of this database is the one copied",
        }
    }
}

/// The plan: indexes into the source sets, oldest first.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub copy: Vec<usize>,
    pub skip: Vec<(usize, Skip)>,
}

/// Decides. `present` holds `(dir_name, id)` of the sets the destination has complete.
/// With `latest`, only the newest set of each directory that may go is considered (what a
/// recovery needs: the newest good set of each database and of the globals).
pub fn plan(
    sets: &[SourceSet],
    present: &BTreeSet<(String, String)>,
    unverified: bool,
    latest: bool,
) -> Plan {
    let may_go = |s: &SourceSet| match s.verdict {
        Some(Verdict::Pass) => true,
        Some(Verdict::Fail) => false,
        _ => unverified,
    };
    // Per directory, the newest set that may go (sets can come in any order).
    let mut newest: std::collections::BTreeMap<&str, &str> = Default::default();
    for s in sets.iter().filter(|s| may_go(s)) {
        let e = newest.entry(s.dir_name.as_str()).or_insert(s.id.as_str());
        if s.id.as_str() > *e {
            *e = s.id.as_str();
        }
    }
    let mut p = Plan::default();
    for (i, s) in sets.iter().enumerate() {
        let older = latest && newest.get(s.dir_name.as_str()) != Some(&s.id.as_str());
        let skip = if s.verdict == Some(Verdict::Fail) {
            Some(Skip::VerifyFailed)
        } else if older && may_go(s) {
            Some(Skip::NotLatest)
        } else if present.contains(&(s.dir_name.clone(), s.id.clone())) {
            Some(Skip::AtDestination)
        } else {
            match s.verdict {
                Some(Verdict::Pass) => None,
                _ if unverified => None,
                _ => Some(Skip::NotVerified),
            }
        };
        match skip {
            Some(why) => p.skip.push((i, why)),
            None => p.copy.push(i),
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(id: &str, verdict: Option<Verdict>) -> SourceSet {
        let m: Manifest = serde_json::from_value(serde_json::json!({
            "v": 1, "id": id, "kind": "database", "database": "app", "status": "complete",
            "started_at": "", "finished_at": "", "duration_ms": 0, "server_version": "17",
            "pg_dump_version": "17", "format": "custom",
            "compression": {"algorithm": "zstd", "level": 1},
            "files": [{"name": "app.dump.zst", "bytes": 10, "sha256": "0".repeat(64), "raw_bytes": 20}],
            "tables": [], "large_objects": 0, "connection": {},
            "tool": {"name": "t", "version": "0"}, "correlation_id": "c", "notes": []
        }))
        .unwrap();
        SourceSet {
            label: "app".into(),
            dir_name: "app".into(),
            id: id.into(),
            origin: Origin::Local {
                path: PathBuf::new(),
                manifest: Box::new(m),
            },
            verdict,
        }
    }

    #[test]
    fn only_passed_sets_that_the_destination_lacks() {
        let sets = [
            set("20261120T000000Z", Some(Verdict::Pass)),
            set("20261121T000000Z", Some(Verdict::Pass)),
            set("20261122T000000Z", Some(Verdict::Fail)),
            set("20261123T000000Z", None),
        ];
        let present = BTreeSet::from([("app".to_string(), "20261120T000000Z".to_string())]);
        let p = plan(&sets, &present, false, false);
        assert_eq!(p.copy, [1]);
        assert_eq!(
            p.skip,
            [
                (0, Skip::AtDestination),
                (2, Skip::VerifyFailed),
                (3, Skip::NotVerified)
            ]
        );
        // --unverified never ships a failed set.
        assert_eq!(plan(&sets, &present, true, false).copy, [1, 3]);
        // --latest: the newest set that may go, only.
        let p = plan(&sets, &present, false, true);
        assert_eq!(p.copy, [1]);
        assert_eq!(p.skip[0], (0, Skip::NotLatest));
        let p = plan(&sets, &BTreeSet::new(), true, true);
        assert_eq!(p.copy, [3]);
        assert!(
            p.skip.contains(&(1, Skip::NotLatest)) && p.skip.contains(&(2, Skip::VerifyFailed))
        );
        assert_eq!(
            sets[1].key("manifest.json"),
            "app/20261121T000000Z/manifest.json"
        );
        assert_eq!(sets[1].bytes(), 10);
    }
}
