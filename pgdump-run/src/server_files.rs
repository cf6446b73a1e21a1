//! What a rebuilt server needs besides its roles, kept with each globals set (as pg_back
//! does): the non-default server settings as `ALTER SYSTEM` statements, and `pg_hba.conf`
//! and `pg_ident.conf` as the server read them, where this role may read them.
//!
//! [`settings_sql`] renders (pure); [`collect`] asks the server.

use ops_core::OpsError;

/// One setting whose value did not come from the built-in default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub name: String,
    /// As `current_setting()` shows it, units included (`128MB`).
    pub value: String,
    /// Where it came from (`configuration file`, `command line`…).
    pub source: String,
}

/// The server files of a globals set, named as they lie in the set (before compression).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerFiles {
    pub files: Vec<(&'static str, String)>,
    /// What could not be read, for the manifest's notes.
    pub notes: Vec<String>,
}

pub const SETTINGS_FILE: &str = "server-settings.sql";
pub const HBA_FILE: &str = "pg_hba.conf";
pub const IDENT_FILE: &str = "pg_ident.conf";

/// Settings that describe where this server's files are, or that initdb fixed: never
/// carried to another server.
const NOT_CARRIED: [&str; 6] = [
    "data_directory",
    "config_file",
    "hba_file",
    "ident_file",
    "external_pid_file",
    "data_checksums",
];

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `ALTER SYSTEM` statements that give a new server these settings (then restart it).
pub fn settings_sql(server_version: &str, settings: &[Setting]) -> String {
    let mut out = format!(
        "-- pgops: the non-default settings of a PostgreSQL {server_version} server.\n\
         -- On the rebuilt server: psql -f server-settings.sql, then restart it.\n"
    );
    for s in settings
        .iter()
        .filter(|s| !NOT_CARRIED.contains(&s.name.as_str()))
    {
        // The name comes from pg_settings: letters, digits, underscores and dots.
        if !s
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            continue;
        }
        out.push_str(&format!(
            "ALTER SYSTEM SET {} = {}; -- from {}\n",
            s.name,
            quote_literal(&s.value),
            s.source
        ));
    }
    out
}

/// Asks the server; a file this role may not read is a note, not a failure.
pub fn collect(
    client: &mut postgres::Client,
    server_version: &str,
) -> Result<ServerFiles, OpsError> {
    let rows = client
        .query(
            "SELECT name, current_setting(name), source FROM pg_settings \
             WHERE source IN ('configuration file', 'command line', 'environment variable') \
               AND context <> 'internal' ORDER BY name",
            &[],
        )
        .map_err(|e| {
            OpsError::new(
                "query_failed",
                ops_core::Category::Dependency,
                e.to_string(),
            )
        })?;
    let settings: Vec<Setting> = rows
        .iter()
        .map(|r| Setting {
            name: r.get(0),
            value: r.get(1),
            source: r.get(2),
        })
        .collect();
    let mut out = ServerFiles {
        files: vec![(SETTINGS_FILE, settings_sql(server_version, &settings))],
        notes: Vec::new(),
    };
    for (name, setting) in [(HBA_FILE, "hba_file"), (IDENT_FILE, "ident_file")] {
        // pg_read_file needs superuser or pg_read_server_files: "where readable".
        match client.query_one("SELECT pg_read_file(current_setting($1))", &[&setting]) {
            Ok(r) => out.files.push((name, r.get(0))),
            Err(e) => out.notes.push(format!(
                "{name} not kept: {}",
                e.as_db_error()
                    .map_or(e.to_string(), |d| d.message().to_string())
            )),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_become_alter_system_statements_quoted() {
        let s = |n: &str, v: &str| Setting {
            name: n.into(),
            value: v.into(),
            source: "configuration file".into(),
        };
        let sql = settings_sql(
            "17.2",
            &[
                s("max_connections", "200"),
                s("search_path", "\"$user\", public"),
                s("log_line_prefix", "it's %m "),
                s("data_directory", "/var/lib/postgresql"),
                s("bad name; DROP", "x"),
            ],
        );
        assert!(sql.contains("ALTER SYSTEM SET max_connections = '200';"));
        assert!(sql.contains("ALTER SYSTEM SET search_path = '\"$user\", public';"));
        assert!(sql.contains("ALTER SYSTEM SET log_line_prefix = 'it''s %m ';"));
        assert!(!sql.contains("data_directory"));
        assert!(!sql.contains("DROP"));
    }
}
