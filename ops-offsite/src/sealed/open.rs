//! Reading sealed sets: which sets a store holds (by their signed envelopes), whether their
//! objects are there with the recorded sizes and ciphertext hashes, and unsealing a set
//! into a local catalog, where every local tool takes it as it takes its own.

use super::{is_envelope_signature, key, Envelope, ENVELOPE_FILE, ENVELOPE_FORMAT};
use super::{DESCRIPTOR, ENVELOPE_VERSION, FORMAT_VERSION};
use crate::backend::{Hashing, Stored};
use crate::backend::{Store, StoreError};
use crate::keys::Identities;
use ops_catalog::catalog::{self, Manifest, MANIFEST_FILE, SIGNATURE_FILE};
use ops_catalog::keys::{TrustedKey, SIGNATURE_INVALID};
use ops_core::{timefmt, Category, OpsError};
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The largest envelope or signature read: a hostile store cannot make a reader allocate
/// more.
const SMALL_OBJECT_LIMIT: u64 = 16 << 20;

/// A sealed set whose envelope was read, lies where it says, and whose signature checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSet {
    pub dir: String,
    pub id: String,
    pub envelope: Envelope,
    /// What the listing shows to be wrong with it. Such a set cannot be restored; like a
    /// local set that failed verification it fills no retention period and is never
    /// chosen in place of an intact one.
    pub damage: Damage,
    /// Objects under the set that its envelope does not name (nor are its signatures): a
    /// copy in progress, or left by one that was interrupted. Reported, deleted with the set.
    pub strays: Vec<String>,
}

/// The code of a sealed set that [`SealedSet::damage`] says cannot be restored.
pub const SET_DAMAGED: &str = "set_damaged";

/// What the listing of a sealed set shows to be wrong, judged once by [`scan_dir`]: each
/// tool reads it (verification per check, the others as a whole), none recomputes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Damage {
    /// Objects of the envelope missing, or of another size than it says.
    pub objects: Vec<String>,
    /// The manifest travelled without its signature: the catalog a set is unsealed into
    /// trusts the key and refuses it (sets sealed before backup-copy signed what it
    /// sealed can lack it).
    pub unsigned_manifest: Option<String>,
}

impl Damage {
    fn of(envelope: &Envelope, id: &str, listed: &BTreeMap<String, u64>) -> Damage {
        let objects = envelope
            .objects
            .iter()
            .filter_map(|o| match listed.get(&format!("{id}/{}", o.name)) {
                None => Some(format!("{} is missing", o.name)),
                Some(&n) if n != o.bytes => Some(format!(
                    "{} has {n} bytes, its envelope says {}",
                    o.name, o.bytes
                )),
                Some(_) => None,
            })
            .collect();
        let unsigned_manifest = envelope.object_for(SIGNATURE_FILE).is_none().then(|| {
            format!(
                "its manifest travelled without {SIGNATURE_FILE}: a restore refuses it as unsigned; \
                 copy the set again from the backup host's catalog (backup-copy signs what it seals)"
            )
        });
        Damage {
            objects,
            unsigned_manifest,
        }
    }
}

impl SealedSet {
    pub fn started(&self) -> timefmt::Timestamp {
        timefmt::parse_set_id(&self.id).expect("a sealed set's id is a set id")
    }

    /// Whether the listing found nothing wrong with it (its ciphertext may still be
    /// altered: only reading it proves that).
    pub fn intact(&self) -> bool {
        self.damage == Damage::default()
    }

    /// What makes this set unrestorable, as one sentence; `None` when intact.
    pub fn damage_text(&self) -> Option<String> {
        let all: Vec<&str> = self
            .damage
            .objects
            .iter()
            .map(String::as_str)
            .chain(self.damage.unsigned_manifest.as_deref())
            .collect();
        (!all.is_empty()).then(|| format!("damaged: {}", all.join("; ")))
    }
}

/// A set directory in the store that is not a usable sealed set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedRejected {
    pub dir: String,
    pub id: String,
    /// `signature_invalid`, `envelope_invalid`, `set_misplaced` or `clock_skew`.
    pub code: &'static str,
    pub reason: String,
    /// A set rejected only for its start (`clock_skew`): what it is, for a tool asked
    /// for it by id (a set named explicitly is what it is, whatever its clock said).
    pub future: Option<Box<SealedSet>>,
}

