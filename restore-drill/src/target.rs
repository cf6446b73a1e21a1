//! The scratch database a drill restores into, and its lifecycle: created empty, dropped
//! (or its ephemeral cluster deleted) whatever happens, unless `--keep`.

use ops_core::cluster::LocalCluster;
use ops_core::conn::ConnSettings;
use ops_core::{Category, OpsError};

/// `pgops_drill_<db>_<time>`: lowercase, `[a-z0-9_]`, at most 63 bytes, so it needs no
/// quoting and can never be parsed as a conninfo.
pub fn scratch_name(source_db: &str, started: time::OffsetDateTime) -> String {
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
#[derive(Debug)]
pub struct Scratch {
    pub name: String,
    place: Place,
    keep: bool,
    dropped: bool,
}

fn sql_error(what: &str, e: postgres::Error) -> OpsError {
    let detail = e
        .as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_else(|| e.to_string());
    OpsError::new(
        "target_failed",
        Category::Dependency,
        format!("{what}: {detail}"),
    )
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
        client
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE template0"))
            .map_err(|e| sql_error("creating the scratch database", e))?;
        Ok(Scratch {
            name,
            place,
            keep,
            dropped: false,
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
        let t = time::macros::datetime!(2026-11-24 03:00:01 UTC);
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
