//! The age half of the keys of sealed sets (ADR 0014), in `age`'s own formats:
//!
//! - [`Recipients`]: age X25519 (`age1…`) and SSH public keys: what leaves the host is
//!   encrypted to them. The backup host needs nothing more: it cannot read its own copies.
//! - [`Identities`]: age identities (`AGE-SECRET-KEY-1…`, or an SSH private key), needed
//!   only to restore or to deep-verify an encrypted copy.
//!
//! The minisign half (signing and trusted keys) is in `ops_catalog::keys`: local sets are
//! signed too. No key is ever printed; errors name the file, never its content.

use ops_catalog::keys::{check_private, invalid, read_text};
use ops_core::{Category, OpsError};
use std::io::Read;
use std::path::Path;
use std::str::FromStr;

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
