//! Is the PostgreSQL server reachable? What `pg_isready` asks: a connection to the server
//! libpq's environment names (PGHOST, PGPORT; a socket directory or host names), and an
//! answer to an SSLRequest, within a timeout. No login: reachability, not credentials.

use std::io::{Read, Write};
use std::time::Duration;

/// Where the server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// Host names or addresses, or socket directories (starting with `/`).
    pub hosts: Vec<String>,
    pub port: u16,
}

impl Server {
    /// From PGHOST and PGPORT as libpq reads them (default: the Debian socket directory,
    /// port 5432).
    pub fn from_env() -> Server {
        let hosts = std::env::var("PGHOST")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "/var/run/postgresql".into());
        Server {
            hosts: hosts.split(',').map(|h| h.trim().to_string()).collect(),
            port: std::env::var("PGPORT")
                .ok()
                .and_then(|p| p.parse().ok())
                .unwrap_or(5432),
        }
    }

    /// Where it was tried, for a person.
    pub fn describe(&self) -> String {
        format!("{}:{}", self.hosts.join(","), self.port)
    }
}

/// The SSLRequest message: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 4, 210, 22, 47];

fn ask(stream: &mut (impl Read + Write)) -> std::io::Result<()> {
    stream.write_all(&SSL_REQUEST)?;
    let mut answer = [0u8; 1];
    stream.read_exact(&mut answer)?;
    // 'S' or 'N': a PostgreSQL server answered (an 'E' is one too old for the request).
    match answer[0] {
        b'S' | b'N' | b'E' => Ok(()),
        other => Err(std::io::Error::other(format!(
            "not a PostgreSQL server (answered {other:#04x})"
        ))),
    }
}

fn try_host(host: &str, port: u16, timeout: Duration) -> std::io::Result<()> {
    if host.starts_with('/') {
        let mut s = std::os::unix::net::UnixStream::connect(format!("{host}/.s.PGSQL.{port}"))?;
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        return ask(&mut s);
    }
    use std::net::ToSocketAddrs;
    let mut last = std::io::Error::other("the name resolves to no address");
    for addr in (host, port).to_socket_addrs()? {
        match std::net::TcpStream::connect_timeout(&addr, timeout) {
            Ok(mut s) => {
                s.set_read_timeout(Some(timeout))?;
                s.set_write_timeout(Some(timeout))?;
                return ask(&mut s);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Whether any of its hosts answers (`Err`: why none did).
pub fn reachable(server: &Server, timeout: Duration) -> Result<(), String> {
    let mut why = Vec::new();
    for h in &server.hosts {
        match try_host(h, server.port, timeout) {
            Ok(()) => return Ok(()),
            Err(e) => why.push(format!("{h}: {e}")),
        }
    }
    Err(why.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_port_and_a_missing_socket_are_unreachable() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let s = Server {
            hosts: vec!["127.0.0.1".into(), "/nonexistent".into()],
            port,
        };
        let e = reachable(&s, Duration::from_millis(500)).unwrap_err();
        assert!(
            e.contains("127.0.0.1: ") && e.contains("/nonexistent: "),
            "{e}"
        );
        // Something that is not PostgreSQL answers otherwise.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut b = [0u8; 8];
            c.read_exact(&mut b).unwrap();
            c.write_all(b"HTTP/1.1 400\r\n").unwrap();
        });
        let s = Server {
            hosts: vec!["127.0.0.1".into()],
            port,
        };
        assert!(reachable(&s, Duration::from_secs(2))
            .unwrap_err()
            .contains("not a PostgreSQL server"));
        t.join().unwrap();
    }
}
