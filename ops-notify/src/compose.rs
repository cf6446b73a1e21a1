//! Messages from facts (pure): what a unit's run proved or why it failed, which promises
//! broke or are kept again, the digest. The facts are what the tools recorded (the run
//! history, the catalog) and the health verdict of ops-health, never a tool's stdout.

use crate::message::{age, runbook, Kind, Message, MESSAGE_VERSION};
use jiff::Timestamp;
use ops_health::health::{Component, Overall, State};
use ops_health::model::Snapshot;
use serde::Serialize;

/// Where and when a message is composed.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub host: String,
    pub at: Timestamp,
    pub runbook_base: String,
}

impl Ctx {
    fn message(&self, kind: Kind, subject: String, summary: String, text: String) -> Message {
        Message {
            v: MESSAGE_VERSION,
            kind,
            host: self.host.clone(),
            at: self.at.to_string(),
            subject,
            summary,
            text,
            code: None,
            runbook: None,
            facts: serde_json::Value::Null,
        }
    }
}

/// One tool's run, from its `run.finished` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunLine {
    pub tool: String,
    pub result: String,
    pub exit_code: Option<i64>,
    /// The run in words (the line's own `message`).
    pub words: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The items it did not do, and why (pgdump-run's sets not taken: database, code).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<(String, String)>,
}

impl RunLine {
    /// The run of a `run.finished` event line (`None`: not one).
    pub fn of(v: &serde_json::Value) -> Option<RunLine> {
        if v["event"] != ops_core::event_names::RUN_FINISHED {
            return None;
        }
        Some(RunLine {
            tool: v["source"].as_str()?.to_string(),
            result: v["result"].as_str().unwrap_or("?").to_string(),
            exit_code: v["exit_code"].as_i64(),
            words: v["message"].as_str().unwrap_or("").to_string(),
            error_code: v["error"]["code"].as_str().map(String::from),
            error: v["error"]["message"].as_str().map(String::from),
            failed: v["failed"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| Some((f["database"].as_str()?.into(), f["code"].as_str()?.into())))
                .collect(),
        })
    }
}

/// What a unit's run did: systemd's verdict and the runs of its tools.
#[derive(Debug, Clone, Serialize)]
pub struct UnitFacts {
    pub unit: String,
    pub succeeded: bool,
    /// systemd's result (`success`, `exit-code`, `timeout`, `signal`…).
    pub service_result: Option<String>,
    pub exit_status: Option<String>,
    pub invocation_id: Option<String>,
    pub runs: Vec<RunLine>,
}

/// The runbook page of a tool's failure.
fn tool_runbook(tool: &str) -> &'static str {
    match tool {
        "pgdump-run" | "backup-verify" => "backup.md#when-it-fails",
        "restore-drill" => "restore-drill-postgres.md",
        "backup-restore" => "restore.md",
        "backup-copy" => "disaster-recovery.md",
        "port-audit" => "incident-alerts.md#pgopsexposureviolation",
        _ => "incident-alerts.md#pgopsunitfailed",
    }
}

/// The runbook section of a broken promise (the alert of the same meaning).
pub fn component_runbook(name: &str) -> &'static str {
    match name {
        "backup_fresh" => "incident-alerts.md#pgopsbackupstale",
        "verify_passed" => "incident-alerts.md#pgopsverifyfailed",
        "offsite_fresh" => "incident-alerts.md#pgopsoffsitestale",
        "drill_within_rto" => "incident-alerts.md#pgopsdrillfailed",
        "port_audit_clean" => "incident-alerts.md#pgopsexposureviolation",
        "rpo_within_target" => "incident-alerts.md#pgopsrpoovertarget",
        "restorable_into_own_major" => "restore.md",
        _ => "backup.md#when-it-fails",
    }
}

/// What is proven now, one line per database: the newest good set and its age, the
/// verification, the newest off-site copy, the last drill.
pub fn proof_lines(s: &Snapshot, now: Timestamp) -> Vec<String> {
    let since = |t: Timestamp| age(now.duration_since(t).as_secs());
    s.databases
        .iter()
        .map(|d| {
            let mut parts = vec![match &d.newest_good {
                Some(g) => format!("newest good set {} ({} old)", g.id, since(g.started)),
                None => "no set has passed verification".into(),
            }];
            if let Some((passed, at)) = d.last_verify {
                parts.push(format!(
                    "last verification {} {} ago",
                    if passed { "passed" } else { "FAILED" },
                    since(at)
                ));
            }
            match d.offsite.iter().max_by_key(|(_, (_, at))| *at) {
                Some((dest, (id, at))) => parts.push(format!(
                    "off-site {id} at {dest} confirmed {} ago",
                    since(*at)
                )),
                None => parts.push("no off-site copy".into()),
            }
            if let Some(r) = &d.last_drill {
                parts.push(format!(
                    "last drill {} {} ago: RTO {:.1} s, RPO {}",
                    if r.completed { "passed" } else { "FAILED" },
                    since(r.finished_at),
                    r.rto_ms as f64 / 1000.0,
                    age(r.rpo_s)
                ));
            }
            if d.retired.is_some() {
                parts.push("retired".into());
            }
            format!("{}: {}", d.label, parts.join("; "))
        })
        .collect()
}

