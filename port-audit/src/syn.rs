//! TCP SYN probe (nmap's `-sS`, what nmap does as root): one raw socket sends a SYN per
//! port and reads the answers; a SYN-ACK means open, a RST closed, silence (after one
//! retry) filtered. No socket per port, so no socket setup, port allocation or teardown in
//! the kernel, and no TCP self-connect: the source port is one this process holds.
//!
//! Needs `CAP_NET_RAW`; without it [`syn_scan`] answers `Ok(None)` and the caller falls
//! back to the connect probe. Our kernel answers each SYN-ACK with a RST (no socket of ours
//! is connected), as it does for nmap's.

use crate::policy::Proto;
use crate::probed::{Probed, State};
use etherparse::{Ipv4HeaderSlice, TcpHeader, TcpHeaderSlice};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::collections::VecDeque;
use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Tries per port: the first SYN and one retry, as nmap.
const TRIES: u8 = 2;

/// The address this host sends from to reach `ip` (what the kernel would choose).
fn source_for(ip: IpAddr) -> io::Result<IpAddr> {
    let any: SocketAddr = if ip.is_ipv4() {
        "0.0.0.0:0".parse().expect("an address")
    } else {
        "[::]:0".parse().expect("an address")
    };
    let s = UdpSocket::bind(any)?;
    s.connect(SocketAddr::new(ip, 9))?;
    Ok(s.local_addr()?.ip())
}

/// What one answer says, if it is an answer to one of our SYNs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Answer {
    port: u16,
    state: State,
}

/// The probe's identity on the wire: its source port and the sequence numbers it sends
/// (keyed, so that only true answers to our SYNs count).
#[derive(Debug, Clone, Copy)]
struct Wire {
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    key: u32,
}

impl Wire {
    fn seq(&self, port: u16) -> u32 {
        self.key ^ u32::from(port).wrapping_mul(0x9e37_79b1)
    }

    fn syn(&self, port: u16) -> Vec<u8> {
        let mut h = TcpHeader::new(self.sport, port, self.seq(port), 1024);
        h.syn = true;
        h.checksum = match (self.src, self.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => h.calc_checksum_ipv4_raw(s.octets(), d.octets(), &[]),
            (IpAddr::V6(s), IpAddr::V6(d)) => h.calc_checksum_ipv6_raw(s.octets(), d.octets(), &[]),
            _ => unreachable!("source and target are of one family"),
        }
        .expect("an empty payload fits");
        h.to_bytes().to_vec()
    }

    /// Judges a received TCP segment from `from`: an answer to our SYN to some port, or
    /// anything else (other traffic, our own SYNs seen on loopback).
    fn judge(&self, from: IpAddr, tcp: &[u8]) -> Option<Answer> {
        let t = TcpHeaderSlice::from_slice(tcp).ok()?;
        if from != self.dst || t.destination_port() != self.sport || !t.ack() {
            return None;
        }
        let port = t.source_port();
        if t.acknowledgment_number() != self.seq(port).wrapping_add(1) {
            return None;
        }
        let state = match (t.syn(), t.rst()) {
            (true, false) => State::Open,
            (false, true) => State::Closed,
            _ => return None,
        };
        Some(Answer { port, state })
    }
}

/// Where each port stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Not sent yet.
    Waiting,
    /// A SYN is out and counts against the window.
    Sent {
        tries: u8,
    },
    /// Its try expired; queued to be sent again (an answer may still come).
    Queued {
        tries: u8,
    },
    Done,
}

/// Packets per system call, both ways (sendmmsg/recvmmsg): the kernel's per-packet work
/// stays, the per-call cost is shared.
const BATCH: usize = 64;
/// Bytes kept of each received packet: IPv4 and TCP headers with options fit.
const SNAP: usize = 256;

/// The header of one packet of a batch: its address and its one buffer.
fn one_packet(
    name: *mut libc::c_void,
    namelen: libc::socklen_t,
    iov: *mut libc::iovec,
) -> libc::mmsghdr {
    // SAFETY: msghdr is a plain C struct; all-zero is valid.
    let mut h: libc::msghdr = unsafe { std::mem::zeroed() };
    h.msg_name = name;
    h.msg_namelen = namelen;
    h.msg_iov = iov;
    h.msg_iovlen = 1;
    libc::mmsghdr {
        msg_hdr: h,
        msg_len: 0,
    }
}

