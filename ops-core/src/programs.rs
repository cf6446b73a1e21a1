//! Finding the client programs a tool runs: in `--pg-bin-dir` when given, else on PATH.

use std::path::{Path, PathBuf};

/// `name` in `bin_dir`, or the first on PATH (then in /usr/sbin and /sbin, where Debian
/// puts iptables-save and nft).
pub fn locate(name: &str, bin_dir: Option<&Path>) -> Option<PathBuf> {
    match bin_dir {
        Some(dir) => Some(dir.join(name)).filter(|p| p.is_file()),
        None => std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        }),
    }
}
