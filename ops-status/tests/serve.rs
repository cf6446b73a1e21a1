//! `ops-status serve` over real HTTP on loopback (ureq as the client, curl where a second
//! client address is needed): every endpoint's body against its schema in
//! `docs/schemas/http/`, the token, the rate limit and Retry-After, a reload on SIGHUP
//! that keeps connections, refusal of a public address, and a catalog changing under a
//! running server.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::schema::check;
use testkit::ToolRun;

/// A running `ops-status serve`: its address, its events as they come, its stderr.
struct Server {
    child: Child,
    base: String,
    events: Receiver<Value>,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Serves `catalog`, its `/readiness` asking the shared test cluster whether it answers.
    fn start(catalog: &Path, state: &Path, extra: &[&str]) -> Server {
        Server::start_for(testkit::Cluster::shared(), catalog, state, extra)
    }

    fn start_for(pg: &testkit::Cluster, catalog: &Path, state: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ops-status"))
            .args(["serve", "--listen", "127.0.0.1:0", "--backup-dir"])
            .arg(catalog)
            .arg("--state-dir")
            .arg(state)
            .args(extra)
            .env_remove("PGOPS_BACKUP_DIR")
            .env("PGHOST", pg.socket_dir())
            .env("PGPORT", pg.port().to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, events) = std::sync::mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let line = line.unwrap();
                let _ = tx.send(testkit::schema::validate_event_line(&line));
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let serving = events
            .recv_timeout(Duration::from_secs(20))
            .expect("status.serving");
        assert_eq!(serving["event"], "status.serving", "{serving}");
        let base = format!("http://{}", serving["listen"].as_str().unwrap());
        Server {
            child,
            base,
            events,
            stderr,
        }
    }

    fn event(&self, name: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self
                .events
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(e) if e["event"] == name => return e,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    panic!("no {name} event")
                }
            }
        }
    }

    fn access_lines(&self) -> Vec<Value> {
        self.stderr
            .lock()
            .unwrap()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["event"] == "http.access")
            .collect()
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.signal(libc::SIGTERM);
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// GET `path`; the status, the headers we look at, the body.
struct Got {
    status: u16,
    correlation: Option<String>,
    retry_after: Option<String>,
    body: String,
}

