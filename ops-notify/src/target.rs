//! Where messages go: one URL per line of a private file, as Apprise and shoutrrr users
//! write them (ADR 0024 §3). A whole URL is a secret (tokens live in its path); outside
//! this module a target is only its index and its label (`ntfy://ntfy.example`).
//!
//! ```text
//! # tags before `=` choose the messages a target gets (none: every message)
//! failure,recovery=mailtos://alerts%40example.org:PASSWORD@smtp.example.org?to=ops@example.org
//! ntfys://ntfy.sh/pgops-prod?token_file=/etc/pgops/ntfy.token
//! hcs://hc-ping.com/3f1c…        (a heartbeat: only `ops-notify ping` uses it)
//! json+https://hooks.example.org/pgops?secret_file=/etc/pgops/webhook.secret
//! ```

use crate::message::Kind;
use ops_core::{Category, OpsError};
use std::path::{Path, PathBuf};

/// The variable naming the targets file.
pub const TARGETS_ENV: &str = "PGOPS_NOTIFY_TARGETS_FILE";
/// The unit a heartbeat target follows unless its `unit=` names others.
pub const DEFAULT_HEARTBEAT_UNIT: &str = "pgops-backup.service";
/// Where the targets file is when nothing names it.
pub const DEFAULT_TARGETS_FILE: &str = "/etc/pgops/notify.urls";

/// A secret value: never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How an SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// STARTTLS, required (`mailto://`, `smtp://`; port 587).
    StartTls,
    /// TLS from the first byte (`mailtos://`, `smtps://`; port 465).
    Implicit,
    /// No TLS (`?tls=none`): only for a relay on loopback.
    Plain,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub from: String,
    pub to: Vec<String>,
    /// A CA certificate (PEM) to trust for this server beyond the system's (`?ca_file=`).
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sendmail {
    pub program: PathBuf,
    pub from: String,
    pub to: Vec<String>,
}

/// The shape of an HTTP service's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Service {
    Ntfy {
        topic: String,
    },
    Gotify,
    /// Slack's incoming webhooks, and Mattermost's and Rocket.Chat's (the same payload).
    Slack,
    Discord,
    Telegram {
        chat_ids: Vec<String>,
    },
    /// A Microsoft Teams (Office 365 connector) incoming webhook: a MessageCard.
    Teams,
    /// A Teams Workflows (Power Automate) webhook: an Adaptive Card.
    Workflows,
    /// pgops' own JSON, signed with HMAC-SHA256 when a secret is set.
    Json {
        secret: Option<Secret>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Http {
    pub service: Service,
    /// The endpoint, with every secret parameter of the target line removed.
    pub url: String,
    /// A bearer token (ntfy) or application token (Gotify).
    pub token: Option<Secret>,
}

/// A dead-man switch: told when a job starts, succeeds or fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PingService {
    /// healthchecks.io and its self-hosted kin: `/start`, `/fail`, `/<exit code>`.
    Healthchecks,
    /// An Uptime Kuma push monitor: `?status=up|down&msg=…`.
    Kuma,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ping {
    pub service: PingService,
    pub url: String,
    /// The units whose runs it follows (`?unit=a.service,b.service`; none: the backup).
    pub units: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    Smtp(Smtp),
    Sendmail(Sendmail),
    Http(Http),
    Ping(Ping),
    /// An Apprise URL, handed to the `apprise` command when it is installed.
    Apprise(Secret),
}

/// One line of the targets file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Its line number in the file: how events, the outbox and errors name it.
    pub line: usize,
    /// Its scheme and host, never more: safe to show.
    pub label: String,
    /// What the outbox checks before sending a held message: the same line still there.
    pub fingerprint: String,
    pub sink: Sink,
    /// The messages it gets (`None`: every message).
    pub tags: Option<Vec<Kind>>,
}

