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
    Ok(model::snapshot(&dbs, &drills, jiff::Timestamp::now()))
}

fn build() -> metrics::BuildInfo {
    metrics::BuildInfo {
        version: env!("CARGO_PKG_VERSION").into(),
        commit: option_env!("PGOPS_GIT_COMMIT").unwrap_or("unknown").into(),
    }
}

fn signed(d: std::time::Duration) -> jiff::SignedDuration {
    jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::MAX)
}

/// Runs the view `args` names; returns the process exit code.
pub fn run(args: &Args) -> i32 {
    let emitter = Emitter::stdout("ops-status", correlation_id_from_env());
    match &args.view {
        None => match load(&args.common) {
            // A person at a terminal gets a table; scripts and pipes get JSON lines.
            Ok(s) if std::io::IsTerminal::is_terminal(&std::io::stdout()) && !args.common.json => {
                println!("{}", views::table(&s));
                0
            }
            Ok(s) => {
                let dbs = views::databases(&s);
                let n = dbs.len();
                for p in dbs {
                    emitter.emit(names::STATUS_DATABASE, Severity::Info, p);
                }
                emitter
                    .finish("status", ExitCode::Ok, json!({"databases": n}))
                    .code()
            }
            Err(e) => ops_core::cli::fail_run(&emitter, names::STATUS_FAILED, "status", e).code(),
        },
        Some(View::Health {
            max_backup_age,
            max_offsite_age,
            no_offsite,
            max_drill_age,
            rto_target,
        }) => {
            let policy = health::Policy {
                max_backup_age: signed(*max_backup_age),
                max_offsite_age: (!no_offsite).then(|| signed(*max_offsite_age)),
                max_drill_age: signed(*max_drill_age),
                rto_target_ms: rto_target.as_millis() as u64,
            };
            let doc = match load(&args.common) {
                // What cannot be read cannot be told: 2, with the reason.
                Err(e) => (
                    health::Overall::Unknown,
                    json!({"status": "unknown", "components": [],
                           "error": {"code": e.code, "message": e.message}}),
                ),
                Ok(s) => {
                    let (overall, components) = health::evaluate(&s, &policy, s.taken_at);
                    (overall, health::document(overall, &components, s.taken_at))
                }
            };
            println!("{}", doc.1);
            doc.0.exit_code()
        }
        Some(View::Metrics { output }) => {
            let text = match load(&args.common) {
                Ok(s) => metrics::render(&s, &build()),
                Err(e) => {
                    return match output {
                        Some(_) => {
                            ops_core::cli::fail_run(&emitter, names::STATUS_FAILED, "metrics", e)
                                .code()
                        }
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
                Some(path) => match ops_core::atomic::write_file(path, text.as_bytes()) {
                    Ok(()) => emitter
                        .finish(
                            "metrics",
                            ExitCode::Ok,
                            json!({"output": path.display().to_string(), "bytes": text.len()}),
                        )
                        .code(),
                    Err(e) => ops_core::cli::fail_run(
                        &emitter,
                        names::STATUS_FAILED,
                        "metrics",
                        OpsError::io(format!("writing {}", path.display()), &e),
                    )
                    .code(),
                },
            }
        }
    }
}
