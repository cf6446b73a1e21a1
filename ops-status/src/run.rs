//! Running a view: read (gather), compute (model), show (views, health, metrics).

use crate::cli::{Args, Common, View};
use crate::{gather, health, metrics, views};
use ops_core::event::{correlation_id_from_env, Emitter, Severity};
use ops_core::event_names as names;
use ops_core::{ExitCode, OpsError};
use serde_json::json;

/// Whether a person reads stdout: a table or words, unless `--json`; `--table` forces it.
fn for_a_person(common: &Common) -> bool {
    common.table || (std::io::IsTerminal::is_terminal(&std::io::stdout()) && !common.json)
}

fn colour() -> bool {
    views::use_colour(
        std::io::IsTerminal::is_terminal(&std::io::stdout()),
        std::env::var("NO_COLOR").ok().as_deref(),
        std::env::var("TERM").ok().as_deref(),
    )
}

fn build() -> metrics::BuildInfo {
    metrics::BuildInfo {
        version: env!("CARGO_PKG_VERSION").into(),
        commit: ops_core::cli::GIT_COMMIT.into(),
    }
}

/// Runs the view `args` names; returns the process exit code.
pub fn run(args: &Args) -> i32 {
    let emitter = Emitter::stdout("ops-status", correlation_id_from_env()).without_run_history();
    let sources = &args.common.sources;
    match &args.view {
        None => status(&args.common, &emitter),
        Some(View::Health(policy)) => {
            let (overall, doc) = health::doc(&gather::load(sources), &policy.policy());
            if for_a_person(&args.common) {
                print!("{}", views::health_words(&doc));
            } else {
                println!("{doc}");
            }
            overall.exit_code()
        }
        Some(View::Sets) => sets(&args.common, &emitter),
        Some(View::Proofs(proofs)) => {
            crate::proofs::run(proofs, for_a_person(&args.common), &emitter)
        }
        Some(View::RecordFailure { unit }) => {
            match record_failure(sources.state_dir.as_deref(), unit, &emitter) {
                Ok(()) => emitter
                    .finish("record-failure", ExitCode::Ok, json!({}))
                    .code(),
                Err(e) => ops_core::cli::fail_run(&emitter, "record-failure", e).code(),
            }
        }
        Some(View::Serve(serve)) => {
            crate::serve::run(&args.common, serve, &emitter, build()).code()
        }
        Some(View::Metrics { output, policy }) => {
            metrics(sources, &policy.policy(), output.as_deref(), &emitter)
        }
    }
}

/// The status of every database: a table for a person, `status.database` lines otherwise.
fn status(common: &Common, emitter: &Emitter) -> i32 {
    match gather::load(&common.sources) {
        // A person at a terminal gets a table; scripts and pipes get JSON lines.
        Ok(s) if for_a_person(common) => {
            println!(
                "{}",
                views::table(&s, colour(), ops_core::human::terminal_width())
            );
            0
        }
        Ok(s) => {
            let dbs = views::databases(&s);
            let n = dbs.len();
            for p in dbs {
                emitter.emit(names::STATUS_DATABASE, Severity::Info, p);
            }
            if let Some(a) = views::audit(&s) {
                emitter.emit(names::STATUS_AUDIT, Severity::Info, a);
            }
            if let Some(c) = views::config_change(&s) {
                emitter.emit(names::STATUS_CONFIG, Severity::Info, c);
            }
            emitter
                .finish("status", ExitCode::Ok, json!({"databases": n}))
                .code()
        }
        Err(e) => ops_core::cli::fail_run(emitter, "status", e).code(),
    }
}

