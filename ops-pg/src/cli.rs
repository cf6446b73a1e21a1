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

/// `--pg-bin-dir`, one definition for every tool that runs PostgreSQL's client programs.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PgBinArgs {
    /// Directory holding the PostgreSQL programs the tool runs (pg_dump and pg_dumpall;
    /// pg_restore and psql; initdb and pg_ctl for --ephemeral). Default: the installation
    /// matching the server's major version, else PATH (ADR 0006).
    #[arg(long, value_name = "DIR")]
    pub pg_bin_dir: Option<std::path::PathBuf>,
}
