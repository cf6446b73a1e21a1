//! `backup-bucket`: the bucket's protection checked, and a bucket brought back to a point in
//! time. See the crate docs.

fn main() {
    let code = backup_bucket::main_with_args(std::env::args_os());
    std::process::exit(code.code());
}