impl Target {
    /// Whether this target gets a message of `kind`: a heartbeat target gets pings only,
    /// every other target gets the messages its tags name (a test message always). No
    /// tags: failures, recoveries and digests; what each unit proved (`proven`, a
    /// message per unit run) only when asked for, or the hourly audit alone would send
    /// 24 a day.
    pub fn wants(&self, kind: Kind) -> bool {
        match (&self.sink, kind) {
            (Sink::Ping(_), k) => k == Kind::Heartbeat,
            (_, Kind::Heartbeat) => false,
            (_, Kind::Test) => true,
            (_, k) => match &self.tags {
                Some(t) => t.contains(&k),
                None => k != Kind::Proven,
            },
        }
    }

    /// Whether this heartbeat target follows `unit` (its `unit=` list; none: the nightly
    /// backup, [`DEFAULT_HEARTBEAT_UNIT`]).
    pub fn follows(&self, unit: &str) -> bool {
        match &self.sink {
            Sink::Ping(p) if p.units.is_empty() => unit == DEFAULT_HEARTBEAT_UNIT,
            Sink::Ping(p) => p.units.iter().any(|u| u == unit),
            _ => false,
        }
    }

    /// The scheme that names its kind in metrics (`pgops_notify_failures_total{sink}`).
    pub fn scheme(&self) -> &'static str {
        match &self.sink {
            Sink::Smtp(_) => "smtp",
            Sink::Sendmail(_) => "sendmail",
            Sink::Apprise(_) => "apprise",
            Sink::Ping(p) => match p.service {
                PingService::Healthchecks => "healthchecks",
                PingService::Kuma => "kuma",
            },
            Sink::Http(h) => match h.service {
                Service::Ntfy { .. } => "ntfy",
                Service::Gotify => "gotify",
                Service::Slack => "slack",
                Service::Discord => "discord",
                Service::Telegram { .. } => "telegram",
                Service::Teams => "msteams",
                Service::Workflows => "workflows",
                Service::Json { .. } => "json",
            },
        }
    }
}

fn invalid(line: usize, why: impl std::fmt::Display) -> OpsError {
    // The line number, never the line: it holds secrets.
    OpsError::validation(
        "notify_target_invalid",
        format!("the targets file, line {line}: {why}"),
    )
}

/// Reads a file holding a secret: refused when every user may read it (owner and group
/// may: units run as `postgres` with the file `root:postgres 0640`).
pub fn read_private(path: &Path, what: &str) -> Result<String, OpsError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            OpsError::validation(
                "notify_file_missing",
                format!("{what} {} does not exist", path.display()),
            )
        } else {
            OpsError::io(format!("reading {what} {}", path.display()), &e)
        }
    })?;
    if meta.permissions().mode() & 0o004 != 0 {
        return Err(OpsError::new(
            "notify_file_insecure",
            Category::Validation,
            format!(
                "{what} {} is readable by every user (mode {:o}): it holds secrets; chmod o-r it",
                path.display(),
                meta.permissions().mode() & 0o777
            ),
        ));
    }
    std::fs::read_to_string(path)
        .map_err(|e| OpsError::io(format!("reading {what} {}", path.display()), &e))
}

/// The targets configured: the file named (it must exist), else the default file, whose
/// absence means nothing is configured (no target, nothing sent).
pub fn configured(named: Option<&Path>) -> Result<Vec<Target>, OpsError> {
    match named {
        Some(file) => load(file),
        None if Path::new(DEFAULT_TARGETS_FILE).exists() => load(Path::new(DEFAULT_TARGETS_FILE)),
        None => Ok(Vec::new()),
    }
}

/// Reads and parses the targets file at `path`.
pub fn load(path: &Path) -> Result<Vec<Target>, OpsError> {
    parse(&read_private(path, "the targets file")?, &|p| {
        read_private(p, "the secret file").map(|t| t.trim().to_string())
    })
}

/// Parses the targets file's text; `read_secret` reads a `*_file=` parameter's file.
pub fn parse(
    text: &str,
    read_secret: &dyn Fn(&Path) -> Result<String, OpsError>,
) -> Result<Vec<Target>, OpsError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let (tags, url) = split_tags(l).map_err(|why| invalid(line, why))?;
        let sink = sink(url, read_secret).map_err(|why| match why {
            Bad::Line(why) => invalid(line, why),
            Bad::Secret(e) => e,
        })?;
        out.push(Target {
            line,
            label: label(url),
            fingerprint: fingerprint(url),
            sink,
            tags,
        });
    }
    Ok(out)
}

