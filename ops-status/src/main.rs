//! `ops-status`: what pgops knows. See the crate docs.

fn main() {
    std::process::exit(ops_status::main_with_args(std::env::args_os()));
}
