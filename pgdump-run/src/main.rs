//! `pgdump-run`: take PostgreSQL backups that are provably complete. See the crate docs.

fn main() {
    let code = pgdump_run::main_with_args(std::env::args_os());
    std::process::exit(code.code());
}
