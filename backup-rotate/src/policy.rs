//! Retention as data: a pure function from (sets, rules, timezone) to a plan with reasons.
//!
//! The count rules are restic's `forget`, exactly: rules are ORed; walking the sets newest
//! first, a set that opens a new period (calendar hour/day/ISO week/month/year in the chosen
//! timezone) for a rule with count left is kept by that rule and uses one count; `last`
//! opens a period at every set; the oldest set is kept by every rule that still has count
//! left; `within` keeps sets newer than (newest set − duration), so a stopped schedule
//! deletes nothing. Safety beyond restic:
//! - sets whose verification failed take no part in the count rules, so a broken backup
//!   never fills a period that a good one would have;
//! - the newest `min_keep` sets that did not fail are always kept;
//! - pinned sets are always kept;
//! - sets the store still locks (S3 Object Lock) are kept until their date, said as a
//!   reason: a deletion the store would refuse is never planned;
//! - with no set that did not fail, everything is kept (the caller warns).

use jiff::tz::TimeZone;
use jiff::Timestamp;
use std::time::Duration;

/// The keep rules. At least one of them must be set ([`Rules::has_keep_rule`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    pub last: u32,
    pub hourly: u32,
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
    pub yearly: u32,
    /// Keep sets newer than the newest set minus this; the label is how the user wrote it.
    pub within: Option<(Duration, String)>,
    pub min_keep: u32,
}

impl Rules {
    /// The rules in words, as the configuration audit records them (`last 0, hourly 0,
    /// daily 7, …, within 30d, min-keep 1`).
    pub fn describe(&self) -> String {
        let mut words = format!(
            "last {}, hourly {}, daily {}, weekly {}, monthly {}, yearly {}",
            self.last, self.hourly, self.daily, self.weekly, self.monthly, self.yearly
        );
        if let Some((_, label)) = &self.within {
            words.push_str(&format!(", within {label}"));
        }
        words.push_str(&format!(", min-keep {}", self.min_keep));
        words
    }

    pub fn has_keep_rule(&self) -> bool {
        self.last + self.hourly + self.daily + self.weekly + self.monthly + self.yearly > 0
            || self.within.is_some()
    }
}

/// What the policy needs to know about a set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetInfo {
    pub id: String,
    pub time: Timestamp,
    /// Why it counts as failed, if it does: its verification failed (verify.json, or the
    /// last verification of the bucket), or the bucket's listing shows it damaged.
    pub failed: Option<String>,
    pub pinned: bool,
    /// Locked by the store until this date, still in the future.
    pub locked: Option<Timestamp>,
}

impl SetInfo {
    /// What the policy needs of a listed set, wherever it lies, at `now`.
    pub fn of(s: &ops_catalog::sets::ListedSet, now: Timestamp) -> SetInfo {
        SetInfo {
            id: s.id.clone(),
            time: s.started,
            failed: s.failed.clone(),
            pinned: s.pinned,
            locked: s.locked_until.filter(|t| *t > now),
        }
    }
}

/// The plan for one set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub id: String,
    pub keep: bool,
    /// Why it is kept (e.g. `["last", "daily 2026-11-23", "pinned"]`), or why it goes.
    pub reasons: Vec<String>,
}

/// A calendar period of one rule; equal values mean the same period.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Period {
    Each(usize),
    Hour(i16, i8, i8, i8),
    Day(i16, i8, i8),
    Week(i16, i8),
    Month(i16, i8),
    Year(i16),
}

