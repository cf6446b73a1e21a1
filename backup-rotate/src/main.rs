//! `backup-rotate`: retention that can never lose the last good backup. See the crate docs.

fn main() {
    let code = backup_rotate::main_with_args(std::env::args_os());
    std::process::exit(code.code());
}