fn state_word(s: State) -> &'static str {
    match s {
        State::Ready => "ready",
        State::NotReady => "NOT READY",
        State::Unknown => "cannot tell",
    }
}

fn overall_word(o: Overall) -> &'static str {
    match o {
        Overall::Healthy => "healthy",
        Overall::Degraded => "DEGRADED",
        Overall::Unknown => "cannot tell",
    }
}

/// The health verdict as lines: every component, the reasons of those not ready.
pub fn health_lines(overall: Overall, components: &[Component]) -> Vec<String> {
    let mut out = vec![format!("Health: {}", overall_word(overall))];
    for c in components {
        out.push(format!("  {}: {}", c.name, state_word(c.state)));
        for r in &c.reasons {
            out.push(format!("    - {r}"));
        }
    }
    out
}

/// What every message ends with: the proof of each database under `heading` (when the
/// catalog was read), then every promise's state.
fn verdict_lines(
    snapshot: Option<&Snapshot>,
    overall: Overall,
    all: &[Component],
    heading: &str,
    ctx: &Ctx,
) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(s) = snapshot {
        out.push(heading.to_string());
        out.extend(proof_lines(s, ctx.at).into_iter().map(|l| format!("  {l}")));
        out.push(String::new());
    }
    out.extend(health_lines(overall, all));
    out
}

/// The verdict and snapshot a unit message shows after its runs (`None`: the catalog
/// could not be read, or none was named).
pub type Verdict<'a> = Option<(Overall, &'a [Component], &'a Snapshot)>;

/// A unit's run: its failure (with the error code and the runbook), or what it proved.
pub fn unit(u: &UnitFacts, verdict: Verdict<'_>, ctx: &Ctx) -> Message {
    let failed_run = u.runs.iter().find(|r| r.result != "ok");
    let (kind, subject) = unit_subject(u, failed_run, verdict, ctx);
    let runbook_page = (!u.succeeded).then(|| {
        runbook(
            &ctx.runbook_base,
            tool_runbook(failed_run.map(|r| r.tool.as_str()).unwrap_or("")),
        )
    });
    let code = failed_run.and_then(|r| {
        r.error_code
            .clone()
            .or_else(|| r.failed.first().map(|(_, c)| c.clone()))
    });
    let mut text = unit_runs(u, ctx);
    if let Some(page) = &runbook_page {
        text.push(String::new());
        if let Some(c) = &code {
            text.push(format!("Error code: {c} (docs/errors.md lists every code)"));
        }
        text.push(format!("Runbook: {page}"));
    }
    if let Some((overall, components, s)) = verdict {
        text.push(String::new());
        text.extend(verdict_lines(
            Some(s),
            overall,
            components,
            "What is proven now:",
            ctx,
        ));
    }
    text.push(String::new());
    text.push(format!(
        "journalctl -u {} shows every event of the run.",
        u.unit
    ));
    // Chat: the subject and the failed run, or every run of a success.
    let shown: Vec<&RunLine> = match failed_run {
        Some(r) => vec![r],
        None => u.runs.iter().collect(),
    };
    let summary = std::iter::once(subject_words(&subject))
        .chain(shown.iter().map(|r| format!("{}: {}", r.tool, r.words)))
        .collect::<Vec<_>>()
        .join("\n");
    let mut m = ctx.message(kind, subject, summary, text.join("\n"));
    m.code = code;
    m.runbook = runbook_page;
    m.facts = serde_json::json!({ "unit": u });
    m
}

