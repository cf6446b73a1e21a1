//! Schemas kept compatible across minor versions (the platform's NFR-12, #28), for the HTTP
//! documents and every file pgops writes as well as the events: `docs/schemas/compat/<release>/`
//! keeps what an earlier release wrote (`examples/`, real documents captured from its test
//! suite) and the schemas it published (`schemas/`). Today's schemas must read every one of
//! those documents (a newer reader reads an older writer), and must keep every field an
//! older reader relies on: still there, still required where it was, the same type (an
//! older reader reads a newer writer).

use serde_json::Value;
use std::path::{Path, PathBuf};

fn compat_dir() -> PathBuf {
    testkit::workspace_root().join("docs/schemas/compat")
}

fn releases() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(compat_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    assert!(
        !out.is_empty(),
        "no earlier release under docs/schemas/compat"
    );
    out
}

/// Every `.json` file under `dir`, by its path relative to `dir`.
fn json_files(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = testkit::walk(dir)
        .into_iter()
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
        .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
        .collect();
    out.sort();
    out
}

fn read(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The document kinds pgops writes besides events: every file and HTTP body.
fn is_document(rel: &str) -> bool {
    rel.starts_with("files/") || rel.starts_with("http/") || !rel.contains('/')
}

#[test]
fn every_document_of_the_previous_release_still_reads() {
    for release in releases() {
        let examples = release.join("examples");
        let found = json_files(&examples);
        // Every file and body that release described has its example: none left unchecked.
        let described: Vec<String> = json_files(&release.join("schemas"))
            .into_iter()
            .filter(|rel| is_document(rel) && rel != "envelope.json")
            .collect();
        for rel in &described {
            assert!(
                found.contains(rel),
                "{}: no example of {rel}",
                release.display()
            );
        }
        for rel in &found {
            let doc = read(&examples.join(rel));
            if rel.starts_with("events/") {
                testkit::schema::check("envelope.json", &doc);
            }
            testkit::schema::check(rel, &doc);
        }
        assert!(found.len() >= described.len() + 20, "{found:?}");
    }
}

/// What an older reader of `old` relies on that `new` no longer promises, at `at`.
fn dropped(old: &Value, new: &Value, at: &str, out: &mut Vec<String>) {
    for key in ["type", "const"] {
        if let (Some(a), Some(b)) = (old.get(key), new.get(key)) {
            if a != b {
                out.push(format!("{at}: {key} {a} became {b}"));
            }
        }
    }
    if let Some(required) = old.get("required").and_then(Value::as_array) {
        let now = new.get("required").and_then(Value::as_array);
        for r in required {
            if !now.is_some_and(|n| n.contains(r)) {
                out.push(format!("{at}: {r} is no longer required"));
            }
        }
    }
    if let Some(props) = old.get("properties").and_then(Value::as_object) {
        for (name, schema) in props {
            match new.get("properties").and_then(|p| p.get(name)) {
                Some(now) => dropped(schema, now, &format!("{at}.{name}"), out),
                None => out.push(format!("{at}.{name} was removed")),
            }
        }
    }
    for key in ["items", "additionalProperties"] {
        if let (Some(a), Some(b)) = (old.get(key), new.get(key)) {
            if a.is_object() && b.is_object() {
                dropped(a, b, &format!("{at}[{key}]"), out);
            }
        }
    }
    if let Some(defs) = old.get("$defs").and_then(Value::as_object) {
        for (name, schema) in defs {
            match new.get("$defs").and_then(|d| d.get(name)) {
                Some(now) => dropped(schema, now, &format!("{at}$defs.{name}"), out),
                None => out.push(format!("{at}$defs.{name} was removed")),
            }
        }
    }
}

#[test]
fn no_schema_drops_or_retypes_what_the_previous_release_wrote() {
    let current = testkit::workspace_root().join("docs/schemas");
    let mut faults = Vec::new();
    for release in releases() {
        let schemas = release.join("schemas");
        for rel in json_files(&schemas) {
            let now = current.join(&rel);
            if !now.is_file() {
                faults.push(format!("{rel}: removed"));
                continue;
            }
            dropped(&read(&schemas.join(&rel)), &read(&now), &rel, &mut faults);
        }
    }
    assert!(faults.is_empty(), "{faults:#?}");

    // The rule itself, on schemas made to break it.
    let old = serde_json::json!({"type": "object", "required": ["id", "at"],
        "properties": {"id": {"type": "string"}, "at": {"type": "string"},
                       "n": {"type": "integer"}}});
    let cases = [
        (
            serde_json::json!({"type": "object", "required": ["id", "at", "new"],
            "properties": {"id": {"type": "string"}, "at": {"type": "string"},
                           "n": {"type": "integer"}, "new": {"type": "string"}}}),
            0,
        ),
        (
            serde_json::json!({"type": "object", "required": ["id"],
            "properties": {"id": {"type": "string"}, "at": {"type": "string"},
                           "n": {"type": "integer"}}}),
            1,
        ),
        (
            serde_json::json!({"type": "object", "required": ["id", "at"],
            "properties": {"id": {"type": "string"}, "at": {"type": "string"}}}),
            1,
        ),
        (
            serde_json::json!({"type": "object", "required": ["id", "at"],
            "properties": {"id": {"type": "integer"}, "at": {"type": "string"},
                           "n": {"type": "integer"}}}),
            1,
        ),
    ];
    for (new, n) in cases {
        let mut out = Vec::new();
        dropped(&old, &new, "x", &mut out);
        assert_eq!(out.len(), n, "{new}: {out:?}");
    }
}
