//! Sending what `render` decided (effects): HTTP with ureq, SMTP with lettre, the local
//! `sendmail -t`, the `apprise` command. Every attempt has a timeout; a failure that may
//! pass (a refused connection, a 5xx, a 429) is tried again with backoff, one that will
//! not (a 4xx, a refused login) is not. No error quotes a target's URL or a secret.

use crate::message::Message;
use crate::render::{self, PingCall, Request};
use crate::target::{Security, Sendmail, Sink, Smtp, Target};
use ops_core::{Category, OpsError};
use std::io::Write;
use std::time::Duration;

/// How hard to try.
#[derive(Debug, Clone)]
pub struct Options {
    /// One attempt's limit (connect, send, answer).
    pub timeout: Duration,
    /// Attempts in this run (the outbox tries again in later runs).
    pub attempts: u32,
    /// The wait before the second attempt, doubled for each after it.
    pub backoff: Duration,
}

/// A failed attempt, and whether another may succeed.
#[derive(Debug)]
pub struct Failure {
    pub error: OpsError,
    pub retry: bool,
}

fn failure(code: &'static str, retry: bool, message: impl Into<String>) -> Failure {
    Failure {
        error: OpsError::new(
            code,
            Category::Dependency,
            ops_core::redact::scrub(&message.into()),
        ),
        retry,
    }
}

/// The result of a delivery: attempts made, and the last error if none succeeded.
#[derive(Debug)]
pub struct Delivery {
    pub attempts: u32,
    pub error: Option<OpsError>,
    /// Whether a later attempt may succeed (worth the outbox).
    pub retryable: bool,
}

fn with_retries(o: &Options, mut attempt: impl FnMut() -> Result<(), Failure>) -> Delivery {
    let mut wait = o.backoff;
    for n in 1..=o.attempts.max(1) {
        match attempt() {
            Ok(()) => {
                return Delivery {
                    attempts: n,
                    error: None,
                    retryable: false,
                }
            }
            Err(f) if !f.retry || n == o.attempts.max(1) => {
                return Delivery {
                    attempts: n,
                    error: Some(f.error),
                    retryable: f.retry,
                }
            }
            Err(_) => {
                std::thread::sleep(wait);
                wait = wait.saturating_mul(2);
            }
        }
    }
    unreachable!("the last attempt returns")
}

/// Delivers `m` to `t`.
pub fn message(t: &Target, m: &Message, o: &Options) -> Delivery {
    match &t.sink {
        Sink::Http(h) => {
            let now = jiff::Timestamp::now().as_second();
            let requests = render::message(h, m, now);
            with_retries(o, || requests.iter().try_for_each(|r| http(r, o)))
        }
        Sink::Smtp(s) => with_retries(o, || smtp(s, m, o)),
        Sink::Sendmail(s) => with_retries(o, || sendmail(s, m, o)),
        Sink::Apprise(url) => with_retries(o, || apprise(&url.0, m, o)),
        Sink::Ping(_) => Delivery {
            attempts: 0,
            error: Some(OpsError::validation(
                "notify_target_invalid",
                "a heartbeat target takes pings only",
            )),
            retryable: false,
        },
    }
}

/// Pings `t` (`None`: the service has no such phase).
pub fn ping(t: &Target, call: &PingCall, o: &Options) -> Option<Delivery> {
    let Sink::Ping(p) = &t.sink else {
        return None;
    };
    let request = render::ping(p.service, &p.url, call)?;
    Some(with_retries(o, || http(&request, o)))
}

fn agent(o: &Options) -> ureq::Agent {
    use ureq::tls::{RootCerts, TlsConfig, TlsProvider};
    ureq::Agent::config_builder()
        .timeout_global(Some(o.timeout))
        .http_status_as_error(false)
        .user_agent(concat!("pgops-notify/", env!("CARGO_PKG_VERSION")))
        .tls_config(
            TlsConfig::builder()
                .provider(TlsProvider::NativeTls)
                .root_certs(RootCerts::PlatformVerifier)
                .build(),
        )
        .build()
        .into()
}

