//! `check`: what the bucket offers against deletion, and what the current credentials can
//! do there, proven with a canary object (never with a copy): probed in [`probe`], judged
//! by the pure [`findings`].

use ops_offsite::backend::{Protection, PutMode, Store, StoreError};
use std::io::Read;

/// The canary's key, under the catalog's prefix (a name no database directory can have).
pub const CANARY: &str = ".pgops-canary/canary";
const CANARY_DIR: &str = ".pgops-canary";

/// What the credentials were seen to do; `None`: could not be told.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Permissions {
    pub write: Option<bool>,
    pub read: Option<bool>,
    pub list: Option<bool>,
    /// Delete a key: on a versioned bucket this only hides it behind a marker.
    pub hide: Option<bool>,
    /// Delete for good: a version (on a versioned bucket), or a key (elsewhere).
    pub delete_for_good: Option<bool>,
}

/// What the probe did and left.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    pub permissions: Permissions,
    /// Versions of the canary that could not be removed (locked, or not allowed).
    pub canary_left: usize,
}

/// Whether a step was allowed: `Ok(true/false)`, or the error that stops the check.
fn allowed(r: Result<(), StoreError>) -> Result<bool, StoreError> {
    match r {
        Ok(()) => Ok(true),
        Err(StoreError::Denied(_) | StoreError::Locked(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Writes, reads, lists and deletes the canary, then removes what it can of it.
pub fn probe(store: &dyn Store, protection: &Protection) -> Result<Probe, StoreError> {
    let mut p = Permissions::default();
    let body =
        b"pgops canary: backup-bucket check writes and deletes this object; safe to delete\n";
    p.write = Some(allowed(
        store
            .put(
                CANARY,
                &mut &body[..],
                Some(body.len() as u64),
                PutMode::Overwrite,
            )
            .map(|_| ()),
    )?);
    if p.write == Some(true) {
        let mut back = Vec::new();
        p.read = Some(
            allowed(store.open(CANARY).and_then(|mut r| {
                r.read_to_end(&mut back)
                    .map_err(|e| StoreError::Other(e.to_string()))
                    .map(|_| ())
            }))? && back == body,
        );
        p.list = Some(match store.list_dir(CANARY_DIR) {
            Ok(l) => l.objects.iter().any(|o| o.name == "canary"),
            Err(StoreError::Denied(_)) => false,
            Err(e) => return Err(e),
        });
        p.hide = Some(allowed(store.delete(CANARY))?);
    }
    if !protection.versioning {
        p.delete_for_good = p.hide;
        return Ok(Probe {
            permissions: p,
            canary_left: 0,
        });
    }
    // A delete marker is never locked: removing it tells whether these credentials may
    // delete versions, and only uncovers the canary.
    let versions = match store.versions(CANARY_DIR) {
        Ok(v) => v,
        Err(StoreError::Denied(_)) => Vec::new(),
        Err(e) => return Err(e),
    };
    if let Some(marker) = versions.iter().find(|v| v.delete_marker) {
        p.delete_for_good = Some(allowed(
            store.delete_version(&marker.key, &marker.version_id),
        )?);
    }
    // What is left of the canary goes: every version (a locked one stays until its date).
    let mut left = 0;
    for v in store
        .versions(CANARY_DIR)
        .unwrap_or_default()
        .iter()
        .filter(|v| v.key == CANARY)
    {
        if store.delete_version(&v.key, &v.version_id).is_err() {
            left += 1;
        }
    }
    Ok(Probe {
        permissions: p,
        canary_left: left,
    })
}

/// One thing the operator should know about the bucket and these credentials.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub code: &'static str,
    /// `warning`: the copies are not safe; `info`: worth knowing.
    pub severity: &'static str,
    pub reason: String,
}

fn finding(code: &'static str, severity: &'static str, reason: impl Into<String>) -> Finding {
    Finding {
        code,
        severity,
        reason: reason.into(),
    }
}

/// What the settings and the probe mean for the copies' safety.
pub fn findings(protection: &Protection, probe: &Probe) -> Vec<Finding> {
    let p = &probe.permissions;
    let mut out = Vec::new();
    if p.write == Some(false) {
        out.push(finding(
            "cannot_write",
            "warning",
            "these credentials cannot write to the catalog: backup-copy will fail (s3:PutObject)",
        ));
    }
    if !protection.versioning {
        out.push(finding("no_versioning", "warning",
            "the bucket keeps no versions: a delete or an overwrite with these credentials loses a copy for good; use a bucket with versioning and Object Lock (docs/storage.md)"));
    } else if !protection.object_lock {
        out.push(finding("no_object_lock", "warning",
            "the bucket has no Object Lock: whoever may delete versions (s3:DeleteObjectVersion) can delete every copy; use a bucket with Object Lock and backup-copy --object-lock"));
    }
    match (p.delete_for_good, protection.object_lock) {
        (Some(true), false) => out.push(finding("can_delete_copies", "warning",
            "these credentials can delete copies for good: a backup host should hold credentials without s3:DeleteObject/s3:DeleteObjectVersion (docs/storage.md, least privilege)")),
        (Some(true), true) => out.push(finding("can_delete_copies", "warning",
            "these credentials can delete for good every copy not locked (sets copied without --object-lock, after their date): a backup host should hold credentials without s3:DeleteObjectVersion (docs/storage.md, least privilege)")),
        _ => {}
    }
    if protection.versioning && p.hide == Some(true) {
        out.push(finding("can_hide_copies", "info",
            "these credentials can hide copies behind delete markers; the versions stay, and backup-bucket recover --as-of brings them back"));
    }
    if protection.object_lock && protection.default_retention.is_none() {
        out.push(finding("no_default_retention", "info",
            "the bucket has no default retention rule: only copies written with backup-copy --object-lock are locked"));
    }
    if probe.canary_left > 0 {
        out.push(finding("canary_left", "info", format!(
            "{} version(s) of the canary {} could not be removed (locked, or not allowed): they are 80 bytes each; a lifecycle rule or stronger credentials remove them",
            probe.canary_left, CANARY)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ops_offsite::backend::RetentionMode;

    fn probe(write: bool, hide: bool, delete: Option<bool>) -> Probe {
        Probe {
            permissions: Permissions {
                write: Some(write),
                read: Some(write),
                list: Some(write),
                hide: Some(hide),
                delete_for_good: delete,
            },
            canary_left: 0,
        }
    }

    fn codes(f: &[Finding]) -> Vec<&str> {
        f.iter().map(|f| f.code).collect()
    }

    #[test]
    fn a_least_privilege_host_on_a_locked_bucket_has_nothing_to_fear() {
        let locked = Protection {
            versioning: true,
            object_lock: true,
            default_retention: Some((
                RetentionMode::Compliance,
                std::time::Duration::from_secs(86400),
            )),
        };
        assert!(findings(&locked, &probe(true, false, Some(false))).is_empty());
        assert_eq!(
            codes(&findings(&locked, &probe(true, true, Some(true)))),
            ["can_delete_copies", "can_hide_copies"]
        );
    }

    #[test]
    fn an_unversioned_bucket_with_delete_rights_is_two_warnings() {
        let plain = Protection::default();
        let f = findings(&plain, &probe(true, true, Some(true)));
        assert_eq!(codes(&f), ["no_versioning", "can_delete_copies"]);
        assert!(f.iter().all(|f| f.severity == "warning"));
        assert_eq!(
            codes(&findings(&plain, &probe(false, false, Some(false)))),
            ["cannot_write", "no_versioning"]
        );
    }
}
