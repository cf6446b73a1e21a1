//! Restoring straight from a sealed catalog (an `s3://` location, ADR 0014): the chosen set
//! (and, when asked, the newest globals set) is unsealed into a private scratch catalog,
//! every object checked against its signed envelope and every file against its manifest as
//! it is decrypted; the restore (or drill) then runs on it as on any local set. The
//! download is part of the restore, so it is part of the RTO (`download_ms` says how much).

use ops_catalog::catalog::{encode_db_dir, GLOBALS_DIR};
use ops_catalog::keys::{Identities, TrustedKey};
use ops_catalog::sealed::open::{check_descriptor, scan_dir, unseal_into, SealedSet};
use ops_catalog::store::{self, Store, StoreOptions};
use ops_core::{timefmt, Category, OpsError};
use std::time::Instant;

/// A set brought from a sealed catalog into a scratch catalog.
#[derive(Debug)]
pub struct Fetched {
    /// The scratch catalog (removed when dropped).
    pub scratch: tempfile::TempDir,
    /// Where the set lies in the sealed catalog.
    pub path: String,
    pub download_ms: u64,
    /// Ciphertext bytes downloaded.
    pub bytes: u64,
}

/// The set of `db` among the sealed sets: `--backup-id`, or the newest.
fn choose<'a>(
    sets: &'a [SealedSet],
    rejected: &[ops_catalog::sealed::open::SealedRejected],
    db: &str,
    backup_id: Option<&str>,
) -> Result<&'a SealedSet, OpsError> {
    match backup_id {
        Some(id) => {
            if timefmt::parse_set_id(id).is_none() {
                return Err(OpsError::validation(
                    "invalid_set_id",
                    format!("{id:?} is not a set id"),
                ));
            }
            if let Some(r) = rejected.iter().find(|r| r.id == id) {
                return Err(OpsError::new(
                    r.code,
                    Category::Integrity,
                    format!(
                        "set {id} of database {db:?} is not a usable set: {}",
                        r.reason
                    ),
                ));
            }
            sets.iter().find(|s| s.id == id).ok_or_else(|| {
                OpsError::validation(
                    "set_not_found",
                    format!("database {db:?} has no sealed set {id}"),
                )
            })
        }
        None => sets.last().ok_or_else(|| {
            OpsError::new(
                "no_set",
                Category::Integrity,
                format!("database {db:?} has no usable sealed set"),
            )
        }),
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

/// Unseals the set of `db` (and the newest globals when asked) from the sealed catalog at
/// `location` into a scratch catalog.
pub fn fetch(req: &Request<'_>) -> Result<Fetched, OpsError> {
    let started = Instant::now();
    let (location, db, trust, identities) = (req.location, req.db, req.trust, req.identities);
    let store = store::open_location(location, &StoreOptions::default())
        .map_err(|e| e.to_ops_error("opening the catalog"))?;
    let store: &dyn Store = store.as_ref();
    check_descriptor(store)?;
    let at = |e: ops_catalog::store::StoreError| e.to_ops_error(&format!("reading {location}"));
    let dir = encode_db_dir(db);
    let scanned = scan_dir(store, &dir, trust).map_err(at)?;
    let set = choose(&scanned.sets, &scanned.rejected, db, req.backup_id)?;
    let scratch = tempfile::Builder::new()
        .prefix("pgops-restore-")
        .tempdir()
        .map_err(|e| OpsError::io("creating a scratch catalog", &e))?;
    unseal_into(store, set, identities, trust, scratch.path())?;
    let mut bytes = set.envelope.bytes();
    if req.with_globals {
        let globals = scan_dir(store, GLOBALS_DIR, trust).map_err(at)?;
        if let Some(g) = globals.sets.last() {
            unseal_into(store, g, identities, trust, scratch.path())?;
            bytes += g.envelope.bytes();
        }
    }
    Ok(Fetched {
        scratch,
        path: format!("{location}/{dir}/{}", set.id),
        download_ms: started.elapsed().as_millis() as u64,
        bytes,
    })
}
