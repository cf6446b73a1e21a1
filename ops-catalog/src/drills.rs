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
    /// The set's size as dumped (raw bytes of its files): what the RTO forecast fits the
    /// restore time against. Absent in drills recorded before it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
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

/// Whether a database's drill is due: it never passed one, or its last passing drill
/// finished more than `window` ago. The one rule for `restore-drill --all --due` and for
/// health's "drilled too long ago".
pub fn is_due(
    last_passed: Option<jiff::Timestamp>,
    now: jiff::Timestamp,
    window: jiff::SignedDuration,
) -> bool {
    last_passed.is_none_or(|at| now.duration_since(at) > window)
}

/// One drill as the forecast reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measured {
    /// The set's size as dumped.
    pub bytes: u64,
    pub rto_ms: u64,
}

/// Where a database's RTO is heading: the restore time fitted against the set's size
/// over its drills, and the size against time over its sets, carried to a horizon.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Forecast {
    /// The RTO the fit gives for the size the database will have at the horizon.
    pub rto_ms_at_horizon: u64,
    /// The size then.
    pub bytes_at_horizon: u64,
    /// When the projected RTO reaches the target, if it does before the horizon (or has
    /// already: the time of the fit).
    pub crosses_target_at: Option<jiff::Timestamp>,
}

/// Least squares `y = a + b·x`; `None` with fewer than two distinct `x`.
fn fit(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x, sy + y));
    let (mx, my) = (sx / n, sy / n);
    let (sxx, sxy) = points.iter().fold((0.0, 0.0), |(sxx, sxy), (x, y)| {
        (sxx + (x - mx) * (x - mx), sxy + (x - mx) * (y - my))
    });
    if sxx <= f64::EPSILON {
        return None;
    }
    let b = sxy / sxx;
    Some((my - b * mx, b))
}

/// The forecast from a database's passing drills (`drills`: size and restore time) and its
/// sets (`sizes`: when each was taken and its size), `horizon` ahead of `now`, against
/// `target_ms`. The restore time is fitted linearly against size (with drills of one size
/// only, as proportional to it); the size linearly against time. `None` when there is not
/// enough to say: no drill with a size, or fewer than two sets.
pub fn forecast(
    drills: &[Measured],
    sizes: &[(jiff::Timestamp, u64)],
    now: jiff::Timestamp,
    horizon: jiff::SignedDuration,
    target_ms: u64,
) -> Option<Forecast> {
    let drills: Vec<(f64, f64)> = drills
        .iter()
        .filter(|d| d.bytes > 0)
        .map(|d| (d.bytes as f64, d.rto_ms as f64))
        .collect();
    let (a, b) = fit(&drills).filter(|(_, b)| *b > 0.0).or_else(|| {
        // One size only: the restore time in proportion to it.
        let (bytes, ms) = drills
            .iter()
            .fold((0.0, 0.0), |(sb, sm), (b, m)| (sb + b, sm + m));
        (bytes > 0.0).then(|| (0.0, ms / bytes))
    })?;
    let t0 = now.as_second() as f64;
    let sizes: Vec<(f64, f64)> = sizes
        .iter()
        .map(|(t, b)| (t.as_second() as f64 - t0, *b as f64))
        .collect();
    let (c, d) = fit(&sizes)?;
    let rto_at = |secs: f64| a + b * (c + d * secs).max(0.0);
    let h = horizon.as_secs_f64();
    let target = target_ms as f64;
    let crosses = if rto_at(0.0) >= target {
        Some(now)
    } else if rto_at(h) >= target && d > 0.0 {
        // a + b·(c + d·t) = target
        let secs = ((target - a) / b - c) / d;
        jiff::Timestamp::from_second(t0 as i64 + secs.ceil() as i64).ok()
    } else {
        None
    };
    Some(Forecast {
        rto_ms_at_horizon: rto_at(h).max(0.0) as u64,
        bytes_at_horizon: (c + d * h).max(0.0) as u64,
        crosses_target_at: crosses,
    })
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

    fn at(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_drill_is_due_when_none_passed_within_the_window() {
        let now = at("2026-12-01T00:00:00Z");
        let month = jiff::SignedDuration::from_hours(30 * 24);
        assert!(is_due(None, now, month), "never drilled");
        assert!(!is_due(Some(at("2026-11-15T00:00:00Z")), now, month));
        assert!(is_due(Some(at("2026-10-01T00:00:00Z")), now, month));
    }

    /// A database that grows 1 GB a month, whose restore takes a minute per GB plus half a
    /// minute: at 40 GB today it restores in 40.5 minutes; a 60-minute target is crossed
    /// in about 19.5 months, so a two-year horizon sees it and a one-year one does not.
    #[test]
    fn the_forecast_fires_on_a_growing_history_before_the_target_is_missed() {
        const GB: u64 = 1 << 30;
        let now = at("2026-12-01T00:00:00Z");
        let month = 30 * 24 * 3600;
        let sizes: Vec<(jiff::Timestamp, u64)> = (0..12)
            .map(|i| {
                (
                    jiff::Timestamp::from_second(now.as_second() - (11 - i) * month).unwrap(),
                    (29 + i as u64) * GB,
                )
            })
            .collect();
        let drills: Vec<Measured> = [30u64, 34, 37, 40]
            .iter()
            .map(|g| Measured {
                bytes: g * GB,
                rto_ms: 30_000 + g * 60_000,
            })
            .collect();
        let target = 60 * 60_000;
        let two_years = jiff::SignedDuration::from_secs(24 * month);
        let f = forecast(&drills, &sizes, now, two_years, target).unwrap();
        assert!(f.rto_ms_at_horizon > target, "{f:?}");
        let crosses = f.crosses_target_at.expect("crosses within two years");
        let months = (crosses.as_second() - now.as_second()) as f64 / month as f64;
        assert!((19.0..20.5).contains(&months), "{months} months");
        let one_year = jiff::SignedDuration::from_secs(12 * month);
        let f = forecast(&drills, &sizes, now, one_year, target).unwrap();
        assert_eq!(f.crosses_target_at, None, "{f:?}");
        assert!(f.rto_ms_at_horizon < target);
        // Already over: it crosses now. Not enough to say: none.
        let f = forecast(&drills, &sizes, now, one_year, 30 * 60_000).unwrap();
        assert_eq!(f.crosses_target_at, Some(now));
        assert!(forecast(&drills, &sizes[..1], now, one_year, target).is_none());
        assert!(forecast(&[], &sizes, now, one_year, target).is_none());
        // One drill: restore time in proportion to size.
        let f = forecast(&drills[3..], &sizes, now, two_years, target).unwrap();
        assert!(f.crosses_target_at.is_some());
    }
}
