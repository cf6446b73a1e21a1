//! ops-health: what pgops knows and whether its promises hold — one rule for "what is
//! broken", read by two presenters: ops-status (terminal, JSON, HTTP, Prometheus) and
//! ops-notify (mail, chat, webhooks). ADR 0015, ADR 0024.
//!
//! - [`gather`]: what the tools wrote, read into facts (a catalog, its drill history, the
//!   state directory).
//! - [`model`]: the snapshot, computed from those facts (pure).
//! - [`health`]: every promise judged, with reasons and an exit code (pure).
//! - [`cli`]: the flags both tools share (where the facts are, the thresholds).
//! - [`probe`]: whether the PostgreSQL server answers (for `/readiness`).

pub mod cli;
pub mod gather;
pub mod health;
pub mod model;
pub mod probe;
