//! `backup-copy SRC DST`: copies complete, verified sets that DST lacks, from a local
//! catalog to another catalog: off-site to an S3-compatible bucket, or a second disk.
//!
//! Three ways (ADR 0014): a directory to a directory, files as they are; to an object store
//! (or with `--recipient`), sealed: encrypted with age and vouched for by a signed
//! envelope; from a sealed catalog back to a directory, every object checked against the
//! envelope and every file against its manifest as it is decrypted.
//!
//! [`plan`] decides (pure: the mode, the source's sets, what the destination has, the
//! flags → sets to copy and sets skipped with a reason); [`execute`] and
//! `ops_offsite::sealed` copy one set (data first, the manifest or envelope last and
//! create-only). Everything is reported as events; `--dry-run` reports the plan.

pub mod cli;
pub mod plan;
pub mod report;
pub mod transfer;

use ops_catalog::catalog::{encode_db_dir, Catalog, GLOBALS_DIR, MANIFEST_FILE};
use ops_catalog::keys::{SigningKey, TrustedKey};
use ops_catalog::lock::LockMode;
use ops_core::event::{correlation_id_from_env, Emitter, Severity};
use ops_core::{Category, ExitCode, OpsError};
use ops_offsite::backend::{self, PutMode, Store, StoreError, StoreOptions, TransferError};
use ops_offsite::keys::{Identities, Recipients};
use ops_offsite::sealed::open::{scan_dir, set_dirs, unseal_into, SET_DAMAGED};
use ops_offsite::sealed::write::{journal_path, seal_set, SetToSeal};
use ops_offsite::sealed::ENVELOPE_FILE;
use plan::{Mode, Origin, SourceSet};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;
use std::time::Instant;
use transfer::Copied;

pub use ops_offsite::sealed::{DESCRIPTOR, FORMAT_VERSION};

/// Parses the command line and runs. Invalid flags get an event and exit 2.
pub fn main_with_args(argv: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    match ops_core::cli::parse::<cli::Args>(argv, "backup-copy", "copy") {
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
    /// Sets found at the destination already (copied before, or by another copy now).
    present: usize,
    failed: usize,
    sent: u64,
    /// Destinations that failed as a whole (several destinations only).
    destinations_failed: usize,
    /// The worst exit code of those failures.
    destination_exit: Option<ExitCode>,
}

impl Tally {
    fn report(&self, dry_run: bool) -> report::Tally {
        report::Tally {
            sets_copied: self.copied,
            sets_skipped: self.skipped,
            sets_failed: self.failed,
            bytes_sent: self.sent,
            destinations_failed: self.destinations_failed,
            dry_run,
        }
    }
}

pub fn run(args: &cli::Args, emitter: &Emitter) -> ExitCode {
    let mut tally = Tally::default();
    match execute_all(args, emitter, &mut tally) {
        // A run that left nothing off-site (an empty source, every set unverified) proves
        // nothing: said as a failure, never "ok".
        Ok(()) if tally.copied + tally.present + tally.failed == 0 && !args.dry_run => {
            let why = if tally.skipped == 0 {
                "the source has no set to copy (check --backup-dir and -d)"
            } else {
                "every set was skipped (see copy.skipped): none is verified; run backup-verify, or pass --unverified"
            };
            ops_core::cli::fail_run_with(
                emitter,
                "copy",
                OpsError::new(
                    "nothing_copied",
                    Category::Integrity,
                    format!("nothing was copied and nothing is at the destination: {why}"),
                ),
                tally.report(args.dry_run),
            )
        }
        Ok(()) => {
            let exit = if let Some(exit) = tally.destination_exit {
                exit
            } else if tally.failed > 0 {
                ExitCode::Problem
            } else {
                ExitCode::Ok
            };
            emitter.finish("copy", exit, tally.report(args.dry_run))
        }
        Err(error) => {
            ops_core::cli::fail_run_with(emitter, "copy", error, tally.report(args.dry_run))
        }
    }
}

/// The sets of the local source that `-d` selects, oldest first per directory; directories
/// named like sets that are not (unsigned under `--public-key`, misplaced…) are reported,
/// never copied.
fn local_sets(
    catalog: &Catalog,
    args: &cli::Args,
    emitter: &Emitter,
) -> Result<Vec<SourceSet>, OpsError> {
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
        for r in &sets.rejected {
            emitter.send(&report::Skipped {
                severity: Severity::Error,
                database: dir.label(),
                id: &r.set.id,
                code: r.why.code(),
                reason: r.reason.clone(),
                bytes_sent: None,
            });
        }
        out.extend(sets.sets.into_iter().map(|c| SourceSet {
            label: dir.label().to_string(),
            dir_name: dir_name.clone(),
            id: c.set.id.clone(),
            verdict: c.set.read_verify().map(|r| r.verdict),
            origin: Origin::Local {
                path: c.set.path.clone(),
                manifest: Box::new(c.manifest),
            },
        }));
    }
    Ok(out)
}

