//! Opening a catalog by its location: the only place in pgops that tells a bucket (or a
//! sealed directory) from a local catalog (ADR 0023). Tools get a [`Sets`] and never ask
//! where its bytes lie.

use crate::backend::{self, Store, StoreError, StoreOptions};
use crate::keys::Identities;
use crate::sealed::open::{check_descriptor, hash_objects, scan_dir, set_dirs, unseal_into};
use crate::sealed::open::{SealedDir, SealedSet};
use crate::sealed::write::delete_sealed;
use ops_catalog::catalog::{self, Catalog, SetDir, SetRef, Verdict, KEEP_FILE};
use ops_catalog::keys::{SigningKey, TrustedKey};
use ops_catalog::lock::{CatalogLock, LockMode};
use ops_catalog::sets::Verified;
use ops_catalog::sets::{Depth, Dirs, EnvelopeProof, Finished, ForCheck, ListedSet, LocalSets};
use ops_catalog::sets::{OtherEntry, Proof, ProofBy, RefusedSet, ScannedDir, Sets, SetsDir};
use ops_core::{timefmt, Category, OpsError};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `remote-verify/<hash>.json` in the state directory: the last verification of a sealed
/// catalog (`docs/schemas/files/remote-verify.json`), read by ops-status and by rotation.
#[derive(Debug, serde::Serialize)]
struct RemoteVerifyRecord<'a> {
    v: u32,
    location: &'a str,
    verified_at: String,
    /// The run's depth: presence, ciphertext or full.
    depth: &'static str,
    correlation_id: &'a str,
    /// Per database, the newest set checked.
    databases: BTreeMap<&'a str, RemoteVerdict<'a>>,
    /// Per directory of sets by its key (never the label), every set that failed.
    failed: BTreeMap<&'a str, Vec<&'a str>>,
}

#[derive(Debug, serde::Serialize)]
struct RemoteVerdict<'a> {
    id: &'a str,
    verdict: Verdict,
    depth: &'static str,
}

/// How a tool opens a catalog.
#[derive(Debug, Clone)]
pub struct Open {
    /// The lock a local catalog is taken under (a sealed one has none: its writers publish
    /// with conditional writes).
    pub mode: LockMode,
    pub lock_timeout: Duration,
    /// The key sets must be signed with: optional locally, required for a sealed catalog,
    /// which is trusted only through its signatures.
    pub trust: Option<TrustedKey>,
    /// The identities that open a sealed catalog's sets, for a check in full.
    pub identities: Option<Arc<Identities>>,
    /// The key that signs the proofs a sealed catalog keeps beside its sets.
    pub signing: Option<Arc<SigningKey>>,
}

/// Whether `location` holds sealed sets: every object-store location does (what leaves
/// the host is always encrypted); a directory does when its descriptor says so.
pub fn is_sealed(location: &str) -> bool {
    is_object_store(location)
        || std::fs::read(Path::new(location).join(crate::sealed::DESCRIPTOR))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|v| v["layout"] == "sealed")
}

/// Whether `location` names an object store (`s3://bucket/prefix`): what goes there is
/// always sealed.
pub fn is_object_store(location: &str) -> bool {
    location.starts_with("s3://")
}

/// Which way a run copies, from the two locations and the flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyMode {
    /// A directory to a directory, files as they are (a second disk).
    Plain,
    /// A directory to an off-site catalog: encrypted, signed (shipping).
    Seal,
    /// An off-site catalog back to a directory: checked, decrypted (recovery).
    Unseal,
}

/// Decides the mode: what leaves for an object store is always sealed; `--recipient`
/// seals to a directory too (an NFS mount off-site); a sealed source is always unsealed
/// into a directory (recipients configured for shipping do not matter then).
fn mode(
    source_sealed: bool,
    destination_s3: bool,
    recipients: bool,
) -> Result<CopyMode, &'static str> {
    match (source_sealed, destination_s3, recipients) {
        (false, false, false) => Ok(CopyMode::Plain),
        (false, _, _) => Ok(CopyMode::Seal),
        (true, false, _) => Ok(CopyMode::Unseal),
        (true, true, _) => Err(
            "the source is a sealed catalog: copy it back to a directory (recovery), then from there",
        ),
    }
}

impl CopyMode {
    pub fn name(self) -> &'static str {
        match self {
            CopyMode::Plain => "plain",
            CopyMode::Seal => "seal",
            CopyMode::Unseal => "unseal",
        }
    }
}

/// Which way a copy from `source` to `destination` goes; `recipients`: the run has keys
/// to seal with.
pub fn copy_mode(
    source: &str,
    destination: &str,
    recipients: bool,
) -> Result<CopyMode, &'static str> {
    mode(is_sealed(source), is_object_store(destination), recipients)
}

