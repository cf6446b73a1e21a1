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
