//! The exposure policy and the verdict of each finding (pure).
//!
//! Default: publicly reachable only tcp/22, tcp/80, tcp/443 and udp/51820; PostgreSQL,
//! the Kubernetes API, the kubelet, etcd and flannel never public.

use crate::scope::Scope;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    /// `tcp` or `udp`, as iptables, nft and the policy write them.
    pub fn from_name(name: &str) -> Option<Proto> {
        match name {
            "tcp" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            _ => None,
        }
    }
}

impl std::fmt::Display for Proto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// `tcp/22`, `tcp/2379-2380`, `udp/8472`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortSpec {
    pub proto: Proto,
    pub from: u16,
    pub to: u16,
}

impl PortSpec {
    pub fn contains(&self, proto: Proto, port: u16) -> bool {
        self.proto == proto && (self.from..=self.to).contains(&port)
    }
}

impl std::fmt::Display for PortSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.from == self.to {
            write!(f, "{}/{}", self.proto, self.from)
        } else {
            write!(f, "{}/{}-{}", self.proto, self.from, self.to)
        }
    }
}

impl std::str::FromStr for PortSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (proto, ports) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?}: expected tcp/PORT or udp/PORT[-PORT]"))?;
        let proto =
            Proto::from_name(proto).ok_or_else(|| format!("{s:?}: protocol must be tcp or udp"))?;
        let port = |p: &str| {
            p.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("{s:?}: invalid port {p:?}"))
        };
        let (from, to) = match ports.split_once('-') {
            Some((a, b)) => (port(a)?, port(b)?),
            None => (port(ports)?, port(ports)?),
        };
        if from > to {
            return Err(format!("{s:?}: empty range"));
        }
        Ok(PortSpec { proto, from, to })
    }
}

/// Parses a comma-separated list of port specs: pgops' own `tcp/22,udp/51820-51821`, or
/// nmap's `-p` syntax so an operator's habits work: bare ports and ranges are TCP
/// (`22,80,443`, `1-1024`, `-` for 1-65535, `-1024`, `60000-`), and a `T:` or `U:` prefix
/// sets the protocol for it and the items after it (`U:51820,8472,T:22`), as nmap does.
/// A list of ports from the command line, parsed by clap before any work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortList(pub Vec<PortSpec>);

/// `--ports` (`invalid_ports`).
pub fn ports_arg(s: &str) -> Result<PortList, ops_core::OpsError> {
    parse_list(s)
        .map(PortList)
        .map_err(|e| ops_core::OpsError::validation("invalid_ports", e))
}

/// `--allow`, `--never-public` (`invalid_policy`).
pub fn policy_arg(s: &str) -> Result<PortList, ops_core::OpsError> {
    parse_list(s)
        .map(PortList)
        .map_err(|e| ops_core::OpsError::validation("invalid_policy", e))
}

pub fn parse_list(s: &str) -> Result<Vec<PortSpec>, String> {
    let mut proto = Proto::Tcp;
    let mut out = Vec::new();
    for item in s.split(',').map(str::trim).filter(|x| !x.is_empty()) {
        if item.contains('/') {
            out.push(item.parse()?);
            continue;
        }
        let ports = match item.split_once(':') {
            Some((q, rest)) => {
                proto = match q {
                    "T" | "t" => Proto::Tcp,
                    "U" | "u" => Proto::Udp,
                    _ => return Err(format!("{item:?}: expected T: or U: before the ports")),
                };
                rest
            }
            None => item,
        };
        let port = |p: &str, default: u16| -> Result<u16, String> {
            if p.is_empty() {
                return Ok(default);
            }
            p.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("{item:?}: invalid port {p:?}"))
        };
        let (from, to) = match ports.split_once('-') {
            Some((a, b)) => (port(a, 1)?, port(b, u16::MAX)?),
            None if ports.is_empty() => return Err(format!("{item:?}: no port")),
            None => (port(ports, 0)?, port(ports, 0)?),
        };
        if from > to {
            return Err(format!("{item:?}: empty range"));
        }
        out.push(PortSpec { proto, from, to });
    }
    Ok(out)
}

#[cfg(test)]
mod list_tests {
    use super::*;

    fn list(s: &str) -> Vec<String> {
        parse_list(s)
            .unwrap()
            .iter()
            .map(|p| p.to_string())
            .collect()
    }

