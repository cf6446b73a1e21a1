//! Events on stdin (`backup-verify -`, `restore-drill -`): the sets that the events a tool
//! accepts name (`backup.completed`, `verify.passed`), the correlation id of the first
//! event, and how the producing run went (its `run.finished`, its errors): a consumer must
//! never read a failed or killed producer's stream as "nothing to do". Other lines are
//! ignored.

use crate::catalog::{SetKind, GLOBALS_DIR};
use ops_core::event::is_valid_correlation_id;
use ops_core::event_names as names;
use ops_core::timefmt;
use ops_core::{Category, OpsError};
use serde_json::{json, Value};
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

/// An error a producing run reported (an event with an `error` member).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamError {
    pub event: String,
    pub database: Option<String>,
    pub code: String,
    pub message: String,
}

/// How the producing run ended, from its `run.finished` (`None`: its stream ended
/// without one: it was killed, crashed, or is not a pgops tool's stream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub source: String,
    pub result: String,
    pub exit_code: i64,
}

#[derive(Debug, Clone, Default)]
pub struct Input {
    pub correlation_id: Option<String>,
    pub sets: Vec<NamedSet>,
    pub finished: Option<Finished>,
    pub errors: Vec<UpstreamError>,
    /// The `source` of the first event (the producing tool), if any.
    pub source: Option<String>,
    /// Every line that was a JSON event, as read (for `--forward`).
    pub lines: Vec<String>,
}

impl Input {
    /// Why the producing run cannot be trusted to have done its whole job, if it cannot:
    /// it failed (`upstream_failed`, with its errors; exit 1 when it found a problem, 3
    /// when it could not run) or its stream ended without `run.finished`
    /// (`upstream_incomplete`, exit 3). The payload describes the producer for the event.
    pub fn upstream_problem(&self) -> Option<(OpsError, Value)> {
        let source = self.source.clone().unwrap_or_else(|| "the producer".into());
        let errors: Vec<Value> = self
            .errors
            .iter()
            .map(|e| json!({"event": e.event, "database": e.database, "code": e.code, "message": e.message}))
            .collect();
        match &self.finished {
            Some(f) if f.result == "ok" => None,
            Some(f) => {
                let said = match self.errors.first() {
                    Some(e) => format!(
                        ": {}{}: {}{}",
                        e.database.as_deref().map(|d| format!("{d}: ")).unwrap_or_default(),
                        e.code,
                        e.message,
                        match self.errors.len() {
                            1 => String::new(),
                            n => format!(" (and {} more)", n - 1),
                        }
                    ),
                    None => String::new(),
                };
                let category = if f.result == "failed" {
                    Category::Integrity
                } else {
                    Category::Dependency
                };
                Some((
                    OpsError::new(
                        "upstream_failed",
                        category,
                        format!("{} {} (exit {}){said}", f.source, f.result, f.exit_code),
                    ),
                    json!({"source": f.source, "result": f.result, "exit_code": f.exit_code,
                           "errors": errors}),
                ))
            }
            None => Some((
                OpsError::new(
                    "upstream_incomplete",
                    Category::Dependency,
                    format!(
                        "{source}'s events ended without run.finished: it was killed or crashed, so what it did not name was never checked"
                    ),
                ),
                json!({"source": self.source, "result": null, "exit_code": null, "errors": errors}),
            )),
        }
    }
}

/// Reports a producer that cannot be trusted (`run.failed` carrying its error, with
/// `upstream` describing it) and returns `exit` raised to that failure's exit code; with
/// no problem, `exit` unchanged. The consumer (`backup-verify -`, `restore-drill -`) still
/// did its job on what the producer named: this only keeps the producer's failure from
/// reading as success, or as "nothing to check".
pub fn report_upstream(
    emitter: &ops_core::event::Emitter,
    upstream: Option<&(OpsError, Value)>,
    exit: ops_core::ExitCode,
) -> ops_core::ExitCode {
    match upstream {
        None => exit,
        Some((error, producer)) => {
            emitter.emit_error(
                names::RUN_FAILED,
                ops_core::event::Severity::Error,
                error,
                json!({"upstream": producer}),
            );
            std::cmp::max_by_key(exit, error.category.run_exit_code(), |e| e.code())
        }
    }
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
            if v.is_object() {
                input.lines.push(line.trim().to_string());
            }
            if input.correlation_id.is_none() {
                input.correlation_id = v["correlation_id"]
                    .as_str()
                    .filter(|c| is_valid_correlation_id(c))
                    .map(str::to_string);
            }
            if input.source.is_none() {
                input.source = v["source"].as_str().map(str::to_string);
            }
            if v["event"] == names::RUN_FINISHED {
                input.finished = Some(Finished {
                    source: v["source"].as_str().unwrap_or("the producer").to_string(),
                    result: v["result"].as_str().unwrap_or("error").to_string(),
                    exit_code: v["exit_code"].as_i64().unwrap_or(-1),
                });
            } else if let (Some(code), Some(event)) =
                (v["error"]["code"].as_str(), v["event"].as_str())
            {
                input.errors.push(UpstreamError {
                    event: event.to_string(),
                    database: v["database"].as_str().map(str::to_string),
                    code: code.to_string(),
                    message: v["error"]["message"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                });
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

    #[test]
    fn a_failed_or_cut_producer_is_a_problem_with_its_words() {
        let ok = r#"{"event":"run.finished","source":"pgdump-run","result":"ok","exit_code":0}"#;
        assert!(read_events(&mut ok.as_bytes(), &[])
            .upstream_problem()
            .is_none());
        let failed = concat!(
            r#"{"event":"backup.failed","source":"pgdump-run","database":"shop","error":{"code":"dump_failed","message":"pg_dump: boom"}}"#,
            "\n",
            r#"{"event":"run.finished","source":"pgdump-run","result":"failed","exit_code":1}"#
        );
        let (e, p) = read_events(&mut failed.as_bytes(), &[])
            .upstream_problem()
            .unwrap();
        assert_eq!(
            (e.code, e.category),
            ("upstream_failed", Category::Integrity)
        );
        assert!(
            e.message.contains("shop: dump_failed: pg_dump: boom"),
            "{}",
            e.message
        );
        assert_eq!(p["errors"][0]["code"], "dump_failed");
        let cut = r#"{"event":"backup.started","source":"pgdump-run"}"#;
        let (e, _) = read_events(&mut cut.as_bytes(), &[])
            .upstream_problem()
            .unwrap();
        assert_eq!(
            (e.code, e.category),
            ("upstream_incomplete", Category::Dependency)
        );
        let (e, _) = read_events(&mut "".as_bytes(), &[])
            .upstream_problem()
            .unwrap();
        assert_eq!(e.code, "upstream_incomplete");
    }
}
