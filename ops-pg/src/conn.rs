//! Connection settings, resolved once for every tool the way libpq would.
//!
//! The `postgres` crate reads neither the libpq environment nor `.pgpass`, so this module
//! does: environment (`PGHOST`, `PGPORT`, …) < `-d` conninfo or URI < `-h/-p/-U` flags.
//! The same resolved settings configure the in-process client ([`ConnSettings::pg_config`])
//! and every child `pg_dump`/`pg_restore` ([`ConnSettings::apply_to_command`]), so both
//! always talk to the same server as the same user.

use ops_core::error::{Category, OpsError};
use postgres::config::SslMode;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A password. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The connection flags every tool accepts, mirroring pg_dump's.
#[derive(Debug, Clone, Default)]
pub struct ConnFlags {
    pub host: Option<String>,
    pub port: Option<String>,
    pub username: Option<String>,
    /// A database name, a `key=value` conninfo, or a `postgresql://` URI.
    pub dbname: Option<String>,
}

/// Resolved connection settings. The password is only ever handed to a client, never shown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnSettings {
    /// Host name, IP address, or (starting with `/`) a Unix socket directory.
    pub host: Option<String>,
    pub hostaddr: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub dbname: Option<String>,
    password: Option<Secret>,
    pub passfile: Option<PathBuf>,
    pub sslmode: Option<String>,
    pub sslrootcert: Option<PathBuf>,
    pub sslcert: Option<PathBuf>,
    pub sslkey: Option<PathBuf>,
    pub connect_timeout: Option<u64>,
    pub application_name: Option<String>,
}

/// libpq variables that are cleared from a child's environment before the resolved ones are
/// set, so that nothing inherited can point the child at another server.
const LIBPQ_ENV: [&str; 17] = [
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGDATABASE",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGSSLMODE",
    "PGSSLROOTCERT",
    "PGSSLCERT",
    "PGSSLKEY",
    "PGCONNECT_TIMEOUT",
    "PGAPPNAME",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGOPTIONS",
    "PGREQUIRESSL",
];

/// libpq's connection keywords that pgops does not take (named in errors; anything else
/// is not echoed).
const LIBPQ_KEYWORDS: [&str; 24] = [
    "service",
    "options",
    "client_encoding",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "replication",
    "gssencmode",
    "gsslib",
    "gssdelegation",
    "krbsrvname",
    "requiressl",
    "sslcompression",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "sslpassword",
    "sslnegotiation",
    "require_auth",
    "channel_binding",
    "target_session_attrs",
    "load_balance_hosts",
];

const DEFAULT_SOCKET_DIRS: [&str; 2] = ["/var/run/postgresql", "/tmp"];

fn bad(msg: impl Into<String>) -> OpsError {
    OpsError::validation("invalid_connection", msg)
}

impl ConnSettings {
    /// Resolves settings from the process environment and the flags.
    pub fn resolve(flags: &ConnFlags) -> Result<ConnSettings, OpsError> {
        Self::resolve_with(flags, |k| std::env::var(k).ok())
    }

