//! The drill history's monthly summary, a pure function of the reports (the history file
//! itself is ops-catalog's [`drills`](ops_catalog::drills)).

use serde::Serialize;

pub use ops_catalog::drills::{append, read, Entry};

/// One month of drills.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Month {
    /// `2026-11`
    pub month: String,
    pub drills: usize,
    pub successes: usize,
    pub median_rto_ms: u64,
    pub worst_rto_ms: u64,
    pub worst_rpo_s: i64,
    /// Median RTO against the month before, in percent (+ is slower); `None` for the first.
    pub rto_trend_pct: Option<f64>,
}

/// Groups drills by the UTC month they started in, oldest month first.
pub fn monthly(entries: &[Entry]) -> Vec<Month> {
    let mut by_month: std::collections::BTreeMap<String, Vec<&Entry>> = Default::default();
    for e in entries {
        if e.started_at.len() >= 7 {
            by_month
                .entry(e.started_at[..7].to_string())
                .or_default()
                .push(e);
        }
    }
    let mut out: Vec<Month> = Vec::new();
    for (month, drills) in by_month {
        let mut rtos: Vec<u64> = drills.iter().map(|d| d.rto_ms).collect();
        rtos.sort_unstable();
        let n = rtos.len();
        let median = if n % 2 == 1 {
            rtos[n / 2]
        } else {
            (rtos[n / 2 - 1] + rtos[n / 2]) / 2
        };
        let trend = out.last().map(|prev: &Month| {
            if prev.median_rto_ms == 0 {
                0.0
            } else {
                ((median as f64 - prev.median_rto_ms as f64) / prev.median_rto_ms as f64 * 1000.0)
                    .round()
                    / 10.0
            }
        });
        out.push(Month {
            month,
            drills: n,
            successes: drills.iter().filter(|d| d.completed()).count(),
            median_rto_ms: median,
            worst_rto_ms: *rtos.last().unwrap_or(&0),
            worst_rpo_s: drills.iter().map(|d| d.rpo_s).max().unwrap_or(0),
            rto_trend_pct: trend,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(at: &str, result: &str, rto: u64, rpo: i64) -> Entry {
        Entry {
            started_at: at.into(),
            finished_at: None,
            database: "app".into(),
            id: "20261101T030000Z".into(),
            result: result.into(),
            rto_ms: rto,
            rpo_s: rpo,
            bytes: None,
            rest: Default::default(),
        }
    }

    #[test]
    fn months_medians_worst_and_trend() {
        let entries = vec![
            e("2026-10-01T04:00:00.000Z", "completed", 1000, 3600),
            e("2026-10-15T04:00:00.000Z", "failed", 3000, 7200),
            e("2026-11-01T04:00:00.000Z", "completed", 1500, 100),
            e("2026-11-02T04:00:00.000Z", "completed", 500, 50),
            e("2026-11-03T04:00:00.000Z", "completed", 2500, 10),
        ];
        let m = monthly(&entries);
        assert_eq!(m.len(), 2);
        assert_eq!(
            (
                m[0].drills,
                m[0].successes,
                m[0].median_rto_ms,
                m[0].worst_rto_ms,
                m[0].worst_rpo_s
            ),
            (2, 1, 2000, 3000, 7200)
        );
        assert_eq!(m[0].rto_trend_pct, None);
        assert_eq!(
            (
                m[1].drills,
                m[1].successes,
                m[1].median_rto_ms,
                m[1].worst_rto_ms,
                m[1].worst_rpo_s
            ),
            (3, 3, 1500, 2500, 100)
        );
        assert_eq!(m[1].rto_trend_pct, Some(-25.0));
    }
}
