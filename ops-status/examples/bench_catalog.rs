//! Writes a catalog for `scripts/bench`: DBS databases × SETS sets each, one a day, every
//! set with a real manifest (as pgdump-run writes it), a verify.json, an offsite.json; a
//! drill history, and a state directory with a port audit and a run history.
//!
//!     cargo run --release --example bench_catalog -- CATALOG STATE DBS SETS

use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, root, state, dbs, sets] = &args[..] else {
        eprintln!("usage: bench_catalog CATALOG STATE DBS SETS");
        std::process::exit(2);
    };
    let (root, state) = (Path::new(root), Path::new(state));
    let (dbs, sets): (usize, usize) = (dbs.parse().unwrap(), sets.parse().unwrap());
    std::fs::create_dir_all(state).unwrap();
    let now = jiff::Timestamp::now();
    let mut drills = String::new();
    for d in 0..dbs {
        let db = format!("db{d:03}");
        for s in 0..sets {
            let at = now - jiff::SignedDuration::from_hours(24 * s as i64 + 1);
            let id = at.strftime("%Y%m%dT%H%M%SZ").to_string();
            let path = testkit::fake::write_set(root, Some(&db), &id);
            let record = serde_json::json!({"v": 1, "id": id, "database": db,
                "verified_at": at.to_string(), "verdict": if s % 13 == 5 { "fail" } else { "pass" },
                "checks": [], "tool": {"name": "backup-verify", "version": "0"}, "correlation_id": "bench"});
            std::fs::write(path.join("verify.json"), record.to_string()).unwrap();
            if s % 2 == 0 {
                ops_catalog::catalog::record_offsite(&path, "s3://bench/pgops", "seal").unwrap();
            }
        }
        drills.push_str(&testkit::fake::drill_line(
            &db,
            &now.to_string(),
            60_000 + d as u64,
            3600,
            true,
        ));
    }
    std::fs::write(root.join("_drills.jsonl"), drills).unwrap();
    std::fs::write(
        state.join("audit.json"),
        serde_json::json!({"finished_at": now.to_string(), "violations": 0, "complete": true,
            "violating_ports": []})
        .to_string(),
    )
    .unwrap();
    // A year of runs: 7 tools, a few runs a day each.
    let mut runs = String::new();
    for i in 0..(365 * 20) {
        let tool = [
            "pgdump-run",
            "backup-verify",
            "backup-copy",
            "backup-rotate",
            "restore-drill",
            "port-audit",
            "backup-verify",
        ][i % 7];
        let result = if i % 97 == 0 { "error" } else { "ok" };
        runs.push_str(&format!(
            "{{\"v\":1,\"ts\":\"2026-01-01T00:00:00.000Z\",\"event\":\"run.finished\",\"source\":\"{tool}\",\"result\":\"{result}\",\"exit_code\":0}}\n"
        ));
    }
    std::fs::write(state.join("runs.jsonl"), runs).unwrap();
}
