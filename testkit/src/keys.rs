//! Keys made with the standard command-line tools (`minisign -G -W`, `age-keygen`), so
//! that every test that signs or encrypts also proves pgops reads their files.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A signing key pair and an age identity in a directory, as an operator makes them.
#[derive(Debug, Clone)]
pub struct Keys {
    /// minisign secret key (unencrypted), mode 0600.
    pub signing_key: PathBuf,
    /// minisign public key.
    pub public_key: PathBuf,
    /// age identity file, mode 0600.
    pub identity: PathBuf,
    /// The identity's public key (`age1…`).
    pub recipient: String,
    /// A recipients file holding it (`age -R`, `PGOPS_RECIPIENTS_FILE`).
    pub recipients_file: PathBuf,
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

impl Keys {
    /// Makes a new set of keys in `dir` (files named with `name`).
    pub fn make(dir: &Path, name: &str) -> Keys {
        std::fs::create_dir_all(dir).unwrap();
        let signing_key = dir.join(format!("{name}.key"));
        let public_key = dir.join(format!("{name}.pub"));
        let identity = dir.join(format!("{name}.age"));
        run(Command::new("minisign")
            .args(["-G", "-W", "-f", "-p"])
            .arg(&public_key)
            .arg("-s")
            .arg(&signing_key));
        run(Command::new("age-keygen").arg("-o").arg(&identity));
        let recipient = String::from_utf8(run(Command::new("age-keygen").arg("-y").arg(&identity)))
            .unwrap()
            .trim()
            .to_string();
        // Written once here: tests running at once read it, none rewrites it.
        let recipients_file = dir.join(format!("{name}.recipients"));
        std::fs::write(&recipients_file, format!("# age-keygen -y\n{recipient}\n")).unwrap();
        for secret in [&signing_key, &identity] {
            std::fs::set_permissions(secret, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .unwrap();
        }
        Keys {
            signing_key,
            public_key,
            identity,
            recipient,
            recipients_file,
        }
    }

    /// The environment that hands every key to the tools (PGOPS_SIGNING_KEY,
    /// PGOPS_PUBLIC_KEY, PGOPS_IDENTITY_FILE, PGOPS_RECIPIENTS_FILE).
    pub fn env(&self) -> Vec<(String, String)> {
        let p = |p: &Path| p.to_str().unwrap().to_string();
        vec![
            ("PGOPS_SIGNING_KEY".into(), p(&self.signing_key)),
            ("PGOPS_PUBLIC_KEY".into(), p(&self.public_key)),
            ("PGOPS_IDENTITY_FILE".into(), p(&self.identity)),
            ("PGOPS_RECIPIENTS_FILE".into(), p(&self.recipients_file)),
        ]
    }

    /// One set of keys for a whole test binary, in a directory that lives as long.
    pub fn shared() -> &'static Keys {
        static KEYS: std::sync::OnceLock<(tempfile::TempDir, Keys)> = std::sync::OnceLock::new();
        &KEYS
            .get_or_init(|| {
                let dir = tempfile::tempdir().unwrap();
                let keys = Keys::make(dir.path(), "pgops");
                (dir, keys)
            })
            .1
    }

    /// `minisign -V` of `file` against its `.minisig` and this public key.
    pub fn minisign_verifies(&self, file: &Path) -> bool {
        Command::new("minisign")
            .args(["-V", "-q", "-p"])
            .arg(&self.public_key)
            .arg("-m")
            .arg(file)
            .status()
            .unwrap()
            .success()
    }
}
