//! backup-rotate on real catalogs: what it deletes, what it never touches, crashes, locks.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use testkit::ToolRun;

/// A set directory as pgdump-run leaves it: a valid manifest and the archive it lists.
fn make_set(root: &Path, db_dir: &str, id: &str) -> PathBuf {
    let database = (db_dir != "_globals").then_some(db_dir);
    testkit::fake::write_set(root, database, id)
}

fn mark_failed(set: &Path) {
    let id = set.file_name().unwrap().to_str().unwrap();
    let rec = serde_json::json!({"v": 1, "id": id, "database": "app", "verified_at": "2026-11-24T00:00:00.000Z",
        "verdict": "fail", "checks": [], "tool": {"name": "backup-verify", "version": "0"}, "correlation_id": "x"});
    std::fs::write(set.join("verify.json"), rec.to_string()).unwrap();
}

fn rotate_cmd(root: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_backup-rotate"));
    cmd.env_remove("PGOPS_BACKUP_DIR")
        .env_remove("PGOPS_FAILPOINT")
        .arg("--backup-dir")
        .arg(root)
        .args(["--timezone", "UTC"])
        .args(args)
        .stdin(Stdio::null());
    cmd
}

fn rotate(root: &Path, args: &[&str]) -> ToolRun {
    ToolRun::check(rotate_cmd(root, args).output().unwrap())
}

fn ids(root: &Path, db_dir: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root.join(db_dir))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

const DAYS: [&str; 5] = [
    "20261120T030000Z",
    "20261121T030000Z",
    "20261122T030000Z",
    "20261123T030000Z",
    "20261124T030000Z",
];

#[test]
fn no_keep_rule_is_a_usage_error_and_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for d in DAYS {
        make_set(dir.path(), "app", d);
    }
    let r = rotate(dir.path(), &[]);
    assert_eq!(r.code, 2);
    assert_eq!(r.error_code("run.failed"), "no_keep_rule");
    assert_eq!(ids(dir.path(), "app").len(), 5);
}

#[test]
fn keep_last_deletes_the_rest_and_dry_run_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for d in DAYS {
        make_set(dir.path(), "app", d);
        make_set(dir.path(), "_globals", d);
    }
    let dry = rotate(dir.path(), &["--keep-last", "2", "--dry-run"]);
    assert_eq!(dry.code, 0);
    // A dry run never says it deleted: it plans, with why.
    assert!(dry.named("rotate.deleted").is_empty());
    assert_eq!(dry.named("rotate.planned").len(), 6);
    assert!(dry
        .named("rotate.planned")
        .iter()
        .all(|e| e["dry_run"] == true && e["reasons"][0].as_str().unwrap().contains("last 2")));
    assert_eq!(ids(dir.path(), "app").len(), 5, "dry run deletes nothing");

    let r = rotate(dir.path(), &["--keep-last", "2"]);
    assert_eq!(r.code, 0);
    let plan = |run: &ToolRun| -> Vec<(String, String, String)> {
        run.events
            .iter()
            .filter(|e| {
                e["event"] == "rotate.kept"
                    || e["event"] == "rotate.deleted"
                    || e["event"] == "rotate.planned"
            })
            .map(|e| {
                (
                    e["event"].to_string().replace("planned", "deleted"),
                    e["database"].to_string(),
                    e["id"].to_string(),
                )
            })
            .collect()
    };
    assert_eq!(plan(&dry), plan(&r), "the dry run printed exactly the plan");
    assert!(r
        .named("rotate.deleted")
        .iter()
        .all(|e| e["reasons"][0].is_string()));
    assert_eq!(
        ids(dir.path(), "app"),
        ["20261123T030000Z", "20261124T030000Z"]
    );
    assert_eq!(
        ids(dir.path(), "_globals"),
        ["20261123T030000Z", "20261124T030000Z"],
        "globals rotate on their own"
    );
    let kept = r.named("rotate.kept");
    assert_eq!(kept[0]["reasons"], serde_json::json!(["last", "min-keep"]));
    assert_eq!(r.finished()["sets_deleted"], 6);
}

