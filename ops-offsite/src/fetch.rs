//! Restoring straight from a sealed catalog (an `s3://` location, ADR 0014): the chosen set
//! (and, when asked, the newest globals set) is unsealed into a private scratch catalog,
//! every object checked against its signed envelope and every file against its manifest as
//! it is decrypted; the restore (or drill) then runs on it as on any local set. The
//! download is part of the restore, so it is part of the RTO (`download_ms` says how much).

use crate::backend::{self, Store, StoreOptions};
use crate::keys::Identities;
use crate::sealed::open::{check_descriptor, scan_dir, unseal_into};
use crate::sealed::open::{SealedDir, SealedSet, SET_DAMAGED};
use ops_catalog::catalog::{encode_db_dir, GLOBALS_DIR};
use ops_catalog::keys::TrustedKey;
use ops_core::{timefmt, Category, OpsError};
use std::time::Instant;

/// A newer set a restore did not take, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassedOver {
    pub id: String,
    pub code: &'static str,
    pub reason: String,
}

/// A set brought from a sealed catalog into a scratch catalog.
#[derive(Debug)]
pub struct Fetched {
    /// The scratch catalog (removed when dropped).
    pub scratch: tempfile::TempDir,
    /// Where the set lies in the sealed catalog.
    pub path: String,
    /// The sealed catalog, and the set by its directory and id (where its proof goes).
    pub location: String,
    pub dir: String,
    pub id: String,
    pub download_ms: u64,
    /// Ciphertext bytes downloaded.
    pub bytes: u64,
    /// Newer sets passed over (newest first), when no set was named: the caller says so.
    pub passed_over: Vec<PassedOver>,
}

/// Which sets to try, in order, and which were passed over before trying any: the set
/// named by `--backup-id` alone (refused if it cannot be restored), else every intact set,
/// newest first. Pure.
fn candidates<'a>(
    scanned: &'a SealedDir,
    db: &str,
    backup_id: Option<&str>,
) -> Result<(Vec<&'a SealedSet>, Vec<PassedOver>), OpsError> {
    let intact: Vec<&SealedSet> = scanned.sets.iter().rev().filter(|s| s.intact()).collect();
    // What to say when the asked-for set cannot be had: what can.
    let instead = || match intact.first() {
        Some(s) => format!(
            "the newest intact set is {} (--backup-id {}, or no --backup-id for the newest)",
            s.id, s.id
        ),
        None => format!("database {db:?} has no intact sealed set"),
    };
    let Some(id) = backup_id else {
        if intact.is_empty() {
            let mut what: Vec<String> = scanned
                .sets
                .iter()
                .filter_map(|s| Some(format!("{}: {}", s.id, s.damage_text()?)))
                .collect();
            what.extend(
                scanned
                    .rejected
                    .iter()
                    .map(|r| format!("{}: {}", r.id, r.reason)),
            );
            return Err(OpsError::new(
                "no_set",
                Category::Integrity,
                if what.is_empty() {
                    format!("database {db:?} has no sealed set")
                } else {
                    format!(
                        "database {db:?} has no usable sealed set: {}",
                        what.join("; ")
                    )
                },
            ));
        }
        let newest_intact = intact[0].id.as_str();
        let mut over: Vec<PassedOver> = scanned
            .sets
            .iter()
            .filter(|s| !s.intact() && s.id.as_str() > newest_intact)
            .map(|s| PassedOver {
                id: s.id.clone(),
                code: SET_DAMAGED,
                reason: s.damage_text().unwrap_or_default(),
            })
            .chain(
                scanned
                    .rejected
                    .iter()
                    .filter(|r| r.id.as_str() > newest_intact)
                    .map(|r| PassedOver {
                        id: r.id.clone(),
                        code: r.code,
                        reason: r.reason.clone(),
                    }),
            )
            .collect();
        over.sort_by(|a, b| b.id.cmp(&a.id));
        return Ok((intact, over));
    };
    if timefmt::parse_set_id(id).is_none() {
        return Err(OpsError::validation(
            "invalid_set_id",
            format!("{id:?} is not a set id"),
        ));
    }
    if let Some(r) = scanned.rejected.iter().find(|r| r.id == id) {
        // Named explicitly, a set is what it is whatever its clock said (as locally).
        return match &r.future {
            Some(set) if set.intact() => Ok((vec![set.as_ref()], vec![])),
            _ => Err(OpsError::new(
                r.code,
                Category::Integrity,
                format!(
                    "set {id} of database {db:?} is not a usable set: {}; {}",
                    r.reason,
                    instead()
                ),
            )),
        };
    }
    match scanned.sets.iter().find(|s| s.id == id) {
        Some(s) => match s.damage_text() {
            None => Ok((vec![s], vec![])),
            Some(why) => Err(OpsError::new(
                SET_DAMAGED,
                Category::Integrity,
                format!(
                    "set {id} of database {db:?} cannot be restored, {why}; {}",
                    instead()
                ),
            )),
        },
        None => Err(OpsError::validation(
            "set_not_found",
            format!(
                "database {db:?} has no sealed set {id}; it has {}",
                listed(scanned)
            ),
        )),
    }
}

