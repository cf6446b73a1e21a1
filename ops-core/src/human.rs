//! Words for people next to the JSON for machines (#13): on stderr, one readable line per
//! warning or error (what happened, to what, what to do) and a short summary at the end of
//! each run. stdout stays JSON lines, always.
//!
//! When: on a terminal, or with `--human`; never with `-q`. Under systemd (`JOURNAL_STREAM`
//! set: stderr is the journal) the lines carry syslog priority prefixes (`<3>` error, `<4>`
//! warning, `<6>` the summary), which journald turns into priorities with the default
//! `SyslogLevelPrefix=yes`, so `journalctl -p err` finds every failure.
//!
//! Deciding and rendering are pure; the emitter writes.

use crate::severity::Severity;
use serde_json::Value;
use std::sync::OnceLock;

/// Where the words go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Off,
    /// Plain lines (a terminal, `--human`).
    Terminal,
    /// Lines with `<N>` priority prefixes (stderr is the journal).
    Journal,
}

/// `--human` and `-q`, flattened into every tool's command line.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct HumanArgs {
    /// Readable lines on stderr (each warning and error, and a summary) even when stderr
    /// is not a terminal. stdout stays JSON lines.
    #[arg(long, global = true, conflicts_with = "quiet")]
    pub human: bool,
    /// No readable lines on stderr, even on a terminal (stdout stays JSON lines).
    #[arg(short = 'q', long, global = true)]
    pub quiet: bool,
}

/// The mode for these flags and this process's stderr (pure).
pub fn decide(human: bool, quiet: bool, stderr_is_terminal: bool, journal: bool) -> Mode {
    match (quiet, human, journal, stderr_is_terminal) {
        (true, _, _, _) => Mode::Off,
        (false, _, true, _) => Mode::Journal,
        (false, true, false, _) | (false, false, false, true) => Mode::Terminal,
        _ => Mode::Off,
    }
}

static MODE: OnceLock<Mode> = OnceLock::new();

/// Sets this process's mode from the flags (once, after parsing the command line).
pub fn init(args: &HumanArgs) {
    let mode = decide(
        args.human,
        args.quiet,
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
        std::env::var_os("JOURNAL_STREAM").is_some(),
    );
    let _ = MODE.set(mode);
}

/// This process's mode (`Off` until [`init`]: library users and tests stay silent).
pub fn mode() -> Mode {
    *MODE.get().unwrap_or(&Mode::Off)
}

/// The width of the terminal on stdout (`COLUMNS` when set, else the terminal's own; `None`
/// when stdout is not one): tables wrap their cells to fit it.
pub fn terminal_width() -> Option<u16> {
    if let Some(c) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        return Some(c);
    }
    // SAFETY: TIOCGWINSZ writes one winsize into the struct given; stdout's fd is valid.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (rc == 0 && ws.ws_col > 0).then_some(ws.ws_col)
}

/// What to do about an error, by its stable code (the long form is in docs/errors.md).
pub fn advice(code: &str) -> Option<&'static str> {
    Some(match code {
        "connect_failed" => "check that the server runs and PGHOST/PGPORT/PGUSER point at it",
        "auth_failed" => "check the password in ~/.pgpass (or PGPASSFILE) for this user",
        "lock_busy" => "another pgops run holds the catalog: wait, or raise --lock-timeout",
        "disk_full" => "free space (backup-rotate), then run again",
        "backup_dir_missing" => "pass --backup-dir or set PGOPS_BACKUP_DIR",
        "catalog_missing" => "check the path, or create the catalog with a first backup",
        "nothing_checked" => "there is no backup set there yet: take one first",
        "upstream_failed" | "upstream_incomplete" => {
            "fix the run that produced these events first; its own error is above"
        }
        "version_mismatch" => "install a pg_dump at least as new as the server (PGOPS_PG_BIN_DIRS)",
        "tls_failed" | "tls_config" => "check sslmode and the certificates (docs/errors.md)",
        "pg_dump_failed" | "pg_restore_failed" => "pg_dump/pg_restore said why in stderr above",
        "signature_invalid" => "the set was changed or signed by another key: do not restore it",
        "public_key_required" => "pass --public-key (or PGOPS_PUBLIC_KEY) to check signatures",
        "store_denied" => "check the bucket credentials (AWS_ACCESS_KEY_ID…) and their rights",
        "store_unreachable" => "check AWS_ENDPOINT_URL and the network to the bucket",
        "timeout" => "raise --timeout, or find what made the run slow",
        _ => return None,
    })
}