impl Got {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

fn get(agent: &ureq::Agent, url: &str, headers: &[(&str, &str)]) -> Got {
    let mut req = agent.get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut r = req.call().unwrap();
    let h = |n: &str| r.headers().get(n).map(|v| v.to_str().unwrap().to_string());
    let (correlation, retry_after) = (h("x-correlation-id"), h("retry-after"));
    Got {
        status: r.status().as_u16(),
        correlation,
        retry_after,
        body: r.body_mut().read_to_string().unwrap(),
    }
}

/// A set of `db` started `hours_ago`, verified and copied off-site.
fn set(root: &Path, db: &str, hours_ago: i64) {
    let at = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(hours_ago);
    let id = at.strftime("%Y%m%dT%H%M%SZ").to_string();
    let path = testkit::fake::write_set(root, Some(db), &id);
    let record = serde_json::json!({"v": 1, "id": id, "database": db,
        "verified_at": jiff::Timestamp::now().to_string(), "verdict": "pass", "checks": [],
        "tool": {"name": "backup-verify", "version": "0"}, "correlation_id": "c"});
    std::fs::write(path.join("verify.json"), record.to_string()).unwrap();
    ops_catalog::catalog::record_offsite(&path, "s3://b/p", "seal").unwrap();
}

fn world(root: &Path, state: &Path) {
    set(root, "app", 2);
    let line =
        testkit::fake::drill_line("app", &jiff::Timestamp::now().to_string(), 9000, 3600, true);
    std::fs::write(root.join("_drills.jsonl"), line).unwrap();
    std::fs::write(
        state.join("audit.json"),
        serde_json::json!({"finished_at": jiff::Timestamp::now().to_string(), "violations": 0,
            "complete": true, "violating_ports": []})
        .to_string(),
    )
    .unwrap();
    std::fs::write(
        state.join("runs.jsonl"),
        "{\"event\":\"run.finished\",\"source\":\"pgdump-run\",\"result\":\"ok\"}\n",
    )
    .unwrap();
}

#[test]
fn every_endpoint_answers_as_its_schema_says() {
    let (cat, st) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    world(cat.path(), st.path());
    let s = Server::start(cat.path(), st.path(), &[]);
    let a = agent();
    for (path, schema, status) in [
        ("/health", "http/health.json", 200),
        ("/readiness", "http/readiness.json", 200),
        ("/backups/status", "http/backups-status.json", 200),
        ("/restore/status", "http/restore-status.json", 200),
        ("/nowhere", "http/error.json", 404),
    ] {
        let g = get(&a, &format!("{}{path}", s.base), &[]);
        assert_eq!(g.status, status, "{path}: {}", g.body);
        let body = g.json();
        check(schema, &body);
        assert_eq!(
            g.correlation.as_deref(),
            body["correlation_id"].as_str(),
            "{path}"
        );
    }
    let body = get(&a, &format!("{}/backups/status", s.base), &[]).json();
    assert_eq!(body["data"]["databases"][0]["database"], "app");
    assert_eq!(body["data"]["audit"]["violations"], 0);
    let body = get(&a, &format!("{}/restore/status", s.base), &[]).json();
    assert_eq!(body["data"]["last"]["rto_ms"], 9000);
    // A caller's correlation id follows the request.
    let g = get(
        &a,
        &format!("{}/health", s.base),
        &[("X-Correlation-Id", "job-42")],
    );
    assert_eq!(g.correlation.as_deref(), Some("job-42"));
    assert_eq!(g.json()["correlation_id"], "job-42");

    let g = get(&a, &format!("{}/metrics", s.base), &[]);
    assert_eq!(g.status, 200);
    assert!(
        g.body
            .contains("pgops_runs_total{tool=\"pgdump-run\",result=\"ok\"} 1\n"),
        "{}",
        g.body
    );
    testkit::promtool_check_metrics(&g.body);

    // One access line per request, with what was asked and answered; 9 requests so far.
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.access_lines().len() < 9 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let lines = s.access_lines();
    assert_eq!(lines.len(), 9, "{lines:#?}");
    assert!(lines
        .iter()
        .any(|l| l["path"] == "/nowhere" && l["status"] == 404));
    assert!(lines
        .iter()
        .all(|l| l["correlation_id"].is_string() && l["remote"].is_string()));
}

#[test]
fn the_token_guards_everything_but_health_and_reloads_on_sighup_without_dropping_connections() {
    use std::os::unix::fs::PermissionsExt;
    let (cat, st) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    world(cat.path(), st.path());
    let secrets = tempfile::tempdir().unwrap();
    let token = secrets.path().join("token");
    std::fs::write(&token, "first-SENTINEL-token\n").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = secrets.path().join("status.conf");
    std::fs::write(&config, format!("token_file = {}\n", token.display())).unwrap();
    let s = Server::start(
        cat.path(),
        st.path(),
        &["--config", config.to_str().unwrap()],
    );
    let a = agent();
    let url = format!("{}/backups/status", s.base);

    let g = get(&a, &url, &[]);
    assert_eq!(g.status, 401);
    check("http/error.json", &g.json());
    assert_eq!(g.json()["error"]["code"], "unauthorized");
    assert_eq!(
        get(&a, &url, &[("Authorization", "Bearer wrong")]).status,
        401
    );
    assert_eq!(get(&a, &format!("{}/metrics", s.base), &[]).status, 401);
    assert_eq!(
        get(&a, &format!("{}/health", s.base), &[]).status,
        200,
        "liveness needs no token"
    );
    let first = [("Authorization", "Bearer first-SENTINEL-token")];
    assert_eq!(get(&a, &url, &first).status, 200);

    // A new token and tighter limits, applied on SIGHUP.
    std::fs::write(&token, "second-SENTINEL-token\n").unwrap();
    std::fs::write(
        &config,
        format!("token_file = {}\nrate = 1\nburst = 2\n", token.display()),
    )
    .unwrap();
    s.signal(libc::SIGHUP);
    let reloaded = s.event("status.reloaded");
    assert_eq!(reloaded["applied"], true, "{reloaded}");
    assert_eq!(reloaded["rate"], 1);
    assert_eq!(get(&a, &url, &first).status, 401, "the old token is gone");
    let second = [("Authorization", "Bearer second-SENTINEL-token")];
    let g = get(&a, &url, &second);
    assert_eq!(g.status, 200, "{}", g.body);
    // burst 2 is spent (the 401 counted): the next is limited.
    let g = get(&a, &url, &second);
    assert_eq!(g.status, 429, "{}", g.body);

    // A broken config is refused and what is in force stays.
    std::fs::write(&config, "rate = fast\n").unwrap();
    s.signal(libc::SIGHUP);
    let refused = s.event("status.reloaded");
    assert_eq!(refused["applied"], false);
    assert_eq!(refused["error"]["code"], "serve_config_invalid");

    // The same server and the same pooled connection served before and after the
    // reloads: the client's address (its port) never changed.
    let lines = s.access_lines();
    let remotes: std::collections::BTreeSet<&str> = lines
        .iter()
        .filter(|l| l["path"] == "/backups/status")
        .map(|l| l["remote"].as_str().unwrap())
        .collect();
    assert_eq!(remotes.len(), 1, "{lines:#?}");
    let all = s.stderr.lock().unwrap().clone();
    assert!(!all.contains("SENTINEL"), "a token in the log: {all}");
}

#[test]
fn a_flood_from_one_client_gets_429_with_retry_after_and_others_are_served() {
    let (cat, st) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    world(cat.path(), st.path());
    let s = Server::start(cat.path(), st.path(), &["--rate", "1", "--burst", "3"]);
    let a = agent();
    let url = format!("{}/health", s.base);
    let codes: Vec<u16> = (0..5).map(|_| get(&a, &url, &[]).status).collect();
    assert_eq!(codes[..3], [200, 200, 200]);
    assert_eq!(codes[3], 429, "{codes:?}");
    let g = get(&a, &url, &[]);
    assert_eq!(g.status, 429);
    let retry: u64 = g.retry_after.as_deref().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    check("http/error.json", &g.json());
    assert_eq!(g.json()["error"]["code"], "rate_limited");
    // Another client address is not limited by this one's flood.
    let other = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--interface",
            "127.0.0.2",
            &url,
        ])
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&other.stdout), "200");
    // And the limited one is served again once its bucket refills.
    std::thread::sleep(Duration::from_secs(retry));
    assert_eq!(get(&a, &url, &[]).status, 200);
}