/// The sealed sets of an off-site source that `-d` selects, oldest first per directory;
/// directories of sets that are not usable are reported.
fn sealed_sets(
    src: &dyn Store,
    trust: &TrustedKey,
    args: &cli::Args,
    emitter: &Emitter,
) -> Result<Vec<SourceSet>, OpsError> {
    let at = |e: StoreError| e.to_ops_error(&format!("listing {}", src.location()));
    let mut out = Vec::new();
    for (dir, label) in set_dirs(src, |l| args.select.wants(l)).map_err(at)? {
        let scanned = scan_dir(src, &dir, trust, jiff::Timestamp::now()).map_err(at)?;
        for r in &scanned.rejected {
            emitter.send(&report::Skipped {
                severity: Severity::Error,
                database: &label,
                id: &r.id,
                code: r.code,
                reason: r.reason.clone(),
                bytes_sent: None,
            });
        }
        for id in &scanned.incomplete {
            emitter.send(&report::Skipped {
                severity: Severity::Warning,
                database: &label,
                id,
                code: "set_incomplete",
                reason: "objects without an envelope: a copy in progress or interrupted, not a set"
                    .into(),
                bytes_sent: None,
            });
        }
        let (intact, damaged): (Vec<_>, Vec<_>) =
            scanned.sets.into_iter().partition(|s| s.intact());
        for s in damaged {
            emitter.send(&report::Skipped {
                severity: Severity::Error,
                database: &label,
                id: &s.id,
                code: SET_DAMAGED,
                reason: s.damage_text().unwrap_or_default(),
                bytes_sent: None,
            });
        }
        out.extend(intact.into_iter().map(|s| SourceSet {
            label: label.clone(),
            dir_name: dir.clone(),
            id: s.id.clone(),
            verdict: Some(ops_catalog::catalog::Verdict::Pass),
            origin: Origin::Sealed(Box::new(s)),
        }));
    }
    Ok(out)
}

/// The descriptor a run writes into a new destination: its layout and, when sealed, the
/// keys a new machine needs to know (public keys only).
fn descriptor(mode: Mode, keys: &Keys) -> Value {
    let mut d = json!({
        "format": "pgops-catalog",
        "version": FORMAT_VERSION,
        "layout": if mode == Mode::Seal { "sealed" } else { "plain" },
        "created_by": {"name": "backup-copy", "version": env!("CARGO_PKG_VERSION")},
    });
    if mode == Mode::Seal {
        d["encryption"] = "age".into();
        d["recipients"] = json!(keys.recipients.as_ref().map(|r| r.listed.clone()));
        if let Some(k) = &keys.signing {
            d["public_key"] = k.trusted().to_base64().into();
            d["key_id"] = k.key_id().into();
        }
    }
    d
}

