//! Backing up from a hot standby (issue #27), so that the dump's load stays off the
//! primary. A standby replays the primary's WAL; a long dump's snapshot can conflict with
//! that replay, and PostgreSQL then cancels the dump ("canceling statement due to conflict
//! with recovery") once `max_standby_streaming_delay` has passed. pgops pauses replay for
//! the run, as pg_back does (`--standby-replay pause`, the default), and resumes it when
//! the run ends, whatever ends it short of SIGKILL; the position it paused at is the
//! position every set of the run holds, and the manifest records it. A run killed while
//! replay was paused leaves a marker in the catalog (`.standby-replay-paused`, beside the
//! lock every run holds): the next run on that standby resumes replay and says so
//! (`backup.replay_resumed`, ADR 0027).

use ops_core::{Category, OpsError};
use ops_pg::conn::ConnSettings;
use std::path::{Path, PathBuf};

use ops_catalog::catalog::StandbySource;

/// What to do about replay while dumping from a standby.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReplayPolicy {
    /// Pause replay for the run and resume it after (needs EXECUTE on
    /// pg_wal_replay_pause/resume).
    Pause,
    /// Leave replay running: a conflict may cancel the dump (set
    /// max_standby_streaming_delay = -1 or hot_standby_feedback on the standby).
    Continue,
}

fn query_error(what: &str, err: postgres::Error) -> OpsError {
    let denied = err
        .as_db_error()
        .is_some_and(|e| e.code() == &postgres::error::SqlState::INSUFFICIENT_PRIVILEGE);
    if denied {
        OpsError::new(
            "standby_pause_denied",
            Category::Authz,
            format!(
                "{what}: {err}; GRANT EXECUTE ON FUNCTION pg_wal_replay_pause(), pg_wal_replay_resume() \
                 TO the backup role, or pass --standby-replay continue (and set \
                 max_standby_streaming_delay = -1 or hot_standby_feedback = on on the standby)"
            ),
        )
    } else {
        OpsError::new(
            "query_failed",
            Category::Dependency,
            format!("{what}: {err}"),
        )
    }
}

fn replay_position(client: &mut postgres::Client) -> Result<(String, Option<String>), OpsError> {
    let row = client
        .query_one(
            "SELECT pg_last_wal_replay_lsn()::text, \
                    to_char(pg_last_xact_replay_timestamp() AT TIME ZONE 'UTC', \
                            'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
            &[],
        )
        .map_err(|e| query_error("reading the replay position", e))?;
    Ok((
        row.get::<_, Option<String>>(0).unwrap_or_default(),
        row.get(1),
    ))
}

/// The marker a run leaves in the catalog while it holds replay paused: removed when it
/// resumes.
fn marker(catalog: &Path) -> PathBuf {
    catalog.join(ops_catalog::catalog::STANDBY_MARKER)
}

/// The server a marker is about: its host and port as the run connected.
fn server_of(settings: &ConnSettings) -> serde_json::Value {
    let d = settings.describe();
    serde_json::json!({"host": d["host"], "port": d["port"]})
}

/// Replay paused for a run: resumed when dropped (the run's end, an error, SIGINT or
/// SIGTERM, which end the run normally).
pub struct Paused {
    client: postgres::Client,
    marker: PathBuf,
    pub facts: StandbySource,
}

impl std::fmt::Debug for Paused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Paused")
            .field("facts", &self.facts)
            .finish()
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        if self
            .client
            .execute("SELECT pg_wal_replay_resume()", &[])
            .is_ok()
        {
            let _ = std::fs::remove_file(&self.marker);
        }
    }
}

/// What a run on a standby holds: replay paused (and resumed on drop), or only the facts.
#[derive(Debug)]
pub enum Hold {
    Paused(Box<Paused>),
    Running(StandbySource),
}

impl Hold {
    pub fn facts(&self) -> &StandbySource {
        match self {
            Hold::Paused(p) => &p.facts,
            Hold::Running(f) => f,
        }
    }
}

/// What a standby left by a killed run was found in: replay resumed, or nothing to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftPaused {
    /// The pid of the run that paused it.
    pub pid: i32,
}

/// Resumes replay on the standby of `settings` when the catalog says a run that is gone
/// paused it (SIGKILL, a crash): a standby must not stay behind its primary because a
/// backup died. Returns that run's pid when it did. Called under the catalog's writer lock.
pub fn resume_if_left(
    settings: &ConnSettings,
    catalog: &Path,
) -> Result<Option<LeftPaused>, OpsError> {
    let path = marker(catalog);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let left = serde_json::from_str::<serde_json::Value>(&text).unwrap_or_default();
    let pid = left["pid"].as_i64().unwrap_or(0) as i32;
    if left["server"] != server_of(settings) {
        // Another server's: resumed by the run that backs that one up.
        return Ok(None);
    }
    let mut client = settings.connect()?;
    client
        .execute("SELECT pg_wal_replay_resume()", &[])
        .map_err(|e| query_error("resuming the replay a killed run left paused", e))?;
    let _ = std::fs::remove_file(&path);
    Ok(Some(LeftPaused { pid }))
}

/// Takes hold of a standby for the run: pauses replay (and waits until it is paused) or,
/// with `--standby-replay continue`, only reads where replay is.
pub fn hold(
    settings: &ConnSettings,
    policy: ReplayPolicy,
    catalog: &Path,
) -> Result<Hold, OpsError> {
    let mut client = settings.connect()?;
    if policy == ReplayPolicy::Continue {
        let (replay_lsn, replayed_at) = replay_position(&mut client)?;
        return Ok(Hold::Running(StandbySource {
            replay_lsn,
            replayed_at,
            replay_paused: false,
        }));
    }
    // The marker first: a kill between the pause and the marker would leave a paused
    // standby no later run knows of.
    let marker = marker(catalog);
    let body = serde_json::json!({
        "pid": std::process::id(),
        "server": server_of(settings),
        "paused_at": ops_core::timefmt::now_rfc3339(),
    });
    ops_core::atomic::write_file(&marker, body.to_string().as_bytes())
        .map_err(|e| OpsError::io("writing the replay marker", &e))?;
    let paused = client
        .execute("SELECT pg_wal_replay_pause()", &[])
        .map_err(|e| query_error("pausing replay on the standby", e));
    if let Err(e) = paused {
        let _ = std::fs::remove_file(&marker);
        return Err(e);
    }
    let mut hold = Paused {
        client,
        marker,
        facts: StandbySource {
            replay_lsn: String::new(),
            replayed_at: None,
            replay_paused: true,
        },
    };
    // pg_wal_replay_pause only asks: replay stops at its next record.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let state: String = hold
            .client
            .query_one("SELECT pg_get_wal_replay_pause_state()", &[])
            .map_err(|e| query_error("waiting for replay to pause", e))?
            .get(0);
        if state == "paused" {
            break;
        }
        if std::time::Instant::now() > deadline {
            return Err(OpsError::new(
                "standby_pause_failed",
                Category::Dependency,
                format!("replay did not pause within 30 s (state {state})"),
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (replay_lsn, replayed_at) = replay_position(&mut hold.client)?;
    hold.facts.replay_lsn = replay_lsn;
    hold.facts.replayed_at = replayed_at;
    Ok(Hold::Paused(Box::new(hold)))
}
