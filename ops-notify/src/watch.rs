//! `ops-notify watch` decides (pure): given what the operator was last told about each
//! promise, the health verdict now and the time, which changes to tell, which to hold,
//! whether the digest is due, and what the operator will have been told afterwards.
//!
//! The rule that bounds a storm: a message is about the difference between what the
//! operator was *told* and what is true now, never about each observed flip. A component
//! told less than `min_interval` ago is held (its flips counted), and at most
//! `max_per_hour` messages leave per hour; the next watch after the hold tells the state
//! then, once, with the number of flips.

use crate::compose::{Change, ChangeKind};
use jiff::{SignedDuration, Timestamp};
use ops_health::health::{Component, State};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The file of the watch's memory in `<state dir>/notify/`.
pub const STATE_FILE: &str = "watch.json";

/// What the operator was told about one component, and what was seen since.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Told {
    /// Broken when last told (a component never told about was fine as far as the
    /// operator knows).
    pub broken: bool,
    pub reasons: Vec<String>,
    /// When (`None`: never told).
    pub at: Option<Timestamp>,
    /// Broken when last seen.
    pub seen_broken: bool,
    /// State changes seen since last told.
    pub flips: u32,
}

/// The watch's memory between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchState {
    pub v: u32,
    pub components: BTreeMap<String, Told>,
    /// When messages left in the last hour (the cap).
    pub sent: Vec<Timestamp>,
    /// When the last digest left (`None`: the first watch starts the schedule).
    pub last_digest: Option<Timestamp>,
}

/// The watch's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub repeat: SignedDuration,
    pub min_interval: SignedDuration,
    pub max_per_hour: u32,
    pub digest: Option<Schedule>,
}

/// When digests leave: every day, or every week on one day, at a time of day (in the
/// host's time zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// `None`: daily.
    pub weekday: Option<jiff::civil::Weekday>,
    pub time: jiff::civil::Time,
}

impl Schedule {
    /// `daily@08:00`, `weekly@mon-08:00`, `daily`, `weekly`.
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let (period, at) = text.split_once('@').unwrap_or((text, ""));
        let (weekday, time) = match (period, at) {
            ("daily", at) => (None, at),
            ("weekly", at) => {
                let (day, time) = at
                    .split_once('-')
                    .unwrap_or((if at.is_empty() { "mon" } else { at }, ""));
                (Some(weekday(day)?), time)
            }
            _ => return Err(format!("{text:?}: daily@HH:MM or weekly@DAY-HH:MM")),
        };
        let time = if time.is_empty() {
            jiff::civil::time(8, 0, 0, 0)
        } else {
            time.parse()
                .map_err(|_| format!("{time:?} is not a time of day (HH:MM)"))?
        };
        Ok(Schedule { weekday, time })
    }

    pub fn period(&self) -> &'static str {
        if self.weekday.is_some() {
            "weekly"
        } else {
            "daily"
        }
    }

    /// The last scheduled instant at or before `now` in `tz`.
    pub fn last_before(&self, now: Timestamp, tz: &jiff::tz::TimeZone) -> Option<Timestamp> {
        let local = now.to_zoned(tz.clone());
        let mut day = local.date();
        for _ in 0..8 {
            let at = day.to_datetime(self.time).to_zoned(tz.clone()).ok()?;
            let day_ok = self.weekday.is_none_or(|w| day.weekday() == w);
            if day_ok && at.timestamp() <= now {
                return Some(at.timestamp());
            }
            day = day.yesterday().ok()?;
        }
        None
    }
}

fn weekday(day: &str) -> Result<jiff::civil::Weekday, String> {
    use jiff::civil::Weekday as W;
    Ok(
        match day.get(..3).unwrap_or("").to_ascii_lowercase().as_str() {
            "mon" => W::Monday,
            "tue" => W::Tuesday,
            "wed" => W::Wednesday,
            "thu" => W::Thursday,
            "fri" => W::Friday,
            "sat" => W::Saturday,
            "sun" => W::Sunday,
            _ => return Err(format!("{day:?} is not a day of the week")),
        },
    )
}

/// Why a change was not told now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldReason {
    /// The component was told about less than `--min-interval` ago.
    MinInterval,
    /// `--max-per-hour` messages already left this hour.
    MaxPerHour,
}