#[test]
fn failed_sets_never_evict_good_ones() {
    let dir = tempfile::tempdir().unwrap();
    let sets: Vec<PathBuf> = DAYS
        .iter()
        .map(|d| make_set(dir.path(), "app", d))
        .collect();
    // The three newest backups are broken: a daily rule of 2 must keep the two newest good.
    for s in &sets[2..] {
        mark_failed(s);
    }
    let r = rotate(dir.path(), &["--keep-daily", "2"]);
    assert_eq!(r.code, 0);
    assert_eq!(
        ids(dir.path(), "app"),
        ["20261120T030000Z", "20261121T030000Z"]
    );

    let dir = tempfile::tempdir().unwrap();
    for d in DAYS {
        mark_failed(&make_set(dir.path(), "app", d));
    }
    let r = rotate(dir.path(), &["--keep-last", "1"]);
    assert_eq!(r.code, 0);
    assert_eq!(
        ids(dir.path(), "app").len(),
        5,
        "no good set: nothing is deleted"
    );
    let warn = r.named("rotate.skipped");
    assert!(warn.iter().any(|w| w["severity"] == "warning"
        && w["reason"].as_str().unwrap().contains("nothing is deleted")));
}

#[test]
fn min_keep_and_pins_hold() {
    let dir = tempfile::tempdir().unwrap();
    for d in DAYS {
        make_set(dir.path(), "app", d);
    }
    let r = rotate(dir.path(), &["-d", "app", "--pin", "20261120T030000Z"]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    assert_eq!(r.named("rotate.pinned").len(), 1);
    assert!(dir.path().join("app/20261120T030000Z/KEEP").is_file());
    // keep-within 1h of the newest keeps only the newest; min-keep 3 keeps two more.
    let r = rotate(dir.path(), &["--keep-within", "1h", "--min-keep", "3"]);
    assert_eq!(r.code, 0);
    assert_eq!(
        ids(dir.path(), "app"),
        [
            "20261120T030000Z",
            "20261122T030000Z",
            "20261123T030000Z",
            "20261124T030000Z"
        ]
    );
    let pinned = r
        .named("rotate.kept")
        .into_iter()
        .find(|e| e["id"] == "20261120T030000Z")
        .unwrap();
    assert_eq!(pinned["reasons"], serde_json::json!(["pinned"]));
    let r = rotate(dir.path(), &["--unpin", "20261120T030000Z"]);
    assert_eq!(r.named("rotate.unpinned").len(), 1);
    let r = rotate(dir.path(), &["--keep-within", "1h", "--min-keep", "3"]);
    assert_eq!(r.finished()["sets_deleted"], 1);
    let r = rotate(dir.path(), &["--pin", "20200101T000000Z"]);
    assert_eq!(r.code, 2);
    assert_eq!(r.error_code("run.failed"), "set_not_found");
}

#[test]
fn unknown_entries_and_partials_are_reported_and_never_touched() {
    let dir = tempfile::tempdir().unwrap();
    for d in DAYS {
        make_set(dir.path(), "app", d);
    }
    let stray_top = dir.path().join("README.txt");
    std::fs::write(&stray_top, b"notes").unwrap();
    let stray_in_db = dir.path().join("app/old-manual-dump.sql");
    std::fs::write(&stray_in_db, b"select 1").unwrap();
    let no_manifest = dir.path().join("app/20261101T000000Z");
    std::fs::create_dir(&no_manifest).unwrap();
    let young = dir.path().join(format!(
        "app/.partial-{}",
        ops_core::timefmt::set_id(jiff::Timestamp::now())
    ));
    let old = dir.path().join("app/.partial-20261001T000000Z");
    std::fs::create_dir(&young).unwrap();
    std::fs::create_dir(&old).unwrap();
    let r = rotate(dir.path(), &["--keep-last", "1"]);
    assert_eq!(r.code, 0);
    for p in [&stray_top, &stray_in_db, &no_manifest, &young, &old] {
        assert!(p.exists(), "{} was touched", p.display());
    }
    let skipped: Vec<&Value> = r.named("rotate.skipped");
    assert_eq!(skipped.len(), 5, "{skipped:#?}");
    let reason = |p: &Path| {
        skipped
            .iter()
            .find(|s| s["path"] == p.to_str().unwrap())
            .unwrap()["reason"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(reason(&young).contains("left to its writer"));
    assert!(reason(&old).contains("never finished"));
    assert_eq!(
        ids(dir.path(), "app")
            .iter()
            .filter(|n| n.starts_with("2026112"))
            .count(),
        1
    );
}

#[test]
fn kill_9_between_rename_and_removal_is_finished_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    for d in DAYS {
        make_set(dir.path(), "app", d);
    }
    let out = rotate_cmd(dir.path(), &["--keep-last", "1"])
        .env("PGOPS_FAILPOINT", "delete_set.after_rename")
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(9),
        "the process died by SIGKILL at the failpoint"
    );
    let names = ids(dir.path(), "app");
    // The plan runs newest first: the first deletion is of the second-newest set.
    assert_eq!(
        names,
        [
            ".deleting-20261123T030000Z",
            "20261120T030000Z",
            "20261121T030000Z",
            "20261122T030000Z",
            "20261124T030000Z"
        ]
    );
    // No tool sees the half-deleted set as a set.
    let sets = ops_catalog::catalog::Catalog::sets_in(&dir.path().join("app")).unwrap();
    assert_eq!(sets.len(), 4);

    let r = rotate(dir.path(), &["--keep-last", "1"]);
    assert_eq!(r.code, 0);
    let resumed: Vec<&Value> = r
        .named("rotate.deleted")
        .into_iter()
        .filter(|e| e["resumed"] == true)
        .collect();
    assert_eq!(resumed.len(), 1);
    assert_eq!(ids(dir.path(), "app"), ["20261124T030000Z"]);
}

#[test]
fn a_reader_holding_the_lock_makes_rotation_wait_then_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    for d in DAYS {
        make_set(dir.path(), "app", d);
    }
    let _reader = ops_catalog::lock::CatalogLock::acquire(
        dir.path(),
        ops_catalog::lock::LockMode::Shared,
        std::time::Duration::ZERO,
    )
    .unwrap();
    let started = std::time::Instant::now();
    let r = rotate(dir.path(), &["--keep-last", "1", "--lock-timeout", "400ms"]);
    assert!(started.elapsed() >= std::time::Duration::from_millis(400));
    assert_eq!(r.code, 3);
    assert_eq!(r.error_code("run.failed"), "lock_busy");
    assert_eq!(ids(dir.path(), "app").len(), 5);
}

