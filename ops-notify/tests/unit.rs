//! `ops-notify unit` after a real night: pgdump-run and backup-verify against a real
//! PostgreSQL, both under one systemd invocation id; the message says what they proved
//! (or why they failed) from the lines they recorded, and the heartbeat pings follow.

mod common;
use common::*;
use testkit::receivers::{
    HttpReceiver, SmtpReceiver, SENTINEL_SMTP_PASSWORD, SENTINEL_WEBHOOK_SECRET, SMTP_USER,
};
use testkit::Cluster;

const NIGHT: &str = "0123456789abcdef0123456789abcdef";
const BAD_NIGHT: &str = "fedcba9876543210fedcba9876543210";

/// `pgops-notify@pgops-backup.service` as systemd runs it after the backup unit ended with
/// `result` and `status` (its MONITOR_* variables).
fn on_unit_end(lab: &Lab, result: &str, status: &str, invocation: &str) -> std::process::Output {
    let catalog = lab.catalog();
    let out = lab
        .cmd(&[
            "unit",
            "pgops-backup.service",
            "--no-offsite",
            "--no-audit",
            "--backup-dir",
        ])
        .arg(&catalog)
        .env("MONITOR_SERVICE_RESULT", result)
        .env("MONITOR_EXIT_STATUS", status)
        .env("MONITOR_INVOCATION_ID", invocation)
        .output()
        .unwrap();
    no_secret(&out);
    out
}

/// The last heartbeat ping the receiver got.
fn last_ping(requests: &[serde_json::Value]) -> &serde_json::Value {
    requests
        .iter()
        .rfind(|r| r["path"].as_str().unwrap().starts_with("/svc/hc/"))
        .expect("a heartbeat ping")
}

