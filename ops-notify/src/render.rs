//! Each sink's request for a message or a ping (pure): the URL, the headers and the body
//! each service expects. Delivery (`deliver`) only sends what this decides.

use crate::message::Message;
use crate::target::{Http, PingService, Secret, Service};
use hmac::{Hmac, Mac};
use serde_json::json;

/// An HTTP request to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

/// The webhook signature headers: a receiver recomputes the HMAC and refuses an old
/// timestamp (docs/notifications.md).
pub const TIMESTAMP_HEADER: &str = "X-Pgops-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-Pgops-Signature";

/// `sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`.
pub fn signature(secret: &Secret, timestamp: i64, body: &str) -> String {
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(secret.0.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn json_post(url: &str, body: serde_json::Value) -> Request {
    Request {
        method: "POST",
        url: url.to_string(),
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: Some(body.to_string()),
    }
}

/// Chat text: the compact form, with the runbook when there is one.
fn chat_text(m: &Message) -> String {
    match &m.runbook {
        Some(r) => format!("{}\nRunbook: {r}", m.summary),
        None => m.summary.clone(),
    }
}

/// The requests (one per chat for Telegram) that deliver `m` to `h`; `now` (Unix seconds)
/// stamps a signed webhook.
pub fn message(h: &Http, m: &Message, now: i64) -> Vec<Request> {
    let bad = m.kind.is_bad();
    let text = chat_text(m);
    let mut requests = match &h.service {
        Service::Ntfy { topic } => vec![json_post(&h.url, ntfy(topic, m, bad))],
        Service::Gotify => vec![json_post(
            &h.url,
            json!({"title": m.subject, "message": text, "priority": if bad { 8 } else { 4 }}),
        )],
        Service::Slack => vec![json_post(&h.url, json!({"text": text, "username": "pgops"}))],
        // Discord refuses content over 2000 characters.
        Service::Discord => vec![json_post(
            &h.url,
            json!({"content": truncate(&text, 1900), "username": "pgops"}),
        )],
        Service::Telegram { chat_ids } => chat_ids
            .iter()
            .map(|id| {
                let body = json!({"chat_id": id, "text": truncate(&text, 4000), "disable_web_page_preview": true});
                json_post(&h.url, body)
            })
            .collect(),
        Service::Teams => vec![json_post(&h.url, teams(m, bad))],
        Service::Workflows => vec![json_post(&h.url, workflows(m, bad))],
        Service::Json { secret } => vec![signed_json(&h.url, m, secret.as_ref(), now)],
    };
    for r in &mut requests {
        match (&h.service, &h.token) {
            (Service::Gotify, Some(t)) => r.headers.push(("X-Gotify-Key".into(), t.0.clone())),
            (_, Some(t)) => r
                .headers
                .push(("Authorization".into(), format!("Bearer {}", t.0))),
            _ => {}
        }
    }
    requests
}

/// ntfy's JSON publishing: the topic in the body, posted to the server's root.
fn ntfy(topic: &str, m: &Message, bad: bool) -> serde_json::Value {
    json!({
        "topic": topic,
        "title": m.subject,
        "message": chat_text(m),
        "priority": if bad { 4 } else { 3 },
        "tags": [if bad { "rotating_light" } else { "white_check_mark" }, "pgops"],
    })
}

/// A Teams (Office 365 connector) MessageCard.
fn teams(m: &Message, bad: bool) -> serde_json::Value {
    json!({
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": m.subject,
        "title": m.subject,
        "themeColor": if bad { "D70000" } else { "2EB886" },
        "text": chat_text(m).replace('\n', "\n\n"),
    })
}

/// A Teams Workflows message: one Adaptive Card.
fn workflows(m: &Message, bad: bool) -> serde_json::Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": {
                "type": "AdaptiveCard",
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "version": "1.4",
                "body": [
                    {"type": "TextBlock", "text": m.subject, "weight": "Bolder", "wrap": true,
                     "color": if bad { "Attention" } else { "Good" }},
                    {"type": "TextBlock", "text": chat_text(m), "wrap": true}
                ]
            }
        }]
    })
}