/// `sha256(line)[..16]`: ties a held message to the target line it was meant for.
pub fn fingerprint(url: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(url.as_bytes())[..8])
}

/// `failure,recovery=URL` → the tags and the URL (Apprise's text configuration form).
fn split_tags(l: &str) -> Result<(Option<Vec<Kind>>, &str), String> {
    let scheme_at = l.find("://").ok_or("not a URL (no ://)")?;
    match l[..scheme_at].find('=') {
        None => Ok((None, l)),
        Some(eq) => {
            let tags = l[..eq]
                .split([',', ' '])
                .filter(|t| !t.is_empty())
                .map(|t| {
                    Kind::from_tag(t).ok_or_else(|| {
                        format!("unknown tag {t:?} (failure, recovery, proven, digest, heartbeat)")
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((Some(tags), l[eq + 1..].trim()))
        }
    }
}

/// The scheme and host of a URL: what is shown of a target.
pub fn label(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "?".into();
    };
    let host = rest.split(['/', '?']).next().unwrap_or("");
    // Everything before `@` is credentials; token-style schemes hold a token as "host".
    let host = host.rsplit('@').next().unwrap_or("");
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let host = if name.contains('.') || name.starts_with('[') || name == "localhost" {
        host
    } else {
        ""
    };
    format!("{}://{host}", scheme.to_ascii_lowercase())
}

enum Bad {
    Line(String),
    Secret(OpsError),
}

impl From<String> for Bad {
    fn from(s: String) -> Bad {
        Bad::Line(s)
    }
}

impl From<&str> for Bad {
    fn from(s: &str) -> Bad {
        Bad::Line(s.to_string())
    }
}

/// The query parameters of a URL, minus those that carry secrets (kept apart).
struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    fn of(u: &url::Url) -> Params {
        Params {
            pairs: u.query_pairs().into_owned().collect(),
        }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn list(&self, key: &str) -> Vec<String> {
        self.get(key)
            .map(|v| {
                v.split([',', ' '])
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `key=…` or `key_file=…` (read from the file).
    fn secret(
        &self,
        key: &str,
        read: &dyn Fn(&Path) -> Result<String, OpsError>,
    ) -> Result<Option<Secret>, Bad> {
        if let Some(path) = self.get(&format!("{key}_file")) {
            let value = read(Path::new(path)).map_err(Bad::Secret)?;
            if value.is_empty() {
                return Err(format!("{key}_file names an empty file").into());
            }
            return Ok(Some(Secret(value)));
        }
        Ok(self.get(key).map(|v| Secret(v.to_string())))
    }
}

/// The parameters pgops reads, removed from an endpoint that is otherwise sent as given.
const OWN_PARAMS: [&str; 10] = [
    "unit",
    "ca_file",
    "secret",
    "secret_file",
    "token",
    "token_file",
    "topic",
    "chat_id",
    "password",
    "password_file",
];

fn endpoint(u: &url::Url, scheme: &str) -> Result<String, Bad> {
    let mut u = u.clone();
    let kept: Vec<(String, String)> = u
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| !OWN_PARAMS.contains(&k.as_str()))
        .collect();
    if kept.is_empty() {
        u.set_query(None);
    } else {
        u.query_pairs_mut().clear().extend_pairs(kept);
    }
    let text = u.to_string();
    let rest = text.split_once("://").map(|(_, r)| r).unwrap_or("");
    Ok(format!("{scheme}://{rest}"))
}

fn parse_url(url: &str) -> Result<url::Url, Bad> {
    // The parser's error names the part that is wrong, never the value.
    url::Url::parse(url).map_err(|e| Bad::Line(format!("not a valid URL ({e})")))
}

/// The function that reads secrets a target names (`*_file=`).
type ReadSecret<'a> = &'a dyn Fn(&Path) -> Result<String, OpsError>;

fn sink(url: &str, read: ReadSecret<'_>) -> Result<Sink, Bad> {
    let (scheme, rest) = url.split_once("://").ok_or("not a URL (no ://)")?;
    let scheme = scheme.to_ascii_lowercase();
    // `service+https://endpoint`: the service's request, sent to exactly this endpoint.
    if let Some((service, transport)) = scheme.split_once('+') {
        if service == "apprise" {
            return Ok(Sink::Apprise(Secret(format!("{transport}://{rest}"))));
        }
        if transport != "http" && transport != "https" {
            return Err(
                format!("{scheme}: only {service}+http and {service}+https are known").into(),
            );
        }
        let u = parse_url(&format!("{transport}://{rest}"))?;
        return explicit(service, &u, transport, read);
    }
    // The scheme's last `s` (`ntfys`, `mailtos`) asks for TLS.
    let tls = if scheme.ends_with('s') {
        "https"
    } else {
        "http"
    };
    match scheme.as_str() {
        "mailto" | "smtp" | "mailtos" | "smtps" => smtp(&scheme, &parse_url(url)?, read),
        "sendmail" => sendmail(&parse_url(url)?),
        "slack" | "discord" | "tgram" => token_style(&scheme, rest),
        "ntfy" | "ntfys" => ntfy(&parse_url(url)?, tls, read),
        "gotify" | "gotifys" => gotify(&parse_url(url)?, tls),
        "mmost" | "mmosts" | "rocket" | "rockets" => slack_compatible(&scheme, &parse_url(url)?, tls),
        "json" | "jsons" => {
            let u = parse_url(url)?;
            let secret = Params::of(&u).secret("secret", read)?;
            Ok(Sink::Http(Http {
                service: Service::Json { secret },
                url: endpoint(&u, tls)?,
                token: None,
            }))
        }
        "hc" | "hcs" => healthchecks(&parse_url(url)?, tls),
        "kuma" | "kumas" => {
            let u = parse_url(url)?;
            ping(PingService::Kuma, endpoint(&u, tls)?, Params::of(&u).list("unit"))
        }
        "http" | "https" => known_host(&parse_url(url)?, &scheme, read),
        other => Err(format!(
            "unknown scheme {other}:// (mailto, mailtos, smtp, smtps, sendmail, ntfy, ntfys, gotify, gotifys, slack, mmost, mmosts, rocket, rockets, discord, tgram, msteams+https, workflows+https, json, jsons, hc, hcs, kuma, kumas, apprise+…)"
        )
        .into()),
    }
}

/// `slack://A/B/C`, `discord://ID/TOKEN`, `tgram://BOT/CHAT…`: tokens, not hosts.
fn token_style(scheme: &str, rest: &str) -> Result<Sink, Bad> {
    let parts = token_parts(rest);
    match scheme {
        "slack" if parts.len() == 3 => http(
            Service::Slack,
            format!("https://hooks.slack.com/services/{}", parts.join("/")),
        ),
        "slack" => Err("slack://A/B/C: the three parts of the webhook token".into()),
        "discord" if parts.len() == 2 => http(
            Service::Discord,
            format!("https://discord.com/api/webhooks/{}", parts.join("/")),
        ),
        "discord" => Err("discord://WEBHOOK_ID/WEBHOOK_TOKEN".into()),
        _ if parts.len() >= 2 => http(
            Service::Telegram {
                chat_ids: parts[1..].to_vec(),
            },
            format!("https://api.telegram.org/bot{}/sendMessage", parts[0]),
        ),
        _ => Err("tgram://BOT_TOKEN/CHAT_ID[/CHAT_ID…]".into()),
    }
}

/// `ntfy://[user:pw@]host/topic`, or `ntfy://topic` on the public ntfy.sh.
fn ntfy(u: &url::Url, tls: &str, read: ReadSecret<'_>) -> Result<Sink, Bad> {
    let segments = path_segments(u);
    let (base, topic) = match segments.last() {
        None => ("https://ntfy.sh/".to_string(), host(u)?),
        Some(topic) => (
            format!("{tls}://{}{}/", host_port(u)?, prefix(&segments)),
            topic.clone(),
        ),
    };
    let token = Params::of(u).secret("token", read)?.or_else(|| password(u));
    Ok(Sink::Http(Http {
        service: Service::Ntfy { topic },
        url: base,
        token,
    }))
}

/// `gotify://host[/path]/TOKEN`.
fn gotify(u: &url::Url, tls: &str) -> Result<Sink, Bad> {
    let segments = path_segments(u);
    let token = segments
        .last()
        .cloned()
        .map(Secret)
        .ok_or("gotify://host/TOKEN: the application token is missing")?;
    Ok(Sink::Http(Http {
        service: Service::Gotify,
        url: format!("{tls}://{}{}/message", host_port(u)?, prefix(&segments)),
        token: Some(token),
    }))
}

/// Mattermost's and Rocket.Chat's incoming webhooks: `mmost://host/TOKEN`,
/// `rocket://TOKEN@host` (Apprise's form).
fn slack_compatible(scheme: &str, u: &url::Url, tls: &str) -> Result<Sink, Bad> {
    let segments = path_segments(u);
    let (token, path_prefix) = match u.username() {
        "" => (segments.last().cloned(), prefix(&segments)),
        user => (Some(user.to_string()), prefix_all(&segments)),
    };
    let token =
        token.ok_or_else(|| format!("{scheme}://host/TOKEN: the webhook token is missing"))?;
    http(
        Service::Slack,
        format!("{tls}://{}{path_prefix}/hooks/{token}", host_port(u)?),
    )
}

/// `hc://UUID` (the hosted healthchecks.io) or `hc[s]://host/path` (self-hosted).
fn healthchecks(u: &url::Url, tls: &str) -> Result<Sink, Bad> {
    let hosted = path_segments(u).is_empty() && !host(u)?.contains('.') && u.port().is_none();
    let url = if hosted {
        format!("https://hc-ping.com/{}", host(u)?)
    } else {
        endpoint(u, tls)?
    };
    ping(PingService::Healthchecks, url, Params::of(u).list("unit"))
}

/// A plain https:// URL names its service by its host (a Slack, Discord, Teams or
/// healthchecks URL pasted as the service shows it).
fn known_host(u: &url::Url, scheme: &str, read: ReadSecret<'_>) -> Result<Sink, Bad> {
    let h = host(u)?;
    let service = if h == "hooks.slack.com" {
        "slack"
    } else if h == "discord.com" || h == "discordapp.com" {
        "discord"
    } else if h.ends_with(".webhook.office.com") {
        "msteams"
    } else if h.ends_with(".logic.azure.com") || h.ends_with(".powerplatform.com") {
        "workflows"
    } else if h == "hc-ping.com" {
        "hc"
    } else {
        return Err(format!(
            "{scheme}:// to a host pgops does not know: write json+{scheme}:// for a generic webhook, or SERVICE+{scheme}:// for a service's own"
        )
        .into());
    };
    explicit(service, u, scheme, read)
}

/// `service+http(s)://endpoint`.
fn explicit(
    service: &str,
    u: &url::Url,
    transport: &str,
    read: ReadSecret<'_>,
) -> Result<Sink, Bad> {
    let p = Params::of(u);
    let url = endpoint(u, transport)?;
    let service = match service {
        "slack" | "mmost" | "rocket" => Service::Slack,
        "discord" => Service::Discord,
        "msteams" | "teams" => Service::Teams,
        "workflows" => Service::Workflows,
        "gotify" => Service::Gotify,
        "ntfy" => Service::Ntfy {
            topic: p
                .get("topic")
                .ok_or("ntfy+https://host/?topic=TOPIC: the topic is missing")?
                .to_string(),
        },
        "tgram" | "telegram" => {
            let chat_ids = p.list("chat_id");
            if chat_ids.is_empty() {
                return Err("tgram+https://…/sendMessage?chat_id=ID: the chat is missing".into());
            }
            Service::Telegram { chat_ids }
        }
        "json" => Service::Json {
            secret: p.secret("secret", read)?,
        },
        "hc" => return ping(PingService::Healthchecks, url, p.list("unit")),
        "kuma" => return ping(PingService::Kuma, url, p.list("unit")),
        other => return Err(format!("unknown service {other}+{transport}://").into()),
    };
    Ok(Sink::Http(Http {
        token: p.secret("token", read)?,
        service,
        url,
    }))
}

fn http(service: Service, url: String) -> Result<Sink, Bad> {
    Ok(Sink::Http(Http {
        service,
        url,
        token: None,
    }))
}

fn ping(service: PingService, url: String, units: Vec<String>) -> Result<Sink, Bad> {
    Ok(Sink::Ping(Ping {
        service,
        url,
        units,
    }))
}

fn smtp(scheme: &str, u: &url::Url, read: ReadSecret<'_>) -> Result<Sink, Bad> {
    let p = Params::of(u);
    let mut security = if scheme.ends_with('s') {
        Security::Implicit
    } else {
        Security::StartTls
    };
    match p.get("tls") {
        None => {}
        Some("none") => security = Security::Plain,
        Some("starttls") => security = Security::StartTls,
        Some("implicit") => security = Security::Implicit,
        Some(_) => return Err("tls= is none, starttls or implicit".into()),
    }
    let user = Some(decode(u.username())).filter(|s| !s.is_empty());
    let password = match p.secret("password", read)? {
        Some(s) => Some(s),
        None => password(u),
    };
    let to = p.list("to");
    if to.is_empty() {
        return Err("the recipients are missing (?to=ops@example.org[,…])".into());
    }
    let host = host(u)?;
    let from = match p.get("from") {
        Some(f) => f.to_string(),
        None => match &user {
            Some(u) if u.contains('@') => u.clone(),
            _ => format!("pgops@{host}"),
        },
    };
    let port = u.port().unwrap_or(match security {
        Security::Implicit => 465,
        Security::StartTls => 587,
        Security::Plain => 25,
    });
    Ok(Sink::Smtp(Smtp {
        host,
        port,
        security,
        user,
        password,
        from,
        to,
        ca_file: p.get("ca_file").map(PathBuf::from),
    }))
}

fn sendmail(u: &url::Url) -> Result<Sink, Bad> {
    let p = Params::of(u);
    let to = p.list("to");
    if to.is_empty() {
        return Err("the recipients are missing (?to=ops@example.org[,…])".into());
    }
    let program = match u.path() {
        "" | "/" => PathBuf::from("/usr/sbin/sendmail"),
        path => PathBuf::from(decode(path)),
    };
    Ok(Sink::Sendmail(Sendmail {
        program,
        from: p.get("from").unwrap_or("pgops").to_string(),
        to,
    }))
}

fn decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn password(u: &url::Url) -> Option<Secret> {
    u.password().map(|p| Secret(decode(p)))
}

fn host(u: &url::Url) -> Result<String, Bad> {
    match u.host_str() {
        Some(h) if !h.is_empty() => Ok(h.to_string()),
        _ => Err("the host is missing".into()),
    }
}

fn host_port(u: &url::Url) -> Result<String, Bad> {
    let h = host(u)?;
    Ok(match u.port() {
        Some(p) => format!("{h}:{p}"),
        None => h,
    })
}

fn path_segments(u: &url::Url) -> Vec<String> {
    u.path_segments()
        .map(|s| s.filter(|x| !x.is_empty()).map(String::from).collect())
        .unwrap_or_default()
}

/// `/a/b` of segments `[a, b, last]`: a path the service sits under.
fn prefix(segments: &[String]) -> String {
    match segments.split_last() {
        Some((_, head)) => prefix_all(head),
        None => String::new(),
    }
}

fn prefix_all(segments: &[String]) -> String {
    segments.iter().map(|s| format!("/{s}")).collect()
}

/// The `/`-separated parts after the scheme of a token-style URL (`slack://A/B/C`): not
/// parsed as host and port, since tokens hold `:`.
fn token_parts(rest: &str) -> Vec<String> {
    rest.split('?')
        .next()
        .unwrap_or("")
        .split('/')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> Target {
        let mut t = parse(line, &|p| Ok(format!("from-{}", p.display()))).unwrap();
        assert_eq!(t.len(), 1);
        t.remove(0)
    }

    fn err(line: &str) -> OpsError {
        parse(line, &|_| Ok(String::new())).unwrap_err()
    }

    fn url_of(t: &Target) -> String {
        match &t.sink {
            Sink::Http(h) => h.url.clone(),
            Sink::Ping(p) => p.url.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn mail_targets_follow_apprise() {
        let t = one("mailtos://alerts%40example.org:s%2Fecret@smtp.example.org?to=a@x.org,b@x.org");
        let Sink::Smtp(s) = &t.sink else { panic!() };
        assert_eq!(
            (s.host.as_str(), s.port, s.security),
            ("smtp.example.org", 465, Security::Implicit)
        );
        assert_eq!(s.user.as_deref(), Some("alerts@example.org"));
        assert_eq!(s.password, Some(Secret("s/ecret".into())));
        assert_eq!(s.from, "alerts@example.org");
        assert_eq!(s.to, ["a@x.org", "b@x.org"]);
        assert_eq!(t.label, "mailtos://smtp.example.org");
        let t = one("smtp://u@127.0.0.1:2525?to=a@x.org&tls=none&password_file=/p&from=pgops@h");
        let Sink::Smtp(s) = &t.sink else { panic!() };
        assert_eq!((s.port, s.security), (2525, Security::Plain));
        assert_eq!(s.password, Some(Secret("from-/p".into())));
        assert_eq!(s.from, "pgops@h");
        let Sink::Smtp(s) = one("mailto://smtp.example.org?to=a@x.org").sink else {
            panic!()
        };
        assert_eq!((s.port, s.security), (587, Security::StartTls));
        assert_eq!(
            err("mailto://smtp.example.org").code,
            "notify_target_invalid"
        );
        let Sink::Sendmail(m) = one("sendmail:///usr/bin/msmtp?to=a@x.org").sink else {
            panic!()
        };
        assert_eq!(m.program, Path::new("/usr/bin/msmtp"));
        let Sink::Sendmail(m) = one("sendmail://?to=a@x.org").sink else {
            panic!()
        };
        assert_eq!(m.program, Path::new("/usr/sbin/sendmail"));
    }

    #[test]
    fn chat_targets_become_their_endpoints() {
        assert_eq!(
            url_of(&one("slack://T0/B1/xyz")),
            "https://hooks.slack.com/services/T0/B1/xyz"
        );
        assert_eq!(
            url_of(&one("https://hooks.slack.com/services/T0/B1/xyz")),
            "https://hooks.slack.com/services/T0/B1/xyz"
        );
        assert_eq!(
            url_of(&one("discord://123/abc")),
            "https://discord.com/api/webhooks/123/abc"
        );
        let t = one("tgram://123456:ABC-def/-100200/42");
        assert_eq!(
            url_of(&t),
            "https://api.telegram.org/bot123456:ABC-def/sendMessage"
        );
        assert_eq!(t.label, "tgram://", "a token is never shown");
        let Sink::Http(h) = &t.sink else { panic!() };
        assert_eq!(
            h.service,
            Service::Telegram {
                chat_ids: vec!["-100200".into(), "42".into()]
            }
        );
        assert_eq!(
            url_of(&one("mmosts://chat.example.org/abc")),
            "https://chat.example.org/hooks/abc"
        );
        assert_eq!(
            url_of(&one("rocket://tok@chat.example.org:3000")),
            "http://chat.example.org:3000/hooks/tok"
        );
        let t = one("ntfys://ntfy.example.org/pgops?token=tk");
        assert_eq!(url_of(&t), "https://ntfy.example.org/");
        let Sink::Http(h) = &t.sink else { panic!() };
        assert_eq!(
            h.service,
            Service::Ntfy {
                topic: "pgops".into()
            }
        );
        assert_eq!(h.token, Some(Secret("tk".into())));
        assert_eq!(url_of(&one("ntfy://mytopic")), "https://ntfy.sh/");
        let t = one("gotify://push.example.org/sub/AppTok");
        assert_eq!(url_of(&t), "http://push.example.org/sub/message");
        assert_eq!(
            url_of(&one("msteams+https://x.webhook.office.com/webhookb2/a")),
            "https://x.webhook.office.com/webhookb2/a"
        );
        let t = one("json+http://127.0.0.1:9/hook?secret_file=/s&keep=1");
        assert_eq!(
            url_of(&t),
            "http://127.0.0.1:9/hook?keep=1",
            "the secret's parameter is not sent"
        );
        let Sink::Http(h) = &t.sink else { panic!() };
        assert_eq!(
            h.service,
            Service::Json {
                secret: Some(Secret("from-/s".into()))
            }
        );
        assert_eq!(
            url_of(&one("jsons://hooks.example.org/p")),
            "https://hooks.example.org/p"
        );
        assert!(err("https://example.org/x").message.contains("json+https"));
        assert!(err("irc://x").message.contains("unknown scheme"));
    }

    #[test]
    fn heartbeats_and_tags() {
        assert_eq!(
            url_of(&one("hc://3f1c-uuid")),
            "https://hc-ping.com/3f1c-uuid"
        );
        assert_eq!(
            url_of(&one("hcs://hc.example.org/ping/u")),
            "https://hc.example.org/ping/u"
        );
        assert_eq!(
            url_of(&one("kuma://127.0.0.1:3001/api/push/Tk")),
            "http://127.0.0.1:3001/api/push/Tk"
        );
        let t = one("failure,digest=ntfys://ntfy.example.org/t");
        assert_eq!(t.tags, Some(vec![Kind::Failure, Kind::Digest]));
        assert!(t.wants(Kind::Failure) && !t.wants(Kind::Recovery) && t.wants(Kind::Test));
        assert!(!t.wants(Kind::Heartbeat));
        let hb = one("hc://u");
        assert!(hb.wants(Kind::Heartbeat) && !hb.wants(Kind::Failure));
        assert!(hb.follows("pgops-backup.service") && !hb.follows("pgops-audit.service"));
        let hb = one("hcs://hc.example.org/p?unit=pgops-copy.service,pgops-drill.service");
        assert_eq!(
            url_of(&hb),
            "https://hc.example.org/p",
            "unit= is pgops' own"
        );
        assert!(hb.follows("pgops-drill.service") && !hb.follows("pgops-backup.service"));
        let plain = one("ntfy://h.org/t");
        assert!(
            plain.wants(Kind::Failure) && plain.wants(Kind::Digest) && !plain.wants(Kind::Proven)
        );
        assert!(err("nonsense=ntfy://t").message.contains("unknown tag"));
        // A URL whose query holds `=` has no tags.
        assert_eq!(one("ntfy://h.org/t?x=1").tags, None);
        let list = parse(
            "# comment\n\nntfy://a.org/t\n  hc://u  \n",
            &|_| unreachable!(),
        )
        .unwrap();
        assert_eq!(list.iter().map(|t| t.line).collect::<Vec<_>>(), [3, 4]);
    }

    #[test]
    fn an_error_names_the_line_and_never_its_secret() {
        let e = err("ntfy://a.org/t\nmailtos://u:SENTINEL-PW@smtp.example.org");
        assert!(e.message.contains("line 2"), "{}", e.message);
        assert!(!e.message.contains("SENTINEL"), "{}", e.message);
        let e = err("http://u:SENTINEL-PW@[::1");
        assert!(!e.message.contains("SENTINEL"), "{}", e.message);
        let secret = one("json://127.0.0.1:1/p?secret=SENTINEL");
        assert!(!format!("{secret:?}").contains("SENTINEL"));
    }
}
