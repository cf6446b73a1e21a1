//! A private PostgreSQL cluster: `initdb` and `pg_ctl` from the server binaries on the
//! machine, listening only on a Unix socket in a private directory. restore-drill's
//! `--ephemeral` target and the test suite's servers.
//!
//! `initdb` refuses to run as root: as root, the server runs as the `postgres` user in a
//! directory that user owns. A watchdog process stops the server and deletes the directory
//! once the owning process is gone, however it ended (even SIGKILL).

use crate::conn::ConnSettings;
use ops_core::{Category, OpsError};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// How to start a cluster.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The `postgres` role's password (scram-sha-256); `None` means trust, which the private
    /// socket directory (0700) confines to its owner and root.
    pub password: Option<String>,
    /// Extra server settings, `name=value` (later ones win, so `listen_addresses` may
    /// open a TCP port next to the socket).
    pub settings: Vec<String>,
    /// The port (the socket's name, and TCP's when listening there); default 5432, which
    /// a private socket directory cannot collide on.
    pub port: Option<u16>,
}

/// A running private cluster; stopped and deleted on drop.
#[derive(Debug)]
pub struct LocalCluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
    password: Option<String>,
    settings: Vec<String>,
}

/// The newest `/usr/lib/postgresql/<major>/bin` holding `initdb`.
pub fn newest_server_bin() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let major: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((major, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, p)| p)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn postgres_ids() -> Option<(u32, u32)> {
    let name = std::ffi::CString::new("postgres").ok()?;
    // SAFETY: getpwnam returns null or a pointer to a static record read at once.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return None;
    }
    // SAFETY: checked non-null above.
    Some(unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
}

fn chown(path: &Path, ids: (u32, u32)) -> std::io::Result<()> {
    std::os::unix::fs::chown(path, Some(ids.0), Some(ids.1))
}

fn failed(what: &str, out: &Output) -> OpsError {
    OpsError::new(
        "cluster_failed",
        Category::Dependency,
        format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    )
}

impl LocalCluster {
    /// Creates and starts a cluster with the binaries in `bin`.
    pub fn start(bin: &Path, opts: &Options) -> Result<LocalCluster, OpsError> {
        let io = |what: &str, e: std::io::Error| OpsError::io(what, &e);
        let (cluster, ids) = LocalCluster::prepare(bin, opts)?;
        let data = cluster.data_dir();
        let mut args: Vec<String> = vec![
            "-D".into(),
            data.display().to_string(),
            "-U".into(),
            "postgres".into(),
            "-E".into(),
            "UTF8".into(),
            "--no-locale".into(),
            "--no-sync".into(),
        ];
        let pwfile = cluster.dir.join("pwfile");
        match &opts.password {
            Some(pw) => {
                ops_core::atomic::write_file(&pwfile, pw.as_bytes())
                    .map_err(|e| io("writing the password file", e))?;
                if let Some(ids) = ids {
                    chown(&pwfile, ids)
                        .map_err(|e| io("handing the password file to postgres", e))?;
                }
                args.push(format!("--pwfile={}", pwfile.display()));
                args.push("--auth=scram-sha-256".into());
            }
            None => args.push("--auth=trust".into()),
        }
        ops_core::failpoint::hit("cluster.before_initdb");
        let out = cluster.run_server_cmd("initdb", &args)?;
        let _ = std::fs::remove_file(&pwfile);
        if !out.status.success() {
            return Err(failed("initdb", &out));
        }
        cluster.start_server()?;
        Ok(cluster)
    }

    /// A hot standby of `primary`, streaming from it: `pg_basebackup -R -X stream` over the
    /// primary's socket (initdb's pg_hba.conf allows local replication), then started with
    /// `opts` on its own socket and port. Same binaries, same password.
    pub fn replica_of(primary: &LocalCluster, opts: &Options) -> Result<LocalCluster, OpsError> {
        let opts = Options {
            password: primary.password.clone(),
            ..opts.clone()
        };
        let (cluster, _) = LocalCluster::prepare(&primary.bin, &opts)?;
        let mut cmd = cluster.server_cmd("pg_basebackup");
        cmd.arg("-D")
            .arg(cluster.data_dir())
            .args([
                "-R",
                "-X",
                "stream",
                "--no-sync",
                "--checkpoint=fast",
                "-U",
                "postgres",
                "-h",
            ])
            .arg(&primary.dir)
            .arg("-p")
            .arg(primary.port.to_string());
        if let Some(pw) = &primary.password {
            cmd.env("PGPASSWORD", pw);
        }
        let out = cmd.output().map_err(|e| {
            OpsError::new(
                "cluster_failed",
                Category::Dependency,
                format!("cannot run pg_basebackup: {e}"),
            )
        })?;
        if !out.status.success() {
            return Err(failed("pg_basebackup", &out));
        }
        cluster.start_server()?;
        Ok(cluster)
    }

