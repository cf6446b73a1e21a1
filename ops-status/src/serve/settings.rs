//! What `serve` can change without a restart (ADR 0015): the per-client rate limit and the
//! bearer token. Flags give the first values; `--config FILE` (re-read with the token file
//! on SIGHUP) overrides them. A reload that fails keeps the settings in force: a typo in
//! a config file must not open the server or take it down.

use ops_core::{Category, OpsError};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

/// The settings in force.
#[derive(Clone, PartialEq, Eq)]
pub struct Settings {
    /// Requests per second per client, and the burst above it.
    pub rate: NonZeroU32,
    pub burst: NonZeroU32,
    pub token_file: Option<PathBuf>,
    /// The token itself (never logged, never in an event).
    pub token: Option<String>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("rate", &self.rate)
            .field("burst", &self.burst)
            .field("token_file", &self.token_file)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The flags' values, before any config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defaults {
    pub rate: NonZeroU32,
    pub burst: NonZeroU32,
    pub token_file: Option<PathBuf>,
}

fn invalid(path: &Path, what: String) -> OpsError {
    OpsError::new(
        "serve_config_invalid",
        Category::Validation,
        format!("{}: {what}", path.display()),
    )
}

/// Applies the config file's text (`key = value` lines, `#` comments; keys `rate`,
/// `burst`, `token_file`) over `d`. Pure: the caller reads the file.
pub fn apply(d: &Defaults, path: &Path, text: &str) -> Result<Defaults, OpsError> {
    let mut out = d.clone();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(invalid(
                path,
                format!("line {}: expected key = value", n + 1),
            ));
        };
        let (k, v) = (k.trim(), v.trim());
        let number = |v: &str| {
            v.parse::<NonZeroU32>().map_err(|_| {
                invalid(
                    path,
                    format!(
                        "line {}: {k} must be a whole number above 0, not {v:?}",
                        n + 1
                    ),
                )
            })
        };
        match k {
            "rate" => out.rate = number(v)?,
            "burst" => out.burst = number(v)?,
            "token_file" => out.token_file = (!v.is_empty()).then(|| PathBuf::from(v)),
            _ => return Err(invalid(path, format!("line {}: unknown key {k:?}", n + 1))),
        }
    }
    Ok(out)
}

/// Reads the token in `path`: its first line, trimmed. Refused when empty, or when anyone
/// but its owner and group may read it (a token readable by every user guards nothing).
pub fn read_token(path: &Path) -> Result<String, OpsError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path)
        .map_err(|e| OpsError::io(format!("reading the token file {}", path.display()), &e))?;
    if meta.permissions().mode() & 0o004 != 0 {
        return Err(OpsError::new(
            "token_file_insecure",
            Category::Validation,
            format!(
                "{} is readable by every user (mode {:o}); chmod o-r it",
                path.display(),
                meta.permissions().mode() & 0o777
            ),
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| OpsError::io(format!("reading the token file {}", path.display()), &e))?;
    let token = text.lines().next().unwrap_or("").trim().to_string();
    if token.is_empty() {
        return Err(OpsError::new(
            "token_file_empty",
            Category::Validation,
            format!("{} holds no token", path.display()),
        ));
    }
    Ok(token)
}

/// The settings: the flags, the config file over them, the token read.
pub fn load(d: &Defaults, config: Option<&Path>) -> Result<Settings, OpsError> {
    let d = match config {
        None => d.clone(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| OpsError::io(format!("reading {}", path.display()), &e))?;
            apply(d, path, &text)?
        }
    };
    let token = d.token_file.as_deref().map(read_token).transpose()?;
    Ok(Settings {
        rate: d.rate,
        burst: d.burst,
        token_file: d.token_file,
        token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d() -> Defaults {
        Defaults {
            rate: NonZeroU32::new(50).unwrap(),
            burst: NonZeroU32::new(100).unwrap(),
            token_file: None,
        }
    }

    #[test]
    fn a_config_file_overrides_the_flags_and_typos_are_refused() {
        let p = Path::new("/etc/pgops/status.conf");
        let out = apply(
            &d(),
            p,
            "# limits\nrate = 5\nburst=7 # per client\n\ntoken_file = /t\n",
        )
        .unwrap();
        assert_eq!((out.rate.get(), out.burst.get()), (5, 7));
        assert_eq!(out.token_file.as_deref(), Some(Path::new("/t")));
        for bad in ["rate = 0", "rate = fast", "rte = 5", "rate"] {
            let e = apply(&d(), p, bad).unwrap_err();
            assert_eq!(e.code, "serve_config_invalid", "{bad}");
            assert!(e.message.contains("status.conf"), "{}", e.message);
        }
    }

    #[test]
    fn a_token_is_read_trimmed_and_never_shown() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cr3t-token\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let s = load(
            &Defaults {
                token_file: Some(path.clone()),
                ..d()
            },
            None,
        )
        .unwrap();
        assert_eq!(s.token.as_deref(), Some("s3cr3t-token"));
        assert!(!format!("{s:?}").contains("s3cr3t"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(read_token(&path).unwrap_err().code, "token_file_insecure");
        std::fs::write(&path, "\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_token(&path).unwrap_err().code, "token_file_empty");
    }
}
