//! Supervised child processes (pg_dump, pg_restore, psql): each in its own process group,
//! killed with its whole group when the run must stop, killed by the kernel if the tool
//! itself dies (`PR_SET_PDEATHSIG`), its stderr kept (the end, where the error is).

use crate::OpsError;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How much of a child's stderr is kept.
pub const STDERR_TAIL: usize = 16 * 1024;

/// A running child.
#[derive(Debug)]
pub struct Supervised {
    child: Child,
    stderr: JoinHandle<Vec<u8>>,
    finished: Arc<AtomicBool>,
    stopped: Arc<Mutex<Option<OpsError>>>,
    watchdog: JoinHandle<()>,
}

/// How a child ended.
#[derive(Debug)]
pub struct Ended {
    pub status: std::io::Result<ExitStatus>,
    /// Why it was killed, if the stop condition fired.
    pub stopped: Option<OpsError>,
    /// The end of its stderr (not yet redacted).
    pub stderr: String,
}

impl Ended {
    /// The line of stderr that says what went wrong: the last one naming an error (psql
    /// follows its error with the statement and a caret), else the last non-empty one.
    pub fn last_line(&self) -> &str {
        let lines = || {
            self.stderr
                .lines()
                .rev()
                .map(str::trim)
                .filter(|l| !l.is_empty())
        };
        lines()
            .find(|l| l.contains("ERROR:") || l.contains("FATAL:") || l.contains("error:"))
            .or_else(|| lines().next())
            .unwrap_or("")
    }
}

/// The file name of the program `cmd` runs (`pg_restore`), for messages.
pub fn program_name(cmd: &Command) -> String {
    std::path::Path::new(cmd.get_program())
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Spawns `cmd` (stderr is captured; stdin/stdout as the caller set them). `stop` is polled
/// every 50 ms; when it returns an error the whole process group is killed.
pub fn spawn(
    mut cmd: Command,
    stop: impl Fn() -> Option<OpsError> + Send + 'static,
) -> std::io::Result<Supervised> {
    cmd.stderr(Stdio::piped()).process_group(0);
    // SAFETY: prctl is async-signal-safe and only affects the child being created.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    let pid = child.id();
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let stderr = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 8192];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
            if all.len() > 2 * STDERR_TAIL {
                all.drain(..all.len() - STDERR_TAIL);
            }
        }
        all
    });
    let finished = Arc::new(AtomicBool::new(false));
    let stopped: Arc<Mutex<Option<OpsError>>> = Arc::default();
    let watchdog = {
        let finished = finished.clone();
        let stopped = stopped.clone();
        std::thread::spawn(move || {
            while !finished.load(Ordering::SeqCst) {
                if let Some(reason) = stop() {
                    *stopped.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason);
                    kill_group(pid);
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    Ok(Supervised {
        child,
        stderr,
        finished,
        stopped,
        watchdog,
    })
}

fn kill_group(pid: u32) {
    // SAFETY: killpg only sends a signal; the group was created for this child.
    unsafe {
        libc::killpg(pid as libc::pid_t, libc::SIGKILL);
    }
}

impl Supervised {
    pub fn stdin(&mut self) -> Option<ChildStdin> {
        self.child.stdin.take()
    }

    pub fn stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// Kills the child's whole process group (e.g. when its output can no longer be used).
    pub fn kill(&self) {
        kill_group(self.child.id());
    }

    /// Waits for the child and its stderr.
    pub fn wait(mut self) -> Ended {
        let status = self.child.wait();
        self.finished.store(true, Ordering::SeqCst);
        let _ = self.watchdog.join();
        let bytes = self.stderr.join().unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        let tail = if text.len() > STDERR_TAIL {
            let mut cut = text.len() - STDERR_TAIL;
            while !text.is_char_boundary(cut) {
                cut += 1;
            }
            text[cut..].to_string()
        } else {
            text.into_owned()
        };
        let stopped = self
            .stopped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        Ended {
            status,
            stopped,
            stderr: tail,
        }
    }
}

/// `name` in `bin_dir`, or the first on PATH (then in /usr/sbin and /sbin, where Debian
/// puts iptables-save and nft).
pub fn locate(name: &str, bin_dir: Option<&Path>) -> Option<PathBuf> {
    match bin_dir {
        Some(dir) => Some(dir.join(name)).filter(|p| p.is_file()),
        None => std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_stderr_and_status() {
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "echo oops >&2; echo 'ERROR:  the cause' >&2; echo '  ^' >&2; exit 3",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
        let ended = spawn(cmd, || None).unwrap().wait();
        assert_eq!(ended.last_line(), "ERROR:  the cause");
        assert_eq!(ended.status.unwrap().code(), Some(3));
        assert!(ended.stopped.is_none());
    }

    #[test]
    fn the_stop_condition_kills_the_whole_group() {
        let mut cmd = Command::new("sh");
        // A grandchild that would outlive a plain kill of `sh`.
        cmd.args(["-c", "sleep 30 & sleep 30; wait"])
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let t = std::time::Instant::now();
        let ended = spawn(cmd, || {
            Some(OpsError::new("timeout", crate::Category::Timeout, "stop"))
        })
        .unwrap()
        .wait();
        assert!(t.elapsed() < Duration::from_secs(10));
        assert_eq!(ended.stopped.unwrap().code, "timeout");
    }
}