#[test]
fn invalid_timezones_and_flags_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_backup-rotate"))
        .arg("--backup-dir")
        .arg(dir.path())
        .args(["--keep-last", "1", "--timezone", "Mars/Olympus"])
        .output()
        .unwrap();
    let r = ToolRun::check(out);
    assert_eq!(r.code, 2);
    assert_eq!(r.error_code("run.failed"), "invalid_timezone");
    let r = rotate(dir.path(), &["--keep-last", "many"]);
    assert_eq!(r.code, 2);
    assert_eq!(r.error_code("run.failed"), "invalid_argument");
}

/// A set of `small` copied by hand into `big/` under a newer id, its manifest id patched to
/// match: it must not count as a set of `big`, and the real `big` set must survive.
#[test]
fn a_set_copied_into_another_database_is_not_its_set() {
    let dir = tempfile::tempdir().unwrap();
    let real = make_set(dir.path(), "big", DAYS[0]);
    let small = make_set(dir.path(), "small", DAYS[1]);
    let forged = dir.path().join("big").join(DAYS[4]);
    testkit::fake::copy_set_as(&small, &forged);

    let r = rotate(dir.path(), &["-d", "big", "--keep-last", "1"]);
    assert_eq!(r.code, 0);
    assert!(real.exists(), "the only real set of big was deleted");
    assert!(
        forged.exists(),
        "a set rotation did not make is never deleted"
    );
    let skipped = r.named("rotate.skipped");
    assert!(
        skipped
            .iter()
            .any(|e| e["code"] == "set_misplaced" && e["id"] == DAYS[4]),
        "{skipped:?}"
    );
    assert!(r.named("rotate.kept").iter().any(|e| e["id"] == DAYS[0]));
}

/// A newer set directory whose manifest is garbage fills no period: `--keep-last 1` keeps
/// the newest good set and deletes only older good ones.
#[test]
fn a_garbage_manifest_anchors_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for d in &DAYS[..4] {
        make_set(dir.path(), "app", d);
    }
    let garbage = make_set(dir.path(), "app", DAYS[4]);
    std::fs::write(garbage.join("manifest.json"), b"{ not json").unwrap();
    let r = rotate(dir.path(), &["--keep-last", "1", "--dry-run"]);
    assert_eq!(r.code, 0);
    let kept: Vec<&Value> = r.named("rotate.kept").into_iter().collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["id"], DAYS[3], "the newest good set is kept");
    assert_eq!(r.named("rotate.planned").len(), 3);
    assert!(r
        .named("rotate.skipped")
        .iter()
        .any(|e| e["code"] == "manifest_invalid" && e["id"] == DAYS[4]));
}

