//! Sealed sets: a set as it lies in an off-site catalog (ADR 0014), encrypted with age and
//! vouched for by a signed envelope.
//!
//! ```text
//! <db-dir>/<set id>/
//!   <file>.<nonce>.age          every file of the local set (dump, manifest.json, its
//!                               signature), age-encrypted, streamed
//!   envelope.<nonce>.minisig    minisign signature of the envelope, written just before it
//!   envelope.json               in clear: format, kind, id, and every object's name, size
//!                               and SHA-256 of its ciphertext; written last, create-only
//! ```
//! A sealed set exists iff its `envelope.json` exists (ADR 0013). The `nonce` is one per
//! writer: two copies of one set never write the same object, so the loser of a race for
//! the envelope leaves the winner's objects and signature intact and removes its own.
//! `minisign -V -m envelope.json -x envelope.<nonce>.minisig -p KEY` checks a set by hand.
//!
//! - [`write`]: sealing a local set into a store, resumable.
//! - [`reseal`]: a set sealed again to new recipients (key rotation, where the identity is).
//! - [`open`]: reading sealed sets back: envelopes, their signatures, the objects'
//!   presence and hashes, and unsealing a set into a local catalog.
//!
//! What stays in clear: object names (the encoded database name, the set id, file names),
//! sizes, timestamps, ciphertext hashes and the public keys. Table names, roles, settings,
//! row counts and data are only inside `.age` objects.

pub mod open;
pub mod reseal;
pub mod write;

use ops_catalog::catalog::SetKind;
use serde::{Deserialize, Serialize};

pub const ENVELOPE_FILE: &str = "envelope.json";
/// The envelope's signature written by the writer with `nonce`.
pub fn envelope_signature_name(nonce: &str) -> String {
    format!("envelope.{nonce}.minisig")
}

/// Whether `name` is an envelope signature.
pub fn is_envelope_signature(name: &str) -> bool {
    name.starts_with("envelope.") && name.ends_with(".minisig") && name != ENVELOPE_FILE
}
pub const ENVELOPE_FORMAT: &str = "pgops-envelope";
pub const ENVELOPE_VERSION: u32 = 1;
/// The suffix of every encrypted object: `age -d` opens it.
pub const AGE_SUFFIX: &str = ".age";

/// One object of a sealed set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedObject {
    /// The object's name in the set (`app.dump.zst.1f2e3d4c.age`).
    pub name: String,
    /// The file it holds once decrypted (`app.dump.zst`).
    pub file: String,
    /// Size and SHA-256 of the ciphertext, as stored.
    pub bytes: u64,
    pub sha256: String,
    /// The Object Lock retention the store gave it when it was written (RFC 3339): no
    /// version of it can be deleted before then. Absent where nothing locked it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<String>,
}

/// `envelope.json`: the clear, signed description of a sealed set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub format: String,
    pub v: u32,
    pub kind: SetKind,
    /// The directory of sets it lies in (encoded database name, or `_globals`).
    pub dir: String,
    pub id: String,
    pub sealed_at: String,
    pub encryption: String,
    pub objects: Vec<SealedObject>,
    /// The lock of the whole set, when every object has one: the mode, and the earliest
    /// of their dates (until then the store deletes none of them). Absent when unlocked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<SetLock>,
}

/// A sealed set's Object Lock, as its envelope records it (signed with the set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetLock {
    pub mode: crate::backend::RetentionMode,
    /// RFC 3339: the earliest date until which one of its objects is locked.
    pub until: String,
}

impl SetLock {
    /// The set's lock from its objects' (none if one of them is unlocked).
    pub fn of(
        objects: &[SealedObject],
        mode: Option<crate::backend::RetentionMode>,
    ) -> Option<SetLock> {
        let mode = mode?;
        let dates: Option<Vec<jiff::Timestamp>> = objects
            .iter()
            .map(|o| o.locked_until.as_deref().and_then(|d| d.parse().ok()))
            .collect();
        let until = dates?.into_iter().min()?;
        Some(SetLock {
            mode,
            until: ops_core::timefmt::rfc3339(until),
        })
    }

    pub fn until(&self) -> Option<jiff::Timestamp> {
        self.until.parse().ok()
    }
}

impl Envelope {
    /// Bytes of ciphertext in the set.
    pub fn bytes(&self) -> u64 {
        self.objects.iter().map(|o| o.bytes).sum()
    }

    /// The object holding `file`.
    pub fn object_for(&self, file: &str) -> Option<&SealedObject> {
        self.objects.iter().find(|o| o.file == file)
    }
}

/// The state-directory record of the last verification of the sealed catalog at
/// `location` (`remote-verify/<hash>.json`): written by backup-verify, read by ops-status
/// and by remote rotation (a set whose check failed there fills no period).
pub fn remote_verify_record(location: &str) -> String {
    use sha2::Digest;
    let location = location.trim_end_matches('/');
    let key = hex::encode(&sha2::Sha256::digest(location.as_bytes())[..8]);
    format!("{}/{key}.json", ops_core::state::REMOTE_VERIFY_DIR)
}

/// The sets whose last remote verification failed, per directory of sets (its encoded
/// name, never the label: a database may be named `_globals`), from the record
/// of `location` in the state directory (none recorded: empty).
pub fn remotely_failed(location: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    let Some(dir) = ops_core::state::dir_from_env() else {
        return Default::default();
    };
    let location = ops_core::redact::scrub(location);
    std::fs::read(dir.join(remote_verify_record(&location)))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| serde_json::from_value(v["failed"].clone()).ok())
        .unwrap_or_default()
}

/// The key of `name` in the set `dir/id`.
pub fn key(dir: &str, id: &str, name: &str) -> String {
    format!("{dir}/{id}/{name}")
}

pub use ops_catalog::catalog::DESCRIPTOR;
/// The layout version this build writes and reads.
pub const FORMAT_VERSION: u64 = 1;
