//! The keys of signed and encrypted sets (ADR 0014), read from files in their tools' own
//! formats, so that `minisign` and `age` check and open what pgops wrote:
//!
//! - [`SigningKey`]: a minisign secret key, unencrypted (`minisign -G -W`), on the backup
//!   host only; it signs each set's manifest and each remote set's envelope.
//! - [`TrustedKey`]: the matching minisign public key; every reader checks sets against it.
//!
//! The age half (recipients and identities) is off-site only: `ops_offsite::keys`.
//!
//! No key is ever printed; errors name the file, never its content.

use ops_core::OpsError;
use std::io::Cursor;
use std::path::Path;

/// The suffix of a detached minisign signature next to the file it signs.
pub const SIGNATURE_SUFFIX: &str = ".minisig";

/// The code of a set whose signature is missing or does not check.
pub const SIGNATURE_INVALID: &str = "signature_invalid";

/// The error of a key file that is not the key it should be.
pub fn invalid(path: &Path, what: &str, detail: impl std::fmt::Display) -> OpsError {
    OpsError::validation(
        "key_invalid",
        format!("{}: not {what}: {detail}", path.display()),
    )
}

/// A key file's text; `key_missing` when the file named is not there.
pub fn read_text(path: &Path) -> Result<String, OpsError> {
    std::fs::read_to_string(path).map_err(|e| key_file_error(path, &e))
}

/// A key file that is not there is a setting naming the wrong file (exit 2), not a
/// failing disk.
fn key_file_error(path: &Path, e: &std::io::Error) -> OpsError {
    if e.kind() == std::io::ErrorKind::NotFound {
        OpsError::validation(
            "key_missing",
            format!(
                "the key file {} does not exist: check the flag or setting that names it",
                path.display()
            ),
        )
    } else {
        OpsError::io(format!("reading the key file {}", path.display()), e)
    }
}

/// Refuses a secret key that others can read, as ssh and libpq do: whoever reads it can
/// sign (or decrypt) in the operator's name.
pub fn check_private(path: &Path) -> Result<(), OpsError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| key_file_error(path, &e))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(OpsError::validation(
            "key_permissions",
            format!(
                "{}: a secret key must be readable by its owner only (chmod 600)",
                path.display()
            ),
        ));
    }
    Ok(())
}

/// The key id minisign prints (`minisign -V` shows it too), in hex.
fn key_id(keynum: &[u8]) -> String {
    let mut id = [0u8; 8];
    id.copy_from_slice(&keynum[..8]);
    format!("{:016X}", u64::from_le_bytes(id))
}

/// Reads the key line of a minisign secret key file, refusing a password-protected one
/// (a timer has no one to type it). The key's own checksum is not relied on: minisign 0.11
/// (Debian 12) writes zeros there for `-W` keys; the caller proves the key by signing.
fn parse_unencrypted_secret_key(text: &str) -> Result<minisign::SecretKey, String> {
    use base64::Engine;
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
        .ok_or("it is empty")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(line)
        .map_err(|_| "its key line is not base64")?;
    // sig_alg "Ed", then kdf_alg: [0, 0] when the key is not encrypted.
    if bytes.len() != 158 || &bytes[..2] != b"Ed" {
        return Err("it is not a minisign secret key".into());
    }
    if bytes[2..4] != [0, 0] {
        return Err("it is password-protected".into());
    }
    minisign::SecretKey::from_bytes(&bytes).map_err(|e| e.to_string())
}

/// A minisign secret key that signs sets.
pub struct SigningKey {
    sk: minisign::SecretKey,
    pk: minisign::PublicKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.key_id())
    }
}

