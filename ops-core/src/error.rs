//! Errors that reach the user: a stable code, a category and a message.
//!
//! Codes are stable strings documented in `docs/error-codes.md`; renaming one is a breaking
//! change of the event schema.

use crate::exit::ExitCode;
use serde::Serialize;

/// The error categories of the event envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Validation,
    Authz,
    Dependency,
    Timeout,
    Io,
    Integrity,
    Internal,
}

impl Category {
    /// The exit code when an error of this category stops a whole run before it did its job.
    pub fn run_exit_code(self) -> ExitCode {
        match self {
            Category::Validation => ExitCode::Usage,
            Category::Integrity => ExitCode::Problem,
            _ => ExitCode::Unavailable,
        }
    }
}

/// An error with its stable code, as carried in an event's `error` field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct OpsError {
    pub code: &'static str,
    pub category: Category,
    pub message: String,
}

impl OpsError {
    pub fn new(code: &'static str, category: Category, message: impl Into<String>) -> Self {
        OpsError {
            code,
            category,
            message: message.into(),
        }
    }

    pub fn validation(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(code, Category::Validation, message)
    }

    /// An I/O error, classified: a full disk gets its own code because the operator's fix
    /// differs from every other I/O failure.
    pub fn io(context: impl std::fmt::Display, err: &std::io::Error) -> Self {
        let code = if is_disk_full(err) {
            "disk_full"
        } else {
            "io_error"
        };
        Self::new(code, Category::Io, format!("{context}: {err}"))
    }

    /// [`io`](Self::io) for an error on `path`: a permission error names the path's owner
    /// and mode, who this run is, and the fix, because "Permission denied" alone sends an
    /// operator hunting at 3 a.m. (a catalog once touched by root, a unit's user).
    pub fn io_at(
        context: impl std::fmt::Display,
        path: &std::path::Path,
        err: &std::io::Error,
    ) -> Self {
        let mut e = Self::io(format!("{context} {}", path.display()), err);
        if err.kind() == std::io::ErrorKind::PermissionDenied {
            e.code = "permission_denied";
            e.message.push_str(&permission_hint(path));
        }
        e
    }
}

/// What to say about a path this run may not use: its (or its nearest existing
/// ancestor's) owner, group and mode, this run's user, and the two ways out.
pub fn permission_hint(path: &std::path::Path) -> String {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let me_name = crate::user::user_name(me);
    let Some((at, m)) = path
        .ancestors()
        .find_map(|p| std::fs::symlink_metadata(p).ok().map(|m| (p, m)))
    else {
        return String::new();
    };
    let owner = crate::user::user_name(m.uid());
    format!(
        " ({} is owned by {owner} (uid {}, gid {}), mode {:04o}; this run is {me_name} (uid {me}): run it as {owner}, or hand it over with `chown -R {me_name}: {}`)",
        at.display(),
        m.uid(),
        m.gid(),
        m.mode() & 0o7777,
        at.display()
    )
}

/// True for ENOSPC and EDQUOT, however deep the error was wrapped.
pub fn is_disk_full(err: &std::io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
        || err.kind() == std::io::ErrorKind::StorageFull
        || err
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<std::io::Error>())
            .is_some_and(is_disk_full)
}
