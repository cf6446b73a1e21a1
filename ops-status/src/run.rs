//! Running a view: read (gather), compute (model), show (views, health, metrics).

use crate::cli::{Args, Common, View};
use crate::{gather, health, metrics, model, views};
use ops_core::event::{correlation_id_from_env, Emitter, Severity};
use ops_core::event_names as names;
use ops_core::{Category, ExitCode, OpsError};
use serde_json::json;

/// Reads the catalog the flags name into a snapshot.
pub fn load(common: &Common) -> Result<model::Snapshot, OpsError> {
    let root = common
        .backup_dir
        .as_deref()
        .ok_or_else(ops_catalog::cli::backup_dir_missing)?;
    if !root.is_dir() {
        return Err(OpsError::new(
            "catalog_missing",
            Category::Io,
            format!("{} is not a directory", root.display()),
        ));
    }
    let mut dbs = gather::catalog(root)?;
    dbs.retain(|d| common.select.wants(&d.label));
    let drills = gather::drills(&root.join(gather::DRILLS_FILE))?;
    let snapshot = model::snapshot(&dbs, &drills, jiff::Timestamp::now());
    Ok(match &common.state_dir {
        Some(dir) => snapshot.with_state(gather::state(dir)?),
        None => snapshot,
    })
}

/// The `health` document of a snapshot (or of the error that prevented one), and its
/// verdict.
pub fn health_doc(
    loaded: &Result<model::Snapshot, OpsError>,
    policy: &health::Policy,
) -> (health::Overall, serde_json::Value) {
    match loaded {
        // What cannot be read cannot be told: 2, with the reason.
        Err(e) => (
            health::Overall::Unknown,
            health::unreadable(e.code, &e.message, jiff::Timestamp::now()),
        ),
        Ok(s) => {
            let (overall, components) = health::evaluate(s, policy, s.taken_at);
            (overall, health::document(overall, &components, s.taken_at))
        }
    }
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
    match &args.view {
        None => match load(&args.common) {
            // A person at a terminal gets a table; scripts and pipes get JSON lines.
            Ok(s)
                if args.common.table
                    || (std::io::IsTerminal::is_terminal(&std::io::stdout())
                        && !args.common.json) =>
            {
                let colour = views::use_colour(
                    std::io::IsTerminal::is_terminal(&std::io::stdout()),
                    std::env::var("NO_COLOR").ok().as_deref(),
                    std::env::var("TERM").ok().as_deref(),
                );
                println!("{}", views::table(&s, colour));
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
                emitter
                    .finish("status", ExitCode::Ok, json!({"databases": n}))
                    .code()
            }
            Err(e) => ops_core::cli::fail_run(&emitter, "status", e).code(),
        },
        Some(View::Health(policy)) => {
            let (overall, doc) = health_doc(&load(&args.common), &policy.policy());
            println!("{doc}");
            overall.exit_code()
        }
        Some(View::Serve(serve)) => {
            crate::serve::run(&args.common, serve, &emitter, build()).code()
        }
        Some(View::Metrics { output }) => {
            let text = match load(&args.common) {
                Ok(s) => metrics::render(&s, &build()),
                Err(e) => {
                    return match output {
                        Some(_) => ops_core::cli::fail_run(&emitter, "metrics", e).code(),
                        // stdout is the scrape: the error goes to stderr.
                        None => {
                            eprintln!("ops-status: {}: {}", e.code, e.message);
                            e.category.run_exit_code().code()
                        }
                    };
                }
            };
            match output {
                None => {
                    print!("{text}");
                    0
                }
                // 0644: node_exporter's user reads it; metrics hold no secret.
                Some(path) => match ops_core::atomic::write_file_mode(path, text.as_bytes(), 0o644)
                {
                    Ok(()) => emitter
                        .finish(
                            "metrics",
                            ExitCode::Ok,
                            json!({"output": path.display().to_string(), "bytes": text.len()}),
                        )
                        .code(),
                    Err(e) => ops_core::cli::fail_run(
                        &emitter,
                        "metrics",
                        OpsError::io(format!("writing {}", path.display()), &e),
                    )
                    .code(),
                },
            }
        }
    }
}
