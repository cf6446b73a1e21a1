//! ops-status: what pgops knows about backups, copies and drills, as one snapshot
//! (ADR 0015), shown as JSON, a table, a health document or Prometheus metrics.
//!
//! - [`model`]: the snapshot, computed from what was read (pure).
//! - [`metrics`]: the Prometheus text format of a snapshot (pure).

pub mod metrics;
pub mod model;
