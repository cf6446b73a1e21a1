//! The pgops catalog: backup sets, the one reader and writer of what a catalog stores.
//!
//! - [`catalog`]: the layout (`<db>/<set id>/`), manifests, which directories are sets,
//!   `verify.json` records and pins, opening a catalog under its lock.
//! - [`cli`]: the shared catalog flags (`--backup-dir`, `--lock-timeout`).
//! - [`drills`]: the drill history (`_drills.jsonl`), written by restore-drill, read by
//!   its summary and by ops-status.
//! - [`sets`]: the one face every tool works against, wherever the sets lie, and its
//!   local implementation.
//! - [`lock`]: the catalog's reader/writer lock with a timeout.
//! - [`input`]: the sets a previous tool named on stdin (`tool -`).
//! - [`keys`]: the minisign keys that sign sets and check them.
//! - [`codec`]: how a set's files are encoded: the one reader and writer of stored files
//!   (hashing, compression in independent zstd frames decoded on every core).
//!
//! Where sets lie off-site (S3 buckets, sealed directories), encryption and the transport
//! are the `ops-offsite` crate's: a tool that never touches a bucket does not compile them.

pub mod catalog;
pub mod cli;
pub mod codec;
pub mod drills;
pub mod input;
pub mod keys;
pub mod lock;
pub mod sets;