impl SigningKey {
    /// Reads an unencrypted minisign secret key (`minisign -G -W`): a tool run by a timer
    /// has no one to type a password.
    pub fn from_file(path: &Path) -> Result<SigningKey, OpsError> {
        check_private(path)?;
        let text = read_text(path)?;
        let sk = parse_unencrypted_secret_key(&text).map_err(|why| {
            invalid(
                path,
                "an unencrypted minisign secret key",
                format!("{why} (make one with `minisign -G -W`)"),
            )
        })?;
        let pk = minisign::PublicKey::from_secret_key(&sk)
            .map_err(|e| invalid(path, "a minisign secret key", e))?;
        // A key whose halves disagree signs what nobody can check: proven before any use.
        minisign::sign(Some(&pk), &sk, Cursor::new(b"pgops"), None, None)
            .map_err(|_| invalid(path, "a minisign secret key", "it is damaged"))?;
        Ok(SigningKey { sk, pk })
    }

    /// A new key pair, for tests and `--generate` helpers.
    pub fn generate() -> SigningKey {
        let pair =
            minisign::KeyPair::generate_unencrypted_keypair().expect("the system has randomness");
        SigningKey {
            sk: pair.sk,
            pk: pair.pk,
        }
    }

    /// The secret key in minisign's file format.
    pub fn to_file_text(&self) -> String {
        self.sk
            .to_box(Some("pgops signing key"))
            .expect("a key boxes")
            .to_string()
    }

    pub fn trusted(&self) -> TrustedKey {
        TrustedKey {
            keys: vec![self.pk.clone()],
        }
    }

    pub fn key_id(&self) -> String {
        key_id(&self.pk.to_bytes()[2..10])
    }

    /// A detached signature of `data` in minisign's format; `comment` is signed with it
    /// (`minisign -V` prints it as the trusted comment).
    pub fn sign(&self, data: &[u8], comment: &str) -> String {
        // The trusted comment is one line of the signature file: a database name with a
        // newline would make a file no reader parses. Control characters are escaped, and
        // so is a space at either end of the line, which a reader trims (a database may
        // be named "shop "): the signature covers the comment as written.
        let escaped: String = comment.chars().flat_map(char::escape_default).collect();
        let n = escaped.len();
        let lead = n - escaped.trim_start_matches(' ').len();
        let trail = (n - escaped.trim_end_matches(' ').len()).min(n - lead);
        let comment = format!(
            "{}{}{}",
            r"\u{20}".repeat(lead),
            &escaped[lead..n - trail],
            r"\u{20}".repeat(trail)
        );
        let comment = comment.as_str();
        minisign::sign(
            Some(&self.pk),
            &self.sk,
            Cursor::new(data),
            Some(comment),
            Some("signed by pgops"),
        )
        .expect("signing bytes in memory cannot fail")
        .to_string()
    }
}

/// The minisign public keys sets are checked against: one key, or a keyring (a file of
/// several `.pub` files one after the other) while a signing key is rotated (ADR 0025): a
/// signature by any of them checks, so old sets stay verifiable and new ones use the new
/// key.
#[derive(Clone)]
pub struct TrustedKey {
    keys: Vec<minisign::PublicKey>,
}

impl std::fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TrustedKey({})", self.key_id())
    }
}

impl PartialEq for TrustedKey {
    fn eq(&self, other: &Self) -> bool {
        let bytes = |k: &TrustedKey| k.keys.iter().map(|p| p.to_bytes()).collect::<Vec<_>>();
        bytes(self) == bytes(other)
    }
}

impl Eq for TrustedKey {}

impl TrustedKey {
    /// Reads a minisign public key file (`minisign.pub`), the bare base64 line, or a
    /// keyring (several of them, one after the other).
    pub fn from_file(path: &Path) -> Result<TrustedKey, OpsError> {
        let text = read_text(path)?;
        Self::parse(&text).map_err(|e| invalid(path, "a minisign public key", e))
    }

    /// The file's text (every key line in it), or one key line alone.
    pub fn parse(text: &str) -> Result<TrustedKey, String> {
        let keys = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
            .map(|l| minisign::PublicKey::from_base64(l).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err("it is empty".into());
        }
        Ok(TrustedKey { keys })
    }

