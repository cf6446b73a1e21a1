//! TLS for pgops' own connections, by libpq's rules (ADR 0007).
//!
//! pg_dump and pg_restore are libpq programs and get the same settings through the
//! environment ([`ConnSettings::apply_to_command`](crate::conn::ConnSettings::apply_to_command)).
//! The in-process client must then agree with them exactly, or a backup could pass its
//! catalog queries over one kind of link and dump over another. So the decision is made
//! here, as data ([`TlsPlan`]), from the same inputs and defaults libpq uses:
//!
//! | sslmode | server certificate |
//! |---|---|
//! | `disable` | no TLS |
//! | `allow`, `prefer`, `require` | not checked, unless a root certificate file exists (then as `verify-ca`) |
//! | `verify-ca` | chain checked against the root certificates |
//! | `verify-full` | chain and host name checked |
//!
//! The root certificates are `sslrootcert`, else `~/.postgresql/root.crt`; `system` means the
//! system's trust store (libpq 16's rule: only with `verify-full`). A client certificate is
//! `sslcert` (default `~/.postgresql/postgresql.crt`, used when it exists) with `sslkey`
//! (default `~/.postgresql/postgresql.key`), whose file must not be readable by others.

use openssl::ssl::{SslConnector, SslFiletype, SslMethod, SslVerifyMode};
use ops_core::error::{Category, OpsError};
use postgres_openssl::MakeTlsConnector;
use std::path::{Path, PathBuf};

/// Error code for TLS settings that cannot work (a missing root file, an unsafe key).
pub const TLS_CONFIG: &str = "tls_config";
/// Error code for a TLS handshake that failed (an unknown CA, a wrong host name, a server
/// without TLS where TLS is required).
pub const TLS_FAILED: &str = "tls_failed";

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Encryption only: any certificate is accepted.
    Nothing,
    /// The chain must lead to a trusted root.
    Chain,
    /// The chain, and the certificate must name the host connected to.
    ChainAndHost,
}

/// Where trusted roots come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    File(PathBuf),
    System,
}

/// What TLS a connection uses: decided by [`plan`], built by [`connector`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPlan {
    pub verify: Verify,
    pub roots: Option<Roots>,
    /// Client certificate and key files.
    pub client: Option<(PathBuf, PathBuf)>,
}

/// The TLS inputs of a connection, as given (`None` = libpq's default).
#[derive(Debug, Clone, Default)]
pub struct TlsInputs<'a> {
    pub sslmode: Option<&'a str>,
    pub sslrootcert: Option<&'a Path>,
    pub sslcert: Option<&'a Path>,
    pub sslkey: Option<&'a Path>,
    /// The user's home, for the `~/.postgresql` defaults.
    pub home: Option<&'a Path>,
}

fn config_error(msg: impl Into<String>) -> OpsError {
    OpsError::new(TLS_CONFIG, Category::Validation, msg)
}

/// Decides the TLS of a connection from its settings, libpq's way. No file is opened here;
/// only `exists` is asked.
pub fn plan(inputs: &TlsInputs, exists: impl Fn(&Path) -> bool) -> Result<TlsPlan, OpsError> {
    let mode = inputs.sslmode.unwrap_or("prefer");
    let dot = inputs.home.map(|h| h.join(".postgresql"));
    let roots = match inputs.sslrootcert {
        Some(p) if p == Path::new("system") => Some(Roots::System),
        Some(p) => exists(p).then(|| Roots::File(p.to_path_buf())),
        None => dot
            .as_ref()
            .map(|d| d.join("root.crt"))
            .filter(|p| exists(p))
            .map(Roots::File),
    };
    let verify = match mode {
        "verify-full" => Verify::ChainAndHost,
        "verify-ca" => Verify::Chain,
        _ if roots.is_some() => Verify::Chain,
        _ => Verify::Nothing,
    };
    if roots == Some(Roots::System) && verify != Verify::ChainAndHost {
        return Err(config_error(format!(
            "sslrootcert=system needs sslmode=verify-full, not {mode}"
        )));
    }
    if verify != Verify::Nothing && roots.is_none() {
        let wanted = inputs
            .sslrootcert
            .map(Path::to_path_buf)
            .or_else(|| dot.as_ref().map(|d| d.join("root.crt")));
        let named = wanted.map_or_else(
            || "~/.postgresql/root.crt".into(),
            |p| p.display().to_string(),
        );
        return Err(config_error(format!(
            "sslmode={mode} checks the server's certificate, but the root certificate file {named} does not exist: give one with sslrootcert (or sslrootcert=system with verify-full), or use sslmode=require to encrypt without checking"
        )));
    }
    let cert = inputs
        .sslcert
        .map(Path::to_path_buf)
        .or_else(|| dot.as_ref().map(|d| d.join("postgresql.crt")))
        .filter(|p| exists(p));
    let client = match cert {
        Some(cert) => {
            let key = inputs
                .sslkey
                .map(Path::to_path_buf)
                .or_else(|| dot.as_ref().map(|d| d.join("postgresql.key")));
            match key.filter(|k| exists(k)) {
                Some(key) => Some((cert, key)),
                None => {
                    return Err(config_error(format!(
                        "client certificate {} has no private key: give one with sslkey",
                        cert.display()
                    )))
                }
            }
        }
        None if inputs.sslcert.is_some() => {
            return Err(config_error(format!(
                "client certificate file {} does not exist",
                inputs.sslcert.unwrap_or(Path::new("")).display()
            )))
        }
        None => None,
    };
    Ok(TlsPlan {
        verify,
        roots,
        client,
    })
}

