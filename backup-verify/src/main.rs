//! `backup-verify`: prove pgops backup sets intact, complete and fresh. See the crate docs.

fn main() {
    let code = backup_verify::main_with_args(std::env::args_os());
    std::process::exit(code.code());
}