    /// Like [`resolve`](Self::resolve) with an explicit environment (for tests).
    pub fn resolve_with(
        flags: &ConnFlags,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<ConnSettings, OpsError> {
        let mut s = ConnSettings::default();
        let env = |k: &str| env(k).filter(|v| !v.is_empty());
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (key, var) in [
            ("host", "PGHOST"),
            ("hostaddr", "PGHOSTADDR"),
            ("port", "PGPORT"),
            ("user", "PGUSER"),
            ("dbname", "PGDATABASE"),
            ("password", "PGPASSWORD"),
            ("passfile", "PGPASSFILE"),
            ("sslmode", "PGSSLMODE"),
            ("sslrootcert", "PGSSLROOTCERT"),
            ("sslcert", "PGSSLCERT"),
            ("sslkey", "PGSSLKEY"),
            ("connect_timeout", "PGCONNECT_TIMEOUT"),
            ("application_name", "PGAPPNAME"),
        ] {
            if let Some(v) = env(var) {
                pairs.push((key.into(), v));
            }
        }
        if let Some(d) = &flags.dbname {
            if d.starts_with("postgresql://") || d.starts_with("postgres://") {
                pairs.extend(parse_uri(d)?);
            } else if d.contains('=') {
                pairs.extend(parse_conninfo(d)?);
            } else {
                pairs.push(("dbname".into(), d.clone()));
            }
        }
        for (key, v) in [
            ("host", &flags.host),
            ("port", &flags.port),
            ("user", &flags.username),
        ] {
            if let Some(v) = v {
                pairs.push((key.into(), v.clone()));
            }
        }
        for (k, v) in pairs {
            s.set(&k, v)?;
        }
        Ok(s)
    }

    fn set(&mut self, key: &str, v: String) -> Result<(), OpsError> {
        match key {
            "host" => {
                if v.contains(',') {
                    return Err(bad("several hosts in one setting are not supported"));
                }
                self.host = Some(v)
            }
            "hostaddr" => self.hostaddr = Some(v),
            "port" => self.port = Some(v.parse().map_err(|_| bad("invalid port: not a number from 1 to 65535 (a password holding / ? @ or : must be percent-encoded in a URI)"))?),
            "user" => self.user = Some(v),
            "dbname" => self.dbname = Some(v),
            "password" => self.password = Some(Secret(v)),
            "passfile" => self.passfile = Some(PathBuf::from(v)),
            "sslmode" => {
                const MODES: [&str; 6] = [
                    "disable",
                    "allow",
                    "prefer",
                    "require",
                    "verify-ca",
                    "verify-full",
                ];
                if !MODES.contains(&v.as_str()) {
                    return Err(bad(
                        "invalid sslmode: expected disable, allow, prefer, require, verify-ca or verify-full",
                    ));
                }
                self.sslmode = Some(v)
            }
            "sslrootcert" => self.sslrootcert = Some(PathBuf::from(v)),
            "sslcert" => self.sslcert = Some(PathBuf::from(v)),
            "sslkey" => self.sslkey = Some(PathBuf::from(v)),
            "connect_timeout" => {
                self.connect_timeout = Some(
                    v.trim()
                        .parse()
                        .map_err(|_| bad("invalid connect_timeout: not a number of seconds"))?,
                )
            }
            "application_name" | "fallback_application_name" => self.application_name = Some(v),
            other => {
                // Named only when it is one of libpq's own keywords: anything else may be
                // a fragment of a badly quoted password.
                let what = if LIBPQ_KEYWORDS.contains(&other) {
                    format!("connection parameter {other:?}")
                } else {
                    "an unknown connection parameter".to_string()
                };
                return Err(bad(format!("{what} is not supported by pgops")));
            }
        }
        Ok(())
    }

    /// Settings for a local socket, e.g. a private cluster's.
    pub fn local(
        socket_dir: &Path,
        port: u16,
        user: &str,
        dbname: &str,
        password: Option<String>,
    ) -> ConnSettings {
        ConnSettings {
            host: Some(socket_dir.display().to_string()),
            port: Some(port),
            user: Some(user.to_string()),
            dbname: Some(dbname.to_string()),
            password: password.map(Secret),
            sslmode: Some("disable".into()),
            ..ConnSettings::default()
        }
    }

    /// The settings with another database.
    pub fn for_database(&self, dbname: &str) -> ConnSettings {
        let mut s = self.clone();
        s.dbname = Some(dbname.to_string());
        s
    }

    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    /// The host libpq would use: explicit, else the first default socket directory that exists.
    pub fn effective_host(&self) -> String {
        if let Some(h) = &self.host {
            return h.clone();
        }
        DEFAULT_SOCKET_DIRS
            .iter()
            .find(|d| Path::new(d).is_dir())
            .map(|d| d.to_string())
            .unwrap_or_else(|| "localhost".into())
    }

    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or(5432)
    }

