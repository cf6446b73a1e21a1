//! The connection flags every tool that talks to a server shares.

/// The connection flags of the tools that talk to a server, mirroring pg_dump's.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConnArgs {
    /// Database server host or socket directory (PGHOST).
    #[arg(short = 'h', long)]
    pub host: Option<String>,
    /// Database server port (PGPORT).
    #[arg(short = 'p', long)]
    pub port: Option<String>,
    /// Connect as this user (PGUSER).
    #[arg(short = 'U', long)]
    pub username: Option<String>,
}

impl ConnArgs {
    /// These flags with a database (name, conninfo or URI).
    pub fn flags(&self, dbname: Option<String>) -> crate::conn::ConnFlags {
        crate::conn::ConnFlags {
            host: self.host.clone(),
            port: self.port.clone(),
            username: self.username.clone(),
            dbname,
        }
    }
}
