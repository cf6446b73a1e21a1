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
        backup_bucket::cli::Args::command(),
        restore_drill::cli::Args::command(),
        port_audit::cli::Args::command(),
        ops_status::cli::Args::command(),
        ops_notify::cli::Args::command(),
    ]
}

/// What every tool's exit code means (each tool's `--help` says which of its results
/// fall where).
const EXIT_STATUS: &str = "0\tsuccess: everything asked for was done and proven
1\ta problem was found and reported: a failed set, a failed check, a violation
2\tinvalid invocation or configuration (a flag, a setting, a key file): nothing was done
3\tcould not run: a server, store or lock unavailable, a timeout, an interruption";

/// The environment every tool reads besides its own flags' variables.
const COMMON_ENVIRONMENT: [(&str, &str); 5] = [
    (
        "PGOPS_STATE_DIR",
        "where each run's run.finished line is appended (runs.jsonl), for ops-status",
    ),
    (
        "PGOPS_CORRELATION_ID",
        "the correlation id of every event of this run",
    ),
    (
        "PGOPS_PG_BIN_DIRS",
        "installations of the PostgreSQL client programs to choose from, colon-separated",
    ),
    (
        "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL, AWS_PROFILE",
        "an s3:// location's credentials and endpoint",
    ),
    (
        "PGHOST, PGPORT, PGUSER, PGPASSWORD, PGPASSFILE, PGSSLMODE",
        "the PostgreSQL connection, as libpq reads them",
    ),
];

/// Escapes text for roff: a leading dot or quote, and backslashes.
fn roff(text: &str) -> String {
    text.lines()
        .map(|l| {
            let l = l.replace('\\', "\\e").replace('-', "\\-");
            if l.starts_with('.') || l.starts_with('\'') {
                format!("\\&{l}")
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The variables a command's own flags read (`env = …`), with the flag's help.
fn environment(cmd: &clap::Command) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = cmd
        .get_arguments()
        .filter_map(|a| {
            let var = a.get_env()?.to_string_lossy().into_owned();
            let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
            Some((var, help))
        })
        .collect();
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

/// The sections clap_mangen does not write: EXAMPLES (the `--help` examples, as written),
/// EXIT STATUS, ENVIRONMENT and SEE ALSO.
fn extra_sections(cmd: &clap::Command, tool: &str) -> String {
    let mut out = String::new();
    if let Some(examples) = cmd.get_after_help() {
        let text = examples.to_string();
        let body = text.strip_prefix("Examples:").unwrap_or(&text);
        out.push_str(".SH EXAMPLES\n.nf\n");
        // As written in --help, less the two spaces of indentation.
        let lines: Vec<&str> = body
            .trim_matches('\n')
            .lines()
            .map(|l| l.strip_prefix("  ").unwrap_or(l))
            .collect();
        out.push_str(&roff(&lines.join("\n")));
        out.push_str("\n.fi\n");
    }
    out.push_str(".SH \"EXIT STATUS\"\n");
    for line in EXIT_STATUS.lines() {
        let (code, what) = line.split_once('\t').expect("code\tmeaning");
        out.push_str(&format!(".TP\n.B {code}\n{}\n", roff(what)));
    }
    out.push_str(".SH ENVIRONMENT\n");
    for (var, help) in environment(cmd).into_iter().chain(
        COMMON_ENVIRONMENT
            .iter()
            .map(|(v, h)| (v.to_string(), h.to_string())),
    ) {
        out.push_str(&format!(".TP\n.B {}\n{}\n", roff(&var), roff(&help)));
    }
    out.push_str(".SH \"SEE ALSO\"\n");
    let others: Vec<String> = tools()
        .iter()
        .map(|c| c.get_name().to_string())
        .filter(|n| n != tool)
        .map(|n| format!(".BR {n} (1)"))
        .collect();
    out.push_str(&others.join(",\n"));
    out.push_str(
        "\n.PP\nThe documentation in /usr/share/doc/pgops (README, docs/runbooks, docs/errors.md: every error code).\n",
    );
    out
}

/// One page: clap_mangen's sections but its EXTRA (the examples, which it reflows), then
/// ours.
fn render(page: clap::Command, tool: &str) -> Result<Vec<u8>> {
    let man = clap_mangen::Man::new(page.clone())
        .date(ops_core::cli::BUILD_DATE)
        .source(format!("pgops {}", env!("CARGO_PKG_VERSION")))
        .manual("pgops manual");
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    if page.get_subcommands().any(|s| s.get_name() != "help") {
        man.render_subcommands_section(&mut out)?;
    }
    out.extend_from_slice(extra_sections(&page, tool).as_bytes());
    // Subcommand pages have no version of their own.
    if page.get_version().is_some() || page.get_long_version().is_some() {
        man.render_version_section(&mut out)?;
    }
    Ok(out)
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
            let out = render(page, &name)?;
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

    /// Every flag an example names exists: `--exclude` was once shown and never parsed.
    #[test]
    fn every_example_names_real_flags() {
        fn longs(cmd: &clap::Command, out: &mut std::collections::BTreeSet<String>) {
            out.extend(
                cmd.get_arguments()
                    .filter_map(|a| a.get_long())
                    .map(str::to_string),
            );
            for s in cmd.get_subcommands() {
                longs(s, out);
            }
        }
        for cmd in tools() {
            let mut known = std::collections::BTreeSet::new();
            longs(&cmd, &mut known);
            known.extend(["help", "version"].map(String::from));
            let text = cmd
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            let about = cmd
                .get_long_about()
                .map(|h| h.to_string())
                .unwrap_or_default();
            let name = cmd.get_name().to_string();
            for line in text.lines().chain(about.lines()) {
                let line = line.trim();
                // Only this tool's own command lines (a pipe's other tool is checked with its own).
                let Some(rest) = line.strip_prefix(name.as_str()) else {
                    continue;
                };
                let mine = rest.split('|').next().unwrap_or("");
                for word in mine.split_whitespace().filter(|w| w.starts_with("--")) {
                    let flag = word.trim_start_matches('-').split('=').next().unwrap_or("");
                    assert!(
                        known.contains(flag),
                        "{name}: an example names --{flag}: {line}"
                    );
                }
            }
        }
    }

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
            for section in [
                ".SH EXAMPLES",
                ".SH \"EXIT STATUS\"",
                ".SH ENVIRONMENT",
                ".SH \"SEE ALSO\"",
            ] {
                assert!(page.contains(section), "{name}: {section}");
            }
            assert!(!page.contains(".SH EXTRA"), "{name}: no reflowed EXTRA");
            assert!(page.contains("\\-\\-version"), "{name}");
        }
        assert!(pages.iter().any(|p| p.ends_with("restore-drill-history.1")));
        let backup = std::fs::read_to_string(dir.path().join("man/pgdump-run.1")).unwrap();
        assert!(backup.contains("PGOPS_BACKUP_DIR"), "the flags' variables");
        // The examples keep their lines: one command a line, not a paragraph.
        assert!(
            backup.contains("\npgdump\\-run \\-\\-all \\-\\-backup\\-dir"),
            "{backup}"
        );
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
