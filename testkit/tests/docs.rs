//! The documentation names everything an operator can meet (#14): every error code any
//! event can carry is explained in docs/errors.md, and every exit code in the runbook of
//! alerts.

use std::collections::BTreeSet;

/// Every `error.code` value the event schemas allow.
fn codes(v: &serde_json::Value, inside_error: bool, out: &mut BTreeSet<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                if inside_error && k == "code" {
                    for c in x["enum"].as_array().into_iter().flatten() {
                        out.insert(c.as_str().unwrap().to_string());
                    }
                    if let Some(c) = x["const"].as_str() {
                        out.insert(c.to_string());
                    }
                }
                codes(x, inside_error || k == "error", out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| codes(x, inside_error, out)),
        _ => {}
    }
}

#[test]
fn every_error_code_is_explained_and_every_exit_code_has_its_runbook() {
    let root = testkit::workspace_root();
    let mut all = BTreeSet::new();
    for e in std::fs::read_dir(root.join("docs/schemas/events"))
        .unwrap()
        .flatten()
    {
        let schema: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap();
        codes(&schema, false, &mut all);
    }
    assert!(all.len() > 50, "{all:?}");
    let errors = std::fs::read_to_string(root.join("docs/errors.md")).unwrap();
    let missing: Vec<&String> = all
        .iter()
        .filter(|c| !errors.contains(&format!("`{c}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "error codes not in docs/errors.md: {missing:?}"
    );

    let runbook = std::fs::read_to_string(root.join("docs/runbooks/incident-alerts.md")).unwrap();
    let section = runbook
        .split("## Exit codes")
        .nth(1)
        .expect("an Exit codes section in incident-alerts.md");
    for code in ["`0`", "`1`", "`2`", "`3`"] {
        assert!(section.contains(code), "exit code {code} is not explained");
    }
}