/// Makes sure `dst` is a pgops catalog this run may write: reads its descriptor, or creates
/// it (create-only: two first copies agree on one). A sealed catalog signed by another key
/// is refused: its readers would reject every set this run writes.
fn ensure_descriptor(
    dst: &dyn Store,
    dry_run: bool,
    wanted: &Value,
    trust: Option<&TrustedKey>,
) -> Result<(), OpsError> {
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
            let d = serde_json::to_vec_pretty(wanted).expect("a descriptor serializes");
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
    let layout = |v: &Value| v["layout"].as_str().unwrap_or("plain").to_string();
    if layout(&v) != layout(wanted) {
        return Err(OpsError::validation(
            "catalog_format",
            format!(
                "{} holds {} sets, this run writes {} ones",
                dst.location(),
                layout(&v),
                layout(wanted)
            ),
        ));
    }
    if wanted["public_key"].is_string() && v["public_key"] != wanted["public_key"] {
        // A rotation of the signing key (ADR 0025): the keyring the run trusts holds the
        // catalog's key, so its readers can hold both; the descriptor names the new key
        // and keeps the old ones.
        if let (Some(trust), Some(current)) = (trust, v["public_key"].as_str()) {
            if trust.holds(current) {
                return rekey_descriptor(dst, dry_run, &v, wanted);
            }
        }
        return Err(OpsError::validation(
            "catalog_key_mismatch",
            format!(
                "{} expects sets signed by key {}, the signing key is {}: use another prefix, or rotate the key (docs/storage.md)",
                dst.location(),
                v["key_id"].as_str().unwrap_or("?"),
                wanted["key_id"].as_str().unwrap_or("?")
            ),
        ));
    }
    Ok(())
}

/// Names the run's signing key in the descriptor, the keys it named before kept under
/// `previous_keys` (readers keep trusting them until the last set they signed is gone).
fn rekey_descriptor(
    dst: &dyn Store,
    dry_run: bool,
    old: &Value,
    wanted: &Value,
) -> Result<(), OpsError> {
    if dry_run {
        return Ok(());
    }
    let mut d = old.clone();
    let mut previous: Vec<Value> = old["previous_keys"].as_array().cloned().unwrap_or_default();
    previous.push(json!({"public_key": old["public_key"], "key_id": old["key_id"]}));
    d["previous_keys"] = Value::Array(previous);
    d["public_key"] = wanted["public_key"].clone();
    d["key_id"] = wanted["key_id"].clone();
    let text = serde_json::to_vec_pretty(&d).expect("a descriptor serializes");
    dst.put(
        DESCRIPTOR,
        &mut &text[..],
        Some(text.len() as u64),
        PutMode::Overwrite,
    )
    .map(|_| ())
    .map_err(|e| e.to_ops_error(&format!("writing {}/{DESCRIPTOR}", dst.location())))
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

/// The keys a run was given, read once, up front (a bad key fails before anything moves).
#[derive(Debug, Default)]
struct Keys {
    recipients: Option<Recipients>,
    signing: Option<SigningKey>,
    trust: Option<TrustedKey>,
    identities: Option<Identities>,
}

impl Keys {
    fn load(args: &cli::Args) -> Result<Keys, OpsError> {
        let recipients = Recipients::parse(&args.recipients, &args.recipients_files)?;
        Ok(Keys {
            recipients: (!recipients.is_empty()).then_some(recipients),
            signing: args.signing.load()?,
            trust: args.trust.load()?,
            identities: args.identity.load()?,
        })
    }
}

fn required<'a, T>(
    key: &'a Option<T>,
    code: &'static str,
    message: &str,
) -> Result<&'a T, OpsError> {
    key.as_ref()
        .ok_or_else(|| OpsError::validation(code, message.to_string()))
}

/// Every destination in turn. With one, its failure is the run's; with several, a
/// destination that fails is reported (`copy.failed`, scope `destination`) and the others
/// are still served; the run then ends with the worst exit code of those failures.
fn execute_all(args: &cli::Args, emitter: &Emitter, tally: &mut Tally) -> Result<(), OpsError> {
    if let [only] = args.destinations.as_slice() {
        return execute(args, only, emitter, tally);
    }
    let mut worst: Option<OpsError> = None;
    for destination in &args.destinations {
        if let Err(error) = execute(args, destination, emitter, tally) {
            emitter.send(&report::DestinationFailed {
                scope: "destination",
                destination: &ops_core::redact::scrub(destination),
                error: &error,
            });
            tally.destinations_failed += 1;
            let exit = error.category.run_exit_code();
            if tally
                .destination_exit
                .is_none_or(|w| exit.code() > w.code())
            {
                tally.destination_exit = Some(exit);
            }
            worst.get_or_insert(error);
        }
    }
    match worst {
        // Every destination failed alike: the run failed.
        Some(e) if tally.copied + tally.present == 0 => Err(e),
        _ => Ok(()),
    }
}

