//! `restore-drill`: restore the latest backup into an empty database, prove it, measure RTO
//! and data loss. See the crate docs.

fn main() {
    let code = restore_drill::main_with_args(std::env::args_os());
    std::process::exit(code.code());
}
