//! Databases a run creates on a live server for its own use (a drill's scratch database,
//! the side database of `backup-restore --swap`) and owns while it lives: marked with a
//! comment and held by an advisory lock on its name, taken before it exists, on a
//! connection of the run. A run killed by SIGKILL loses the lock; a later run finds the
//! mark with a free lock and drops the database, and reports it. A database that is not
//! marked, or whose owner still runs, is never touched.

use crate::sql_error;
use ops_core::OpsError;
use ops_pg::conn::ConnSettings;

/// The first key of every pgops advisory lock (`pgop`).
const LOCK_CLASS: i32 = 0x7067_6f70;

/// The second key of a database's owner lock.
fn lock_key(name: &str) -> i32 {
    use sha2::Digest;
    let d = sha2::Sha256::digest(name.as_bytes());
    i32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// What a sweep did with a database it found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LeftoverAction {
    /// Marked by a run that is gone: dropped.
    Dropped,
    /// Marked to be kept (`--keep`, a failed recount): the operator drops it.
    Kept,
    /// Its run still runs.
    InUse,
    /// Not provably pgops': never touched.
    Unmarked,
}

impl LeftoverAction {
    /// Dropping our own garbage and seeing a live run are routine; the rest needs a person.
    pub fn severity(self) -> ops_core::event::Severity {
        match self {
            LeftoverAction::Dropped | LeftoverAction::InUse => ops_core::event::Severity::Info,
            LeftoverAction::Kept | LeftoverAction::Unmarked => ops_core::event::Severity::Warning,
        }
    }
}

/// A database found by [`sweep`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Leftover {
    pub name: String,
    pub action: LeftoverAction,
    pub reason: String,
}

/// What one kind of owned database looks like.
#[derive(Debug, Clone, Copy)]
pub struct Kind<'a> {
    /// `LIKE` pattern of its names.
    pub pattern: &'a str,
    /// The comment of one its run may drop once the run is gone.
    pub mark: &'a str,
    /// The comment of one kept on purpose.
    pub kept_mark: &'a str,
    /// Which run makes it, for the reasons given.
    pub maker: &'a str,
}

/// Creates `name` (`TEMPLATE template0`, quoted as given) marked as `kind`'s, owned by the
/// returned connection: the database is this run's for as long as it holds it.
pub fn create(
    admin: &ConnSettings,
    name: &str,
    kind: &Kind<'_>,
) -> Result<postgres::Client, OpsError> {
    let mut client = admin.connect()?;
    // Owned before it exists: a sweeping run sees the lock taken.
    client
        .execute(
            "SELECT pg_advisory_lock($1, $2)",
            &[&LOCK_CLASS, &lock_key(name)],
        )
        .map_err(|e| sql_error("locking the name of a database to create", e))?;
    let q = crate::proof::quote_ident(name);
    client
        .batch_execute(&format!("CREATE DATABASE {q} TEMPLATE template0"))
        .map_err(|e| sql_error(&format!("creating {name:?}"), e))?;
    mark(&mut client, name, kind.mark)?;
    Ok(client)
}

/// Sets the comment that says whose `name` is (`kind.mark`, or `kind.kept_mark` to keep it).
pub fn mark(client: &mut postgres::Client, name: &str, mark: &str) -> Result<(), OpsError> {
    client
        .batch_execute(&format!(
            "COMMENT ON DATABASE {} IS '{}'",
            crate::proof::quote_ident(name),
            mark.replace('\'', "''")
        ))
        .map_err(|e| sql_error(&format!("marking {name:?}"), e))
}

/// Finds the databases named like `kind`'s that earlier runs left on the server (killed
/// before they could drop them) and drops those that such a run provably created (its
/// mark) and whose run is provably gone (its lock is free). Everything else is reported.
pub fn sweep(admin: &ConnSettings, kind: &Kind<'_>) -> Result<Vec<Leftover>, OpsError> {
    let mut client = admin.connect()?;
    let rows = client
        .query(
            "SELECT datname::text, coalesce(shobj_description(oid, 'pg_database'), '') \
             FROM pg_database WHERE datname LIKE $1 ORDER BY datname",
            &[&kind.pattern],
        )
        .map_err(|e| sql_error("listing leftover databases", e))?;
    let mut out = Vec::new();
    for row in rows {
        let name: String = row.get(0);
        let comment: String = row.get(1);
        let leftover = |action, reason: String| Leftover {
            name: name.clone(),
            action,
            reason,
        };
        if comment == kind.kept_mark {
            out.push(leftover(
                LeftoverAction::Kept,
                format!("kept by {}: drop it by hand when done", kind.maker),
            ));
            continue;
        }
        if comment != kind.mark {
            out.push(leftover(
                LeftoverAction::Unmarked,
                format!(
                    "named like a database of {} but not marked by it: never touched",
                    kind.maker
                ),
            ));
            continue;
        }
        // Waits a little: the backend of a run killed a moment ago may not have seen its
        // client go yet. A live run holds the lock far longer.
        let key = lock_key(&name);
        client
            .batch_execute("SET lock_timeout = '3s'")
            .map_err(|e| sql_error("checking a leftover database", e))?;
        let free = client
            .execute("SELECT pg_advisory_lock($1, $2)", &[&LOCK_CLASS, &key])
            .is_ok();
        client
            .batch_execute("RESET lock_timeout")
            .map_err(|e| sql_error("checking a leftover database", e))?;
        if !free {
            out.push(leftover(
                LeftoverAction::InUse,
                format!("its {} is still running", kind.maker),
            ));
            continue;
        }
        let dropped = client
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                crate::proof::quote_ident(&name)
            ))
            .map_err(|e| sql_error("dropping a leftover database", e));
        let _ = client.execute("SELECT pg_advisory_unlock($1, $2)", &[&LOCK_CLASS, &key]);
        dropped?;
        out.push(leftover(
            LeftoverAction::Dropped,
            format!("left by a {} that died before it could drop it", kind.maker),
        ));
    }
    Ok(out)
}
