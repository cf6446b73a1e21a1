//! Shared core of the pgops tools.
//!
//! Every pgops binary is a thin CLI over this crate: it owns the contracts that the design
//! brief (`docs/architecture.md`) makes common to all tools, so each exists exactly once.
//!
//! - [`event`]: the JSON-lines envelope on stdout, correlation ids, `run.finished`;
//!   [`severity`] its one scale; [`user`] the actor's name.
//! - [`exit`] and [`error`]: exit codes and stable error codes with their categories.
//! - [`cli`]: parsing a command line; an invalid one is an event and exit 2.
//! - [`human`]: readable lines on stderr next to the JSON (terminal, `--human`, journald).
//! - [`progress`]: progress bars on a terminal for the long steps.
//! - [`redact`]: scrubbing secrets from anything shown to a user.
//! - [`atomic`]: durable files and directories (write, fsync, rename, fsync parent).
//! - [`failpoint`]: named crash points for fault tests (`PGOPS_FAILPOINT`).
//! - [`parallel`]: `--jobs N` over a list of independent jobs.
//! - [`child`]: supervised child processes (process group, kill on stop, stderr tail).
//! - [`chunks`]: fixed-size reads for the one-pass pipelines.
//! - [`stop`]: SIGINT/SIGTERM and deadlines, polled by loops and supervised children.
//! - [`scope`]: where an address can be reached from (port-audit's findings, ops-status'
//!   refusal of a public listen address).
//! - [`state`]: the run history and port-audit's last result (`PGOPS_STATE_DIR`).
//! - [`duration`]: parsing `--timeout 90s`-style durations.

pub mod atomic;
pub mod child;
pub mod chunks;
pub mod cli;
pub mod configuration;
pub mod disk;
pub mod duration;
pub mod error;
pub mod event;
pub mod event_names;
pub mod exit;
pub mod failpoint;
pub mod human;
pub mod parallel;
pub mod progress;
pub mod redact;
pub mod scope;
pub mod scratch;
pub mod severity;
pub mod state;
pub mod stop;
pub mod timefmt;
pub mod user;

pub use error::{Category, OpsError};
pub use exit::ExitCode;