    #[test]
    fn nmap_syntax_is_accepted() {
        assert_eq!(list("1-65535"), ["tcp/1-65535"]);
        assert_eq!(list("-"), ["tcp/1-65535"]);
        assert_eq!(list("-1024,60000-"), ["tcp/1-1024", "tcp/60000-65535"]);
        assert_eq!(list("22,80,443"), ["tcp/22", "tcp/80", "tcp/443"]);
        assert_eq!(list("U:51820"), ["udp/51820"]);
        assert_eq!(
            list("T:1-1024,U:51820,8472,T:22"),
            ["tcp/1-1024", "udp/51820", "udp/8472", "tcp/22"]
        );
        assert_eq!(list("tcp/22,U:53"), ["tcp/22", "udp/53"]);
        for bad in ["X:22", "0", "80-22", "U:", "tcp/x", "70000"] {
            assert!(parse_list(bad).is_err(), "{bad}");
        }
    }
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub allow: Vec<PortSpec>,
    pub never_public: Vec<PortSpec>,
}

pub const DEFAULT_ALLOW: &str = "tcp/22,tcp/80,tcp/443,udp/51820";
pub const DEFAULT_NEVER_PUBLIC: &str = "tcp/5432,tcp/6443,tcp/10250,tcp/2379-2380,udp/8472";

/// The policy file: `{"allow": ["tcp/22", …], "never_public": ["tcp/5432", …]}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    pub allow: Vec<String>,
    pub never_public: Vec<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            allow: parse_list(DEFAULT_ALLOW).expect("default policy parses"),
            never_public: parse_list(DEFAULT_NEVER_PUBLIC).expect("default policy parses"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    Violation,
    Warning,
    Inconclusive,
}

impl Verdict {
    /// Its name in `audit.summary`'s `verdicts` tally (as it is serialised).
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Violation => "violation",
            Verdict::Warning => "warning",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// A judgement: the verdict, the rule that decided it, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    pub verdict: Verdict,
    pub rule: String,
    pub reason: String,
}

impl Policy {
    /// Judges one port reachable at `scope`.
    pub fn judge(&self, proto: Proto, port: u16, scope: Scope) -> Judgement {
        let never = self.never_public.iter().find(|s| s.contains(proto, port));
        let allowed = self.allow.iter().find(|s| s.contains(proto, port));
        let j = |verdict, rule: String, reason: &str| Judgement {
            verdict,
            rule,
            reason: reason.to_string(),
        };
        match scope {
            Scope::Loopback => j(
                Verdict::Ok,
                "loopback".into(),
                "reachable only from this host",
            ),
            Scope::Wireguard => j(
                Verdict::Ok,
                "private-interface".into(),
                "reachable only over the private interface",
            ),
            Scope::Public | Scope::Wildcard => match (never, allowed) {
                (Some(n), _) => j(
                    Verdict::Violation,
                    format!("never-public {n}"),
                    "must never be public",
                ),
                (None, Some(a)) => j(Verdict::Ok, format!("allow {a}"), "allowed to be public"),
                (None, None) => j(
                    Verdict::Violation,
                    "allow-list".into(),
                    "public, but not in the allowed list",
                ),
            },
            Scope::Private | Scope::LinkLocal => match (never, allowed) {
                (Some(n), _) => j(
                    Verdict::Warning,
                    format!("never-public {n}"),
                    "reachable from a local network, not the private interface",
                ),
                (None, Some(a)) => j(Verdict::Ok, format!("allow {a}"), "allowed"),
                (None, None) => j(
                    Verdict::Warning,
                    "allow-list".into(),
                    "reachable from a local network",
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy() {
        let p = Policy::default();
        assert_eq!(
            p.judge(Proto::Tcp, 5432, Scope::Wildcard).verdict,
            Verdict::Violation
        );
        assert_eq!(
            p.judge(Proto::Tcp, 5432, Scope::Wildcard).rule,
            "never-public tcp/5432"
        );
        assert_eq!(
            p.judge(Proto::Tcp, 5432, Scope::Loopback).verdict,
            Verdict::Ok
        );
        assert_eq!(
            p.judge(Proto::Tcp, 5432, Scope::Wireguard).verdict,
            Verdict::Ok
        );
        assert_eq!(p.judge(Proto::Tcp, 22, Scope::Public).verdict, Verdict::Ok);
        assert_eq!(
            p.judge(Proto::Udp, 51820, Scope::Wildcard).verdict,
            Verdict::Ok
        );
        assert_eq!(
            p.judge(Proto::Tcp, 8080, Scope::Wildcard).verdict,
            Verdict::Violation
        );
        assert_eq!(
            p.judge(Proto::Tcp, 2380, Scope::Public).rule,
            "never-public tcp/2379-2380"
        );
        assert_eq!(
            p.judge(Proto::Udp, 8472, Scope::Private).verdict,
            Verdict::Warning
        );
        assert!("tcp/0".parse::<PortSpec>().is_err());
        assert!("sctp/1".parse::<PortSpec>().is_err());
        assert!("tcp/10-5".parse::<PortSpec>().is_err());
    }
}