/// The set ids of a directory, for a message: the newest few and how many in all.
fn listed(scanned: &SealedDir) -> String {
    let ids: Vec<&str> = scanned.sets.iter().rev().map(|s| s.id.as_str()).collect();
    match ids.len() {
        0 => "none".into(),
        n if n <= 5 => ids.join(", "),
        n => format!("{} and {} older", ids[..5].join(", "), n - 5),
    }
}

/// What to fetch, and with which keys.
#[derive(Debug)]
pub struct Request<'a> {
    pub location: &'a str,
    pub db: &'a str,
    pub backup_id: Option<&'a str>,
    /// Also the newest globals set (roles, for owners).
    pub with_globals: bool,
    pub trust: &'a TrustedKey,
    pub identities: &'a Identities,
}

/// Whether unsealing failed because of the set itself (its bytes), not the store, the
/// keys or this host: then an older set may still come back.
fn is_set_fault(e: &OpsError) -> bool {
    e.category == Category::Integrity && e.code != "wrong_identity"
}

/// Unseals the set of `db` (and the newest intact globals when asked) from the sealed
/// catalog at `location` into a scratch catalog. Without `--backup-id`, a newer set that
/// is damaged, or whose bytes turn out not to match its envelope as they come down, is
/// passed over for the next older one (each in [`Fetched::passed_over`]).
pub fn fetch(req: &Request<'_>) -> Result<Fetched, OpsError> {
    let started = Instant::now();
    let (location, db, trust, identities) = (req.location, req.db, req.trust, req.identities);
    let store = backend::open_location(location, &StoreOptions::default())
        .map_err(|e| e.to_ops_error("opening the catalog"))?;
    let store: &dyn Store = store.as_ref();
    check_descriptor(store)?;
    let at = |e: crate::backend::StoreError| e.to_ops_error(&format!("reading {location}"));
    let now = jiff::Timestamp::now();
    let dir = encode_db_dir(db);
    let scanned = scan_dir(store, &dir, trust, now).map_err(at)?;
    let (sets, mut passed_over) = candidates(&scanned, db, req.backup_id)?;
    let scratch = ops_core::scratch::dir("restore")
        .map_err(|e| OpsError::io("creating a scratch catalog", &e))?;
    let mut chosen = None;
    let mut last_error = None;
    for set in sets {
        match unseal_into(store, set, identities, trust, scratch.path()) {
            Ok(_) => {
                chosen = Some(set);
                break;
            }
            Err(e) if req.backup_id.is_none() && is_set_fault(&e) => {
                passed_over.push(PassedOver {
                    id: set.id.clone(),
                    code: e.code,
                    reason: e.message.clone(),
                });
                last_error = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    let Some(set) = chosen else {
        let e = last_error.expect("at least one candidate was tried");
        return Err(OpsError::new(
            e.code,
            e.category,
            format!(
                "no sealed set of database {db:?} could be unsealed; the newest: {}",
                e.message
            ),
        ));
    };
    ops_core::failpoint::hit("fetch.after_unseal");
    let mut bytes = set.envelope.bytes();
    if req.with_globals {
        let globals = scan_dir(store, GLOBALS_DIR, trust, now).map_err(at)?;
        if let Some(g) = globals.sets.iter().rev().find(|g| g.intact()) {
            unseal_into(store, g, identities, trust, scratch.path())?;
            bytes += g.envelope.bytes();
        }
    }
    Ok(Fetched {
        scratch,
        path: crate::backend::place_of(location, &format!("{dir}/{}", set.id)),
        location: location.to_string(),
        dir: dir.clone(),
        id: set.id.clone(),
        download_ms: started.elapsed().as_millis() as u64,
        bytes,
        passed_over,
    })
}

/// What a restore or a drill wants, before it knows where the catalog lies.
#[derive(Debug)]
pub struct Want<'a> {
    /// The catalog: a local directory, or a sealed catalog (`s3://`, a sealed directory).
    pub location: &'a std::path::Path,
    pub db: &'a str,
    pub backup_id: Option<&'a str>,
    pub with_globals: bool,
    pub trust: &'a ops_catalog::cli::TrustArgs,
    pub identity: &'a crate::cli::IdentityArgs,
}

/// The local catalog a restore or a drill reads its set from.
#[derive(Debug)]
pub struct Source {
    /// The catalog at the location, or the scratch catalog a sealed set was unsealed into.
    pub root: std::path::PathBuf,
    /// What was unsealed, when the location is a sealed catalog (every signature and hash
    /// checked on the way, which proves what verification would: the download is part of
    /// the RTO).
    pub fetched: Option<Fetched>,
}

/// The catalog to restore from: the location itself when it is local; for a sealed
/// catalog, the set (and the globals when asked) unsealed into a scratch catalog, the
/// newer sets passed over reported. The one place a restore tells a bucket from a
/// directory.
pub fn source(want: &Want<'_>, emitter: &ops_core::event::Emitter) -> Result<Source, OpsError> {
    let Some(location) = want.location.to_str().filter(|l| crate::sets::is_sealed(l)) else {
        return Ok(Source {
            root: want.location.to_path_buf(),
            fetched: None,
        });
    };
    let (trust, identities) = (want.trust.require()?, want.identity.require()?);
    let fetched = fetch(&Request {
        location,
        db: want.db,
        backup_id: want.backup_id,
        with_globals: want.with_globals,
        trust: &trust,
        identities: &identities,
    })?;
    report_passed_over(&fetched, want.db, emitter);
    Ok(Source {
        root: fetched.scratch.path().to_path_buf(),
        fetched: Some(fetched),
    })
}

/// Says, for each set `fetched` passed over, which one was restored instead.
pub fn report_passed_over(fetched: &Fetched, db: &str, emitter: &ops_core::event::Emitter) {
    let chosen = fetched.id.as_str();
    for p in &fetched.passed_over {
        emitter.send(&PassedOverEvent {
            database: db,
            id: &p.id,
            path: crate::backend::place_of(&fetched.location, &format!("{}/{}", fetched.dir, p.id)),
            code: p.code,
            reason: &p.reason,
            chosen,
            message: format!(
                "{db}: set {} passed over ({}), restoring {chosen}: {}",
                p.id, p.code, p.reason
            ),
        });
    }
}

/// `set.passed_over`: a newer set a restore did not take, and why.
#[derive(Debug, serde::Serialize)]
struct PassedOverEvent<'a> {
    database: &'a str,
    id: &'a str,
    path: String,
    code: &'a str,
    reason: &'a str,
    /// The set restored instead.
    chosen: &'a str,
    message: String,
}

ops_core::event!(
    PassedOverEvent<'_>,
    ops_core::event_names::SET_PASSED_OVER,
    ops_core::event::Severity::Warning
);