/// What a unit's message is about: proven (the newest good set) or failed (the tool and
/// its error code, or systemd's word when no tool ran).
fn unit_subject(
    u: &UnitFacts,
    failed_run: Option<&RunLine>,
    verdict: Verdict<'_>,
    ctx: &Ctx,
) -> (Kind, String) {
    if u.succeeded {
        let dbs = verdict.map(|(_, _, s)| s.databases.len()).unwrap_or(0);
        let subject = match verdict.and_then(|(_, _, s)| newest_good(s)) {
            Some((label, id)) => format!(
                "[pgops] {} on {}: proven, {dbs} database(s), newest good set {label} {id}",
                u.unit, ctx.host
            ),
            None => format!("[pgops] {} on {}: succeeded", u.unit, ctx.host),
        };
        return (Kind::Proven, subject);
    }
    let what = match failed_run {
        Some(r) => match (&r.error_code, r.failed.as_slice()) {
            (Some(code), _) => format!("{} {code}", r.tool),
            (None, [(db, code), rest @ ..]) => format!(
                "{} {code} ({db}{})",
                r.tool,
                match rest.len() {
                    0 => String::new(),
                    n => format!(" and {n} more"),
                }
            ),
            (None, []) => format!("{} {}", r.tool, r.result),
        },
        None => u
            .service_result
            .clone()
            .unwrap_or_else(|| "failed before any tool ran".into()),
    };
    (
        Kind::Failure,
        format!("[pgops] {} FAILED on {}: {what}", u.unit, ctx.host),
    )
}

/// The first lines of a unit's message: how it ended, and what each of its tools did.
fn unit_runs(u: &UnitFacts, ctx: &Ctx) -> Vec<String> {
    let systemd = match (&u.service_result, &u.exit_status) {
        (Some(r), Some(s)) => format!(" (systemd: {r}, exit status {s})"),
        (Some(r), None) => format!(" (systemd: {r})"),
        (None, Some(s)) => format!(" (exit status {s})"),
        (None, None) => String::new(),
    };
    let ended = if u.succeeded { "succeeded" } else { "FAILED" };
    let mut text = vec![
        format!("{} {ended} on {} at {}{systemd}.", u.unit, ctx.host, ctx.at),
        String::new(),
    ];
    if u.runs.is_empty() {
        text.push(format!("No tool recorded a run for it (the unit failed before its tool ran, or no state directory is set): see journalctl -u {}.", u.unit));
        return text;
    }
    text.push("What ran:".into());
    for r in &u.runs {
        text.push(format!("  {}: {}", r.tool, r.words));
        if let (Some(c), Some(m)) = (&r.error_code, &r.error) {
            text.push(format!("    error {c}: {m}"));
        }
        for (db, code) in &r.failed {
            text.push(format!("    {db}: not taken ({code})"));
        }
    }
    text
}

/// The subject without its `[pgops] ` tag, for chat (which shows who sent it).
fn subject_words(subject: &str) -> String {
    subject.trim_start_matches("[pgops] ").to_string()
}

fn newest_good(s: &Snapshot) -> Option<(String, String)> {
    s.databases
        .iter()
        .filter_map(|d| d.newest_good.as_ref().map(|g| (d.label.clone(), g.clone())))
        .max_by_key(|(_, g)| g.started)
        .map(|(label, g)| (label, g.id))
}

/// What changed in one component since the operator was last told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub component: String,
    pub what: ChangeKind,
    pub reasons: Vec<String>,
    /// How often its state changed since the operator was last told (a flapping
    /// component is summarised, not sent every time).
    pub flips: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A promise broke.
    Broke,
    /// It is still broken, for other reasons.
    Changed,
    /// It is still broken, unchanged, and `--repeat` has passed.
    Reminder,
    /// It is kept again.
    Recovered,
}

/// One message for every change a watch found: a failure when anything is (still)
/// broken, a recovery when everything that changed is kept again.
pub fn changes(
    changed: &[Change],
    overall: Overall,
    all: &[Component],
    snapshot: Option<&Snapshot>,
    ctx: &Ctx,
) -> Message {
    let first_bad = changed.iter().find(|c| c.what != ChangeKind::Recovered);
    let kind = match first_bad {
        Some(_) => Kind::Failure,
        None => Kind::Recovery,
    };
    let about = match changed {
        [one] => change_words(one),
        many => many
            .iter()
            .map(|c| format!("{} {}", c.component, short(c.what)))
            .collect::<Vec<_>>()
            .join(", "),
    };
    let subject = format!("[pgops] {} on {}: {about}", kind_word(kind), ctx.host);
    let mut text = vec![
        format!("pgops on {} at {}:", ctx.host, ctx.at),
        String::new(),
    ];
    for c in changed {
        text.extend(change_lines(c, ctx));
    }
    text.push(String::new());
    text.extend(verdict_lines(
        snapshot,
        overall,
        all,
        "What is proven now:",
        ctx,
    ));
    let summary = std::iter::once(subject_words(&subject))
        .chain(
            changed
                .iter()
                .flat_map(|c| c.reasons.iter().take(3).map(|r| format!("- {r}"))),
        )
        .collect::<Vec<_>>()
        .join("\n");
    let mut m = ctx.message(kind, subject, summary, text.join("\n"));
    m.runbook = first_bad.map(|c| runbook(&ctx.runbook_base, component_runbook(&c.component)));
    m.code = first_bad.map(|c| c.component.clone());
    m.facts = serde_json::json!({
        "changes": changed,
        "health": health_facts(overall, all),
    });
    m
}

