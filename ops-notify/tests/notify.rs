//! ops-notify against real receivers on loopback: an HTTP server that checks each chat
//! service's request shape and the webhook signature, aiosmtpd with STARTTLS, implicit
//! TLS and AUTH, and Debian's msmtp as the `sendmail` ops-notify calls.

use std::os::unix::fs::PermissionsExt;
use testkit::receivers::{
    HttpReceiver, SmtpReceiver, SENTINEL_SMTP_PASSWORD, SENTINEL_TOKEN, SENTINEL_WEBHOOK_SECRET,
    SMTP_USER,
};

mod common;
use common::*;

#[test]
fn every_service_gets_the_shape_it_accepts_and_a_signed_webhook_verifies() {
    let lab = Lab::new();
    let http = HttpReceiver::start(Some(SENTINEL_WEBHOOK_SECRET));
    let secret = lab.private("hook.secret", SENTINEL_WEBHOOK_SECRET);
    let token = lab.private("ntfy.token", SENTINEL_TOKEN);
    let u = |p: &str| http.url(p);
    lab.targets(&[
        "# every chat service's own request, sent to the receiver".into(),
        format!(
            "ntfy+http://{}?topic=pgops&token_file={}",
            u("/svc/ntfy/"),
            token.display()
        ),
        format!(
            "gotify+http://{}?token={SENTINEL_TOKEN}",
            u("/svc/gotify/message")
        ),
        format!("slack+http://{}", u("/svc/slack/services/T/B/C")),
        format!("mmost+http://{}", u("/svc/slack/hooks/abc")),
        format!("discord+http://{}", u("/svc/discord/api/webhooks/1/x")),
        format!(
            "tgram+http://{}?chat_id=-100,42",
            u("/svc/telegram/bot1:AB/sendMessage")
        ),
        format!("msteams+http://{}", u("/svc/teams/webhookb2/x")),
        format!("workflows+http://{}", u("/svc/workflows/x")),
        format!(
            "json://{}?secret_file={}",
            u("/svc/json/hook"),
            secret.display()
        ),
        format!("hc+http://{}", u("/svc/hc/uuid")),
    ]);
    let out = lab.run(&["test"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stdout));
    let ev = events(&out);
    let sent = named(&ev, "notify.sent");
    assert_eq!(sent.len(), 9, "every message target, never the heartbeat");
    assert!(sent.iter().all(|e| e["kind"] == "test"));
    let requests = http.requests();
    // Telegram: one request per chat.
    assert_eq!(requests.len(), 10, "{requests:#?}");
    for r in &requests {
        assert_eq!(r["status"], 200, "the receiver refused a shape: {r:#}");
    }
    let json = requests
        .iter()
        .find(|r| r["path"] == "/svc/json/hook")
        .unwrap();
    assert_eq!(
        json["signature_ok"], true,
        "the receiver recomputed the HMAC"
    );
    let body: serde_json::Value = serde_json::from_str(json["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["kind"], "test");
    assert!(body["subject"]
        .as_str()
        .unwrap()
        .starts_with("[pgops] test message from "));
    let ntfy = requests.iter().find(|r| r["path"] == "/svc/ntfy/").unwrap();
    assert_eq!(
        ntfy["headers"]["authorization"],
        format!("Bearer {SENTINEL_TOKEN}")
    );
    assert!(
        ntfy["query"].get("token_file").is_none(),
        "pgops' own parameters are not sent"
    );
    // The heartbeat target: a ping, not a message.
    let out = lab.run(&["ping", "start"]);
    assert_eq!(code(&out), 0);
    let hc = http.requests();
    assert_eq!(hc.last().unwrap()["path"], "/svc/hc/uuid/start");
    lab.assert_state_holds_no_secret();
}

#[test]
fn mail_goes_by_starttls_implicit_tls_and_the_local_sendmail() {
    let lab = Lab::new();
    let smtp = SmtpReceiver::start();
    let msmtp = which("msmtp").expect("msmtp (scripts/test installs it)");
    let home = msmtprc(&lab, &smtp);
    let pw = lab.private("smtp.pw", SENTINEL_SMTP_PASSWORD);
    let ca = smtp.ca_file();
    lab.targets(&[
        format!(
            "mailto://{SMTP_USER}:{SENTINEL_SMTP_PASSWORD}@localhost:{}?to=ops@example.org&from=pgops@db1.example.org&ca_file={}",
            smtp.starttls_port,
            ca.display()
        ),
        format!(
            "mailtos://{SMTP_USER}@localhost:{}?to=ops@example.org,dba@example.org&from=pgops@db1.example.org&password_file={}&ca_file={}",
            smtp.implicit_port,
            pw.display(),
            ca.display()
        ),
        format!("sendmail://{}?to=ops@example.org&from=pgops@db1.example.org", msmtp.display()),
    ]);
    let out = lab.cmd(&["test"]).env("HOME", &home).output().unwrap();
    no_secret(&out);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stdout));
    let mails = smtp.wait_for_mails(3, std::time::Duration::from_secs(10));
    assert_eq!(mails.len(), 3, "{mails:#?}");
    let ports: Vec<&str> = mails.iter().map(|m| m["port"].as_str().unwrap()).collect();
    assert_eq!(
        ports.iter().filter(|p| **p == "starttls").count(),
        2,
        "lettre and msmtp"
    );
    assert!(ports.contains(&"implicit"));
    for m in &mails {
        assert_eq!(m["authenticated"], true);
        // The body is quoted-printable: its soft line breaks (`=` at a line's end) go.
        let data = m["data"]
            .as_str()
            .unwrap()
            .replace("=\r\n", "")
            .replace("=\n", "");
        assert!(
            data.contains("Subject: [pgops] test message from"),
            "{data}"
        );
        assert!(
            data.contains("this target is configured and reachable"),
            "{data}"
        );
        for s in SENTINELS {
            assert!(!data.contains(s));
        }
    }
    let implicit = mails.iter().find(|m| m["port"] == "implicit").unwrap();
    assert_eq!(
        implicit["rcpt_tos"],
        serde_json::json!(["ops@example.org", "dba@example.org"])
    );

    // A wrong password: the server refuses the login; permanent, so not queued.
    lab.targets(&[format!(
        "mailto://{SMTP_USER}:wrong-{SENTINEL_SMTP_PASSWORD}@localhost:{}?to=ops@example.org&ca_file={}",
        smtp.starttls_port,
        ca.display()
    )]);
    let out = lab.run(&["test"]);
    assert_eq!(code(&out), 1);
    let ev = events(&out);
    let failed = named(&ev, "notify.failed");
    assert_eq!(failed[0]["error"]["code"], "notify_smtp");
    assert_eq!(
        (
            failed[0]["queued"].as_bool(),
            failed[0]["attempts"].as_u64()
        ),
        (Some(false), Some(1))
    );
    // Without the CA the server's certificate is not trusted: TLS fails, nothing is sent.
    lab.targets(&[format!(
        "mailto://{SMTP_USER}:{SENTINEL_SMTP_PASSWORD}@localhost:{}?to=ops@example.org",
        smtp.starttls_port
    )]);
    let out = lab.run(&["test", "--attempts", "1"]);
    assert_eq!(code(&out), 1);
    let ev = events(&out);
    let f = named(&ev, "notify.failed");
    assert_eq!(f[0]["error"]["code"], "notify_tls", "{:#}", f[0]);
    assert_eq!(smtp.mails().len(), 3);
    lab.assert_state_holds_no_secret();
}