#[test]
fn a_public_address_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    for listen in ["0.0.0.0:0", "[::]:0"] {
        let out = Command::new(env!("CARGO_BIN_EXE_ops-status"))
            .args(["serve", "--listen", listen, "--backup-dir"])
            .arg(dir.path())
            .output()
            .unwrap();
        let r = ToolRun::check(out);
        assert_eq!(r.code, 2, "{listen}");
        assert_eq!(r.error_code("run.failed"), "public_listen_refused");
    }
}

#[test]
fn a_catalog_changing_under_the_server_is_seen_without_a_restart() {
    let (cat, st) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    world(cat.path(), st.path());
    // A periodic refresh of an hour: only the change notification can explain a new answer.
    let s = Server::start(cat.path(), st.path(), &["--refresh", "1h"]);
    let a = agent();
    let url = format!("{}/backups/status", s.base);
    let dbs = |a: &ureq::Agent| -> Vec<String> {
        get(a, &url, &[]).json()["data"]["databases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["database"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(dbs(&a), ["app"]);
    set(cat.path(), "crm", 1);
    // Drilled too: each database is held to its own drills (issue #26), and this test
    // is about the audit.
    let crm =
        testkit::fake::drill_line("crm", &jiff::Timestamp::now().to_string(), 9000, 3600, true);
    let mut history = std::fs::OpenOptions::new()
        .append(true)
        .open(cat.path().join("_drills.jsonl"))
        .unwrap();
    std::io::Write::write_all(&mut history, crm.as_bytes()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while dbs(&a) != ["app", "crm"] {
        assert!(Instant::now() < deadline, "the new database never appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
    let metrics = get(&a, &format!("{}/metrics", s.base), &[]).body;
    assert!(
        metrics.contains("pgops_backup_sets{database=\"crm\"} 1"),
        "{metrics}"
    );
    // A port audit finding 5432 makes the server not ready, with the reason.
    std::fs::write(
        st.path().join("audit.json"),
        serde_json::json!({"finished_at": jiff::Timestamp::now().to_string(), "violations": 1,
            "complete": true, "violating_ports": ["tcp/5432"]})
        .to_string(),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let g = get(&a, &format!("{}/readiness", s.base), &[]);
        if g.status == 503 {
            let body = g.json();
            check("http/readiness.json", &body);
            assert_eq!(body["error"]["code"], "not_ready");
            assert!(body["data"]["components"].to_string().contains("tcp/5432"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the audit never reached readiness"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_unreadable_catalog_is_503_with_its_error() {
    let dir = tempfile::tempdir().unwrap();
    let st = tempfile::tempdir().unwrap();
    let s = Server::start(&dir.path().join("missing"), st.path(), &[]);
    let a = agent();
    let g = get(&a, &format!("{}/backups/status", s.base), &[]);
    assert_eq!(g.status, 503);
    check("http/backups-status.json", &g.json());
    assert_eq!(g.json()["error"]["code"], "catalog_missing");
    let g = get(&a, &format!("{}/readiness", s.base), &[]);
    assert_eq!(g.status, 503);
    check("http/readiness.json", &g.json());
    assert_eq!(get(&a, &format!("{}/health", s.base), &[]).status, 200);
    assert_eq!(get(&a, &format!("{}/metrics", s.base), &[]).status, 503);
}

/// Slow and idle clients are cut off (issue #22 §5): five connections that send half a
/// request, nothing, or stay idle after an answer are closed by the server within its
/// header-read timeout (10 s), while a normal client is answered all along.
#[test]
fn slow_and_idle_clients_are_cut_off() {
    use std::io::Write;
    let (cat, st) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    world(cat.path(), st.path());
    let s = Server::start(cat.path(), st.path(), &[]);
    let addr = s.base.trim_start_matches("http://").to_string();
    let started = std::time::Instant::now();
    let mut slow: Vec<std::net::TcpStream> = (0..5)
        .map(|i| {
            let mut c = std::net::TcpStream::connect(&addr).unwrap();
            match i % 3 {
                0 => c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").unwrap(),
                // A whole request, then idle on the kept-alive connection.
                1 => c
                    .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                    .unwrap(),
                _ => {}
            }
            c.set_read_timeout(Some(std::time::Duration::from_secs(25)))
                .unwrap();
            c
        })
        .collect();
    let a = agent();
    assert_eq!(get(&a, &format!("{}/health", s.base), &[]).status, 200);
    for c in slow.iter_mut() {
        let mut buf = [0u8; 1024];
        // Closed (EOF, perhaps after a 408) or reset; never still open at the deadline.
        loop {
            match c.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    }
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_secs(20),
        "the slow clients were held {took:?}"
    );
    // A new connection: the first one idled past HEADER_READ_TIMEOUT too, and the server
    // closes it by design; reusing it from the agent's pool races that close (a reset).
    assert_eq!(
        get(&agent(), &format!("{}/health", s.base), &[]).status,
        200
    );
}

/// `/readiness` includes the PostgreSQL server: a server that stops answering makes it 503
/// with `postgres_reachable` saying where it was asked and why it failed.
#[test]
fn readiness_says_when_postgresql_stops_answering() {
    let (cat, st) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    world(cat.path(), st.path());
    let pg = testkit::Cluster::start();
    let s = Server::start_for(&pg, cat.path(), st.path(), &["--refresh", "1s"]);
    let a = agent();
    let g = get(&a, &format!("{}/readiness", s.base), &[]);
    assert_eq!(g.status, 200, "{}", g.body);
    let ready = g.json();
    check("http/readiness.json", &ready);
    let pg_component = |body: &Value| {
        body["data"]["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "postgres_reachable")
            .cloned()
            .unwrap()
    };
    assert_eq!(pg_component(&ready)["state"], "ready");
    pg.stop_server();
    let deadline = Instant::now() + Duration::from_secs(10);
    let body = loop {
        let g = get(&a, &format!("{}/readiness", s.base), &[]);
        if g.status == 503 || Instant::now() > deadline {
            assert_eq!(g.status, 503, "{}", g.body);
            break g.json();
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    check("http/readiness.json", &body);
    let c = pg_component(&body);
    assert_eq!(c["state"], "not_ready");
    assert!(
        c["reasons"][0]
            .as_str()
            .unwrap()
            .contains(&pg.port().to_string()),
        "{c}"
    );
    // --no-postgres-check leaves it out.
    let s2 = Server::start_for(&pg, cat.path(), st.path(), &["--no-postgres-check"]);
    let g = get(&a, &format!("{}/readiness", s2.base), &[]);
    assert_eq!(g.status, 200, "{}", g.body);
}
