//! Crash points for fault tests: `PGOPS_FAILPOINT=<name>` makes the process kill itself with
//! SIGKILL when it reaches `hit(<name>)`, exactly as `kill -9` would at that instant. Unset
//! (always, in production) it costs one environment lookup.

pub fn hit(name: &str) {
    if std::env::var_os("PGOPS_FAILPOINT").is_some_and(|v| v == name) {
        // SAFETY: sending SIGKILL to ourselves has no preconditions.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}
