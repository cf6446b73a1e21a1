//! ops-status: what pgops knows about backups, copies and drills, as one snapshot
//! (ADR 0015), shown as JSON, a table, a health document or Prometheus metrics.
//!
//! - [`gather`]: what the tools wrote, read into facts (a catalog, its drill history).
//! - [`model`]: the snapshot, computed from those facts (pure).
//! - [`health`]: every promise judged, with reasons and an exit code (pure).
//! - [`metrics`]: the Prometheus text format of a snapshot (pure).
//! - [`serve`]: the snapshot over HTTP, refreshed when the catalog changes.

pub mod cli;
pub mod gather;
pub mod health;
pub mod metrics;
pub mod model;
pub mod run;
pub mod serve;
pub mod views;

/// Parses the command line and runs; returns the exit code. Invalid flags get an event
/// and exit 2.
pub fn main_with_args(argv: impl IntoIterator<Item = std::ffi::OsString>) -> i32 {
    match ops_core::cli::parse::<cli::Args>(argv, "ops-status", "status") {
        Ok(args) => run::run(&args),
        Err(exit) => exit.code(),
    }
}
