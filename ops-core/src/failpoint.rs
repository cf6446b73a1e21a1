//! Crash points for fault tests: `PGOPS_FAILPOINT=<name>` makes the process kill itself with
//! SIGKILL when it reaches `hit(<name>)`, exactly as `kill -9` would at that instant. Unset
//! (always, in production) it costs one environment lookup.
//!
//! A tamper point, [`sql`], hands a test's SQL (`PGOPS_FAILPOINT_SQL`) to the tool at a named
//! instant, for the faults that are not a crash: a value changed between a restore and its
//! proof.

pub fn hit(name: &str) {
    if std::env::var_os("PGOPS_FAILPOINT").is_some_and(|v| v == name) {
        // SAFETY: sending SIGKILL to ourselves has no preconditions.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

/// The SQL to run at the tamper point `name`: `PGOPS_FAILPOINT_SQL` when
/// `PGOPS_FAILPOINT=<name>`, else `None`.
pub fn sql(name: &str) -> Option<String> {
    std::env::var_os("PGOPS_FAILPOINT")
        .is_some_and(|v| v == name)
        .then(|| std::env::var("PGOPS_FAILPOINT_SQL").ok())
        .flatten()
}
