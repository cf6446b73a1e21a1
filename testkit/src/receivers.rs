//! Real receivers for ops-notify's tests, separate processes on loopback: an HTTP server
//! that checks each chat service's request shape and the webhook signature
//! (`receivers/http_receiver.py`, Python's standard library), and an SMTP server with
//! STARTTLS, implicit TLS and AUTH (`receivers/smtp_receiver.py`, PyPI `aiosmtpd`).
//! Both record what they received as JSON lines for the test to read.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The SMTP password the tests give ops-notify: it must appear in no output.
pub const SENTINEL_SMTP_PASSWORD: &str = "Sentinel-smtp-pw-71c04e";
/// The webhook secret the tests give ops-notify.
pub const SENTINEL_WEBHOOK_SECRET: &str = "Sentinel-hook-secret-2b9d";
/// A chat token the tests give ops-notify.
pub const SENTINEL_TOKEN: &str = "Sentinel-token-8e3f5a";

fn script(name: &str) -> PathBuf {
    crate::workspace_root().join("testkit/receivers").join(name)
}

fn wait_for(path: &Path, child: &mut Child, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            return text;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the {what} exited at start ({status})");
        }
        assert!(Instant::now() < deadline, "the {what} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn read_log(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("the receiver writes JSON lines"))
        .collect()
}

/// The HTTP receiver.
#[derive(Debug)]
pub struct HttpReceiver {
    child: Child,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl HttpReceiver {
    /// Starts it; `secret`: the webhook secret it checks `/svc/json` signatures with.
    pub fn start(secret: Option<&str>) -> HttpReceiver {
        HttpReceiver::start_on(0, secret)
    }

    /// Starts it on `port` (0: any free one), e.g. where a stopped one was.
    pub fn start_on(port: u16, secret: Option<&str>) -> HttpReceiver {
        let dir = tempfile::tempdir().unwrap();
        let ready = dir.path().join("port");
        let mut cmd = Command::new("python3");
        cmd.arg(script("http_receiver.py"))
            .arg(dir.path().join("log.jsonl"))
            .arg(&ready)
            .env("RECEIVER_PORT", port.to_string())
            .stdout(Stdio::null());
        if let Some(s) = secret {
            let f = dir.path().join("secret");
            std::fs::write(&f, s).unwrap();
            cmd.arg(f);
        }
        let mut child = cmd.spawn().expect("python3 runs");
        let port = wait_for(&ready, &mut child, "HTTP receiver")
            .trim()
            .parse()
            .unwrap();
        HttpReceiver { child, dir, port }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("127.0.0.1:{}{path}", self.port)
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<serde_json::Value> {
        read_log(&self.dir.path().join("log.jsonl"))
    }

    /// Stops it (a receiver that is down).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for HttpReceiver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The SMTP server: `starttls` and `implicit` ports, user `alerts`, the sentinel password.
#[derive(Debug)]
pub struct SmtpReceiver {
    child: Child,
    dir: tempfile::TempDir,
    pub starttls_port: u16,
    pub implicit_port: u16,
}

pub const SMTP_USER: &str = "alerts";

impl SmtpReceiver {
    pub fn start() -> SmtpReceiver {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // The server's own certificate, self-signed: the CA a client must trust.
        let san = ["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"];
        crate::tls::self_signed(d, "server", "localhost", &san);
        std::fs::write(d.join("password"), SENTINEL_SMTP_PASSWORD).unwrap();
        let (starttls_port, implicit_port) = (crate::free_port(), crate::free_port());
        let ready = d.join("ready");
        let mut child = Command::new(crate::python())
            .arg(script("smtp_receiver.py"))
            .arg(d.join("mail.jsonl"))
            .arg(&ready)
            .args([d.join("server.crt"), d.join("server.key")])
            .arg(SMTP_USER)
            .arg(d.join("password"))
            .args([starttls_port.to_string(), implicit_port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the venv's python runs (scripts/py-tools.sh installs aiosmtpd)");
        wait_for(&ready, &mut child, "SMTP receiver");
        SmtpReceiver {
            child,
            dir,
            starttls_port,
            implicit_port,
        }
    }

    /// The server's certificate (self-signed): the CA a client must trust.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("server.crt")
    }

    /// Every message accepted so far.
    pub fn mails(&self) -> Vec<serde_json::Value> {
        read_log(&self.dir.path().join("mail.jsonl"))
    }

    /// Waits until `n` messages arrived (a relay such as msmtp may return first).
    pub fn wait_for_mails(&self, n: usize, within: Duration) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + within;
        loop {
            let m = self.mails();
            if m.len() >= n || Instant::now() >= deadline {
                return m;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for SmtpReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
