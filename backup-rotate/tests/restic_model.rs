//! The policy against a reference model of restic's `ApplyPolicy` (snapshot_policy.go),
//! written the way restic writes it — one loop, integer buckets, `Last = -1` — with an
//! independent calendar (the integer civil-date algorithm below, not the policy's jiff), on
//! thousands of random histories: irregular gaps, duplicates within a period, far past and
//! future timestamps.

use backup_rotate::policy::{plan, Rules, SetInfo};
use proptest::prelude::*;
use std::time::Duration;

/// A wall-clock time at a fixed offset, computed from Unix seconds by integer arithmetic
/// (Howard Hinnant's `civil_from_days`), so that the model shares no calendar code with
/// the policy it checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Local {
    /// Days since 1970-01-01 and the hour, in the offset's local time.
    days: i64,
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
}

fn local(unix: i64, offset_s: i64) -> Local {
    let secs = unix + offset_s;
    let days = secs.div_euclid(86_400);
    let hour = secs.rem_euclid(86_400) / 3600;
    let (year, month, day) = civil_from_days(days);
    Local {
        days,
        year,
        month,
        day,
        hour,
    }
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// ISO 8601 week-numbering year and week: the week of the Thursday of this week.
fn iso_week(t: Local) -> (i64, i64) {
    let weekday = (t.days + 3).rem_euclid(7); // 0 = Monday; 1970-01-01 was a Thursday
    let thursday = t.days - weekday + 3;
    let (y, _, _) = civil_from_days(thursday);
    (y, (thursday - days_from_civil(y, 1, 1)) / 7 + 1)
}

struct Snap {
    id: String,
    /// Unix seconds.
    t: i64,
}

/// restic: for each snapshot newest first, every bucket with count left keeps it when its
/// bucket value differs from the last kept one, or when it is the oldest snapshot.
fn restic(list: &mut [Snap], r: &Rules, offset_s: i64) -> Vec<(String, Vec<String>)> {
    list.sort_by(|a, b| b.t.cmp(&a.t).then_with(|| b.id.cmp(&a.id)));
    type Bucker = fn(Local, usize) -> i64;
    let always: Bucker = |_, nr| nr as i64;
    let ymdh: Bucker = |t, _| t.year * 1_000_000 + t.month * 10_000 + t.day * 100 + t.hour;
    let ymd: Bucker = |t, _| t.year * 10_000 + t.month * 100 + t.day;
    let yw: Bucker = |t, _| {
        let (y, w) = iso_week(t);
        y * 100 + w
    };
    let ym: Bucker = |t, _| t.year * 100 + t.month;
    let y: Bucker = |t, _| t.year;
    let label = |kind: &str, t: Local| -> String {
        match kind {
            "last" => "last".into(),
            "hourly" => format!(
                "hourly {:04}-{:02}-{:02}T{:02}",
                t.year, t.month, t.day, t.hour
            ),
            "daily" => format!("daily {:04}-{:02}-{:02}", t.year, t.month, t.day),
            "weekly" => {
                let (y, w) = iso_week(t);
                format!("weekly {y:04}-W{w:02}")
            }
            "monthly" => format!("monthly {:04}-{:02}", t.year, t.month),
            _ => format!("yearly {:04}", t.year),
        }
    };
    let mut buckets: Vec<(i64, Bucker, i64, &str)> = vec![
        (r.last as i64, always, -1, "last"),
        (r.hourly as i64, ymdh, -1, "hourly"),
        (r.daily as i64, ymd, -1, "daily"),
        (r.weekly as i64, yw, -1, "weekly"),
        (r.monthly as i64, ym, -1, "monthly"),
        (r.yearly as i64, y, -1, "yearly"),
    ];
    let latest = list[0].t;
    let mut out = Vec::new();
    for (nr, cur) in list.iter().enumerate() {
        let local = local(cur.t, offset_s);
        let mut reasons = Vec::new();
        if let Some((d, l)) = &r.within {
            let t = latest - d.as_secs() as i64;
            if cur.t > t {
                reasons.push(format!("within {l}"));
            }
        }
        for b in buckets.iter_mut() {
            if b.0 > 0 {
                let val = (b.1)(local, nr);
                if val != b.2 {
                    b.2 = val;
                    b.0 -= 1;
                    reasons.push(label(b.3, local));
                } else if nr == list.len() - 1 {
                    // restic keeps the oldest set too; pgops says why in its own words.
                    b.0 -= 1;
                    reasons.push(format!("{}: oldest set", b.3));
                }
            }
        }
        if !reasons.is_empty() {
            out.push((cur.id.clone(), reasons));
        }
    }
    out
}

fn rules() -> impl Strategy<Value = Rules> {
    (
        0u32..4,
        0u32..6,
        0u32..8,
        0u32..5,
        0u32..5,
        0u32..3,
        proptest::option::of(0u64..(90 * 86400)),
    )
        .prop_map(
            |(last, hourly, daily, weekly, monthly, yearly, within)| Rules {
                last,
                hourly,
                daily,
                weekly,
                monthly,
                yearly,
                within: within.map(|s| (Duration::from_secs(s), format!("{s}s"))),
                min_keep: 0,
            },
        )
}

/// Histories: a start anywhere from 1971 to 2099, then gaps from seconds (duplicates within
/// an hour) to months, and now and then an exact duplicate time.
fn history() -> impl Strategy<Value = Vec<i64>> {
    (
        31_536_000i64..4_070_908_800,
        proptest::collection::vec(
            prop_oneof![
                0i64..1,
                1i64..3600,
                3600i64..86400 * 3,
                86400i64..86400 * 60
            ],
            1..80,
        ),
    )
        .prop_map(|(start, gaps)| {
            let mut t = start;
            gaps.into_iter()
                .map(|g| {
                    t -= g;
                    t
                })
                .collect()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn identical_to_restic(times in history(), r in rules(), offset_min in -12 * 60i32..=14 * 60) {
        let offset_min = offset_min / 15 * 15;
        let tz = jiff::tz::TimeZone::fixed(jiff::tz::Offset::from_seconds(offset_min * 60).unwrap());
        let sets: Vec<SetInfo> = times
            .iter()
            .enumerate()
            .map(|(i, t)| SetInfo {
                id: format!("s{i:03}"),
                time: jiff::Timestamp::from_second(*t).unwrap(),
                failed: None,
                pinned: false,
                locked: None,
            })
            .collect();
        let mut snaps: Vec<Snap> = times
            .iter()
            .enumerate()
            .map(|(i, t)| Snap { id: format!("s{i:03}"), t: *t })
            .collect();
        let expected = restic(&mut snaps, &r, i64::from(offset_min) * 60);
        let ours: Vec<(String, Vec<String>)> = plan(&sets, &r, &tz)
            .into_iter()
            .filter(|d| d.keep)
            .map(|d| (d.id, d.reasons))
            .collect();
        prop_assert_eq!(ours, expected);
    }
}
