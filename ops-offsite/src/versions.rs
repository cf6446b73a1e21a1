//! What a versioned bucket looked like at a point in time, and how to bring it back (ADR
//! 0025): a pure plan from the version listing. An intruder holding the host's credentials
//! can hide objects behind delete markers or overwrite them with newer versions; the old
//! versions stay (locked ones cannot even be deleted). For every key, the version current
//! at `as_of` is found; a key hidden since has its delete markers removed, a key
//! overwritten since gets its old version copied on top. Nothing but delete markers is
//! ever deleted, and a key made after `as_of` is left as it is (reported).

use crate::backend::ObjectVersion;
use jiff::Timestamp;
use std::collections::BTreeMap;

/// What happened to one key after `as_of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Its version at `as_of` is hidden behind delete markers only.
    Hidden,
    /// A newer version (maybe hidden in turn) replaced its version at `as_of`.
    Overwritten,
    /// It did not exist at `as_of` (or was deleted then): made since, left as it is.
    Added,
}

impl Change {
    pub fn name(self) -> &'static str {
        match self {
            Change::Hidden => "hidden",
            Change::Overwritten => "overwritten",
            Change::Added => "added",
        }
    }
}

/// One key that differs from what it was at `as_of`, and what brings it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub key: String,
    pub change: Change,
    /// The version current at `as_of` (none for `Added`).
    pub version: Option<String>,
    /// When that version was written.
    pub written: Option<Timestamp>,
    /// `Hidden`: the delete markers above it, newest first (removing them uncovers it).
    pub markers: Vec<String>,
    /// When the key last changed.
    pub changed: Timestamp,
}

/// Every key whose current state differs from its state at `as_of`, by key.
pub fn plan(versions: &[ObjectVersion], as_of: Timestamp) -> Vec<Step> {
    let mut by_key: BTreeMap<&str, Vec<&ObjectVersion>> = BTreeMap::new();
    for v in versions {
        by_key.entry(v.key.as_str()).or_default().push(v);
    }
    by_key
        .into_iter()
        .filter_map(|(key, mut history)| {
            // Newest first; within one second (S3 dates are seconds) the current one first.
            history.sort_by(|a, b| b.modified.cmp(&a.modified).then(b.latest.cmp(&a.latest)));
            step(key, &history, as_of)
        })
        .collect()
}

fn step(key: &str, history: &[&ObjectVersion], as_of: Timestamp) -> Option<Step> {
    let current = history.first()?;
    let then = history.iter().position(|v| v.modified <= as_of);
    let step = |change, version: Option<&ObjectVersion>, markers| Step {
        key: key.to_string(),
        change,
        version: version.map(|v| v.version_id.clone()),
        written: version.map(|v| v.modified),
        markers,
        changed: current.modified,
    };
    match then.map(|i| (i, history[i])) {
        // Unchanged since.
        Some((0, _)) => None,
        // Absent at `as_of` and absent now: nothing to say.
        None
        | Some((
            _,
            ObjectVersion {
                delete_marker: true,
                ..
            },
        )) if current.delete_marker => None,
        None
        | Some((
            _,
            ObjectVersion {
                delete_marker: true,
                ..
            },
        )) => Some(step(Change::Added, None, Vec::new())),
        Some((i, v)) => {
            let newer = &history[..i];
            if newer.iter().all(|n| n.delete_marker) {
                let markers = newer.iter().map(|n| n.version_id.clone()).collect();
                Some(step(Change::Hidden, Some(v), markers))
            } else {
                Some(step(Change::Overwritten, Some(v), Vec::new()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(key: &str, id: &str, at: &str, marker: bool) -> ObjectVersion {
        ObjectVersion {
            key: key.into(),
            version_id: id.into(),
            latest: false,
            modified: at.parse().unwrap(),
            size: if marker { 0 } else { 10 },
            delete_marker: marker,
        }
    }

    fn listing(mut all: Vec<ObjectVersion>) -> Vec<ObjectVersion> {
        // The newest version of each key is its current one.
        let mut newest: BTreeMap<String, Timestamp> = BTreeMap::new();
        for x in &all {
            let e = newest.entry(x.key.clone()).or_insert(x.modified);
            *e = (*e).max(x.modified);
        }
        for x in &mut all {
            x.latest = newest[&x.key] == x.modified;
        }
        all
    }

    #[test]
    fn hidden_overwritten_added_and_untouched_keys() {
        let as_of: Timestamp = "2026-12-06T12:00:00Z".parse().unwrap();
        let all = listing(vec![
            // Untouched.
            v("db/1/a.age", "a1", "2026-12-05T03:00:00Z", false),
            // Hidden: a marker, then another.
            v("db/1/envelope.json", "e1", "2026-12-05T03:00:01Z", false),
            v("db/1/envelope.json", "m1", "2026-12-06T13:00:00Z", true),
            v("db/1/envelope.json", "m2", "2026-12-06T14:00:00Z", true),
            // Overwritten, then hidden: the old version is copied back.
            v("db/1/b.age", "b1", "2026-12-05T03:00:00Z", false),
            v("db/1/b.age", "b2", "2026-12-06T13:00:00Z", false),
            v("db/1/b.age", "m3", "2026-12-06T13:30:00Z", true),
            // Made after: left, reported.
            v("db/2/envelope.json", "n1", "2026-12-06T15:00:00Z", false),
            // Deleted before `as_of` and still deleted: nothing.
            v("db/0/x.age", "x1", "2026-12-01T00:00:00Z", false),
            v("db/0/x.age", "m4", "2026-12-02T00:00:00Z", true),
        ]);
        let steps = plan(&all, as_of);
        let got: Vec<(&str, Change, Option<&str>, Vec<&str>)> = steps
            .iter()
            .map(|s| {
                (
                    s.key.as_str(),
                    s.change,
                    s.version.as_deref(),
                    s.markers.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("db/1/b.age", Change::Overwritten, Some("b1"), vec![]),
                (
                    "db/1/envelope.json",
                    Change::Hidden,
                    Some("e1"),
                    vec!["m2", "m1"]
                ),
                ("db/2/envelope.json", Change::Added, None, vec![]),
            ]
        );
    }
}
