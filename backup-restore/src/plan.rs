//! What a restore will do to the target database, decided from its state and the flags
//! (pure): the one place the "never touch a database in use unless told" rule lives.

use ops_core::OpsError;

/// The target database as found before anything runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetState {
    Missing,
    /// Exists, with no relation outside the system schemas.
    Empty,
    /// Exists and holds this many relations.
    InUse(u64),
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
        (TargetState::InUse(n), Mode::Refuse) => {
            return Err(OpsError::validation(
                "target_not_empty",
                format!(
                    "database {target:?} exists and holds {n} relation(s): nothing was touched. Pass --clean to drop and replace it, or --swap to restore beside it and keep it as {:?}",
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
        let e = plan("shop", TargetState::InUse(12), Mode::Refuse, false, T).unwrap_err();
        assert_eq!(e.code, "target_not_empty");
        assert!(e.message.contains("--clean") && e.message.contains("shop_before_"));
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
        let p = plan("shop", TargetState::InUse(1), Mode::Clean, false, T).unwrap();
        assert_eq!(p.steps[0], Step::Drop("shop".into()));
    }

    #[test]
    fn a_swap_restores_beside_and_renames_only_at_the_end() {
        let p = plan("shop", TargetState::InUse(3), Mode::Swap, false, T).unwrap();
        assert_eq!(p.kept_as.as_deref(), Some("shop_before_20261125T030000Z"));
        assert_eq!(
            p.steps[1],
            Step::Restore("shop_restoring_20261125T030000Z".into())
        );
        assert!(matches!(p.steps.last(), Some(Step::Rename { to, .. }) if to == "shop"));
        assert!(side_name(&"x".repeat(80), "before", T).len() <= 63);
    }
}
