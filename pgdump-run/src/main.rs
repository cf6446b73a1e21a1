//! `pgdump-run`: take PostgreSQL backups that are provably complete. See the crate docs.

use clap::Parser;

fn main() {
    let args = pgdump_run::cli::Args::parse();
    let code = pgdump_run::run(args);
    std::process::exit(code.code());
}
