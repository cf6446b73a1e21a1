//! What a restore will do to the target database, decided from its state and the flags
//! (pure): the one place the "never touch a database in use unless told" rule lives.

use ops_core::OpsError;

/// What a database holds outside the system schemas: anything at all makes it "in use",
/// so a restore never lands on top of someone's schema, function, type or large object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Contents {
    pub relations: u64,
    /// Schemas besides `public`.
    pub schemas: u64,
    pub functions: u64,
    /// Types of their own (enums, domains, ranges, base types), not those of relations.
    pub types: u64,
    pub large_objects: u64,
    /// Extensions besides `plpgsql`.
    pub extensions: u64,
}

impl Contents {
    pub fn total(&self) -> u64 {
        self.relations
            + self.schemas
            + self.functions
            + self.types
            + self.large_objects
            + self.extensions
    }

    /// `3 relations, 1 schema, 1 large object`.
    pub fn describe(&self) -> String {
        let mut out = Vec::new();
        for (n, one, many) in [
            (self.relations, "relation", "relations"),
            (self.schemas, "schema", "schemas"),
            (self.functions, "function", "functions"),
            (self.types, "type", "types"),
            (self.large_objects, "large object", "large objects"),
            (self.extensions, "extension", "extensions"),
        ] {
            match n {
                0 => {}
                1 => out.push(format!("1 {one}")),
                n => out.push(format!("{n} {many}")),
            }
        }
        out.join(", ")
    }
}

/// The target database as found before anything runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetState {
    Missing,
    /// Exists, and holds nothing outside the system schemas.
    Empty,
    /// Exists and holds this.
    InUse(Contents),
}

/// The databases a restore never creates, drops or replaces: the templates every new
/// database is made from, and the maintenance database the tools connect to.
pub const PROTECTED: [&str; 3] = ["template0", "template1", "postgres"];

/// Refuses a target a restore must never touch, before any work: a template, the
/// maintenance database, or a name that looks like a connection string (a URI or
/// `key=value` given to `--target` would otherwise become a database named after it,
/// password included). The name itself is not repeated: it may hold a secret.
///
/// One exception, for disaster recovery: the backup of `postgres` itself (`-d postgres`,
/// no `--target`) goes back into a new server's empty `postgres`, never replacing it
/// (`--clean` and `--swap` are refused, and a `postgres` holding anything is not empty).
/// `named` says whether `--target` gave the name (else it is `-d`'s database).
pub fn check_target(target: &str, named: bool, mode: Mode) -> Result<(), OpsError> {
    let flag = if named { "--target" } else { "-d" };
    let own_postgres = target == "postgres" && !named && mode == Mode::Refuse;
    if PROTECTED.contains(&target) && !own_postgres {
        return Err(OpsError::validation(
            "target_protected",
            format!(
                "{flag} {target:?}: a restore never replaces {}; restore under another name (--target NAME)",
                PROTECTED.join(", ")
            ),
        ));
    }
    let lower = target.to_ascii_lowercase();
    if target.contains("://")
        || target.contains('=')
        || lower.starts_with("postgres:")
        || lower.starts_with("postgresql:")
    {
        return Err(OpsError::validation(
            "invalid_target",
            format!(
                "{flag} looks like a connection string (a URI or key=value), not a database name; \
                 it names the database to restore into: give the connection with -d/-h/-p/-U and the name with --target"
            ),
        ));
    }
    if target.is_empty() {
        return Err(OpsError::validation(
            "invalid_target",
            format!("{flag} is empty: it names the database to restore into"),
        ));
    }
    Ok(())
}

/// How the caller asked to treat a target in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Refuse a target in use.
    Refuse,
    /// Drop it first (`--clean`).
    Clean,
    /// Restore beside it and swap once proven, keeping the old one (`--swap`).
    Swap,
}

/// One step, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Replay the newest globals set (roles, tablespaces) before anything else.
    Globals,
    Drop(String),
    Create(String),
    /// pg_restore into this database, then recount every table.
    Restore(String),
    /// Re-apply the database's own properties recorded in the manifest (settings, role
    /// settings, comment, connection limit, owner, grants) to this database.
    Properties(String),
    /// Rename a database (the old target aside, then the restored one into place). Only
    /// after the restored one is proven.
    Rename {
        from: String,
        to: String,
    },
}

/// Everything a run will do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub target: String,
    pub steps: Vec<Step>,
    /// With `--swap`: the name the old target keeps.
    pub kept_as: Option<String>,
}

/// Names for the side databases of a swap: `<target>_restoring_<stamp>` and
/// `<target>_before_<stamp>`, within PostgreSQL's 63 bytes.
pub fn side_name(target: &str, what: &str, stamp: &str) -> String {
    let suffix = format!("_{what}_{stamp}");
    let mut base = target.to_string();
    while base.len() + suffix.len() > 63 {
        base.pop();
    }
    format!("{base}{suffix}")
}

