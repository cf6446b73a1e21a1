//! ops-status: what pgops knows about backups, copies and drills, as one snapshot
//! (ADR 0015), shown as JSON, a table, a health document or Prometheus metrics.
//!
//! - [`gather`], [`model`], [`health`] (from ops-health): the facts, the snapshot and the
//!   verdict.
//! - [`metrics`]: the Prometheus text format of a snapshot (pure).
//! - [`proofs`]: the signed proofs kept in buckets, read back and checked (ADR 0025).
//! - [`serve`]: the snapshot over HTTP, refreshed when the catalog changes.

pub mod cli;
pub mod metrics;
pub mod proofs;
pub mod run;
pub mod serve;
pub mod views;

// The facts and the verdict live in ops-health, shared with ops-notify (ADR 0024).
pub use ops_health::{gather, health, model};

/// Parses the command line and runs; returns the exit code. Invalid flags get an event
/// and exit 2.
pub fn main_with_args(argv: impl IntoIterator<Item = std::ffi::OsString>) -> i32 {
    match ops_core::cli::parse::<cli::Args>(argv, "ops-status", "status") {
        Ok(args) => run::run(&args),
        Err(exit) => exit.code(),
    }
}
