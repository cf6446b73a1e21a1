//! What a drill proves after the restore: every table of the manifest is there with exactly
//! its rows and, for sets that recorded them, exactly its values (the multiset digest of
//! its rows read back under the dump's session, ADR 0026); the large objects are all
//! there, the operator's checks hold; and, optionally, how the live source has moved on.

use ops_catalog::catalog::{CheckResult, CheckStatus, Manifest, TableRows};
use ops_core::{Category, OpsError};
use ops_pg::content;
use serde::Serialize;

/// One table, backup against restored (or live).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableCount {
    pub schema: String,
    pub name: String,
    pub expected: u64,
    /// `None` when the table is missing.
    pub actual: Option<u64>,
    /// The manifest's digest of the rows; absent for a set taken before digests (its
    /// proof is the count alone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_digest: Option<String>,
    /// The digest of the rows read back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Why the rows could not be read back for their digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest_error: Option<String>,
}

impl TableCount {
    /// The count matches and, where the manifest has a digest, the values too.
    pub fn matches(&self) -> bool {
        self.actual == Some(self.expected)
            && (self.expected_digest.is_none() || self.digest == self.expected_digest)
    }

    /// What differs, for a person: the table named first.
    pub fn mismatch(&self) -> String {
        let table = format!("{}.{}", self.schema, self.name);
        match (self.actual, &self.digest_error) {
            (None, _) => format!("{table}: missing"),
            (Some(a), _) if a != self.expected => {
                format!("{table}: {a} rows, manifest says {}", self.expected)
            }
            (Some(_), Some(e)) => format!("{table}: values not read back: {e}"),
            (Some(a), None) => format!(
                "{table}: values differ from the backup's with the same {a} rows (digest {}, manifest says {})",
                self.digest.as_deref().unwrap_or("none"),
                self.expected_digest.as_deref().unwrap_or("none")
            ),
        }
    }
}

/// The `tables` check over every table: passed, and its reason. Pure.
pub fn tables_verdict(counts: &[TableCount], total_rows: u64) -> (bool, String) {
    let bad: Vec<String> = counts
        .iter()
        .filter(|c| !c.matches())
        .map(TableCount::mismatch)
        .collect();
    if !bad.is_empty() {
        return (false, bad.join("; "));
    }
    let digested = counts
        .iter()
        .filter(|c| c.expected_digest.is_some())
        .count();
    let n = counts.len();
    let reason = if digested == n {
        format!("{n} tables, {total_rows} rows, every count and every table's values (digest) equal the backup's")
    } else if digested == 0 {
        format!("{n} tables, {total_rows} rows, every count(*) equals the manifest; values not compared: the set records no content digests (taken before they were)")
    } else {
        format!("{n} tables, {total_rows} rows, every count equals the manifest, the values of {digested} tables too ({} without a digest)", n - digested)
    };
    (true, reason)
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
    /// The live table's values differ from the backup's (by content digest: rows changed,
    /// added or removed, whatever the count says); `None` when not compared (a set without
    /// digests, a table that cannot be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed: Option<bool>,
}

pub use ops_pg::quote_ident;

fn count(client: &mut postgres::Client, schema: &str, name: &str) -> Option<u64> {
    // ONLY: an inheritance parent's own rows, as its COPY in the dump holds them (its
    // children have their own entries).
    let sql = format!(
        "SELECT count(*) FROM ONLY {}.{}",
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

/// Every manifest table in the restored database: its digest read back (its rows counted
/// on the way) where the manifest has one, else its exact `count(*)`.
pub fn count_tables(client: &mut postgres::Client, m: &Manifest) -> Vec<TableCount> {
    prove_tables(client, m, &in_place(m))
}

/// Every manifest table, where the manifest says it lies.
fn in_place(m: &Manifest) -> Vec<(&TableRows, &str)> {
    m.tables.iter().map(|t| (t, t.schema.as_str())).collect()
}

/// The manifest tables `which` of a restored database, each read where it now lies (its
/// schema: a table restored beside the live one lies in another), proven against the
/// manifest's count and digest. The fault tests' tamper point (`PGOPS_FAILPOINT=
/// proof.before_read` with `PGOPS_FAILPOINT_SQL`) sits here, once for every tool that
/// proves a restore: a value changed between the restore and its proof.
pub fn prove_tables(
    client: &mut postgres::Client,
    m: &Manifest,
    which: &[(&TableRows, &str)],
) -> Vec<TableCount> {
    if let Some(sql) = ops_core::failpoint::sql("proof.before_read") {
        if let Err(e) = client.batch_execute(&sql) {
            eprintln!("the test's tamper point failed: {}", db_error(e).message);
        }
    }
    read_tables(client, m, which)
}

/// Reads `which` back and compares each with the manifest.
fn read_tables(
    client: &mut postgres::Client,
    m: &Manifest,
    which: &[(&TableRows, &str)],
) -> Vec<TableCount> {
    let digests = which.iter().any(|(t, _)| t.digest.is_some());
    let session = match digests {
        true => content::apply_session(client, m.digest_settings.as_ref()).map_err(|e| {
            format!(
                "the dump's session cannot be set here: {}",
                db_error(e).message
            )
        }),
        false => Ok(()),
    };
    which
        .iter()
        .map(|(t, lies_in)| prove_table(client, t, lies_in, session.as_ref().err()))
        .collect()
}

fn prove_table(
    client: &mut postgres::Client,
    t: &TableRows,
    lies_in: &str,
    session_error: Option<&String>,
) -> TableCount {
    let mut c = TableCount {
        schema: t.schema.clone(),
        name: t.name.clone(),
        expected: t.rows,
        actual: None,
        // A digest of a kind this version does not make cannot be compared: the count is.
        expected_digest: t
            .digest
            .clone()
            .filter(|d| d.starts_with(pg_archive::digest::PREFIX)),
        digest: None,
        digest_error: None,
    };
    let read = match (&c.expected_digest, &t.columns, session_error) {
        (None, _, _) => None,
        (Some(_), None, _) => Some(Err("the manifest names no columns".to_string())),
        (Some(_), _, Some(e)) => Some(Err(e.clone())),
        (Some(_), Some(columns), None) => Some(
            content::table_digest(client, lies_in, &t.name, columns).map_err(|e| match e {
                content::DigestError::Query(e) => db_error(e).message,
                other => other.to_string(),
            }),
        ),
    };
    match read {
        Some(Ok(d)) => {
            c.actual = Some(d.rows());
            c.digest = Some(d.text());
        }
        Some(Err(e)) => {
            c.actual = count(client, lies_in, &t.name);
            c.digest_error = c.actual.map(|_| e);
        }
        None => c.actual = count(client, lies_in, &t.name),
    }
    c
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

/// The live source's tables now: counted, and (for a set with digests) read back under the
/// dump's session and compared by digest, so that a table whose values changed is named
/// even when its count did not move.
pub fn compare_live(client: &mut postgres::Client, m: &Manifest) -> Vec<LiveDiff> {
    // The live source: never the tamper point's.
    let proven = read_tables(client, m, &in_place(m));
    proven
        .into_iter()
        .map(|p| {
            let compared = p.expected_digest.is_some() && p.digest.is_some();
            LiveDiff {
                missing_rows: p.actual.map_or(0, |l| l.saturating_sub(p.expected)),
                changed: compared.then(|| p.digest != p.expected_digest),
                schema: p.schema,
                name: p.name,
                backup_rows: p.expected,
                live_rows: p.actual,
            }
        })
        .collect()
}
