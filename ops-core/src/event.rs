//! The JSON-lines envelope: one event per line on stdout, flushed, nothing else on stdout.
//!
//! ```json
//! {"v":2,"ts":"2026-11-24T03:00:01.234Z","event":"backup.completed","source":"pgdump-run",
//!  "severity":"info","correlation_id":"01JD…", "...": "payload fields"}
//! ```
//! The envelope fields always come first and a payload can never overwrite them.

use crate::error::OpsError;
use crate::event_names as names;
use crate::exit::ExitCode;
use crate::timefmt;
use serde::Serialize;
use serde_json::{Map, Value};
use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

/// Schema version of every event this build writes.
pub const SCHEMA_VERSION: u32 = 2;

/// Fields the envelope owns; a payload key with one of these names is dropped.
const ENVELOPE_KEYS: [&str; 6] = ["v", "ts", "event", "source", "severity", "correlation_id"];

pub use crate::severity::Severity;

/// The outcome recorded in `run.finished`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunResult {
    /// Everything the run set out to do was done and found fine.
    Ok,
    /// The run did its job and found a problem.
    Failed,
    /// The run could not do its job.
    Error,
}

impl RunResult {
    pub fn from_exit(exit: ExitCode) -> RunResult {
        match exit {
            ExitCode::Ok => RunResult::Ok,
            ExitCode::Problem => RunResult::Failed,
            ExitCode::Usage | ExitCode::Unavailable => RunResult::Error,
        }
    }
}

/// Writes events for one invocation of one tool. Shared between threads; each event is
/// written and flushed as one line under a lock, so lines never interleave.
pub struct Emitter {
    source: &'static str,
    correlation_id: String,
    started: Instant,
    out: Mutex<Box<dyn Write + Send>>,
    /// Whether `finish` records the run in the run history ([`crate::state`]).
    record: bool,
    /// What the tool says it applied, audited with its configuration
    /// ([`crate::configuration`]).
    settings: Mutex<std::collections::BTreeMap<String, String>>,
}

impl std::fmt::Debug for Emitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emitter")
            .field("source", &self.source)
            .field("correlation_id", &self.correlation_id)
            .finish()
    }
}

impl Emitter {
    /// An emitter writing to stdout.
    pub fn stdout(source: &'static str, correlation_id: String) -> Emitter {
        Emitter::new(source, correlation_id, Box::new(std::io::stdout()))
    }

    pub fn new(
        source: &'static str,
        correlation_id: String,
        out: Box<dyn Write + Send>,
    ) -> Emitter {
        Emitter {
            source,
            correlation_id,
            started: Instant::now(),
            out: Mutex::new(out),
            record: true,
            settings: Mutex::default(),
        }
    }

    /// This emitter's runs are not recorded in the run history: for readers such as
    /// ops-status, whose frequent runs would drown the tools' own in `runs.jsonl`.
    pub fn without_run_history(mut self) -> Emitter {
        self.record = false;
        self
    }

