//! The policy against a reference model of restic's `ApplyPolicy` (snapshot_policy.go),
//! written the way restic writes it — one loop, integer buckets, `Last = -1` — with an
//! independent calendar (the `time` crate), on thousands of random histories: irregular
//! gaps, duplicates within a period, far past and future timestamps.

use backup_rotate::policy::{plan, Rules, SetInfo};
use proptest::prelude::*;
use std::time::Duration;
use time::{OffsetDateTime, UtcOffset};

struct Snap {
    id: String,
    t: OffsetDateTime,
}

/// restic: for each snapshot newest first, every bucket with count left keeps it when its
/// bucket value differs from the last kept one, or when it is the oldest snapshot.
fn restic(list: &mut [Snap], r: &Rules, offset: UtcOffset) -> Vec<(String, Vec<String>)> {
    list.sort_by(|a, b| b.t.cmp(&a.t).then_with(|| b.id.cmp(&a.id)));
    type Bucker = fn(OffsetDateTime, usize) -> i64;
    let always: Bucker = |_, nr| nr as i64;
    let ymdh: Bucker = |t, _| {
        t.year() as i64 * 1_000_000
            + t.month() as i64 * 10_000
            + t.day() as i64 * 100
            + t.hour() as i64
    };
    let ymd: Bucker = |t, _| t.year() as i64 * 10_000 + t.month() as i64 * 100 + t.day() as i64;
    let yw: Bucker = |t, _| {
        let (y, w, _) = t.to_iso_week_date();
        y as i64 * 100 + w as i64
    };
    let ym: Bucker = |t, _| t.year() as i64 * 100 + t.month() as i64;
    let y: Bucker = |t, _| t.year() as i64;
    let label = |kind: &str, t: OffsetDateTime| -> String {
        match kind {
            "last" => "last".into(),
            "hourly" => format!(
                "hourly {:04}-{:02}-{:02}T{:02}",
                t.year(),
                t.month() as u8,
                t.day(),
                t.hour()
            ),
            "daily" => format!(
                "daily {:04}-{:02}-{:02}",
                t.year(),
                t.month() as u8,
                t.day()
            ),
            "weekly" => {
                let (y, w, _) = t.to_iso_week_date();
                format!("weekly {y:04}-W{w:02}")
            }
            "monthly" => format!("monthly {:04}-{:02}", t.year(), t.month() as u8),
            _ => format!("yearly {:04}", t.year()),
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
        let local = cur.t.to_offset(offset);
        let mut reasons = Vec::new();
        if let Some((d, l)) = &r.within {
            let t = latest - time::Duration::try_from(*d).unwrap();
            if cur.t > t {
                reasons.push(format!("within {l}"));
            }
        }
        for b in buckets.iter_mut() {
            if b.0 > 0 {
                let val = (b.1)(local, nr);
                if val != b.2 || nr == list.len() - 1 {
                    b.2 = val;
                    b.0 -= 1;
                    reasons.push(label(b.3, local));
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
        let offset = UtcOffset::from_whole_seconds(offset_min * 60).unwrap();
        let tz = jiff::tz::TimeZone::fixed(jiff::tz::Offset::from_seconds(offset_min * 60).unwrap());
        let sets: Vec<SetInfo> = times
            .iter()
            .enumerate()
            .map(|(i, t)| SetInfo {
                id: format!("s{i:03}"),
                time: jiff::Timestamp::from_second(*t).unwrap(),
                failed: false,
                pinned: false,
            })
            .collect();
        let mut snaps: Vec<Snap> = times
            .iter()
            .enumerate()
            .map(|(i, t)| Snap { id: format!("s{i:03}"), t: OffsetDateTime::from_unix_timestamp(*t).unwrap() })
            .collect();
        let expected = restic(&mut snaps, &r, offset);
        let ours: Vec<(String, Vec<String>)> = plan(&sets, &r, &tz)
            .into_iter()
            .filter(|d| d.keep)
            .map(|d| (d.id, d.reasons))
            .collect();
        prop_assert_eq!(ours, expected);
    }
}
