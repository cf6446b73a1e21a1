//! Freshness of the catalog: every database needs a passing set younger than `--max-age`.

use jiff::Timestamp;
use std::time::Duration;

/// The newest passing set of one database, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Newest {
    pub database: String,
    /// `(id, start time)` of the newest set that passed.
    pub passing: Option<(String, Timestamp)>,
    /// Retired on purpose (`backup-rotate --retire`) and no set since: not judged.
    pub retired: bool,
}

/// A database that is not fresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    pub database: String,
    pub newest_passing: Option<String>,
    pub age: Option<Duration>,
    pub reason: String,
}

/// Judges freshness; `expected` databases with no set at all are stale too.
pub fn stale(
    newest: &[Newest],
    expected: &[String],
    now: Timestamp,
    max_age: Duration,
) -> Vec<Stale> {
    let mut out = Vec::new();
    for n in newest.iter().filter(|n| !n.retired) {
        match &n.passing {
            None => out.push(Stale {
                database: n.database.clone(),
                newest_passing: None,
                age: None,
                reason: "no set of this database passed verification".into(),
            }),
            Some((id, started)) => {
                let age =
                    Duration::try_from(now.duration_since(*started)).unwrap_or(Duration::ZERO);
                if age > max_age {
                    out.push(Stale {
                        database: n.database.clone(),
                        newest_passing: Some(id.clone()),
                        age: Some(age),
                        reason: format!(
                            "the newest passing set is {}h old, more than --max-age {}h",
                            age.as_secs() / 3600,
                            max_age.as_secs() / 3600
                        ),
                    });
                }
            }
        }
    }
    for e in expected {
        if !newest.iter().any(|n| &n.database == e) {
            out.push(Stale {
                database: e.clone(),
                newest_passing: None,
                age: None,
                reason: "expected, but the catalog has no set of this database".into(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datetime(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn ages_and_missing_databases() {
        let now = datetime("2026-11-24T12:00:00Z");
        let newest = vec![
            Newest {
                database: "fresh".into(),
                passing: Some(("a".into(), datetime("2026-11-24T03:00:00Z"))),
                retired: false,
            },
            Newest {
                database: "old".into(),
                passing: Some(("b".into(), datetime("2026-11-22T03:00:00Z"))),
                retired: false,
            },
            Newest {
                database: "dropped".into(),
                passing: Some(("c".into(), datetime("2026-01-22T03:00:00Z"))),
                retired: true,
            },
            Newest {
                database: "broken".into(),
                passing: None,
                retired: false,
            },
        ];
        let s = stale(
            &newest,
            &["fresh".into(), "absent".into(), "dropped".into()],
            now,
            Duration::from_secs(26 * 3600),
        );
        let names: Vec<&str> = s.iter().map(|x| x.database.as_str()).collect();
        assert_eq!(
            names,
            ["old", "broken", "absent"],
            "a retired database is not judged"
        );
        assert_eq!(s[0].age, Some(Duration::from_secs(57 * 3600)));
    }
}
