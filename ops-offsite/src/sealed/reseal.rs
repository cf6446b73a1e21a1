//! Re-sealing a set to new recipients (ADR 0025): run where the identity is, never on the
//! backup host. The set is unsealed into a scratch catalog (every hash and signature
//! checked, as a recovery does), sealed again to the new recipients under a new nonce, its
//! envelope replaced (signed by the signing key given); only then are the old objects
//! removed. A version the store still locks stays until its date (reported): the set reads
//! with the new identity only either way, since its envelope names only the new objects.

use super::open::{unseal_into, SealedSet};
use super::write::{seal_set, SetToSeal};
use super::{envelope_signature_name, key};
use crate::backend::{PutMode, Store, StoreError};
use crate::keys::{Identities, Recipients};
use ops_catalog::keys::{SigningKey, TrustedKey};
use ops_core::OpsError;
use std::collections::BTreeMap;
use std::path::Path;

/// What re-sealing one set did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resealed {
    /// Old objects removed.
    pub removed: usize,
    /// Old objects the store still locks: left until their date.
    pub locked: usize,
}

/// The keys a re-seal opens with and seals with.
#[derive(Debug)]
pub struct Rekey<'a> {
    pub identities: &'a Identities,
    pub trust: &'a TrustedKey,
    pub recipients: &'a Recipients,
    pub signing: &'a SigningKey,
}

/// Re-seals `set` in `store` to `keys.recipients`; `scratch` holds its plaintext for the
/// time it takes (a private directory the caller removes).
pub fn reseal(
    store: &dyn Store,
    set: &SealedSet,
    keys: &Rekey<'_>,
    scratch: &Path,
) -> Result<Resealed, OpsError> {
    let (path, manifest) = unseal_into(store, set, keys.identities, keys.trust, scratch)?;
    let journal = scratch
        .join(".journal")
        .join(format!("{}-{}.json", set.dir, set.id));
    let to_seal = SetToSeal {
        dir: &set.dir,
        id: &set.id,
        path: &path,
        manifest: &manifest,
    };
    let sealed = seal_set(
        store,
        &to_seal,
        &BTreeMap::new(),
        keys.recipients,
        keys.signing,
        &journal,
        PutMode::Overwrite,
    )
    .map_err(|e| e.to_ops_error())?;
    let mut done = Resealed::default();
    // The old objects and the old envelope signatures (any writer's but this one's).
    let new_signature = envelope_signature_name(&sealed.nonce);
    let old = set.envelope.objects.iter().map(|o| o.name.clone()).chain(
        store_signatures(store, set)?
            .into_iter()
            .filter(|n| *n != new_signature),
    );
    for name in old {
        match store.purge(&key(&set.dir, &set.id, &name)) {
            Ok(()) => done.removed += 1,
            Err(StoreError::Locked(_)) => done.locked += 1,
            Err(e) => {
                return Err(e.to_ops_error(&format!("removing {}/{}/{name}", set.dir, set.id)))
            }
        }
    }
    Ok(done)
}

/// The envelope signatures under the set now.
fn store_signatures(store: &dyn Store, set: &SealedSet) -> Result<Vec<String>, OpsError> {
    Ok(store
        .list_dir(&format!("{}/{}", set.dir, set.id))
        .map_err(|e| e.to_ops_error("listing the set"))?
        .objects
        .into_iter()
        .map(|o| o.name)
        .filter(|n| super::is_envelope_signature(n))
        .collect())
}
