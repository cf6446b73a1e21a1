//! `backup-copy`: copy verified sets to another catalog. See the crate docs.

fn main() {
    let code = backup_copy::main_with_args(std::env::args_os());
    std::process::exit(code.code());
}
