//! A PostgreSQL server with TLS and a throwaway certificate authority (made with the
//! `openssl` command), for the tests of every `sslmode`.
//!
//! The server listens on 127.0.0.1 with `ssl=on`; its `pg_hba.conf` takes TCP only over TLS
//! and only with a client certificate from the CA (and the password), so a test can tell
//! each missing piece from the others. Its certificate names `localhost` only, so
//! `verify-full` against `127.0.0.1` must fail. A second, unrelated CA is the wrong one.

use crate::Cluster;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The TLS server and its certificate files.
#[derive(Debug)]
pub struct TlsLab {
    dir: tempfile::TempDir,
    pub cluster: Cluster,
    pub port: u16,
}

/// Runs the openssl command in `dir`; it must succeed.
pub(crate) fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command (scripts/test installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed CA named `name` (`name.crt`, `name.key`).
fn make_ca(dir: &Path, name: &str) {
    self_signed(dir, name, name, &[]);
}

/// A self-signed certificate `name.crt`/`name.key` for `cn`, with `extra` arguments
/// (e.g. `-addext subjectAltName=…`): a CA, or a server's own certificate.
pub(crate) fn self_signed(dir: &Path, name: &str, cn: &str, extra: &[&str]) {
    let (subject, key, crt) = (
        format!("/CN={cn}"),
        format!("{name}.key"),
        format!("{name}.crt"),
    );
    let mut args = vec![
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        &subject,
        "-keyout",
        &key,
        "-out",
        &crt,
    ];
    args.extend_from_slice(extra);
    openssl(dir, &args);
}

/// A certificate `name.crt`/`name.key` for `cn`, signed by `ca`, with extensions `ext`.
fn make_cert(dir: &Path, ca: &str, name: &str, cn: &str, ext: &str) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN={cn}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ],
    );
    std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.crt"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.crt"),
        ],
    );
}

impl TlsLab {
    /// Makes the CAs and certificates and starts the Debian server (the wheel servers are
    /// built without SSL) with TLS on a free loopback port.
    pub fn start() -> TlsLab {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        // The server (user postgres, when the tests run as root) reads its files here.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let d = dir.path();
        make_ca(d, "ca");
        make_ca(d, "wrong-ca");
        make_cert(
            d,
            "ca",
            "server",
            "localhost",
            "subjectAltName=DNS:localhost\n",
        );
        make_cert(
            d,
            "ca",
            "client",
            "postgres",
            "extendedKeyUsage=clientAuth\n",
        );
        for f in ["server.key", "client.key"] {
            std::fs::set_permissions(d.join(f), std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        for f in ["server.crt", "ca.crt", "wrong-ca.crt", "client.crt"] {
            std::fs::set_permissions(d.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        if crate::is_root() {
            let out = Command::new("chown")
                .args(["postgres:", "server.key"])
                .current_dir(d)
                .output()
                .unwrap();
            assert!(out.status.success(), "chown server.key to postgres");
        }
        let hba = d.join("pg_hba.conf");
        std::fs::write(
            &hba,
            "local all all scram-sha-256\n\
             hostssl all all 127.0.0.1/32 scram-sha-256 clientcert=verify-ca\n",
        )
        .unwrap();
        std::fs::set_permissions(&hba, std::fs::Permissions::from_mode(0o644)).unwrap();
        let at = |f: &str| d.join(f).display().to_string();
        let settings = vec![
            "listen_addresses=127.0.0.1".to_string(),
            "ssl=on".into(),
            format!("ssl_cert_file={}", at("server.crt")),
            format!("ssl_key_file={}", at("server.key")),
            format!("ssl_ca_file={}", at("ca.crt")),
            format!("hba_file={}", at("pg_hba.conf")),
        ];
        let bin = ops_pg::cluster::newest_server_bin()
            .expect("Debian's PostgreSQL server (scripts/test installs it)");
        let port = crate::free_port();
        let cluster = Cluster::start_with(&bin, &settings, Some(port));
        TlsLab { dir, cluster, port }
    }

    /// A file of the lab: `ca.crt`, `wrong-ca.crt`, `client.crt`, `client.key`.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A conninfo for `db` on `host` (`localhost` or `127.0.0.1`) with `extra` settings.
    pub fn conninfo(&self, host: &str, db: &str, extra: &str) -> String {
        format!("host={host} port={} dbname={db} {extra}", self.port)
    }

    /// `sslrootcert`, `sslcert` and `sslkey` of this lab, with the CA given.
    pub fn cert_settings(&self, ca: &str) -> String {
        format!(
            "sslrootcert={} sslcert={} sslkey={}",
            self.file(ca).display(),
            self.file("client.crt").display(),
            self.file("client.key").display()
        )
    }
}
