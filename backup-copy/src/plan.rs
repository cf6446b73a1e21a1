//! What to copy, decided from the source's sets and what the destination already holds.
//! Pure: the executor asks the stores, this module only decides.

use ops_catalog::catalog::{Manifest, Verdict};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// A set of the source catalog that could be copied.
#[derive(Debug, Clone)]
pub struct SourceSet {
    /// The database, or `_globals`.
    pub label: String,
    /// Its directory name in every catalog (the encoded database name, or `_globals`).
    pub dir_name: String,
    pub id: String,
    pub path: PathBuf,
    pub manifest: Manifest,
    /// What the last backup-verify of it said, if it ran.
    pub verdict: Option<Verdict>,
}

impl SourceSet {
    /// The key of one of its files in any catalog.
    pub fn key(&self, file: &str) -> String {
        format!("{}/{}/{file}", self.dir_name, self.id)
    }

    pub fn bytes(&self) -> u64 {
        self.manifest.files.iter().map(|f| f.bytes).sum()
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
}

impl Skip {
    pub fn code(self) -> &'static str {
        match self {
            Skip::AtDestination => "at_destination",
            Skip::NotVerified => "not_verified",
            Skip::VerifyFailed => "verify_failed",
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Skip::AtDestination => "the destination has this set, complete",
            Skip::NotVerified => {
                "no backup-verify has passed this set yet (run it, or pass --unverified)"
            }
            Skip::VerifyFailed => "its last verification failed: a failed set is never copied",
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
pub fn plan(sets: &[SourceSet], present: &BTreeSet<(String, String)>, unverified: bool) -> Plan {
    let mut p = Plan::default();
    for (i, s) in sets.iter().enumerate() {
        let skip = if present.contains(&(s.dir_name.clone(), s.id.clone())) {
            Some(Skip::AtDestination)
        } else {
            match s.verdict {
                Some(Verdict::Pass) => None,
                Some(Verdict::Fail) => Some(Skip::VerifyFailed),
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
            path: PathBuf::new(),
            manifest: m,
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
        let p = plan(&sets, &present, false);
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
        assert_eq!(plan(&sets, &present, true).copy, [1, 3]);
        assert_eq!(
            sets[1].key("manifest.json"),
            "app/20261121T000000Z/manifest.json"
        );
        assert_eq!(sets[1].bytes(), 10);
    }
}