/// What one directory of sets (a database's, or `_globals`) holds in a store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SealedDir {
    /// Usable sets, oldest first.
    pub sets: Vec<SealedSet>,
    pub rejected: Vec<SealedRejected>,
    /// Set ids with objects but no envelope: copies in progress, or interrupted.
    pub incomplete: Vec<String>,
    /// Every object under the directory: `<id>/<name>` → size.
    pub objects: BTreeMap<String, u64>,
}

/// The directories of sets a sealed catalog holds that `wants` selects, as (directory,
/// label): the label is the database, or `_globals`. Entries that are neither are not
/// pgops's and are left out.
pub fn set_dirs(
    store: &dyn Store,
    wants: impl Fn(&str) -> bool,
) -> Result<Vec<(String, String)>, StoreError> {
    Ok(store
        .list_dir("")?
        .dirs
        .into_iter()
        .filter_map(|dir| {
            let label = match catalog::decode_db_dir(&dir) {
                Some(db) => db,
                None if dir == catalog::GLOBALS_DIR => catalog::GLOBALS_DIR.to_string(),
                None => return None,
            };
            wants(&label).then_some((dir, label))
        })
        .collect())
}

/// Reads a small object whole (an envelope, a signature).
pub fn read_small(store: &dyn Store, k: &str) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::new();
    store
        .open(k)?
        .take(SMALL_OBJECT_LIMIT)
        .read_to_end(&mut out)
        .map_err(|e| StoreError::Other(format!("reading {k}: {e}")))?;
    Ok(out)
}

/// Lists `dir` in `store` (one listing) and reads every envelope, checking its signature
/// against `trust` and that it lies where it says; a set that starts after `now` plus
/// [`catalog::CLOCK_SKEW_TOLERANCE`] is rejected as `clock_skew`, by the same rule as a
/// local set ([`catalog::clock_skew`]).
pub fn scan_dir(
    store: &dyn Store,
    dir: &str,
    trust: &TrustedKey,
    now: timefmt::Timestamp,
) -> Result<SealedDir, StoreError> {
    let mut out = SealedDir::default();
    let mut by_set: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for o in store.list_tree(dir)? {
        if let Some((id, name)) = o.name.split_once('/') {
            if timefmt::parse_set_id(id).is_some() && !name.contains('/') {
                by_set
                    .entry(id.to_string())
                    .or_default()
                    .push(name.to_string());
            }
        }
        out.objects.insert(o.name, o.size);
    }
    for (id, names) in by_set {
        if !names.iter().any(|n| n == ENVELOPE_FILE) {
            out.incomplete.push(id);
            continue;
        }
        match read_set(store, dir, &id, &names, trust)? {
            Ok(envelope) => {
                let strays = names
                    .iter()
                    .filter(|n| {
                        *n != ENVELOPE_FILE
                            && !is_envelope_signature(n)
                            && !envelope.objects.iter().any(|o| &o.name == *n)
                    })
                    .cloned()
                    .collect();
                let set = SealedSet {
                    dir: dir.to_string(),
                    strays,
                    damage: Damage::of(&envelope, &id, &out.objects),
                    id,
                    envelope,
                };
                match catalog::clock_skew(set.started(), now) {
                    None => out.sets.push(set),
                    Some(reason) => out.rejected.push(SealedRejected {
                        dir: dir.to_string(),
                        id: set.id.clone(),
                        code: catalog::Rejection::ClockSkew.code(),
                        reason,
                        future: Some(Box::new(set)),
                    }),
                }
            }
            Err((code, reason)) => out.rejected.push(SealedRejected {
                dir: dir.to_string(),
                id,
                code,
                reason,
                future: None,
            }),
        }
    }
    Ok(out)
}