/// Received packets, `BATCH` at a time.
struct Inbox {
    bufs: Vec<[u8; SNAP]>,
    names: Vec<libc::sockaddr_storage>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

impl Inbox {
    fn new() -> Inbox {
        Inbox {
            bufs: vec![[0u8; SNAP]; BATCH],
            // SAFETY: both are plain C structs for which all-zero is a valid value.
            names: vec![unsafe { std::mem::zeroed() }; BATCH],
            iovs: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0
                };
                BATCH
            ],
            // SAFETY: as above.
            hdrs: vec![unsafe { std::mem::zeroed() }; BATCH],
        }
    }

    /// Receives what is waiting, up to `BATCH` packets, without blocking.
    fn recv(&mut self, fd: std::os::fd::RawFd) -> io::Result<usize> {
        for i in 0..BATCH {
            self.iovs[i] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr() as *mut libc::c_void,
                iov_len: SNAP,
            };
            self.hdrs[i] = one_packet(
                &mut self.names[i] as *mut _ as *mut libc::c_void,
                std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t,
                &mut self.iovs[i],
            );
        }
        // SAFETY: every header points at live buffers of the sizes it states.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(e),
            };
        }
        Ok(n as usize)
    }

    /// Packet `i` of the last batch, and where it came from.
    fn packet(&self, i: usize) -> (&[u8], Option<IpAddr>) {
        let len = (self.hdrs[i].msg_len as usize).min(SNAP);
        let mut storage = socket2::SockAddrStorage::zeroed();
        // SAFETY: sockaddr_storage is one of this platform's sockaddr types, and the kernel
        // filled names[i] with an address of the stated length.
        let from = unsafe {
            *storage.view_as::<libc::sockaddr_storage>() = self.names[i];
            SockAddr::new(storage, self.hdrs[i].msg_hdr.msg_namelen)
        };
        (&self.bufs[i][..len], from.as_socket().map(|a| a.ip()))
    }
}

/// Sends SYNs, up to `BATCH` per call. Returns how many of `packets` went out (the rest
/// found the local queue full).
fn send_batch(fd: std::os::fd::RawFd, to: &SockAddr, packets: &[Vec<u8>]) -> io::Result<usize> {
    let mut iovs: Vec<libc::iovec> = packets
        .iter()
        .map(|p| libc::iovec {
            iov_base: p.as_ptr() as *mut libc::c_void,
            iov_len: p.len(),
        })
        .collect();
    let mut hdrs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .map(|iov| one_packet(to.as_ptr() as *mut libc::c_void, to.len(), iov))
        .collect();
    // SAFETY: every header points at a live packet and at the destination address.
    let n = unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr(), hdrs.len() as libc::c_uint, 0) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match (e.kind(), e.raw_os_error()) {
            (io::ErrorKind::WouldBlock, _) | (_, Some(libc::ENOBUFS)) => Ok(0),
            _ => Err(e),
        };
    }
    Ok(n as usize)
}

/// One sender: a raw socket that sees only answers to its own source port.
struct Part {
    raw: Socket,
    /// Holds the source port, so that the kernel gives it to no one else.
    _holder: Socket,
    wire: Wire,
}

/// A classic BPF program: accept a TCP segment only if its destination port is `sport`.
/// IPv4 raw sockets see the IP header first (its length from the IHL); IPv6 ones do not.
fn only_to_port(ipv4: bool, sport: u16) -> Vec<socket2::SockFilter> {
    use socket2::SockFilter as F;
    const LDX_MSH: u16 = 0xb1; // ldxb 4*([k]&0xf)
    const LDH_IND: u16 = 0x48; // ldh [x+k]
    const LDH_ABS: u16 = 0x28; // ldh [k]
    const JEQ: u16 = 0x15; // jeq #k, jt, jf
    const RET: u16 = 0x06; // ret #k
    let mut prog = if ipv4 {
        vec![F::new(LDX_MSH, 0, 0, 0), F::new(LDH_IND, 0, 0, 2)]
    } else {
        vec![F::new(LDH_ABS, 0, 0, 2)]
    };
    prog.extend([
        F::new(JEQ, 0, 1, u32::from(sport)),
        F::new(RET, 0, 0, 0xffff),
        F::new(RET, 0, 0, 0),
    ]);
    prog
}

