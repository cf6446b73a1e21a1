//! `backup-copy SRC DST`: copies complete, verified sets that DST lacks, from a local
//! catalog to another catalog: off-site to an S3-compatible bucket, or a second disk.
//!
//! [`plan`] decides (pure: the source's sets, what the destination has, the flags → sets to
//! copy and sets skipped with a reason); [`execute`] copies one set (data first, checked
//! against the manifest as it is read and against the size the store reports, manifest last
//! and create-only). Everything is reported as events; `--dry-run` reports the plan.

pub mod cli;
pub mod execute;
pub mod plan;

use ops_catalog::catalog::{encode_db_dir, Catalog, GLOBALS_DIR, MANIFEST_FILE};
use ops_catalog::lock::LockMode;
use ops_catalog::store::{self, PutMode, Store, StoreError, StoreOptions};
use ops_core::event::{correlation_id_from_env, Emitter, Severity};
use ops_core::event_names as names;
use ops_core::{Category, ExitCode, OpsError};
use plan::SourceSet;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::time::Instant;

/// The file that makes a catalog self-describing: a new machine reads it with no local
/// state.
pub const DESCRIPTOR: &str = "pgops-catalog.json";
/// The layout version this build writes and reads.
pub const FORMAT_VERSION: u64 = 1;

/// Parses the command line and runs. Invalid flags get an event and exit 2.
pub fn main_with_args(argv: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    match ops_core::cli::parse::<cli::Args>(argv, "backup-copy", names::COPY_FAILED, "copy") {
        Ok(args) => run(
            &args,
            &Emitter::stdout("backup-copy", correlation_id_from_env()),
        ),
        Err(exit) => exit,
    }
}

#[derive(Debug, Default)]
struct Tally {
    copied: usize,
    skipped: usize,
    failed: usize,
    sent: u64,
}

impl Tally {
    fn json(&self, dry_run: bool) -> Value {
        json!({"sets_copied": self.copied, "sets_skipped": self.skipped,
               "sets_failed": self.failed, "bytes_sent": self.sent, "dry_run": dry_run})
    }
}

pub fn run(args: &cli::Args, emitter: &Emitter) -> ExitCode {
    let mut tally = Tally::default();
    match execute_run(args, emitter, &mut tally) {
        Ok(()) => {
            let exit = if tally.failed > 0 {
                ExitCode::Problem
            } else {
                ExitCode::Ok
            };
            emitter.finish("copy", exit, tally.json(args.dry_run))
        }
        Err(error) => ops_core::cli::fail_run_with(
            emitter,
            names::COPY_FAILED,
            "copy",
            error,
            tally.json(args.dry_run),
        ),
    }
}

/// The sets of the source that `-d` selects, oldest first per directory.
fn source_sets(catalog: &Catalog, args: &cli::Args) -> Result<Vec<SourceSet>, OpsError> {
    let now = jiff::Timestamp::now();
    let mut out = Vec::new();
    for dir in catalog.listing()?.set_dirs {
        if !args.select.wants(dir.label()) {
            continue;
        }
        let sets = dir
            .scan(now)
            .map_err(|e| OpsError::io(format!("listing {}", dir.path.display()), &e))?;
        let dir_name = match &dir.database {
            Some(db) => encode_db_dir(db),
            None => GLOBALS_DIR.to_string(),
        };
        out.extend(sets.sets.into_iter().map(|c| SourceSet {
            label: dir.label().to_string(),
            dir_name: dir_name.clone(),
            id: c.set.id.clone(),
            path: c.set.path.clone(),
            verdict: c.set.read_verify().map(|r| r.verdict),
            manifest: c.manifest,
        }));
    }
    Ok(out)
}

/// Makes sure the destination is a pgops catalog of a format this build writes: reads its
/// descriptor, or creates it (create-only: two first copies agree on one).
fn ensure_descriptor(dst: &dyn Store, dry_run: bool) -> Result<(), OpsError> {
    let at = |e: StoreError| e.to_ops_error(&format!("reading {}/{DESCRIPTOR}", dst.location()));
    let text = match dst.open(DESCRIPTOR) {
        Ok(mut r) => {
            let mut t = Vec::new();
            r.read_to_end(&mut t)
                .map_err(|e| OpsError::io(format!("reading {DESCRIPTOR}"), &e))?;
            t
        }
        Err(StoreError::NotFound(_)) if dry_run => return Ok(()),
        Err(StoreError::NotFound(_)) => {
            let d = serde_json::to_vec_pretty(&json!({
                "format": "pgops-catalog",
                "version": FORMAT_VERSION,
                "created_by": {"name": "backup-copy", "version": env!("CARGO_PKG_VERSION")},
            }))
            .expect("a descriptor serializes");
            return match dst.put(
                DESCRIPTOR,
                &mut &d[..],
                Some(d.len() as u64),
                PutMode::Create,
            ) {
                Ok(_) | Err(StoreError::Exists(_)) => Ok(()),
                Err(e) => Err(at(e)),
            };
        }
        Err(e) => return Err(at(e)),
    };
    let v: Value = serde_json::from_slice(&text).unwrap_or(Value::Null);
    if v["format"] != "pgops-catalog" || v["version"].as_u64() != Some(FORMAT_VERSION) {
        return Err(OpsError::new(
            "catalog_format",
            Category::Validation,
            format!(
                "{}/{DESCRIPTOR} is not a pgops catalog of format {FORMAT_VERSION}",
                dst.location()
            ),
        ));
    }
    Ok(())
}

