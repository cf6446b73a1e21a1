//! What a drill proves after the restore: every table of the manifest is there with exactly
//! its rows, the large objects are all there, the operator's checks hold; and, optionally,
//! how many rows the live source has that this backup lacks.

use ops_catalog::catalog::{CheckResult, CheckStatus, Manifest};
use ops_core::{Category, OpsError};
use serde::Serialize;

/// One table, backup against restored (or live).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableCount {
    pub schema: String,
    pub name: String,
    pub expected: u64,
    /// `None` when the table is missing.
    pub actual: Option<u64>,
}

impl TableCount {
    pub fn matches(&self) -> bool {
        self.actual == Some(self.expected)
    }
}

/// Rows the live source has beyond the backup, per table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveDiff {
    pub schema: String,
    pub name: String,
    pub backup_rows: u64,
    pub live_rows: Option<u64>,
    /// Rows present live but not in the backup: what this backup would lose today.
    pub missing_rows: u64,
}

pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn count(client: &mut postgres::Client, schema: &str, name: &str) -> Option<u64> {
    let sql = format!(
        "SELECT count(*) FROM {}.{}",
        quote_ident(schema),
        quote_ident(name)
    );
    client
        .query_one(&sql, &[])
        .ok()
        .map(|r| r.get::<_, i64>(0) as u64)
}

fn db_error(e: postgres::Error) -> OpsError {
    let detail = e
        .as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_else(|| e.to_string());
    OpsError::new("query_failed", Category::Dependency, detail)
}

/// Exact `count(*)` of every manifest table in the restored database.
pub fn count_tables(client: &mut postgres::Client, m: &Manifest) -> Vec<TableCount> {
    m.tables
        .iter()
        .map(|t| TableCount {
            schema: t.schema.clone(),
            name: t.name.clone(),
            expected: t.rows,
            actual: count(client, &t.schema, &t.name),
        })
        .collect()
}

pub fn large_objects(client: &mut postgres::Client) -> Result<u64, OpsError> {
    let row = client
        .query_one("SELECT count(*) FROM pg_largeobject_metadata", &[])
        .map_err(db_error)?;
    Ok(row.get::<_, i64>(0) as u64)
}

/// Runs each statement of `text` (one per line; blank lines and `--` comments skipped);
/// each must return a single true.
pub fn check_sql(client: &mut postgres::Client, text: &str) -> Vec<CheckResult> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("--"))
        .map(|sql| {
            let outcome = match client.query_one(sql, &[]) {
                Ok(row) => match row.try_get::<_, bool>(0) {
                    Ok(true) => Ok(()),
                    Ok(false) => Err("returned false".to_string()),
                    Err(_) => Err("did not return a boolean".to_string()),
                },
                Err(e) => Err(db_error(e).message),
            };
            CheckResult {
                name: "check_sql".into(),
                status: if outcome.is_ok() {
                    CheckStatus::Pass
                } else {
                    CheckStatus::Fail
                },
                reason: match outcome {
                    Ok(()) => sql.to_string(),
                    Err(why) => format!("{sql}: {why}"),
                },
            }
        })
        .collect()
}

/// Counts the live source's tables now.
pub fn compare_live(client: &mut postgres::Client, m: &Manifest) -> Vec<LiveDiff> {
    m.tables
        .iter()
        .map(|t| {
            let live = count(client, &t.schema, &t.name);
            LiveDiff {
                schema: t.schema.clone(),
                name: t.name.clone(),
                backup_rows: t.rows,
                live_rows: live,
                missing_rows: live.map_or(0, |l| l.saturating_sub(t.rows)),
            }
        })
        .collect()
}
