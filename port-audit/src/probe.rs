//! Evidence 3: probing an address from wherever port-audit runs (`--probe HOST`): a TCP
//! connect scan with a bounded window of non-blocking connects, and UDP probes.
//!
//! Scan only your own hosts.

use crate::policy::Proto;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

pub use crate::probed::{Probed, State};

fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; zeroed is a valid value.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_in fits in sockaddr_storage.
            unsafe { std::ptr::write(&mut ss as *mut _ as *mut libc::sockaddr_in, sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_in6 fits in sockaddr_storage.
            unsafe { std::ptr::write(&mut ss as *mut _ as *mut libc::sockaddr_in6, sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

/// The local and the peer address of a connected socket, compared: equal only when the
/// socket connected to itself.
fn is_self_connect(fd: &OwnedFd) -> bool {
    let name = |peer: bool| {
        // SAFETY: sockaddr_storage is plain data; zeroed is a valid value.
        let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        let p = &mut ss as *mut _ as *mut libc::sockaddr;
        // SAFETY: ss/len describe a buffer large enough for any address.
        let rc = unsafe {
            if peer {
                libc::getpeername(fd.as_raw_fd(), p, &mut len)
            } else {
                libc::getsockname(fd.as_raw_fd(), p, &mut len)
            }
        };
        (rc == 0).then(|| {
            // SAFETY: the kernel wrote len bytes of ss.
            let bytes =
                unsafe { std::slice::from_raw_parts(&ss as *const _ as *const u8, len as usize) };
            bytes.to_vec()
        })
    };
    matches!((name(false), name(true)), (Some(a), Some(b)) if a == b)
}

/// Starts a non-blocking connect; `Ok(None)` when it was refused at once.
fn start_connect(addr: SocketAddr) -> std::io::Result<Option<OwnedFd>> {
    let family = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain socket(2) call; the result is checked.
    let fd = unsafe {
        libc::socket(
            family,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a new descriptor we own.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let (ss, len) = sockaddr(addr);
    // SAFETY: ss holds a valid address of length len.
    let rc = unsafe { libc::connect(fd, &ss as *const _ as *const libc::sockaddr, len) };
    if rc == 0 {
        return Ok(Some(owned));
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EINPROGRESS) => Ok(Some(owned)),
        Some(libc::ECONNREFUSED) => Ok(None),
        _ => Err(err),
    }
}

/// Probes TCP `ports` on `ip` by `method`; returns the method used (`syn` or `connect`)
/// and every port with its state. `syn` without the right to open a raw socket is
/// `probe_not_permitted` (exit 2); `auto` then falls back to connect.
pub fn tcp_probe(
    ip: IpAddr,
    ports: &[u16],
    method: crate::cli::ProbeMethod,
    window: usize,
    timeout: Duration,
) -> Result<(&'static str, Vec<Probed>), ops_core::OpsError> {
    use crate::cli::ProbeMethod;
    let io = |e: std::io::Error| ops_core::OpsError::io(format!("probing {ip}"), &e);
    if method != ProbeMethod::Connect {
        if let Some(found) = crate::syn::syn_scan(ip, ports, window, timeout).map_err(io)? {
            return Ok(("syn", found));
        }
        if method == ProbeMethod::Syn {
            return Err(ops_core::OpsError::validation(
                "probe_not_permitted",
                "--probe-method syn needs CAP_NET_RAW (root): use --probe-method connect",
            ));
        }
    }
    Ok(("connect", tcp_scan(ip, ports, window, timeout).map_err(io)?))
}

/// TCP connect scan of `ports` on `ip`: at most `window` connects in flight, each given
/// `timeout`, spread over one thread per core. Returns every port with its state.
pub fn tcp_scan(
    ip: IpAddr,
    ports: &[u16],
    window: usize,
    timeout: Duration,
) -> std::io::Result<Vec<Probed>> {
    let threads = (2 * std::thread::available_parallelism().map_or(1, |n| n.get())).clamp(1, 16);
    let per = ports.len().div_ceil(threads).max(1);
    let window = (window / threads).max(1);
    let parts: Vec<std::io::Result<Vec<Probed>>> = std::thread::scope(|s| {
        let handles: Vec<_> = ports
            .chunks(per)
            .map(|chunk| s.spawn(move || scan_part(ip, chunk, window, timeout)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("probe thread panicked")))
            })
            .collect()
    });
    let mut out = Vec::with_capacity(ports.len());
    for p in parts {
        out.extend(p?);
    }
    out.sort_by_key(|p| p.port);
    Ok(out)
}

/// One thread's share of a scan: non-blocking connects watched with epoll, so each wakeup
/// costs only the sockets that are ready.
fn scan_part(
    ip: IpAddr,
    ports: &[u16],
    window: usize,
    timeout: Duration,
) -> std::io::Result<Vec<Probed>> {
    // SAFETY: plain epoll_create1; the result is checked and owned below.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: ep is a new descriptor we own.
    let ep = unsafe { OwnedFd::from_raw_fd(ep) };
    let mut out = Vec::with_capacity(ports.len());
    let mut slots: Vec<Option<(u16, OwnedFd)>> = Vec::with_capacity(window);
    let mut free: Vec<usize> = Vec::new();
    // Every connect gets the same timeout, so starting order is deadline order.
    let mut started: std::collections::VecDeque<(usize, u16, Instant)> = Default::default();
    let mut inflight = 0usize;
    let mut pending = ports.iter().copied();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; window.max(1)];
    loop {
        while inflight < window {
            let Some(port) = pending.next() else { break };
            match start_connect(SocketAddr::new(ip, port))? {
                None => out.push(Probed {
                    proto: Proto::Tcp,
                    port,
                    state: State::Closed,
                }),
                Some(fd) => {
                    let slot = free.pop().unwrap_or_else(|| {
                        slots.push(None);
                        slots.len() - 1
                    });
                    let mut ev = libc::epoll_event {
                        events: (libc::EPOLLOUT | libc::EPOLLERR | libc::EPOLLHUP) as u32,
                        u64: slot as u64,
                    };
                    // SAFETY: both descriptors are valid; ev is a valid event.
                    if unsafe {
                        libc::epoll_ctl(
                            ep.as_raw_fd(),
                            libc::EPOLL_CTL_ADD,
                            fd.as_raw_fd(),
                            &mut ev,
                        )
                    } < 0
                    {
                        return Err(std::io::Error::last_os_error());
                    }
                    slots[slot] = Some((port, fd));
                    started.push_back((slot, port, Instant::now() + timeout));
                    inflight += 1;
                }
            }
        }
        if inflight == 0 {
            break;
        }
        let wait = started
            .front()
            .map(|(_, _, d)| d.saturating_duration_since(Instant::now()))
            .unwrap_or_default();
        // SAFETY: events has room for events.len() entries.
        let n = unsafe {
            libc::epoll_wait(
                ep.as_raw_fd(),
                events.as_mut_ptr(),
                events.len() as i32,
                wait.as_millis().min(i32::MAX as u128) as i32,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for ev in &events[..n as usize] {
            let slot = ev.u64 as usize;
            let Some((port, fd)) = slots[slot].take() else {
                continue;
            };
            let state = if ev.events & (libc::EPOLLERR | libc::EPOLLHUP) as u32 == 0 {
                if is_self_connect(&fd) {
                    // TCP simultaneous open: probing a port of this host that the kernel
                    // also picked as this socket's ephemeral source port connects the
                    // socket to itself. Nothing listens there (a listening port is never
                    // handed out as an ephemeral one), so the port is closed.
                    State::Closed
                } else {
                    State::Open
                }
            } else {
                let mut err: libc::c_int = 0;
                let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
                // SAFETY: err/len are valid for getsockopt(SO_ERROR).
                unsafe {
                    libc::getsockopt(
                        fd.as_raw_fd(),
                        libc::SOL_SOCKET,
                        libc::SO_ERROR,
                        &mut err as *mut _ as *mut libc::c_void,
                        &mut len,
                    )
                };
                if err == 0 || err == libc::ECONNREFUSED {
                    State::Closed
                } else {
                    State::Filtered
                }
            };
            out.push(Probed {
                proto: Proto::Tcp,
                port,
                state,
            });
            drop(fd); // closing also removes it from the epoll set
            free.push(slot);
            inflight -= 1;
        }
        // Expire what timed out; entries whose slot already completed are skipped.
        let now = Instant::now();
        while let Some(&(slot, port, deadline)) = started.front() {
            match &slots[slot] {
                Some((p, _)) if *p == port && deadline <= now => {
                    slots[slot] = None;
                    out.push(Probed {
                        proto: Proto::Tcp,
                        port,
                        state: State::Filtered,
                    });
                    free.push(slot);
                    inflight -= 1;
                    started.pop_front();
                }
                Some((p, _)) if *p == port => break,
                _ => {
                    started.pop_front();
                }
            }
        }
    }
    Ok(out)
}

/// UDP probe of one port: an empty datagram; an ICMP port-unreachable means closed, a reply
/// open, silence open|filtered (WireGuard never answers).
pub fn udp_probe(ip: IpAddr, port: u16, timeout: Duration) -> std::io::Result<Probed> {
    let bind: SocketAddr = if ip.is_ipv4() {
        "0.0.0.0:0".parse().unwrap()
    } else {
        "[::]:0".parse().unwrap()
    };
    let sock = std::net::UdpSocket::bind(bind)?;
    sock.connect(SocketAddr::new(ip, port))?;
    sock.set_read_timeout(Some(timeout))?;
    let mut state = State::OpenFiltered;
    for _ in 0..2 {
        let _ = sock.send(&[]);
        let mut buf = [0u8; 512];
        match sock.recv(&mut buf) {
            Ok(_) => {
                state = State::Open;
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                state = State::Closed;
                break;
            }
            Err(_) => {}
        }
    }
    Ok(Probed {
        proto: Proto::Udp,
        port,
        state,
    })
}

/// The addresses of the interfaces whose names match `patterns` (e.g. `wg*`).
pub fn interface_addresses(patterns: &[String]) -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return out;
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: cur is a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        // SAFETY: ifa_name is a NUL-terminated string.
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        if !ifa.ifa_addr.is_null()
            && patterns
                .iter()
                .any(|p| crate::scope::interface_matches(p, &name))
        {
            // SAFETY: ifa_addr points at a sockaddr whose family says its real type.
            let family = unsafe { (*ifa.ifa_addr).sa_family } as i32;
            if family == libc::AF_INET {
                // SAFETY: family is AF_INET.
                let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                out.push(IpAddr::from(sin.sin_addr.s_addr.to_ne_bytes()));
            } else if family == libc::AF_INET6 {
                // SAFETY: family is AF_INET6.
                let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                out.push(IpAddr::from(sin6.sin6_addr.s6_addr));
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: head came from getifaddrs.
    unsafe { libc::freeifaddrs(head) };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_loopback() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = l.local_addr().unwrap().port();
        let closed = {
            let t = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            t.local_addr().unwrap().port()
        };
        let r = tcp_scan(
            "127.0.0.1".parse().unwrap(),
            &[open, closed],
            16,
            Duration::from_secs(1),
        )
        .unwrap();
        let state = |p| r.iter().find(|x| x.port == p).unwrap().state;
        assert_eq!(state(open), State::Open);
        assert_eq!(state(closed), State::Closed);
        let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let silent = udp_probe(
            "127.0.0.1".parse().unwrap(),
            u.local_addr().unwrap().port(),
            Duration::from_millis(200),
        )
        .unwrap();
        assert_eq!(silent.state, State::OpenFiltered);
        drop(u);
        let gone = udp_probe(
            "127.0.0.1".parse().unwrap(),
            closed,
            Duration::from_millis(200),
        )
        .unwrap();
        assert_eq!(gone.state, State::Closed);
    }
}
