//! `docs/requirements.md` cannot drift (#14): every test it names exists, as a `#[test]`
//! function of that name in that file; every requirement names a test or says `gap`; and
//! the platform's requirements are all there.

use std::collections::BTreeSet;

/// The requirements the platform sets (issue #14's list), as the table must name them.
const REQUIRED: [&str; 12] = [
    "Scheduled logical backups",
    "Retention",
    "Integrity checks",
    "Presence and freshness checks",
    "A complete restore drill on an empty database",
    "Measured restore time (RTO) and data loss (RPO)",
    "Exposure policy",
    "No secret in clear in repositories or logs",
    "An audit trace of each operation",
    "Stable error codes, with a correlation id",
    "Schemas compatible across minor versions",
    "Health, readiness, backup and restore status endpoints",
];

/// Whether `file` holds a test function `name` (`#[test]` on one of the lines before it,
/// or a proptest block).
fn has_test(file: &str, name: &str) -> bool {
    let lines: Vec<&str> = file.lines().collect();
    lines.iter().enumerate().any(|(i, l)| {
        l.trim_start().starts_with(&format!("fn {name}("))
            && lines[i.saturating_sub(4)..i]
                .iter()
                .any(|p| p.contains("#[test]") || p.contains("proptest!"))
    }) || (file.contains("proptest!") && file.contains(&format!("fn {name}(")))
}

#[test]
fn the_requirements_matrix_names_only_tests_that_exist() {
    let root = testkit::workspace_root();
    let doc = std::fs::read_to_string(root.join("docs/requirements.md")).unwrap();
    let rows: Vec<Vec<&str>> = doc
        .lines()
        .filter(|l| l.starts_with("| R"))
        .map(|l| l.trim_matches('|').split(" | ").map(str::trim).collect())
        .collect();
    assert!(rows.len() >= REQUIRED.len(), "{} rows", rows.len());
    let mut ids = BTreeSet::new();
    let mut missing = Vec::new();
    for row in &rows {
        assert_eq!(row.len(), 5, "{row:?}");
        let (id, requirement, tests, status) = (row[0], row[1], row[3], row[4]);
        assert!(ids.insert(id), "{id} twice");
        let named: Vec<&str> = tests
            .split("<br>")
            .map(|t| t.trim().trim_matches('`'))
            .filter(|t| !t.is_empty() && *t != "—")
            .collect();
        if named.is_empty() {
            assert!(
                status.starts_with("gap"),
                "{id} {requirement}: no test, and not a gap"
            );
            continue;
        }
        assert_eq!(status, "proven", "{id}");
        for t in named {
            let (path, name) = t.split_once("::").unwrap_or_else(|| panic!("{id}: {t}"));
            match std::fs::read_to_string(root.join(path)) {
                Ok(file) if has_test(&file, name) => {}
                _ => missing.push(format!("{id}: {t}")),
            }
        }
    }
    assert!(
        missing.is_empty(),
        "tests named but not found: {missing:#?}"
    );
    for r in REQUIRED {
        assert!(
            rows.iter().any(|row| row[1].starts_with(r)),
            "the requirement {r:?} is not in the table"
        );
    }
}