/// The part of an HTTP error a person may see: its kind, never the URL it was for.
fn http_error(e: &ureq::Error) -> Failure {
    use ureq::Error as E;
    match e {
        E::Timeout(_) => failure("notify_timeout", true, "no answer in time"),
        E::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            failure("notify_unreachable", true, "connection refused")
        }
        E::Io(io) => failure(
            "notify_unreachable",
            true,
            format!("network error: {}", io.kind()),
        ),
        E::HostNotFound => failure("notify_unreachable", true, "the host name does not resolve"),
        E::ConnectionFailed => failure("notify_unreachable", true, "the connection failed"),
        E::Tls(why) => failure("notify_tls", true, format!("TLS failed: {why}")),
        E::NativeTls(why) => failure("notify_tls", true, format!("TLS failed: {why}")),
        other => {
            // ureq's own words may quote the URL: keep only the error's kind.
            let kind = format!("{other:?}");
            let kind = kind.split(['(', ' ', '{']).next().unwrap_or("error");
            failure("notify_unreachable", true, format!("HTTP error ({kind})"))
        }
    }
}

fn http(r: &Request, o: &Options) -> Result<(), Failure> {
    let agent = agent(o);
    let response = match (r.method, &r.body) {
        ("GET", _) => {
            let mut b = agent.get(&r.url);
            for (k, v) in &r.headers {
                b = b.header(k, v);
            }
            b.call()
        }
        (_, body) => {
            let mut b = agent.post(&r.url);
            for (k, v) in &r.headers {
                b = b.header(k, v);
            }
            b.send(body.as_deref().unwrap_or("").as_bytes())
        }
    }
    .map_err(|e| http_error(&e))?;
    let status = response.status().as_u16();
    match status {
        200..=299 => Ok(()),
        // Too many requests, a timeout, the server's own trouble: later may work.
        408 | 425 | 429 | 500..=599 => Err(failure(
            "notify_http_status",
            true,
            format!("the service answered {status}"),
        )),
        _ => Err(failure(
            "notify_http_status",
            false,
            format!("the service refused the message ({status}): check the target"),
        )),
    }
}

fn mail(from: &str, to: &[String], m: &Message) -> Result<lettre::Message, Failure> {
    use lettre::message::header::ContentType;
    let bad = |what: &str| {
        failure(
            "notify_target_invalid",
            false,
            format!("{what} is not a mail address"),
        )
    };
    let mut b = lettre::Message::builder()
        .from(from.parse().map_err(|_| bad("from="))?)
        .subject(&m.subject)
        .header(ContentType::TEXT_PLAIN);
    for addr in to {
        b = b.to(addr.parse().map_err(|_| bad("to="))?);
    }
    b.body(m.text.clone()).map_err(|e| {
        failure(
            "notify_target_invalid",
            false,
            format!("the mail cannot be built: {e}"),
        )
    })
}

