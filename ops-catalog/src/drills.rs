//! The drill history: `_drills.jsonl` in a catalog (or any file restore-drill is told),
//! one drill report per line, appended and fsynced by restore-drill, read by its
//! `history` summary and by ops-status. The one place its format is written and read.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// The history's file name in a local catalog (restore-drill's default).
pub const DRILLS_FILE: &str = "_drills.jsonl";

/// One drill, as the history keeps it: the fields readers rely on, and the rest of the
/// report as it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub started_at: String,
    /// Missing in no report restore-drill wrote; optional so a hand-made line still counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    pub database: String,
    pub id: String,
    /// `completed` or `failed`.
    pub result: String,
    pub rto_ms: u64,
    pub rpo_s: i64,
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

impl Entry {
    pub fn completed(&self) -> bool {
        self.result == "completed"
    }
}

/// Appends one report and fsyncs, so a drill that reported is on disk.
pub fn append(path: &Path, report: &impl serde::Serialize) -> std::io::Result<()> {
    let line = serde_json::to_string(report).expect("drill reports serialize");
    ops_core::state::append_line(path, &line)
}

/// Parses a history; lines that are not a drill (a torn write, a hand edit) are counted,
/// not fatal: one damaged line must not hide every other drill.
pub fn parse(text: &str) -> (Vec<Entry>, usize) {
    let mut bad = 0;
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Entry>(line) {
            Ok(e) => out.push(e),
            Err(_) => bad += 1,
        }
    }
    (out, bad)
}

/// Reads the history at `path` (missing: no drill yet).
pub fn read(path: &Path) -> std::io::Result<(Vec<Entry>, usize)> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(parse(&t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((Vec::new(), 0)),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip_and_damaged_lines_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DRILLS_FILE);
        assert_eq!(read(&path).unwrap(), (Vec::new(), 0));
        let report = serde_json::json!({"started_at": "2026-11-01T04:00:00.000Z",
            "finished_at": "2026-11-01T04:01:00.000Z", "database": "app",
            "id": "20261101T030000Z", "result": "completed", "rto_ms": 60000, "rpo_s": 3600,
            "rpo_ms": 3_600_000, "tables": 3});
        append(&path, &report).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"{\"torn\n"))
            .unwrap();
        let (entries, bad) = read(&path).unwrap();
        assert_eq!(bad, 1);
        assert_eq!(entries.len(), 1);
        let e = &entries[0];
        assert!(e.completed());
        assert_eq!(e.finished_at.as_deref(), Some("2026-11-01T04:01:00.000Z"));
        assert_eq!(e.rest["tables"], 3);
        assert_eq!(serde_json::to_value(e).unwrap(), report, "nothing lost");
    }
}