    /// The first key in minisign's file format.
    pub fn to_file_text(&self) -> String {
        self.keys[0].to_box().expect("a key boxes").to_string()
    }

    /// The first key's bare base64 line (what `minisign -P` takes).
    pub fn to_base64(&self) -> String {
        self.keys[0].to_base64()
    }

    /// Whether the keyring holds the key whose base64 line is `line`.
    pub fn holds(&self, line: &str) -> bool {
        self.keys.iter().any(|k| k.to_base64() == line)
    }

    /// The key's id, or a keyring's ids joined (for people).
    pub fn key_id(&self) -> String {
        self.keys
            .iter()
            .map(|k| key_id(&k.to_bytes()[2..10]))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Checks a detached signature (minisign's format) of `data`. The error says why, for
    /// a `signature_invalid` event.
    pub fn verify(&self, data: &[u8], signature: &str) -> Result<(), String> {
        self.signer(data, signature).map(|_| ())
    }

    /// Checks a detached signature and says which key of the keyring made it.
    pub fn signer(&self, data: &[u8], signature: &str) -> Result<String, String> {
        let sig = minisign::SignatureBox::from_string(signature)
            .map_err(|e| format!("the signature does not parse: {e}"))?;
        let mut last = String::new();
        for pk in &self.keys {
            match minisign::verify(pk, &sig, Cursor::new(data), true, false, false) {
                Ok(()) => return Ok(key_id(&pk.to_bytes()[2..10])),
                Err(e) => last = e.to_string(),
            }
        }
        Err(format!(
            "it does not check against the trusted key {}: {last}",
            self.key_id()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database whose name begins or ends with a space (PostgreSQL allows it) signs a
    /// trusted comment with that space at an end of its line, which a reader trims: the
    /// signature must still check.
    #[test]
    fn a_comment_with_spaces_at_its_ends_still_checks() {
        let k = SigningKey::generate();
        for comment in [
            "pgops database set 1 of db ",
            " lead",
            "pgops globals set 1 of ",
            "\ttab ",
        ] {
            let sig = k.sign(b"manifest", comment);
            assert!(
                k.trusted().verify(b"manifest", &sig).is_ok(),
                "{comment:?}: {sig}"
            );
        }
    }

    #[test]
    fn a_keyring_checks_the_sets_of_every_key_it_holds() {
        let (old, new) = (SigningKey::generate(), SigningKey::generate());
        let ring = TrustedKey::parse(&format!(
            "{}{}",
            old.trusted().to_file_text(),
            new.trusted().to_file_text()
        ))
        .unwrap();
        let by_old = old.sign(b"old set", "pgops set");
        let by_new = new.sign(b"new set", "pgops set");
        assert_eq!(ring.signer(b"old set", &by_old).unwrap(), old.key_id());
        assert_eq!(ring.signer(b"new set", &by_new).unwrap(), new.key_id());
        assert!(ring.holds(&old.trusted().to_base64()));
        assert!(
            new.trusted().verify(b"old set", &by_old).is_err(),
            "the old key retired"
        );
        let stranger = SigningKey::generate();
        assert!(ring
            .verify(b"x", &stranger.sign(b"x", "pgops set"))
            .is_err());
    }

    #[test]
    fn a_signature_checks_only_against_its_key_and_its_bytes() {
        let k = SigningKey::generate();
        let sig = k.sign(b"manifest", "pgops set");
        assert!(k.trusted().verify(b"manifest", &sig).is_ok());
        assert!(k.trusted().verify(b"manifesT", &sig).is_err());
        let other = SigningKey::generate();
        assert!(other.trusted().verify(b"manifest", &sig).is_err());
        assert!(k.trusted().verify(b"manifest", "garbage").is_err());
        let text = k.trusted().to_file_text();
        assert_eq!(TrustedKey::parse(&text).unwrap(), k.trusted());
        assert_eq!(
            TrustedKey::parse(&k.trusted().to_base64()).unwrap(),
            k.trusted()
        );
    }
}
