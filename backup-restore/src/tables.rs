//! Some tables back (`--table`, `--schema`; issue #26), beside the live ones in the live
//! database, proven by count and digest, swapped in only when proven (`--swap`).
//!
//! A table cannot be restored under another name by pg_restore itself (every statement
//! names its schema), so it goes through a scratch database on the same server: the
//! archive's definitions and only the chosen tables' data and what is built on them alone
//! ([`ops_restore::select`]) are restored there; the tables are moved into a new schema
//! (`ALTER TABLE … SET SCHEMA` takes their indexes, constraints and owned sequences with
//! them); that schema is dumped and restored into the live database. The live tables are
//! never touched until `--swap`, which moves each live table into `pgops_before_<time>`
//! and the restored one into its place, in one transaction.

use crate::{cli, server};
use ops_catalog::catalog::{CheckedSet, DumpFormat};
use ops_core::event::{Emitter, Event, Severity};
use ops_core::event_names as names;
use ops_core::redact::Redactor;
use ops_core::stop::StopSignal;
use ops_core::{Category, OpsError};
use ops_pg::conn::ConnSettings;
use ops_pg::quote_ident;
use ops_restore::proof::{self, TableCount};
use ops_restore::restore;
use ops_restore::select::{self, LeftOut, QualifiedName, Selection, Wanted};
use serde::Serialize;
use std::time::Instant;

/// The scratch databases of table restores.
pub const SCRATCH: ops_restore::owned::Kind<'static> = ops_restore::owned::Kind {
    pattern: "pgops\\_tables\\_%",
    mark: "pgops backup-restore --table scratch database",
    kept_mark: "pgops backup-restore --table scratch database (kept)",
    maker: "backup-restore --table",
};

/// The tables the flags ask for; `None` when they ask for the whole database.
pub fn wanted(args: &cli::Args) -> Result<Option<Wanted>, OpsError> {
    if args.table.is_empty() && args.schema.is_empty() {
        if args.into_schema.is_some() {
            return Err(OpsError::validation(
                "invalid_argument",
                "--into-schema needs --table or --schema",
            ));
        }
        return Ok(None);
    }
    let tables = args
        .table
        .iter()
        .map(|t| {
            QualifiedName::parse(t).ok_or_else(|| {
                OpsError::validation(
                    "invalid_argument",
                    format!("--table {t:?}: expected SCHEMA.NAME (quote a name that holds a dot: '\"a.b\".c')"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Wanted {
        tables,
        schemas: args.schema.clone(),
    }))
}

/// What a table restore did (or, `--dry-run`, would do).
#[derive(Debug, Serialize)]
pub struct TablesRestored<'a> {
    pub database: &'a str,
    pub id: &'a str,
    pub path: String,
    pub target: &'a str,
    /// The schema the tables were restored into (beside the live ones).
    pub into_schema: String,
    /// `schema.name` of each table brought back (as the backup names it).
    pub tables: Vec<String>,
    /// What is built on a restored table and on one that is not: not restored with it.
    pub left_out: Vec<LeftOut>,
    /// `--swap`: where the live tables went, once the restored ones took their place.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_tables_in: Option<String>,
    /// After a swap: what still refers to the old tables (views, foreign keys of other
    /// tables): they followed the old table, as PostgreSQL binds them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub still_on_old: Vec<String>,
    pub rto_ms: u64,
    pub rows: u64,
    pub mismatches: Vec<TableCount>,
    pub digested: bool,
    #[serde(skip)]
    planned: bool,
}

impl Event for TablesRestored<'_> {
    fn name(&self) -> &'static str {
        if self.planned {
            names::RESTORE_TABLES_PLANNED
        } else if self.mismatches.is_empty() {
            names::RESTORE_TABLES_COMPLETED
        } else {
            names::RESTORE_TABLES_FAILED
        }
    }
    fn severity(&self) -> Severity {
        if self.mismatches.is_empty() {
            Severity::Info
        } else {
            Severity::Error
        }
    }
}

/// Where and how: settled before any work.
#[derive(Debug)]
pub struct Job<'a> {
    pub args: &'a cli::Args,
    pub admin: &'a ConnSettings,
    pub settings: &'a ConnSettings,
    pub db: &'a str,
    pub target: &'a str,
    pub chosen: &'a CheckedSet,
    pub path: String,
    pub stamp: &'a str,
}

/// What a table restore will do, resolved before any change: the archive, the entries
/// that bring the tables back, and the new schema they go into.
struct Planned {
    archive: std::path::PathBuf,
    selection: Selection,
    into: String,
}

