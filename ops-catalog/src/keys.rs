//! The keys of signed and encrypted sets (ADR 0014), read from files in their tools' own
//! formats, so that `minisign` and `age` check and open what pgops wrote:
//!
//! - [`SigningKey`]: a minisign secret key, unencrypted (`minisign -G -W`), on the backup
//!   host only; it signs each set's manifest and each remote set's envelope.
//! - [`TrustedKey`]: the matching minisign public key; every reader checks sets against it.
//! - [`Recipients`]: age X25519 (`age1…`) and SSH public keys: what leaves the host is
//!   encrypted to them. The backup host needs nothing more: it cannot read its own copies.
//! - [`Identities`]: age identities (`AGE-SECRET-KEY-1…`, or an SSH private key), needed
//!   only to restore or to deep-verify an encrypted copy.
//!
//! No key is ever printed; errors name the file, never its content.

use ops_core::{Category, OpsError};
use std::io::{Cursor, Read};
use std::path::Path;
use std::str::FromStr;

/// The suffix of a detached minisign signature next to the file it signs.
pub const SIGNATURE_SUFFIX: &str = ".minisig";

/// The code of a set whose signature is missing or does not check.
pub const SIGNATURE_INVALID: &str = "signature_invalid";

fn invalid(path: &Path, what: &str, detail: impl std::fmt::Display) -> OpsError {
    OpsError::validation(
        "key_invalid",
        format!("{}: not {what}: {detail}", path.display()),
    )
}

fn read_text(path: &Path) -> Result<String, OpsError> {
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
fn check_private(path: &Path) -> Result<(), OpsError> {
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
            pk: self.pk.clone(),
        }
    }

    pub fn key_id(&self) -> String {
        key_id(&self.pk.to_bytes()[2..10])
    }

    /// A detached signature of `data` in minisign's format; `comment` is signed with it
    /// (`minisign -V` prints it as the trusted comment).
    pub fn sign(&self, data: &[u8], comment: &str) -> String {
        // The trusted comment is one line of the signature file: a database name with a
        // newline would make a file no reader parses. Control characters are escaped.
        let comment: String = comment.chars().flat_map(char::escape_default).collect();
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

/// The minisign public key sets are checked against.
#[derive(Clone)]
pub struct TrustedKey {
    pk: minisign::PublicKey,
}

impl std::fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TrustedKey({})", self.key_id())
    }
}

impl PartialEq for TrustedKey {
    fn eq(&self, other: &Self) -> bool {
        self.pk.to_bytes() == other.pk.to_bytes()
    }
}

impl Eq for TrustedKey {}

impl TrustedKey {
    /// Reads a minisign public key file (`minisign.pub`), or the bare base64 line.
    pub fn from_file(path: &Path) -> Result<TrustedKey, OpsError> {
        let text = read_text(path)?;
        Self::parse(&text).map_err(|e| invalid(path, "a minisign public key", e))
    }

    /// The file's text, or its key line alone.
    pub fn parse(text: &str) -> Result<TrustedKey, String> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
            .ok_or("it is empty")?;
        let pk = minisign::PublicKey::from_base64(line).map_err(|e| e.to_string())?;
        Ok(TrustedKey { pk })
    }

    /// The key in minisign's file format.
    pub fn to_file_text(&self) -> String {
        self.pk.to_box().expect("a key boxes").to_string()
    }

    /// The bare base64 key line (what `minisign -P` takes).
    pub fn to_base64(&self) -> String {
        self.pk.to_base64()
    }

    pub fn key_id(&self) -> String {
        key_id(&self.pk.to_bytes()[2..10])
    }

    /// Checks a detached signature (minisign's format) of `data`. The error says why, for
    /// a `signature_invalid` event.
    pub fn verify(&self, data: &[u8], signature: &str) -> Result<(), String> {
        let sig = minisign::SignatureBox::from_string(signature)
            .map_err(|e| format!("the signature does not parse: {e}"))?;
        minisign::verify(&self.pk, &sig, Cursor::new(data), true, false, false).map_err(|e| {
            format!(
                "it does not check against the trusted key {}: {e}",
                self.key_id()
            )
        })
    }
}

/// Public keys that encrypted copies are made for.
pub struct Recipients {
    keys: Vec<Box<dyn age::Recipient + Send>>,
    /// Their text, as given (public keys: fine to record in a catalog's descriptor).
    pub listed: Vec<String>,
}

impl std::fmt::Debug for Recipients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Recipients").field(&self.listed).finish()
    }
}

impl Recipients {
    /// From `--recipient` values and `--recipients-file` files (one key a line, `#`
    /// comments), as `age -r` and `age -R` take them.
    pub fn parse(given: &[String], files: &[std::path::PathBuf]) -> Result<Recipients, OpsError> {
        let mut out = Recipients {
            keys: Vec::new(),
            listed: Vec::new(),
        };
        for r in given {
            out.add(r, "--recipient")?;
        }
        for path in files {
            let text = read_text(path)?;
            for line in text.lines().map(str::trim) {
                if !line.is_empty() && !line.starts_with('#') {
                    out.add(line, &path.display().to_string())?;
                }
            }
        }
        Ok(out)
    }