fn smtp(s: &Smtp, m: &Message, o: &Options) -> Result<(), Failure> {
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::Transport;
    let email = mail(&s.from, &s.to, m)?;
    let tls = || -> Result<TlsParameters, Failure> {
        let mut p = TlsParameters::builder(s.host.clone());
        if let Some(path) = &s.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                failure(
                    "notify_target_invalid",
                    false,
                    format!("reading ca_file: {}", e.kind()),
                )
            })?;
            let cert = Certificate::from_pem(&pem).map_err(|_| {
                failure(
                    "notify_target_invalid",
                    false,
                    "ca_file holds no PEM certificate",
                )
            })?;
            p = p.add_root_certificate(cert);
        }
        p.build()
            .map_err(|e| failure("notify_tls", false, format!("TLS cannot be set up: {e}")))
    };
    let mut b = lettre::SmtpTransport::builder_dangerous(&s.host)
        .port(s.port)
        .timeout(Some(o.timeout));
    b = match s.security {
        Security::Implicit => b.tls(Tls::Wrapper(tls()?)),
        Security::StartTls => b.tls(Tls::Required(tls()?)),
        Security::Plain => b.tls(Tls::None),
    };
    if let (Some(user), Some(pw)) = (&s.user, &s.password) {
        b = b.credentials(Credentials::new(user.clone(), pw.0.clone()));
    }
    b.build().send(&email).map(|_| ()).map_err(|e| {
        // A permanent SMTP answer (5xx: a refused login, a refused recipient) will not
        // pass by trying again; a transient one (4xx) or a connection error may.
        let retry = !e.is_permanent();
        // lettre reports a failed handshake as a connection error whose source is
        // OpenSSL's: its words say so.
        let cause = std::error::Error::source(&e)
            .map(|s| s.to_string())
            .unwrap_or_default();
        let tls = e.is_tls() || cause.contains("SSL routines") || cause.contains("certificate");
        let code = if tls { "notify_tls" } else { "notify_smtp" };
        let words = if e.is_permanent() {
            format!(
                "the mail server refused the message ({})",
                e.status().map(|c| c.to_string()).unwrap_or_default()
            )
        } else if e.is_transient() {
            format!(
                "the mail server deferred the message ({})",
                e.status().map(|c| c.to_string()).unwrap_or_default()
            )
        } else if tls {
            format!("TLS with the mail server failed ({cause})")
        } else {
            format!(
                "the mail server could not be reached ({})",
                std::error::Error::source(&e)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "connection".into())
            )
        };
        failure(code, retry, words)
    })
}

/// Runs `program` with `args`, writes `input` to it and waits at most `timeout`.
fn run_child(
    program: &std::path::Path,
    args: &[&str],
    input: &[u8],
    timeout: Duration,
    code: &'static str,
) -> Result<(), Failure> {
    let mut child = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| {
            failure(
                code,
                false,
                format!("{} cannot be run: {}", program.display(), e.kind()),
            )
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input);
    }
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                return Err(failure(
                    code,
                    true,
                    format!(
                        "{} failed ({status}): {}",
                        program.display(),
                        render::truncate(err.trim(), 300)
                    ),
                ));
            }
            Ok(None) if std::time::Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(failure(
                    "notify_timeout",
                    true,
                    format!("{} did not finish in time", program.display()),
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                return Err(failure(
                    code,
                    true,
                    format!("waiting for {}: {}", program.display(), e.kind()),
                ))
            }
        }
    }
}

/// `sendmail -t -i`: the recipients from the message's own headers, as every MTA (and
/// msmtp, nullmailer, ssmtp) takes it.
fn sendmail(s: &Sendmail, m: &Message, o: &Options) -> Result<(), Failure> {
    let email = mail(&s.from, &s.to, m)?;
    run_child(
        &s.program,
        &["-t", "-i"],
        &email.formatted(),
        o.timeout,
        "notify_sendmail",
    )
}

/// The `apprise` command, given its URL in a private configuration file (never argv,
/// which every user can read in /proc).
fn apprise(url: &str, m: &Message, o: &Options) -> Result<(), Failure> {
    let Some(program) = which("apprise") else {
        return Err(failure(
            "notify_apprise_missing",
            false,
            "an apprise+ target needs the apprise command (pip install apprise)",
        ));
    };
    let dir = ops_core::scratch::dir("notify").map_err(|e| {
        failure(
            "notify_apprise_missing",
            true,
            format!("a private directory: {}", e.kind()),
        )
    })?;
    let config = dir.path().join("apprise.txt");
    ops_core::atomic::write_file_mode(&config, format!("{url}\n").as_bytes(), 0o600).map_err(
        |e| {
            failure(
                "notify_apprise_missing",
                true,
                format!("writing its configuration: {}", e.kind()),
            )
        },
    )?;
    let config = config.display().to_string();
    let body = match &m.runbook {
        Some(r) => format!("{}\n\nRunbook: {r}", m.summary),
        None => m.summary.clone(),
    };
    run_child(
        &program,
        &["--config", &config, "--title", &m.subject, "--body", &body],
        b"",
        o.timeout,
        "notify_apprise",
    )
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|f| f.is_file())
    })
}
