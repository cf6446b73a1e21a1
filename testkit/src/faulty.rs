//! A small fault-injecting TCP proxy in front of a test server (the S3 server): it answers
//! the first requests with `503 SlowDown`, and cuts a multipart part upload off mid-body
//! with a connection reset, as a flaky network or a throttling store would. Everything else
//! passes through byte for byte.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// What to break.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// The first this many requests get `503 SlowDown`.
    pub slowdown_first: usize,
    /// The first this many part uploads (`PUT …partNumber=…`) are reset after 64 KiB.
    pub reset_parts: usize,
    /// After this many PUT requests the endpoint goes down (every connection is dropped at
    /// once) until [`FaultProxy::set_down`] brings it back (once: the server stopped
    /// mid-transfer, then restarted).
    pub down_after_puts: Option<usize>,
}

#[derive(Debug)]
pub struct FaultProxy {
    pub port: u16,
    pub slowed: Arc<AtomicUsize>,
    pub reset: Arc<AtomicUsize>,
    pub puts: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
}

const SLOWDOWN: &[u8] = b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nConnection: close\r\nContent-Length: 107\r\n\r\n<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Reduce your rate</Message></Error>";

/// Reads the request line (the first line) without consuming more than it.
fn first_line(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        if s.read(&mut b)? == 0 {
            break;
        }
        line.push(b[0]);
    }
    Ok(line)
}

fn pipe(mut from: TcpStream, mut to: TcpStream, cut_after: Option<usize>) {
    let mut buf = [0u8; 16384];
    let mut sent = 0usize;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if cut_after.is_some_and(|c| sent + n > c) {
            // A reset, not a clean close: with linger 0 the client's socket sends RST when
            // its last descriptor closes, which happens once the other direction ends; that
            // one ends now, as the upstream side is shut down.
            let _ = socket2::SockRef::from(&from).set_linger(Some(std::time::Duration::ZERO));
            let _ = to.shutdown(Shutdown::Both);
            return;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        sent += n;
    }
    let _ = to.shutdown(Shutdown::Write);
}

impl FaultProxy {
    /// Listens on a free loopback port, forwarding to `upstream` on loopback.
    pub fn start(upstream: u16, faults: Faults) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let slowed = Arc::new(AtomicUsize::new(0));
        let reset = Arc::new(AtomicUsize::new(0));
        let puts = Arc::new(AtomicUsize::new(0));
        let down = Arc::new(AtomicBool::new(false));
        let (s2, r2, p2, d2) = (slowed.clone(), reset.clone(), puts.clone(), down.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (slowed, reset, faults) = (s2.clone(), r2.clone(), faults.clone());
                let (puts, down) = (p2.clone(), d2.clone());
                std::thread::spawn(move || {
                    let mut client = client;
                    if down.load(Ordering::SeqCst) {
                        let _ = client.shutdown(Shutdown::Both);
                        return;
                    }
                    let Ok(line) = first_line(&mut client) else {
                        return;
                    };
                    if line.starts_with(b"PUT ") {
                        let n = puts.fetch_add(1, Ordering::SeqCst) + 1;
                        if faults.down_after_puts.is_some_and(|limit| n == limit + 1) {
                            down.store(true, Ordering::SeqCst);
                        }
                    }
                    if down.load(Ordering::SeqCst) {
                        let _ = client.shutdown(Shutdown::Both);
                        return;
                    }
                    if slowed.fetch_add(1, Ordering::SeqCst) < faults.slowdown_first {
                        let _ = client.write_all(SLOWDOWN);
                        let _ = client.shutdown(Shutdown::Both);
                        return;
                    }
                    let is_part =
                        line.starts_with(b"PUT ") && line.windows(10).any(|w| w == b"partNumber");
                    let cut = (is_part
                        && reset.fetch_add(1, Ordering::SeqCst) < faults.reset_parts)
                        .then_some(64 << 10);
                    let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                        return;
                    };
                    if server.write_all(&line).is_err() {
                        return;
                    }
                    let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                    let back = std::thread::spawn(move || pipe(s2, c2, None));
                    pipe(client, server, cut);
                    let _ = back.join();
                });
            }
        });
        FaultProxy {
            port,
            slowed,
            reset,
            puts,
            down,
        }
    }

    /// Takes the endpoint down (every new connection dropped) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
}