fn level(severity: Severity) -> (&'static str, u8) {
    match severity {
        Severity::Debug => ("debug", 7),
        Severity::Info => ("info", 6),
        Severity::Warning => ("warning", 4),
        Severity::Error => ("error", 3),
        Severity::Critical => ("critical", 2),
    }
}

fn prefix(mode: Mode, priority: u8) -> String {
    match mode {
        Mode::Journal => format!("<{priority}>"),
        _ => String::new(),
    }
}

/// The line for an event a person should see (warnings and worse), or `None` (pure).
/// `tool: error: shop 20261125T030000Z: connect_failed: could not connect … — check that …`
pub fn line(
    mode: Mode,
    source: &str,
    severity: Severity,
    event: &str,
    payload: &Value,
) -> Option<String> {
    if mode == Mode::Off {
        return None;
    }
    // A dry run's plan, a report asked for: what the person asked to see, on a terminal.
    if event.ends_with(".planned") && severity < Severity::Warning {
        return (mode == Mode::Terminal)
            .then(|| format!("{source}: plan: {}", planned_words(event, payload)));
    }
    if event == "drill.month" {
        return (mode == Mode::Terminal).then(|| format!("{source}: {}", month_words(payload)));
    }
    if severity < Severity::Warning {
        return None;
    }
    let (word, priority) = level(severity);
    let subject: Vec<&str> = ["database", "id"]
        .iter()
        .filter_map(|k| payload[*k].as_str())
        .collect();
    // To what: the set, else the path; a run-level error is about the run itself.
    let subject = if subject.is_empty() {
        payload["path"]
            .as_str()
            .map(|p| format!("{p}: "))
            .unwrap_or_default()
    } else {
        format!("{}: ", subject.join(" "))
    };
    let code = payload["error"]["code"]
        .as_str()
        .or(payload["kind"].as_str());
    let what = payload["error"]["message"]
        .as_str()
        .or(payload["message"].as_str())
        .or(payload["reason"].as_str())
        .unwrap_or(event);
    let mut text = format!("{}{source}: {word}: {subject}", prefix(mode, priority));
    if let Some(code) = code {
        text.push_str(code);
        text.push_str(": ");
    }
    text.push_str(what.lines().next().unwrap_or(what));
    if let Some(a) = payload["error"]["code"].as_str().and_then(advice) {
        text.push_str(" — ");
        text.push_str(a);
    }
    Some(text)
}

