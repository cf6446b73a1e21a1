//! The effects on the target server: what state the target is in, and the database-level
//! statements a restore runs (each quoted: a restore keeps the original name, whatever it
//! is).

use crate::plan::{Contents, TargetState};
use ops_catalog::catalog::DatabaseProperties;
use ops_core::OpsError;
use ops_pg::conn::ConnSettings;
use ops_restore::proof::quote_ident;

pub use ops_restore::server_major as major;
use ops_restore::sql_error;

/// Whether `db` exists and holds anything outside the system schemas.
pub fn state(admin: &ConnSettings, db: &str) -> Result<TargetState, OpsError> {
    let exists = admin
        .connect()?
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&db])
        .map_err(|e| sql_error("looking for the target database", e))?
        .is_some();
    if !exists {
        return Ok(TargetState::Missing);
    }
    // Anything of its own outside the system schemas makes a database in use.
    let row = admin
        .for_database(db)
        .connect()?
        .query_one(
            "WITH ns AS (SELECT oid, nspname FROM pg_namespace \
                         WHERE nspname NOT IN ('pg_catalog', 'information_schema') \
                           AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp%') \
             SELECT (SELECT count(*) FROM pg_class c JOIN ns ON ns.oid = c.relnamespace), \
                    (SELECT count(*) FROM ns WHERE nspname <> 'public'), \
                    (SELECT count(*) FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace), \
                    (SELECT count(*) FROM pg_type t JOIN ns ON ns.oid = t.typnamespace \
                      WHERE t.typrelid = 0 AND t.typelem = 0), \
                    (SELECT count(*) FROM pg_largeobject_metadata), \
                    (SELECT count(*) FROM pg_extension WHERE extname <> 'plpgsql')",
            &[],
        )
        .map_err(|e| sql_error("looking into the target database", e))?;
    let n = |i: usize| row.get::<_, i64>(i) as u64;
    let what = Contents {
        relations: n(0),
        schemas: n(1),
        functions: n(2),
        types: n(3),
        large_objects: n(4),
        extensions: n(5),
    };
    Ok(if what.total() == 0 {
        TargetState::Empty
    } else {
        TargetState::InUse(what)
    })
}

/// The side database of `--swap` (`<target>_restoring_<time>`), as [`ops_restore::owned`]
/// finds it: dropped by a later run once its run is gone; its properties re-applied before
/// the swap replace the mark, so one left between those two steps is reported, not dropped.
pub const SIDE: ops_restore::owned::Kind<'static> = ops_restore::owned::Kind {
    pattern: "%\\_restoring\\_%",
    mark: "pgops backup-restore --swap side database",
    kept_mark: "pgops backup-restore --swap side database (its recount failed: kept)",
    maker: "backup-restore --swap",
};

pub fn create(admin: &ConnSettings, db: &str) -> Result<(), OpsError> {
    admin
        .connect()?
        .batch_execute(&format!(
            "CREATE DATABASE {} TEMPLATE template0",
            quote_ident(db)
        ))
        .map_err(|e| sql_error(&format!("creating {db:?}"), e))
}

/// The sessions connected to `db` (other than this run's own): what `--clean` and `--swap`
/// end, said before (the plan) and after (the report).
pub fn sessions(admin: &ConnSettings, db: &str) -> Result<u64, OpsError> {
    let n: i64 = admin
        .connect()?
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&db],
        )
        .map_err(|e| sql_error(&format!("counting the sessions on {db:?}"), e))?
        .get(0);
    Ok(n as u64)
}

/// Drops `db`, ending its sessions first (`WITH (FORCE)`, PostgreSQL 13+); returns how
/// many there were.
pub fn drop(admin: &ConnSettings, db: &str) -> Result<u64, OpsError> {
    let ended = sessions(admin, db)?;
    admin
        .connect()?
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(db)
        ))
        .map_err(|e| sql_error(&format!("dropping {db:?}"), e))?;
    Ok(ended)
}

/// Renames `from` to `to`, ending the sessions on `from` first (a rename needs none);
/// returns how many it ended.
pub fn rename(admin: &ConnSettings, from: &str, to: &str) -> Result<u64, OpsError> {
    let mut c = admin.connect()?;
    let ended = c
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&from],
        )
        .map_err(|e| sql_error(&format!("ending the sessions on {from:?}"), e))?;
    c.batch_execute(&format!(
        "ALTER DATABASE {} RENAME TO {}",
        quote_ident(from),
        quote_ident(to)
    ))
    .map_err(|e| sql_error(&format!("renaming {from:?} to {to:?}"), e))?;
    Ok(ended)
}

fn literal(v: &str) -> String {
    format!("'{}'", v.replace('\'', "''"))
}

/// Settings whose stored value is a list of (possibly quoted) items: set as the list, not
/// as one string (as pg_dump does for GUC_LIST_QUOTE variables).
const LIST_SETTINGS: [&str; 3] = ["search_path", "temp_tablespaces", "local_preload_libraries"];

