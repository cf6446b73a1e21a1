//! The scratch database a drill restores into, and its lifecycle: created empty, dropped
//! (or its ephemeral cluster deleted) whatever happens, unless `--keep`.

use ops_core::OpsError;
use ops_pg::cluster::LocalCluster;
use ops_pg::conn::ConnSettings;

/// `pgops_drill_<db>_<time>`: lowercase, `[a-z0-9_]`, at most 63 bytes, so it needs no
/// quoting and can never be parsed as a conninfo.
pub fn scratch_name(source_db: &str, started: jiff::Timestamp) -> String {
    let mut db: String = source_db
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    db.truncate(30);
    format!(
        "pgops_drill_{db}_{}",
        ops_core::timefmt::set_id(started).to_lowercase()
    )
}

/// Where the scratch database lives.
#[derive(Debug)]
pub enum Place {
    /// The configured server (maintenance connection settings).
    Server(ConnSettings),
    /// A private cluster started for this drill.
    Ephemeral(LocalCluster),
}

/// A scratch database this drill created.
pub struct Scratch {
    pub name: String,
    place: Place,
    keep: bool,
    dropped: bool,
    /// On the server: the connection holding this drill's advisory lock on the scratch
    /// name for as long as the drill lives. A drill killed by SIGKILL loses it, which is how
    /// a later drill proves a leftover scratch database has no owner any more.
    _owner: Option<postgres::Client>,
}

impl std::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scratch")
            .field("name", &self.name)
            .field("place", &self.place)
            .field("keep", &self.keep)
            .finish()
    }
}

/// The mark a drill writes on each scratch database it creates (its comment). Only marked
/// databases are ever dropped by a later drill.
pub const SCRATCH_MARK: &str = "pgops restore-drill scratch";
const KEPT_MARK: &str = "pgops restore-drill scratch (--keep)";
/// The first key of every pgops advisory lock (`pgop`).
const LOCK_CLASS: i32 = 0x7067_6f70;

/// The second key of a scratch database's advisory lock.
fn lock_key(name: &str) -> i32 {
    use sha2::Digest;
    let d = sha2::Sha256::digest(name.as_bytes());
    i32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// The major version of the server `admin` reaches.
pub use ops_restore::server_major;
use ops_restore::sql_error;

/// What a drill did with a `pgops_drill_*` database it found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LeftoverAction {
    /// Marked by a drill that is gone: dropped.
    Dropped,
    /// Marked `--keep`: the operator drops it.
    Kept,
    /// Its drill still runs.
    InUse,
    /// Not provably a drill's: never touched.
    Unmarked,
}

impl LeftoverAction {
    /// Dropping our own garbage and seeing a live drill are routine; the rest needs a person.
    pub fn severity(self) -> ops_core::event::Severity {
        match self {
            LeftoverAction::Dropped | LeftoverAction::InUse => ops_core::event::Severity::Info,
            LeftoverAction::Kept | LeftoverAction::Unmarked => ops_core::event::Severity::Warning,
        }
    }
}

/// A `pgops_drill_*` database found on the server before a drill.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Leftover {
    pub name: String,
    pub action: LeftoverAction,
    pub reason: String,
}

/// Finds scratch databases that earlier drills left on the server (killed before they
/// could drop them) and drops those that a drill provably created (its mark) and whose
/// drill is provably gone (its advisory lock is free). Everything else is reported only.
pub fn sweep_leftovers(admin: &ConnSettings) -> Result<Vec<Leftover>, OpsError> {
    let mut client = admin.connect()?;
    let rows = client
        .query(
            "SELECT datname, coalesce(shobj_description(oid, 'pg_database'), '') \
             FROM pg_database WHERE datname LIKE 'pgops\\_drill\\_%' ORDER BY datname",
            &[],
        )
        .map_err(|e| sql_error("listing leftover scratch databases", e))?;
    let mut out = Vec::new();
    for row in rows {
        let name: String = row.get(0);
        let comment: String = row.get(1);
        let valid_name = name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if comment == KEPT_MARK {
            out.push(Leftover {
                name,
                action: LeftoverAction::Kept,
                reason: "kept by restore-drill --keep: drop it by hand when done".into(),
            });
            continue;
        }
        if comment != SCRATCH_MARK || !valid_name {
            out.push(Leftover {
                name,
                action: LeftoverAction::Unmarked,
                reason:
                    "named like a scratch database but not marked by restore-drill: never touched"
                        .into(),
            });
            continue;
        }
        // Waits a little: the backend of a drill killed a moment ago may not have seen its
        // client go yet. A live drill holds the lock far longer.
        let key = lock_key(&name);
        client
            .batch_execute("SET lock_timeout = '3s'")
            .map_err(|e| sql_error("checking a leftover scratch database", e))?;
        let free = client
            .execute("SELECT pg_advisory_lock($1, $2)", &[&LOCK_CLASS, &key])
            .is_ok();
        client
            .batch_execute("RESET lock_timeout")
            .map_err(|e| sql_error("checking a leftover scratch database", e))?;
        if !free {
            out.push(Leftover {
                name,
                action: LeftoverAction::InUse,
                reason: "its drill is still running".into(),
            });
            continue;
        }
        let dropped = client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .map_err(|e| sql_error("dropping a leftover scratch database", e));
        let _ = client.execute("SELECT pg_advisory_unlock($1, $2)", &[&LOCK_CLASS, &key]);
        dropped?;
        out.push(Leftover {
            name,
            action: LeftoverAction::Dropped,
            reason: "left by a drill that died before it could drop it".into(),
        });
    }
    Ok(out)
}