/// What one watch does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The changes to tell, in one message (empty: none).
    pub tell: Vec<Change>,
    /// The changes held back, and why.
    pub held: Vec<(Change, HoldReason)>,
    pub digest_due: bool,
    /// The memory to keep: what the operator will have been told.
    pub state: WatchState,
}

/// Decides one watch at `now` over the verdict's `components`.
pub fn decide(
    prev: &WatchState,
    components: &[Component],
    now: Timestamp,
    settings: &Settings,
    tz: &jiff::tz::TimeZone,
) -> Decision {
    let hour_ago = now - SignedDuration::from_hours(1);
    let mut state = prev.clone();
    state.v = 1;
    state.sent.retain(|t| *t > hour_ago);
    let capped = state.sent.len() as u32 >= settings.max_per_hour;
    let (mut tell, mut held) = (Vec::new(), Vec::new());
    for c in components {
        let entry = state.components.entry(c.name.to_string()).or_default();
        let Some(change) = observe(entry, c, now, settings.repeat) else {
            continue;
        };
        let recent = entry
            .at
            .is_some_and(|at| now.duration_since(at) < settings.min_interval);
        match (recent, capped) {
            (true, _) => held.push((change, HoldReason::MinInterval)),
            (false, true) => held.push((change, HoldReason::MaxPerHour)),
            (false, false) => {
                *entry = Told {
                    broken: change.what != ChangeKind::Recovered,
                    reasons: c.reasons.clone(),
                    at: Some(now),
                    seen_broken: entry.seen_broken,
                    flips: 0,
                };
                tell.push(change);
            }
        }
    }
    let digest_due = match (&settings.digest, prev.last_digest) {
        (Some(s), Some(last)) => s.last_before(now, tz).is_some_and(|due| due > last),
        _ => false,
    };
    if settings.digest.is_some() && (digest_due || prev.last_digest.is_none()) {
        // The first watch starts the schedule rather than sending a digest at once.
        state.last_digest = Some(now);
    }
    let messages = usize::from(!tell.is_empty()) + usize::from(digest_due);
    state.sent.extend(std::iter::repeat_n(now, messages));
    Decision {
        tell,
        held,
        digest_due,
        state,
    }
}

