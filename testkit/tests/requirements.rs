//! `docs/requirements.md` cannot drift, and a gap blocks (#14, #28): every platform id is
//! there; every row in scope names a validation criterion and tests that exist (a `#[test]`
//! of that name in that file, not ignored); nothing in scope is a gap; every row out of
//! scope says why. That each named test also *passed* is checked after the whole suite
//! (it needs the results of every other test binary): scripts/test runs the ignored
//! `every_test_named_in_scope_passed_in_this_run` last.

use std::collections::BTreeSet;

/// The platform's requirement ids pgops serves (its FR, NFR, endpoint and story ids).
const PLATFORM_IDS: [&str; 20] = [
    "FR15", "FR16", "FR21", "FR22", "FR23", "FR24", "FR25", "FR26", "FR27", "NFR-1", "NFR-7",
    "NFR-8", "NFR-12", "ES-1", "ES-2", "ES-3", "ES-4", "S1.3", "S5.1", "S5.2",
];

struct Row<'a> {
    id: &'a str,
    tests: Vec<&'a str>,
    criterion: &'a str,
    status: &'a str,
}

/// The rows of every table of the page (a header or separator row is not one).
fn rows(doc: &str) -> Vec<Row<'_>> {
    doc.lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| id ") && !l.starts_with("|---"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
            assert_eq!(cells.len(), 7, "a row has 7 cells: {l}");
            Row {
                id: cells[0],
                tests: cells[3]
                    .split("<br>")
                    .map(|t| t.trim().trim_matches('`'))
                    .filter(|t| !t.is_empty() && *t != "—")
                    .collect(),
                criterion: cells[4],
                status: cells[6],
            }
        })
        .collect()
}

/// Whether `file` holds a test function `name` that runs: `#[test]` among the attributes
/// right above it and no `#[ignore]`, or a proptest block.
fn runs_test(file: &str, name: &str) -> bool {
    let lines: Vec<&str> = file.lines().collect();
    lines.iter().enumerate().any(|(i, l)| {
        if !l.trim_start().starts_with(&format!("fn {name}(")) {
            return false;
        }
        let attributes: Vec<&str> = lines[..i]
            .iter()
            .rev()
            .map(|p| p.trim_start())
            .take_while(|p| p.starts_with("#[") || p.starts_with("//"))
            .collect();
        attributes.iter().any(|p| p.starts_with("#[test]"))
            && !attributes.iter().any(|p| p.starts_with("#[ignore"))
    }) || (file.contains("proptest!") && file.contains(&format!("fn {name}(")))
}

/// What is wrong with the page, one line per fault (empty: nothing).
fn faults(doc: &str, root: &std::path::Path) -> Vec<String> {
    let rows = rows(doc);
    let mut out = Vec::new();
    let mut ids = BTreeSet::new();
    for row in &rows {
        let id = row.id;
        if !ids.insert(id) {
            out.push(format!("{id}: listed twice"));
        }
        if let Some(reason) = row.status.strip_prefix("out of scope:") {
            if reason.trim().is_empty() {
                out.push(format!("{id}: out of scope without a reason"));
            }
            continue;
        }
        if row.status != "proven" {
            out.push(format!(
                "{id}: in scope and not proven ({}): a gap blocks the release",
                row.status
            ));
        }
        if row.criterion.is_empty() || row.criterion == "—" {
            out.push(format!("{id}: no validation criterion"));
        }
        if row.tests.is_empty() {
            out.push(format!("{id}: no test"));
        }
        for t in &row.tests {
            let Some((path, name)) = t.split_once("::") else {
                out.push(format!("{id}: {t} is not file::function"));
                continue;
            };
            match std::fs::read_to_string(root.join(path)) {
                Ok(file) if runs_test(&file, name) => {}
                _ => out.push(format!("{id}: {t} is not a test that runs")),
            }
        }
    }
    for id in PLATFORM_IDS {
        if !ids.contains(id) {
            out.push(format!(
                "{id}: the platform's requirement is not on the page"
            ));
        }
    }
    out
}

#[test]
fn every_requirement_in_scope_names_a_criterion_and_tests_that_run() {
    let root = testkit::workspace_root();
    let doc = std::fs::read_to_string(root.join("docs/requirements.md")).unwrap();
    assert!(rows(&doc).len() >= PLATFORM_IDS.len());
    let faults = faults(&doc, &root);
    assert!(faults.is_empty(), "docs/requirements.md: {faults:#?}");
}

