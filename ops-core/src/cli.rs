//! What every tool does with its command line: parse it, and turn a bad one into an event
//! and exit 2 like any other invalid invocation (`--help` and `--version` print as usual).

use crate::event::{correlation_id_from_env, Emitter, Severity};
use crate::{ExitCode, OpsError};

/// Parses `argv` as `A`. On `--help`/`--version`, prints and returns `Err(ExitCode::Ok)`;
/// on an invalid command line, prints clap's message on stderr, writes `run.failed`
/// (`invalid_argument`) and `run.finished`, and returns `Err(ExitCode::Usage)`.
pub fn parse<A: clap::Parser + ToolArgs>(
    argv: impl IntoIterator<Item = std::ffi::OsString>,
    source: &'static str,
    action: &str,
) -> Result<A, ExitCode> {
    // `-?` is `--help` in every tool and subcommand, as in psql (clap cannot alias its
    // generated flag, and -h is the host in pgdump-run and restore-drill). Only whole
    // arguments, and never after `--`.
    let mut rest = false;
    let argv: Vec<std::ffi::OsString> = argv
        .into_iter()
        .map(|a| {
            rest |= a == "--";
            if !rest && a == "-?" {
                "--help".into()
            } else {
                a
            }
        })
        .collect();
    match A::try_parse_from(argv) {
        Ok(args) => {
            crate::human::init(args.human());
            Ok(args)
        }
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            Err(ExitCode::Ok)
        }
        Err(e) => {
            let _ = e.print();
            let text = e.render().to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ");
            let emitter = Emitter::stdout(source, correlation_id_from_env());
            let error = match flag_error(&e) {
                Some(own) => own,
                None => OpsError::validation("invalid_argument", first.to_string()),
            };
            Err(fail_run(&emitter, action, error))
        }
    }
}

/// The error a flag's own value parser gave (a typed flag parsed before any work keeps its
/// stable code: `invalid_timezone`, `invalid_ports`…), naming the flag.
fn flag_error(e: &clap::Error) -> Option<OpsError> {
    let own = std::error::Error::source(e)?.downcast_ref::<OpsError>()?;
    let flag = match e.get(clap::error::ContextKind::InvalidArg) {
        Some(clap::error::ContextValue::String(flag)) => flag.clone(),
        _ => "a flag".to_string(),
    };
    Some(OpsError {
        message: format!("{flag}: {}", own.message),
        ..own.clone()
    })
}

/// `--help` (and `-?`) without `-h`, for the tools where `-h` is the server host as in
/// pg_dump (pgdump-run, restore-drill, backup-restore: `disable_help_flag = true`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LongHelp {
    /// Print help (also -?).
    #[arg(long, global = true, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

/// What every tool's command line carries besides its own flags.
pub trait ToolArgs {
    /// `--human` and `-q` (words on stderr).
    fn human(&self) -> &crate::human::HumanArgs;
}

/// The git commit the tools were built from (`-dirty` with uncommitted changes).
pub const GIT_COMMIT: &str = env!("PGOPS_GIT_COMMIT");
/// The build date (SOURCE_DATE_EPOCH's for reproducible packages).
pub const BUILD_DATE: &str = env!("PGOPS_BUILD_DATE");
/// What every tool's `--version` prints after its name: `0.1.0 (commit 1a2b3c, built 2026-11-25)`.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("PGOPS_GIT_COMMIT"),
    ", built ",
    env!("PGOPS_BUILD_DATE"),
    ")"
);

/// The value parser of every `-d DB`: a database name is never empty. An empty one is
/// nearly always an unset variable in a unit (`-d "$PGOPS_DRILL_DB"`), and it must be a
/// usage error that says so, not a search for a database called "".
pub fn database_name(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err(
            "the database name is empty: is the variable that should hold it (e.g. PGOPS_DRILL_DB in /etc/pgops/pgops.env) unset?"
                .to_string(),
        );
    }
    Ok(s.to_string())
}

/// Reports an error that stopped a whole run (`run.failed`, then `run.finished`) and
/// returns its exit code. `<tool>.failed` events are only ever about one item (a set, a
/// database); a whole run that failed is `run.failed` in every tool (envelope v2).
pub fn fail_run(emitter: &Emitter, action: &str, error: OpsError) -> ExitCode {
    fail_run_with(emitter, action, error, serde_json::json!({}))
}

/// [`fail_run`], with what the run had done so far in `run.finished` (its tally).
pub fn fail_run_with(
    emitter: &Emitter,
    action: &str,
    error: OpsError,
    tally: impl serde::Serialize,
) -> ExitCode {
    let exit = error.category.run_exit_code();
    fail_run_as(emitter, action, error, exit, tally)
}

/// [`fail_run_with`], ending with `exit` (e.g. the worse of the error's and an upstream
/// run's, for `backup-verify -`).
pub fn fail_run_as(
    emitter: &Emitter,
    action: &str,
    error: OpsError,
    exit: ExitCode,
    tally: impl serde::Serialize,
) -> ExitCode {
    emitter.emit_error(
        crate::event_names::RUN_FAILED,
        Severity::Error,
        &error,
        serde_json::json!({}),
    );
    // run.finished carries the error too: the run history (runs.jsonl) keeps only that
    // line, and what reads it later (ops-notify unit) must say why the run failed.
    let mut tally = serde_json::to_value(tally).expect("tallies serialize");
    if let serde_json::Value::Object(m) = &mut tally {
        m.insert(
            "error".into(),
            serde_json::to_value(&error).expect("errors serialize"),
        );
    }
    emitter.finish(action, exit, tally)
}

/// `-j/--jobs`, one definition for every tool that works in parallel. What runs in
/// parallel is the tool's unit of work: dump streams (pgdump-run: databases, or the tables
/// of one directory-format dump), sets verified (backup-verify), pg_restore jobs inside one
/// restore (restore-drill, backup-restore).
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct JobsArgs {
    /// How many at once (1–64): databases dumped (or one database's tables, in the
    /// directory format), sets verified, or pg_restore's jobs in one restore (the archive
    /// is then decompressed to temporary files). `PGOPS_JOBS` sets it for every tool of a
    /// host at once (the cores pgops may take).
    #[arg(long, short = 'j', default_value_t = 1, env = "PGOPS_JOBS", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn even(s: &str) -> Result<u32, OpsError> {
        s.parse::<u32>()
            .ok()
            .filter(|n| n % 2 == 0)
            .ok_or_else(|| OpsError::validation("invalid_even", format!("{s:?} is not even")))
    }

    #[derive(Debug, Parser)]
    struct Args {
        #[arg(long, value_parser = even)]
        even: u32,
    }

    #[test]
    fn a_typed_flag_keeps_its_own_code_and_names_itself() {
        let e = Args::try_parse_from(["t", "--even", "3"]).unwrap_err();
        let own = flag_error(&e).expect("the parser's own error");
        assert_eq!(own.code, "invalid_even");
        assert!(own.message.starts_with("--even"), "{}", own.message);
        let e = Args::try_parse_from(["t", "--odd"]).unwrap_err();
        assert!(
            flag_error(&e).is_none(),
            "clap's own errors stay invalid_argument"
        );
    }
}
