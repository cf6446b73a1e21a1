//! The cadences the platform fixes (issue #28): a daily backup, a weekly verification of the
//! local and of the off-site sets, a monthly drill, 30 days of off-site retention. Each
//! systemd timer's calendar is expanded by systemd's own `systemd-analyze calendar`; each
//! CronJob's schedule fires, minute by minute, at exactly the same instants; the retention
//! arguments the rotate unit and CronJob pass are the same and keep 30 days off-site.

use jiff::civil::DateTime;
use jiff::ToSpan;
use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The next `n` instants (UTC) a timer's `OnCalendar=` elapses, as systemd computes them.
fn timer_elapses(unit: &str, n: usize) -> Vec<DateTime> {
    let timer = read(&format!("scripts/systemd/{unit}.timer"));
    let calendar = timer
        .lines()
        .find_map(|l| l.strip_prefix("OnCalendar="))
        .unwrap_or_else(|| panic!("{unit}.timer has no OnCalendar="));
    let out = Command::new("systemd-analyze")
        .env("TZ", "UTC")
        .args(["calendar", &format!("--iterations={n}"), calendar])
        .output()
        .expect("systemd-analyze (Debian's systemd) runs");
    assert!(out.status.success(), "{unit}: {out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let at: Vec<DateTime> = text
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix("Next elapse:").or_else(|| {
                l.strip_prefix("Iter. #")
                    .and_then(|r| r.split_once(':').map(|x| x.1))
            })?;
            // "Sat 2026-12-12 06:00:00 UTC"
            let words: Vec<&str> = rest.split_whitespace().collect();
            Some(format!("{}T{}", words[1], words[2]).parse().unwrap())
        })
        .collect();
    assert_eq!(at.len(), n, "{text}");
    at
}

/// The schedule of the CronJob `name` in the Kubernetes recipe.
fn cron_schedule(name: &str) -> String {
    let yaml = read("scripts/kubernetes/base/cronjobs.yaml");
    let from = yaml
        .find(&format!("  name: {name}\n"))
        .unwrap_or_else(|| panic!("no CronJob {name}"));
    let line = yaml[from..]
        .lines()
        .find_map(|l| l.trim().strip_prefix("schedule:"))
        .unwrap();
    line.trim().trim_matches('"').to_string()
}

/// Whether a five-field cron schedule (numbers, lists and `*`: what the recipe uses) fires
/// at `t` (UTC, the CronJob controller's zone when none is given).
fn cron_fires(schedule: &str, t: DateTime) -> bool {
    let f: Vec<&str> = schedule.split_whitespace().collect();
    assert_eq!(f.len(), 5, "{schedule}");
    let matches = |field: &str, v: i64| {
        field == "*" || field.split(',').any(|x| x.parse::<i64>().unwrap() == v)
    };
    let dow = i64::from(t.weekday().to_sunday_zero_offset());
    matches(f[0], i64::from(t.minute()))
        && matches(f[1], i64::from(t.hour()))
        && matches(f[2], i64::from(t.day()))
        && matches(f[3], i64::from(t.month()))
        && (matches(f[4], dow) || (dow == 0 && matches(f[4], 7)))
        && t.second() == 0
}

/// Every instant the CronJob fires from `from` to `to`, inclusive.
fn cron_firings(schedule: &str, from: DateTime, to: DateTime) -> Vec<DateTime> {
    let mut t = from;
    let mut out = Vec::new();
    while t <= to {
        if cron_fires(schedule, t) {
            out.push(t);
        }
        t = t.checked_add(1.minute()).unwrap();
    }
    out
}

#[derive(Debug, Clone, Copy)]
enum Cadence {
    Daily,
    Weekly,
    Monthly,
}

#[test]
fn timers_and_cronjobs_keep_the_platforms_cadences_at_the_same_instants() {
    for (unit, cadence) in [
        ("pgops-backup", Cadence::Daily),
        ("pgops-verify", Cadence::Weekly),
        ("pgops-verify-remote", Cadence::Weekly),
        ("pgops-drill", Cadence::Monthly),
        ("pgops-rotate", Cadence::Daily),
        ("pgops-copy", Cadence::Daily),
    ] {
        let at = timer_elapses(unit, 4);
        for w in at.windows(2) {
            let gap = w[0].duration_until(w[1]).as_secs() as f64 / 3600.0;
            let ok = match cadence {
                Cadence::Daily => gap == 24.0,
                Cadence::Weekly => gap == 168.0,
                Cadence::Monthly => {
                    (28.0 * 24.0..=31.0 * 24.0).contains(&gap) && w[0].day() == w[1].day()
                }
            };
            assert!(ok, "{unit} ({cadence:?}): {} then {}", w[0], w[1]);
        }
        let schedule = cron_schedule(unit);
        assert_eq!(
            cron_firings(&schedule, at[0], at[3]),
            at,
            "the CronJob {unit} ({schedule}) fires when the timer does"
        );
    }
    // The order of a night: the backup, then its copy off-site, then retention.
    let first = |u| timer_elapses(u, 1)[0].time();
    assert!(first("pgops-backup") < first("pgops-copy"));
    assert!(first("pgops-copy") < first("pgops-rotate"));
}

#[test]
fn retention_passes_the_same_rules_everywhere_and_keeps_30_days_off_site() {
    let unit = read("scripts/systemd/pgops-rotate.service");
    let cron = read("scripts/kubernetes/base/cronjobs.yaml");
    const TOOL: &str = "backup-rotate ";
    let args = |text: &str| -> Vec<String> {
        // Every backup-rotate invocation's options, as written.
        text.match_indices(TOOL)
            .map(|(i, _)| {
                let rest = &text[i + TOOL.len()..];
                let end = rest.find(['|', '&', '\n', ';']).unwrap_or(rest.len());
                // The same words, whether quoted for systemd (`$$r`) or inside YAML (`\"`).
                rest[..end]
                    .replace("$$", "$")
                    .replace(['\\', '"'], "")
                    .trim()
                    .to_string()
            })
            .collect()
    };
    let from_unit = args(&unit);
    let from_cron = args(&cron);
    assert_eq!(from_unit.len(), 2, "{from_unit:?}");
    assert_eq!(
        from_unit, from_cron,
        "the unit and the CronJob apply the same rules"
    );
    let remote = &from_unit[1];
    assert!(remote.contains("--keep-within 30d"), "{remote}");
    assert!(from_unit[0].contains("--min-keep"), "{}", from_unit[0]);
}