type Rejection = (&'static str, String);

/// Reads one set's envelope: the signature first (nothing unsigned is parsed further).
fn read_set(
    store: &dyn Store,
    dir: &str,
    id: &str,
    names: &[String],
    trust: &TrustedKey,
) -> Result<Result<Envelope, Rejection>, StoreError> {
    let text = read_small(store, &key(dir, id, ENVELOPE_FILE))?;
    let mut why = format!(
        "no envelope signature checks against the trusted key {}",
        trust.key_id()
    );
    let mut signed = false;
    for sig in names.iter().filter(|n| is_envelope_signature(n)) {
        let sig_text = read_small(store, &key(dir, id, sig))?;
        match trust.verify(&text, &String::from_utf8_lossy(&sig_text)) {
            Ok(()) => {
                signed = true;
                break;
            }
            Err(e) => why = format!("{sig}: {e}"),
        }
    }
    if !signed {
        return Ok(Err((SIGNATURE_INVALID, why)));
    }
    let envelope: Envelope = match serde_json::from_slice(&text) {
        Ok(e) => e,
        Err(e) => return Ok(Err(("envelope_invalid", format!("{ENVELOPE_FILE}: {e}")))),
    };
    if envelope.format != ENVELOPE_FORMAT || envelope.v != ENVELOPE_VERSION {
        return Ok(Err((
            "envelope_invalid",
            format!(
                "{ENVELOPE_FILE}: format {:?} version {} is not known to this build",
                envelope.format, envelope.v
            ),
        )));
    }
    // A signed envelope moved elsewhere (an old set replayed under a newer id) is not
    // the set it claims to be.
    if envelope.dir != dir || envelope.id != id {
        return Ok(Err((
            "set_misplaced",
            format!(
                "its envelope is of {}/{}, it lies in {dir}/{id}",
                envelope.dir, envelope.id
            ),
        )));
    }
    Ok(Ok(envelope))
}

/// Reads a catalog's descriptor: a sealed pgops catalog of a format this build reads, or
/// `catalog_missing` / `catalog_format`.
pub fn check_descriptor(store: &dyn Store) -> Result<(), OpsError> {
    let text = match read_small(store, DESCRIPTOR) {
        Ok(t) => t,
        Err(StoreError::NotFound(_)) => {
            return Err(OpsError::new(
                "catalog_missing",
                Category::Io,
                format!("{}: no {DESCRIPTOR}: not a pgops catalog", store.location()),
            ))
        }
        Err(e) => return Err(e.to_ops_error(&format!("reading {DESCRIPTOR}"))),
    };
    let v: serde_json::Value = serde_json::from_slice(&text).unwrap_or_default();
    if v["format"] != "pgops-catalog"
        || v["version"].as_u64() != Some(FORMAT_VERSION)
        || v["layout"] != "sealed"
    {
        return Err(OpsError::validation(
            "catalog_format",
            format!(
                "{}: not a sealed pgops catalog of format {FORMAT_VERSION}",
                store.location()
            ),
        ));
    }
    Ok(())
}

/// Downloads every object of `set` and checks its ciphertext's size and SHA-256 against
/// the envelope: proof that the bucket holds what was written, without the identity.
/// Returns the problems found (empty: intact) and the bytes read.
pub fn hash_objects(store: &dyn Store, set: &SealedSet) -> Result<(Vec<String>, u64), StoreError> {
    let mut problems = Vec::new();
    let mut read = 0;
    for o in &set.envelope.objects {
        let k = key(&set.dir, &set.id, &o.name);
        let mut h = Hashing::new(store.open(&k)?);
        io::copy(&mut h, &mut io::sink())
            .map_err(|e| StoreError::Other(format!("reading {k}: {e}")))?;
        let Stored { size, sha256: sha } = crate::backend::stored(h);
        read += size;
        if size != o.bytes || sha != o.sha256 {
            problems.push(format!(
                "{}: {size} bytes with SHA-256 {sha}, its envelope says {} bytes, {}",
                o.name, o.bytes, o.sha256
            ));
        }
    }
    Ok((problems, read))
}

fn integrity(code: &'static str, message: String) -> OpsError {
    OpsError::new(code, Category::Integrity, message)
}

/// Decrypts one object into `path`, checking the ciphertext against the envelope and
/// returning the plaintext's size and SHA-256.
fn unseal_object(
    store: &dyn Store,
    set: &SealedSet,
    o: &super::SealedObject,
    identities: &Identities,
    path: &Path,
    progress: &ops_core::progress::Counter,
) -> Result<(u64, String), OpsError> {
    let k = key(&set.dir, &set.id, &o.name);
    let src = progress.reader(
        store
            .open(&k)
            .map_err(|e| e.to_ops_error(&format!("reading {k}")))?,
    );
    let mut cipher = Hashing::new(io::BufReader::with_capacity(ops_core::chunks::CHUNK, src));
    let plain_size;
    let plain_sha;
    {
        let reader = identities.decrypt(&mut cipher, &k)?;
        let mut plain = Hashing::new(reader);
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode_private()
            .open(path)
            .map_err(|e| OpsError::io(format!("creating {}", path.display()), &e))?;
        io::copy(&mut plain, &mut out).map_err(|e| match e.kind() {
            io::ErrorKind::InvalidData => integrity(
                "decrypt_failed",
                format!("{k}: not a complete, authentic age file: {e}"),
            ),
            _ => OpsError::io(format!("unsealing {k} into {}", path.display()), &e),
        })?;
        out.flush()
            .and_then(|()| out.sync_all())
            .map_err(|e| OpsError::io(format!("writing {}", path.display()), &e))?;
        let done = crate::backend::stored(plain);
        (plain_size, plain_sha) = (done.size, done.sha256);
    }
    // Whatever follows the age stream counts too.
    io::copy(&mut cipher, &mut io::sink()).map_err(|e| OpsError::io(format!("reading {k}"), &e))?;
    let Stored { size, sha256: sha } = crate::backend::stored(cipher);
    if size != o.bytes || sha != o.sha256 {
        return Err(integrity(
            "object_altered",
            format!(
                "{k}: {size} bytes with SHA-256 {sha}, its signed envelope says {} bytes, {}",
                o.bytes, o.sha256
            ),
        ));
    }
    Ok((plain_size, plain_sha))
}

trait PrivateMode {
    fn mode_private(&mut self) -> &mut Self;
}

impl PrivateMode for std::fs::OpenOptions {
    fn mode_private(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600)
    }
}