/// Opens the catalog at `location`: a local catalog under its lock, or a sealed one (its
/// descriptor read, `public_key_required` without a trusted key).
pub fn open(location: &Path, how: &Open) -> Result<Box<dyn Sets>, OpsError> {
    match location.to_str().filter(|l| is_sealed(l)) {
        Some(l) => Ok(Box::new(
            SealedSets::open(l, how.trust.clone())?
                .with_identities(how.identities.clone())
                .with_signing(how.signing.clone()),
        )),
        None => {
            let (catalog, lock): (Catalog, CatalogLock) =
                Catalog::open(location, how.mode, how.lock_timeout)?;
            Ok(Box::new(LocalSets::new(
                catalog.with_trust(how.trust.clone()),
                lock,
            )))
        }
    }
}

/// A sealed catalog: sets are signed envelopes over encrypted objects (ADR 0014). Only
/// envelopes and listings are read: no identity is needed to scan, rotate or delete.
#[derive(Debug)]
pub struct SealedSets {
    location: String,
    store: Box<dyn Store>,
    trust: TrustedKey,
    /// What the last verification of this catalog found failed, per directory of sets by
    /// its key (the encoded name: a database may be named `_globals`)
    /// (`remote-verify/<hash>.json` in the state directory), as a local set's
    /// `verify.json`: e.g. a ciphertext altered in place, which no listing shows.
    failed: BTreeMap<String, Vec<String>>,
    identities: Option<Arc<Identities>>,
    signing: Option<Arc<SigningKey>>,
    /// Each directory's last scan, by key: a check opens the sets the scan read (their
    /// envelopes were read and their signatures checked once).
    scans: Mutex<BTreeMap<String, Arc<SealedDir>>>,
}

impl SealedSets {
    pub fn open(location: &str, trust: Option<TrustedKey>) -> Result<SealedSets, OpsError> {
        let trust = trust.ok_or_else(ops_catalog::cli::public_key_required)?;
        let store = backend::open_location(location, &StoreOptions::default())
            .map_err(|e| e.to_ops_error("opening the catalog"))?;
        check_descriptor(store.as_ref())?;
        Ok(SealedSets {
            failed: crate::sealed::remotely_failed(location),
            location: location.trim_end_matches('/').to_string(),
            store,
            trust,
            identities: None,
            signing: None,
            scans: Mutex::default(),
        })
    }

    pub fn with_identities(mut self, identities: Option<Arc<Identities>>) -> SealedSets {
        self.identities = identities;
        self
    }

    pub fn with_signing(mut self, signing: Option<Arc<SigningKey>>) -> SealedSets {
        self.signing = signing;
        self
    }

    /// Lists the directory (every envelope read, every signature checked) and keeps the
    /// result for the checks that open its sets.
    fn rescan(&self, dir: &SetsDir, now: timefmt::Timestamp) -> Result<Arc<SealedDir>, OpsError> {
        let scanned =
            Arc::new(scan_dir(self.store.as_ref(), &dir.key, &self.trust, now).map_err(self.at())?);
        self.scans
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(dir.key.clone(), Arc::clone(&scanned));
        Ok(scanned)
    }