#[test]
fn a_unit_run_is_told_as_proven_or_as_failed_from_what_its_tools_recorded() {
    let c = Cluster::shared();
    let db = c.unique_db("notify");
    c.connect(&db)
        .batch_execute("CREATE TABLE orders AS SELECT g AS id FROM generate_series(1, 1000) g")
        .unwrap();
    let lab = Lab::new();
    let http = HttpReceiver::start(Some(SENTINEL_WEBHOOK_SECRET));
    let smtp = SmtpReceiver::start();
    let secret = lab.private("hook.secret", SENTINEL_WEBHOOK_SECRET);
    lab.targets(&[
        format!(
            "failure,proven=mailtos://{SMTP_USER}:{SENTINEL_SMTP_PASSWORD}@localhost:{}?to=ops@example.org&from=pgops@db1.example.org&ca_file={}",
            smtp.implicit_port,
            smtp.ca_file().display()
        ),
        format!("proven,failure=json://{}?secret_file={}", http.url("/svc/json/unit"), secret.display()),
        format!("hc+http://{}", http.url("/svc/hc/night")),
    ]);
    let catalog = lab.catalog();
    let tool = |name: &str, invocation: &str| {
        let mut cmd = c.tool(name);
        cmd.env("PGOPS_STATE_DIR", lab.state())
            .env("PGOPS_BACKUP_DIR", &catalog)
            .env("INVOCATION_ID", invocation);
        cmd
    };
    // ExecStartPre=-ops-notify ping start
    let out = lab
        .cmd(&["ping", "start"])
        .env("INVOCATION_ID", NIGHT)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0);
    let hc = http.requests();
    assert_eq!(hc[0]["path"], "/svc/hc/night/start");
    assert_eq!(
        hc[0]["query"]["rid"][0],
        "01234567-89ab-cdef-0123-456789abcdef"
    );

    // The night: pgdump-run | backup-verify -, one invocation.
    let mut dump = tool("pgdump-run", NIGHT);
    dump.args(["-d", &db, "--no-globals"]);
    let mut verify = tool("backup-verify", NIGHT);
    verify.args(["-", "--forward"]);
    let out = testkit::pipe(dump, verify);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // OnSuccess=pgops-notify@pgops-backup.service.service
    let out = on_unit_end(&lab, "success", "0", NIGHT);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stdout));
    let got = messages(&http.requests());
    let proven = &got[0];
    assert_eq!(proven["kind"], "proven");
    let subject = proven["subject"].as_str().unwrap();
    assert!(subject.contains("pgops-backup.service on "), "{subject}");
    assert!(
        subject.contains(&format!("proven, 1 database(s), newest good set {db} ")),
        "{subject}"
    );
    let runs = proven["facts"]["unit"]["runs"].as_array().unwrap();
    let tools: Vec<&str> = runs.iter().map(|r| r["tool"].as_str().unwrap()).collect();
    assert_eq!(
        tools,
        ["pgdump-run", "backup-verify"],
        "exactly this night's runs"
    );
    let text = proven["text"].as_str().unwrap();
    assert!(
        text.contains("What ran:\n  pgdump-run: ") && text.contains("\n  backup-verify: "),
        "{text}"
    );
    assert!(text.contains(&format!("{db}: newest good set ")), "{text}");
    // What the verification proved, from its run.finished: the table and its rows.
    assert!(
        text.contains("1 tables counted, 1000 rows counted"),
        "{text}"
    );
    let hc = http.requests();
    let end = last_ping(&hc);
    assert_eq!(end["path"], "/svc/hc/night", "success: the check's own URL");

    // A failing night: a database that does not exist.
    let out = tool("pgdump-run", BAD_NIGHT)
        .args(["-d", "no_such_database_for_notify", "--no-globals"])
        .output()
        .unwrap();
    let exit = out.status.code().unwrap();
    assert_ne!(exit, 0);
    on_unit_end(&lab, "exit-code", &exit.to_string(), BAD_NIGHT);
    let got = messages(&http.requests());
    let failed = got.last().unwrap();
    assert_eq!(failed["kind"], "failure");
    let subject = failed["subject"].as_str().unwrap();
    assert!(
        subject.contains("pgops-backup.service FAILED on ") && subject.contains(": pgdump-run "),
        "{subject}"
    );
    let code = failed["code"]
        .as_str()
        .expect("the run's error code, from its run.finished");
    assert!(
        subject.ends_with(&format!("pgdump-run {code}")),
        "{subject}"
    );
    let text = failed["text"].as_str().unwrap();
    assert!(text.contains(&format!("Error code: {code}")), "{text}");
    assert!(
        text.contains("Runbook: file:///usr/share/doc/pgops/runbooks/backup.md#when-it-fails"),
        "{text}"
    );
    assert!(
        text.contains(&format!("(systemd: exit-code, exit status {exit})")),
        "{text}"
    );
    let hc = http.requests();
    let end = last_ping(&hc);
    assert_eq!(
        end["path"],
        format!("/svc/hc/night/{exit}"),
        "healthchecks' /<exit status>"
    );
    assert_eq!(
        end["query"]["rid"][0],
        "fedcba98-7654-3210-fedc-ba9876543210"
    );

    // By mail, as a person reads them.
    let mails = smtp.wait_for_mails(2, std::time::Duration::from_secs(10));
    assert_eq!(mails.len(), 2);
    assert!(mails[1]["data"].as_str().unwrap().contains("FAILED"));
    if let Ok(dir) = std::env::var("PGOPS_NOTIFY_SAMPLES") {
        for (i, m) in mails.iter().enumerate() {
            std::fs::write(
                format!("{dir}/unit-mail-{i}.eml"),
                m["data"].as_str().unwrap(),
            )
            .unwrap();
        }
        let pings: Vec<String> = hc
            .iter()
            .filter(|r| r["path"].as_str().unwrap().starts_with("/svc/hc/"))
            .map(|r| {
                format!(
                    "{} {} ?{} body: {}",
                    r["method"], r["path"], r["query"], r["body"]
                )
            })
            .collect();
        std::fs::write(format!("{dir}/heartbeat.txt"), pings.join("\n")).unwrap();
    }
    lab.assert_state_holds_no_secret();
}