/// `backup_fresh broken: shop: …` — the component, what happened, its first reason.
fn change_words(c: &Change) -> String {
    let what = match c.what {
        ChangeKind::Broke => "broken",
        ChangeKind::Changed => "still broken (changed)",
        ChangeKind::Reminder => "still broken",
        ChangeKind::Recovered => "kept again",
    };
    let first = c
        .reasons
        .first()
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    format!("{} {what}{first}", c.component)
}

/// One change in the body: its words, its other reasons, its flips, its runbook.
fn change_lines(c: &Change, ctx: &Ctx) -> Vec<String> {
    let mut out = vec![format!("* {}", change_words(c))];
    out.extend(c.reasons.iter().skip(1).map(|r| format!("    - {r}")));
    if c.flips > 1 {
        out.push(format!(
            "    (it changed {} times since you were last told)",
            c.flips
        ));
    }
    if c.what != ChangeKind::Recovered {
        out.push(format!(
            "    Runbook: {}",
            runbook(&ctx.runbook_base, component_runbook(&c.component))
        ));
    }
    out
}

fn kind_word(k: Kind) -> &'static str {
    match k {
        Kind::Failure => "BROKEN",
        Kind::Recovery => "recovered",
        _ => "pgops",
    }
}

fn short(c: ChangeKind) -> &'static str {
    match c {
        ChangeKind::Broke => "broken",
        ChangeKind::Changed => "changed",
        ChangeKind::Reminder => "still broken",
        ChangeKind::Recovered => "kept again",
    }
}

fn health_facts(overall: Overall, all: &[Component]) -> serde_json::Value {
    let doc = ops_health::health::document(overall, all, Timestamp::UNIX_EPOCH);
    serde_json::json!({"status": doc["status"], "components": doc["components"]})
}

/// The digest: the verdict and the proof of every database, whatever changed.
pub fn digest(
    overall: Overall,
    all: &[Component],
    snapshot: Option<&Snapshot>,
    period: &str,
    ctx: &Ctx,
) -> Message {
    let broken: Vec<&Component> = all.iter().filter(|c| c.state == State::NotReady).collect();
    let subject = format!(
        "[pgops] {period} digest for {}: {}{}",
        ctx.host,
        overall_word(overall),
        match broken.len() {
            0 => String::new(),
            n => format!(
                " ({n} broken: {})",
                broken.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
            ),
        }
    );
    let mut text = vec![
        format!("pgops on {} at {}.", ctx.host, ctx.at),
        String::new(),
    ];
    text.extend(verdict_lines(
        snapshot,
        overall,
        all,
        "What is proven:",
        ctx,
    ));
    let summary = std::iter::once(subject_words(&subject))
        .chain(snapshot.into_iter().flat_map(|s| proof_lines(s, ctx.at)))
        .collect::<Vec<_>>()
        .join("\n");
    let mut m = ctx.message(Kind::Digest, subject, summary, text.join("\n"));
    m.facts = serde_json::json!({ "health": health_facts(overall, all), "period": period });
    m
}