impl Part {
    /// `Ok(None)` when raw sockets are not permitted.
    fn open(ip: IpAddr, src: IpAddr, key: u32) -> io::Result<Option<Part>> {
        let domain = if ip.is_ipv4() {
            Domain::IPV4
        } else {
            Domain::IPV6
        };
        let raw = match Socket::new(domain, Type::RAW, Some(Protocol::TCP)) {
            Ok(s) => s,
            Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES)) => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        let holder = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
        holder.bind(&SockAddr::from(SocketAddr::new(src, 0)))?;
        let sport = holder
            .local_addr()?
            .as_socket()
            .map(|a| a.port())
            .ok_or_else(|| io::Error::other("no source port"))?;
        raw.attach_filter(&only_to_port(ip.is_ipv4(), sport))?;
        // Drop what arrived before the filter was in place.
        raw.set_nonblocking(true)?;
        let mut junk = [MaybeUninit::<u8>::uninit(); 64];
        while raw.recv(&mut junk).is_ok() {}
        // Answers arrive in bursts; a deep queue keeps them from being dropped.
        let _ = raw.set_recv_buffer_size(8 << 20);
        Ok(Some(Part {
            raw,
            _holder: holder,
            wire: Wire {
                src,
                dst: ip,
                sport,
                key,
            },
        }))
    }
}

/// SYN probe of `ports` on `ip`: one sender per core, each with at most its share of
/// `window` unanswered at once, each try given `timeout`. `Ok(None)` when this process may
/// not open a raw socket.
pub fn syn_scan(
    ip: IpAddr,
    ports: &[u16],
    window: usize,
    timeout: Duration,
) -> io::Result<Option<Vec<Probed>>> {
    let src = source_for(ip)?;
    let mut key = [0u8; 4];
    getrandom::getrandom(&mut key).map_err(|e| io::Error::other(e.to_string()))?;
    let key = u32::from_ne_bytes(key);
    let threads = ops_core::parallel::cores()
        .clamp(1, 8)
        .min(ports.len().max(1));
    let mut parts = Vec::new();
    for _ in 0..threads {
        match Part::open(ip, src, key)? {
            Some(p) => parts.push(p),
            None => return Ok(None),
        }
    }
    let per = ports.len().div_ceil(threads).max(1);
    let window = (window / threads).max(1);
    let results: Vec<io::Result<Vec<Probed>>> = std::thread::scope(|s| {
        let handles: Vec<_> = parts
            .iter()
            .zip(ports.chunks(per))
            .map(|(part, chunk)| s.spawn(move || scan_part(part, chunk, window, timeout)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(io::Error::other("probe thread panicked")))
            })
            .collect()
    });
    let mut out = Vec::with_capacity(ports.len());
    for r in results {
        out.extend(r?);
    }
    out.sort_by_key(|p| p.port);
    Ok(Some(out))
}