/// pgops' own JSON, signed when a secret is set (the signature covers the exact body).
fn signed_json(url: &str, m: &Message, secret: Option<&Secret>, now: i64) -> Request {
    let body = serde_json::to_string(m).expect("messages serialize");
    let mut r = json_post(url, serde_json::Value::Null);
    if let Some(secret) = secret {
        r.headers.push((TIMESTAMP_HEADER.into(), now.to_string()));
        r.headers
            .push((SIGNATURE_HEADER.into(), signature(secret, now, &body)));
    }
    r.body = Some(body);
    r
}

/// A heartbeat's phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Phase {
    Start,
    Success,
    Fail,
}

/// A heartbeat: the phase, the job's exit code, a short body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingCall {
    pub phase: Phase,
    pub exit_code: Option<i32>,
    /// A run id pairing start and end (healthchecks' `rid`, a UUID).
    pub run_id: Option<String>,
    pub body: String,
}

/// The request of a ping (`None`: the service has no such phase, e.g. Kuma's start).
pub fn ping(service: PingService, url: &str, p: &PingCall) -> Option<Request> {
    let base = url.trim_end_matches('/');
    match service {
        PingService::Healthchecks => {
            let path = match (p.phase, p.exit_code) {
                (Phase::Start, _) => "/start".to_string(),
                (Phase::Success, _) => String::new(),
                // healthchecks: `/<exit status>`, 0 success, anything else a failure.
                (Phase::Fail, Some(code)) if code != 0 => format!("/{code}"),
                (Phase::Fail, _) => "/fail".to_string(),
            };
            let (base, query) = match base.split_once('?') {
                Some((b, q)) => (b, format!("?{q}")),
                None => (base, String::new()),
            };
            let mut url = format!("{base}{path}{query}");
            if let Some(rid) = &p.run_id {
                url.push(if query.is_empty() { '?' } else { '&' });
                url.push_str(&format!("rid={rid}"));
            }
            Some(Request {
                method: "POST",
                url,
                headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
                body: Some(truncate(&p.body, 10_000)),
            })
        }
        PingService::Kuma => {
            let status = match p.phase {
                Phase::Start => return None,
                Phase::Success => "up",
                Phase::Fail => "down",
            };
            let mut u = url::Url::parse(url).ok()?;
            u.query_pairs_mut()
                .append_pair("status", status)
                .append_pair("msg", &truncate(&p.body, 200));
            Some(Request {
                method: "GET",
                url: u.to_string(),
                headers: Vec::new(),
                body: None,
            })
        }
    }
}

/// A systemd invocation id (32 hex digits) as the UUID healthchecks' `rid` takes.
pub fn run_id(invocation_id: &str) -> Option<String> {
    let h = invocation_id;
    (h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit())).then(|| {
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    })
}