    /// A private directory for a new cluster (owned by `postgres` when root), watched from
    /// the start: a run killed before the server starts leaves no cluster directory.
    fn prepare(bin: &Path, opts: &Options) -> Result<(LocalCluster, Option<(u32, u32)>), OpsError> {
        let io = |what: &str, e: std::io::Error| OpsError::io(what, &e);
        let as_postgres = is_root();
        let ids = if as_postgres {
            Some(postgres_ids().ok_or_else(|| {
                OpsError::new(
                    "cluster_failed",
                    Category::Dependency,
                    "running as root needs a `postgres` user to run the server",
                )
            })?)
        } else {
            None
        };
        let mut random = [0u8; 6];
        getrandom::getrandom(&mut random)
            .map_err(|e| OpsError::new("internal", Category::Internal, e.to_string()))?;
        let dir = std::env::temp_dir().join(format!(
            "pgops-cluster-{}-{}",
            std::process::id(),
            hex(&random)
        ));
        ops_core::atomic::create_private_dir(&dir)
            .map_err(|e| io("creating the cluster directory", e))?;
        let cluster = LocalCluster {
            dir,
            bin: bin.to_path_buf(),
            port: opts.port.unwrap_or(5432),
            as_postgres,
            password: opts.password.clone(),
            settings: opts.settings.clone(),
        };
        if let Some(ids) = ids {
            chown(&cluster.dir, ids)
                .map_err(|e| io("handing the cluster directory to postgres", e))?;
        }
        cluster.spawn_watchdog()?;
        Ok((cluster, ids))
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The Unix socket directory (also the cluster's home).
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// Connection settings for the `postgres` role, database `dbname`.
    pub fn settings(&self, dbname: &str) -> ConnSettings {
        ConnSettings::local(
            &self.dir,
            self.port,
            "postgres",
            dbname,
            self.password.clone(),
        )
    }

    fn server_cmd(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        c.current_dir(&self.dir).stdin(Stdio::null());
        c
    }

    fn run_server_cmd(&self, program: &str, args: &[String]) -> Result<Output, OpsError> {
        self.server_cmd(program).args(args).output().map_err(|e| {
            OpsError::new(
                "cluster_failed",
                Category::Dependency,
                format!("cannot run {program}: {e}"),
            )
        })
    }

    /// Starts (or restarts) the server and waits until it accepts connections.
    pub fn start_server(&self) -> Result<(), OpsError> {
        let mut opts = format!(
            "-c listen_addresses='' -c unix_socket_directories='{}' -p {} -c fsync=off -c full_page_writes=off -c max_connections=100",
            self.dir.display(),
            self.port
        );
        for s in &self.settings {
            opts.push_str(&format!(" -c {s}"));
        }
        let log = self.dir.join("server.log");
        let out = self.run_server_cmd(
            "pg_ctl",
            &[
                "-D".into(),
                self.data_dir().display().to_string(),
                "-l".into(),
                log.display().to_string(),
                "-w".into(),
                "-t".into(),
                "60".into(),
                "-o".into(),
                opts,
                "start".into(),
            ],
        )?;
        if !out.status.success() {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(OpsError::new(
                "cluster_failed",
                Category::Dependency,
                format!(
                    "pg_ctl start failed: {} {}",
                    String::from_utf8_lossy(&out.stderr).trim(),
                    tail.trim()
                ),
            ));
        }
        Ok(())
    }

    /// Stops the server at once (`-m immediate`).
    pub fn stop_server(&self) {
        let _ = self.run_server_cmd(
            "pg_ctl",
            &[
                "-D".into(),
                self.data_dir().display().to_string(),
                "-m".into(),
                "immediate".into(),
                "-w".into(),
                "stop".into(),
            ],
        );
    }

    /// Stops the server and deletes the directory once this process is gone.
    fn spawn_watchdog(&self) -> Result<(), OpsError> {
        let script = format!(
            "while [ -d /proc/{pid} ]; do sleep 1; done; [ -d '{data}' ] && {pg_ctl} -D '{data}' -m immediate stop >/dev/null 2>&1; rm -rf '{dir}'",
            pid = std::process::id(),
            pg_ctl = self.bin.join("pg_ctl").display(),
            data = self.data_dir().display(),
            dir = self.dir.display(),
        );
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", "sh", "-c", &script]);
            c
        } else {
            let mut c = Command::new("sh");
            c.args(["-c", &script]);
            c
        };
        // The watchdog outlives this process by design; it is never waited for.
        #[allow(clippy::zombie_processes)]
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                OpsError::new(
                    "cluster_failed",
                    Category::Dependency,
                    format!("cannot start the cluster watchdog: {e}"),
                )
            })?;
        Ok(())
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.stop_server();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
