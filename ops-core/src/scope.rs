//! Where an address can be reached from: the scope of every socket, rule and probe
//! (port-audit), and of an address ops-status would listen on.

use serde::Serialize;
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Loopback,
    /// An address of a private interface (`--private-interface`, default `wg*`).
    Wireguard,
    /// RFC 1918, CGNAT 100.64/10, IPv6 ULA fc00::/7.
    Private,
    LinkLocal,
    Public,
    /// Bound to all interfaces (0.0.0.0 or ::).
    Wildcard,
}

impl Scope {
    /// True when anyone on the internet may reach it.
    pub fn is_public(self) -> bool {
        matches!(self, Scope::Public | Scope::Wildcard)
    }
}

/// Classifies `addr`; `private_addrs` are the addresses of the private interfaces.
pub fn classify(addr: IpAddr, private_addrs: &[IpAddr]) -> Scope {
    let addr = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(addr),
        v4 => v4,
    };
    if addr.is_unspecified() {
        return Scope::Wildcard;
    }
    if addr.is_loopback() {
        return Scope::Loopback;
    }
    if private_addrs.contains(&addr) {
        return Scope::Wireguard;
    }
    match addr {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            if v4.is_private() || (o[0] == 100 && (64..128).contains(&o[1])) {
                Scope::Private
            } else if v4.is_link_local() {
                Scope::LinkLocal
            } else {
                Scope::Public
            }
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            if s[0] & 0xfe00 == 0xfc00 {
                Scope::Private
            } else if s[0] & 0xffc0 == 0xfe80 {
                Scope::LinkLocal
            } else {
                Scope::Public
            }
        }
    }
}

/// Does an interface name match a pattern like `wg*`?
pub fn interface_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == pattern,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Scope {
        classify(s.parse().unwrap(), &["10.99.0.1".parse().unwrap()])
    }

    #[test]
    fn scopes() {
        assert_eq!(c("0.0.0.0"), Scope::Wildcard);
        assert_eq!(c("::"), Scope::Wildcard);
        assert_eq!(c("127.0.0.53"), Scope::Loopback);
        assert_eq!(c("::1"), Scope::Loopback);
        assert_eq!(c("::ffff:127.0.0.1"), Scope::Loopback);
        assert_eq!(c("10.99.0.1"), Scope::Wireguard);
        assert_eq!(c("10.1.2.3"), Scope::Private);
        assert_eq!(c("172.16.0.1"), Scope::Private);
        assert_eq!(c("192.168.1.1"), Scope::Private);
        assert_eq!(c("100.64.0.1"), Scope::Private);
        assert_eq!(c("100.128.0.1"), Scope::Public);
        assert_eq!(c("fd00::1"), Scope::Private);
        assert_eq!(c("169.254.1.1"), Scope::LinkLocal);
        assert_eq!(c("fe80::1"), Scope::LinkLocal);
        assert_eq!(c("198.51.100.1"), Scope::Public);
        assert_eq!(c("2001:db8::1"), Scope::Public);
        assert!(
            interface_matches("wg*", "wg0")
                && !interface_matches("wg*", "eth0")
                && interface_matches("tun0", "tun0")
        );
    }
}