/// At most `max` characters, with an ellipsis when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Kind, MESSAGE_VERSION};

    fn msg(kind: Kind) -> Message {
        Message {
            v: MESSAGE_VERSION,
            kind,
            host: "db1".into(),
            at: "2026-11-24T00:00:00Z".into(),
            subject: "[pgops] s".into(),
            summary: "line one\nline two".into(),
            text: "full".into(),
            code: Some("backup_failed".into()),
            runbook: Some("file:///d/backup.md".into()),
            facts: json!({}),
        }
    }

    fn http(service: Service, token: Option<&str>) -> Http {
        Http {
            service,
            url: "http://h/x".into(),
            token: token.map(|t| Secret(t.into())),
        }
    }

    fn body(r: &Request) -> serde_json::Value {
        serde_json::from_str(r.body.as_deref().unwrap()).unwrap()
    }

    #[test]
    fn the_webhook_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // The receiver's side: Python's standard library computes the same.
        assert_eq!(
            signature(&Secret("key".into()), 1_700_000_000, "{}"),
            format!("sha256={}", signature_hex_python("key", "1700000000.{}"))
        );
        let r = &message(
            &http(
                Service::Json {
                    secret: Some(Secret("key".into())),
                },
                None,
            ),
            &msg(Kind::Failure),
            1_700_000_000,
        )[0];
        let sig = r
            .headers
            .iter()
            .find(|(k, _)| k == SIGNATURE_HEADER)
            .unwrap();
        assert_eq!(
            sig.1,
            signature(
                &Secret("key".into()),
                1_700_000_000,
                r.body.as_deref().unwrap()
            )
        );
        assert_eq!(body(r)["kind"], "failure");
        assert!(message(
            &http(Service::Json { secret: None }, None),
            &msg(Kind::Failure),
            1
        )[0]
        .headers
        .iter()
        .all(|(k, _)| k != SIGNATURE_HEADER));
    }

    /// The HMAC computed by Python's standard library, the receiver's side.
    fn signature_hex_python(key: &str, data: &str) -> String {
        let out = std::process::Command::new("python3")
            .args([
                "-c",
                "import hmac,hashlib,sys; print(hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha256).hexdigest())",
                key,
                data,
            ])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    #[test]
    fn each_service_gets_its_own_shape() {
        let m = msg(Kind::Failure);
        let r = &message(
            &http(Service::Ntfy { topic: "t".into() }, Some("tk")),
            &m,
            0,
        )[0];
        assert_eq!(
            (body(r)["topic"].as_str(), body(r)["priority"].as_i64()),
            (Some("t"), Some(4))
        );
        assert!(r
            .headers
            .contains(&("Authorization".into(), "Bearer tk".into())));
        let r = &message(&http(Service::Gotify, Some("app")), &m, 0)[0];
        assert!(r.headers.contains(&("X-Gotify-Key".into(), "app".into())));
        assert_eq!(
            body(&message(&http(Service::Slack, None), &m, 0)[0])["text"],
            "line one\nline two\nRunbook: file:///d/backup.md"
        );
        let t = message(
            &http(
                Service::Telegram {
                    chat_ids: vec!["1".into(), "2".into()],
                },
                None,
            ),
            &m,
            0,
        );
        assert_eq!(t.len(), 2);
        assert_eq!(body(&t[1])["chat_id"], "2");
        assert_eq!(
            body(&message(&http(Service::Teams, None), &m, 0)[0])["@type"],
            "MessageCard"
        );
        assert_eq!(
            body(&message(&http(Service::Workflows, None), &m, 0)[0])["attachments"][0]["content"]
                ["type"],
            "AdaptiveCard"
        );
        let long = Message {
            summary: "x".repeat(5000),
            ..m
        };
        assert!(
            body(&message(&http(Service::Discord, None), &long, 0)[0])["content"]
                .as_str()
                .unwrap()
                .chars()
                .count()
                <= 1900
        );
    }

    #[test]
    fn heartbeats_follow_healthchecks_and_kuma() {
        let call = |phase, exit_code| PingCall {
            phase,
            exit_code,
            run_id: Some("r".into()),
            body: "b".into(),
        };
        let hc = |p| {
            ping(PingService::Healthchecks, "https://hc.example.org/u/", &p)
                .unwrap()
                .url
        };
        assert_eq!(
            hc(call(Phase::Start, None)),
            "https://hc.example.org/u/start?rid=r"
        );
        assert_eq!(
            hc(call(Phase::Success, Some(0))),
            "https://hc.example.org/u?rid=r"
        );
        assert_eq!(
            hc(call(Phase::Fail, Some(3))),
            "https://hc.example.org/u/3?rid=r"
        );
        assert_eq!(
            hc(call(Phase::Fail, None)),
            "https://hc.example.org/u/fail?rid=r"
        );
        assert!(ping(
            PingService::Kuma,
            "http://k/api/push/T",
            &call(Phase::Start, None)
        )
        .is_none());
        let k = ping(
            PingService::Kuma,
            "http://k/api/push/T?ping=",
            &call(Phase::Fail, Some(1)),
        )
        .unwrap();
        assert_eq!(
            (k.method, k.url.as_str()),
            ("GET", "http://k/api/push/T?ping=&status=down&msg=b")
        );
        assert_eq!(
            run_id("0123456789abcdef0123456789abcdef").unwrap(),
            "01234567-89ab-cdef-0123-456789abcdef"
        );
        assert!(run_id("nope").is_none());
    }
}