/// libpq's rule for a private key file: a regular file, not readable by group or others
/// (owned by root, group read is allowed, for keys shared with a service group).
pub fn key_file_problem(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            return Some(format!(
                "cannot read private key file {}: {e}",
                path.display()
            ))
        }
    };
    if !meta.is_file() {
        return Some(format!(
            "private key file {} is not a regular file",
            path.display()
        ));
    }
    let allowed = if meta.uid() == 0 { 0o037 } else { 0o077 };
    (meta.mode() & allowed != 0).then(|| {
        format!(
            "private key file {} is readable by others (mode {:o}): chmod 0600 it",
            path.display(),
            meta.mode() & 0o777
        )
    })
}

/// Builds the connector a [`TlsPlan`] asks for.
pub fn connector(plan: &TlsPlan) -> Result<MakeTlsConnector, OpsError> {
    let ssl = |what: &str, e: openssl::error::ErrorStack| config_error(format!("{what}: {e}"));
    let mut b =
        SslConnector::builder(SslMethod::tls_client()).map_err(|e| ssl("setting up TLS", e))?;
    match &plan.roots {
        Some(Roots::File(p)) => b
            .set_ca_file(p)
            .map_err(|e| ssl(&format!("reading root certificates {}", p.display()), e))?,
        Some(Roots::System) => b
            .set_default_verify_paths()
            .map_err(|e| ssl("loading the system's root certificates", e))?,
        None => {}
    }
    b.set_verify(match plan.verify {
        Verify::Nothing => SslVerifyMode::NONE,
        _ => SslVerifyMode::PEER,
    });
    if let Some((cert, key)) = &plan.client {
        if let Some(problem) = key_file_problem(key) {
            return Err(config_error(problem));
        }
        b.set_certificate_chain_file(cert)
            .map_err(|e| ssl(&format!("reading client certificate {}", cert.display()), e))?;
        b.set_private_key_file(key, SslFiletype::PEM)
            .map_err(|e| ssl(&format!("reading private key {}", key.display()), e))?;
        b.check_private_key()
            .map_err(|e| ssl("the client certificate and key do not match", e))?;
    }
    let mut connector = MakeTlsConnector::new(b.build());
    let check_host = plan.verify == Verify::ChainAndHost;
    connector.set_callback(move |config, _host| {
        config.set_verify_hostname(check_host);
        Ok(())
    });
    Ok(connector)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_with(inputs: TlsInputs, present: &[&str]) -> Result<TlsPlan, OpsError> {
        plan(&inputs, |p| present.iter().any(|q| Path::new(q) == p))
    }

    #[test]
    fn modes_follow_libpq() {
        let home = Path::new("/home/op");
        let at = |mode: &str, present: &[&str]| {
            plan_with(
                TlsInputs {
                    sslmode: Some(mode),
                    home: Some(home),
                    ..TlsInputs::default()
                },
                present,
            )
        };
        assert_eq!(at("require", &[]).unwrap().verify, Verify::Nothing);
        assert_eq!(at("prefer", &[]).unwrap().verify, Verify::Nothing);
        // A root certificate in the default place makes require check the chain.
        let root = "/home/op/.postgresql/root.crt";
        let p = at("require", &[root]).unwrap();
        assert_eq!(p.verify, Verify::Chain);
        assert_eq!(p.roots, Some(Roots::File(root.into())));
        assert_eq!(
            at("verify-full", &[root]).unwrap().verify,
            Verify::ChainAndHost
        );
        let e = at("verify-ca", &[]).unwrap_err();
        assert_eq!(e.code, TLS_CONFIG);
        assert!(e.message.contains("root.crt"), "{}", e.message);
    }

    #[test]
    fn system_roots_only_with_verify_full() {
        let inputs = |mode| TlsInputs {
            sslmode: Some(mode),
            sslrootcert: Some(Path::new("system")),
            ..TlsInputs::default()
        };
        assert_eq!(
            plan_with(inputs("verify-full"), &[]).unwrap().roots,
            Some(Roots::System)
        );
        assert_eq!(
            plan_with(inputs("require"), &[]).unwrap_err().code,
            TLS_CONFIG
        );
    }

    #[test]
    fn client_certificates() {
        let base = TlsInputs {
            sslmode: Some("require"),
            home: Some(Path::new("/h")),
            ..TlsInputs::default()
        };
        // The default pair is used when the certificate exists.
        let p = plan_with(
            base.clone(),
            &[
                "/h/.postgresql/postgresql.crt",
                "/h/.postgresql/postgresql.key",
            ],
        )
        .unwrap();
        assert_eq!(
            p.client,
            Some((
                "/h/.postgresql/postgresql.crt".into(),
                "/h/.postgresql/postgresql.key".into()
            ))
        );
        assert_eq!(plan_with(base.clone(), &[]).unwrap().client, None);
        // A named certificate that is missing, or one without a key, is an error.
        let named = TlsInputs {
            sslcert: Some(Path::new("/c.crt")),
            sslkey: Some(Path::new("/c.key")),
            ..base
        };
        assert_eq!(
            plan_with(named.clone(), &["/c.key"]).unwrap_err().code,
            TLS_CONFIG
        );
        assert_eq!(
            plan_with(named.clone(), &["/c.crt"]).unwrap_err().code,
            TLS_CONFIG
        );
        assert!(plan_with(named, &["/c.crt", "/c.key"])
            .unwrap()
            .client
            .is_some());
    }

    #[test]
    fn a_key_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k");
        std::fs::write(&key, "x").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(key_file_problem(&key).unwrap().contains("chmod 0600"));
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(key_file_problem(&key), None);
    }
}
