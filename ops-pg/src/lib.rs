//! The PostgreSQL client side of the pgops tools: connection settings resolved the way
//! libpq resolves them (with TLS by libpq's rules), the client programs per server major,
//! and private throwaway clusters.
//!
//! - [`conn`]: connection settings from flags, the libpq environment and `.pgpass`.
//! - [`tls`]: TLS for pgops' own connections, by libpq's rules (ADR 0007).
//! - [`programs`]: the installed PostgreSQL client programs, and which to use per major.
//! - [`cluster`]: a private, throwaway PostgreSQL cluster on a Unix socket.
//! - [`cli`]: the shared connection flags (`-h`, `-p`, `-U`).
//! - [`content`]: a table's rows read back under the dump's session, and their digest.

pub mod cli;
pub mod cluster;
pub mod conn;
pub mod content;
pub mod programs;
pub mod tls;

/// An SQL identifier, double-quoted (inner quotes doubled): safe for any name.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}
