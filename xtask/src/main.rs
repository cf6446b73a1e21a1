//! Build-time tasks of the pgops workspace (the cargo `xtask` convention):
//!
//! ```text
//! cargo run -p xtask -- man DIR            one man page per tool (section 1) into DIR
//! cargo run -p xtask -- completions DIR    bash, zsh and fish completions into DIR/{bash,zsh,fish}
//! ```
//!
//! Both are generated from the tools' own clap definitions (clap_mangen, clap_complete),
//! so a flag cannot be documented differently from how it parses. `scripts/install` and
//! `scripts/package` call them.

use anyhow::{bail, Context, Result};
use clap::CommandFactory;
use std::path::{Path, PathBuf};

/// Every tool's command-line definition, under the name it is installed as.
fn tools() -> Vec<clap::Command> {
    vec![
        pgdump_run::cli::Args::command(),
        backup_verify::cli::Args::command(),
        backup_rotate::cli::Args::command(),
        backup_copy::cli::Args::command(),
        backup_restore::cli::Args::command(),
        restore_drill::cli::Args::command(),
        port_audit::cli::Args::command(),
        ops_status::cli::Args::command(),
    ]
}

/// Writes `<tool>.1` for every tool, and `<tool>-<subcommand>.1` for each subcommand.
fn man(dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    for cmd in tools() {
        let name = cmd.get_name().to_string();
        let mut pages = vec![(name.clone(), cmd.clone())];
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            pages.push((
                format!("{name}-{}", sub.get_name()),
                sub.clone().name(format!("{name}-{}", sub.get_name())),
            ));
        }
        for (file_name, page) in pages {
            let path = dir.join(format!("{file_name}.1"));
            let mut out = Vec::new();
            clap_mangen::Man::new(page)
                .date(ops_core::cli::BUILD_DATE)
                .source(format!("pgops {}", env!("CARGO_PKG_VERSION")))
                .manual("pgops manual")
                .render(&mut out)?;
            std::fs::write(&path, out).with_context(|| format!("writing {}", path.display()))?;
            written.push(path);
        }
    }
    Ok(written)
}

/// Writes bash, zsh and fish completions of every tool under `dir/<shell>/`, named as each
/// shell looks them up (`bash/<tool>`, `zsh/_<tool>`, `fish/<tool>.fish`).
fn completions(dir: &Path) -> Result<Vec<PathBuf>> {
    use clap_complete::Shell;
    let mut written = Vec::new();
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let sub = dir.join(shell.to_string());
        std::fs::create_dir_all(&sub).with_context(|| format!("creating {}", sub.display()))?;
        for mut cmd in tools() {
            let name = cmd.get_name().to_string();
            let path = clap_complete::generate_to(shell, &mut cmd, &name, &sub)?;
            // generate_to names bash files `<tool>.bash`; bash-completion looks up `<tool>`.
            let path = if shell == Shell::Bash {
                let plain = sub.join(&name);
                std::fs::rename(&path, &plain)?;
                plain
            } else {
                path
            };
            written.push(path);
        }
    }
    Ok(written)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let written = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["man", dir] => man(Path::new(dir))?,
        ["completions", dir] => completions(Path::new(dir))?,
        _ => bail!("usage: cargo run -p xtask -- man DIR | completions DIR"),
    };
    for p in written {
        println!("{}", p.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every tool gets a page with its synopsis, every flag and its examples, and a
    /// completion for every shell that names its flags.
    #[test]
    fn every_tool_has_a_man_page_and_completions() {
        let dir = tempfile::tempdir().unwrap();
        let pages = man(&dir.path().join("man")).unwrap();
        for cmd in tools() {
            let name = cmd.get_name();
            let page = std::fs::read_to_string(dir.path().join(format!("man/{name}.1")))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(page.contains(".TH"), "{name}: a man page");
            assert!(
                page.contains("SYNOPSIS") && page.contains("OPTIONS"),
                "{name}"
            );
            assert!(page.contains("Examples:"), "{name}: the --help examples");
            assert!(page.contains("\\-\\-version"), "{name}");
        }
        assert!(pages.iter().any(|p| p.ends_with("restore-drill-history.1")));
        assert!(pages.iter().any(|p| p.ends_with("ops-status-health.1")));

        let files = completions(&dir.path().join("completions")).unwrap();
        assert_eq!(files.len(), 3 * tools().len());
        let bash = std::fs::read_to_string(dir.path().join("completions/bash/pgdump-run")).unwrap();
        assert!(
            bash.contains("--backup-dir") && bash.contains("complete"),
            "{bash}"
        );
        assert!(dir.path().join("completions/zsh/_backup-restore").is_file());
        assert!(dir
            .path()
            .join("completions/fish/ops-status.fish")
            .is_file());
    }
}