    pub fn effective_user(&self) -> String {
        self.user.clone().unwrap_or_else(|| {
            ops_core::event::actor()["user"]
                .as_str()
                .unwrap_or("postgres")
                .into()
        })
    }

    pub fn effective_dbname(&self) -> String {
        self.dbname.clone().unwrap_or_else(|| self.effective_user())
    }

    /// Every secret these settings hold, for the redactor.
    pub fn secrets(&self) -> Vec<String> {
        let mut out: Vec<String> = self.password.iter().map(|p| p.0.clone()).collect();
        if let Some(p) = self.passfile_password() {
            out.push(p);
        }
        out
    }

    fn passfile_path(&self) -> Option<PathBuf> {
        self.passfile
            .clone()
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pgpass")))
    }

    /// The password `.pgpass` holds for these settings, if any (libpq's rules: first match
    /// wins, `*` matches anything, a socket connection matches `localhost`, a file readable
    /// by group or others is ignored).
    pub fn passfile_password(&self) -> Option<String> {
        let path = self.passfile_path()?;
        let meta = std::fs::metadata(&path).ok()?;
        use std::os::unix::fs::PermissionsExt;
        if !meta.is_file() || meta.permissions().mode() & 0o077 != 0 {
            return None;
        }
        let text = std::fs::read_to_string(&path).ok()?;
        lookup_pgpass(
            &text,
            &pgpass_host(self.host.as_deref()),
            &self.effective_port().to_string(),
            &self.effective_dbname(),
            &self.effective_user(),
        )
    }