/// A set dated 2099 (a clock that once jumped forward) must not anchor --keep-within: the
/// current sets stay.
#[test]
fn a_set_from_the_future_anchors_no_retention() {
    let dir = tempfile::tempdir().unwrap();
    let now = jiff::Timestamp::now();
    let recent: Vec<String> = (1..=3)
        .map(|h| ops_core::timefmt::set_id(now - jiff::SignedDuration::from_hours(h)))
        .collect();
    for id in &recent {
        make_set(dir.path(), "app", id);
    }
    let future = make_set(dir.path(), "app", "20990101T000000Z");
    let r = rotate(dir.path(), &["--keep-within", "1d"]);
    assert_eq!(r.code, 0);
    assert_eq!(r.named("rotate.deleted").len(), 0, "{:?}", r.events);
    for id in &recent {
        assert!(dir.path().join("app").join(id).exists());
    }
    assert!(future.exists(), "a future set is reported, never deleted");
    assert!(r
        .named("rotate.skipped")
        .iter()
        .any(|e| e["code"] == "clock_skew"));
}

/// `--keep-within 0s` with `--min-keep 0` would keep nothing at all: refused.
#[test]
fn keep_within_zero_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for d in DAYS {
        make_set(dir.path(), "app", d);
    }
    let r = rotate(dir.path(), &["--keep-within", "0s", "--min-keep", "0"]);
    assert_eq!(r.code, 2);
    assert_eq!(r.error_code("run.failed"), "invalid_keep_rule");
    assert_eq!(ids(dir.path(), "app").len(), 5);
}

/// A database really named `_globals` and the globals sets are two things.
#[test]
fn a_database_named_globals_is_not_the_globals() {
    let dir = tempfile::tempdir().unwrap();
    for d in DAYS {
        testkit::fake::write_set(dir.path(), Some("_globals"), d);
        testkit::fake::write_set(dir.path(), None, d);
    }
    let r = rotate(dir.path(), &["--keep-last", "2"]);
    assert_eq!(r.code, 0);
    assert_eq!(ids(dir.path(), "%5Fglobals").len(), 2);
    assert_eq!(ids(dir.path(), "_globals").len(), 2);
}

/// Retiring writes only the RETIRED record (nothing with --dry-run), which later runs
/// neither report as a stray nor delete, and retention goes on applying to the sets.
#[test]
fn retire_writes_one_record_and_retention_still_applies() {
    let dir = tempfile::tempdir().unwrap();
    for d in DAYS {
        make_set(dir.path(), "app", d);
    }
    let r = rotate(dir.path(), &["--retire", "app", "--dry-run"]);
    assert_eq!(r.code, 0);
    assert_eq!(r.named("rotate.retired")[0]["dry_run"], true);
    assert_eq!(r.finished()["action"], "retire");
    assert!(!dir.path().join("app/RETIRED").exists(), "dry run");

    let r = rotate(dir.path(), &["--retire", "app"]);
    assert_eq!(r.code, 0);
    let record: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("app/RETIRED")).unwrap()).unwrap();
    assert!(record["reason"].is_null() && record["by"]["uid"].is_u64());
    testkit::schema::check("files/retired.json", &record);

    let r = rotate(dir.path(), &["--keep-last", "2"]);
    assert_eq!(r.code, 0);
    assert_eq!(r.named("rotate.deleted").len(), 3);
    assert!(
        r.named("rotate.skipped").is_empty(),
        "RETIRED is not a stray: {:#?}",
        r.events
    );
    assert_eq!(ids(dir.path(), "app"), [DAYS[3], DAYS[4], "RETIRED"]);

    let r = rotate(dir.path(), &["--retire", "app", "--pin", DAYS[4]]);
    assert_eq!(r.code, 2, "retiring and pinning are separate runs");
    let r = rotate(dir.path(), &["--reason", "x", "--keep-last", "1"]);
    assert_eq!(r.code, 2, "--reason goes with --retire");
    assert_eq!(ids(dir.path(), "app").len(), 3);
    let r = rotate(dir.path(), &["--retire", "_globals"]);
    assert_eq!(r.error_code("run.failed"), "database_not_in_catalog");
}