/// The rule itself, on pages made to break it: a gap, a missing criterion, an ignored or
/// missing test, a platform id left out, an out-of-scope row without its reason.
#[test]
fn a_gap_a_missing_criterion_or_an_ignored_test_blocks() {
    let root = testkit::workspace_root();
    let doc = std::fs::read_to_string(root.join("docs/requirements.md")).unwrap();
    let fr21 = doc.lines().find(|l| l.starts_with("| FR21 |")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("x/tests")).unwrap();
    std::fs::write(
        dir.path().join("x/tests/t.rs"),
        "#[test]\n#[ignore]\nfn ignored() {}\n#[test]\nfn runs() {}\n",
    )
    .unwrap();
    let cases = [
        (fr21.replace("| proven |", "| gap: later |"), "a gap blocks"),
        (
            fr21.replace(
                "every database backed up on PostgreSQL 15–18 and read back whole; the timer and the CronJob fire daily at the same instant",
                "—",
            ),
            "no validation criterion",
        ),
        (
            fr21.replacen("::tricky_schema", "::no_such_test", 1),
            "is not a test that runs",
        ),
        (
            String::new(),
            "FR21: the platform's requirement is not on the page",
        ),
    ];
    for (changed, fault) in cases {
        let found = faults(&doc.replace(fr21, &changed), &root);
        assert!(
            found.iter().any(|f| f.contains(fault)),
            "{fault:?} not found in {found:#?}"
        );
    }
    // An ignored test proves nothing; one beside it that runs does.
    let named = fr21.replacen(
        "`pgdump-run/tests",
        "`x/tests/t.rs::ignored`<br>`x/tests/t.rs::runs`<br>`pgdump-run/tests",
        1,
    );
    let found = faults(&doc.replace(fr21, &named), dir.path());
    assert!(found.contains(&"FR21: x/tests/t.rs::ignored is not a test that runs".to_string()));
    assert!(
        !found.iter().any(|f| f.contains("t.rs::runs")),
        "{found:#?}"
    );
    let pitr = doc.lines().find(|l| l.starts_with("| PITR |")).unwrap();
    let reasonless =
        pitr.rsplit_once("| out of scope:").unwrap().0.to_string() + "| out of scope: |";
    let found = faults(&doc.replace(pitr, &reasonless), &root);
    assert!(
        found
            .iter()
            .any(|f| f.contains("PITR: out of scope without a reason")),
        "{found:#?}"
    );
}

/// Whether `test` (`CRATE/tests/FILE.rs::NAME` or `CRATE/src/….rs::NAME`) is among `passed`
/// (`JOB<TAB>TEST` lines of scripts/test-lanes): the job `CRATE/FILE` (or `CRATE/FILE@MAJOR`,
/// the pipeline per major), or `CRATE/lib`/`CRATE/bin` for unit tests, which libtest names
/// by their module path ending in `::NAME`.
fn passed_in(passed: &str, test: &str) -> bool {
    let Some((path, name)) = test.split_once("::") else {
        return false;
    };
    let (krate, rest) = path.split_once('/').unwrap_or((path, ""));
    let jobs: Vec<String> = match rest
        .strip_prefix("tests/")
        .and_then(|f| f.strip_suffix(".rs"))
    {
        Some(file) => vec![format!("{krate}/{file}")],
        None => vec![format!("{krate}/lib"), format!("{krate}/bin")],
    };
    passed.lines().any(|l| {
        let (job, t) = l.split_once('\t').unwrap_or((l, ""));
        let job = job.split('@').next().unwrap_or(job);
        jobs.iter().any(|j| j == job) && (t == name || t.ends_with(&format!("::{name}")))
    })
}

/// The platform's rule after the whole suite: a requirement in scope whose tests did not all
/// pass in this run blocks the release. scripts/test runs it last (`--ignored`), over the
/// results scripts/test-lanes kept (`PGOPS_TESTS_PASSED`, default `target/tests-passed.tsv`).
#[test]
#[ignore = "needs the results of the whole suite: scripts/test runs it after the lanes"]
fn every_test_named_in_scope_passed_in_this_run() {
    let root = testkit::workspace_root();
    let file = std::env::var_os("PGOPS_TESTS_PASSED")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target/tests-passed.tsv"));
    let passed = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/test)", file.display()));
    let doc = std::fs::read_to_string(root.join("docs/requirements.md")).unwrap();
    let in_scope: Vec<Row> = rows(&doc)
        .into_iter()
        .filter(|r| !r.status.starts_with("out of scope:"))
        .collect();
    let failed: Vec<String> = in_scope
        .iter()
        .flat_map(|r| r.tests.iter().map(move |t| (r.id, t)))
        .filter(|(_, t)| !passed_in(&passed, t))
        .map(|(id, t)| format!("{id}: {t} did not pass in this run"))
        .collect();
    assert!(
        failed.is_empty(),
        "a requirement in scope without a passing test blocks the release: {failed:#?}"
    );
    eprintln!(
        "requirements: every test of the {} requirements in scope passed",
        in_scope.len()
    );
}

#[test]
fn a_test_counts_only_where_it_passed() {
    let passed = "pgdump-run/backup\ttricky\nrestore-drill/pipeline@16\tthe_pipeline\nops-core/lib\tevent::tests::finish\n";
    assert!(passed_in(passed, "pgdump-run/tests/backup.rs::tricky"));
    assert!(passed_in(
        passed,
        "restore-drill/tests/pipeline.rs::the_pipeline"
    ));
    assert!(passed_in(passed, "ops-core/src/event.rs::finish"));
    assert!(
        !passed_in(passed, "pgdump-run/tests/faults.rs::tricky"),
        "another file"
    );
    assert!(!passed_in(passed, "ops-core/src/event.rs::finish_more"));
    assert!(!passed_in("", "pgdump-run/tests/backup.rs::tricky"));
}
