fn main() {
    let code = backup_restore::main_with_args(std::env::args_os());
    std::process::exit(code.code());
}