/// Restores the wanted tables; the report says what came back, proven or not.
pub fn execute<'a>(
    job: &'a Job<'a>,
    wanted: &Wanted,
    emitter: &Emitter,
) -> Result<TablesRestored<'a>, OpsError> {
    let started = Instant::now();
    let planned = resolve(job, wanted)?;
    let mut report = described(job, &planned);
    if job.args.dry_run {
        return Ok(report);
    }
    for l in ops_restore::owned::sweep(job.admin, &SCRATCH)? {
        emitter.emit(
            names::RESTORE_LEFTOVER,
            l.action.severity(),
            serde_json::to_value(&l).expect("leftovers serialize"),
        );
    }
    bring_back(job, &planned.archive, &planned.selection, &planned.into)?;
    prove_and_swap(job, &planned, &mut report)?;
    report.rto_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// The set's archive, its TOC's selection, the live database, the new schema: checked
/// before anything is created.
fn resolve(job: &Job<'_>, wanted: &Wanted) -> Result<Planned, OpsError> {
    let m = &job.chosen.manifest;
    // An archive with a TOC (custom, directory) restores entry by entry; plain SQL does not.
    if m.format == DumpFormat::Plain {
        return Err(OpsError::validation(
            "table_restore_unsupported",
            "a plain-format set cannot be restored table by table: restore it whole with --target NAME and copy the table from there",
        ));
    }
    let archive = job.chosen.set.path.join(&m.dump_file()?.name);
    let selection = select::select(&restore::read_toc(&archive, m)?, wanted).map_err(|e| {
        let select::SelectError::NotInSet { what, elsewhere } = e;
        let hint = if elsewhere.is_empty() {
            String::new()
        } else {
            format!("; it holds {}", elsewhere.join(", "))
        };
        OpsError::validation(
            "table_not_in_set",
            format!("set {} holds no {what}{hint}", job.chosen.set.id),
        )
    })?;
    if server::state(job.admin, job.target)? == crate::plan::TargetState::Missing {
        return Err(OpsError::validation(
            "target_missing",
            format!("database {:?} does not exist: restore the whole database (without --table/--schema)", job.target),
        ));
    }
    let into = job
        .args
        .into_schema
        .clone()
        .unwrap_or_else(|| format!("pgops_restored_{}", job.stamp.to_lowercase()));
    if schema_exists(&mut job.settings.for_database(job.target).connect()?, &into)? {
        return Err(OpsError::validation(
            "schema_exists",
            format!(
                "schema {into:?} already exists in {:?}: name another with --into-schema",
                job.target
            ),
        ));
    }
    Ok(Planned {
        archive,
        selection,
        into,
    })
}

/// The report as planned (what a dry run says): pure.
fn described<'a>(job: &'a Job<'a>, planned: &Planned) -> TablesRestored<'a> {
    TablesRestored {
        database: job.db,
        id: &job.chosen.set.id,
        path: job.path.clone(),
        target: job.target,
        into_schema: planned.into.clone(),
        tables: planned
            .selection
            .tables
            .iter()
            .map(|t| t.to_string())
            .collect(),
        left_out: planned.selection.left_out.clone(),
        old_tables_in: job
            .args
            .swap
            .then(|| format!("pgops_before_{}", job.stamp.to_lowercase())),
        still_on_old: Vec::new(),
        rto_ms: 0,
        rows: 0,
        mismatches: Vec::new(),
        digested: false,
        planned: job.args.dry_run,
    }
}

/// The restored tables proven where they lie against the manifest; with `--swap` and a
/// proof that holds, swapped in.
fn prove_and_swap(
    job: &Job<'_>,
    planned: &Planned,
    report: &mut TablesRestored<'_>,
) -> Result<(), OpsError> {
    let m = &job.chosen.manifest;
    let mut client = job.settings.for_database(job.target).connect()?;
    let restored = &planned.selection.tables;
    let which: Vec<(&ops_catalog::catalog::TableRows, &str)> = m
        .tables
        .iter()
        .filter(|t| {
            restored
                .iter()
                .any(|s| s.schema == t.schema && s.name == t.name)
        })
        .map(|t| (t, planned.into.as_str()))
        .collect();
    let proven = proof::prove_tables(&mut client, m, &which);
    report.rows = proven.iter().filter_map(|c| c.actual).sum();
    report.digested = !proven.is_empty() && proven.iter().all(|c| c.expected_digest.is_some());
    report.mismatches = proven.into_iter().filter(|c| !c.matches()).collect();
    if report.mismatches.is_empty() {
        if let Some(before) = report.old_tables_in.clone() {
            report.still_on_old = swap(&mut client, restored, &planned.into, &before)?;
        }
    }
    Ok(())
}

fn schema_exists(client: &mut postgres::Client, name: &str) -> Result<bool, OpsError> {
    client
        .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&name])
        .map(|r| r.is_some())
        .map_err(|e| ops_restore::sql_error("looking for the schema", e))
}