/// Every set, newest first.
fn sets(common: &Common, emitter: &Emitter) -> i32 {
    match gather::load_catalog(&common.sources) {
        Ok((dbs, drills)) if for_a_person(common) => {
            let now = jiff::Timestamp::now();
            let width = ops_core::human::terminal_width();
            print!("{}", views::sets_table(&dbs, &drills, now, colour(), width));
            println!();
            0
        }
        Ok((dbs, drills)) => {
            let sets = views::set_payloads(&dbs, &drills, jiff::Timestamp::now());
            let n = sets.len();
            for p in sets {
                emitter.emit(names::STATUS_SET, Severity::Info, p);
            }
            emitter
                .finish("sets", ExitCode::Ok, json!({"sets": n}))
                .code()
        }
        Err(e) => ops_core::cli::fail_run(emitter, "sets", e).code(),
    }
}

/// The Prometheus text: on stdout (it is the scrape: errors go to stderr), or into
/// `output` atomically (events on stdout).
fn metrics(
    sources: &ops_health::cli::SourceArgs,
    policy: &health::Policy,
    output: Option<&std::path::Path>,
    emitter: &Emitter,
) -> i32 {
    let text = match gather::load(sources) {
        Ok(s) => metrics::render(&s, &build(), policy),
        Err(e) if output.is_some() => return ops_core::cli::fail_run(emitter, "metrics", e).code(),
        Err(e) => {
            eprintln!("ops-status: {}: {}", e.code, e.message);
            return e.category.run_exit_code().code();
        }
    };
    let Some(path) = output else {
        print!("{text}");
        return 0;
    };
    // 0644: node_exporter's user reads it; metrics hold no secret.
    match ops_core::atomic::write_file_mode(path, text.as_bytes(), 0o644) {
        Ok(()) => emitter
            .finish(
                "metrics",
                ExitCode::Ok,
                json!({"output": path.display().to_string(), "bytes": text.len()}),
            )
            .code(),
        Err(e) => ops_core::cli::fail_run(
            emitter,
            "metrics",
            OpsError::io(format!("writing {}", path.display()), &e),
        )
        .code(),
    }
}

/// What systemd tells a unit's `OnFailure=` handler about the failed unit (systemd ≥ 251),
/// as recorded: the names without their `MONITOR_` prefix, lower-cased.
const MONITOR_VARS: [&str; 4] = [
    "MONITOR_SERVICE_RESULT",
    "MONITOR_EXIT_CODE",
    "MONITOR_EXIT_STATUS",
    "MONITOR_INVOCATION_ID",
];

/// Appends the failure of `unit` to the state directory's unit-failures.jsonl and reports
/// it (`unit.failed`, an error: `journalctl -p err` lists it).
fn record_failure(
    state_dir: Option<&std::path::Path>,
    unit: &str,
    emitter: &Emitter,
) -> Result<(), OpsError> {
    let dir = state_dir.ok_or_else(|| {
        OpsError::validation(
            "state_dir_missing",
            "record-failure needs the state directory (--state-dir or PGOPS_STATE_DIR)",
        )
    })?;
    if unit.is_empty() || unit.chars().any(|c| c.is_control()) {
        return Err(OpsError::validation(
            "invalid_argument",
            format!("{unit:?} is not a unit name"),
        ));
    }
    let mut record = serde_json::Map::new();
    record.insert("unit".into(), unit.into());
    record.insert("at".into(), ops_core::timefmt::now_rfc3339().into());
    for var in MONITOR_VARS {
        let key = var.trim_start_matches("MONITOR_").to_lowercase();
        let value = std::env::var(var).ok().filter(|v| !v.is_empty());
        record.insert(key, value.into());
    }
    let record = serde_json::Value::Object(record);
    let path = dir.join(ops_core::state::UNIT_FAILURES_FILE);
    ops_core::state::append_line(&path, &record.to_string())
        .map_err(|e| OpsError::io_at("recording the failure in", &path, &e))?;
    let mut payload = record;
    payload["message"] = format!(
        "{unit} failed ({}): see journalctl -u {unit}",
        payload["service_result"]
            .as_str()
            .unwrap_or("result unknown")
    )
    .into();
    emitter.emit(names::UNIT_FAILED, Severity::Error, payload);
    Ok(())
}