    /// A description safe to print or store: no password.
    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "host": self.effective_host(),
            "port": self.effective_port(),
            "user": self.effective_user(),
            "dbname": self.effective_dbname(),
            "sslmode": self.sslmode,
        })
    }

    /// A configuration for the in-process `postgres` client.
    pub fn pg_config(&self) -> Result<postgres::Config, OpsError> {
        let mut c = postgres::Config::new();
        let host = self.effective_host();
        if host.starts_with('/') {
            c.host_path(&host);
        } else {
            c.host(&host);
        }
        // With hostaddr, TCP goes to the address while TLS checks the certificate against
        // the host name, as in libpq.
        if let Some(addr) = self.hostaddr.as_deref() {
            let ip = addr
                .parse()
                .map_err(|_| bad("invalid hostaddr: not an IP address"))?;
            c.hostaddr(ip);
        }
        c.port(self.effective_port());
        c.user(&self.effective_user());
        c.dbname(&self.effective_dbname());
        if let Some(p) = self
            .password
            .as_ref()
            .map(|p| p.0.clone())
            .or_else(|| self.passfile_password())
        {
            c.password(p);
        }
        c.application_name(self.application_name.as_deref().unwrap_or("pgops"));
        c.connect_timeout(Duration::from_secs(
            self.connect_timeout.filter(|t| *t > 0).unwrap_or(30),
        ));
        // libpq ignores sslmode on a Unix socket (the server offers no TLS there).
        let mode = if host.starts_with('/') {
            SslMode::Disable
        } else {
            match self.sslmode.as_deref() {
                Some("disable") => SslMode::Disable,
                None | Some("allow") | Some("prefer") => SslMode::Prefer,
                Some(_) => SslMode::Require,
            }
        };
        c.ssl_mode(mode);
        Ok(c)
    }

    /// Connects the in-process client. Bad credentials are `auth_failed` (authz), anything
    /// else `connect_failed` (dependency); the message is redacted.
    pub fn connect(&self) -> Result<postgres::Client, OpsError> {
        let config = self.pg_config()?;
        let tls = crate::tls::connector(&self.tls_plan()?)?;
        config.connect(tls).map_err(|e| self.connect_error(&e))
    }

    /// The TLS this connection uses, by libpq's rules.
    pub fn tls_plan(&self) -> Result<crate::tls::TlsPlan, OpsError> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        crate::tls::plan(
            &crate::tls::TlsInputs {
                sslmode: self.sslmode.as_deref(),
                sslrootcert: self.sslrootcert.as_deref(),
                sslcert: self.sslcert.as_deref(),
                sslkey: self.sslkey.as_deref(),
                home: home.as_deref(),
            },
            Path::exists,
        )
    }

    fn connect_error(&self, err: &postgres::Error) -> OpsError {
        let target = format!(
            "{}:{} as {}",
            self.effective_host(),
            self.effective_port(),
            self.effective_user()
        );
        let detail = error_chain(err);
        let auth = err.code().is_some_and(|c| {
            *c == postgres::error::SqlState::INVALID_PASSWORD
                || *c == postgres::error::SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        }) || detail.contains("password missing");
        let redactor = ops_core::redact::Redactor::new(self.secrets());
        let meaning = Self::connect_meaning(&detail)
            .map(|m| format!(" ({m})"))
            .unwrap_or_default();
        let message = redactor.redact(&format!("cannot connect to {target}: {detail}{meaning}"));
        if auth {
            OpsError::new("auth_failed", Category::Authz, message)
        } else if detail.contains("TLS") {
            OpsError::new(crate::tls::TLS_FAILED, Category::Dependency, message)
        } else {
            OpsError::new("connect_failed", Category::Dependency, message)
        }
    }

    /// What the client library's words for a failed connection mean to an operator, for those
    /// that say nothing by themselves (`bytes remaining on stream`, `early eof`): the peer
    /// answered and hung up, or never answered.
    fn connect_meaning(detail: &str) -> Option<&'static str> {
        if detail.contains("bytes remaining on stream") || detail.contains("early eof") {
            Some("something answered at that address and closed the connection before speaking PostgreSQL: a firewall or proxy, another service on that port, or a server that wants TLS (sslmode)")
        } else if detail.contains("timed out") || detail.contains("deadline has elapsed") {
            Some("no answer: the host is unreachable or a firewall drops the packets; check the address, the port and connect_timeout")
        } else if detail.contains("Connection refused") {
            Some("nothing listens on that port there: is the server running, on that port and address (listen_addresses)?")
        } else {
            None
        }
    }

    /// Points a child libpq program at the same server: clears inherited libpq variables and
    /// sets the resolved ones. The database is passed as `PGDATABASE`, never as an argument,
    /// so a database named like a conninfo (`a=b`) is never parsed as one.
    pub fn apply_to_command(&self, cmd: &mut Command) {
        for var in LIBPQ_ENV {
            cmd.env_remove(var);
        }
        let mut env: BTreeMap<&str, String> = BTreeMap::new();
        if let Some(h) = &self.host {
            env.insert("PGHOST", h.clone());
        }
        if let Some(h) = &self.hostaddr {
            env.insert("PGHOSTADDR", h.clone());
        }
        if let Some(p) = self.port {
            env.insert("PGPORT", p.to_string());
        }
        if let Some(u) = &self.user {
            env.insert("PGUSER", u.clone());
        }
        if let Some(d) = &self.dbname {
            env.insert("PGDATABASE", d.clone());
        }
        if let Some(p) = &self.password {
            env.insert("PGPASSWORD", p.0.clone());
        }
        if let Some(f) = &self.passfile {
            env.insert("PGPASSFILE", f.to_string_lossy().into_owned());
        }
        if let Some(m) = &self.sslmode {
            env.insert("PGSSLMODE", m.clone());
        }
        for (var, path) in [
            ("PGSSLROOTCERT", &self.sslrootcert),
            ("PGSSLCERT", &self.sslcert),
            ("PGSSLKEY", &self.sslkey),
        ] {
            if let Some(p) = path {
                env.insert(var, p.to_string_lossy().into_owned());
            }
        }
        if let Some(t) = self.connect_timeout {
            env.insert("PGCONNECT_TIMEOUT", t.to_string());
        }
        env.insert(
            "PGAPPNAME",
            self.application_name
                .clone()
                .unwrap_or_else(|| "pgops".into()),
        );
        cmd.envs(env);
    }
}