fn execute(
    args: &cli::Args,
    destination: &str,
    emitter: &Emitter,
    tally: &mut Tally,
) -> Result<(), OpsError> {
    let keys = Keys::load(args)?;
    let mode = ops_offsite::sets::copy_mode(&args.source, destination, keys.recipients.is_some())
        .map_err(|m| OpsError::validation("invalid_location", m))?;
    let options = StoreOptions {
        stall_timeout: args.stall_timeout,
        retry_timeout: args.retry_timeout,
        retention: args.object_lock.retention(jiff::Timestamp::now())?,
    };
    if options.retention.is_some() && mode != Mode::Seal {
        return Err(OpsError::validation(
            "lock_unsupported",
            "--object-lock locks the sealed copies a bucket receives: it has no meaning for a plain copy or a recovery",
        ));
    }
    let (sets, dst, present) =
        match mode {
            Mode::Plain | Mode::Seal => {
                open_for_shipping(mode, args, destination, &keys, &options, emitter)?
            }
            Mode::Unseal if args.destinations.len() > 1 => return Err(OpsError::validation(
                "invalid_argument",
                "a recovery from a sealed catalog goes into one directory: name one destination",
            )),
            Mode::Unseal => open_for_recovery(args, destination, &keys, &options, emitter)?,
        };
    let plan = plan::plan(&sets, &present, args.unverified, args.latest);
    let destination = dst.location(destination);
    let run = Run {
        args,
        keys: &keys,
        mode,
        dst: &dst,
        destination: &destination,
        emitter,
    };
    for (i, why) in &plan.skip {
        run.skipped(&sets[*i], *why, tally);
    }
    for i in &plan.copy {
        run.copy(&sets[*i], tally)?;
    }
    Ok(())
}

/// The local catalog to ship from (under its shared lock: rotation cannot delete a set
/// while it is copied), its sets, the destination store and what it holds already.
fn open_for_shipping(
    mode: Mode,
    args: &cli::Args,
    destination: &str,
    keys: &Keys,
    options: &StoreOptions,
    emitter: &Emitter,
) -> Result<Ends, OpsError> {
    if mode == Mode::Seal {
        required(&keys.recipients, "encryption_required",
            "what leaves this host is encrypted: pass --recipient or --recipients-file (age or SSH public keys)")?;
        required(
            &keys.signing,
            "signing_key_required",
            "sealed sets are signed: pass --signing-key (a minisign key, `minisign -G -W`)",
        )?;
    }
    let dst = backend::open_location(destination, options)
        .map_err(|e| e.to_ops_error("opening the destination"))?;
    // Shared: rotation cannot delete a set while it is being copied.
    let (catalog, lock) = Catalog::open(
        Path::new(&args.source),
        LockMode::Shared,
        args.lock.lock_timeout,
    )?;
    let catalog = catalog.with_trust(keys.trust.clone());
    let sets = local_sets(&catalog, args, emitter)?;
    ensure_descriptor(
        dst.as_ref(),
        args.dry_run,
        &descriptor(mode, keys),
        keys.trust.as_ref(),
    )?;
    let there = destination_objects(dst.as_ref(), &sets)?;
    let last = if mode == Mode::Seal {
        ENVELOPE_FILE
    } else {
        MANIFEST_FILE
    };
    let present: BTreeSet<(String, String)> = sets
        .iter()
        .filter(|s| there.contains_key(&s.key(last)))
        .map(|s| (s.dir_name.clone(), s.id.clone()))
        .collect();
    let target = Target::Store {
        dst,
        there,
        _lock: lock,
    };
    Ok((sets, target, present))
}