    /// The directory's sealed listing: the last scan's, or a new one.
    fn sealed_dir(&self, dir: &SetsDir) -> Result<Arc<SealedDir>, OpsError> {
        let kept = self
            .scans
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&dir.key)
            .cloned();
        match kept {
            Some(scanned) => Ok(scanned),
            None => self.rescan(dir, timefmt::Timestamp::now()),
        }
    }

    /// What the envelope and the listing prove (and with `Ciphertext`, the bytes' hashes).
    fn envelope_proof(&self, set: &SealedSet, depth: Depth) -> Result<EnvelopeProof, OpsError> {
        let altered = if depth >= Depth::Ciphertext && set.damage.objects.is_empty() {
            Some(hash_objects(self.store.as_ref(), set).map_err(self.at())?.0)
        } else {
            None
        };
        Ok(EnvelopeProof {
            envelope: format!(
                "envelope v{}: {} objects, lies where it says (the manifest itself is encrypted: --identity reads it)",
                set.envelope.v,
                set.envelope.objects.len()
            ),
            signature: match &set.damage.unsigned_manifest {
                None => Ok(self.trust.key_id()),
                Some(why) => Err(why.clone()),
            },
            missing: set.damage.objects.clone(),
            altered,
            stored_bytes: set.envelope.bytes(),
        })
    }

    /// The set unsealed into a scratch catalog (every object checked against the
    /// envelope, every file against its manifest), to be checked as a local set.
    fn unsealed(&self, set: &SealedSet, identities: &Identities) -> Result<ForCheck, OpsError> {
        let stored_bytes = Some(set.envelope.bytes());
        let scratch = ops_core::scratch::dir("verify")
            .map_err(|e| OpsError::io("creating a scratch directory", &e))?;
        match unseal_into(
            self.store.as_ref(),
            set,
            identities,
            &self.trust,
            scratch.path(),
        ) {
            Ok((path, _)) => Ok(ForCheck::Files {
                dir: SetDir {
                    database: catalog::decode_db_dir(&set.dir),
                    path: scratch.path().join(&set.dir),
                    trust: Some(self.trust.clone()),
                },
                set: SetRef {
                    id: set.id.clone(),
                    path,
                },
                scratch: Some(scratch),
                stored_bytes,
            }),
            // The store itself failing stops the run; anything about this set fails it.
            Err(e) if e.category == Category::Dependency || e.code == "wrong_identity" => Err(e),
            Err(e) => Ok(ForCheck::Failed {
                check: match e.code {
                    "signature_invalid" => "signature",
                    "store_not_found" | "object_missing" => "files",
                    "object_altered" | "decrypt_failed" | "checksum_mismatch" => "checksum",
                    _ => "manifest",
                },
                code: e.code,
                reason: format!("{}: {}", e.code, e.message),
                stored_bytes,
            }),
        }
    }

    fn at(&self) -> impl Fn(StoreError) -> OpsError + '_ {
        move |e| e.to_ops_error(&format!("reading {}", self.location))
    }

    fn place(&self, dir: &SetsDir, id: &str) -> String {
        backend::place_of(&self.location, &format!("{}/{id}", dir.key))
    }
}

impl Sets for SealedSets {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn dirs(&self, wants: &dyn Fn(&str) -> bool) -> Result<Dirs, OpsError> {
        let dirs = set_dirs(self.store.as_ref(), wants).map_err(self.at())?;
        Ok(Dirs {
            dirs: dirs
                .into_iter()
                .map(|(key, label)| SetsDir {
                    place: backend::place_of(&self.location, &key),
                    label,
                    key,
                })
                .collect(),
            unknown: Vec::new(),
        })
    }

    fn scan(&self, dir: &SetsDir, now: timefmt::Timestamp) -> Result<ScannedDir, OpsError> {
        let scanned = self.rescan(dir, now)?;
        let failed_here = self.failed.get(&dir.key);
        let sets = scanned
            .sets
            .iter()
            .map(|s| ListedSet {
                id: s.id.clone(),
                started: s.started(),
                place: self.place(dir, &s.id),
                failed: s.damage_text().or_else(|| {
                    failed_here
                        .is_some_and(|f| f.contains(&s.id))
                        .then(|| "its verification failed in the bucket".to_string())
                }),
                pinned: scanned
                    .objects
                    .contains_key(&format!("{}/{KEEP_FILE}", s.id)),
                // A bucket keeps no verdicts: only a check in this run counts a set fresh.
                passed: false,
                locked_until: s.envelope.lock.as_ref().and_then(|l| l.until()),
            })
            .collect();
        let refused = scanned
            .rejected
            .iter()
            .map(|r| RefusedSet {
                id: r.id.clone(),
                place: self.place(dir, &r.id),
                code: r.code,
                reason: r.reason.clone(),
            })
            .collect();
        let incomplete = scanned.incomplete.iter().map(|id| OtherEntry {
            id: Some(id.clone()),
            place: self.place(dir, id),
            kind: "set_incomplete",
            code: Some("set_incomplete"),
            reason: "objects without an envelope: a copy in progress, or left by an interrupted copy or deletion; never counted as a set, and no pgops tool removes them yet (delete them by hand once no copy runs)"
                .to_string(),
        });
        let strays = scanned.sets.iter().filter(|s| !s.strays.is_empty()).map(|s| OtherEntry {
            id: Some(s.id.clone()),
            place: self.place(dir, &s.id),
            kind: "stray_objects",
            code: None,
            reason: format!(
                "{} object(s) its envelope does not name ({}): a copy in progress, or left by an interrupted one; they go with the set when it is deleted",
                s.strays.len(),
                s.strays.join(", ")
            ),
        });
        Ok(ScannedDir {
            sets,
            refused,
            others: strays.chain(incomplete).collect(),
            retired: None,
        })
    }

    fn finish_deletions(&self, _dir: &SetsDir, _dry_run: bool) -> Vec<Finished> {
        // A sealed set's deletion removes its envelope first: what a crash leaves is
        // objects without an envelope, reported by `scan` as incomplete.
        Vec::new()
    }