    fn add(&mut self, text: &str, origin: &str) -> Result<(), OpsError> {
        let key: Box<dyn age::Recipient + Send> = if let Ok(k) =
            age::x25519::Recipient::from_str(text)
        {
            Box::new(k)
        } else if let Ok(k) = age::ssh::Recipient::from_str(text) {
            Box::new(k)
        } else {
            return Err(OpsError::validation(
                    "recipient_invalid",
                    format!("{origin}: {text:?} is neither an age public key (age1…) nor an SSH public key (ssh-ed25519, ssh-rsa)"),
                ));
        };
        self.keys.push(key);
        self.listed.push(text.to_string());
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// An age encryptor for one file.
    pub fn encryptor(&self) -> age::Encryptor {
        age::Encryptor::with_recipients(self.keys.iter().map(|k| k.as_ref() as &dyn age::Recipient))
            .expect("X25519 and SSH recipients mix")
    }
}

/// Secret age identities that open encrypted copies.
pub struct Identities {
    keys: Vec<Box<dyn age::Identity + Send + Sync>>,
}

impl std::fmt::Debug for Identities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identities({})", self.keys.len())
    }
}

impl Identities {
    /// Reads an age identity file (`age-keygen -o`) or an unencrypted SSH private key.
    pub fn from_file(path: &Path) -> Result<Identities, OpsError> {
        check_private(path)?;
        let text = read_text(path)?;
        if let Ok(file) = age::IdentityFile::from_buffer(text.as_bytes()) {
            if let Ok(keys) = file.into_identities() {
                if !keys.is_empty() {
                    return Ok(Identities { keys });
                }
            }
        }
        match age::ssh::Identity::from_buffer(text.as_bytes(), None) {
            Ok(id @ age::ssh::Identity::Unencrypted(_)) => Ok(Identities {
                keys: vec![Box::new(id)],
            }),
            _ => Err(invalid(
                path,
                "an age identity",
                "expected AGE-SECRET-KEY-1… lines or an unencrypted SSH private key",
            )),
        }
    }

    /// Opens an age stream; `wrong_identity` when none of the identities is a recipient.
    pub fn decrypt<R: Read>(&self, src: R, what: &str) -> Result<impl Read, OpsError> {
        let decryptor = age::Decryptor::new(src).map_err(|e| decrypt_error(what, e))?;
        decryptor
            .decrypt(self.keys.iter().map(|k| k.as_ref() as &dyn age::Identity))
            .map_err(|e| decrypt_error(what, e))
    }
}

fn decrypt_error(what: &str, e: age::DecryptError) -> OpsError {
    match e {
        age::DecryptError::NoMatchingKeys => OpsError::new(
            "wrong_identity",
            Category::Authz,
            format!("{what}: none of the given age identities can open it (is it the identity of a recipient this catalog was written for?)"),
        ),
        e => OpsError::new(
            "decrypt_failed",
            Category::Integrity,
            format!("{what}: not a readable age file: {e}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn encrypts_to_recipients_and_only_their_identity_opens_it() {
        use age::secrecy::ExposeSecret;
        let id = age::x25519::Identity::generate();
        let dir = tempfile::tempdir().unwrap();
        let idfile = dir.path().join("id");
        std::fs::write(&idfile, id.to_string().expose_secret()).unwrap();
        let recipients = Recipients::parse(&[id.to_public().to_string()], &[]).unwrap();
        let mut ct = Vec::new();
        let mut w = recipients.encryptor().wrap_output(&mut ct).unwrap();
        std::io::Write::write_all(&mut w, b"rows").unwrap();
        w.finish().unwrap();
        std::fs::set_permissions(&idfile, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .unwrap();
        assert_eq!(
            Identities::from_file(&idfile).unwrap_err().code,
            "key_permissions"
        );
        std::fs::set_permissions(&idfile, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let ids = Identities::from_file(&idfile).unwrap();
        let mut plain = String::new();
        ids.decrypt(&ct[..], "t")
            .unwrap()
            .read_to_string(&mut plain)
            .unwrap();
        assert_eq!(plain, "rows");
        let other = age::x25519::Identity::generate();
        std::fs::write(&idfile, other.to_string().expose_secret()).unwrap();
        let err = Identities::from_file(&idfile)
            .unwrap()
            .decrypt(&ct[..], "t")
            .err()
            .unwrap();
        assert_eq!(err.code, "wrong_identity");
        assert_eq!(
            Recipients::parse(&["nope".into()], &[]).unwrap_err().code,
            "recipient_invalid"
        );
    }

    /// An SSH key pair made by ssh-keygen works as recipient and identity, as with `age -R`.
    #[test]
    fn ssh_keys_are_recipients_and_identities() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id_ed25519");
        let status = std::process::Command::new("ssh-keygen")
            .args(["-t", "ed25519", "-N", "", "-q", "-f"])
            .arg(&key)
            .status()
            .expect("ssh-keygen (openssh-client, installed by scripts/deps.sh)");
        assert!(status.success());
        let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        let recipients = Recipients::parse(&[], &[key.with_extension("pub")]).unwrap();
        assert_eq!(recipients.listed, [public.trim()]);
        let mut ct = Vec::new();
        let mut w = recipients.encryptor().wrap_output(&mut ct).unwrap();
        std::io::Write::write_all(&mut w, b"rows").unwrap();
        w.finish().unwrap();
        let mut plain = String::new();
        Identities::from_file(&key)
            .unwrap()
            .decrypt(&ct[..], "t")
            .unwrap()
            .read_to_string(&mut plain)
            .unwrap();
        assert_eq!(plain, "rows");
    }
}