/// One step of a dry run's plan in words (pure): `shop 20261101T030000Z: would delete
/// (no rule keeps it …)`, `shop 20261124T030001Z: would copy to s3://b/p (4.2 MiB)`.
pub fn planned_words(event: &str, p: &Value) -> String {
    let subject: Vec<&str> = ["database", "id"]
        .iter()
        .filter_map(|k| p[*k].as_str())
        .collect();
    let subject = subject.join(" ");
    let list = |v: &Value| -> String {
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|x| match x {
                        Value::String(s) => s.clone(),
                        Value::Object(o) => o
                            .values()
                            .filter_map(|v| v.as_str())
                            .collect::<Vec<_>>()
                            .join(" "),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default()
    };
    let what = match event {
        "rotate.planned" => format!("would delete ({})", list(&p["reasons"])),
        "copy.planned" => format!(
            "would copy to {}{}",
            p["destination"].as_str().unwrap_or("?"),
            p["bytes"]
                .as_u64()
                .map(|b| format!(" ({})", bytes(b)))
                .unwrap_or_default()
        ),
        "restore.planned" => {
            let mut w = format!(
                "would restore into {}: {}",
                p["target"].as_str().unwrap_or("?"),
                list(&p["steps"])
            );
            if let Some(k) = p["kept_as"].as_str() {
                w.push_str(&format!("; the old database kept as {k}"));
            }
            if let Some(n) = p["sessions_to_end"].as_u64().filter(|&n| n > 0) {
                w.push_str(&format!("; ends {n} live session(s) on it"));
            }
            if let Some(r) = p["refused"]["message"].as_str() {
                w = format!("would be refused: {r}");
            }
            w
        }
        "drill.planned" => format!(
            "would drill into {} {}",
            p["target"]["kind"].as_str().unwrap_or("?"),
            p["target"]["database"].as_str().unwrap_or("")
        ),
        _ => event.to_string(),
    };
    if subject.is_empty() {
        what
    } else {
        format!("{subject}: {what}")
    }
}

/// One month of drills in words (pure): `2026-11: 4 drills, 4 passed, median RTO 8.2 s,
/// worst RTO 9.1 s, worst RPO 3h 2m, RTO +3.0% on the month before`.
pub fn month_words(p: &Value) -> String {
    let s = |ms: &Value| format!("{:.1} s", ms.as_u64().unwrap_or(0) as f64 / 1000.0);
    let mut w = format!(
        "{}: {} drills, {} passed, median RTO {}, worst RTO {}, worst RPO {}",
        p["month"].as_str().unwrap_or("?"),
        p["drills"],
        p["successes"],
        s(&p["median_rto_ms"]),
        s(&p["worst_rto_ms"]),
        crate::timefmt::human_age(p["worst_rpo_s"].as_i64().unwrap_or(0).max(0) as u64)
    );
    if let Some(t) = p["rto_trend_pct"].as_f64() {
        w.push_str(&format!(", RTO {t:+.1}% on the month before"));
    }
    w
}

/// The `message` of an event that has none of its own (pure): what it reports, about
/// what: `connect_failed: could not connect …`, `backup.completed shop 20261125T030000Z`.
pub fn describe(event: &str, payload: &Value) -> String {
    let subject: Vec<&str> = ["database", "id"]
        .iter()
        .filter_map(|k| payload[*k].as_str())
        .collect();
    let subject = subject.join(" ");
    match (
        payload["error"]["code"].as_str(),
        payload["error"]["message"].as_str(),
    ) {
        (Some(code), Some(m)) => {
            let first = m.lines().next().unwrap_or(m);
            if subject.is_empty() {
                format!("{code}: {first}")
            } else {
                format!("{subject}: {code}: {first}")
            }
        }
        _ if subject.is_empty() => event.to_string(),
        _ => format!("{event} {subject}"),
    }
}

/// A size for a person, in binary units as the progress bars write them: `4.2 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// The words of a run's summary from its `run.finished` payload (pure): `backup ok in
/// 41.2 s: 3 sets completed, 0 sets failed`. Tally fields `noun_verb: N` read as "N noun
/// verb". The same words are the line's `message` and, on stderr, the summary.
pub fn run_words(payload: &Value) -> String {
    let result = payload["result"].as_str().unwrap_or("?");
    let secs = payload["duration_ms"].as_u64().unwrap_or(0) as f64 / 1000.0;
    let skip = [
        "action",
        "actor",
        "result",
        "duration_ms",
        "exit_code",
        "dry_run",
        "message",
    ];
    let mut parts = Vec::new();
    if let Some(obj) = payload.as_object() {
        for (k, v) in obj.iter().filter(|(k, _)| !skip.contains(&k.as_str())) {
            let Some(n) = v.as_u64() else {
                if let Some(s) = v.as_str() {
                    parts.push(format!("{} {s}", k.replace('_', " ")));
                }
                continue;
            };
            parts.push(match k.split_once('_') {
                Some(("bytes", verb)) => format!("{} {verb}", bytes(n)),
                Some((noun, verb)) => format!("{n} {noun} {verb}"),
                None => format!("{n} {k}"),
            });
        }
    }
    if payload["dry_run"] == true {
        parts.push("dry run: nothing changed".into());
    }
    format!(
        "{} {result} in {secs:.1} s{}{}",
        payload["action"].as_str().unwrap_or("run"),
        if parts.is_empty() { "" } else { ": " },
        parts.join(", ")
    )
}

/// The summary line on stderr for `words` ([`run_words`]) of a run that ended `ok` or not.
pub fn summary(mode: Mode, source: &str, ok: bool, words: &str) -> Option<String> {
    if mode == Mode::Off {
        return None;
    }
    let priority = if ok { 6 } else { 3 };
    Some(format!("{}{source}: {words}", prefix(mode, priority)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn words_only_where_a_person_reads_them() {
        assert_eq!(decide(false, false, true, false), Mode::Terminal);
        assert_eq!(decide(false, false, false, false), Mode::Off, "piped");
        assert_eq!(decide(true, false, false, false), Mode::Terminal, "--human");
        assert_eq!(decide(false, true, true, false), Mode::Off, "-q");
        assert_eq!(decide(false, false, false, true), Mode::Journal, "systemd");
    }

    #[test]
    fn an_error_says_what_to_what_and_what_to_do() {
        let p = json!({"database": "shop", "error": {"code": "connect_failed",
            "message": "could not connect to server on port 5999\nmore"}});
        let l = line(
            Mode::Terminal,
            "pgdump-run",
            Severity::Error,
            "backup.failed",
            &p,
        )
        .unwrap();
        assert_eq!(
            l,
            "pgdump-run: error: shop: connect_failed: could not connect to server on port 5999 — check that the server runs and PGHOST/PGPORT/PGUSER point at it"
        );
        let j = line(
            Mode::Journal,
            "pgdump-run",
            Severity::Error,
            "backup.failed",
            &p,
        )
        .unwrap();
        assert!(j.starts_with("<3>pgdump-run: error: "));
        let run = json!({"error": {"code": "lock_busy", "message": "held"}});
        assert_eq!(
            line(Mode::Terminal, "backup-verify", Severity::Error, "run.failed", &run).unwrap(),
            "backup-verify: error: lock_busy: held — another pgops run holds the catalog: wait, or raise --lock-timeout"
        );
        assert!(line(Mode::Terminal, "x", Severity::Info, "backup.completed", &p).is_none());
        // A dry run's plan is shown, step by step.
        let plan = json!({"database": "shop", "id": "20261101T030000Z",
            "reasons": ["no rule keeps it"]});
        assert_eq!(
            line(
                Mode::Terminal,
                "backup-rotate",
                Severity::Info,
                "rotate.planned",
                &plan
            )
            .unwrap(),
            "backup-rotate: plan: shop 20261101T030000Z: would delete (no rule keeps it)"
        );
        assert!(line(Mode::Journal, "x", Severity::Info, "rotate.planned", &plan).is_none());
        let month = json!({"month": "2026-11", "drills": 4, "successes": 4, "median_rto_ms": 8200,
            "worst_rto_ms": 9100, "worst_rpo_s": 10920, "rto_trend_pct": 3.0});
        assert_eq!(
            line(Mode::Terminal, "restore-drill", Severity::Info, "drill.month", &month).unwrap(),
            "restore-drill: 2026-11: 4 drills, 4 passed, median RTO 8.2 s, worst RTO 9.1 s, worst RPO 3h 2m, RTO +3.0% on the month before"
        );
        assert!(line(Mode::Off, "x", Severity::Error, "backup.failed", &p).is_none());
    }

    #[test]
    fn every_event_gets_words() {
        assert_eq!(
            describe(
                "backup.completed",
                &json!({"database": "shop", "id": "20261125T030000Z"})
            ),
            "backup.completed shop 20261125T030000Z"
        );
        assert_eq!(
            describe(
                "run.failed",
                &json!({"error": {"code": "lock_busy", "message": "held\nmore"}})
            ),
            "lock_busy: held"
        );
        assert_eq!(describe("status.serving", &json!({})), "status.serving");
    }

    #[test]
    fn the_summary_reads_the_tally() {
        let p = json!({"action": "copy", "result": "ok", "duration_ms": 41_200, "exit_code": 0,
            "sets_copied": 3, "sets_failed": 0, "bytes_sent": 1_288_490_189u64, "dry_run": false});
        assert_eq!(
            summary(Mode::Terminal, "backup-copy", true, &run_words(&p)).unwrap(),
            "backup-copy: copy ok in 41.2 s: 3 sets copied, 0 sets failed, 1.2 GiB sent"
        );
        let failed =
            json!({"action": "backup", "result": "error", "duration_ms": 10, "exit_code": 3});
        assert_eq!(
            summary(Mode::Journal, "pgdump-run", false, &run_words(&failed)).unwrap(),
            "<3>pgdump-run: backup error in 0.0 s"
        );
    }
}
