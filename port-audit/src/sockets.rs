//! Evidence 1: the host's listening TCP and bound UDP sockets, from `/proc/net/{tcp,tcp6,
//! udp,udp6}` (the network namespace of this process), each with its owning process found
//! through `/proc/<pid>/fd`.

use crate::policy::Proto;
use serde::Serialize;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One listening/bound socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Socket {
    pub proto: Proto,
    /// `ipv4` or `ipv6` (the table it came from; v4-mapped addresses are shown as IPv4).
    pub family: &'static str,
    pub address: IpAddr,
    pub port: u16,
    pub uid: u32,
    pub inode: u64,
}

/// The process that owns a socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Process {
    pub pid: u32,
    pub command: String,
}

const TCP_LISTEN: &str = "0A";
const UDP_UNCONNECTED: &str = "07";

/// Parses `0100007F:1F90` (IPv4) or 32 hex digits (IPv6), as the kernel prints them: each
/// 32-bit word in host (little-endian) order.
pub fn parse_endpoint(text: &str) -> Option<(IpAddr, u16)> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    if addr.len() % 8 != 0 || !addr.is_ascii() {
        return None;
    }
    // Each word is the number the kernel read from memory: its little-endian bytes are
    // the address bytes in network order.
    let mut bytes = Vec::with_capacity(16);
    for i in 0..addr.len() / 8 {
        let word = u32::from_str_radix(&addr[i * 8..i * 8 + 8], 16).ok()?;
        bytes.extend_from_slice(&word.to_le_bytes());
    }
    let ip = match bytes.len() {
        4 => IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])),
        16 => {
            let v6 = Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?);
            v6.to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6))
        }
        _ => return None,
    };
    Some((ip, port))
}

/// Parses one `/proc/net/*` table; keeps listening TCP or unconnected bound UDP sockets.
pub fn parse_table(text: &str, proto: Proto, family: &'static str) -> Vec<Socket> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 10 {
            continue;
        }
        let wanted = match proto {
            Proto::Tcp => f[3] == TCP_LISTEN,
            Proto::Udp => f[3] == UDP_UNCONNECTED,
        };
        let (Some((address, port)), Some((_, rport))) =
            (parse_endpoint(f[1]), parse_endpoint(f[2]))
        else {
            continue;
        };
        if !wanted || port == 0 || rport != 0 {
            continue;
        }
        out.push(Socket {
            proto,
            family,
            address,
            port,
            uid: f[7].parse().unwrap_or(0),
            inode: f[9].parse().unwrap_or(0),
        });
    }
    out
}

/// All sockets of this network namespace. `Err` if a table cannot be read.
pub fn read_sockets() -> Result<Vec<Socket>, String> {
    let mut out = Vec::new();
    for (file, proto, family) in [
        ("/proc/net/tcp", Proto::Tcp, "ipv4"),
        ("/proc/net/tcp6", Proto::Tcp, "ipv6"),
        ("/proc/net/udp", Proto::Udp, "ipv4"),
        ("/proc/net/udp6", Proto::Udp, "ipv6"),
    ] {
        match std::fs::read_to_string(file) {
            Ok(text) => out.extend(parse_table(&text, proto, family)),
            // A kernel without IPv6 has no tcp6/udp6: nothing listens there.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && family == "ipv6" => {}
            Err(e) => return Err(format!("{file}: {e}")),
        }
    }
    Ok(out)
}

/// Maps socket inodes to their processes by reading every `/proc/<pid>/fd`. The second
/// value lists the pids whose descriptors could not be read: then the map is incomplete.
pub fn owners() -> (HashMap<u64, Process>, Vec<u32>) {
    let mut map = HashMap::new();
    let mut unreadable = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return (map, vec![0]);
    };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let fds = match std::fs::read_dir(p.path().join("fd")) {
            Ok(fds) => fds,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue, // exited meanwhile
            Err(_) => {
                unreadable.push(pid);
                continue;
            }
        };
        let mut command: Option<String> = None;
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let target = target.to_string_lossy();
            if let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|s| s.parse::<u64>().ok())
            {
                let command = command
                    .get_or_insert_with(|| {
                        std::fs::read_to_string(p.path().join("comm"))
                            .unwrap_or_default()
                            .trim()
                            .to_string()
                    })
                    .clone();
                map.entry(inode).or_insert(Process { pid, command });
            }
        }
    }
    (map, unreadable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            parse_endpoint("0100007F:1F90"),
            Some(("127.0.0.1".parse().unwrap(), 8080))
        );
        assert_eq!(
            parse_endpoint("00000000:1538"),
            Some(("0.0.0.0".parse().unwrap(), 5432))
        );
        assert_eq!(
            parse_endpoint("00000000000000000000000000000000:0016"),
            Some(("::".parse().unwrap(), 22))
        );
        assert_eq!(
            parse_endpoint("00000000000000000000000001000000:0016"),
            Some(("::1".parse().unwrap(), 22))
        );
        // ::ffff:198.51.100.1
        assert_eq!(
            parse_endpoint("0000000000000000FFFF0000016433C6:01BB"),
            Some(("198.51.100.1".parse().unwrap(), 443))
        );
        assert_eq!(
            parse_endpoint("B80D0120000000000000000001000000:0050"),
            Some(("2001:db8::1".parse().unwrap(), 80))
        );
        assert_eq!(parse_endpoint("zz:1"), None);
    }

    #[test]
    fn tables() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000   101        0 4242 1 0\n   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 77 1 0\n";
        let s = parse_table(tcp, Proto::Tcp, "ipv4");
        assert_eq!(s.len(), 1, "only the listening socket");
        assert_eq!((s[0].port, s[0].uid, s[0].inode), (5432, 101, 4242));
    }
}
