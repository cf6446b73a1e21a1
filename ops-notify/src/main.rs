//! `ops-notify`: what pgops proved, told. See the crate docs.

fn main() {
    std::process::exit(ops_notify::main_with_args(std::env::args_os()));
}