/// The host name libpq matches in `.pgpass`: `localhost` for no host or the default socket
/// directory, else the host (or socket directory) as given.
pub fn pgpass_host(host: Option<&str>) -> String {
    match host {
        None | Some("") => "localhost".into(),
        Some(h) if DEFAULT_SOCKET_DIRS.contains(&h.trim_end_matches('/')) => "localhost".into(),
        Some(h) => h.to_string(),
    }
}

/// `invalid configuration: password missing`: an error and its causes, which the
/// `postgres` crate keeps out of its top-level message.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// libpq's `.pgpass` lookup: `hostname:port:database:username:password`, `*` wildcards,
/// `\:` and `\\` escapes, `#` comments, first match wins.
pub fn lookup_pgpass(text: &str, host: &str, port: &str, db: &str, user: &str) -> Option<String> {
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split_pgpass_line(line);
        if fields.len() != 5 {
            continue;
        }
        let matches = |pattern: &str, value: &str| pattern == "*" || pattern == value;
        if matches(&fields[0], host)
            && matches(&fields[1], port)
            && matches(&fields[2], db)
            && matches(&fields[3], user)
        {
            return Some(fields[4].clone());
        }
    }
    None
}

fn split_pgpass_line(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    fields.last_mut().unwrap().push(n);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

/// Parses a `key=value key2='quoted \' value'` conninfo string.
pub fn parse_conninfo(s: &str) -> Result<Vec<(String, String)>, OpsError> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            // The key is not echoed: in `password=two words` it is half the password.
            return Err(bad("conninfo: a word is not followed by \"=\" (quote values that hold spaces: key='a b')"));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            value.push(n)
                        }
                    }
                    '\'' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(bad("conninfo: unterminated quoted value"));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        value.push(n)
                    }
                } else {
                    value.push(c);
                }
            }
        }
        out.push((key, value));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Result<String, OpsError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad("URI: invalid percent-encoding"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad("URI: percent-encoding is not UTF-8"))
}