    fn delete(&self, dir: &SetsDir, id: &str) -> Result<(), OpsError> {
        // Listed again, not taken from the scan: a copy may have added objects since, and
        // every object under the set goes with it (one LIST per deleted set).
        let listed: Vec<String> = self
            .store
            .list_tree(&format!("{}/{id}", dir.key))
            .map_err(self.at())?
            .into_iter()
            .map(|o| o.name)
            .collect();
        delete_sealed(self.store.as_ref(), &dir.key, id, &listed)?;
        // Its proofs go with it, once the set is gone.
        let proofs = crate::proofs::set_proofs(&dir.key, id);
        for o in self.store.list_tree(&proofs).map_err(self.at())? {
            let k = format!("{proofs}/{}", o.name);
            self.store.purge(&k).map_err(self.at())?;
        }
        Ok(())
    }

    fn record_proof(
        &self,
        dir: &SetsDir,
        id: &str,
        proof: &Proof,
        by: &ProofBy<'_>,
    ) -> Result<Option<String>, OpsError> {
        let signing = self.signing.as_ref().ok_or_else(|| {
            OpsError::validation(
                "signing_key_required",
                "a proof kept in the bucket is signed: pass --signing-key (PGOPS_SIGNING_KEY)",
            )
        })?;
        let key = crate::proofs::write(self.store.as_ref(), signing, &dir.key, id, proof, by)
            .map_err(|e| e.to_ops_error("writing the proof"))?;
        Ok(Some(backend::place_of(&self.location, &key)))
    }

    fn depth(&self, read_data: bool) -> Depth {
        match (&self.identities, read_data) {
            (Some(_), _) => Depth::Full,
            (None, true) => Depth::Ciphertext,
            (None, false) => Depth::Presence,
        }
    }

    fn open_for_check(&self, dir: &SetsDir, id: &str, depth: Depth) -> Result<ForCheck, OpsError> {
        let scanned = self.sealed_dir(dir)?;
        let set = match scanned.sets.iter().find(|s| s.id == id) {
            Some(set) => set,
            None => match scanned.rejected.iter().find(|r| r.id == id) {
                // Refused only for its start: its bytes are what they are.
                Some(r) if r.future.is_some() => r.future.as_deref().expect("checked"),
                Some(r) => {
                    return Ok(ForCheck::Failed {
                        check: if r.code == "signature_invalid" {
                            "signature"
                        } else {
                            "manifest"
                        },
                        code: r.code,
                        reason: format!("{}: {}", r.code, r.reason),
                        stored_bytes: None,
                    })
                }
                None => {
                    return Ok(ForCheck::Failed {
                        check: "files",
                        code: "store_not_found",
                        reason: format!("store_not_found: no envelope of {id} at {}", dir.place),
                        stored_bytes: None,
                    })
                }
            },
        };
        match (&self.identities, depth) {
            (Some(ids), Depth::Full) => self.unsealed(set, ids),
            _ => Ok(ForCheck::Envelope(self.envelope_proof(set, depth)?)),
        }
    }

    fn record_run(&self, depth: Depth, correlation_id: &str, verified: &[Verified]) {
        // Per database, the newest set checked (sets that are not its sets are not its
        // state); per directory by its key, every set that failed.
        let mut databases: BTreeMap<&str, RemoteVerdict> = BTreeMap::new();
        let mut failed: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for v in verified.iter() {
            let newer = databases
                .get(v.dir.label.as_str())
                .is_none_or(|d| d.id < v.id.as_str());
            if !v.refused && newer {
                databases.insert(
                    &v.dir.label,
                    RemoteVerdict {
                        id: &v.id,
                        verdict: v.verdict,
                        depth: v.depth.name(),
                    },
                );
            }
            if v.verdict == Verdict::Fail {
                failed.entry(&v.dir.key).or_default().push(&v.id);
            }
        }
        let location = ops_core::redact::scrub(&self.location);
        let record = RemoteVerifyRecord {
            v: 1,
            location: &location,
            verified_at: timefmt::now_rfc3339(),
            depth: depth.name(),
            correlation_id,
            databases,
            failed,
        };
        ops_core::state::write_record(&crate::sealed::remote_verify_record(&location), &record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_leaves_for_a_bucket_is_sealed_and_what_comes_back_unsealed() {
        assert_eq!(mode(false, false, false), Ok(CopyMode::Plain));
        assert_eq!(mode(false, true, false), Ok(CopyMode::Seal));
        assert_eq!(mode(false, false, true), Ok(CopyMode::Seal));
        assert_eq!(mode(true, false, false), Ok(CopyMode::Unseal));
        assert_eq!(mode(true, false, true), Ok(CopyMode::Unseal));
        assert!(mode(true, true, false).is_err());
    }
}
