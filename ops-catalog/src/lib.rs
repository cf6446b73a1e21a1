//! The pgops catalog: backup sets, the one reader and writer of what a catalog stores.
//!
//! - [`catalog`]: the layout (`<db>/<set id>/`), manifests, which directories are sets,
//!   `verify.json` records and pins, opening a catalog under its lock.
//! - [`cli`]: the shared catalog flags (`--backup-dir`, `--lock-timeout`).
//! - [`drills`]: the drill history (`_drills.jsonl`), written by restore-drill, read by
//!   its summary and by ops-status.
//! - [`lock`]: the catalog's reader/writer lock with a timeout.
//! - [`input`]: the sets a previous tool named on stdin (`tool -`).
//! - [`keys`]: signing (minisign) and encryption (age) keys of signed and encrypted sets.
//! - [`frames`]: zstd in independent frames, compressed and decoded on every core.
//! - [`store`]: where a catalog lives: a local directory or an S3 bucket, one trait.
//! - [`sealed`]: sets as they lie off-site: age-encrypted objects and a signed envelope.
//! - [`stored`]: the one reader and writer of stored files (hashing, compression).

pub mod catalog;
pub mod cli;
pub mod drills;
pub mod frames;
pub mod input;
pub mod keys;
pub mod lock;
pub mod sealed;
pub mod store;
pub mod stored;