/// `ops-notify test`: proves a target is reachable and configured.
pub fn test(ctx: &Ctx) -> Message {
    let subject = format!("[pgops] test message from {}", ctx.host);
    let text = format!(
        "This is a test of pgops' notifications from {} at {}: this target is configured and reachable.",
        ctx.host, ctx.at
    );
    ctx.message(Kind::Test, subject, text.clone(), text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ops_health::health::{evaluate, Policy};
    use ops_health::model::fixtures::{one_app, t};

    fn ctx() -> Ctx {
        Ctx {
            host: "db1".into(),
            at: t("2026-11-24T00:00:00Z"),
            runbook_base: "file:///doc/".into(),
        }
    }

    fn run(tool: &str, result: &str, code: Option<&str>) -> RunLine {
        RunLine {
            tool: tool.into(),
            result: result.into(),
            exit_code: Some(if result == "ok" { 0 } else { 1 }),
            words: format!("{tool} {result} in 1.0 s"),
            error_code: code.map(String::from),
            error: code.map(|c| format!("what {c} means")),
            failed: Vec::new(),
        }
    }

    #[test]
    fn a_failed_unit_says_what_failed_its_code_and_runbook() {
        let u = UnitFacts {
            unit: "pgops-backup.service".into(),
            succeeded: false,
            service_result: Some("exit-code".into()),
            exit_status: Some("1".into()),
            invocation_id: None,
            runs: vec![
                run("pgdump-run", "failed", Some("backup_failed")),
                run("backup-verify", "ok", None),
            ],
        };
        let s = one_app(9000);
        let (o, c) = evaluate(&s, &Policy::default(), s.taken_at);
        let m = unit(&u, Some((o, &c, &s)), &ctx());
        assert_eq!(m.kind, Kind::Failure);
        assert_eq!(
            m.subject,
            "[pgops] pgops-backup.service FAILED on db1: pgdump-run backup_failed"
        );
        assert_eq!(m.code.as_deref(), Some("backup_failed"));
        assert_eq!(
            m.runbook.as_deref(),
            Some("file:///doc/backup.md#when-it-fails")
        );
        assert!(
            m.text
                .contains("error backup_failed: what backup_failed means"),
            "{}",
            m.text
        );
        assert!(
            m.text
                .contains("app: newest good set 20261123T030000Z (21 h old)"),
            "{}",
            m.text
        );
        assert!(m.summary.starts_with("pgops-backup.service FAILED"));
        let ok = UnitFacts {
            succeeded: true,
            runs: vec![run("pgdump-run", "ok", None)],
            ..u
        };
        let m = unit(&ok, Some((o, &c, &s)), &ctx());
        assert_eq!(m.kind, Kind::Proven);
        assert!(
            m.subject
                .contains("proven, 1 database(s), newest good set app 20261123T030000Z"),
            "{}",
            m.subject
        );
        assert!(m.runbook.is_none() && m.code.is_none());
    }

    #[test]
    fn a_set_not_taken_is_named_with_its_database() {
        let mut dump = run("pgdump-run", "failed", None);
        dump.failed = vec![
            ("shop".into(), "pg_dump_failed".into()),
            ("crm".into(), "disk_full".into()),
        ];
        let u = UnitFacts {
            unit: "pgops-backup.service".into(),
            succeeded: false,
            service_result: Some("exit-code".into()),
            exit_status: Some("1".into()),
            invocation_id: None,
            runs: vec![dump],
        };
        let m = unit(&u, None, &ctx());
        assert_eq!(
            m.subject,
            "[pgops] pgops-backup.service FAILED on db1: pgdump-run pg_dump_failed (shop and 1 more)"
        );
        assert_eq!(m.code.as_deref(), Some("pg_dump_failed"));
        assert!(
            m.text.contains("    crm: not taken (disk_full)"),
            "{}",
            m.text
        );
        let line = serde_json::json!({"event": "run.finished", "source": "pgdump-run", "result": "failed",
            "failed": [{"database": "shop", "code": "pg_dump_failed"}]});
        assert_eq!(
            RunLine::of(&line).unwrap().failed,
            [("shop".to_string(), "pg_dump_failed".to_string())]
        );
    }

    #[test]
    fn changes_become_one_message() {
        let c = |n: &str, what, r: &str| Change {
            component: n.into(),
            what,
            reasons: vec![r.into()],
            flips: 1,
        };
        let s = one_app(9000);
        let (o, all) = evaluate(&s, &Policy::default(), s.taken_at);
        let m = changes(
            &[c("backup_fresh", ChangeKind::Broke, "app: too old")],
            o,
            &all,
            Some(&s),
            &ctx(),
        );
        assert_eq!(m.kind, Kind::Failure);
        assert_eq!(
            m.subject,
            "[pgops] BROKEN on db1: backup_fresh broken: app: too old"
        );
        assert_eq!(
            m.runbook.as_deref(),
            Some("file:///doc/incident-alerts.md#pgopsbackupstale")
        );
        let m = changes(
            &[
                c("backup_fresh", ChangeKind::Recovered, "x"),
                c("verify_passed", ChangeKind::Recovered, "y"),
            ],
            o,
            &all,
            None,
            &ctx(),
        );
        assert_eq!(m.kind, Kind::Recovery);
        assert_eq!(
            m.subject,
            "[pgops] recovered on db1: backup_fresh kept again, verify_passed kept again"
        );
        let d = digest(o, &all, Some(&s), "daily", &ctx());
        assert_eq!(d.kind, Kind::Digest);
        assert!(
            d.subject.starts_with("[pgops] daily digest for db1: "),
            "{}",
            d.subject
        );
        assert!(d.text.contains("last drill passed"), "{}", d.text);
    }
}
