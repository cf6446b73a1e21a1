//! `--all`: every database of the catalog drilled in one run, or only those whose drill is
//! due (`--due WINDOW`: none passed within it), the longest waiting first, at most `--max`
//! of them per run (issue #26). A monthly timer with `--all` drills each database every
//! month; a nightly one with `--all --due 30d --max 1` spreads them over the month. Which
//! databases a run takes is decided here, from the catalog's databases and the drill
//! history alone: pure. "Due" is [`ops_catalog::drills::is_due`], the rule health judges
//! by too.

use jiff::{SignedDuration, Timestamp};
use ops_catalog::drills::{self, Entry};

/// What one `--all` run does with each database.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Round {
    /// Drilled this run, in this order: never drilled first, then the longest waiting.
    pub drill: Vec<String>,
    /// Passed a drill within the window: when.
    pub not_due: Vec<(String, Timestamp)>,
    /// Due, beyond `--max`: the next run's.
    pub waiting: Vec<String>,
}

/// The last drill of `db` that passed, from the history.
pub fn last_passed(history: &[Entry], db: &str) -> Option<Timestamp> {
    history
        .iter()
        .filter(|e| e.database == db && e.completed())
        .filter_map(|e| e.finished_at.as_deref()?.parse().ok())
        .max()
}

/// The round: every database (`due` None), or those due; at most `max`.
pub fn plan(
    databases: &[String],
    history: &[Entry],
    now: Timestamp,
    due: Option<SignedDuration>,
    max: Option<usize>,
) -> Round {
    let mut round = Round::default();
    let mut todo: Vec<(Option<Timestamp>, &String)> = Vec::new();
    for db in databases {
        let last = last_passed(history, db);
        match (due, last) {
            (Some(window), Some(at)) if !drills::is_due(last, now, window) => {
                round.not_due.push((db.clone(), at))
            }
            _ => todo.push((last, db)),
        }
    }
    // `None` sorts first: a database never drilled goes before any that was.
    todo.sort();
    let take = max.unwrap_or(usize::MAX).min(todo.len());
    round.drill = todo[..take].iter().map(|(_, d)| (*d).clone()).collect();
    round.waiting = todo[take..].iter().map(|(_, d)| (*d).clone()).collect();
    round
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(db: &str, at: &str, ok: bool) -> Entry {
        Entry {
            started_at: at.into(),
            finished_at: Some(at.into()),
            database: db.into(),
            id: "20261101T030000Z".into(),
            result: if ok { "completed" } else { "failed" }.into(),
            rto_ms: 1,
            rpo_s: 1,
            bytes: None,
            rest: Default::default(),
        }
    }

    #[test]
    fn never_drilled_first_then_the_longest_waiting_and_max_leaves_the_rest_waiting() {
        let dbs: Vec<String> = ["app", "billing", "shop", "new"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let history = [
            entry("app", "2026-11-25T03:00:00Z", true),
            entry("billing", "2026-10-01T03:00:00Z", true),
            // A failed drill does not count as drilled.
            entry("shop", "2026-09-01T03:00:00Z", true),
            entry("shop", "2026-11-28T03:00:00Z", false),
        ];
        let now: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
        let month = SignedDuration::from_hours(30 * 24);
        let r = plan(&dbs, &history, now, Some(month), Some(2));
        assert_eq!(r.drill, ["new", "shop"]);
        assert_eq!(r.waiting, ["billing"]);
        assert_eq!(r.not_due.len(), 1);
        assert_eq!(r.not_due[0].0, "app");
        // Without --due: every database, the same order.
        let r = plan(&dbs, &history, now, None, None);
        assert_eq!(r.drill, ["new", "shop", "billing", "app"]);
        assert!(r.not_due.is_empty() && r.waiting.is_empty());
    }
}
