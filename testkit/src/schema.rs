//! Validation of real tool output against the JSON Schemas in `docs/schemas/`.
//!
//! Every event line must match `envelope.json` and `events/<event>.json`; a missing event
//! schema is itself a failure, so no event ships undocumented.

use serde_json::Value;
use std::path::PathBuf;

fn schema_dir() -> PathBuf {
    crate::workspace_root().join("docs/schemas")
}

fn load(rel: &str) -> Value {
    let path = schema_dir().join(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("schema {} is missing: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("schema {} is invalid JSON: {e}", path.display()))
}

/// Validates `instance` against the schema at `schema_rel` under `docs/schemas/` (e.g.
/// `http/health.json`); panics with every error.
pub fn check(schema_rel: &str, instance: &Value) {
    capture(schema_rel, instance);
    let schema = load(schema_rel);
    let validator = jsonschema::validator_for(&schema)
        .unwrap_or_else(|e| panic!("schema {schema_rel} does not compile: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{instance} does not match {schema_rel}:\n{}",
        errors.join("\n")
    );
}

/// With `PGOPS_SCHEMA_EXAMPLES=DIR`, the first real document each schema validates is kept
/// as `DIR/<schema path>`: how a release's examples are captured for the compatibility test
/// of the next ones (`docs/schemas/compat/`, testkit/tests/compat.rs).
fn capture(schema_rel: &str, instance: &Value) {
    let Some(dir) = std::env::var_os("PGOPS_SCHEMA_EXAMPLES") else {
        return;
    };
    let path = PathBuf::from(dir).join(schema_rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        use std::io::Write;
        let text = serde_json::to_string_pretty(instance).unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f.write_all(b"\n").unwrap();
    }
}

/// Parses one stdout line and validates it; returns the event.
pub fn validate_event_line(line: &str) -> Value {
    let v: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"));
    check("envelope.json", &v);
    let event = v["event"].as_str().expect("event is a string");
    check(&format!("events/{event}.json"), &v);
    v
}

/// Validates every line of a tool's stdout; returns the events.
pub fn validate_stdout(stdout: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(stdout).expect("stdout is UTF-8");
    text.lines().map(validate_event_line).collect()
}

/// Validates a `verify.json` file.
pub fn validate_verify_record(path: &std::path::Path) -> Value {
    let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    check("verify.json", &v);
    v
}

/// Validates a `manifest.json` file.
pub fn validate_manifest(path: &std::path::Path) -> Value {
    let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    check("manifest.json", &v);
    v
}
