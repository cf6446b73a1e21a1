//! Before a night that will not fit: what tonight's sets will take, from each database's
//! newest set (its stored bytes, grown as the database grew since), against the free
//! space of the catalog's file system. A warning, not a refusal: the estimate can be
//! wrong both ways, and a dump that does run out of space is cleaned up (`disk_full`).

use crate::dump::{Job, Target};
use ops_catalog::catalog::Catalog;

/// What tonight's sets are expected to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    pub bytes: u64,
    /// Databases with a set to estimate from (a first backup of one is not counted).
    pub estimated: usize,
}

/// One database's expected set: its newest set's stored bytes, scaled by how its size on
/// the server changed since (pure).
pub fn expected(last_stored: u64, size_then: Option<u64>, size_now: Option<u64>) -> u64 {
    match (size_then, size_now) {
        (Some(then), Some(now)) if then > 0 => {
            (u128::from(last_stored) * u128::from(now) / u128::from(then)) as u64
        }
        _ => last_stored,
    }
}

/// Tonight's need, from the catalog's newest sets.
pub fn need(catalog: &Catalog, targets: &[Job]) -> Need {
    let now = jiff::Timestamp::now();
    let mut need = Need {
        bytes: 0,
        estimated: 0,
    };
    for Job { target, facts, .. } in targets {
        let Target::Database(db) = target else {
            continue;
        };
        let Ok(scanned) = catalog.set_dir(Some(db)).scan(now) else {
            continue;
        };
        let Some(newest) = scanned.sets.last() else {
            continue;
        };
        let stored = newest.manifest.files.iter().map(|f| f.bytes).sum();
        need.bytes += expected(stored, newest.manifest.database_size, facts.database_size);
        need.estimated += 1;
    }
    need
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_grows_as_its_database_grew() {
        assert_eq!(expected(100, Some(1000), Some(1500)), 150);
        assert_eq!(
            expected(100, None, Some(1500)),
            100,
            "no size then: the last set"
        );
        assert_eq!(expected(100, Some(0), Some(1500)), 100);
        assert_eq!(expected(u64::MAX / 2, Some(1), Some(2)), u64::MAX - 1);
    }
}
