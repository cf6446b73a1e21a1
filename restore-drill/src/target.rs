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

/// A drill's scratch databases, as [`ops_restore::owned`] finds them.
const DRILL: ops_restore::owned::Kind<'static> = ops_restore::owned::Kind {
    pattern: "pgops\\_drill\\_%",
    mark: SCRATCH_MARK,
    kept_mark: KEPT_MARK,
    maker: "drill",
};

/// The major version of the server `admin` reaches.
pub use ops_restore::server_major;
use ops_restore::sql_error;

pub use ops_restore::owned::{Leftover, LeftoverAction};

/// Finds scratch databases that earlier drills left on the server (killed before they
/// could drop them) and drops those that a drill provably created (its mark) and whose
/// drill is provably gone (its advisory lock is free). Everything else is reported only.
pub fn sweep_leftovers(admin: &ConnSettings) -> Result<Vec<Leftover>, OpsError> {
    ops_restore::owned::sweep(admin, &DRILL)
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
        let mut client = match &place {
            Place::Server(_) => ops_restore::owned::create(&admin, &name, &DRILL)?,
            Place::Ephemeral(_) => {
                // A private cluster: nobody else sweeps it, it goes with the drill.
                let mut client = admin.connect()?;
                client
                    .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE template0"))
                    .map_err(|e| sql_error("creating the scratch database", e))?;
                ops_restore::owned::mark(&mut client, &name, SCRATCH_MARK)?;
                client
            }
        };
        if keep {
            ops_restore::owned::mark(&mut client, &name, KEPT_MARK)?;
        }
        let owner = matches!(place, Place::Server(_));
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