/// What the destination holds under each database directory of `sets`, key → size: one
/// listing per database (not one request per set and file).
fn destination_objects(
    dst: &dyn Store,
    sets: &[SourceSet],
) -> Result<BTreeMap<String, u64>, OpsError> {
    let dirs: BTreeSet<&str> = sets.iter().map(|s| s.dir_name.as_str()).collect();
    let mut out = BTreeMap::new();
    for dir in dirs {
        let listed = dst
            .list_tree(dir)
            .map_err(|e| e.to_ops_error(&format!("listing {}/{dir}", dst.location())))?;
        out.extend(
            listed
                .into_iter()
                .map(|o| (format!("{dir}/{}", o.name), o.size)),
        );
    }
    Ok(out)
}

fn execute_run(args: &cli::Args, emitter: &Emitter, tally: &mut Tally) -> Result<(), OpsError> {
    if args.destination.starts_with("s3://") && !args.no_encrypt {
        return Err(OpsError::validation(
            "encryption_required",
            "an s3:// destination takes the database's content off this host: encryption is not in this build yet, so pass --no-encrypt to send it in clear (knowingly), or copy to a directory",
        ));
    }
    let options = StoreOptions {
        stall_timeout: args.stall_timeout,
        retry_timeout: args.retry_timeout,
    };
    let dst = store::open_location(&args.destination, &options)
        .map_err(|e| e.to_ops_error("opening the destination"))?;
    // Shared: rotation cannot delete a set while it is being copied.
    let (catalog, _lock) = Catalog::open(&args.source, LockMode::Shared, args.lock.lock_timeout)?;
    let sets = source_sets(&catalog, args)?;
    ensure_descriptor(dst.as_ref(), args.dry_run)?;
    let there = destination_objects(dst.as_ref(), &sets)?;
    let present: BTreeSet<(String, String)> = sets
        .iter()
        .filter(|s| there.contains_key(&s.key(MANIFEST_FILE)))
        .map(|s| (s.dir_name.clone(), s.id.clone()))
        .collect();
    let plan = plan::plan(&sets, &present, args.unverified);
    for (i, why) in &plan.skip {
        let s = &sets[*i];
        tally.skipped += 1;
        let severity = match why {
            plan::Skip::AtDestination => Severity::Info,
            _ => Severity::Warning,
        };
        emitter.emit(
            names::COPY_SKIPPED,
            severity,
            json!({"database": s.label, "id": s.id, "code": why.code(), "reason": why.reason()}),
        );
    }
    for i in &plan.copy {
        let s = &sets[*i];
        let what = json!({"database": s.label, "id": s.id, "destination": dst.location(),
                          "files": s.manifest.files.len(), "bytes": s.bytes()});
        if args.dry_run {
            emitter.emit(names::COPY_PLANNED, Severity::Info, what);
            continue;
        }
        let started = Instant::now();
        match execute::copy_set(dst.as_ref(), s, &there) {
            Ok(c) => {
                tally.copied += 1;
                tally.sent += c.sent;
                let mut payload = what;
                payload["bytes_sent"] = c.sent.into();
                payload["bytes_resumed"] = c.resumed.into();
                payload["duration_ms"] = (started.elapsed().as_millis() as u64).into();
                emitter.emit(names::COPY_COMPLETED, Severity::Info, payload);
            }
            Err(e) if e.is_run_level() => return Err(e.to_ops_error()),
            Err(e) => {
                tally.failed += 1;
                emitter.emit_error(
                    names::COPY_FAILED,
                    Severity::Error,
                    &e.to_ops_error(),
                    json!({"scope": "set", "database": s.label, "id": s.id}),
                );
            }
        }
    }
    Ok(())
}