    /// Records a setting the run applied (backup-rotate's retention): a change to it from
    /// the tool's last run is audited in `run.finished` like a changed env file.
    pub fn applied(&self, name: &str, value: String) {
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), value);
    }

    pub fn correlation_id(&self) -> &str {
        &self.correlation_id
    }

    /// Builds the line for `event` without writing it (tests and previews use this).
    pub fn render(&self, event: &str, severity: Severity, payload: Value) -> String {
        let mut obj = Map::new();
        obj.insert("v".into(), SCHEMA_VERSION.into());
        obj.insert("ts".into(), timefmt::now_rfc3339().into());
        obj.insert("event".into(), event.into());
        obj.insert("source".into(), self.source.into());
        obj.insert(
            "severity".into(),
            serde_json::to_value(severity).expect("severity serializes"),
        );
        obj.insert("correlation_id".into(), self.correlation_id.clone().into());
        // Every line says in words what it reports (`message`), for a person reading the
        // JSON and for log systems that show one field; a payload's own message stands.
        if !payload["message"].is_string() {
            obj.insert(
                "message".into(),
                crate::human::describe(event, &payload).into(),
            );
        }
        if let Value::Object(fields) = payload {
            for (k, v) in fields {
                if !ENVELOPE_KEYS.contains(&k.as_str()) {
                    obj.insert(k, v);
                }
            }
        }
        Value::Object(obj).to_string()
    }

    /// Writes one event. A closed stdout (the reader went away) is not the tool's failure:
    /// the error is ignored so that the job itself still finishes and cleans up.
    pub fn emit(&self, event: &str, severity: Severity, payload: Value) {
        // No secret leaves in an event, whoever built the payload (ops_core::redact).
        let payload = crate::redact::scrub_value(payload);
        let words =
            crate::human::line(crate::human::mode(), self.source, severity, event, &payload);
        self.write_line(&self.render(event, severity, payload));
        if let Some(w) = words {
            crate::progress::println(&w);
        }
    }

    /// Writes a typed event: its name, severity and payload (its serialisation) are its own.
    pub fn send(&self, event: &impl Event) {
        let payload = serde_json::to_value(event).expect("events serialize");
        self.emit(event.name(), event.severity(), payload);
    }

    /// Writes another tool's event line as it is (`backup-verify - --forward`: the
    /// producer's events go on to the journal, ahead of the consumer's own).
    pub fn forward(&self, line: &str) {
        self.write_line(&crate::redact::scrub(line));
    }

    fn write_line(&self, line: &str) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    /// Writes an event carrying `error`, adding it to the payload.
    pub fn emit_error(&self, event: &str, severity: Severity, err: &OpsError, payload: Value) {
        let mut payload = match payload {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        payload.insert(
            "error".into(),
            serde_json::to_value(err).expect("errors serialize"),
        );
        self.emit(event, severity, Value::Object(payload));
    }

    /// What changed in this tool's configuration since its last recorded run (FR27):
    /// audited only for runs that are recorded, in a state directory.
    fn configuration_changes(&self) -> Vec<crate::configuration::Change> {
        match crate::state::dir_from_env() {
            Some(dir) if self.record => {
                let settings = self.settings.lock().unwrap_or_else(|e| e.into_inner());
                crate::configuration::audit(&dir, self.source, &settings)
            }
            _ => Vec::new(),
        }
    }

    /// Writes the closing `run.finished` audit event and returns the exit code to use.
    pub fn finish(&self, action: &str, exit: ExitCode, extra: impl serde::Serialize) -> ExitCode {
        let extra = serde_json::to_value(extra).expect("tallies serialize");
        let result = RunResult::from_exit(exit);
        let severity = match result {
            RunResult::Ok => Severity::Info,
            RunResult::Failed | RunResult::Error => Severity::Error,
        };
        let mut payload = Map::new();
        payload.insert("action".into(), action.into());
        payload.insert("actor".into(), actor());
        payload.insert("result".into(), serde_json::to_value(result).unwrap());
        payload.insert(
            "duration_ms".into(),
            (self.started.elapsed().as_millis() as u64).into(),
        );
        payload.insert("exit_code".into(), exit.code().into());
        if let Value::Object(fields) = extra {
            payload.extend(fields);
        }
        let changes = self.configuration_changes();
        if !changes.is_empty() {
            let message = crate::configuration::describe(&changes);
            let changes = serde_json::to_value(&changes).expect("changes serialize");
            self.emit(
                names::CONFIG_CHANGED,
                Severity::Info,
                serde_json::json!({ "changes": changes, "message": message }),
            );
            payload.insert("config_changes".into(), changes);
        }
        // No secret in the audit trace, whatever built its fields (ops_core::redact).
        let Value::Object(mut payload) = crate::redact::scrub_value(Value::Object(payload)) else {
            unreachable!("an object stays an object");
        };
        // One summary: the line's message, and the words on stderr.
        let words = crate::human::run_words(&Value::Object(payload.clone()));
        payload.insert("message".into(), words.clone().into());
        let words = crate::human::summary(
            crate::human::mode(),
            self.source,
            result == RunResult::Ok,
            &words,
        );
        let line = self.render(names::RUN_FINISHED, severity, Value::Object(payload));
        self.write_line(&line);
        if let Some(w) = words {
            crate::progress::println(&w);
        }
        // The run history (PGOPS_STATE_DIR) keeps the same line: the audit trace of every
        // run, and what pgops_runs_total counts.
        if self.record {
            crate::state::record_run(&line);
        }
        exit
    }
}