/// Records what is seen of `c` in `entry` (its flips) and says what differs from what
/// was told (`None`: nothing to say; the flips stay counted for the next message).
fn observe(
    entry: &mut Told,
    c: &Component,
    now: Timestamp,
    repeat: SignedDuration,
) -> Option<Change> {
    // "Cannot tell" (no drill ever recorded, no state directory) is not a broken
    // promise: it is in the digest, not paged.
    let broken = c.state == State::NotReady;
    if broken != entry.seen_broken {
        entry.flips += 1;
        entry.seen_broken = broken;
    }
    let due = entry.at.is_none_or(|at| now.duration_since(at) >= repeat);
    let what = match (entry.broken, broken) {
        (false, true) => ChangeKind::Broke,
        (true, false) => ChangeKind::Recovered,
        (true, true) if entry.reasons != c.reasons => ChangeKind::Changed,
        (true, true) if due => ChangeKind::Reminder,
        _ => return None,
    };
    Some(Change {
        component: c.name.to_string(),
        what,
        reasons: c.reasons.clone(),
        flips: entry.flips,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(min: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + min * 60).unwrap()
    }

    fn c(name: &'static str, broken: bool, reason: &str) -> Component {
        Component {
            name,
            state: if broken {
                State::NotReady
            } else {
                State::Ready
            },
            reasons: if broken { vec![reason.into()] } else { vec![] },
        }
    }

    fn settings() -> Settings {
        Settings {
            repeat: SignedDuration::from_hours(24),
            min_interval: SignedDuration::from_mins(15),
            max_per_hour: 6,
            digest: None,
        }
    }

    fn run(prev: &WatchState, comps: &[Component], min: i64) -> Decision {
        decide(prev, comps, at(min), &settings(), &jiff::tz::TimeZone::UTC)
    }

    #[test]
    fn a_break_is_told_once_then_its_recovery() {
        let d = run(&WatchState::default(), &[c("backup_fresh", false, "")], 0);
        assert!(d.tell.is_empty(), "a promise kept is not news");
        let d = run(&d.state, &[c("backup_fresh", true, "app: old")], 20);
        assert_eq!(d.tell[0].what, ChangeKind::Broke);
        let d2 = run(&d.state, &[c("backup_fresh", true, "app: old")], 40);
        assert!(
            d2.tell.is_empty(),
            "unchanged: not told again before --repeat"
        );
        let d3 = run(
            &d2.state,
            &[c("backup_fresh", true, "app: old")],
            20 + 24 * 60,
        );
        assert_eq!(d3.tell[0].what, ChangeKind::Reminder);
        let d4 = run(
            &d3.state,
            &[
                c("backup_fresh", true, "app: old"),
                c("verify_passed", true, "x"),
            ],
            20 + 25 * 60,
        );
        assert_eq!(
            d4.tell.len(),
            1,
            "a new break is told at once: {:?}",
            d4.tell
        );
        assert_eq!(d4.tell[0].component, "verify_passed");
        let d5 = run(
            &d4.state,
            &[c("backup_fresh", false, ""), c("verify_passed", true, "x")],
            20 + 26 * 60,
        );
        assert_eq!(d5.tell[0].what, ChangeKind::Recovered);
        let unknown = Component {
            name: "drill_within_rto",
            state: State::Unknown,
            reasons: vec!["never".into()],
        };
        assert!(
            run(&d5.state, &[unknown], 20 + 27 * 60).tell.is_empty(),
            "cannot tell is not a break"
        );
    }

    #[test]
    fn a_storm_of_flips_sends_a_bounded_number_of_messages() {
        let mut state = WatchState::default();
        let mut told = 0;
        // 100 flips in a minute (the watch run after each), then quiet for an hour.
        for i in 0..100 {
            let d = decide(
                &state,
                &[c("verify_passed", i % 2 == 0, "app: failed")],
                at(0) + SignedDuration::from_millis(600 * i),
                &settings(),
                &jiff::tz::TimeZone::UTC,
            );
            told += d.tell.len();
            state = d.state;
        }
        assert_eq!(told, 1, "only the first break leaves within --min-interval");
        // The storm ended broken (the last flip, i = 99, was fine: told broken, now fine).
        let d = run(&state, &[c("verify_passed", false, "")], 16);
        assert_eq!(d.tell.len(), 1);
        assert_eq!(d.tell[0].what, ChangeKind::Recovered);
        assert_eq!(
            d.tell[0].flips,
            100 - 1 + 1 - 1,
            "the flips since it was told are counted"
        );
    }

    #[test]
    fn the_hourly_cap_holds_what_is_left() {
        let mut state = WatchState::default();
        let names = ["a", "b", "c", "d", "e", "f", "g", "h"];
        let mut told = 0;
        for (i, n) in names.iter().enumerate() {
            let d = run(&state, &[c(n, true, "x")], i as i64);
            told += d.tell.len();
            if i >= 6 {
                assert_eq!(d.held[0].1, HoldReason::MaxPerHour);
            }
            state = d.state;
        }
        assert_eq!(told, 6);
    }

    #[test]
    fn digests_follow_the_schedule() {
        let s = Schedule::parse("weekly@wed-08:30").unwrap();
        assert_eq!(s.period(), "weekly");
        let utc = jiff::tz::TimeZone::UTC;
        let now: Timestamp = "2026-12-06T12:00:00Z".parse().unwrap(); // a Sunday
        assert_eq!(
            s.last_before(now, &utc).unwrap().to_string(),
            "2026-12-02T08:30:00Z"
        );
        let d = Schedule::parse("daily").unwrap();
        assert_eq!(
            d.last_before(now, &utc).unwrap().to_string(),
            "2026-12-06T08:00:00Z"
        );
        assert!(Schedule::parse("hourly").is_err() && Schedule::parse("weekly@xyz-08:00").is_err());
        let settings = Settings {
            digest: Some(d),
            ..settings()
        };
        let first = decide(&WatchState::default(), &[], now, &settings, &utc);
        assert!(!first.digest_due, "the first watch starts the schedule");
        let later = decide(
            &first.state,
            &[],
            now + SignedDuration::from_hours(3),
            &settings,
            &utc,
        );
        assert!(!later.digest_due);
        let next_day = decide(
            &later.state,
            &[],
            now + SignedDuration::from_hours(21),
            &settings,
            &utc,
        );
        assert!(next_day.digest_due);
        let again = decide(
            &next_day.state,
            &[],
            now + SignedDuration::from_hours(22),
            &settings,
            &utc,
        );
        assert!(!again.digest_due, "one digest per period");
    }
}