impl Period {
    fn label(&self) -> String {
        match self {
            Period::Each(_) => "last".into(),
            Period::Hour(y, m, d, h) => format!("hourly {y:04}-{m:02}-{d:02}T{h:02}"),
            Period::Day(y, m, d) => format!("daily {y:04}-{m:02}-{d:02}"),
            Period::Week(y, w) => format!("weekly {y:04}-W{w:02}"),
            Period::Month(y, m) => format!("monthly {y:04}-{m:02}"),
            Period::Year(y) => format!("yearly {y:04}"),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Rule {
    Last,
    Hourly,
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

impl Rule {
    fn name(self) -> &'static str {
        match self {
            Rule::Last => "last",
            Rule::Hourly => "hourly",
            Rule::Daily => "daily",
            Rule::Weekly => "weekly",
            Rule::Monthly => "monthly",
            Rule::Yearly => "yearly",
        }
    }
}

fn period(rule: Rule, t: Timestamp, nr: usize, tz: &TimeZone) -> Period {
    let z = t.to_zoned(tz.clone());
    match rule {
        Rule::Last => Period::Each(nr),
        Rule::Hourly => Period::Hour(z.year(), z.month(), z.day(), z.hour()),
        Rule::Daily => Period::Day(z.year(), z.month(), z.day()),
        Rule::Weekly => {
            let w = z.date().iso_week_date();
            Period::Week(w.year(), w.week())
        }
        Rule::Monthly => Period::Month(z.year(), z.month()),
        Rule::Yearly => Period::Year(z.year()),
    }
}

/// Applies `rules` to `sets` (any order). Returns one decision per set, newest first.
pub fn plan(sets: &[SetInfo], rules: &Rules, tz: &TimeZone) -> Vec<Decision> {
    let mut order: Vec<&SetInfo> = sets.iter().collect();
    // Newest first; equal times by id, so the plan never depends on input order.
    order.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| b.id.cmp(&a.id)));
    let mut reasons: Vec<Vec<String>> = vec![Vec::new(); order.len()];

    // The sets that count: those whose verification did not fail.
    let good: Vec<usize> = (0..order.len())
        .filter(|&i| order[i].failed.is_none())
        .collect();
    if good.is_empty() {
        return order
            .iter()
            .map(|s| Decision {
                id: s.id.clone(),
                keep: true,
                reasons: vec!["no set passed verification: nothing is deleted".into()],
            })
            .collect();
    }
    let newest = order[good[0]].time;

    if let Some((within, label)) = &rules.within {
        let cutoff = newest
            .checked_sub(
                jiff::SignedDuration::try_from(*within).unwrap_or(jiff::SignedDuration::MAX),
            )
            .unwrap_or(Timestamp::MIN);
        for (i, s) in order.iter().enumerate() {
            if s.time > cutoff {
                reasons[i].push(format!("within {label}"));
            }
        }
    }
    for (rule, count) in [
        (Rule::Last, rules.last),
        (Rule::Hourly, rules.hourly),
        (Rule::Daily, rules.daily),
        (Rule::Weekly, rules.weekly),
        (Rule::Monthly, rules.monthly),
        (Rule::Yearly, rules.yearly),
    ] {
        let mut left = count;
        let mut last: Option<Period> = None;
        for (nr, &i) in good.iter().enumerate() {
            if left == 0 {
                break;
            }
            let p = period(rule, order[i].time, nr, tz);
            if last.as_ref() != Some(&p) {
                reasons[i].push(p.label());
                last = Some(p);
                left -= 1;
            } else if nr == good.len() - 1 {
                // Kept as the oldest set while the rule has count left (restic's rule), not
                // for a period of its own: its period is a newer set's.
                reasons[i].push(format!("{}: oldest set", rule.name()));
                left -= 1;
            }
        }
    }
    for &i in good.iter().take(rules.min_keep as usize) {
        reasons[i].push("min-keep".into());
    }
    for (i, s) in order.iter().enumerate() {
        if s.pinned {
            reasons[i].push("pinned".into());
        }
        if let Some(t) = s.locked {
            reasons[i].push(format!("locked until {t}"));
        }
    }
    order
        .iter()
        .zip(reasons)
        .map(|(s, reasons)| {
            let keep = !reasons.is_empty();
            Decision {
                id: s.id.clone(),
                keep,
                reasons: if keep {
                    reasons
                } else {
                    vec![why_deleted(s, rules)]
                },
            }
        })
        .collect()
}

/// Why a set no rule keeps goes: a failed one fills no period; any other was outnumbered
/// by newer sets in every rule (said with the rules, so a reader can check the plan).
fn why_deleted(s: &SetInfo, rules: &Rules) -> String {
    if let Some(why) = &s.failed {
        return format!("{why}: it fills no period and counts for no rule");
    }
    let mut held = Vec::new();
    for (name, n) in [
        ("last", rules.last),
        ("hourly", rules.hourly),
        ("daily", rules.daily),
        ("weekly", rules.weekly),
        ("monthly", rules.monthly),
        ("yearly", rules.yearly),
    ] {
        if n > 0 {
            held.push(format!("{name} {n}"));
        }
    }
    if let Some((_, label)) = &rules.within {
        held.push(format!("within {label}"));
    }
    let calendar = rules.hourly + rules.daily + rules.weekly + rules.monthly + rules.yearly > 0;
    let why = match (calendar, rules.within.is_some()) {
        (true, _) => "newer sets fill every period it falls in",
        (false, true) => "it is older than the window and not among the newest kept",
        (false, false) => "newer sets are the ones kept",
    };
    format!(
        "no rule keeps it ({}; min-keep {}): {why}",
        if held.is_empty() {
            "no keep rule".into()
        } else {
            held.join(", ")
        },
        rules.min_keep,
    )
}

/// Parses `--timezone`: `local`, `UTC`, `±HH:MM`, or an IANA name such as `Europe/Paris`.
/// `--timezone`, parsed by clap before any work (`invalid_timezone`).
pub fn timezone_arg(text: &str) -> Result<TimeZone, ops_core::OpsError> {
    parse_timezone(text).map_err(|e| ops_core::OpsError::validation("invalid_timezone", e))
}

pub fn parse_timezone(text: &str) -> Result<TimeZone, String> {
    match text {
        "local" => Ok(TimeZone::system()),
        "UTC" | "utc" | "Z" => Ok(TimeZone::UTC),
        _ if text.starts_with('+') || text.starts_with('-') => {
            let sign = if text.starts_with('-') { -1 } else { 1 };
            let (h, m) = text[1..]
                .split_once(':')
                .ok_or_else(|| format!("invalid timezone {text:?}: expected ±HH:MM"))?;
            let h: i32 = h
                .parse()
                .map_err(|_| format!("invalid timezone {text:?}"))?;
            let m: i32 = m
                .parse()
                .map_err(|_| format!("invalid timezone {text:?}"))?;
            if h > 23 || m > 59 {
                return Err(format!("invalid timezone {text:?}"));
            }
            let offset = jiff::tz::Offset::from_seconds(sign * (h * 3600 + m * 60))
                .map_err(|e| e.to_string())?;
            Ok(TimeZone::fixed(offset))
        }
        name => TimeZone::get(name).map_err(|e| format!("unknown timezone {name:?}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(id: &str, at: &str) -> SetInfo {
        SetInfo {
            id: id.into(),
            time: at.parse().unwrap(),
            failed: None,
            pinned: false,
            locked: None,
        }
    }

    fn kept(plan: &[Decision]) -> Vec<(&str, Vec<&str>)> {
        plan.iter()
            .filter(|d| d.keep)
            .map(|d| {
                (
                    d.id.as_str(),
                    d.reasons.iter().map(String::as_str).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn daily_weekly_monthly_worked_example() {
        // One set a day at 03:00 UTC for 60 days, ending Tuesday 2026-11-24.
        let end: Timestamp = "2026-11-24T03:00:00Z".parse().unwrap();
        let sets: Vec<SetInfo> = (0..60)
            .map(|d| {
                let t = end
                    .checked_sub(jiff::SignedDuration::from_hours(24 * d))
                    .unwrap();
                SetInfo {
                    id: format!("s{d:02}"),
                    time: t,
                    failed: None,
                    pinned: false,
                    locked: None,
                }
            })
            .collect();
        let rules = Rules {
            daily: 3,
            weekly: 2,
            monthly: 2,
            ..Rules::default()
        };
        let p = plan(&sets, &rules, &TimeZone::UTC);
        assert_eq!(
            kept(&p),
            vec![
                (
                    "s00",
                    vec!["daily 2026-11-24", "weekly 2026-W48", "monthly 2026-11"]
                ),
                ("s01", vec!["daily 2026-11-23"]),
                ("s02", vec!["daily 2026-11-22", "weekly 2026-W47"]),
                ("s24", vec!["monthly 2026-10"]),
            ]
        );
    }

    #[test]
    fn the_oldest_set_is_kept_while_a_rule_has_count_left() {
        let sets = vec![
            set("a", "2026-11-24T10:00:00Z"),
            set("b", "2026-11-24T09:00:00Z"),
        ];
        let p = plan(
            &sets,
            &Rules {
                daily: 5,
                ..Rules::default()
            },
            &TimeZone::UTC,
        );
        assert_eq!(
            kept(&p),
            vec![
                ("a", vec!["daily 2026-11-24"]),
                // Not "daily 2026-11-24" twice: b fills no period of its own.
                ("b", vec!["daily: oldest set"])
            ]
        );
    }

    #[test]
    fn keep_within_is_measured_from_the_newest_set_not_from_now() {
        // The schedule stopped a year ago: nothing of the last week before it is deleted.
        let sets: Vec<SetInfo> = (0..10)
            .map(|d| {
                set(
                    &format!("s{d}"),
                    &format!("2025-06-{:02}T03:00:00Z", 20 - d),
                )
            })
            .collect();
        let week = Duration::from_secs(7 * 86400);
        let p = plan(
            &sets,
            &Rules {
                within: Some((week, "7d".into())),
                ..Rules::default()
            },
            &TimeZone::UTC,
        );
        let ids: Vec<&str> = kept(&p).iter().map(|k| k.0).collect();
        assert_eq!(
            ids,
            ["s0", "s1", "s2", "s3", "s4", "s5", "s6"],
            "strictly newer than newest − 7d"
        );
    }

    #[test]
    fn iso_week_53_and_year_boundaries() {
        // 2026 has an ISO week 53 (Mon 2026-12-28 .. Sun 2027-01-03).
        let sets = vec![
            set("jan3", "2027-01-03T12:00:00Z"),
            set("dec28", "2026-12-28T12:00:00Z"),
            set("dec27", "2026-12-27T12:00:00Z"),
        ];
        let p = plan(
            &sets,
            &Rules {
                weekly: 2,
                yearly: 2,
                ..Rules::default()
            },
            &TimeZone::UTC,
        );
        assert_eq!(
            kept(&p),
            vec![
                ("jan3", vec!["weekly 2026-W53", "yearly 2027"]),
                ("dec28", vec!["yearly 2026"]),
                ("dec27", vec!["weekly 2026-W52"]),
            ]
        );
    }

    #[test]
    fn daylight_saving_days_are_calendar_days_in_the_zone() {
        // Europe/Paris leaves summer time on 2026-10-25 at 03:00 (→ 02:00): that day has 25
        // hours. 23:30 UTC on the 24th is already the 25th in Paris (UTC+2 until 01:00 UTC).
        let paris = TimeZone::get("Europe/Paris").unwrap();
        let sets = vec![
            set("a", "2026-10-25T22:30:00Z"), // 23:30 CET on the 25th
            set("b", "2026-10-25T00:30:00Z"), // 02:30 CEST on the 25th
            set("c", "2026-10-24T22:30:00Z"), // 00:30 CEST on the 25th
            set("d", "2026-10-24T21:30:00Z"), // 23:30 CEST on the 24th
        ];
        let p = plan(
            &sets,
            &Rules {
                daily: 2,
                ..Rules::default()
            },
            &paris,
        );
        assert_eq!(
            kept(&p),
            vec![
                ("a", vec!["daily 2026-10-25"]),
                ("d", vec!["daily 2026-10-24"])
            ]
        );
        let p = plan(
            &sets,
            &Rules {
                daily: 2,
                ..Rules::default()
            },
            &TimeZone::UTC,
        );
        assert_eq!(
            kept(&p),
            vec![
                ("a", vec!["daily 2026-10-25"]),
                ("c", vec!["daily 2026-10-24"])
            ]
        );
        // Hours in the repeated hour (02:00–03:00 twice) are still distinct periods by wall
        // clock only when their wall-clock hours differ.
        let sets = vec![
            set("x", "2026-10-25T01:10:00Z"),
            set("y", "2026-10-25T00:10:00Z"),
        ];
        let p = plan(
            &sets,
            &Rules {
                hourly: 1,
                ..Rules::default()
            },
            &paris,
        );
        assert_eq!(kept(&p), vec![("x", vec!["hourly 2026-10-25T02"])]);
    }

    #[test]
    fn failed_sets_fill_no_period_and_min_keep_and_pins_hold() {
        let mut sets = vec![
            set("new_bad", "2026-11-24T03:00:00Z"),
            set("good", "2026-11-23T03:00:00Z"),
            set("old", "2026-11-01T03:00:00Z"),
        ];
        sets[0].failed = Some("its verification failed".into());
        sets[2].pinned = true;
        let rules = Rules {
            daily: 1,
            min_keep: 1,
            ..Rules::default()
        };
        let p = plan(&sets, &rules, &TimeZone::UTC);
        assert_eq!(
            kept(&p),
            vec![
                ("good", vec!["daily 2026-11-23", "min-keep"]),
                ("old", vec!["pinned"])
            ],
            "the failed newest set does not evict the good one"
        );
        let all_bad: Vec<SetInfo> = sets
            .iter()
            .cloned()
            .map(|mut s| {
                s.failed = Some("its verification failed".into());
                s
            })
            .collect();
        assert!(plan(&all_bad, &rules, &TimeZone::UTC)
            .iter()
            .all(|d| d.keep));
    }

    #[test]
    fn a_set_the_store_still_locks_is_kept_until_its_date() {
        use ops_catalog::sets::ListedSet;
        let listed = |id: &str, locked: Option<&str>| ListedSet {
            id: id.into(),
            started: ops_core::timefmt::parse_set_id(id).unwrap(),
            place: id.into(),
            failed: None,
            pinned: false,
            passed: false,
            locked_until: locked.map(|t| t.parse().unwrap()),
        };
        let now: Timestamp = "2026-12-06T12:00:00Z".parse().unwrap();
        let sets: Vec<SetInfo> = [
            listed("20261206T030000Z", Some("2027-01-05T03:00:00Z")),
            listed("20261120T030000Z", Some("2026-12-20T03:00:00Z")),
            // Its lock has expired: the policy alone decides.
            listed("20261101T030000Z", Some("2026-12-01T03:00:00Z")),
            listed("20261001T030000Z", None),
        ]
        .iter()
        .map(|s| SetInfo::of(s, now))
        .collect();
        let rules = Rules {
            last: 1,
            ..Rules::default()
        };
        let p = plan(&sets, &rules, &TimeZone::UTC);
        assert_eq!(
            kept(&p),
            vec![
                (
                    "20261206T030000Z",
                    vec!["last", "locked until 2027-01-05T03:00:00Z"]
                ),
                (
                    "20261120T030000Z",
                    vec!["locked until 2026-12-20T03:00:00Z"]
                ),
            ]
        );
        assert_eq!(p.iter().filter(|d| !d.keep).count(), 2);
    }

    #[test]
    fn timezones_parse() {
        assert!(parse_timezone("UTC").is_ok());
        assert!(parse_timezone("+05:30").is_ok());
        assert!(parse_timezone("-03:00").is_ok());
        assert!(parse_timezone("Europe/Paris").is_ok());
        assert!(parse_timezone("+25:00").is_err());
        assert!(parse_timezone("Mars/Olympus").is_err());
    }
}