/// The plan for restoring into `target` in `state`, in `mode` (`stamp`: the run's time,
/// `YYYYMMDDTHHMMSSZ`).
pub fn plan(
    target: &str,
    state: TargetState,
    mode: Mode,
    globals: bool,
    stamp: &str,
) -> Result<Plan, OpsError> {
    let mut steps = Vec::new();
    if globals {
        steps.push(Step::Globals);
    }
    let mut kept_as = None;
    match (state, mode) {
        (TargetState::Missing, _) => {
            steps.push(Step::Create(target.into()));
            steps.push(Step::Restore(target.into()));
            steps.push(Step::Properties(target.into()));
        }
        (TargetState::Empty, Mode::Refuse | Mode::Clean) => {
            steps.push(Step::Restore(target.into()));
            steps.push(Step::Properties(target.into()));
        }
        (TargetState::InUse(what), Mode::Refuse) => {
            return Err(OpsError::validation(
                "target_not_empty",
                format!(
                    "database {target:?} exists and holds {}: nothing was touched. Pass --clean to drop and replace it, or --swap to restore beside it and keep it as {:?}",
                    what.describe(),
                    side_name(target, "before", stamp)
                ),
            ));
        }
        (TargetState::InUse(_), Mode::Clean) => {
            steps.push(Step::Drop(target.into()));
            steps.push(Step::Create(target.into()));
            steps.push(Step::Restore(target.into()));
            steps.push(Step::Properties(target.into()));
        }
        (TargetState::Empty | TargetState::InUse(_), Mode::Swap) => {
            let side = side_name(target, "restoring", stamp);
            let old = side_name(target, "before", stamp);
            steps.push(Step::Create(side.clone()));
            steps.push(Step::Restore(side.clone()));
            // Properties follow the database (its oid) through the rename.
            steps.push(Step::Properties(side.clone()));
            steps.push(Step::Rename {
                from: target.into(),
                to: old.clone(),
            });
            steps.push(Step::Rename {
                from: side,
                to: target.into(),
            });
            kept_as = Some(old);
        }
    }
    Ok(Plan {
        target: target.into(),
        steps,
        kept_as,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "20261125T030000Z";

    #[test]
    fn a_database_in_use_is_never_touched_unless_told() {
        let what = Contents {
            schemas: 1,
            large_objects: 2,
            ..Contents::default()
        };
        let e = plan("shop", TargetState::InUse(what), Mode::Refuse, false, T).unwrap_err();
        assert_eq!(e.code, "target_not_empty");
        assert!(e.message.contains("--clean") && e.message.contains("shop_before_"));
        assert!(
            e.message.contains("1 schema, 2 large objects"),
            "{}",
            e.message
        );
        let p = plan("shop", TargetState::Missing, Mode::Refuse, true, T).unwrap();
        assert_eq!(
            p.steps,
            [
                Step::Globals,
                Step::Create("shop".into()),
                Step::Restore("shop".into()),
                Step::Properties("shop".into())
            ]
        );
        let p = plan(
            "shop",
            TargetState::InUse(Contents {
                relations: 1,
                ..Contents::default()
            }),
            Mode::Clean,
            false,
            T,
        )
        .unwrap();
        assert_eq!(p.steps[0], Step::Drop("shop".into()));
    }

    #[test]
    fn a_swap_restores_beside_and_renames_only_at_the_end() {
        let p = plan(
            "shop",
            TargetState::InUse(Contents {
                functions: 3,
                ..Contents::default()
            }),
            Mode::Swap,
            false,
            T,
        )
        .unwrap();
        assert_eq!(p.kept_as.as_deref(), Some("shop_before_20261125T030000Z"));
        assert_eq!(
            p.steps[1],
            Step::Restore("shop_restoring_20261125T030000Z".into())
        );
        assert!(matches!(p.steps.last(), Some(Step::Rename { to, .. }) if to == "shop"));
        assert!(side_name(&"x".repeat(80), "before", T).len() <= 63);
    }

    #[test]
    fn templates_the_maintenance_database_and_connection_strings_are_refused() {
        for t in ["template0", "template1", "postgres"] {
            let e = check_target(t, true, Mode::Refuse).unwrap_err();
            assert_eq!(e.code, "target_protected");
            let e = check_target(t, false, Mode::Clean).unwrap_err();
            assert_eq!(e.code, "target_protected");
        }
        // A new server's empty postgres takes its own backup back.
        check_target("postgres", false, Mode::Refuse).unwrap();
        for t in [
            "postgresql://u:Secret@h/db",
            "postgres://h/db",
            "host=h password=Secret dbname=x",
            "",
        ] {
            let e = check_target(t, true, Mode::Refuse).unwrap_err();
            assert_eq!(e.code, "invalid_target");
            assert!(!e.message.contains("Secret"), "{}", e.message);
        }
        for t in ["shop", "Shop Ünïcode", "a-b.c", "postgres_copy"] {
            check_target(t, true, Mode::Swap).unwrap();
        }
    }
}