/// `SET name TO value` for a stored `name=value` (pure).
pub fn set_clause(stored: &str) -> Option<String> {
    let (name, value) = stored.split_once('=')?;
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    {
        return None;
    }
    Some(if LIST_SETTINGS.contains(&name) {
        format!("SET {name} TO {value}")
    } else {
        format!("SET {name} TO {}", literal(value))
    })
}

/// The statements that give database `db` the recorded properties (pure). Owner and grants
/// only `with_owner`; a role that does not exist fails the statement, which is reported.
pub fn property_statements(db: &str, p: &DatabaseProperties, with_owner: bool) -> Vec<String> {
    let d = quote_ident(db);
    let mut out = Vec::new();
    for s in p.settings.iter().filter_map(|s| set_clause(s)) {
        out.push(format!("ALTER DATABASE {d} {s}"));
    }
    for r in &p.role_settings {
        if let Some(s) = set_clause(&r.setting) {
            out.push(format!(
                "ALTER ROLE {} IN DATABASE {d} {s}",
                quote_ident(&r.role)
            ));
        }
    }
    if let Some(c) = &p.comment {
        out.push(format!("COMMENT ON DATABASE {d} IS {}", literal(c)));
    }
    if p.connection_limit != -1 {
        out.push(format!(
            "ALTER DATABASE {d} CONNECTION LIMIT {}",
            p.connection_limit
        ));
    }
    if with_owner {
        out.push(format!(
            "ALTER DATABASE {d} OWNER TO {}",
            quote_ident(&p.owner)
        ));
        if let Some(acl) = &p.acl {
            // Exactly the recorded grants: start from none, as pg_dump does.
            out.push(format!("REVOKE ALL ON DATABASE {d} FROM PUBLIC"));
            out.push(format!(
                "REVOKE ALL ON DATABASE {d} FROM {}",
                quote_ident(&p.owner)
            ));
            for item in acl {
                if let Some(g) = grant(&d, item) {
                    out.push(g);
                }
            }
        }
    }
    out
}

/// `GRANT … ON DATABASE` for one aclitem (`grantee=privs/grantor`; an empty grantee is
/// PUBLIC; `*` after a privilege: with grant option).
fn grant(d: &str, item: &str) -> Option<String> {
    let (grantee, rest) = item.split_once('=')?;
    let privs = rest.split('/').next()?;
    let grantee = grantee.trim_matches('"');
    let to = if grantee.is_empty() {
        "PUBLIC".to_string()
    } else {
        quote_ident(grantee)
    };
    let mut plain = Vec::new();
    let mut with_option = Vec::new();
    let chars: Vec<char> = privs.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        let name = match c {
            'C' => "CREATE",
            'T' => "TEMPORARY",
            'c' => "CONNECT",
            _ => continue,
        };
        if chars.get(i + 1) == Some(&'*') {
            with_option.push(name);
        } else {
            plain.push(name);
        }
    }
    let mut sql = Vec::new();
    if !plain.is_empty() {
        sql.push(format!(
            "GRANT {} ON DATABASE {d} TO {to}",
            plain.join(", ")
        ));
    }
    if !with_option.is_empty() {
        sql.push(format!(
            "GRANT {} ON DATABASE {d} TO {to} WITH GRANT OPTION",
            with_option.join(", ")
        ));
    }
    (!sql.is_empty()).then(|| sql.join("; "))
}

/// Gives the restored database its recorded properties.
pub fn apply_properties(
    admin: &ConnSettings,
    db: &str,
    p: &DatabaseProperties,
    with_owner: bool,
) -> Result<(), OpsError> {
    let mut c = admin.connect()?;
    for sql in property_statements(db, p, with_owner) {
        c.batch_execute(&sql)
            .map_err(|e| sql_error(&format!("re-applying {sql:?}"), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_properties_become_statements() {
        let p = DatabaseProperties {
            owner: "app".into(),
            comment: Some("it's the shop".into()),
            connection_limit: 7,
            settings: vec![
                "work_mem=12MB".into(),
                "search_path=public, \"$user\"".into(),
            ],
            role_settings: vec![ops_catalog::catalog::RoleSetting {
                role: "app".into(),
                setting: "statement_timeout=5s".into(),
            }],
            acl: Some(vec![
                "=T/app".into(),
                "app=CTc/app".into(),
                "ro=c*/app".into(),
            ]),
        };
        let s = property_statements("shop", &p, true);
        assert!(
            s.contains(&"ALTER DATABASE \"shop\" SET work_mem TO '12MB'".to_string()),
            "{s:#?}"
        );
        assert!(
            s.contains(&"ALTER DATABASE \"shop\" SET search_path TO public, \"$user\"".to_string())
        );
        assert!(s.contains(&"COMMENT ON DATABASE \"shop\" IS 'it''s the shop'".to_string()));
        assert!(s.contains(&"GRANT TEMPORARY ON DATABASE \"shop\" TO PUBLIC".to_string()));
        assert!(s.contains(
            &"GRANT CONNECT ON DATABASE \"shop\" TO \"ro\" WITH GRANT OPTION".to_string()
        ));
        assert!(!property_statements("shop", &p, false)
            .iter()
            .any(|x| x.contains("GRANT") || x.contains("OWNER")));
        assert!(set_clause("bad name=1").is_none());
    }
}