impl Scratch {
    /// Creates the empty scratch database. Refuses a name that is the source itself, and
    /// never reuses a database that exists: CREATE DATABASE fails instead.
    pub fn create(
        place: Place,
        name: String,
        source_db: &str,
        keep: bool,
    ) -> Result<Scratch, OpsError> {
        if name == source_db {
            return Err(OpsError::validation(
                "target_is_source",
                "the scratch database would be the source database itself",
            ));
        }
        let admin = match &place {
            Place::Server(s) => s.clone(),
            Place::Ephemeral(c) => c.settings("postgres"),
        };
        let mut client = admin.connect()?;
        let owner = match &place {
            Place::Server(_) => {
                // Owned before it exists: a sweeping drill sees the lock taken.
                client
                    .execute(
                        "SELECT pg_advisory_lock($1, $2)",
                        &[&LOCK_CLASS, &lock_key(&name)],
                    )
                    .map_err(|e| sql_error("locking the scratch name", e))?;
                true
            }
            Place::Ephemeral(_) => false,
        };
        client
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE template0"))
            .map_err(|e| sql_error("creating the scratch database", e))?;
        let mark = if keep { KEPT_MARK } else { SCRATCH_MARK };
        client
            .batch_execute(&format!("COMMENT ON DATABASE {name} IS '{mark}'"))
            .map_err(|e| sql_error("marking the scratch database", e))?;
        Ok(Scratch {
            name,
            place,
            keep,
            dropped: false,
            _owner: owner.then_some(client),
        })
    }

    /// Settings to connect to the scratch database.
    pub fn settings(&self) -> ConnSettings {
        match &self.place {
            Place::Server(s) => s.for_database(&self.name),
            Place::Ephemeral(c) => c.settings(&self.name),
        }
    }

    /// Settings for the target server's `postgres` database (globals go there).
    pub fn admin_settings(&self) -> ConnSettings {
        match &self.place {
            Place::Server(s) => s.clone(),
            Place::Ephemeral(c) => c.settings("postgres"),
        }
    }

    pub fn is_ephemeral(&self) -> bool {
        matches!(self.place, Place::Ephemeral(_))
    }

    /// Drops the scratch database now (an ephemeral cluster goes with the value).
    pub fn drop_now(&mut self) -> Result<(), OpsError> {
        if self.keep || self.dropped {
            return Ok(());
        }
        self.dropped = true;
        if let Place::Server(admin) = &self.place {
            let mut client = admin.connect()?;
            client
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ))
                .map_err(|e| sql_error("dropping the scratch database", e))?;
        }
        Ok(())
    }

    /// Keeps the ephemeral cluster alive past this process (`--keep`).
    pub fn kept(&self) -> bool {
        self.keep
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = self.drop_now() {
            eprintln!("restore-drill: could not drop {}: {e}", self.name);
        }
        if self.keep {
            if let Place::Ephemeral(c) = &self.place {
                eprintln!(
                    "restore-drill: --keep: the ephemeral cluster stays at {} until this process's watchdog removes it",
                    c.socket_dir().display()
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn scratch_names_are_safe_and_short() {
        let t: jiff::Timestamp = "2026-11-24T03:00:01Z".parse().unwrap();
        assert_eq!(
            super::scratch_name("Shop", t),
            "pgops_drill_shop_20261124t030001z"
        );
        let n = super::scratch_name(&"ü/\"x".repeat(30), t);
        assert!(
            n.len() <= 63
                && n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{n}"
        );
    }
}
