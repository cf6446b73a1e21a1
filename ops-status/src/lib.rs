//! ops-status: what pgops knows about backups, copies and drills, as one snapshot
//! (ADR 0015), shown as JSON, a table, a health document or Prometheus metrics.
//!
//! - [`gather`]: what the tools wrote, read into facts (a catalog, its drill history).
//! - [`model`]: the snapshot, computed from those facts (pure).
//! - [`health`]: every promise judged, with reasons and an exit code (pure).
//! - [`metrics`]: the Prometheus text format of a snapshot (pure).

pub mod gather;
pub mod health;
pub mod metrics;
pub mod model;
