//! `versions` and `recover`: the plan of [`ops_offsite::versions`] over the bucket's
//! version listing, and its application, one key at a time.

use ops_offsite::backend::{Store, StoreError};
use ops_offsite::versions::{Change, Step};

/// Brings one key back to its version at the point in time. `Ok(false)`: nothing to do
/// (a key added since).
pub fn apply(store: &dyn Store, step: &Step, now: jiff::Timestamp) -> Result<bool, StoreError> {
    match (step.change, &step.version) {
        (Change::Hidden, Some(_)) => {
            // Newest first: each removal uncovers the next, the last the version itself.
            for marker in &step.markers {
                store.delete_version(&step.key, marker)?;
            }
            Ok(true)
        }
        (Change::Overwritten, Some(version)) => {
            // The copy on top keeps the old version's lock while it lasts.
            let retention = store
                .retention(&step.key, Some(version))?
                .filter(|r| r.until > now);
            store.restore_version(&step.key, version, retention.as_ref())?;
            Ok(true)
        }
        _ => Ok(false),
    }
}
