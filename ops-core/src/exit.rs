//! Exit codes shared by every tool (see `docs/exit-codes.md`).

/// The process exit status of a pgops tool. The numbers are a public contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitCode {
    /// The job ran and everything is fine.
    Ok = 0,
    /// The job ran and found a problem (a dump failed, a check failed, a policy was violated).
    Problem = 1,
    /// Invalid invocation or configuration; nothing was changed.
    Usage = 2,
    /// Could not run: dependency unreachable, lock busy, I/O error, timeout.
    Unavailable = 3,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The worse of two outcomes; "could not run" outranks "ran and found a problem".
    pub fn worst(self, other: ExitCode) -> ExitCode {
        self.max(other)
    }
}