/// The sealed catalog to recover from (the public key and an identity required), its
/// sets, and the local catalog they are unsealed into (created, under its lock).
fn open_for_recovery(
    args: &cli::Args,
    destination: &str,
    keys: &Keys,
    options: &StoreOptions,
    emitter: &Emitter,
) -> Result<Ends, OpsError> {
    let trust = keys
        .trust
        .as_ref()
        .ok_or_else(ops_catalog::cli::public_key_required)?;
    if keys.identities.is_none() {
        return Err(ops_offsite::cli::identity_required());
    }
    let src = backend::open_location(&args.source, options)
        .map_err(|e| e.to_ops_error("opening the source"))?;
    ops_offsite::sealed::open::check_descriptor(src.as_ref())?;
    let sets = sealed_sets(src.as_ref(), trust, args, emitter)?;
    let root = Path::new(destination).to_path_buf();
    let (catalog, lock) = if args.dry_run {
        (Catalog::new(&root), None)
    } else {
        let (c, l) = Catalog::create(&root, args.lock.lock_timeout)?;
        (c, Some(l))
    };
    let present = sets
        .iter()
        .filter(|s| catalog.root().join(&s.dir_name).join(&s.id).is_dir())
        .map(|s| (s.dir_name.clone(), s.id.clone()))
        .collect();
    Ok((
        sets,
        Target::Local {
            src,
            root,
            _lock: lock,
        },
        present,
    ))
}

/// The sets of the source, where they go, and which of them are there already.
type Ends = (Vec<SourceSet>, Target, BTreeSet<(String, String)>);

/// What every set of a run is copied with and reported against.
struct Run<'a> {
    args: &'a cli::Args,
    keys: &'a Keys,
    mode: Mode,
    dst: &'a Target,
    /// The destination as reported (never a secret).
    destination: &'a str,
    emitter: &'a Emitter,
}

impl Run<'_> {
    /// A set the plan does not copy: said why; one at the destination already is noted in
    /// the source set as off-site.
    fn skipped(&self, s: &SourceSet, why: plan::Skip, tally: &mut Tally) {
        tally.skipped += 1;
        let severity = match why {
            plan::Skip::AtDestination | plan::Skip::NotLatest => Severity::Info,
            _ => Severity::Warning,
        };
        self.emitter.send(&report::Skipped {
            severity,
            database: &s.label,
            id: &s.id,
            code: why.code(),
            reason: why.reason().to_string(),
            bytes_sent: None,
        });
        if why == plan::Skip::AtDestination {
            tally.present += 1;
            if !self.args.dry_run {
                record_offsite(s, self.destination, self.mode);
            }
        }
    }

    /// Copies one set (or with `--dry-run` says it would) and reports how it went. `Err`
    /// only when the run must stop (the destination unreachable, access denied).
    fn copy(&self, s: &SourceSet, tally: &mut Tally) -> Result<(), OpsError> {
        let mut what = report::Copy {
            done: false,
            database: &s.label,
            id: &s.id,
            destination: self.destination,
            files: s.files(),
            bytes: s.bytes(),
            mode: self.mode.name(),
            bytes_sent: None,
            bytes_resumed: None,
            duration_ms: None,
            locked_until: None,
        };
        if self.args.dry_run {
            self.emitter.send(&what);
            return Ok(());
        }
        let started = Instant::now();
        match copy_one(self.dst, s, self.keys, &self.args.source) {
            Ok(c) if c.by_another => {
                // Two copies of one set at once: one published it, this one says so
                // rather than claiming a copy that is not the one standing.
                tally.skipped += 1;
                tally.present += 1;
                tally.sent += c.sent;
                self.emitter.send(&report::Skipped {
                    severity: Severity::Info,
                    database: &s.label,
                    id: &s.id,
                    code: "copied_by_another",
                    reason: "another copy published this set first while this run copied it: the copy standing is that one, and this run's bytes were not needed".into(),
                    bytes_sent: Some(c.sent),
                });
                record_offsite(s, self.destination, self.mode);
            }
            Ok(c) => {
                tally.copied += 1;
                tally.sent += c.sent;
                what.done = true;
                what.bytes_sent = Some(c.sent);
                what.bytes_resumed = Some(c.resumed);
                what.duration_ms = Some(started.elapsed().as_millis() as u64);
                what.locked_until = c.locked_until;
                self.emitter.send(&what);
                record_offsite(s, self.destination, self.mode);
            }
            Err(TransferError::Busy) => {
                tally.skipped += 1;
                self.emitter.send(&report::Skipped {
                    severity: Severity::Info,
                    database: &s.label,
                    id: &s.id,
                    code: "copy_in_progress",
                    reason: "another copy on this host is sealing this set to this destination"
                        .into(),
                    bytes_sent: None,
                });
            }
            Err(e) if e.is_run_level() => return Err(e.to_ops_error()),
            Err(e) => {
                tally.failed += 1;
                self.emitter.send(&report::SetFailed {
                    scope: "set",
                    database: &s.label,
                    id: &s.id,
                    error: &e.to_ops_error(),
                });
            }
        }
        Ok(())
    }
}

