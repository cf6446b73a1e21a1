//! Events on stdin (`backup-verify -`, `restore-drill -`): the sets that the events a tool
//! accepts name (`backup.completed`, `verify.passed`), and the correlation id of the first
//! event. Other events and lines are ignored.

use crate::catalog::{SetKind, GLOBALS_DIR};
use ops_core::event::is_valid_correlation_id;
use ops_core::event_names as names;
use ops_core::timefmt;
use serde_json::Value;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedSet {
    /// The event that named it.
    pub event: String,
    pub kind: SetKind,
    pub database: String,
    pub id: String,
    /// Where pgdump-run said it wrote the set.
    pub path: PathBuf,
}

#[derive(Debug, Clone, Default)]
pub struct Input {
    pub correlation_id: Option<String>,
    pub sets: Vec<NamedSet>,
}

impl Input {
    /// The catalog the events came from: the grandparent of the first set's path.
    pub fn catalog_root(&self) -> Option<PathBuf> {
        self.sets
            .first()?
            .path
            .parent()?
            .parent()
            .map(|p| p.to_path_buf())
    }
}

/// Reads every line until EOF, keeping the sets named by events in `accept`. Sets are named
/// by (kind, database, id), never by a path from the input, and an id must be a set id, so
/// nothing read here is joined into a path raw.
pub fn read_events(stdin: &mut dyn std::io::BufRead, accept: &[&str]) -> Input {
    let mut input = Input::default();
    let mut line = String::new();
    while stdin.read_line(&mut line).unwrap_or(0) > 0 {
        if let Ok(v) = serde_json::from_str::<Value>(line.trim()) {
            if input.correlation_id.is_none() {
                input.correlation_id = v["correlation_id"]
                    .as_str()
                    .filter(|c| is_valid_correlation_id(c))
                    .map(str::to_string);
            }
            if let Some(set) = named_set(&v).filter(|s| accept.contains(&s.event.as_str())) {
                if !input.sets.contains(&set) {
                    input.sets.push(set);
                }
            }
        }
        line.clear();
    }
    input
}

fn named_set(v: &Value) -> Option<NamedSet> {
    let event = v["event"].as_str()?;
    let id = v["id"]
        .as_str()
        .filter(|id| timefmt::parse_set_id(id).is_some())?;
    // backup.completed says its kind; verify.passed names globals sets `_globals`.
    let kind = match (event, v["kind"].as_str(), v["database"].as_str()) {
        (names::BACKUP_COMPLETED, Some("globals"), _) => SetKind::Globals,
        (names::BACKUP_COMPLETED, Some("database"), _) => SetKind::Database,
        (names::VERIFY_PASSED, _, Some(GLOBALS_DIR)) => SetKind::Globals,
        (names::VERIFY_PASSED, _, Some(_)) => SetKind::Database,
        _ => return None,
    };
    let database = match kind {
        SetKind::Globals => GLOBALS_DIR.to_string(),
        SetKind::Database => v["database"]
            .as_str()
            .filter(|d| !d.is_empty())?
            .to_string(),
    };
    Some(NamedSet {
        event: event.to_string(),
        kind,
        database,
        id: id.to_string(),
        path: PathBuf::from(v["path"].as_str().unwrap_or_default()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_completed_sets_and_the_first_correlation_id() {
        let text = r#"{"event":"backup.started","correlation_id":"abc","id":"20261124T030001Z"}
not json
{"event":"backup.completed","correlation_id":"abc","kind":"database","database":"a/b","id":"20261124T030001Z","path":"/c/a%2Fb/20261124T030001Z"}
{"event":"backup.completed","kind":"database","database":"x","id":"../../etc"}
{"event":"backup.completed","kind":"globals","database":null,"id":"20261124T030002Z","path":"/c/_globals/20261124T030002Z"}
"#;
        let input = read_events(&mut text.as_bytes(), &["backup.completed"]);
        assert_eq!(input.correlation_id.as_deref(), Some("abc"));
        assert_eq!(input.sets.len(), 2, "the hostile id is ignored");
        assert_eq!(input.sets[0].database, "a/b");
        assert_eq!(input.sets[1].kind, SetKind::Globals);
        assert_eq!(input.catalog_root(), Some(PathBuf::from("/c")));
        let passed = r#"{"event":"verify.passed","database":"_globals","id":"20261124T030002Z"}"#;
        assert!(read_events(&mut passed.as_bytes(), &["backup.completed"])
            .sets
            .is_empty());
        let input = read_events(&mut passed.as_bytes(), &["verify.passed"]);
        assert_eq!(input.sets[0].kind, SetKind::Globals);
    }
}