/// Unseals `set` into the local catalog at `root` (`<root>/<dir>/<id>/`, published by one
/// rename once every file decrypted and checked): the set is then an ordinary local set,
/// its manifest and signature as the backup host wrote them. Returns its path and
/// manifest.
pub fn unseal_into(
    store: &dyn Store,
    set: &SealedSet,
    identities: &Identities,
    trust: &TrustedKey,
    root: &Path,
) -> Result<(PathBuf, Manifest), OpsError> {
    let writer = catalog::SetWriter::copy_of(&root.join(&set.dir), &set.id)?;
    let manifest = unseal_files(store, set, identities, trust, writer.path())?;
    Ok((writer.publish_as_written()?, manifest))
}

fn unseal_files(
    store: &dyn Store,
    set: &SealedSet,
    identities: &Identities,
    trust: &TrustedKey,
    into: &Path,
) -> Result<Manifest, OpsError> {
    let mut plain = BTreeMap::new();
    // On a terminal: the ciphertext coming down, against the envelope's sizes.
    let bar = ops_core::progress::bytes(
        format!("{} {}: download", set.dir, set.id),
        Some(set.envelope.objects.iter().map(|o| o.bytes).sum()),
    );
    for o in &set.envelope.objects {
        if !catalog::is_plain_name(&o.file) && o.file != MANIFEST_FILE && o.file != SIGNATURE_FILE {
            return Err(integrity(
                "envelope_invalid",
                format!(
                    "{}/{}: the envelope names the file {:?}",
                    set.dir, set.id, o.file
                ),
            ));
        }
        let got = unseal_object(
            store,
            set,
            o,
            identities,
            &into.join(&o.file),
            &bar.counter(),
        )?;
        plain.insert(o.file.clone(), got);
    }
    let what = format!("{}/{}", set.dir, set.id);
    let (bytes, manifest) = catalog::load_manifest(&into.join(MANIFEST_FILE))
        .map_err(|e| integrity("envelope_invalid", format!("{what}: {}", e.message)))?;
    // The manifest's own signature, when the backup host signed it: the set is then
    // exactly what pgdump-run published, not only what backup-copy sealed.
    if into.join(SIGNATURE_FILE).is_file() {
        catalog::check_signature(trust, into, &bytes)
            .map_err(|why| integrity(SIGNATURE_INVALID, format!("{what}: {why}")))?;
    }
    if manifest.id != set.id {
        return Err(integrity(
            "set_misplaced",
            format!("{what}: its manifest is of set {}", manifest.id),
        ));
    }
    for f in &manifest.files {
        match plain.get(&f.name) {
            Some((n, sha)) if *n == f.bytes && *sha == f.sha256 => {}
            Some((n, sha)) => {
                return Err(integrity(
                    "checksum_mismatch",
                    format!(
                        "{what}: {} decrypts to {n} bytes with SHA-256 {sha}, its manifest says {} bytes, {}",
                        f.name, f.bytes, f.sha256
                    ),
                ))
            }
            None => {
                return Err(integrity(
                    "object_missing",
                    format!("{what}: the envelope holds no object for {}", f.name),
                ))
            }
        }
    }
    Ok(manifest)
}
