//! Signed proofs in the bucket (ADR 0025): what a verification, a drill or a restore proved
//! of a set, kept beside it so that a lost server's drill history and verdicts come back
//! with the bucket.
//!
//! ```text
//! _proofs/<db-dir>/<set id>/<kind>-<time>.<nonce>.json          the record, in clear
//! _proofs/<db-dir>/<set id>/<kind>-<time>.<nonce>.json.minisig  its signature
//! ```
//! A tree of its own (`_proofs` is a name no database directory can have) keeps set scans
//! from listing proofs; a set's proofs are deleted with it. Each proof is a new object
//! (create-only): none is ever replaced, so a history cannot be rewritten by a writer
//! that cannot delete. A proof is believed only through its signature by a trusted key,
//! and only where it lies (its record names its directory and set).

use crate::backend::{PutMode, Store, StoreError};
use crate::sealed::open::read_small;
use ops_catalog::keys::{SigningKey, TrustedKey};
use ops_catalog::sets::{Proof, ProofBy};
use serde::{Deserialize, Serialize};

/// The root of the proofs tree in a catalog.
pub const PROOFS_ROOT: &str = "_proofs";
pub const PROOF_FORMAT: &str = "pgops-proof";
pub const PROOF_VERSION: u32 = 1;
const SIGNATURE_SUFFIX: &str = ".minisig";

/// A proof as it lies in the bucket (`docs/schemas/files/proof.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProofRecord {
    pub format: String,
    pub v: u32,
    /// The directory of sets (encoded database name) and the set it proves.
    pub dir: String,
    pub set: String,
    /// When it was proven (RFC 3339).
    pub at: String,
    /// Where: the host that ran the tool.
    pub host: String,
    pub tool: String,
    pub tool_version: String,
    pub correlation_id: String,
    #[serde(flatten)]
    pub proof: Proof,
}

/// The proofs directory of set `id` in `dir`.
pub fn set_proofs(dir: &str, id: &str) -> String {
    format!("{PROOFS_ROOT}/{dir}/{id}")
}

/// Writes the signed proof of set `id` in `dir`: the signature first, then the record
/// (create-only). Returns the record's key.
pub fn write(
    store: &dyn Store,
    signing: &SigningKey,
    dir: &str,
    id: &str,
    proof: &Proof,
    by: &ProofBy<'_>,
) -> Result<String, StoreError> {
    let now = jiff::Timestamp::now();
    let record = ProofRecord {
        format: PROOF_FORMAT.into(),
        v: PROOF_VERSION,
        dir: dir.into(),
        set: id.into(),
        at: ops_core::timefmt::rfc3339(now),
        host: ops_core::user::host_name(),
        tool: by.tool.into(),
        tool_version: by.version.into(),
        correlation_id: by.correlation_id.into(),
        proof: proof.clone(),
    };
    let mut text = serde_json::to_vec_pretty(&record).expect("a proof serializes");
    text.push(b'\n');
    let name = format!(
        "{}-{}.{}.json",
        proof.kind.name(),
        ops_core::timefmt::set_id(now),
        crate::sealed::write::new_nonce()
    );
    let key = format!("{}/{name}", set_proofs(dir, id));
    let signature = signing.sign(
        &text,
        &format!("pgops {} proof of {dir}/{id}", proof.kind.name()),
    );
    let sig_key = format!("{key}{SIGNATURE_SUFFIX}");
    store.put(&sig_key, &mut signature.as_bytes(), None, PutMode::Create)?;
    store.put(&key, &mut &text[..], None, PutMode::Create)?;
    Ok(key)
}

/// A proof found in the bucket: believed, or refused with a stable code and why.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundProof {
    pub key: String,
    pub record: Result<ProofRecord, (&'static str, String)>,
}

/// Every proof under `prefix` of the proofs tree (`""`: all; `<dir>`; `<dir>/<id>`), each
/// checked against `trust` and its place.
pub fn read(
    store: &dyn Store,
    prefix: &str,
    trust: &TrustedKey,
) -> Result<Vec<FoundProof>, StoreError> {
    let root = if prefix.is_empty() {
        PROOFS_ROOT.to_string()
    } else {
        format!("{PROOFS_ROOT}/{prefix}")
    };
    let listed = match store.list_tree(&root) {
        Ok(l) => l,
        Err(StoreError::NotFound(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let names: std::collections::BTreeSet<String> = listed.into_iter().map(|o| o.name).collect();
    let mut out = Vec::new();
    for name in names.iter().filter(|n| n.ends_with(".json")) {
        let key = format!("{root}/{name}");
        let signature = names.contains(&format!("{name}{SIGNATURE_SUFFIX}"));
        out.push(FoundProof {
            record: judge(store, &key, signature, trust)?,
            key,
        });
    }
    Ok(out)
}

/// One proof: its signature by `trust`, its format, and that it lies where it says.
fn judge(
    store: &dyn Store,
    key: &str,
    signed: bool,
    trust: &TrustedKey,
) -> Result<Result<ProofRecord, (&'static str, String)>, StoreError> {
    if !signed {
        return Ok(Err((
            "proof_unsigned",
            format!("{key}: no signature beside it"),
        )));
    }
    let text = read_small(store, key)?;
    let signature = read_small(store, &format!("{key}{SIGNATURE_SUFFIX}"))?;
    let signature = String::from_utf8_lossy(&signature);
    if let Err(why) = trust.verify(&text, &signature) {
        return Ok(Err((
            "proof_invalid",
            format!("{key}: its signature does not verify with the trusted key ({why})"),
        )));
    }
    let record: ProofRecord = match serde_json::from_slice(&text) {
        Ok(r) => r,
        Err(e) => return Ok(Err(("proof_invalid", format!("{key}: not a proof: {e}")))),
    };
    if record.format != PROOF_FORMAT || record.v != PROOF_VERSION {
        return Ok(Err((
            "proof_invalid",
            format!(
                "{key}: format {} v{} is not one this build reads",
                record.format, record.v
            ),
        )));
    }
    let place = format!("{}/", set_proofs(&record.dir, &record.set));
    if key
        .strip_prefix(&place)
        .is_none_or(|rest| rest.contains('/'))
    {
        return Ok(Err((
            "proof_misplaced",
            format!(
                "{key}: it proves {}/{}, not the set it lies under",
                record.dir, record.set
            ),
        )));
    }
    Ok(Ok(record))
}

/// Keeps the proof of a set a restore or a drill fetched from a sealed catalog beside it,
/// signed with `signing` (`signing_key_required` without one). Returns where it lies.
pub fn keep(
    fetched: &crate::fetch::Fetched,
    proof: &Proof,
    by: &ProofBy<'_>,
    signing: Option<&SigningKey>,
) -> Result<String, ops_core::OpsError> {
    let signing = signing.ok_or_else(|| {
        ops_core::OpsError::validation(
            "signing_key_required",
            "a proof kept in the bucket is signed: pass --signing-key (PGOPS_SIGNING_KEY)",
        )
    })?;
    let store = crate::backend::open_location(&fetched.location, &Default::default())
        .map_err(|e| e.to_ops_error("opening the catalog for the proof"))?;
    let key = write(
        store.as_ref(),
        signing,
        &fetched.dir,
        &fetched.id,
        proof,
        by,
    )
    .map_err(|e| e.to_ops_error("writing the proof"))?;
    Ok(crate::backend::place_of(&fetched.location, &key))
}
