//! What the tests of ops-notify share: a lab (targets file, state directory, catalog),
//! the run helpers, the secrets that must never show.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use testkit::receivers::{
    SmtpReceiver, SENTINEL_SMTP_PASSWORD, SENTINEL_TOKEN, SENTINEL_WEBHOOK_SECRET, SMTP_USER,
};

pub const SENTINELS: [&str; 3] = [
    SENTINEL_SMTP_PASSWORD,
    SENTINEL_WEBHOOK_SECRET,
    SENTINEL_TOKEN,
];

/// A place for one test: the targets file, the state directory, a catalog.
pub struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    pub fn new() -> Lab {
        let lab = Lab {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(lab.state()).unwrap();
        std::fs::create_dir_all(lab.catalog()).unwrap();
        lab
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn state(&self) -> PathBuf {
        self.path("state")
    }

    pub fn catalog(&self) -> PathBuf {
        self.path("catalog")
    }

    /// Writes a private file (a secret, or the targets).
    pub fn private(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        p
    }

    pub fn targets(&self, lines: &[String]) {
        self.private("notify.urls", &(lines.join("\n") + "\n"));
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ops-notify"));
        for v in [
            "PGOPS_BACKUP_DIR",
            "PGOPS_CORRELATION_ID",
            "INVOCATION_ID",
            "MONITOR_SERVICE_RESULT",
            "MONITOR_EXIT_STATUS",
            "MONITOR_EXIT_CODE",
            "MONITOR_INVOCATION_ID",
            "PGOPS_RUNBOOK_URL",
        ] {
            c.env_remove(v);
        }
        c.env("PGOPS_NOTIFY_TARGETS_FILE", self.path("notify.urls"))
            .env("PGOPS_STATE_DIR", self.state())
            .args(["--backoff", "100ms"])
            .args(args);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.cmd(args).output().unwrap();
        no_secret(&out);
        out
    }

    /// Every file under the state directory, read: none may hold a secret.
    pub fn assert_state_holds_no_secret(&self) {
        for e in testkit::files_under(&self.state()) {
            let text = std::fs::read_to_string(&e).unwrap_or_default();
            for s in SENTINELS {
                assert!(!text.contains(s), "{} holds a secret", e.display());
            }
        }
    }
}

pub fn no_secret(out: &Output) {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for s in SENTINELS {
        assert!(!text.contains(s), "a secret in the output:\n{text}");
    }
}

/// The events of a run, each checked against its schema.
pub fn events(out: &Output) -> Vec<serde_json::Value> {
    testkit::schema::validate_stdout(&out.stdout)
}

pub fn named<'a>(events: &'a [serde_json::Value], name: &str) -> Vec<&'a serde_json::Value> {
    events.iter().filter(|e| e["event"] == name).collect()
}

pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap()
}

impl Lab {
    /// ops-notify on a clock `offset` ahead (Debian's faketime): the outbox's backoff
    /// passes without waiting for it.
    pub fn later(&self, offset: &str, args: &[&str]) -> Output {
        let c = self.cmd(args);
        let program = c.get_program().to_owned();
        let mut f = Command::new("faketime");
        f.args(["-f", offset]).arg(program).args(c.get_args());
        for (k, v) in c.get_envs() {
            match v {
                Some(v) => f.env(k, v),
                None => f.env_remove(k),
            };
        }
        let out = f.output().expect("faketime (scripts/test installs it)");
        no_secret(&out);
        out
    }
}

/// An msmtp configuration relaying to the SMTP server with STARTTLS and AUTH.
pub fn msmtprc(lab: &Lab, smtp: &SmtpReceiver) -> PathBuf {
    let home = lab.path("home");
    std::fs::create_dir_all(&home).unwrap();
    let pw = lab.private("msmtp.pw", SENTINEL_SMTP_PASSWORD);
    let rc = home.join(".msmtprc");
    std::fs::write(
        &rc,
        format!(
            "defaults\ntls on\ntls_starttls on\ntls_trust_file {}\n\naccount default\nhost localhost\nport {}\nauth plain\nuser {SMTP_USER}\npasswordeval cat {}\nfrom pgops@db1.example.org\n",
            smtp.ca_file().display(),
            smtp.starttls_port,
            pw.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).unwrap();
    home
}

pub fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A set of `db` started `id` that passed verification at `verified_at` (a catalog as
/// ops-health reads it; its archive is not a real one).
pub fn good_set(root: &Path, db: &str, id: &str, verified_at: &str) -> PathBuf {
    let set = testkit::fake::write_set(root, Some(db), id);
    set_verdict(&set, db, id, "pass", verified_at);
    set
}

/// Writes the set's `verify.json` with `verdict`.
pub fn set_verdict(set: &Path, db: &str, id: &str, verdict: &str, at: &str) {
    std::fs::write(
        set.join("verify.json"),
        serde_json::json!({"v": 1, "id": id, "database": db, "verified_at": at,
            "verdict": verdict, "checks": [],
            "tool": {"name": "backup-verify", "version": "0"}, "correlation_id": "c"})
        .to_string(),
    )
    .unwrap();
}

/// A set id `hours` before now (`20261206T030000Z`).
pub fn id_hours_ago(hours: i64) -> (String, String) {
    let t = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(hours);
    (t.strftime("%Y%m%dT%H%M%SZ").to_string(), t.to_string())
}

/// The pgops messages (JSON webhook bodies) a receiver got.
pub fn messages(requests: &[serde_json::Value]) -> Vec<serde_json::Value> {
    requests
        .iter()
        .filter(|r| r["path"].as_str().unwrap_or("").starts_with("/svc/json"))
        .map(|r| serde_json::from_str(r["body"].as_str().unwrap()).unwrap())
        .collect()
}