/// Where a run writes: a store (shipping, a second disk), or a local catalog (recovery).
enum Target {
    Store {
        dst: Box<dyn Store>,
        there: BTreeMap<String, u64>,
        _lock: ops_catalog::lock::CatalogLock,
    },
    Local {
        src: Box<dyn Store>,
        root: std::path::PathBuf,
        _lock: Option<ops_catalog::lock::CatalogLock>,
    },
}

impl Target {
    fn location(&self, given: &str) -> String {
        match self {
            Target::Store { dst, .. } => dst.location(),
            Target::Local { .. } => given.to_string(),
        }
    }
}

/// Notes in a local source set that `destination` holds it complete (`offsite.json`, which
/// ops-status reads). A set brought back (unsealed) records nothing: it is the copy.
fn record_offsite(s: &SourceSet, destination: &str, mode: Mode) {
    if let Origin::Local { path, .. } = &s.origin {
        if let Err(e) = ops_catalog::catalog::record_offsite(path, destination, mode.name()) {
            eprintln!(
                "backup-copy: could not record the copy in {}: {e}",
                path.display()
            );
        }
    }
}

/// Copies one planned set the way its origin and the target say.
fn copy_one(
    target: &Target,
    s: &SourceSet,
    keys: &Keys,
    source: &str,
) -> Result<Copied, TransferError> {
    match (target, &s.origin) {
        (Target::Store { dst, there, .. }, Origin::Local { path, manifest }) => {
            match (&keys.recipients, &keys.signing) {
                (Some(recipients), Some(signing)) => {
                    let set = SetToSeal {
                        dir: &s.dir_name,
                        id: &s.id,
                        path,
                        manifest,
                    };
                    let journal =
                        journal_path(Path::new(source), &dst.location(), &s.dir_name, &s.id);
                    let done = seal_set(
                        dst.as_ref(),
                        &set,
                        there,
                        recipients,
                        signing,
                        &journal,
                        PutMode::Create,
                    )?;
                    Ok(Copied {
                        sent: done.sent,
                        resumed: done.resumed,
                        by_another: done.lost_race,
                        locked_until: done.lock.map(|l| l.until),
                    })
                }
                _ => transfer::copy_set(dst.as_ref(), s, path, manifest, there),
            }
        }
        (Target::Local { src, root, .. }, Origin::Sealed(set)) => {
            let identities = keys.identities.as_ref().expect("checked for unsealing");
            let trust = keys.trust.as_ref().expect("checked for unsealing");
            unseal_into(src.as_ref(), set, identities, trust, root).map_err(TransferError::Set)?;
            Ok(Copied {
                sent: set.envelope.bytes(),
                resumed: 0,
                by_another: false,
                locked_until: None,
            })
        }
        _ => unreachable!("the mode pairs origins and targets"),
    }
}