#[test]
fn a_receiver_down_slow_or_failing_never_loses_the_message() {
    let lab = Lab::new();
    let http = HttpReceiver::start(None);
    lab.targets(&[
        format!("json://{}", http.url("/status/500/a")),
        format!("json://{}", http.url("/status/404/b")),
        format!("json://{}", http.url("/slow/5/c")),
        format!("json://{}", http.url("/flaky/2/d")),
        format!("json+https://{}", http.url("/e")),
    ]);
    let started = std::time::Instant::now();
    let out = lab.run(&["test", "--timeout", "1s"]);
    assert!(started.elapsed().as_secs() < 30, "every attempt is bounded");
    assert_eq!(code(&out), 1, "a failed delivery is reported");
    let ev = events(&out);
    let by_line = |line: u64| {
        ev.iter()
            .find(|e| e["target"] == line && e["event"].as_str().unwrap().starts_with("notify."))
            .unwrap()
            .clone()
    };
    let e500 = by_line(1);
    assert_eq!(
        (
            e500["error"]["code"].as_str(),
            e500["attempts"].as_u64(),
            e500["queued"].as_bool()
        ),
        (Some("notify_http_status"), Some(3), Some(true)),
        "{e500:#}"
    );
    let e404 = by_line(2);
    assert_eq!(
        (e404["attempts"].as_u64(), e404["queued"].as_bool()),
        (Some(1), Some(false)),
        "a refusal is not retried"
    );
    assert_eq!(by_line(3)["error"]["code"], "notify_timeout");
    let flaky = by_line(4);
    assert_eq!(
        (flaky["event"].as_str(), flaky["attempts"].as_u64()),
        (Some("notify.sent"), Some(3))
    );
    assert_eq!(
        by_line(5)["error"]["code"],
        "notify_tls",
        "TLS to a plain HTTP server is refused"
    );
    let r = http.requests();
    assert_eq!(r.iter().filter(|x| x["path"] == "/status/500/a").count(), 3);
    assert_eq!(r.iter().filter(|x| x["path"] == "/status/404/b").count(), 1);
    let outbox = lab.state().join("notify/outbox");
    assert_eq!(
        std::fs::read_dir(&outbox).unwrap().count(),
        3,
        "500, slow and TLS wait in the outbox"
    );
    let stats: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lab.state().join("notify/stats.json")).unwrap())
            .unwrap();
    assert_eq!(stats["failures"]["json"], 4);
    assert_eq!(stats["sent"]["json"], 1);
    testkit::schema::check("files/notify-stats.json", &stats);

    lab.assert_state_holds_no_secret();
}