/// One sender's share of a SYN probe.
fn scan_part(
    part: &Part,
    ports: &[u16],
    window: usize,
    timeout: Duration,
) -> io::Result<Vec<Probed>> {
    let (raw, wire, ip) = (&part.raw, part.wire, part.wire.dst);
    let to = SockAddr::from(SocketAddr::new(ip, 0));
    let mut slots = vec![Slot::Done; 65536];
    for &p in ports {
        slots[usize::from(p)] = Slot::Waiting;
    }
    let mut out: Vec<Probed> = Vec::with_capacity(ports.len());
    let mut next = ports.iter().copied();
    // (port, deadline) in send order: every try has the same timeout.
    let mut deadlines: VecDeque<(u16, Instant)> = VecDeque::new();
    let mut outstanding = 0usize;
    let mut retries: VecDeque<u16> = VecDeque::new();
    let mut inbox = Inbox::new();
    loop {
        // Send: retries first, then new ports, up to the window, a batch per call.
        while outstanding < window {
            let mut batch: Vec<(u16, u8)> = Vec::with_capacity(BATCH);
            while batch.len() < BATCH && outstanding + batch.len() < window {
                let Some(port) = retries.pop_front().or_else(|| next.next()) else {
                    break;
                };
                match slots[usize::from(port)] {
                    Slot::Waiting => batch.push((port, 1)),
                    Slot::Queued { tries } => batch.push((port, tries + 1)),
                    Slot::Sent { .. } | Slot::Done => {}
                }
            }
            if batch.is_empty() {
                break;
            }
            let packets: Vec<Vec<u8>> = batch.iter().map(|(p, _)| wire.syn(*p)).collect();
            let sent = send_batch(raw.as_raw_fd(), &to, &packets)?;
            let now = Instant::now();
            for &(port, tries) in &batch[..sent] {
                slots[usize::from(port)] = Slot::Sent { tries };
                deadlines.push_back((port, now + timeout));
                outstanding += 1;
            }
            // The local queue is full: the rest go first next time, after reading answers.
            for &(port, tries) in batch[sent..].iter().rev() {
                slots[usize::from(port)] = Slot::Queued { tries: tries - 1 };
                retries.push_front(port);
            }
            if sent < batch.len() {
                break;
            }
        }
        // Read every answer waiting, a batch per call.
        loop {
            let got = inbox.recv(raw.as_raw_fd())?;
            for i in 0..got {
                let (bytes, from) = inbox.packet(i);
                let answer = if ip.is_ipv4() {
                    // IPv4 raw sockets deliver the IP header too.
                    Ipv4HeaderSlice::from_slice(bytes).ok().and_then(|h| {
                        wire.judge(IpAddr::V4(h.source_addr()), &bytes[h.slice().len()..])
                    })
                } else {
                    from.and_then(|f| wire.judge(f, bytes))
                };
                let Some(a) = answer else { continue };
                let slot = &mut slots[usize::from(a.port)];
                if matches!(slot, Slot::Sent { .. } | Slot::Queued { .. }) {
                    if matches!(slot, Slot::Sent { .. }) {
                        outstanding -= 1;
                    }
                    *slot = Slot::Done;
                    out.push(Probed {
                        proto: Proto::Tcp,
                        port: a.port,
                        state: a.state,
                    });
                }
            }
            if got < BATCH {
                break;
            }
        }
        // Expire tries that went unanswered: retry once, then filtered.
        let now = Instant::now();
        while let Some(&(port, deadline)) = deadlines.front() {
            if deadline > now {
                break;
            }
            deadlines.pop_front();
            // A port has a deadline only while its SYN is out; answered ports are Done.
            if let Slot::Sent { tries } = slots[usize::from(port)] {
                outstanding -= 1;
                if tries < TRIES {
                    slots[usize::from(port)] = Slot::Queued { tries };
                    retries.push_back(port);
                } else {
                    slots[usize::from(port)] = Slot::Done;
                    out.push(Probed {
                        proto: Proto::Tcp,
                        port,
                        state: State::Filtered,
                    });
                }
            }
        }
        if outstanding == 0 && retries.is_empty() && next.len() == 0 {
            break;
        }
        // Wait for answers until the oldest try expires (not at all if there is room to send).
        let wait = if outstanding < window && (!retries.is_empty() || next.len() > 0) {
            0
        } else {
            deadlines.front().map_or(1, |(_, d)| {
                d.saturating_duration_since(now).as_millis().clamp(1, 1000) as i32
            })
        };
        let mut pfd = libc::pollfd {
            fd: raw.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, wait) };
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire() -> Wire {
        Wire {
            src: "192.0.2.1".parse().unwrap(),
            dst: "192.0.2.9".parse().unwrap(),
            sport: 40000,
            key: 0x1234_5678,
        }
    }

    fn reply(w: &Wire, port: u16, syn: bool, rst: bool, ack: u32) -> Vec<u8> {
        let mut h = TcpHeader::new(port, w.sport, 7, 100);
        h.syn = syn;
        h.rst = rst;
        h.ack = true;
        h.acknowledgment_number = ack;
        h.to_bytes().to_vec()
    }

    #[test]
    fn only_true_answers_to_our_syns_count() {
        let w = wire();
        let from = w.dst;
        let ok = w.seq(5432).wrapping_add(1);
        assert_eq!(
            w.judge(from, &reply(&w, 5432, true, false, ok)),
            Some(Answer {
                port: 5432,
                state: State::Open
            })
        );
        assert_eq!(
            w.judge(from, &reply(&w, 5432, false, true, ok)),
            Some(Answer {
                port: 5432,
                state: State::Closed
            })
        );
        // A wrong acknowledgment (not our SYN), another host, our own SYN on loopback.
        assert_eq!(w.judge(from, &reply(&w, 5432, true, false, ok + 1)), None);
        assert_eq!(
            w.judge(
                "192.0.2.7".parse().unwrap(),
                &reply(&w, 5432, true, false, ok)
            ),
            None
        );
        assert_eq!(w.judge(from, &w.syn(5432)), None);
        assert_eq!(w.judge(from, &[0u8; 7]), None);
    }

    #[test]
    fn syns_carry_a_valid_checksum() {
        let w = wire();
        let bytes = w.syn(443);
        let t = TcpHeaderSlice::from_slice(&bytes).unwrap();
        assert!(t.syn() && !t.ack());
        let h = t.to_header();
        let (IpAddr::V4(s), IpAddr::V4(d)) = (w.src, w.dst) else {
            unreachable!()
        };
        assert_eq!(
            h.calc_checksum_ipv4_raw(s.octets(), d.octets(), &[])
                .unwrap(),
            h.checksum
        );
    }
}