/// Parses `postgresql://[user[:password]@][host][:port][/dbname][?key=value&…]`.
pub fn parse_uri(uri: &str) -> Result<Vec<(String, String)>, OpsError> {
    let rest = uri
        .strip_prefix("postgresql://")
        .or_else(|| uri.strip_prefix("postgres://"))
        .ok_or_else(|| bad("URI must start with postgresql://"))?;
    let (main, query) = match rest.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match main.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (main, None),
    };
    let mut out = Vec::new();
    let hostport = match authority.rsplit_once('@') {
        Some((userinfo, hp)) => {
            match userinfo.split_once(':') {
                Some((u, p)) => {
                    out.push(("user".into(), percent_decode(u)?));
                    out.push(("password".into(), percent_decode(p)?));
                }
                None if !userinfo.is_empty() => {
                    out.push(("user".into(), percent_decode(userinfo)?))
                }
                None => {}
            }
            hp
        }
        None => authority,
    };
    let (host, port) = if let Some(stripped) = hostport.strip_prefix('[') {
        let (h, after) = stripped
            .split_once(']')
            .ok_or_else(|| bad("URI: unterminated [IPv6] host"))?;
        (h.to_string(), after.strip_prefix(':').map(str::to_string))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p.to_string())),
            None => (hostport.to_string(), None),
        }
    };
    if !host.is_empty() {
        out.push(("host".into(), percent_decode(&host)?));
    }
    if let Some(p) = port.filter(|p| !p.is_empty()) {
        out.push(("port".into(), p));
    }
    if let Some(db) = path.filter(|p| !p.is_empty()) {
        out.push(("dbname".into(), percent_decode(db)?));
    }
    for kv in query.unwrap_or("").split('&').filter(|s| !s.is_empty()) {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| bad("URI: a query parameter has no value"))?;
        out.push((percent_decode(k)?, percent_decode(v)?));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_connection_that_says_nothing_gets_words() {
        let m = ConnSettings::connect_meaning(
            "error communicating with the server: bytes remaining on stream",
        );
        assert!(m.unwrap().contains("closed the connection"));
        assert!(ConnSettings::connect_meaning("password authentication failed").is_none());
    }

    use super::*;

    fn resolve(flags: ConnFlags, env: &[(&str, &str)]) -> ConnSettings {
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ConnSettings::resolve_with(&flags, |k| env.get(k).cloned()).unwrap()
    }

    #[test]
    fn flags_override_uri_override_env() {
        let s = resolve(
            ConnFlags {
                dbname: Some(
                    "postgresql://alice:s%40cret@db.example:6543/shop?sslmode=disable".into(),
                ),
                port: Some("7777".into()),
                ..Default::default()
            },
            &[("PGHOST", "/run/pg"), ("PGUSER", "bob"), ("PGPORT", "5433")],
        );
        assert_eq!(s.host.as_deref(), Some("db.example"));
        assert_eq!(s.port, Some(7777));
        assert_eq!(s.user.as_deref(), Some("alice"));
        assert_eq!(s.dbname.as_deref(), Some("shop"));
        assert_eq!(s.secrets(), vec!["s@cret".to_string()]);
        assert_eq!(s.sslmode.as_deref(), Some("disable"));
        assert!(!format!("{s:?}").contains("s@cret"));
        assert!(!s.describe().to_string().contains("s@cret"));
    }

    #[test]
    fn conninfo_with_quotes() {
        let kv = parse_conninfo("host=/tmp dbname='my \\'db\\'' user = x").unwrap();
        assert_eq!(
            kv,
            vec![
                ("host".into(), "/tmp".into()),
                ("dbname".into(), "my 'db'".into()),
                ("user".into(), "x".into())
            ]
        );
        assert!(parse_conninfo("dbname='open").is_err());
        assert!(parse_conninfo("novalue").is_err());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let flags = ConnFlags {
            dbname: Some("dbname=x frobnicate=1".into()),
            ..Default::default()
        };
        assert!(ConnSettings::resolve_with(&flags, |_| None).is_err());
    }

    #[test]
    fn pgpass_rules() {
        let text =
            "# comment\nother:5432:*:*:nope\nlocalhost:5432:db\\:1:u:first\n*:*:*:u:second\n";
        assert_eq!(
            lookup_pgpass(text, "localhost", "5432", "db:1", "u").as_deref(),
            Some("first")
        );
        assert_eq!(
            lookup_pgpass(text, "localhost", "5432", "db2", "u").as_deref(),
            Some("second")
        );
        assert_eq!(lookup_pgpass(text, "localhost", "5432", "db2", "v"), None);
        assert_eq!(
            lookup_pgpass("h:1:d:u:pa\\:ss", "h", "1", "d", "u").as_deref(),
            Some("pa:ss")
        );
    }

    #[test]
    fn pgpass_host_follows_libpq() {
        assert_eq!(pgpass_host(None), "localhost");
        assert_eq!(pgpass_host(Some("/var/run/postgresql")), "localhost");
        assert_eq!(pgpass_host(Some("/tmp/pgops-x")), "/tmp/pgops-x");
        assert_eq!(pgpass_host(Some("db.example")), "db.example");
    }

    #[test]
    fn child_environment_is_exactly_the_settings() {
        let s = resolve(
            ConnFlags {
                host: Some("/sock".into()),
                ..Default::default()
            },
            &[("PGPASSWORD", "pw")],
        );
        let mut cmd = Command::new("true");
        cmd.env("PGSERVICE", "evil");
        s.for_database("a=b").apply_to_command(&mut cmd);
        let envs: BTreeMap<_, _> = cmd
            .get_envs()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.map(|v| v.to_string_lossy().into_owned()),
                )
            })
            .collect();
        assert_eq!(envs["PGHOST"].as_deref(), Some("/sock"));
        assert_eq!(envs["PGDATABASE"].as_deref(), Some("a=b"));
        assert_eq!(envs["PGPASSWORD"].as_deref(), Some("pw"));
        assert_eq!(envs["PGSERVICE"], None);
    }
}
