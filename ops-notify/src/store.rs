//! What ops-notify keeps in `<state dir>/notify/` (ADR 0024 §7): the watch's memory, the
//! outbox of messages not yet delivered (the message and the target's line and
//! fingerprint, never its URL), and the delivery counts ops-status exports as
//! `pgops_notify_*_total`. Concurrent runs (a unit's message while the watch runs) take
//! `notify/.lock` around every read-modify-write.

use crate::message::Message;
use crate::watch::{WatchState, STATE_FILE};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// The subdirectory of the state directory.
pub const NOTIFY_DIR: &str = "notify";
/// The delivery counts, read by ops-status.
pub const STATS_FILE: &str = "stats.json";
const OUTBOX_DIR: &str = "outbox";
/// A held message is given up this long after its first attempt.
pub const GIVE_UP_AFTER: SignedDuration = SignedDuration::from_hours(24);

/// A message waiting for another attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Queued {
    pub v: u32,
    pub target_line: usize,
    /// The target's fingerprint: a line edited since is a different target, and the
    /// message is not sent to it.
    pub fingerprint: String,
    pub label: String,
    pub scheme: String,
    pub attempts: u32,
    pub first_at: Timestamp,
    pub next_at: Timestamp,
    pub last_error: String,
    pub message: Message,
}

impl Queued {
    /// The wait before the next attempt after `attempts`: 1, 2, 4… minutes, at most 6 h.
    pub fn backoff(attempts: u32) -> SignedDuration {
        let minutes = 1i64 << attempts.min(9);
        SignedDuration::from_mins(minutes.min(360))
    }
}

/// Deliveries counted per sink scheme.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub v: u32,
    pub sent: BTreeMap<String, u64>,
    /// Failed attempts to deliver (a message tried again later counts each time).
    pub failures: BTreeMap<String, u64>,
    /// Messages given up on.
    pub dropped: BTreeMap<String, u64>,
    pub last_failure_at: Option<Timestamp>,
    pub last_sent_at: Option<Timestamp>,
}

/// How a delivery ended, for the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    Failed,
    Dropped,
}

/// `<state dir>/notify/`.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// An exclusive lock on the store, released when dropped.
#[derive(Debug)]
pub struct Lock {
    // Held open: the lock lasts as long as the descriptor.
    _file: std::fs::File,
}

impl Store {
    /// The store in `state_dir`, created (private) if missing.
    pub fn open(state_dir: &Path) -> std::io::Result<Store> {
        let dir = state_dir.join(NOTIFY_DIR);
        ops_core::atomic::ensure_private_dir(&dir)?;
        ops_core::atomic::ensure_private_dir(&dir.join(OUTBOX_DIR))?;
        Ok(Store { dir })
    }

    pub fn lock(&self) -> std::io::Result<Lock> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(".lock"))?;
        // SAFETY: flock on a descriptor this function owns; blocking until it is free
        // (every holder only reads and writes small files).
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Lock { _file: f })
    }

    fn read<T: for<'de> Deserialize<'de> + Default>(&self, name: &str) -> T {
        // A torn or hand-edited file starts afresh: losing the memory of a watch costs a
        // repeated message, never a lost one.
        std::fs::read(self.dir.join(name))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn write(&self, name: &str, value: &impl Serialize) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(value).expect("records serialize");
        ops_core::atomic::write_file_mode(&self.dir.join(name), &bytes, 0o600)
    }

    pub fn watch_state(&self, _: &Lock) -> WatchState {
        self.read(STATE_FILE)
    }

    pub fn save_watch_state(&self, _: &Lock, s: &WatchState) -> std::io::Result<()> {
        self.write(STATE_FILE, s)
    }

    /// Counts `outcome` for `scheme`.
    pub fn count(&self, scheme: &str, outcome: Outcome, now: Timestamp) -> std::io::Result<()> {
        let lock = self.lock()?;
        let mut s: Stats = self.read(STATS_FILE);
        s.v = 1;
        let map = match outcome {
            Outcome::Sent => {
                s.last_sent_at = Some(now);
                &mut s.sent
            }
            Outcome::Failed => {
                s.last_failure_at = Some(now);
                &mut s.failures
            }
            Outcome::Dropped => &mut s.dropped,
        };
        *map.entry(scheme.to_string()).or_default() += 1;
        let written = self.write(STATS_FILE, &s);
        drop(lock);
        written
    }

    pub fn stats(&self) -> Stats {
        self.read(STATS_FILE)
    }

    fn outbox(&self) -> PathBuf {
        self.dir.join(OUTBOX_DIR)
    }

    /// Puts `q` in the outbox (a new file: concurrent runs never write the same one).
    pub fn queue(&self, q: &Queued) -> std::io::Result<PathBuf> {
        let name = format!("{}.json", ops_core::event::new_correlation_id());
        let path = self.outbox().join(name);
        ops_core::atomic::write_file_mode(
            &path,
            &serde_json::to_vec_pretty(q).expect("records serialize"),
            0o600,
        )?;
        Ok(path)
    }

    /// Replaces a queued message's record (after another failed attempt).
    pub fn requeue(&self, path: &Path, q: &Queued) -> std::io::Result<()> {
        ops_core::atomic::write_file_mode(
            path,
            &serde_json::to_vec_pretty(q).expect("records serialize"),
            0o600,
        )
    }

    pub fn unqueue(&self, path: &Path) -> std::io::Result<()> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Every queued message, oldest first; a record that cannot be read is skipped (and
    /// stays, for a person to look at).
    pub fn queued(&self) -> Vec<(PathBuf, Queued)> {
        let mut out: Vec<(PathBuf, Queued)> = std::fs::read_dir(self.outbox())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .filter_map(|p| {
                let q = serde_json::from_slice(&std::fs::read(&p).ok()?).ok()?;
                Some((p, q))
            })
            .collect();
        out.sort_by_key(|(_, q)| q.first_at);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_the_outbox_survive_between_runs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        store.count("smtp", Outcome::Failed, now).unwrap();
        store.count("smtp", Outcome::Failed, now).unwrap();
        store.count("ntfy", Outcome::Sent, now).unwrap();
        let s = Store::open(dir.path()).unwrap().stats();
        assert_eq!((s.failures["smtp"], s.sent["ntfy"]), (2, 1));
        assert_eq!(Queued::backoff(0), SignedDuration::from_mins(1));
        assert_eq!(Queued::backoff(3), SignedDuration::from_mins(8));
        assert_eq!(Queued::backoff(30), SignedDuration::from_hours(6));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(NOTIFY_DIR))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the outbox holds messages: private");
    }
}