/// The user running the tool: `{"user": "postgres", "uid": 101}`.
pub fn actor() -> Value {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    serde_json::json!({ "user": crate::user::user_name(uid), "uid": uid })
}

/// A new correlation id: a ULID (26 characters, Crockford base32, sortable by time).
pub fn new_correlation_id() -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
        & ((1u128 << 48) - 1);
    let mut random = [0u8; 10];
    getrandom::getrandom(&mut random).expect("the OS random source is available");
    let mut value = ms << 80;
    for (i, b) in random.iter().enumerate() {
        value |= (*b as u128) << (8 * (9 - i));
    }
    (0..26)
        .rev()
        .map(|i| ALPHABET[((value >> (5 * i)) & 31) as usize] as char)
        .collect()
}

/// The correlation id for a run with no input events: `PGOPS_CORRELATION_ID` if it is a
/// sane token, else systemd's `INVOCATION_ID` (the unit run), else a new one.
pub fn correlation_id_from_env() -> String {
    // Under systemd every tool of one unit run shares the unit's invocation id, so
    // `ops-notify unit` (OnSuccess=/OnFailure=, given MONITOR_INVOCATION_ID) finds exactly
    // that run's `run.finished` lines, and `journalctl _SYSTEMD_INVOCATION_ID=` matches.
    ["PGOPS_CORRELATION_ID", "INVOCATION_ID"]
        .iter()
        .filter_map(|var| std::env::var(var).ok())
        .find(|id| is_valid_correlation_id(id))
        .unwrap_or_else(new_correlation_id)
}

/// Ids come from other processes and environments; only short printable tokens are accepted.
pub fn is_valid_correlation_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// An event as a typed struct, serialised once as its payload: the struct is the event's
/// shape in code, the schema in `docs/schemas/events/` its contract (the tests check every
/// line against it).
pub trait Event: serde::Serialize {
    fn name(&self) -> &'static str;
    fn severity(&self) -> Severity;
}

/// Declares a typed event whose name and severity never change:
/// `ops_core::event!(Planned<'_>, names::BACKUP_PLANNED, Severity::Info);`.
#[macro_export]
macro_rules! event {
    ($ty:ty, $name:expr, $severity:expr) => {
        impl $crate::event::Event for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn severity(&self) -> $crate::event::Severity {
                $severity
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn payload_cannot_override_envelope() {
        let sink = Sink::default();
        let e = Emitter::new("t", "cid".into(), Box::new(sink.clone()));
        e.emit(
            "x.y",
            Severity::Info,
            serde_json::json!({"event": "evil", "v": 9, "n": 1}),
        );
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1);
        let v: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["event"], "x.y");
        assert_eq!(v["v"], 2);
        assert_eq!(v["n"], 1);
        assert_eq!(v["correlation_id"], "cid");
    }

    #[test]
    fn finish_reports_exit_and_result() {
        let sink = Sink::default();
        let e = Emitter::new("t", "cid".into(), Box::new(sink.clone()));
        assert_eq!(
            e.finish("backup", ExitCode::Problem, Value::Null),
            ExitCode::Problem
        );
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let v: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["event"], "run.finished");
        assert_eq!(v["result"], "failed");
        assert_eq!(v["exit_code"], 1);
        assert!(v["actor"]["uid"].is_u64());
    }

    #[test]
    fn ulids_are_distinct_and_well_formed() {
        let a = new_correlation_id();
        let b = new_correlation_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 26);
        assert!(is_valid_correlation_id(&a));
        assert!(!is_valid_correlation_id("a b"));
        assert!(!is_valid_correlation_id("x\ny"));
    }
}
