//! `port-audit`: prove that only the allowed ports are public and PostgreSQL never is.

fn main() {
    let code = port_audit::main_with_args(std::env::args_os());
    std::process::exit(code.code());
}
