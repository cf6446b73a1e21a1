//! The Prometheus path, end to end with the real parts: Debian's `prometheus` scrapes
//! `ops-status serve`, evaluates pgops' alert rules, and Debian's
//! `prometheus-alertmanager`, configured by `scripts/prometheus/alertmanager.yml`, mails a
//! stale backup to a real SMTP server (aiosmtpd, STARTTLS and AUTH). Intervals are short
//! (the rules' `for:` set to 0s in the test's copy) and the wait is bounded.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use testkit::receivers::{SmtpReceiver, SENTINEL_SMTP_PASSWORD, SMTP_USER};

/// A child process killed when dropped.
struct Running(Child, &'static str);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(what: &'static str, cmd: &mut Command, log: &Path) -> Running {
    let log = std::fs::File::create(log).unwrap();
    let child = cmd
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("{what} (scripts/deps.sh installs it): {e}"));
    Running(child, what)
}

fn wait_port(port: u16, r: &mut Running) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(s)) = r.0.try_wait() {
            panic!("{} exited at start: {s}", r.1);
        }
        assert!(Instant::now() < deadline, "{} did not listen", r.1);
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A verified set of `db` started `hours_ago`, copied off-site.
fn set(root: &Path, db: &str, hours_ago: i64) {
    let at = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(hours_ago);
    let id = at.strftime("%Y%m%dT%H%M%SZ").to_string();
    let path = testkit::fake::write_set(root, Some(db), &id);
    let record = serde_json::json!({"v": 1, "id": id, "database": db,
        "verified_at": at.to_string(), "verdict": "pass", "checks": [],
        "tool": {"name": "backup-verify", "version": "0"}, "correlation_id": "c"});
    std::fs::write(path.join("verify.json"), record.to_string()).unwrap();
    ops_catalog::catalog::record_offsite(&path, "s3://b/p", "seal").unwrap();
}

/// The shipped Alertmanager configuration, pointed at the test's SMTP server and its CA,
/// with short grouping.
fn alertmanager_config(smtp: &SmtpReceiver, password_file: &Path) -> String {
    let shipped = std::fs::read_to_string(
        testkit::workspace_root().join("scripts/prometheus/alertmanager.yml"),
    )
    .unwrap();
    let replace = |text: String, from: &str, to: &str| {
        assert!(
            text.contains(from),
            "alertmanager.yml no longer has {from:?}"
        );
        text.replace(from, to)
    };
    let mut c = shipped;
    c = replace(
        c,
        "'smtp.example.org:587'",
        &format!("'localhost:{}'", smtp.starttls_port),
    );
    c = replace(
        c,
        "smtp_auth_username: 'pgops-alerts@example.org'",
        &format!("smtp_auth_username: '{SMTP_USER}'"),
    );
    c = replace(
        c,
        "'/etc/prometheus/alertmanager-smtp.password'",
        &format!("'{}'", password_file.display()),
    );
    c = replace(c, "group_wait: 30s", "group_wait: 1s");
    c = replace(c, "group_interval: 5m", "group_interval: 1s");
    c = replace(
        c,
        "      - to: 'ops@example.org'\n",
        &format!(
            "      - to: 'ops@example.org'\n        tls_config:\n          ca_file: '{}'\n          server_name: localhost\n",
            smtp.ca_file().display()
        ),
    );
    c
}

#[test]
fn a_stale_backup_reaches_a_mailbox_through_prometheus_and_alertmanager() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (catalog, state) = (d.join("catalog"), d.join("state"));
    std::fs::create_dir_all(&catalog).unwrap();
    std::fs::create_dir_all(&state).unwrap();
    // The newest good set of shop is 30 hours old: PgopsBackupStale.
    set(&catalog, "shop", 30);
    let smtp = SmtpReceiver::start();

    let status_port = testkit::free_port();
    let mut status = start(
        "ops-status serve",
        Command::new(env!("CARGO_BIN_EXE_ops-status"))
            .args(["serve", "--listen", &format!("127.0.0.1:{status_port}")])
            .args(["--no-postgres-check", "--refresh", "1s", "--backup-dir"])
            .arg(&catalog)
            .arg("--state-dir")
            .arg(&state)
            .env_remove("PGOPS_BACKUP_DIR"),
        &d.join("status.log"),
    );
    wait_port(status_port, &mut status);

    let password = d.join("smtp.password");
    std::fs::write(&password, SENTINEL_SMTP_PASSWORD).unwrap();
    let am_config = d.join("alertmanager.yml");
    std::fs::write(&am_config, alertmanager_config(&smtp, &password)).unwrap();
    let checked = Command::new("amtool")
        .args(["check-config"])
        .arg(&am_config)
        .output()
        .expect("amtool (prometheus-alertmanager)");
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stdout)
    );
    let am_port = testkit::free_port();
    let mut am = start(
        "prometheus-alertmanager",
        Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", am_config.display()))
            .arg(format!("--storage.path={}", d.join("am").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
            .arg("--cluster.listen-address="),
        &d.join("alertmanager.log"),
    );
    wait_port(am_port, &mut am);

    // The shipped rules, waiting 0 s instead of their `for:`.
    let rules = std::fs::read_to_string(
        testkit::workspace_root().join("scripts/prometheus/pgops-alerts.yaml"),
    )
    .unwrap();
    let rules: String = rules
        .lines()
        .map(|l| match l.trim_start().strip_prefix("for: ") {
            Some(_) => format!("{}for: 0s", &l[..l.len() - l.trim_start().len()]),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(d.join("rules.yaml"), rules).unwrap();
    std::fs::write(
        d.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: ['{}']\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{am_port}']\nscrape_configs:\n  - job_name: pgops\n    static_configs:\n      - targets: ['127.0.0.1:{status_port}']\n",
            d.join("rules.yaml").display()
        ),
    )
    .unwrap();
    let prom_port = testkit::free_port();
    let mut prom = start(
        "prometheus",
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                d.join("prometheus.yml").display()
            ))
            .arg(format!("--storage.tsdb.path={}", d.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}")),
        &d.join("prometheus.log"),
    );
    wait_port(prom_port, &mut prom);

    let deadline = Instant::now() + Duration::from_secs(90);
    let mail = loop {
        let found = smtp.mails().into_iter().find(|m| {
            m["data"]
                .as_str()
                .unwrap_or("")
                .contains("Subject: [pgops] FIRING: PgopsBackupStale (shop)")
        });
        if let Some(m) = found {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "no mail within 90 s; alertmanager said:\n{}\nprometheus said:\n{}",
            std::fs::read_to_string(d.join("alertmanager.log")).unwrap_or_default(),
            std::fs::read_to_string(d.join("prometheus.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let data = mail["data"].as_str().unwrap();
    assert_eq!(mail["port"], "starttls");
    assert_eq!(mail["authenticated"], true);
    assert!(data.contains("No verified backup of shop for"), "{data}");
    assert!(
        data.contains("Runbook: docs/runbooks/incident-alerts.md#pgopsbackupstale"),
        "{data}"
    );
    assert!(!data.contains(SENTINEL_SMTP_PASSWORD));
    if let Ok(dir) = std::env::var("PGOPS_NOTIFY_SAMPLES") {
        std::fs::write(format!("{dir}/alertmanager-mail.eml"), data).unwrap();
    }
}