/// The selection restored into a scratch database, moved into `into` there, then dumped
/// and restored into the live database; the scratch dropped whatever happens.
fn bring_back(
    job: &Job<'_>,
    archive: &std::path::Path,
    selection: &Selection,
    into: &str,
) -> Result<(), OpsError> {
    let args = job.args;
    let m = &job.chosen.manifest;
    let clients = crate::Clients::find(args, m, job.admin)?;
    let mover = clients.dump.as_ref().ok_or_else(|| {
        OpsError::new(
            "no_client_pair",
            Category::Dependency,
            "no installed pg_dump can dump the target server (ADR 0006): the restored tables cannot be moved into it",
        )
    })?;
    let stop = StopSignal::install(None)?;
    let redactor = Redactor::new(job.settings.secrets());
    let scratch_name = format!("pgops_tables_{}", job.stamp.to_lowercase());
    let scratch = Scratch {
        admin: job.admin,
        name: scratch_name.clone(),
        _owner: ops_restore::owned::create(job.admin, &scratch_name, &SCRATCH)?,
    };
    let programs = restore::Programs::of(&clients.restore);
    let into_scratch = restore::Restore {
        programs: &programs,
        target: job.settings.for_database(&scratch.name),
        jobs: args.jobs.jobs,
        with_owners: !args.no_owner,
        stop: &stop,
        redactor: &redactor,
    };
    into_scratch.run_selected(archive, m, &selection.ids)?;
    let mut sc = job.settings.for_database(&scratch.name).connect()?;
    let mut sql = format!("CREATE SCHEMA {};", quote_ident(into));
    for t in &selection.tables {
        sql.push_str(&format!(
            "ALTER TABLE {}.{} SET SCHEMA {};",
            quote_ident(&t.schema),
            quote_ident(&t.name),
            quote_ident(into)
        ));
    }
    sc.batch_execute(&sql)
        .map_err(|e| ops_restore::sql_error("moving the tables into their new schema", e))?;
    drop(sc);
    let move_programs = restore::Programs::of(mover);
    let into_live = restore::Restore {
        programs: &move_programs,
        target: job.settings.for_database(job.target),
        jobs: 1,
        with_owners: !args.no_owner,
        stop: &stop,
        redactor: &redactor,
    };
    into_live.copy_schema(
        &mover.program("pg_dump"),
        &job.settings.for_database(&scratch.name),
        into,
    )
}

/// A scratch database of this run: dropped when it goes.
struct Scratch<'a> {
    admin: &'a ConnSettings,
    name: String,
    _owner: postgres::Client,
}

impl Drop for Scratch<'_> {
    fn drop(&mut self) {
        let _ = server::drop(self.admin, &self.name);
    }
}

/// Each live table (if it still exists) moves into `before`, the restored one from `into`
/// into its place, in one transaction; `into` goes once empty. Returns what still refers
/// to the old tables.
fn swap(
    client: &mut postgres::Client,
    tables: &[QualifiedName],
    into: &str,
    before: &str,
) -> Result<Vec<String>, OpsError> {
    let mut tx = client
        .transaction()
        .map_err(|e| ops_restore::sql_error("starting the swap", e))?;
    tx.batch_execute(&format!(
        "SET LOCAL lock_timeout = '30s'; CREATE SCHEMA {}",
        quote_ident(before)
    ))
    .map_err(|e| ops_restore::sql_error("creating the schema of the old tables", e))?;
    let mut old = Vec::new();
    for t in tables {
        let live = format!("{}.{}", quote_ident(&t.schema), quote_ident(&t.name));
        let exists = tx
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&live])
            .map_err(|e| ops_restore::sql_error("looking for the live table", e))?
            .get::<_, bool>(0);
        if exists {
            tx.batch_execute(&format!(
                "ALTER TABLE {live} SET SCHEMA {}",
                quote_ident(before)
            ))
            .map_err(|e| ops_restore::sql_error("moving the live table aside", e))?;
            old.push(format!("{}.{}", quote_ident(before), quote_ident(&t.name)));
        }
        tx.batch_execute(&format!(
            "ALTER TABLE {}.{} SET SCHEMA {}",
            quote_ident(into),
            quote_ident(&t.name),
            quote_ident(&t.schema)
        ))
        .map_err(|e| ops_restore::sql_error("moving the restored table into place", e))?;
    }
    tx.batch_execute(&format!("DROP SCHEMA {} RESTRICT", quote_ident(into)))
        .map_err(|e| ops_restore::sql_error("dropping the emptied schema", e))?;
    let mut still = Vec::new();
    for o in &old {
        let rows = tx
            .query(
                "SELECT DISTINCT 'view ' || v.oid::regclass::text \
                 FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid \
                 JOIN pg_class v ON v.oid = r.ev_class \
                 WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = to_regclass($1) AND v.oid <> to_regclass($1) \
                 UNION SELECT 'foreign key ' || c.conname || ' of ' || c.conrelid::regclass::text \
                 FROM pg_constraint c WHERE c.contype = 'f' AND c.confrelid = to_regclass($1) AND c.conrelid <> to_regclass($1) \
                 ORDER BY 1",
                &[o],
            )
            .map_err(|e| ops_restore::sql_error("listing what refers to the old table", e))?;
        still.extend(rows.iter().map(|r| r.get::<_, String>(0)));
    }
    tx.commit()
        .map_err(|e| ops_restore::sql_error("committing the swap", e))?;
    Ok(still)
}
