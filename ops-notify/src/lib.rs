//! ops-notify: the proof reaches the operator (issue #24, ADR 0024). Three uses: after a
//! unit (what it proved or why it failed), a heartbeat (the alarm that rings when the
//! pings stop), and a watch over the health verdict (what broke, what is kept again).
//!
//! - [`target`]: the targets file, one URL per line, parsed into sinks.
//! - [`facts`]: the run history's lines of a unit run, and the health verdict (reads).
//! - [`compose`]: messages from facts (pure); [`message`] their shape.
//! - [`watch`]: what to tell, hold or repeat, against what was told (pure).
//! - [`render`]: each service's request (pure); [`deliver`] sends it (effects).
//! - [`store`]: the watch's memory, the outbox, the counts, in the state directory.

pub mod cli;
pub mod compose;
pub mod deliver;
pub mod facts;
pub mod message;
pub mod render;
pub mod report;
pub mod run;
pub mod store;
pub mod target;
pub mod watch;

/// Parses the command line and runs; returns the exit code. Invalid flags get an event
/// and exit 2.
pub fn main_with_args(argv: impl IntoIterator<Item = std::ffi::OsString>) -> i32 {
    match ops_core::cli::parse::<cli::Args>(argv, "ops-notify", "notify") {
        Ok(args) => run::run(&args),
        Err(exit) => exit.code(),
    }
}