#[test]
fn a_message_held_while_the_receiver_is_down_arrives_once_it_is_back() {
    let lab = Lab::new();
    let mut http = HttpReceiver::start(None);
    let port = http.port;
    http.stop();
    lab.targets(&[format!("json://{}", http.url("/svc/json/ok"))]);
    let out = lab.run(&["test"]);
    assert_eq!(code(&out), 1);
    let ev = events(&out);
    let failed = named(&ev, "notify.failed");
    assert_eq!(
        (
            failed[0]["error"]["code"].as_str(),
            failed[0]["queued"].as_bool()
        ),
        (Some("notify_unreachable"), Some(true))
    );
    let outbox = lab.state().join("notify/outbox");
    assert_eq!(std::fs::read_dir(&outbox).unwrap().count(), 1);
    // Not due yet: the next run does not try it.
    let out = lab.run(&["flush"]);
    assert_eq!(
        (code(&out), named(&events(&out), "notify.failed").len()),
        (0, 0)
    );
    // Back on its port; two minutes later the held message arrives, once.
    let back = HttpReceiver::start_on(port, None);
    let out = lab.later("+2m", &["flush"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stdout));
    let ev = events(&out);
    let sent = named(&ev, "notify.sent");
    assert_eq!(sent.len(), 1);
    assert!(sent[0]["queued_since"].is_string());
    assert_eq!(std::fs::read_dir(&outbox).unwrap().count(), 0);
    let out = lab.later("+1h", &["flush"]);
    assert!(named(&events(&out), "notify.sent").is_empty(), "sent once");
    let got = back.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["status"], 200);
}

#[test]
fn a_message_that_cannot_be_delivered_for_a_day_is_given_up_and_counted() {
    let lab = Lab::new();
    let mut http = HttpReceiver::start(None);
    http.stop();
    lab.targets(&[format!("json://{}", http.url("/x"))]);
    assert_eq!(code(&lab.run(&["test", "--attempts", "1"])), 1);
    let out = lab.later("+25h", &["flush", "--attempts", "1"]);
    let ev = events(&out);
    let failed = named(&ev, "notify.failed");
    assert_eq!(
        (
            failed[0]["dropped"].as_bool(),
            failed[0]["queued"].as_bool()
        ),
        (Some(true), Some(false))
    );
    assert_eq!(
        std::fs::read_dir(lab.state().join("notify/outbox"))
            .unwrap()
            .count(),
        0
    );
    let stats: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lab.state().join("notify/stats.json")).unwrap())
            .unwrap();
    assert_eq!(
        (
            stats["failures"]["json"].as_u64(),
            stats["dropped"]["json"].as_u64()
        ),
        (Some(2), Some(1))
    );
}

#[test]
fn a_bad_targets_file_is_refused_with_its_line_and_no_secret() {
    let lab = Lab::new();
    lab.targets(&[
        "ntfy://ntfy.example.org/t".into(),
        format!("mailtos://u:{SENTINEL_SMTP_PASSWORD}@smtp.example.org"),
    ]);
    let out = lab.run(&["test"]);
    assert_eq!(code(&out), 2);
    let ev = events(&out);
    let failed = named(&ev, "run.failed");
    assert_eq!(failed[0]["error"]["code"], "notify_target_invalid");
    assert!(failed[0]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("line 2"));
    // Readable by every user: refused before it is read.
    let p = lab.path("notify.urls");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = lab.run(&["test"]);
    assert_eq!(code(&out), 2);
    assert_eq!(
        named(&events(&out), "run.failed")[0]["error"]["code"],
        "notify_file_insecure"
    );
    std::fs::remove_file(&p).unwrap();
    let out = lab.run(&["test"]);
    assert_eq!(
        (
            code(&out),
            named(&events(&out), "run.failed")[0]["error"]["code"].as_str()
        ),
        (2, Some("notify_file_missing"))
    );

    // Nothing configured (no --targets, no PGOPS_NOTIFY_TARGETS_FILE, no
    // /etc/pgops/notify.urls): a unit wired to ops-notify stays quiet; `test` says why.
    if !std::path::Path::new("/etc/pgops/notify.urls").exists() {
        let out = lab
            .cmd(&["ping", "start"])
            .env_remove("PGOPS_NOTIFY_TARGETS_FILE")
            .output()
            .unwrap();
        assert_eq!(code(&out), 0);
        assert_eq!(named(&events(&out), "run.finished")[0]["targets"], 0);
        let out = lab
            .cmd(&["test"])
            .env_remove("PGOPS_NOTIFY_TARGETS_FILE")
            .output()
            .unwrap();
        assert_eq!(code(&out), 2);
        assert_eq!(
            named(&events(&out), "run.failed")[0]["error"]["code"],
            "notify_no_targets"
        );
    }
}
